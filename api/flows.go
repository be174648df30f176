package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// flowFile is the file name that workflow problems are reported against ("flow.yaml:3:20: ...").
const flowFile = "flow.yaml"

// flowsPath is the path of the workflow endpoints.
const flowsPath = "/automation/v4/flows"

// yamlMediaTypes are the Content-Types a workflow body may have.
var yamlMediaTypes = []string{"application/yaml", "text/yaml", "application/x-yaml"}

// flowJSON is a stored workflow. ActivatedAt is null for a workflow never activated.
type flowJSON struct {
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	State          string `json:"state"` // DRAFT, ACTIVE or PAUSED
	Revision       int64  `json:"revision"`
	ActiveRevision int64  `json:"activeRevision"`
	PausedReason   string `json:"pausedReason"`
	// PausedReasonCode names the reason a workflow paused itself (a crm.PauseCode), and
	// PausedReasonParams holds the values its sentence names: "" and {} for a user's pause and
	// for a workflow paused before codes were kept (pausedReason alone then says why).
	PausedReasonCode   string            `json:"pausedReasonCode"`
	PausedReasonParams map[string]string `json:"pausedReasonParams"`
	CreatedAt          string            `json:"createdAt"`
	UpdatedAt          string            `json:"updatedAt"`
	ActivatedAt        *string           `json:"activatedAt"`
	// ActivatedBy is the user whose authority the workflow acts with (SPEC S23).
	ActivatedBy string `json:"activatedBy,omitempty"`
}

func toFlowJSON(f crm.Flow) flowJSON {
	out := flowJSON{Name: f.Name, ObjectType: string(f.ObjectType), State: flowState(f.State), Revision: f.Revision,
		ActiveRevision: f.ActiveRevision, PausedReason: f.PausedReason, PausedReasonCode: string(f.PausedCode),
		PausedReasonParams: f.PausedParams, ActivatedBy: f.ActivatedBy,
		CreatedAt: crm.FormatDatetime(f.CreatedAt), UpdatedAt: crm.FormatDatetime(f.UpdatedAt)}
	if out.PausedReasonParams == nil {
		out.PausedReasonParams = map[string]string{}
	}
	if !f.ActivatedAt.IsZero() {
		at := crm.FormatDatetime(f.ActivatedAt)
		out.ActivatedAt = &at
	}
	return out
}

// flowState is the API's name of a workflow state.
func flowState(s crm.FlowState) string {
	switch s {
	case crm.FlowDraft:
		return "DRAFT"
	case crm.FlowActive:
		return "ACTIVE"
	case crm.FlowPaused:
		return "PAUSED"
	default:
		return string(s)
	}
}

// flowDetailJSON is one workflow with the source of its latest revision and the list of its
// revisions, oldest first.
type flowDetailJSON struct {
	flowJSON
	Source    string                `json:"source"`
	Revisions []revisionSummaryJSON `json:"revisions"`
	// Backfill is the progress of the latest enroll-existing backfill; absent when there was none.
	BackfillProgress *backfillProgressJSON `json:"backfillProgress,omitempty"`
}

// backfillProgressJSON is the progress of an enroll-existing backfill.
type backfillProgressJSON struct {
	Revision  int64  `json:"revision"`
	Status    string `json:"status"` // RUNNING, COMPLETE or STOPPED
	Total     int64  `json:"total"`
	Done      int64  `json:"done"`
	Enrolled  int64  `json:"enrolled"`
	StartedAt string `json:"startedAt"`
	UpdatedAt string `json:"updatedAt"`
}

type revisionSummaryJSON struct {
	Revision  int64  `json:"revision"`
	CreatedAt string `json:"createdAt"`
	By        string `json:"by"`
	Erased    bool   `json:"erased,omitempty"` // see revisionJSON.Erased
}

type revisionJSON struct {
	Revision  int64  `json:"revision"`
	Source    string `json:"source"`
	By        string `json:"by"`
	CreatedAt string `json:"createdAt"`
	// Erased is true when a permanent delete erased an email address the revision named: its
	// source no longer parses, and it cannot be activated (SPEC S9).
	Erased bool `json:"erased,omitempty"`
}

// activateJSON is the answer of an activation: the workflow and what became of the enrollment of
// the records that already match (the backfill).
type activateJSON struct {
	flowJSON
	Backfill backfillJSON `json:"backfill"`
	// Resume is set when the workflow was paused: what became of the records that waited.
	Resume *resumeJSON `json:"resume,omitempty"`
}

// resumeJSON says whether the steps of the records that waited in a paused workflow, and are due,
// were handed to a worker to run at once (Queued). Warning says what happens when they were not:
// the workflow sweep runs them, a little later.
type resumeJSON struct {
	Queued  bool   `json:"queued"`
	Warning string `json:"warning,omitempty"`
}

// backfillJSON says whether the activation asked to enroll the existing records (Requested) and
// whether that work was handed to a worker (Queued). Warning says what to do when it was asked
// and not queued.
type backfillJSON struct {
	Requested bool   `json:"requested"`
	Queued    bool   `json:"queued"`
	Warning   string `json:"warning,omitempty"`
}

// previewJSON is what a workflow would enroll now: of Total live records of its type, Matched
// match the trigger and are not suppressed, Suppressed match it but are suppressed, and Errors
// could not be evaluated (the trigger or the suppression trigger failed at run time; they would
// not enroll). Sample holds up to limit of the matched records, by ascending id.
type previewJSON struct {
	Name       string       `json:"name"`
	ObjectType string       `json:"objectType"`
	Revision   int64        `json:"revision,omitempty"`
	At         string       `json:"at"`
	Total      int64        `json:"total"`
	Matched    int64        `json:"matched"`
	Suppressed int64        `json:"suppressed"`
	Errors     int64        `json:"errors"`
	Sample     []recordJSON `json:"sample"`
	Warnings   []string     `json:"warnings,omitempty"`
	// Partial is set when ?maxRecords stopped the preview before the last record: the counts are
	// those of the first Total records, by id.
	Partial bool `json:"partial,omitempty"`
	// Protected is how many of the Matched records a protection rule protects (SPEC S25): the
	// workflow's delete_contact skips them. ProtectedByRule counts them by rule.
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule,omitempty"`
	// Limit is, for a workflow that deletes, the blast-radius limit its deletions run under
	// (SPEC S24) and how far it would let the workflow go in the window that starts now.
	Limit *PreviewLimit `json:"limit,omitempty"`
}

// PreviewLimit is a workflow's blast-radius limit in its preview. Clients of the API (crmflow's
// CLI among them) decode it.
type PreviewLimit struct {
	// MaxDeletions is the most deletions in any window of Per; null when Unlimited.
	MaxDeletions *int   `json:"maxDeletions"`
	Per          string `json:"per,omitempty"`
	Unlimited    bool   `json:"unlimited"`
	// Source says whose limit it is: "workflow" (its own limits) or "tenant" (the tenant's
	// default, crmflow admin tenant set-limits).
	Source string `json:"source"`
	// DeletedInWindow is how many deletions the workflow of that name already made (any of its
	// activations) in the last Per: the limit counts them, so activated now it may delete only
	// the rest of MaxDeletions until they leave the window. 0 when unlimited.
	DeletedInWindow int64 `json:"deletedInWindow"`
	// WouldDelete is how many of the matched records, protected ones left out, the workflow would
	// delete in its first window (what DeletedInWindow leaves of the limit); WouldPause is set
	// when more match, so the workflow would pause itself at the limit with the rest waiting.
	WouldDelete int64 `json:"wouldDelete"`
	WouldPause  bool  `json:"wouldPause"`
}

// previewLimit is the limit part of wf's preview, where deletable records match; nil for a
// workflow that deletes nothing.
func (s *Server) previewLimit(ctx context.Context, t crm.TenantID, wf *workflows.Workflow, deletable int64) (*PreviewLimit, error) {
	if !wf.Deletes() {
		return nil, nil
	}
	out := &PreviewLimit{Source: "workflow"}
	lim := crm.DeletionLimit{}
	if wf.Limits != nil {
		lim = wf.Limits.Deletions
	} else {
		tn, err := s.store.Tenant(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("read the deletion limit of tenant %s: %w", t, err)
		}
		lim, out.Source = tn.DeletionLimit, "tenant"
	}
	out.WouldDelete = deletable
	if lim.Unlimited() {
		out.Unlimited = true
		return out, nil
	}
	out.MaxDeletions, out.Per = &lim.Max, crm.FormatWindow(lim.Per)
	// The count is the workflow's, across activations: what it deleted in the window still counts.
	used, err := s.store.FlowDeletionsInWindow(ctx, t, wf.Name, lim.Per)
	if err != nil {
		return nil, fmt.Errorf("count the deletions of workflow %s: %w", wf.Name, err)
	}
	out.DeletedInWindow = used
	if left := max(int64(lim.Max)-used, 0); deletable > left {
		out.WouldDelete, out.WouldPause = left, true
	}
	return out, nil
}

// historyJSON is one event of a record in a workflow. Step is the action's index in the
// workflow's actions, from 0 (as "actions[0]" names it in a problem); Detail, text for people,
// counts steps from 1 as the console does ("stopped after step 1 of 2: failed" for the first).
type historyJSON struct {
	At       string `json:"at"`
	Kind     string `json:"kind"`
	Revision int64  `json:"revision"`
	Step     *int   `json:"step,omitempty"`
	Action   string `json:"action,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	Detail   string `json:"detail,omitempty"`
	// By is, for an action, who it acted as: "USER via workflow NAME (revision R)".
	By string `json:"by,omitempty"`
}

type resultsJSON[T any] struct {
	Results []T `json:"results"`
}

// activateInput is the optional body of an activation. EnrollExisting nil means the workflow's own
// enroll_existing.
type activateInput struct {
	EnrollExisting *bool `json:"enrollExisting"`
}

// enrollInput is the body of a manual enrollment.
type enrollInput struct {
	RecordID *flexID `json:"recordId"`
}

// liveSchemas is the workflows.SchemaLookup of a tenant's live schema, for the length of one
// request (the interface has no context, so it carries the request's).
type liveSchemas struct {
	ctx    context.Context
	store  crm.Store
	tenant crm.TenantID
}

// Schema returns the tenant's schema of o, or a *crm.NotFoundError for a type it does not have.
func (l liveSchemas) Schema(o crm.ObjectType) (crm.Schema, error) {
	return l.store.Schema(l.ctx, l.tenant, o)
}

// ObjectTypes lists the tenant's object types, for the hint of an unknown one (nil on error).
func (l liveSchemas) ObjectTypes() []crm.ObjectType {
	ts, err := l.store.AllObjectTypes(l.ctx, l.tenant)
	if err != nil {
		return nil
	}
	return ts
}

// pathFlowName reads a workflow name from the path. A name that is not a valid workflow name
// cannot exist: a 404 naming it.
func pathFlowName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if workflows.ValidateName(name) != nil {
		return "", errNotFound("workflow", name)
	}
	return name, nil
}

// readYAML reads a workflow body: a YAML Content-Type (else 415) and at most maxBytes (else 413).
func readYAML(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(yamlMediaTypes, mt) {
		return nil, errMediaType(ct, yamlMediaTypes)
	}
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if re, ok := readError(err, maxBytes); ok {
			return nil, re
		}
		return nil, fmt.Errorf("read workflow body: %w", err)
	}
	return src, nil
}

// decodeOptionalJSON is decodeJSON for a body that may be absent: it returns false, leaving dst
// alone, when the body is empty or only white space.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, maxBytes int64, dst any) (bool, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if re, ok := readError(err, maxBytes); ok {
			return false, re
		}
		return false, fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return false, nil
	}
	if err := checkUTF8(raw); err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return false, bodyError(err, maxBytes)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return false, trailingError(err, maxBytes)
	}
	return true, nil
}

// parseFlow validates a workflow file against the tenant's live schema and the action registry,
// and checks that its suppression lists exist and hold records of its object type: a
// *workflows.ValidationError lists every problem, each at its line and column.
func (s *Server) parseFlow(ctx context.Context, t crm.TenantID, src []byte) (*workflows.Workflow, error) {
	wf, err := workflows.Parse(flowFile, src, liveSchemas{ctx: ctx, store: s.store, tenant: t}, s.cfg.Actions)
	if err != nil {
		return nil, fmt.Errorf("validate workflow: %w", err)
	}
	_, bad, err := s.suppressionLists(ctx, t, wf)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		ve := &workflows.ValidationError{}
		for _, b := range bad {
			pos := yamlPos(src, "suppression", "lists", b.index)
			ve.Problems = append(ve.Problems, workflows.Problem{File: flowFile, Line: pos.Line, Column: pos.Column,
				Path: b.path(), Message: b.message})
		}
		return nil, ve
	}
	return wf, nil
}

// parseRevision reads a stored revision of a workflow and parses it against the live schema. A
// revision that no longer validates (the schema changed under it) is a *workflows.ValidationError;
// one a permanent delete erased an address from, crm.ErasedRevisionError (a 409).
func (s *Server) parseRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (*workflows.Workflow, error) {
	fr, err := s.store.FlowRevision(ctx, t, name, rev)
	if err != nil {
		return nil, fmt.Errorf("read workflow %s revision %d: %w", name, rev, err)
	}
	if fr.Erased {
		return nil, crm.ErasedRevisionError(name, rev)
	}
	wf, err := workflows.Parse(flowFile, []byte(fr.Source), liveSchemas{ctx: ctx, store: s.store, tenant: t}, s.cfg.Actions)
	if err != nil {
		return nil, fmt.Errorf("validate workflow %s revision %d: %w", name, rev, err)
	}
	return wf, nil
}

// badList is a suppression list that suppresses nobody: it does not exist, or holds another type.
type badList struct {
	index   int
	message string
}

func (b badList) path() string { return fmt.Sprintf("suppression.lists[%d]", b.index) }

// suppressionLists sorts wf's suppression lists into those that hold records of its type and
// those that cannot suppress anything.
func (s *Server) suppressionLists(ctx context.Context, t crm.TenantID, wf *workflows.Workflow) ([]crm.ListID, []badList, error) {
	if wf.Suppression == nil {
		return nil, nil, nil
	}
	var good []crm.ListID
	var bad []badList
	for i, id := range wf.Suppression.Lists {
		l, err := s.store.List(ctx, t, id)
		switch {
		case errors.Is(err, crm.ErrNotFound):
			bad = append(bad, badList{i, fmt.Sprintf("list %s does not exist: use the id of a static list of %s (GET /crm/v3/lists shows them)",
				id, wf.ObjectType)})
		case err != nil:
			return nil, nil, fmt.Errorf("read suppression list %s: %w", id, err)
		case l.ObjectType != wf.ObjectType:
			bad = append(bad, badList{i, fmt.Sprintf("list %s holds %s, not %s: use a list of %s", id, l.ObjectType, wf.ObjectType, wf.ObjectType)})
		default:
			good = append(good, id)
		}
	}
	return good, bad, nil
}

// listSets reads the members of wf's suppression lists as the worker does (engine.LoadLists), and
// returns a warning for each list that suppresses nobody (deleted since the workflow was stored,
// say), naming it by its place in the YAML.
func (s *Server) listSets(ctx context.Context, t crm.TenantID, wf *workflows.Workflow) (engine.ListSets, []string, error) {
	if wf.Suppression == nil {
		return nil, nil, nil
	}
	sets, unusable, err := engine.LoadLists(ctx, s.store, t, wf.ObjectType, wf.Suppression.Lists, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read suppression lists: %w", err)
	}
	var warns []string
	for _, u := range unusable {
		i := slices.Index(wf.Suppression.Lists, u.ID)
		warns = append(warns, badList{i, u.Reason(wf.ObjectType)}.path()+": "+u.Reason(wf.ObjectType)+"; it suppresses nobody")
	}
	return sets, warns, nil
}

// yamlPos is the position in src of the value at path (mapping keys and sequence indexes), or of
// the deepest node of path that exists. src is a file that workflows.Parse accepted.
func yamlPos(src []byte, path ...any) workflows.Position {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return workflows.Position{Line: 1, Column: 1}
	}
	n := doc.Content[0]
walk:
	for _, step := range path {
		switch step := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				break walk
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				break walk
			}
		case int:
			if n.Kind != yaml.SequenceNode || step >= len(n.Content) {
				break walk
			}
			n = n.Content[step]
		}
	}
	return workflows.Position{Line: max(n.Line, 1), Column: max(n.Column, 1)}
}

// putFlow serves PUT /automation/v4/flows/{name} with a YAML body: the workflow is validated
// against the tenant's live schema, the action registry and its lists (a 400 listing every
// problem at its line and column), its name must be {name}, and it is stored as a new revision
// (201) unless its source equals the latest revision's (200). It stays in its state: storing a
// revision of an active workflow does not activate the revision (POST .../activate does). Every
// plan may store workflows (SPEC S18).
func (s *Server) putFlow(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name := r.PathValue("name")
	if err := workflows.ValidateName(name); err != nil {
		return errInvalid("name", "INVALID_NAME", "%s", err.Error())
	}
	src, err := readYAML(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	wf, err := s.parseFlow(r.Context(), p.Tenant, src)
	if err != nil {
		return err
	}
	if wf.Name != name {
		pos := yamlPos(src, "name")
		return &workflows.ValidationError{Problems: []workflows.Problem{{File: flowFile, Line: pos.Line, Column: pos.Column,
			Path: "name", Message: fmt.Sprintf("is %q but the URL names workflow %q: make them equal (PUT %s/%s stores this file)",
				wf.Name, name, flowsPath, wf.Name)}}}
	}
	f, created, err := s.store.PutFlow(r.Context(), p.Tenant, name, wf.ObjectType, string(src), p.User.Email)
	if err != nil {
		return fmt.Errorf("store workflow %s: %w", name, err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", flowsPath+"/"+name)
	}
	writeJSON(w, status, toFlowJSON(f))
	return nil
}

// listFlows serves GET /automation/v4/flows: every workflow of the tenant by name.
func (s *Server) listFlows(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	fs, err := s.store.Flows(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("list workflows: %w", err)
	}
	out := resultsJSON[flowJSON]{Results: make([]flowJSON, len(fs))}
	for i, f := range fs {
		out.Results[i] = toFlowJSON(f)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getFlow serves GET /automation/v4/flows/{name}: the workflow, the source of its latest revision
// and its revisions, oldest first.
func (s *Server) getFlow(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	f, err := s.store.Flow(r.Context(), p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	revs, err := s.store.FlowRevisions(r.Context(), p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s revisions: %w", name, err)
	}
	out := flowDetailJSON{flowJSON: toFlowJSON(f), Revisions: make([]revisionSummaryJSON, 0, len(revs))}
	for _, fr := range revs {
		out.Revisions = append(out.Revisions, revisionSummaryJSON{Revision: fr.Revision, CreatedAt: crm.FormatDatetime(fr.CreatedAt), By: fr.By, Erased: fr.Erased})
	}
	if len(revs) > 0 {
		// The latest revision's source only: the store reads the revisions without theirs.
		latest, err := s.store.FlowRevision(r.Context(), p.Tenant, name, revs[len(revs)-1].Revision)
		if err != nil {
			return fmt.Errorf("read workflow %s revision %d: %w", name, revs[len(revs)-1].Revision, err)
		}
		out.Source = latest.Source
	}
	bf, ok, err := s.store.Backfill(r.Context(), p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s backfill: %w", name, err)
	}
	if ok {
		status := map[crm.BackfillState]string{crm.BackfillRunning: "RUNNING", crm.BackfillDone: "COMPLETE", crm.BackfillStopped: "STOPPED"}[bf.State]
		out.BackfillProgress = &backfillProgressJSON{Revision: bf.Revision, Status: status, Total: bf.Total, Done: bf.Done, Enrolled: bf.Enrolled,
			StartedAt: crm.FormatDatetime(bf.StartedAt), UpdatedAt: crm.FormatDatetime(bf.UpdatedAt)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getFlowRevision serves GET /automation/v4/flows/{name}/revisions/{rev}.
func (s *Server) getFlowRevision(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	v := r.PathValue("rev")
	rev, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rev < 1 {
		return errNotFound("workflow revision", name+"@"+v)
	}
	fr, err := s.store.FlowRevision(r.Context(), p.Tenant, name, rev)
	if err != nil {
		return fmt.Errorf("read workflow %s revision %d: %w", name, rev, err)
	}
	writeJSON(w, http.StatusOK, revisionJSON{Revision: fr.Revision, Source: fr.Source, By: fr.By, CreatedAt: crm.FormatDatetime(fr.CreatedAt), Erased: fr.Erased})
	return nil
}

// activateFlow serves POST /automation/v4/flows/{name}/activate with an optional body
// {"enrollExisting": true|false}. It activates the workflow's latest revision, after checking it
// still validates against the live schema. Only the professional and enterprise plans may (SPEC
// S18): others get a 403 PLAN_NOT_ALLOWED and nothing changes.
//
// When enrollExisting is true (or absent and the revision says enroll_existing: true), the
// enrollment of the records that match already is handed to a worker with Config.Tasks
// (EnqueueBackfill). No sweep recovers a backfill that was not enqueued, so the answer says so: the
// activation stands, and the answer is still 200, with backfill.queued false and a warning to
// activate again (activating an active workflow again is harmless, and enrolls nobody twice).
//
// When the workflow was paused (at its blast-radius limit, say), the due steps of the records that
// waited enrolled are handed to a worker at once (EnqueueWorkflowResume), and the answer's resume
// says so. When that enqueue fails, the activation stands all the same and the answer is 200, with
// resume.queued false and a warning: the worker's workflow sweep runs those steps a little later.
func (s *Server) activateFlow(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	var in activateInput
	if _, err := decodeOptionalJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	ctx := r.Context()
	f, err := s.store.Flow(ctx, p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	// The script checks the plan again atomically; reading it first only makes the plan the first
	// thing a Free or Starter tenant hears about, before anything about its workflow's contents.
	tn, err := s.store.Tenant(ctx, p.Tenant)
	if err != nil {
		return fmt.Errorf("read tenant: %w", err)
	}
	if !tn.Plan.AllowsWorkflows() {
		return &crm.PlanError{Plan: tn.Plan}
	}
	rev := f.Revision
	// A workflow paused between this read and the activation has its waiting records run by the
	// workflow sweep, as before.
	wasPaused := f.State == crm.FlowPaused
	wf, err := s.parseRevision(ctx, p.Tenant, name, rev)
	if err != nil {
		return err
	}
	enroll := wf.EnrollExisting
	if in.EnrollExisting != nil {
		enroll = *in.EnrollExisting
	}
	// The workflow acts with the activating user's authority (SPEC S23): that user must hold what
	// its actions need, and bulk_delete too when it enrolls every matching record and deletes.
	if err := requireFlowPerms(p, wf, enroll, "activating"); err != nil {
		return err
	}
	// Activated only if rev is still the latest: the permissions checked are those of the
	// revision that runs.
	reads, all := wf.Reads()
	switch {
	case all:
		reads = []string{"*"}
	case reads == nil:
		reads = []string{} // reads nothing: every write keeps an empty set of values
	}
	f, err = s.store.ActivateFlow(ctx, p.Tenant, name, crm.ActivateFlowParams{By: p.User.Email, Revision: rev, Reads: reads})
	if err != nil {
		return fmt.Errorf("activate workflow %s: %w", name, err)
	}
	out := activateJSON{flowJSON: toFlowJSON(f)}
	out.Backfill.Requested = enroll
	if out.Backfill.Requested {
		out.Backfill.Queued, out.Backfill.Warning = s.enqueueBackfill(r, p.Tenant, f)
	}
	if wasPaused {
		out.Resume = s.enqueueResume(r, p.Tenant, f)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// enqueueBackfill asks a worker to enroll the records of f that match already, and reports
// whether it could, or what to do.
func (s *Server) enqueueBackfill(r *http.Request, t crm.TenantID, f crm.Flow) (bool, string) {
	log := s.cfg.Logger.With(slog.String("tenant_id", string(t)), slog.String("workflow_id", f.Name),
		slog.String("correlation_id", correlationID(r.Context())))
	retry := fmt.Sprintf(`retry POST %s/%s/activate with {"enrollExisting": true}`, flowsPath, f.Name)
	if s.cfg.Tasks == nil {
		log.WarnContext(r.Context(), "no task queue configured: the enrollment of existing records was not queued")
		return false, "backfill not queued: this server has no task queue configured; the workflow is active and " +
			"enrolls records as they change, but not the ones that match already: " + retry + " on a server with workers"
	}
	ctx, cancel := enqueueContext(r)
	err := s.cfg.Tasks.EnqueueWorkflowBackfill(ctx, t, f.Name, f.ActiveRevision)
	cancel()
	if err != nil {
		log.WarnContext(r.Context(), "enqueue the enrollment of existing records failed", slog.String("error", err.Error()))
		return false, "backfill not queued: the task queue failed; the workflow is active and enrolls records as they " +
			"change, but not the ones that match already: " + retry
	}
	return true, ""
}

// enqueueResume asks a worker to run at once the due steps of the records that waited while f was
// paused, and reports whether it could, or what happens instead.
func (s *Server) enqueueResume(r *http.Request, t crm.TenantID, f crm.Flow) *resumeJSON {
	log := s.cfg.Logger.With(slog.String("tenant_id", string(t)), slog.String("workflow_id", f.Name),
		slog.String("correlation_id", correlationID(r.Context())))
	later := "the workflow is active, and the worker's workflow sweep runs the steps of the records that waited " +
		"a little later (within a minute or two with the default settings)"
	if s.cfg.Tasks == nil {
		log.WarnContext(r.Context(), "no task queue configured: the steps of the records that waited were not queued")
		return &resumeJSON{Warning: "waiting records not queued at once: this server has no task queue configured; " + later}
	}
	ctx, cancel := enqueueContext(r)
	err := s.cfg.Tasks.EnqueueWorkflowResume(ctx, t, f.Name, f.ActivatedAt)
	cancel()
	if err != nil {
		log.WarnContext(r.Context(), "enqueue the steps of the records that waited failed", slog.String("error", err.Error()))
		return &resumeJSON{Warning: "waiting records not queued at once: the task queue failed; " + later}
	}
	return &resumeJSON{Queued: true}
}

// pauseFlow serves POST /automation/v4/flows/{name}/pause: the workflow enrolls nothing and runs no
// action until activated again (SPEC S20). Pausing a paused or draft workflow changes nothing.
func (s *Server) pauseFlow(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	f, err := s.store.PauseFlow(r.Context(), p.Tenant, name, nil)
	if err != nil {
		return fmt.Errorf("pause workflow %s: %w", name, err)
	}
	writeJSON(w, http.StatusOK, toFlowJSON(f))
	return nil
}

// previewFlow serves GET /automation/v4/flows/{name}/preview?limit=: what the workflow's latest
// revision would enroll now (see preview). It changes nothing, on every plan.
func (s *Server) previewFlow(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	maxRecords, err := queryMaxRecords(r)
	if err != nil {
		return err
	}
	f, err := s.store.Flow(r.Context(), p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	wf, err := s.parseRevision(r.Context(), p.Tenant, name, f.Revision)
	if err != nil {
		return err
	}
	out, err := s.preview(r.Context(), p.Tenant, wf, limit, maxRecords)
	if err != nil {
		return err
	}
	out.Revision = f.Revision
	writeJSON(w, http.StatusOK, out)
	return nil
}

// previewSource serves POST /automation/v4/flows/preview?limit= with a YAML body: the preview of a
// workflow that is not stored (crmflow preview FILE). It is validated as PUT validates it.
func (s *Server) previewSource(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	maxRecords, err := queryMaxRecords(r)
	if err != nil {
		return err
	}
	src, err := readYAML(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	wf, err := s.parseFlow(r.Context(), p.Tenant, src)
	if err != nil {
		return err
	}
	out, err := s.preview(r.Context(), p.Tenant, wf, limit, maxRecords)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// preview evaluates wf on every live record of its type at the clock's now, as the engine would:
// a record enrolls when the trigger matches and neither the suppression trigger matches nor a
// suppression list holds it. It only reads.
// previewBatch is how many records a preview's scan reads per round trip.
const previewBatch = 500

func (s *Server) preview(ctx context.Context, t crm.TenantID, wf *workflows.Workflow, limit int, maxRecords int64) (previewJSON, error) {
	now := s.clock.Now()
	var spent time.Duration // the triggers' time so far, against Config.PreviewBudget
	lists, warns, err := s.listSets(ctx, t, wf)
	if err != nil {
		return previewJSON{}, err
	}
	protect, err := triggers.LoadProtection(ctx, s.store, t, wf.ObjectType)
	if err != nil {
		return previewJSON{}, fmt.Errorf("read protection rules of %s: %w", wf.ObjectType, err)
	}
	out := previewJSON{Name: wf.Name, ObjectType: string(wf.ObjectType), At: crm.FormatDatetime(now),
		Sample: []recordJSON{}, Warnings: warns}
	err = s.store.ScanRecords(ctx, t, wf.ObjectType, previewBatch, func(recs []crm.Record) error {
		for _, rec := range recs {
			// Each evaluation is bounded (triggers.EvalBudget), the request as a whole by its
			// deadline: stop at it, or as soon as the client goes away.
			if err := ctx.Err(); err != nil {
				return err
			}
			if maxRecords > 0 && out.Total >= maxRecords {
				out.Partial = true
				return errPreviewDone
			}
			if spent > s.cfg.PreviewBudget {
				return errPreviewTooExpensive(wf, out.Total, s.cfg.PreviewBudget)
			}
			out.Total++
			// The engine's own decision on the record, as enroll-existing would take it.
			start := time.Now()
			v, _ := engine.DecideOne(wf, engine.Change{ID: rec.ID, Existing: true, Record: &rec}, lists, now)
			spent += time.Since(start)
			switch v.Verdict {
			case crm.VerdictError:
				out.Errors++
			case crm.VerdictSuppressed:
				out.Suppressed++
			case crm.VerdictMatch:
				out.Matched++
				start := time.Now()
				if rule, ok := protect.Check(rec, now); ok {
					out.Protected++
					if out.ProtectedByRule == nil {
						out.ProtectedByRule = map[string]int64{}
					}
					out.ProtectedByRule[rule]++
				}
				spent += time.Since(start)
				if len(out.Sample) < limit {
					out.Sample = append(out.Sample, toRecordJSON(rec))
				}
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPreviewDone) {
		return previewJSON{}, fmt.Errorf("preview workflow %s over %s: %w", wf.Name, wf.ObjectType, err)
	}
	if !out.Partial && out.Total > 1 && out.Errors == 0 && out.Matched+out.Suppressed == out.Total {
		// A trigger true of every record is more often a slip (> 0 for > 730) than the intent.
		out.Warnings = append(out.Warnings, fmt.Sprintf("trigger: it matches every one of the %d live %s: check that it says what "+
			"you mean (daysSince(last_activity_date) > 0, say, matches every record whose date is past or unset)", out.Total, wf.ObjectType))
	}
	if out.Limit, err = s.previewLimit(ctx, t, wf, out.Matched-out.Protected); err != nil {
		return previewJSON{}, err
	}
	return out, nil
}

// errPreviewDone stops a preview's scan at ?maxRecords.
var errPreviewDone = errors.New("preview: maxRecords reached")

// errPreviewTooExpensive is the 400 of a preview whose triggers took more than budget after
// looking at done records: it says how many fit, and how to narrow the preview.
func errPreviewTooExpensive(wf *workflows.Workflow, done int64, budget time.Duration) error {
	fit := max(done-done/10, 1) // a margin: the records ahead may cost more
	msg := fmt.Sprintf("previewing workflow %s needs more than its budget of %s of trigger evaluation: it had looked at %d %s "+
		"when the budget ran out. Preview fewer records with ?maxRecords=%d (the first ones by id), or make the trigger cheaper "+
		"(loops over large ranges or long lists cost the most)", wf.Name, budget, done, wf.ObjectType, fit)
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg,
		details: []errorDetail{{Message: msg, Code: "PREVIEW_TOO_EXPENSIVE", In: "trigger"}},
		context: map[string][]string{"maxRecords": {strconv.FormatInt(fit, 10)}}}
}

// queryMaxRecords reads ?maxRecords=, the number of records a preview looks at (0: all).
func queryMaxRecords(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("maxRecords")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, errInvalid("maxRecords", "INVALID_MAX_RECORDS", "maxRecords %q is invalid: use a whole number of 1 or more (how many records to preview, the first ones by id)", v)
	}
	return n, nil
}

// suppressedBy says why rec is suppressed from wf ("" when it is not): inList is whether one of
// the suppression lists holds it. An error is the suppression trigger's run-time error.
func suppressedBy(wf *workflows.Workflow, rec crm.Record, now time.Time, inList bool) (string, error) {
	if inList {
		return "it is a member of a suppression list", nil
	}
	if wf.Suppression == nil || wf.Suppression.Trigger == nil || wf.Suppression.Trigger.Program == nil {
		return "", nil
	}
	ok, err := wf.Suppression.Trigger.Program.Match(rec, now)
	if err != nil {
		return "", err
	}
	if ok {
		return "it matches the suppression trigger", nil
	}
	return "", nil
}

// flowHistory serves GET /automation/v4/flows/{name}/history?recordId=: every event of one record in
// the workflow (enrollments, action results, skips, suppressions, unenrollments), oldest first. A
// record of the workflow's type that is live or in the bin and has no history gets an empty list;
// one that does not exist, a 404. Without recordId it serves the workflow's history as a whole
// (flowLog).
func (s *Server) flowHistory(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	v := r.URL.Query().Get("recordId")
	if v == "" {
		return s.flowLog(w, r, p, name)
	}
	if !numericID.MatchString(v) {
		return errNotFound("record", v)
	}
	id := crm.RecordID(v)
	ctx := r.Context()
	f, err := s.store.Flow(ctx, p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	hs, err := s.store.History(ctx, p.Tenant, name, f.ObjectType, id)
	if err != nil {
		return fmt.Errorf("read history of %s in workflow %s: %w", id, name, err)
	}
	if len(hs) == 0 {
		if err := s.recordExists(ctx, p.Tenant, f.ObjectType, id); err != nil {
			return err
		}
	}
	out := resultsJSON[historyJSON]{Results: make([]historyJSON, len(hs))}
	for i, h := range hs {
		rev, _ := strconv.ParseInt(h.Revision, 10, 64)
		out.Results[i] = historyJSON{At: crm.FormatDatetime(h.At), Kind: h.Kind, Revision: rev, Step: h.Step,
			Action: h.Action, Outcome: h.Outcome, Detail: historyDetail(h.Kind, h.Detail), By: h.Actor(name)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// historyDetail is the detail of a history entry as the API answers it. A "completed" entry
// written before steps were counted from 1 in it said "stopped after step <index>: <outcome>",
// the index from 0: it is answered counting from 1, as the entries written since
// ("stopped after step <n> of <steps>: <outcome>").
func historyDetail(kind, detail string) string {
	if kind != "completed" {
		return detail
	}
	rest, ok := strings.CutPrefix(detail, "stopped after step ")
	if !ok {
		return detail
	}
	num, outcome, ok := strings.Cut(rest, ": ")
	step, err := strconv.Atoi(num)
	if !ok || err != nil || step < 0 {
		return detail // a new entry ("<n> of <steps>"), or text of another shape
	}
	return "stopped after step " + strconv.Itoa(step+1) + ": " + outcome
}

// flowLogJSON is one entry of a workflow's history as a whole: a record's entry and the record.
type flowLogJSON struct {
	ObjectType string `json:"objectType"`
	RecordID   string `json:"recordId"`
	historyJSON
}

// flowLog serves GET /automation/v4/flows/{name}/history without recordId: what the workflow did,
// every record's entries newest first, ?limit= (1 to crm.MaxFlowLogLimit, default
// crm.DefaultFlowLogLimit) at a time from ?after= (paging.next.after of the previous page), and
// with ?kind= (repeated, or comma-separated) only the entries of those kinds. It keeps about the
// last 10,000 entries of a workflow; a record's own history (?recordId=) keeps its last 500.
func (s *Server) flowLog(w http.ResponseWriter, r *http.Request, p crm.Principal, name string) error {
	qs := r.URL.Query()
	q := crm.FlowLogQuery{Before: qs.Get("after")}
	if v := qs.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > crm.MaxFlowLogLimit {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, crm.MaxFlowLogLimit)
		}
		q.Limit = n
	}
	for _, v := range qs["kind"] {
		for k := range strings.SplitSeq(v, ",") {
			if k = strings.TrimSpace(k); k == "" {
				continue
			}
			if kinds := crm.HistoryKinds(); !slices.Contains(kinds, k) {
				return errInvalid("kind", "INVALID_KIND", "kind %q is unknown: use one of %s", k, strings.Join(kinds, ", "))
			}
			q.Kinds = append(q.Kinds, k)
		}
	}
	if _, err := s.store.Flow(r.Context(), p.Tenant, name); err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	page, err := s.store.FlowLog(r.Context(), p.Tenant, name, q)
	if err != nil {
		return fmt.Errorf("read the history of workflow %s: %w", name, err)
	}
	out := pageJSON[flowLogJSON]{Results: make([]flowLogJSON, len(page.Entries)), Paging: paging(r, page.Next)}
	for i, e := range page.Entries {
		rev, _ := strconv.ParseInt(e.Revision, 10, 64)
		out.Results[i] = flowLogJSON{ObjectType: string(e.ObjectType), RecordID: string(e.ID), historyJSON: historyJSON{
			At: crm.FormatDatetime(e.At), Kind: e.Kind, Revision: rev, Step: e.Step, Action: e.Action, Outcome: e.Outcome,
			Detail: historyDetail(e.Kind, e.Detail), By: e.Actor(name)}}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// recordExists returns nil when a record of type o is live or in the bin, else a *crm.NotFoundError.
func (s *Server) recordExists(ctx context.Context, t crm.TenantID, o crm.ObjectType, id crm.RecordID) error {
	for _, archived := range []bool{false, true} {
		_, err := s.store.Record(ctx, t, o, id, &crm.ReadOpts{Archived: archived, Properties: []string{"-"}})
		if err == nil {
			return nil
		}
		if !errors.Is(err, crm.ErrNotFound) {
			return fmt.Errorf("read %s %s: %w", o, id, err)
		}
	}
	return errNotFound("record", string(id))
}

// enrollRecord serves POST /automation/v4/flows/{name}/enrollments {"recordId": "..."}: a person
// enrolls one live record in an active workflow, whether or not it matches the trigger (204). It
// is refused with a 409 naming the reason when the workflow is not active, when the record matches
// the suppression criteria, is enrolled already, or was enrolled before and the workflow does not
// allow re-enrollment (SPEC S19). A record deleted while enrolled and then restored re-enters only
// this way (SPEC S8).
func (s *Server) enrollRecord(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := pathFlowName(r)
	if err != nil {
		return err
	}
	var in enrollInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if in.RecordID == nil || *in.RecordID == "" {
		return errInvalid("recordId", "REQUIRED", "recordId is required: name the record to enroll")
	}
	if !numericID.MatchString(string(*in.RecordID)) {
		return errNotFound("record", string(*in.RecordID))
	}
	id := crm.RecordID(*in.RecordID)
	ctx := r.Context()
	f, err := s.store.Flow(ctx, p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read workflow %s: %w", name, err)
	}
	if f.State != crm.FlowActive {
		return &crm.ConflictError{Message: fmt.Sprintf("workflow %s is %s and enrolls nobody: activate it first (POST %s/%s/activate)",
			name, f.State, flowsPath, name)}
	}
	wf, err := s.parseRevision(ctx, p.Tenant, name, f.ActiveRevision)
	if err != nil {
		return err
	}
	// Enrolling a record runs the workflow's actions on it: the enrolling user must hold what they
	// need, as the activator must (SPEC S23).
	if err := requireFlowPerms(p, wf, false, "enrolling a record in"); err != nil {
		return err
	}
	rec, err := s.store.Record(ctx, p.Tenant, f.ObjectType, id, nil)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", f.ObjectType, id, err)
	}
	lists, _, err := s.suppressionLists(ctx, p.Tenant, wf)
	if err != nil {
		return err
	}
	inList := false
	for _, l := range lists {
		if inList, err = s.store.IsListMember(ctx, p.Tenant, l, id); err != nil {
			return err
		}
		if inList {
			break
		}
	}
	why, err := suppressedBy(wf, rec, s.clock.Now(), inList)
	if err != nil {
		why = "its suppression trigger fails on it (" + err.Error() + ")"
	}
	if why != "" {
		return &crm.ConflictError{Message: fmt.Sprintf("record %s cannot be enrolled in workflow %s: %s, and suppressed records never enroll",
			id, name, why)}
	}
	ref := crm.FlowRef{Name: name, Revision: f.ActiveRevision, ObjectType: f.ObjectType, Reenrollment: wf.Reenrollment}
	if err := s.store.EnrollManually(ctx, p.Tenant, ref, id, p.User.Email); err != nil {
		return fmt.Errorf("enroll %s in workflow %s: %w", id, name, err)
	}
	// The first step runs now; if it cannot be queued, the workflow sweep finds the enrollment due.
	if s.cfg.Tasks == nil {
		s.cfg.Logger.Warn("no task queue: the enrollment's first step waits for the workflow sweep", "tenant_id", string(p.Tenant), "workflow_id", name)
	} else if err := s.cfg.Tasks.EnqueueWorkflowSteps(context.WithoutCancel(ctx), p.Tenant, name, f.ActiveRevision, []crm.RecordID{id}); err != nil {
		s.cfg.Logger.Warn("first step not queued: the workflow sweep will run it", "tenant_id", string(p.Tenant), "workflow_id", name, "error", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// requireFlowPerms returns the 403 naming the first permission p lacks among those workflow wf
// needs (wf.Permissions(many)), or nil. doing says what the user was doing, as "activating".
func requireFlowPerms(p crm.Principal, wf *workflows.Workflow, many bool, doing string) error {
	missing := p.User.Permissions.Missing(wf.Permissions(many))
	if len(missing) == 0 {
		return nil
	}
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = strconv.Quote(string(m))
	}
	what := "the " + quoted[0] + " permission"
	if n := len(quoted); n > 1 {
		what = "the " + strings.Join(quoted[:n-1], ", ") + " and " + quoted[n-1] + " permissions"
	}
	if slices.Contains(missing, crm.PermBulkDelete) {
		what += " (bulk_delete since it deletes, and enrolling the existing records can delete many at once)"
	}
	return errWorkflowScope(p, missing, fmt.Sprintf("%s workflow %s needs %s for its actions, which your user does not have, "+
		"since a workflow acts with the authority of the user who activates it", doing, wf.Name, what))
}
