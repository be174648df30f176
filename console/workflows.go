package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/crm"
)

// flowsPath is the API's workflow collection.
const flowsPath = "/automation/v4/flows"

// flowJSON is a workflow as the API shows it.
type flowJSON struct {
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	State          string `json:"state"` // DRAFT, ACTIVE or PAUSED
	Revision       int64  `json:"revision"`
	ActiveRevision int64  `json:"activeRevision"`
	PausedReason   string `json:"pausedReason"`
	// PausedReasonCode names the reason a workflow paused itself, with the values it names in
	// PausedReasonParams; "" for a user's pause and one paused before codes were kept.
	PausedReasonCode   string            `json:"pausedReasonCode"`
	PausedReasonParams map[string]string `json:"pausedReasonParams"`
	UpdatedAt          string            `json:"updatedAt"`
	ActivatedAt        *string           `json:"activatedAt"`
	ActivatedBy        string            `json:"activatedBy"`
}

// pauseCodes are the reasons a workflow pauses itself (crm.PauseCode) the catalog words in each
// language ("pause." and the code), with the params each message takes, in order.
var pauseCodes = map[crm.PauseCode][]string{
	crm.PauseDeletionLimit:            {"maxDeletions", "per"},
	crm.PauseActivatorUnknown:         nil,
	crm.PauseActivatorRemoved:         {"activator"},
	crm.PauseActivatorDisabled:        {"activator"},
	crm.PauseActivatorLacksPermission: {"activator", "permissions"},
	crm.PauseRevisionInvalid:          {"revision", "problem"},
	crm.PauseContactErased:            nil,
	crm.PauseUndo:                     {"undoJob", "by"},
	crm.PausePlanDowngraded:           {"plan"},
}

// PauseReason says in the page's language why a workflow paused itself, from the reason's code
// and params. A workflow paused before codes were kept (no code), one whose code the catalog does
// not know, or one lacking a param the sentence names, shows text: the API's English sentence.
func (tr translator) PauseReason(code string, params map[string]string, text string) string {
	names, ok := pauseCodes[crm.PauseCode(code)]
	if !ok {
		return text
	}
	args := make([]any, len(names))
	for i, n := range names {
		v, ok := params[n]
		if !ok || v == "" {
			return text
		}
		args[i] = v
	}
	key := "pause." + code
	switch crm.PauseCode(code) {
	case crm.PauseDeletionLimit:
		n, err := strconv.Atoi(params["maxDeletions"])
		if err != nil {
			return text
		}
		args = []any{tr.T("settings.limit.value", n, params["per"])}
	case crm.PauseActivatorLacksPermission:
		perms := strings.Split(params["permissions"], ",")
		if len(perms) == 1 {
			key += ".one"
		}
		args[1] = strings.Join(perms, tr.T("pause.and"))
	}
	return tr.T(key, args...)
}

// flowDetailJSON is GET /automation/v4/flows/{name}.
type flowDetailJSON struct {
	flowJSON
	Source    string `json:"source"`
	Revisions []struct {
		Revision  int64  `json:"revision"`
		CreatedAt string `json:"createdAt"`
		By        string `json:"by"`
		Erased    bool   `json:"erased"` // a permanent delete erased an address it named
	} `json:"revisions"`
	BackfillProgress *struct {
		Revision int64  `json:"revision"`
		Status   string `json:"status"`
		Total    int64  `json:"total"`
		Done     int64  `json:"done"`
		Enrolled int64  `json:"enrolled"`
	} `json:"backfillProgress"`
}

// previewJSON is the API's preview of a workflow.
type previewJSON struct {
	Name            string           `json:"name"`
	ObjectType      string           `json:"objectType"`
	Total           int64            `json:"total"`
	Matched         int64            `json:"matched"`
	Suppressed      int64            `json:"suppressed"`
	Errors          int64            `json:"errors"`
	Sample          []recordJSON     `json:"sample"`
	Warnings        []string         `json:"warnings"`
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule"`
	Limit           *struct {
		MaxDeletions *int   `json:"maxDeletions"`
		Per          string `json:"per"`
		Unlimited    bool   `json:"unlimited"`
		Source       string `json:"source"`
		// DeletedInWindow counts the workflow's deletions already in the window: the limit counts them.
		DeletedInWindow int64 `json:"deletedInWindow"`
		WouldDelete     int64 `json:"wouldDelete"`
		WouldPause      bool  `json:"wouldPause"`
	} `json:"limit"`
}

// problem is one validation problem of a workflow file, at its line and column (0 when unknown),
// with the line it is on and a caret under the column, when known.
type problem struct {
	Line, Column int
	Message      string
	Snippet      string
}

// previewView is a preview as the page shows it: names, not ids.
type previewView struct {
	previewJSON
	Rows  []sampleRow
	Rules []ruleCount
}

// sampleRow is one record of a preview's sample.
type sampleRow struct{ ID, Name, Email string }

// ruleCount is how many matching records one protection rule protects.
type ruleCount struct {
	Rule  string
	Count int64
}

// workflowsPage is the data of the workflow list.
type workflowsPage struct {
	view
	Flows   []flowJSON
	CanEdit bool
}

// workflowPage is the data of one workflow's page, and of the page of a new one.
type workflowPage struct {
	view
	New     bool
	Flow    flowDetailJSON
	Source  string
	CanEdit bool
	// Problems are the validation problems of the source last checked or saved.
	Problems []problem
	// Refusal is the API's message when it refused an activation, a pause or a save.
	Refusal string
	// Enroll keeps "also enroll the records that match now" checked on the page that refuses an
	// activation asked with it.
	Enroll  bool
	Preview *previewView
	// Recovered says that Source is the user's draft, sent after their session ended and not saved
	// yet (see draft.go).
	Recovered bool
}

// Backfill describes the workflow's enrollment of the records that matched already, or "".
func (p workflowPage) Backfill() string {
	bf := p.Flow.BackfillProgress
	if bf == nil {
		return ""
	}
	return p.T("workflow.backfill."+strings.ToLower(bf.Status), bf.Done, bf.Total, bf.Enrolled)
}

// LimitText says how far a preview's blast-radius limit lets the workflow go in its first window,
// and how many of the workflow's deletions already count in it.
func (p workflowPage) LimitText() string {
	if p.Preview == nil || p.Preview.Limit == nil {
		return ""
	}
	l := p.Preview.Limit
	if l.Unlimited || l.MaxDeletions == nil {
		return p.T("preview.limit.none")
	}
	key := "preview.limit.fits"
	if l.WouldPause {
		key = "preview.limit.pause"
	}
	text := p.T(key, *l.MaxDeletions, l.Per, p.T("preview.limit.source."+l.Source), l.WouldDelete)
	if l.DeletedInWindow > 0 {
		text += " " + p.T("preview.limit.used", l.DeletedInWindow, l.Per)
	}
	return text
}

// StateLabel names a workflow's state in the page's language.
func (v view) StateLabel(state string) string { return v.T("workflow.state." + strings.ToLower(state)) }

// workflows serves GET /console/workflows: every workflow, its state and why it paused.
func (c *Console) workflows(q *request) error {
	var res struct {
		Results []flowJSON `json:"results"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, flowsPath, nil, &res); err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "workflows", workflowsPage{view: q.view("workflows.title"), Flows: res.Results,
		CanEdit: q.can(crm.PermWorkflows)})
	return nil
}

// workflow serves GET /console/workflows/{name}: the workflow's state, its YAML, its revisions and
// its enrollment of the existing records; with ?preview=1, what it would enroll now.
func (c *Console) workflow(q *request) error {
	p, err := c.workflowPage(q)
	if err != nil {
		return err
	}
	if q.r.URL.Query().Get("preview") != "" {
		var pv previewJSON
		if _, err := c.call(q.r, q.sess, http.MethodGet, flowsPath+"/"+url.PathEscape(p.Flow.Name)+"/preview?limit=10", nil, &pv); err != nil {
			if !p.refused(err) {
				return err
			}
		} else {
			p.Preview = newPreview(pv)
		}
	}
	c.render(q.w, q.r, http.StatusOK, "workflow", p)
	return nil
}

// newWorkflow serves GET /console/workflows/-/new (a workflow may be named "new"): an empty workflow file to write.
func (c *Console) newWorkflow(q *request) error {
	p := workflowPage{view: q.view("workflow.new.title"), New: true, CanEdit: q.can(crm.PermWorkflows), Source: newWorkflowTemplate}
	c.render(q.w, q.r, http.StatusOK, "workflow", p)
	return nil
}

// newWorkflowTemplate is the file a new workflow starts from.
const newWorkflowTemplate = `name: my-workflow
object_type: contacts
trigger: lifecyclestage == "lead"
actions:
  - type: delete_contact
`

func (c *Console) workflowPage(q *request) (workflowPage, error) {
	name := q.r.PathValue("name")
	p := workflowPage{view: q.view("workflow.title"), CanEdit: q.can(crm.PermWorkflows)}
	if _, err := c.call(q.r, q.sess, http.MethodGet, flowsPath+"/"+url.PathEscape(name), nil, &p.Flow); err != nil {
		return p, err
	}
	p.Title = p.Flow.Name
	p.Source = p.Flow.Source
	return p, nil
}

// refused notes on the page an API refusal (a 4xx) of err, with its problems at their line and
// column, and reports whether err was one.
func (p *workflowPage) refused(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status >= 500 {
		return false
	}
	for _, d := range apiErr.Errors {
		if d.Code != "INVALID_WORKFLOW" {
			continue
		}
		pr := problem{Message: d.Message}
		if v := d.Context["line"]; len(v) == 1 {
			pr.Line, _ = strconv.Atoi(v[0])
		}
		if v := d.Context["column"]; len(v) == 1 {
			pr.Column, _ = strconv.Atoi(v[0])
		}
		if v := d.Context["snippet"]; len(v) == 1 {
			pr.Snippet = v[0]
		}
		if pr.Line > 0 {
			// The page names the line and column in the user's language: the API's own
			// "flow.yaml:L:C: " before the message would say it twice.
			pr.Message = strings.TrimPrefix(pr.Message, fmt.Sprintf("flow.yaml:%d:%d: ", pr.Line, pr.Column))
		}
		p.Problems = append(p.Problems, pr)
	}
	if len(p.Problems) == 0 {
		p.Refusal = p.apiError(apiErr)
	}
	return true
}

// refusalStatus is the status of the workflow page that shows the API's refusal err of its file:
// 400 (the file is refused), but 429 when the tenant had too many requests in flight, which says
// nothing about the file and is worth trying again.
func refusalStatus(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// saveWorkflow serves POST /console/workflows/save: the YAML of the form (source), checked with a
// preview (do=preview) or stored as the workflow's new revision (do=save). Problems are shown at
// their line and column, with the text as the user wrote it.
func (c *Console) saveWorkflow(q *request) error {
	src := strings.ReplaceAll(q.r.PostFormValue("source"), "\r\n", "\n")
	p := workflowPage{view: q.view("workflow.new.title"), New: true, CanEdit: q.can(crm.PermWorkflows), Source: src}
	name := q.r.PostFormValue("name")
	if name != "" {
		// The page of an existing workflow: show it as it is stored, with the text being edited.
		stored, err := c.workflowPage(q.withName(name))
		if err != nil {
			return err
		}
		stored.Source = src
		p = stored
	}
	if strings.TrimSpace(src) == "" {
		p.Problems = []problem{{Message: q.tr.T("workflow.empty")}}
		c.render(q.w, q.r, http.StatusBadRequest, "workflow", p)
		return nil
	}
	if q.r.PostFormValue("do") == "save" {
		var head struct {
			Name string `yaml:"name"`
		}
		if err := yaml.Unmarshal([]byte(src), &head); err != nil || head.Name == "" {
			// The API says what is wrong with the file, at its line and column.
			head.Name = "unnamed"
		}
		if name != "" && head.Name != name {
			p.Problems = []problem{{Message: q.tr.T("workflow.renamed", head.Name, name)}}
			c.render(q.w, q.r, http.StatusBadRequest, "workflow", p)
			return nil
		}
		if name == "" {
			// A new workflow never replaces one of the same name: that one's page changes it.
			var existing flowJSON
			_, err := c.call(q.r, q.sess, http.MethodGet, flowsPath+"/"+url.PathEscape(head.Name), nil, &existing)
			var apiErr *APIError
			switch {
			case err == nil:
				p.Problems = []problem{{Message: q.tr.T("workflow.exists", head.Name)}}
				c.render(q.w, q.r, http.StatusConflict, "workflow", p)
				return nil
			case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
				// The tenant has too many requests in flight: whether the name is taken is not
				// known, so nothing is stored; the page keeps the text and says to try again.
				p.refused(err)
				c.render(q.w, q.r, apiErr.Status, "workflow", p)
				return nil
			case errors.As(err, &apiErr) && apiErr.Status < 500:
				// Not found (or a name the API refuses, which the PUT names at its line and column).
			default:
				return err
			}
		}
		var f flowJSON
		if _, err := c.callYAML(q.r, q.sess, http.MethodPut, flowsPath+"/"+url.PathEscape(head.Name), src, &f); err != nil {
			if !p.refused(err) {
				return err
			}
			c.render(q.w, q.r, refusalStatus(err), "workflow", p)
			return nil
		}
		redirect(q, "/console/workflows/"+url.PathEscape(f.Name), "workflow.saved", int(f.Revision))
		return nil
	}
	var pv previewJSON
	if _, err := c.callYAML(q.r, q.sess, http.MethodPost, flowsPath+"/preview?limit=10", src, &pv); err != nil {
		if !p.refused(err) {
			return err
		}
		c.render(q.w, q.r, refusalStatus(err), "workflow", p)
		return nil
	}
	p.Preview = newPreview(pv)
	c.render(q.w, q.r, http.StatusOK, "workflow", p)
	return nil
}

// withName returns q with the path value {name} set, for a form that names its workflow.
func (q *request) withName(name string) *request {
	r := q.r.Clone(q.r.Context())
	r.SetPathValue("name", name)
	out := *q
	out.r = r
	return &out
}

// activateWorkflow serves POST /console/workflows/{name}/activate (enroll=1 also enrolls the
// records that match already), and pauseWorkflow POST /console/workflows/{name}/pause. A refusal
// (the plan, the user's rights, a workflow that no longer validates) is shown on its page, with
// the form as it was sent; sent again, it is judged again.
func (c *Console) activateWorkflow(q *request) error {
	enroll := q.r.PostFormValue("enroll") == "1"
	var out activation
	return c.workflowAction(q, "activate", map[string]any{"enrollExisting": enroll}, &out, out.flash)
}

// activation is what the console reads of an activation's answer: whether the records that match
// already, and those that waited while the workflow was paused, were handed to a worker.
type activation struct {
	Backfill struct {
		Requested bool `json:"requested"`
		Queued    bool `json:"queued"`
	} `json:"backfill"`
	Resume *struct {
		Queued bool `json:"queued"`
	} `json:"resume"`
}

// flash is the message key that says what the activation did.
func (a *activation) flash() string {
	switch {
	case a.Backfill.Requested && !a.Backfill.Queued:
		return "workflow.nobackfill"
	case a.Resume != nil && a.Resume.Queued:
		return "workflow.resumed"
	case a.Resume != nil:
		return "workflow.resumed.later"
	}
	return "workflow.activated"
}

func (c *Console) pauseWorkflow(q *request) error {
	return c.workflowAction(q, "pause", nil, nil, func() string { return "workflow.paused" })
}

// workflowAction posts action to the workflow named in q's path, reading the answer into out (nil:
// not read), and goes to its page with the message flash names once the answer is read.
func (c *Console) workflowAction(q *request, action string, body, out any, flash func() string) error {
	name := q.r.PathValue("name")
	_, err := c.call(q.r, q.sess, http.MethodPost, flowsPath+"/"+url.PathEscape(name)+"/"+action, body, out)
	if err == nil {
		redirect(q, "/console/workflows/"+url.PathEscape(name), flash(), 0)
		return nil
	}
	p, perr := c.workflowPage(q)
	if perr != nil {
		return perr
	}
	if !p.refused(err) {
		return err
	}
	p.Enroll = q.r.PostFormValue("enroll") == "1"
	var apiErr *APIError
	errors.As(err, &apiErr)
	c.render(q.w, q.r, apiErr.Status, "workflow", p)
	return nil
}

// newPreview names the sample's records and orders the protection rules by name.
func newPreview(pv previewJSON) *previewView {
	v := &previewView{previewJSON: pv}
	for _, r := range pv.Sample {
		v.Rows = append(v.Rows, sampleRow{ID: r.ID, Name: displayName(r.Properties), Email: r.Properties["email"]})
	}
	for rule, n := range pv.ProtectedByRule {
		v.Rules = append(v.Rules, ruleCount{Rule: rule, Count: n})
	}
	slices.SortFunc(v.Rules, func(a, b ruleCount) int { return strings.Compare(a.Rule, b.Rule) })
	return v
}

// flowLogPage is the data of a workflow's history page.
type flowLogPage struct {
	view
	Name    string
	Kind    string
	Kinds   []string
	Entries []flowLogRow
	Next    string
}

// historyEventJSON is one event of a workflow's history as the API shows it; ObjectType and
// RecordID are set in the history of the workflow as a whole.
type historyEventJSON struct {
	ObjectType string `json:"objectType"`
	RecordID   string `json:"recordId"`
	At         string `json:"at"`
	Kind       string `json:"kind"`
	Step       *int   `json:"step"`
	Action     string `json:"action"`
	Outcome    string `json:"outcome"`
	Detail     string `json:"detail"`
	By         string `json:"by"`
}

// row is the event as a history table shows it. The API's step is the action's index in the
// workflow's actions, from 0 (as "actions[0]" names it in a problem); the page counts steps from
// 1, as people do: the first action is "step 1".
func (e historyEventJSON) row() flowLogRow {
	row := flowLogRow{At: shortTime(e.At), ObjectType: e.ObjectType, RecordID: e.RecordID, Kind: e.Kind, Action: e.Action,
		Outcome: e.Outcome, Detail: e.Detail, By: e.By}
	if e.Step != nil {
		row.Step = strconv.Itoa(*e.Step + 1)
	}
	return row
}

// flowLogRow is one event of a workflow's history.
type flowLogRow struct {
	At, ObjectType, RecordID, Kind, Step, Action, Outcome, Detail, By string
}

// workflowHistory serves GET /console/workflows/{name}/history?kind=&after=: what the workflow did,
// newest first, 50 events a page, each with a link to its record.
func (c *Console) workflowHistory(q *request) error {
	name := q.r.PathValue("name")
	qs := q.r.URL.Query()
	p := flowLogPage{view: q.view("history.title"), Name: name, Kind: qs.Get("kind"), Kinds: crm.HistoryKinds()}
	p.Title = q.tr.T("history.title") + " · " + name
	api := url.Values{"limit": {"50"}}
	if p.Kind != "" {
		api.Set("kind", p.Kind)
	}
	if after := qs.Get("after"); after != "" {
		api.Set("after", after)
	}
	var res apiPage[historyEventJSON]
	if _, err := c.call(q.r, q.sess, http.MethodGet, flowsPath+"/"+url.PathEscape(name)+"/history?"+api.Encode(), nil, &res); err != nil {
		return err
	}
	for _, e := range res.Results {
		p.Entries = append(p.Entries, e.row())
	}
	if after := res.after(); after != "" {
		next := url.Values{"after": {after}}
		if p.Kind != "" {
			next.Set("kind", p.Kind)
		}
		p.Next = "/console/workflows/" + url.PathEscape(name) + "/history?" + next.Encode()
	}
	c.render(q.w, q.r, http.StatusOK, "history", p)
	return nil
}
