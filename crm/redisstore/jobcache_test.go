package redisstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestJobRunnerKnowsAnotherJobOfThatID runs a job on a store that remembers an earlier job of the
// same id, as after Redis lost its latest writes and drew the id again: the batch is the new job's,
// of the new job's type, and the earlier job's type is not touched.
func TestJobRunnerKnowsAnotherJobOfThatID(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	ctx := context.Background()
	runner, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	api, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	tn := crm.TenantID(redistest.Tenant(t))
	_, err = api.CreateTenant(ctx, tn, crm.PlanProfessional)
	require.NoError(t, err)
	contacts, err := api.CreateRecords(ctx, tn, crm.Contacts, []crm.RecordInput{{Properties: map[string]string{"firstname": "A"}},
		{Properties: map[string]string{"firstname": "B"}}}, crm.Actor{})
	require.NoError(t, err)
	deals, err := api.CreateRecords(ctx, tn, crm.Deals, []crm.RecordInput{{Properties: map[string]string{"dealname": "D1"}},
		{Properties: map[string]string{"dealname": "D2"}}}, crm.Actor{})
	require.NoError(t, err)

	jobUser(t, api, tn, "old@example.com", "new@example.com")
	old, err := api.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: []crm.RecordID{contacts[0].ID},
		ConfirmCount: 1, By: "old@example.com"})
	require.NoError(t, err)
	_, err = runner.Job(ctx, tn, old.ID) // the runner now knows job 1 as a contacts job
	require.NoError(t, err)
	// Redis loses the job and its id: the next job draws the same id.
	require.NoError(t, rdb.Del(ctx, redisstore.JobKey(tn, old.ID), redisstore.JobPendingKey(tn, old.ID), redisstore.SeqKey(tn, "jobs")).Err())
	fresh, err := api.CreateDeleteJob(ctx, tn, crm.DeleteJobParams{ObjectType: crm.Deals, IDs: []crm.RecordID{deals[0].ID, deals[1].ID},
		ConfirmCount: 2, By: "new@example.com"})
	require.NoError(t, err)
	require.Equal(t, old.ID, fresh.ID)

	j, err := runner.RunDeleteJobBatch(ctx, tn, fresh.ID, 500)
	require.NoError(t, err)
	require.Equal(t, crm.JobDone, j.State)
	require.Equal(t, crm.Deals, j.ObjectType)
	require.EqualValues(t, 2, j.Done)
	n, err := api.CountRecords(ctx, tn, crm.Contacts)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "no contact deleted")
	n, err = api.CountRecords(ctx, tn, crm.Deals)
	require.NoError(t, err)
	require.Zero(t, n, "both deals deleted")
	d, err := api.Record(ctx, tn, crm.Deals, deals[0].ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	require.Equal(t, "new@example.com", d.Deletion.By)
}
