package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// untilFlow waits until last_activity_date (step 0), then sets the lead status (step 1), then
// waits a day (step 2) and sets it again (step 3).
func untilFlow(t *testing.T) *workflows.Workflow {
	t.Helper()
	src := "name: wf\nobject_type: contacts\ntrigger: email_bounced\nactions:\n" +
		"  - type: delay\n    until: last_activity_date\n  - type: set_property\n    property: hs_lead_status\n    value: new\n" +
		"  - type: delay\n    duration: 1d\n  - type: set_property\n    property: hs_lead_status\n    value: open\n"
	wf, err := workflows.Parse("wf.yaml", []byte(src), nil, nil)
	require.NoError(t, err)
	return wf
}

func TestFollowDates(t *testing.T) {
	t.Parallel()
	wf := untilFlow(t)
	require.True(t, engine.FollowsDates(wf))
	require.False(t, engine.FollowsDates(parse(t, "trigger: email_bounced")))

	in10d, in20d := now.Add(10*24*time.Hour), now.Add(20*24*time.Hour)
	for _, tc := range []struct {
		name  string
		enr   crm.Enrollment // ID "1"
		date  string         // last_activity_date now; "-" for a record not live
		moved bool
		due   time.Time
	}{
		{name: "PushedLater", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Count: 2, Due: in10d}, date: in20d.Format(time.RFC3339), moved: true, due: in20d},
		{name: "MovedEarlier", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: in20d}, date: in10d.Format(time.RFC3339), moved: true, due: in10d},
		{name: "MovedIntoThePast", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: in10d}, date: "2020-01-01", moved: true, due: now},
		{name: "Cleared", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: in10d}, date: "", moved: true, due: now},
		{name: "Unchanged", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: in10d}, date: in10d.Format(time.RFC3339)},
		{name: "PastAndAlreadyDue", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: now.Add(-time.Hour)}, date: ""},
		{name: "AfterADuration", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 3, Due: in10d}, date: in20d.Format(time.RFC3339)},
		{name: "AtTheDelayItself", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 0, Due: now}, date: in20d.Format(time.RFC3339)},
		{name: "OtherRevision", enr: crm.Enrollment{State: crm.Enrolled, Revision: 2, Step: 1, Due: in10d}, date: in20d.Format(time.RFC3339)},
		{name: "NotEnrolled", enr: crm.Enrollment{State: crm.Completed, Revision: 1, Step: 2}, date: in20d.Format(time.RFC3339)},
		{name: "NotLive", enr: crm.Enrollment{State: crm.Enrolled, Revision: 1, Step: 1, Due: in10d}, date: "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.enr.ID = "1"
			recs := map[crm.RecordID]crm.Record{}
			if tc.date != "-" {
				recs["1"] = *contact("1", map[string]string{"last_activity_date": tc.date, "firstname": "Ann"})
			}
			got := engine.FollowDates(wf, 1, []crm.Enrollment{tc.enr}, recs, now)
			if !tc.moved {
				require.Empty(t, got)
				return
			}
			require.Equal(t, []crm.StepDue{{ID: "1", Step: 1, Count: tc.enr.Count, Due: tc.due}}, got)
		})
	}
}

func TestNotYetDue(t *testing.T) {
	t.Parallel()
	wf := untilFlow(t)
	recs := map[crm.RecordID]crm.Record{
		"later": *contact("later", map[string]string{"last_activity_date": now.Add(time.Hour).Format(time.RFC3339)}),
		"past":  *contact("past", map[string]string{"last_activity_date": now.Add(-time.Hour).Format(time.RFC3339)}),
		"unset": *contact("unset", nil),
	}
	ids := []crm.RecordID{"later", "past", "unset", "gone"}
	counts := map[crm.RecordID]int{"later": 3}
	require.Equal(t, []crm.StepDue{{ID: "later", Step: 1, Count: 3, Due: now.Add(time.Hour)}}, engine.NotYetDue(wf, 1, ids, recs, counts, now))
	require.Empty(t, engine.NotYetDue(wf, 3, ids, recs, counts, now), "after a delay for a duration")
	require.Empty(t, engine.NotYetDue(wf, 0, ids, recs, counts, now), "the first step")
}
