package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// BenchmarkEvaluateFlow applies the verdicts of one backfill batch per op, as the trigger-eval
// and backfill scenarios of crmflow bench make them: 1000 records, one in ten matching (and
// enrolled, with its history written), the others not. Besides ns/op it reports the time Redis
// spent in the script (redis-us/op, from INFO commandstats), which the other work of a shared
// machine disturbs less.
//
//	go test ./crm/redisstore -run '^$' -bench EvaluateFlow -benchtime 200x
func BenchmarkEvaluateFlow(b *testing.B) {
	ctx := context.Background()
	rdb := redistest.Client(b)
	st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(b, err)
	tn := crm.TenantID(redistest.Tenant(b))
	_, err = st.CreateTenant(ctx, tn, crm.PlanEnterprise)
	require.NoError(b, err)
	_, _, err = st.PutFlow(ctx, tn, "wf", crm.Contacts,
		"name: wf\nobject_type: contacts\ntrigger: hasSuffix(lastname, \"0\")\nactions:\n  - type: delete_contact\n", "ops@x.example")
	require.NoError(b, err)
	f, err := st.ActivateFlow(ctx, tn, "wf", crm.ActivateFlowParams{By: "ops@x.example"})
	require.NoError(b, err)
	ref := crm.FlowRef{Name: "wf", Revision: f.ActiveRevision, ObjectType: crm.Contacts}
	scriptUsec := func() float64 {
		info, err := rdb.Info(ctx, "commandstats").Result()
		require.NoError(b, err)
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
				for _, kv := range strings.Split(rest, ",") {
					if v, ok := strings.CutPrefix(kv, "usec="); ok {
						n, err := strconv.ParseFloat(v, 64)
						require.NoError(b, err)
						return n
					}
				}
			}
		}
		return 0
	}
	id, enrolled := 0, 0
	before := scriptUsec()
	for b.Loop() {
		vs := make([]crm.FlowVerdict, 1000)
		// The records that match are live: the script enrolls only those (an erased or binned one
		// gets nothing). Their keys are written outside the measure.
		b.StopTimer()
		pipe := rdb.Pipeline()
		for i := range vs {
			id++
			vs[i] = crm.FlowVerdict{ID: crm.RecordID(strconv.Itoa(id)), Verdict: crm.VerdictNoMatch}
			if id%10 == 0 {
				vs[i].Verdict = crm.VerdictMatch
				pipe.HSet(ctx, redisstore.RecordKey(tn, crm.Contacts, vs[i].ID), "lastname", "Doe0")
			}
		}
		_, err := pipe.Exec(ctx)
		require.NoError(b, err)
		b.StartTimer()
		got, err := st.EvaluateFlow(ctx, tn, ref, vs)
		require.NoError(b, err)
		enrolled += len(got)
	}
	b.ReportMetric((scriptUsec()-before)/float64(b.N), "redis-us/op")
	require.Equal(b, id/10, enrolled, "every match enrolls")
}
