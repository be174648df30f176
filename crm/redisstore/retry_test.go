package redisstore_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// replyDropper is a TCP proxy to Redis that, once armed, lets the next script call through to the
// server and then cuts the connection instead of passing the reply on: the client sees the call
// fail after Redis ran it, as when a network blip loses a reply, and go-redis retries it.
type replyDropper struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	// skip is how many script calls pass once armed before the one whose reply is lost.
	skip atomic.Int32
	// onDrop, when set, runs after Redis answered the call and before the connection is cut.
	onDrop func()
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &replyDropper{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

func (p *replyDropper) relay(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	var dropReply atomic.Bool
	go func() { // server to client
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				if dropReply.Load() {
					if p.onDrop != nil {
						p.onDrop()
					}
					_ = c.Close()
					_ = s.Close()
					return
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					_ = s.Close()
					return
				}
			}
			if err != nil {
				_ = c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.armed.Load() && p.skip.Add(-1) < 0 &&
				p.armed.CompareAndSwap(true, false) {
				dropReply.Store(true)
				p.dropped.Add(1)
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				_ = c.Close()
				return
			}
		}
		if err != nil {
			_ = s.Close()
			return
		}
	}
}

// TestCreateRetriedAfterLostReply creates records through a connection that loses the reply of the
// create script, and deletes one of them before the client retries the call: the retry answers
// success and changes nothing, so each record exists once, and the deleted one stays in the bin.
func TestCreateRetriedAfterLostReply(t *testing.T) {
	t.Parallel()
	proxy, _, st, tn := throughDropper(t)
	ctx := context.Background()
	// A first create loads the script, so that the call whose reply is lost runs it.
	first, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "Warm"}}}, crm.Actor{})
	require.NoError(t, err)

	direct, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	// The ids the next create draws: the reply is lost after Redis created them, and the first is
	// deleted before the client tries again.
	next := crm.RecordID(strconv.Itoa(mustAtoi(t, string(first[0].ID)) + 1))
	proxy.onDrop = func() {
		res, err := direct.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{next}, crm.Actor{User: "ops@example.com"})
		if err != nil || len(res.Archived) != 1 {
			t.Errorf("archive %s before the retry: %v %+v", next, err, res)
		}
	}
	proxy.armed.Store(true)
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{
		{Properties: map[string]string{"email": "ada@example.com", "firstname": "Ada"}},
		{Properties: map[string]string{"firstname": "Nomail"}},
	}, crm.Actor{})
	require.EqualValues(t, 1, proxy.dropped.Load(), "the reply of the create was lost once")
	require.NoError(t, err)
	require.Len(t, recs, 2)

	require.Equal(t, next, recs[0].ID)
	n, err := st.CountRecords(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "the first record and the second of the batch are live, once")
	_, err = st.Record(ctx, tn, crm.Contacts, next, nil)
	require.ErrorAs(t, err, new(*crm.NotFoundError), "the record deleted before the retry is not live again")
	binned, err := st.Record(ctx, tn, crm.Contacts, next, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.Equal(t, "Ada", binned.Properties["firstname"])
	_, err = st.ContactByEmail(ctx, tn, "ada@example.com")
	require.ErrorAs(t, err, new(*crm.NotFoundError), "the deleted contact's email is free")
	got, err := st.Record(ctx, tn, crm.Contacts, recs[1].ID, nil)
	require.NoError(t, err)
	require.Equal(t, "Nomail", got.Properties["firstname"])
	require.NotEqual(t, first[0].ID, recs[0].ID)
}

// throughDropper returns a store whose connections go through a replyDropper to the test Redis,
// with a new tenant on the Professional plan, and the client under it.
func throughDropper(t *testing.T) (*replyDropper, *redis.Client, *redisstore.Store, crm.TenantID) {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	require.NoError(t, err)
	proxy := newReplyDropper(t, opt.Addr)
	opt.Addr = proxy.ln.Addr().String()
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = st.CreateTenant(context.Background(), tn, crm.PlanProfessional)
	require.NoError(t, err)
	return proxy, rdb, st, tn
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestArchiveAndRestoreRetriedAfterLostReply deletes and restores through a connection that loses
// the reply of each script once: the retried call reports what the first one did (moved, restored),
// and nothing is done twice (one audit entry each).
func TestArchiveAndRestoreRetriedAfterLostReply(t *testing.T) {
	t.Parallel()
	proxy, _, st, tn := throughDropper(t)
	ctx := context.Background()
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"email": "a@example.com"}},
		{Properties: map[string]string{"email": "warm@example.com"}}}, crm.Actor{})
	require.NoError(t, err)
	id := recs[0].ID
	who := crm.Actor{User: "ops@example.com"}
	// Load both scripts first, so that the calls whose replies are lost run them.
	_, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{recs[1].ID}, who)
	require.NoError(t, err)
	_, err = st.RestoreRecords(ctx, tn, crm.Contacts, []crm.RecordID{recs[1].ID}, who)
	require.NoError(t, err)
	audits := func() int {
		entries, _, err := st.Audit(ctx, tn, nil)
		require.NoError(t, err)
		n := 0
		for _, e := range entries {
			if len(e.RecordIDs) == 1 && e.RecordIDs[0] == id {
				n++
			}
		}
		return n
	}

	proxy.armed.Store(true)
	ar, err := st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{id}, who)
	require.EqualValues(t, 1, proxy.dropped.Load())
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{id}, ar.Archived, "the retry reports the record it moved")
	require.Empty(t, ar.Missing)
	require.Equal(t, 1, audits())

	proxy.armed.Store(true)
	rr, err := st.RestoreRecords(ctx, tn, crm.Contacts, []crm.RecordID{id}, who)
	require.EqualValues(t, 2, proxy.dropped.Load())
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{id}, rr.Restored, "the retry reports the record it restored")
	require.Empty(t, rr.Failed)
	require.Equal(t, 2, audits())
	_, err = st.Record(ctx, tn, crm.Contacts, id, nil)
	require.NoError(t, err)

	// Another call is another call: deleting the record again moves it, and a second delete
	// finds it gone.
	ar, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{id}, who)
	require.NoError(t, err)
	require.Equal(t, []crm.RecordID{id}, ar.Archived)
	ar, err = st.ArchiveRecords(ctx, tn, crm.Contacts, []crm.RecordID{id}, who)
	require.NoError(t, err)
	require.Empty(t, ar.Archived)
	require.Equal(t, []crm.RecordID{id}, ar.Missing)
}

// TestJobSealRetriedAfterLostReply creates a bulk delete job through a connection that loses the
// reply of the script that seals it: the retry answers the same job, and there is one job. A count
// that differs keeps nothing, not even a job id.
func TestJobSealRetriedAfterLostReply(t *testing.T) {
	t.Parallel()
	proxy, rdb, st, tn := throughDropper(t)
	ctx := context.Background()
	recs, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}},
		{Properties: map[string]string{"firstname": "B"}}}, crm.Actor{})
	require.NoError(t, err)
	ids := []crm.RecordID{recs[0].ID, recs[1].ID}
	params := crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 2, By: "ops@example.com"}

	// A wrong count: refused, and nothing of it kept (the first call also loads the scripts).
	before := redistest.Dump(t, rdb, string(tn))
	_, err = st.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids, ConfirmCount: 3, By: "ops@example.com"})
	var mismatch *crm.CountMismatchError
	require.ErrorAs(t, err, &mismatch)
	require.EqualValues(t, 2, mismatch.Matched)
	require.Equal(t, before, redistest.Dump(t, rdb, string(tn)), "a refused job changes nothing")

	proxy.skip.Store(1) // the staging script passes; the seal's reply is lost
	proxy.armed.Store(true)
	j, err := st.CreateDeleteJob(ctx, tn, params)
	require.EqualValues(t, 1, proxy.dropped.Load())
	require.NoError(t, err)
	require.Equal(t, "1", j.ID)
	require.EqualValues(t, 2, j.Total)
	require.Equal(t, crm.JobPending, j.State)
	require.Equal(t, "1", j.By.Ref, "a bulk job's ref is its id")
	require.EqualValues(t, 1, rdb.ZCard(ctx, redisstore.JobsKey(tn)).Val(), "one job")
	require.EqualValues(t, 2, rdb.ZCard(ctx, redisstore.JobPendingKey(tn, j.ID)).Val())
	require.Equal(t, time.Duration(-1), rdb.TTL(ctx, redisstore.JobPendingKey(tn, j.ID)).Val(), "the job's selection does not expire")
}

// TestCreateUnconfirmed creates records through a connection that loses the reply of the create
// script, on a client that does not retry: the call fails, yet Redis made the records. The error
// says the store is unavailable and that the change may have been made (crm.ErrOutcomeUnknown), so
// that a caller reads before it tries again instead of creating the records twice. A search whose
// reply is lost changed nothing and does not say so.
func TestCreateUnconfirmed(t *testing.T) {
	t.Parallel()
	proxy, rdb, st, tn := throughDropper(t)
	rdb.Options().MaxRetries = -1
	ctx := context.Background()
	_, err := st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "Warm"}}}, crm.Actor{})
	require.NoError(t, err) // loads the script, so that the call whose reply is lost runs it

	proxy.armed.Store(true)
	_, err = st.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "Ada"}}}, crm.Actor{})
	require.EqualValues(t, 1, proxy.dropped.Load(), "the reply of the create was lost once")
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)
	require.ErrorIs(t, err, crm.ErrOutcomeUnknown)
	n, err := st.CountRecords(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "the create whose reply was lost was made")

	// A search is a script too, but changes nothing: its lost reply is no unknown outcome.
	_, err = st.Search(ctx, tn, crm.Contacts, crm.SearchParams{}) // loads the script
	require.NoError(t, err)
	proxy.armed.Store(true)
	_, err = st.Search(ctx, tn, crm.Contacts, crm.SearchParams{})
	require.EqualValues(t, 2, proxy.dropped.Load(), "the reply of the search was lost")
	require.ErrorIs(t, err, crm.ErrStoreUnavailable)
	require.NotErrorIs(t, err, crm.ErrOutcomeUnknown)
}
