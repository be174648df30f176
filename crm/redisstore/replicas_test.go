package redisstore_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// With WaitReplicas on a server that has no replica, a delete is made but not acknowledged: the
// call says ErrNotReplicated, the record is in the bin, and doing it again is harmless.
func TestWaitReplicasWithoutReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt, WaitReplicas: -1})
	require.Error(t, err)
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt,
		WaitReplicas: 1, WaitReplicasTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "a"}}}, crm.Actor{User: "ops@x.example"})
	require.NoError(t, err)
	_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{recs[0].ID}, crm.Actor{User: "ops@x.example"})
	require.ErrorIs(t, err, crm.ErrNotReplicated)
	require.Contains(t, err.Error(), "0 of 1")
	_, err = st.Record(ctx, tn, crm.Contacts, recs[0].ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err, "the change stands")
	_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{recs[0].ID}, crm.Actor{User: "ops@x.example"})
	require.ErrorIs(t, err, crm.ErrNotReplicated)
	rdb := redistest.Client(t)
	require.EqualValues(t, 1, rdb.ZCard(ctx, redisstore.TrashKey(tn, crm.Contacts)).Val(), "in the bin once")
	audit, _, err := st.Audit(ctx, tn, nil)
	require.NoError(t, err)
	require.Len(t, audit, 1, "deleted once: %v", audit)
}

// The server check counts the replicas connected, and warns only while fewer than WaitReplicas are.
func TestCheckServerCountsReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(master.Stop)
	opt, err := redis.ParseURL(master.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, WaitReplicas: 1})
	require.NoError(t, err)
	chk, err := st.CheckServer(ctx, false)
	require.NoError(t, err)
	require.Zero(t, chk.Replicas)
	require.Contains(t, strings.Join(chk.Warnings, "\n"), "wait-replicas is 1 but the Redis has 0 connected replica(s)")

	host, port, err := net.SplitHostPort(opt.Addr)
	require.NoError(t, err)
	replica, err := redistest.StartServer("", "--replicaof", host, port)
	require.NoError(t, err)
	t.Cleanup(replica.Stop)
	require.Eventually(t, func() bool {
		chk, err = st.CheckServer(ctx, false)
		require.NoError(t, err)
		return chk.Replicas == 1
	}, 10*time.Second, 20*time.Millisecond, "the replica connects")
	require.NotContains(t, strings.Join(chk.Warnings, "\n"), "wait-replicas")
}
