package engine

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// The letters of crm.Change.Events the engine looks for; r (restored) alone calls for no verdict.
const (
	eventCreated   = string(crm.EventCreated)
	eventUpdated   = string(crm.EventUpdated)
	eventDeleted   = string(crm.EventDeleted)
	eventPermanent = string(crm.EventPermanent)
	eventListed    = string(crm.EventListed)
)

// MaxDetail bounds the Detail of a verdict, in bytes: a trigger's run-time error is cut there.
const MaxDetail = 500

// Change is one record the engine decides about.
type Change struct {
	// ID is the record's id.
	ID crm.RecordID
	// Events are the letters of one or more crm.ChangeState events: c created, u updated, d
	// deleted, r restored, p permanently deleted, l added to a list. Ignored when Existing is set.
	// The worker hands the engine one state at a time, so that every write is judged on what it
	// left.
	Events string
	// Existing marks a record looked at by enroll-existing on activation rather than because it
	// changed: its trigger is evaluated whatever events the workflow listens to.
	Existing bool
	// Record is the record as the write left it (the properties the triggers read), or the live
	// record; nil when the record is not live.
	Record *crm.Record
	// Deletion is the bin's record of how the record was deleted, when it is in the bin and the
	// caller read it; nil otherwise. A record deleted by the workflow being decided about
	// (Via crm.ViaWorkflow, Ref its name) gets no verdict from it.
	Deletion *crm.Deletion
}

// Lists tells whether a record is a member of a static list. Implementations are safe for
// concurrent reads.
type Lists interface {
	Contains(list crm.ListID, id crm.RecordID) bool
}

// ListSets is a Lists held in memory: the member ids of each list. A list it does not hold has no
// members. Safe for concurrent reads.
type ListSets map[crm.ListID]map[crm.RecordID]bool

// Contains reports whether id is in list.
func (s ListSets) Contains(list crm.ListID, id crm.RecordID) bool { return s[list][id] }

// Decide returns the verdicts of workflow wf on changes at time now, in the order of changes; a
// change that calls for no verdict (see the package documentation) is left out. lists may be nil
// when wf has no suppression lists. Decide is pure and safe for concurrent use; a trigger's
// run-time error becomes a crm.VerdictError, never a panic or an error.
func Decide(wf *workflows.Workflow, changes []Change, lists Lists, now time.Time) []crm.FlowVerdict {
	out := make([]crm.FlowVerdict, 0, len(changes))
	for _, c := range changes {
		if v, ok := DecideOne(wf, c, lists, now); ok {
			out = append(out, v)
		}
	}
	return out
}

// DecideOne is Decide for one change; ok is false when the change calls for no verdict.
func DecideOne(wf *workflows.Workflow, c Change, lists Lists, now time.Time) (v crm.FlowVerdict, ok bool) {
	v.ID = c.ID
	ev := c.Events
	if !c.Existing && (strings.Contains(ev, eventDeleted) || strings.Contains(ev, eventPermanent)) {
		if c.Record == nil && c.Deletion != nil && c.Deletion.Via == crm.ViaWorkflow && c.Deletion.Ref == wf.Name {
			return v, false // this workflow's own delete_contact step: that step ends the enrollment
		}
		v.Verdict, v.Detail = crm.VerdictDeleted, "record deleted"
		if strings.Contains(ev, eventPermanent) {
			v.Detail = "record permanently deleted"
		}
		return v, true
	}
	if c.Record == nil {
		return v, false
	}
	rec := *c.Record
	if !c.Existing && !strings.Contains(ev, eventCreated) && !strings.Contains(ev, eventUpdated) &&
		strings.Contains(ev, eventListed) {
		// Added to a list: only a suppression list of the workflow calls for a verdict.
		if why := suppressedByList(wf, c.ID, lists); why != "" {
			return suppressed(wf, c.ID, rec, now, why), true
		}
		return v, false
	}
	if !c.Existing && !listens(wf, ev) {
		// Events the workflow does not evaluate its trigger on, or only restored (SPEC S8). A
		// create or an update that leaves the record suppressed unenrolls it all the same (SPEC
		// S19), with nothing recorded when it is not enrolled; so does one that leaves it not
		// matching, in a workflow that unenrolls records that stop matching, whatever events
		// enrolled them. The events say what enrolls, not what keeps a record enrolled.
		if strings.Contains(ev, eventCreated) || strings.Contains(ev, eventUpdated) {
			if why := SuppressedBy(wf, c.ID, rec, lists, now); why != "" {
				return crm.FlowVerdict{ID: c.ID, Verdict: crm.VerdictSuppressedNoMatch, Detail: why}, true
			}
			if wf.UnenrollWhenNotMatching {
				// A run-time error is no verdict here: it says nothing of whether the record
				// stopped matching, and a record that is not enrolled must get no history entry.
				if hit, err := wf.Matches(rec, now); err == nil && !hit {
					v.Verdict = crm.VerdictUnmatch
					return v, true
				}
			}
		}
		return v, false
	}
	if s := wf.Suppression; s != nil {
		if why := suppressedByList(wf, c.ID, lists); why != "" {
			return suppressed(wf, c.ID, rec, now, why), true
		}
		if s.Trigger != nil && s.Trigger.Program != nil {
			hit, err := s.Trigger.Program.Match(rec, now)
			if err != nil {
				v.Verdict, v.Detail = crm.VerdictError, "suppression trigger: "+redact(err.Error(), s.Trigger.Source, rec)
				return v, true
			}
			if hit {
				return suppressed(wf, c.ID, rec, now, "matches the suppression trigger"), true
			}
		}
	}
	hit, err := wf.Matches(rec, now)
	switch {
	case err != nil:
		v.Verdict, v.Detail = crm.VerdictError, redact(err.Error(), wf.Trigger.Source, rec)
	case hit:
		v.Verdict = crm.VerdictMatch
	case wf.UnenrollWhenNotMatching:
		v.Verdict = crm.VerdictUnmatch
	default:
		v.Verdict = crm.VerdictNoMatch
	}
	return v, true
}

// SuppressedBy says why wf's suppression holds the live record rec (a member of one of its
// suppression lists, or matching its suppression trigger at now), or "" when it does not. A
// suppression trigger that fails at run time on rec does not hold it here: the drain of the write
// records the error. lists may be nil when wf has no suppression lists.
func SuppressedBy(wf *workflows.Workflow, id crm.RecordID, rec crm.Record, lists Lists, now time.Time) string {
	if why := suppressedByList(wf, id, lists); why != "" {
		return why
	}
	if s := wf.Suppression; s != nil && s.Trigger != nil && s.Trigger.Program != nil {
		if hit, err := s.Trigger.Program.Match(rec, now); err == nil && hit {
			return "matches the suppression trigger"
		}
	}
	return ""
}

// suppressedByList names the first suppression list of wf that holds id, or "".
func suppressedByList(wf *workflows.Workflow, id crm.RecordID, lists Lists) string {
	if wf.Suppression == nil || lists == nil {
		return ""
	}
	for _, l := range wf.Suppression.Lists {
		if lists.Contains(l, id) {
			return "member of list " + string(l)
		}
	}
	return ""
}

// suppressed is the verdict on a record that matches wf's suppression criteria (why): whether the
// trigger matches it too decides whether a record not enrolled gets a history entry.
func suppressed(wf *workflows.Workflow, id crm.RecordID, rec crm.Record, now time.Time, why string) crm.FlowVerdict {
	v := crm.FlowVerdict{ID: id, Verdict: crm.VerdictSuppressedNoMatch, Detail: why}
	if hit, err := wf.Matches(rec, now); err == nil && hit {
		v.Verdict = crm.VerdictSuppressed
	}
	return v
}

// listens reports whether the events ev include one that wf evaluates its trigger on. Restored
// alone (r) is none of them.
func listens(wf *workflows.Workflow, ev string) bool {
	return strings.Contains(ev, eventCreated) && wf.ListensTo(workflows.EventCreated) ||
		strings.Contains(ev, eventUpdated) && wf.ListensTo(workflows.EventUpdated)
}

// redact replaces, in a trigger's error text, every property value of rec of three characters or
// more by the property's name in angle brackets, so that the history (which names no property
// values) keeps the error without the data; it leaves the trigger's own source alone (quoted in
// the first line, and in expr's snippet lines " | ..."), and cuts the text at MaxDetail bytes. When
// the text is longer, it quotes only the beginning of the source and leaves the snippet out, so
// that the error itself is kept.
func redact(msg, src string, rec crm.Record) string {
	type pv struct{ name, value string }
	var vals []pv
	for name, value := range rec.Properties {
		if utf8.RuneCountInString(value) >= 3 {
			vals = append(vals, pv{name, value})
		}
	}
	// Longest values first, so that a value containing another is replaced whole.
	slices.SortFunc(vals, func(a, b pv) int {
		return cmp.Or(cmp.Compare(len(b.value), len(a.value)), cmp.Compare(a.name, b.name))
	})
	quoted := strconv.Quote(src)
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		if i > 0 && strings.HasPrefix(strings.TrimLeft(line, " "), "|") {
			continue // expr's snippet: the trigger's source and a caret
		}
		parts := strings.Split(line, quoted)
		for j, part := range parts {
			for _, v := range vals {
				part = strings.ReplaceAll(part, v.value, "<"+v.name+">")
			}
			parts[j] = part
		}
		lines[i] = strings.Join(parts, quoted)
	}
	out := strings.Join(lines, "\n")
	if len(out) > MaxDetail {
		// A long trigger would fill the detail before the error: quote its beginning only, and
		// leave out expr's snippet (the position stays in the message).
		kept := lines[:0]
		for i, line := range lines {
			if i == 0 || !strings.HasPrefix(strings.TrimLeft(line, " "), "|") {
				kept = append(kept, line)
			}
		}
		kept[0] = strings.Replace(kept[0], quoted, strconv.Quote(truncate(src, maxQuoted)), 1)
		out = strings.Join(kept, "\n")
	}
	return truncate(out, MaxDetail)
}

// maxQuoted bounds the part of a trigger's source that a verdict's detail quotes when the whole
// detail would be longer than MaxDetail.
const maxQuoted = 120

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
