package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// dryRunPage is the 200 of a dry run with the fields that page through its sample.
type dryRunPage struct {
	Matched     int64 `json:"matched"`
	WouldDelete int64 `json:"wouldDelete"`
	Protected   int64 `json:"protected"`
	Sample      []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Email     string `json:"email"`
		UpdatedAt string `json:"updatedAt"`
	} `json:"sample"`
	SampleNext *string `json:"sampleNext"`
}

// TestDryRunSamplePages: sampleLimit and sampleAfter page through every record a bulk delete by
// filter would delete, in id order, each page with the counts of the whole selection, and the
// last page without a sampleNext. Records the filter does not match, and protected ones, are on
// no page.
func TestDryRunSamplePages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := make([]crm.RecordInput, 320)
	for i := range in {
		p := map[string]string{"firstname": "Lead", "lastname": fmt.Sprint(i), "email": fmt.Sprintf("lead%d@example.com", i), "lifecyclestage": "lead"}
		switch {
		case i%8 == 3:
			p["lifecyclestage"] = "customer" // not matched
		case i%16 == 6:
			p["hs_lead_status"] = "open" // matched, protected
		}
		in[i].Properties = p
	}
	recs, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: userEmail})
	require.NoError(t, err)
	b.protect(t, "open-leads", "contacts", `hs_lead_status == "open"`)
	var want []string // by ascending id, as created
	for i, r := range recs {
		if i%8 != 3 && i%16 != 6 {
			want = append(want, string(r.ID))
		}
	}
	require.Len(t, want, 260)
	dryRun := func(t *testing.T, extra map[string]any) dryRunPage {
		t.Helper()
		body := map[string]any{"filter": `lifecyclestage == "lead"`, "dryRun": true}
		for k, v := range extra {
			body[k] = v
		}
		return expect[dryRunPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokRead, body), http.StatusOK)
	}

	t.Run("EveryPage", func(t *testing.T) {
		t.Parallel()
		var got []string
		pages := 0
		extra := map[string]any{"sampleLimit": 100}
		for {
			p := dryRun(t, extra)
			pages++
			require.EqualValues(t, 280, p.Matched, "the counts are those of the whole selection")
			require.EqualValues(t, 260, p.WouldDelete)
			require.EqualValues(t, 20, p.Protected)
			for _, s := range p.Sample {
				got = append(got, s.ID)
			}
			if p.SampleNext == nil {
				break
			}
			require.Len(t, p.Sample, 100)
			require.Equal(t, p.Sample[99].ID, *p.SampleNext)
			extra["sampleAfter"] = *p.SampleNext
		}
		require.Equal(t, 3, pages)
		require.Equal(t, want, got)
	})

	t.Run("DefaultIsTheFirstTen", func(t *testing.T) {
		t.Parallel()
		p := dryRun(t, nil)
		require.Len(t, p.Sample, 10)
		require.Equal(t, want[0], p.Sample[0].ID)
		require.Equal(t, "Lead 0", p.Sample[0].Name)
		require.Equal(t, "lead0@example.com", p.Sample[0].Email)
		require.Equal(t, "2026-03-01T12:00:00.000Z", p.Sample[0].UpdatedAt)
		require.Equal(t, want[9], *p.SampleNext)
	})

	t.Run("AfterAnIDThatIsNoMatch", func(t *testing.T) {
		t.Parallel()
		// The sample starts above the id given, whether the filter matches it or not.
		p := dryRun(t, map[string]any{"sampleAfter": string(recs[3].ID), "sampleLimit": 2})
		require.Equal(t, []string{want[3], want[4]}, []string{p.Sample[0].ID, p.Sample[1].ID})
		p = dryRun(t, map[string]any{"sampleAfter": want[259]})
		require.Empty(t, p.Sample)
		require.Nil(t, p.SampleNext)
		require.EqualValues(t, 260, p.WouldDelete)
	})

	t.Run("ListDelete", func(t *testing.T) {
		t.Parallel()
		// The delete of a list's members pages its dry run's sample alike.
		l, err := b.store.CreateList(b.ctx, b.tenantA, "Sample pages", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(b.ctx, b.tenantA, l.ID, []crm.RecordID{crm.RecordID(want[2]), crm.RecordID(want[0]), crm.RecordID(want[1])})
		require.NoError(t, err)
		path := "/crm/v3/lists/" + string(l.ID) + "/records/delete"
		p := expect[dryRunPage](t, b.call(t, "POST", path, tokRead, map[string]any{"dryRun": true, "sampleLimit": 2}), http.StatusOK)
		require.Equal(t, []string{want[0], want[1]}, []string{p.Sample[0].ID, p.Sample[1].ID})
		p = expect[dryRunPage](t, b.call(t, "POST", path, tokRead, map[string]any{"dryRun": true, "sampleLimit": 2, "sampleAfter": *p.SampleNext}), http.StatusOK)
		require.Len(t, p.Sample, 1)
		require.Equal(t, want[2], p.Sample[0].ID)
		require.Nil(t, p.SampleNext)
		require.EqualValues(t, 3, p.WouldDelete)
	})

	t.Run("IDsInAnyOrder", func(t *testing.T) {
		t.Parallel()
		// By ids, the sample is in id order too, whatever the order the ids were sent in.
		ids := []string{want[5], want[0], want[3], want[1], want[4], want[2]}
		body := map[string]any{"ids": ids, "dryRun": true, "sampleLimit": 4}
		p := expect[dryRunPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokRead, body), http.StatusOK)
		require.Equal(t, []string{want[0], want[1], want[2], want[3]}, []string{p.Sample[0].ID, p.Sample[1].ID, p.Sample[2].ID, p.Sample[3].ID})
		body["sampleAfter"] = *p.SampleNext
		p = expect[dryRunPage](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokRead, body), http.StatusOK)
		require.Equal(t, []string{want[4], want[5]}, []string{p.Sample[0].ID, p.Sample[1].ID})
		require.Nil(t, p.SampleNext)
	})
}

// TestDryRunSampleBadValues: a sampleLimit or sampleAfter that cannot be used, or one sent with a
// bulk delete that is not a dry run, is a 400 naming the field and saying what to send, and
// changes nothing.
func TestDryRunSampleBadValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lead := b.contact(t, map[string]string{"lifecyclestage": "lead"})
	before := b.dump(t, b.tenantA)
	jobs := len(b.tasks.jobsOf(b.tenantA))
	for _, tc := range []struct {
		name    string
		body    map[string]any
		in      string
		code    string
		message string
	}{
		{"LimitZero", map[string]any{"dryRun": true, "sampleLimit": 0}, "sampleLimit", "INVALID_SAMPLE_LIMIT",
			"sampleLimit 0 is out of range: use a whole number from 1 to 100"},
		{"LimitOver100", map[string]any{"dryRun": true, "sampleLimit": 101}, "sampleLimit", "INVALID_SAMPLE_LIMIT",
			"sampleLimit 101 is out of range: use a whole number from 1 to 100"},
		{"LimitNegative", map[string]any{"dryRun": true, "sampleLimit": -5}, "sampleLimit", "INVALID_SAMPLE_LIMIT",
			"sampleLimit -5 is out of range"},
		{"LimitAString", map[string]any{"dryRun": true, "sampleLimit": "10"}, "sampleLimit", "INVALID_TYPE",
			`field "sampleLimit" must be a whole number, not a string`},
		{"LimitAFraction", map[string]any{"dryRun": true, "sampleLimit": 2.5}, "sampleLimit", "INVALID_TYPE",
			`field "sampleLimit" must be a whole number, not 2.5`},
		{"AfterNotAnID", map[string]any{"dryRun": true, "sampleAfter": "abc"}, "sampleAfter", "INVALID_SAMPLE_AFTER",
			`sampleAfter "abc" is not a record id (a whole number without leading zeros or spaces): give the sampleNext of the dry run before`},
		{"AfterWithALeadingZero", map[string]any{"dryRun": true, "sampleAfter": "0" + string(lead)}, "sampleAfter", "INVALID_SAMPLE_AFTER",
			`is not a record id`},
		{"AfterEmpty", map[string]any{"dryRun": true, "sampleAfter": ""}, "sampleAfter", "INVALID_SAMPLE_AFTER",
			`sampleAfter "" is not a record id`},
		{"AfterANumber", map[string]any{"dryRun": true, "sampleAfter": 5}, "sampleAfter", "INVALID_TYPE",
			`field "sampleAfter" must be a string`},
		{"LimitWithoutDryRun", map[string]any{"confirmCount": 1, "sampleLimit": 10}, "sampleLimit", "SAMPLE_WITHOUT_DRY_RUN",
			`sampleLimit pages through a dry run's sample, and this request is not a dry run: send it with "dryRun": true, or leave it out`},
		{"AfterWithoutDryRun", map[string]any{"confirmCount": 1, "sampleAfter": string(lead)}, "sampleAfter", "SAMPLE_WITHOUT_DRY_RUN",
			"sampleAfter pages through a dry run's sample"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.body["filter"] = `lifecyclestage == "lead"`
			e := expect[errorJSON](t, b.call(t, "POST", "/crm/v3/objects/contacts/bulk-delete", tokAll, tc.body), http.StatusBadRequest)
			require.Equal(t, "VALIDATION_ERROR", e.Category)
			require.Equal(t, tc.code, e.Errors[0].Code)
			require.Equal(t, tc.in, e.Errors[0].In)
			require.Contains(t, e.Message, tc.message)
		})
	}
	t.Cleanup(func() {
		require.Equal(t, before, b.dump(t, b.tenantA), "nothing changed")
		require.Len(t, b.tasks.jobsOf(b.tenantA), jobs, "no job")
		b.requireLive(t, crm.Contacts, string(lead), true)
	})
}
