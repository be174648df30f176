package main

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemo(t *testing.T) {
	t.Parallel()

	// requireTour checks the key line of every step of the tour's output.
	requireTour := func(t *testing.T, stdout, tenant string) {
		t.Helper()
		for _, want := range []string{
			`(?m)^\[1/12\] Create tenant ` + tenant + ` on the starter plan`,
			`(?m)^\[2/12\] Seed 50 contacts through the API$`,
			`(?m)^ +50 contacts, 12 of them with email_bounced=true, 2 of which are customers$`,
			`(?m)^\[3/12\] Apply the example workflow clean-bounced-contacts`,
			`(?m)^ +created revision 1, state DRAFT$`,
			`(?m)^\[4/12\] Try to activate it on the starter plan$`,
			`(?m)^ +refused, 403 PLAN_NOT_ALLOWED: ` + regexp.QuoteMeta(planRefusal) + `$`,
			`(?m)^\[5/12\] Upgrade tenant ` + tenant + ` to the professional plan$`,
			`(?m)^ +plan starter -> professional`,
			`(?m)^\[6/12\] Preview`,
			`(?m)^ +10 of 50 live contacts match now; 2 more match but are suppressed \(customers\)$`,
			`(?m)^\[7/12\] Activate it with enroll-existing$`,
			`(?m)^ +ACTIVE at revision 1; the enrollment of the 10 matching contacts is queued for the worker$`,
			`(?m)^\[8/12\] Run the background work$`,
			`(?m)^ +the worker ran \d+ tasks?: changes:drain x\d+, workflow:backfill x1, workflow:steps x1$`,
			`(?m)^ +enroll-existing COMPLETE: 50 of 50 contacts looked at, 10 enrolled `,
			`(?m)^\[9/12\] Look in the recycle bin$`,
			`(?m)^ +contact 4 +contact004@example.com +deleted by ops@[a-z0-9-]+\.example via workflow clean-bounced-contacts \(revision 1\)$`,
			`(?m)^ +10 contacts in the bin: exactly the ones the preview matched, each deleted by workflow clean-bounced-contacts$`,
			`(?m)^\[10/12\] Restore contact 4 from the bin$`,
			`(?m)^ +contact 4 \(contact004@example.com\) is live again, with its properties; 9 contacts left in the bin$`,
			`(?m)^ +the worker ran \d+ tasks?: changes:drain x\d+; contact 4 still matches the trigger but stays live and out of the workflow`,
			`(?m)^\[11/12\] Mark contact 1's email as bounced`,
			`(?m)^ +the worker ran \d+ tasks?: changes:drain x\d+, workflow:steps x1: contact 1 enrolled on the update and is in the bin`,
			`(?m)^\[12/12\] Purge the bin as of 91 days from now`,
			`(?m)^ +10 contacts removed for good \(deleted more than 90 days before\); the bin is empty; 40 contacts live$`,
			`(?m)^demo complete$`,
		} {
			require.Regexp(t, want, stdout)
		}
	}

	t.Run("Embedded", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := crmflow(t, nil, "demo")
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "on an embedded in-process Redis (nothing is kept after exit)")
		requireTour(t, stdout, "demo-tour")
		require.NotContains(t, stderr, "level=INFO", "the components log only warnings without --verbose")
	})

	t.Run("OnRedis", func(t *testing.T) {
		t.Parallel()
		// A Redis of its own: no other test's worker or scheduler may run the tour's tenant's work.
		b := setupBackground(t)
		tenant, url := b.tenant, b.redisURL
		stdout, stderr, code := crmflow(t, nil, "demo", "--redis", url, "--tenant", tenant)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		require.Contains(t, stdout, "with an in-process task queue")
		requireTour(t, stdout, tenant)

		// The tenant exists now: a second tour must not reuse it.
		_, stderr, code = crmflow(t, nil, "demo", "--redis", url, "--tenant", tenant)
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "tenant "+tenant+" exists already")
	})

	t.Run("UsageErrors", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"demo", "--contacts", "5"},
			{"demo", "--tenant", "Not_Valid"},
			{"demo", "extra"},
		} {
			_, stderr, code := crmflow(t, nil, args...)
			require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", args, stderr)
		}
	})
}
