package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// dryRunSampleSize is how many of the records a dry run would delete it shows unless the request
// sends sampleLimit; maxDryRunSample is the most sampleLimit may ask for.
const (
	dryRunSampleSize = 10
	maxDryRunSample  = 100
)

// dryRunBatch is how many records a dry run reads per round trip.
const dryRunBatch = 500

// BulkDryRun is the 200 of a bulk delete sent with "dryRun": true: what the bulk delete would do
// now, with no side effect at all (no job, no audit entry). Clients of the API decode it.
type BulkDryRun struct {
	// DryRun is always true: nothing was deleted and no job was made.
	DryRun     bool   `json:"dryRun"`
	ObjectType string `json:"objectType"`
	Selection  string `json:"selection"`
	// Scanned is how many records (or list members, or ids) the selection looked at.
	Scanned int64 `json:"scanned"`
	// Matched is how many live records the selection matches, protected ones included.
	Matched int64 `json:"matched"`
	// WouldDelete is how many the bulk delete would delete: Matched minus Protected. It is the
	// count to confirm (confirmCount) when the bulk delete is sent for real.
	WouldDelete int64 `json:"wouldDelete"`
	// Protected is how many matched records protection rules protect (never deleted);
	// ProtectedByRule counts them by rule.
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule,omitempty"`
	// Sample is up to sampleLimit (10 unless the request says) of the records it would delete,
	// by ascending id, from the first or, with sampleAfter, from the first above that id.
	Sample []DryRunRecord `json:"sample"`
	// SampleNext is the sampleAfter of the next page of the sample: the id of its last record,
	// when more records it would delete follow. It is absent on the last page.
	SampleNext string `json:"sampleNext,omitempty"`
	// ConfirmCount echoes the request's confirmCount, when it sent one; CountMatches says whether
	// it equals WouldDelete.
	ConfirmCount *int64 `json:"confirmCount,omitempty"`
	CountMatches *bool  `json:"countMatches,omitempty"`
}

// DryRunRecord is one record of a dry run's sample: its id, a name for people (a contact's
// first and last name, or its email; a company's name; a deal's name; a ticket's subject; a
// call's title; a custom record's name property), a contact's email, and when it last changed.
type DryRunRecord struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Email is a contact's email; absent for other types and for a contact without one.
	Email     string `json:"email,omitempty"`
	UpdatedAt string `json:"updatedAt"`
}

// dryRunSample is the page of the sample a dry run shows: at most limit records, with ids
// above after ("" from the first).
type dryRunSample struct {
	limit int
	after crm.RecordID
}

// sampleOf checks the sampleLimit (1 to 100, 10 when nil) and sampleAfter (a record id, the
// sampleNext of the page before; nil for the first page) of a bulk or list delete and returns the
// page of the dry run's sample they ask for: a 400 naming the field of a limit out of range, of an
// after that is not a record id, or of either in a request that is not a dry run (it has no sample).
func sampleOf(dryRun bool, limit *int, after *string) (dryRunSample, error) {
	out := dryRunSample{limit: dryRunSampleSize}
	if !dryRun {
		for _, f := range []struct {
			name string
			set  bool
		}{{"sampleLimit", limit != nil}, {"sampleAfter", after != nil}} {
			if f.set {
				return out, errInvalid(f.name, "SAMPLE_WITHOUT_DRY_RUN",
					"%s pages through a dry run's sample, and this request is not a dry run: send it with \"dryRun\": true, or leave it out", f.name)
			}
		}
		return out, nil
	}
	if limit != nil {
		if n := *limit; n < 1 || n > maxDryRunSample {
			return out, errInvalid("sampleLimit", "INVALID_SAMPLE_LIMIT",
				"sampleLimit %d is out of range: use a whole number from 1 to %d", n, maxDryRunSample)
		}
		out.limit = *limit
	}
	if after != nil {
		if !recordID.MatchString(*after) {
			return out, errInvalid("sampleAfter", "INVALID_SAMPLE_AFTER",
				"sampleAfter %s is not a record id (a whole number without leading zeros or spaces): give the sampleNext of the dry run before, "+
					"or leave it out for the first page", crm.Echo(*after))
		}
		out.after = crm.RecordID(*after)
	}
	return out, nil
}

// add puts rec into the page of sample s, which holds at most s.limit+1 records by ascending id
// (one more than the page, to know that a next page follows), when its id is above s.after.
func (s dryRunSample) add(page []DryRunRecord, rec crm.Record) []DryRunRecord {
	if s.after != "" && compareRecordIDs(rec.ID, s.after) <= 0 {
		return page
	}
	at, _ := slices.BinarySearchFunc(page, rec.ID, func(r DryRunRecord, id crm.RecordID) int {
		return compareRecordIDs(crm.RecordID(r.ID), id)
	})
	if at > s.limit {
		return page
	}
	r := DryRunRecord{ID: string(rec.ID), Name: displayName(rec), UpdatedAt: crm.FormatDatetime(rec.UpdatedAt)}
	if rec.Type == crm.Contacts {
		r.Email = rec.Properties["email"]
	}
	page = slices.Insert(page, at, r)
	if len(page) > s.limit+1 {
		page = page[:s.limit+1]
	}
	return page
}

// displayProps are the properties a record's display name is made of, for type o.
func displayProps(o crm.ObjectType) []string {
	switch o {
	case crm.Contacts:
		return []string{"firstname", "lastname", "email"}
	case crm.Deals:
		return []string{"dealname"}
	case crm.Tickets:
		return []string{"subject"}
	case crm.Calls:
		return []string{"hs_call_title"}
	default:
		return []string{"name"}
	}
}

// displayName is rec's name for people (see DryRunRecord).
func displayName(rec crm.Record) string {
	if rec.Type == crm.Contacts {
		if n := strings.TrimSpace(rec.Properties["firstname"] + " " + rec.Properties["lastname"]); n != "" {
			return n
		}
		return rec.Properties["email"]
	}
	return rec.Properties[displayProps(rec.Type)[0]]
}

// dryRun evaluates a bulk delete's selection in the request: the records params select (ids, a
// filter or a list's members), less those protection rules protect. It only reads, in batches of
// dryRunBatch, and its evaluation time is bounded by Config.PreviewBudget (a 400
// DRY_RUN_TOO_EXPENSIVE beyond it) and the request by its deadline.
//
// The sample is the page sample asks for; the counts are always those of the whole selection, so
// each page costs what the whole dry run does.
func (s *Server) dryRun(ctx context.Context, t crm.TenantID, params crm.DeleteJobParams, confirm confirmCount, sample dryRunSample) (BulkDryRun, error) {
	o := params.ObjectType
	now := s.clock.Now()
	protect, err := triggers.LoadProtection(ctx, s.store, t, o)
	if err != nil {
		return BulkDryRun{}, fmt.Errorf("read protection rules of %s: %w", o, err)
	}
	var prog *triggers.Program
	var extra []string
	all := false
	if params.Filter != "" {
		schema, err := s.store.Schema(ctx, t, o)
		if err != nil {
			return BulkDryRun{}, fmt.Errorf("read schema of %s: %w", o, err)
		}
		if prog, err = triggers.Compile(params.Filter, schema); err != nil {
			return BulkDryRun{}, err
		}
		extra, all = prog.Reads()
	}
	props := protect.ReadProps(append(extra, displayProps(o)...), all)
	out := BulkDryRun{DryRun: true, ObjectType: string(o), Selection: params.Selection, Sample: []DryRunRecord{}}
	var spent time.Duration
	var failed crm.ProtectedCounts // the records protected because their rule fails on them, by rule
	take := func(recs []crm.Record) error {
		for _, rec := range recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if spent > s.cfg.PreviewBudget {
				return errDryRunTooExpensive(o, out.Scanned, s.cfg.PreviewBudget)
			}
			start := time.Now()
			if prog != nil {
				ok, err := prog.Match(rec, now)
				if err != nil || !ok {
					spent += time.Since(start)
					continue
				}
			}
			out.Matched++
			rule, protected, ruleFailed := protect.Evaluate(rec, now)
			spent += time.Since(start)
			if ruleFailed {
				if failed == nil {
					failed = crm.ProtectedCounts{}
				}
				failed[rule]++
			}
			if protected {
				out.Protected++
				if out.ProtectedByRule == nil {
					out.ProtectedByRule = map[string]int64{}
				}
				out.ProtectedByRule[rule]++
				continue
			}
			out.WouldDelete++
			out.Sample = sample.add(out.Sample, rec)
		}
		return nil
	}
	switch {
	case params.IDs != nil:
		out.Scanned = int64(len(params.IDs))
		for start := 0; start < len(params.IDs); start += crm.MaxScriptBatch {
			recs, err := s.store.Records(ctx, t, o, params.IDs[start:min(start+crm.MaxScriptBatch, len(params.IDs))], &crm.ReadOpts{Properties: props})
			if err != nil {
				return BulkDryRun{}, fmt.Errorf("read %s: %w", o, err)
			}
			if err := take(recs); err != nil {
				return BulkDryRun{}, err
			}
		}
	case params.ListID != "":
		for after := ""; ; {
			recs, scanned, next, err := s.store.NextListMembers(ctx, t, params.ListID, o, after, dryRunBatch, props)
			if err != nil {
				return BulkDryRun{}, fmt.Errorf("read members of list %s: %w", params.ListID, err)
			}
			out.Scanned += int64(scanned)
			if err := take(recs); err != nil {
				return BulkDryRun{}, err
			}
			if after = next; after == "" {
				break
			}
		}
	default:
		for after := ""; ; {
			recs, next, err := s.store.NextRecords(ctx, t, o, after, dryRunBatch, props)
			if err != nil {
				return BulkDryRun{}, fmt.Errorf("read %s: %w", o, err)
			}
			if err := take(recs); err != nil {
				return BulkDryRun{}, err
			}
			out.Scanned += int64(len(recs))
			if after = next; after == "" {
				break
			}
		}
	}
	if len(out.Sample) > sample.limit {
		out.Sample = out.Sample[:sample.limit]
		out.SampleNext = out.Sample[sample.limit-1].ID
	}
	s.logFailedRules(ctx, t, o, failed)
	if confirm.set {
		n, ok := confirm.n, confirm.n == out.WouldDelete
		out.ConfirmCount, out.CountMatches = &n, &ok
	}
	return out, nil
}

// errDryRunTooExpensive is the 400 of a dry run whose evaluation took more than budget after
// looking at done records.
func errDryRunTooExpensive(o crm.ObjectType, done int64, budget time.Duration) error {
	msg := fmt.Sprintf("the dry run needs more than its budget of %s of evaluation: it had looked at %d %s when the budget ran out. "+
		"Narrow the selection, or send the bulk delete without dryRun: its job selects in the background and shows the same counts "+
		"(matched, protected by rule), refusing to delete anything when confirmCount differs", budget, done, o)
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg,
		details: []errorDetail{{Message: msg, Code: "DRY_RUN_TOO_EXPENSIVE", In: "dryRun"}},
		context: map[string][]string{"scanned": {strconv.FormatInt(done, 10)}}}
}
