package console

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// binRow is one record of the recycle bin.
type binRow struct {
	ID, Name, By, When, How, Until, Operation string
	Expired                                   bool
	// Checked keeps the record checked on the page that refuses its restore.
	Checked bool
}

// operationJSON is a destructive operation as the API shows it (GET /crm/v3/operations/{id}).
type operationJSON struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	ObjectType string `json:"objectType"`
	Actor      string `json:"actor"`
	FirstAt    string `json:"firstAt"`
	Moved      int64  `json:"moved"`
	InBin      int64  `json:"inBin"`
	UndoJob    string `json:"undoJob"`
	// UndoStops is what an undo asked now would stop besides restoring, and UndoNeeds the
	// permissions that undo needs.
	UndoStops struct {
		Job      string `json:"job"`
		Workflow string `json:"workflow"`
	} `json:"undoStops"`
	UndoNeeds []string `json:"undoNeeds"`
}

// binPage is the data of a recycle bin page.
type binPage struct {
	view
	Type    string
	Rows    []binRow
	Next    string
	By, Via string
	// From and To are the dates (YYYY-MM-DD, UTC) the deletions shown were made from and to, both
	// included.
	From, To string
	Vias     []string
	// Filtered is set when a filter narrows the page, and FilterError says why a filter was refused.
	Filtered    bool
	FilterError string
	CanRestore  bool
	// Failures are the records a restore could not bring back, and why; MoreFailures counts those
	// not listed (see restoreNote).
	Failures     []restoreFailure
	MoreFailures int
	// Op is the operation the page is filtered by, and Operation what the API says of it.
	Op        string
	Operation *operationJSON
	// CanUndo is set when the user holds every permission an undo of Operation needs now; UndoNote
	// then says what the undo stops besides restoring (or ""). UndoRefused, otherwise, says what
	// the undo would stop, which permissions the user lacks, and what to do instead ("" when the
	// undo stops nothing and the user lacks restore: no undo is offered, as for any restore).
	CanUndo     bool
	UndoNote    string
	UndoRefused string
	// RestoreAction is where the page's form posts a restore: it carries the page's filters and
	// cursor, so that the restore comes back to this view (binView).
	RestoreAction string
	// status is the page's status: 200, or the API's when it refused the operation filtered by.
	status int
}

// binViewParams are the query parameters of a bin page's view: its filters and its cursor.
var binViewParams = []string{"by", "via", "op", "from", "to", "after"}

// binView is the query of the bin page's view that qs names (its filters and cursor,
// binViewParams; nothing else of qs), with its "?", or "" for the whole bin's first page.
func binView(qs url.Values) string {
	view := url.Values{}
	for _, k := range binViewParams {
		if v := strings.TrimSpace(qs.Get(k)); v != "" {
			view.Set(k, v)
		}
	}
	if len(view) == 0 {
		return ""
	}
	return "?" + view.Encode()
}

// restoreFailure is one record a restore could not bring back, and the record that blocks it.
type restoreFailure struct {
	Message    string `json:"message"`
	BlockingID string `json:"blockingId,omitempty"`
}

// restoreCookie carries a restore's failures (a restoreNote) from a restore that brought back some
// of the records checked to the bin page the browser is sent to after it, which shows them beside
// the flash of those restored. It is sealed with a key of the session's secret: only that
// session's pages open it, nothing but the console can have written it, and the browser keeps no
// readable copy of what a reason names (an email). The bin page reads it once, and clears it.
const restoreCookie = "crmflow_restore"

// maxRestoreNote bounds the JSON of a restoreNote, so that restoreCookie, sealed and encoded, stays
// within the 4096 bytes a browser keeps of a cookie, its name and attributes included.
const maxRestoreNote = 2600

// restoreNote is what restoreCookie carries: the failures of a restore from the bin of Type, as
// many as fit in maxRestoreNote, and the number of records not restored that did not fit.
type restoreNote struct {
	Type     string           `json:"type"`
	Failures []restoreFailure `json:"failures"`
	More     int              `json:"more,omitempty"`
}

// restoreNoteKey is the key that seals a restoreNote for the session of secret.
func restoreNoteKey(secret string) []byte {
	sum := sha256.Sum256([]byte("crmflow console restore note key\x00" + secret))
	return sum[:]
}

// keepRestoreNote sets restoreCookie to the failures of a restore from the bin of t, for the bin
// page after the redirect. records[i] is how many records failures[i] is about.
func (c *Console) keepRestoreNote(q *request, t string, failures []restoreFailure, records []int) {
	n := restoreNote{Type: t}
	for i, f := range failures {
		next := n
		next.Failures = append(slices.Clone(n.Failures), f)
		if raw, _ := json.Marshal(next); n.More == 0 && len(raw) <= maxRestoreNote {
			n = next
			continue
		}
		n.More += records[i]
	}
	raw, err := json.Marshal(n)
	if err != nil {
		panic(err) // strings and ints always encode
	}
	sealed := sealWith(restoreNoteKey(q.sess.secret), raw)
	c.setCookie(q.w, q.r, restoreCookie, base64.RawURLEncoding.EncodeToString(sealed), flashMaxAge, http.SameSiteStrictMode)
}

// takeRestoreNote returns the restoreNote left for the bin page of t, and clears it, on the GET
// that shows the page (like takeFlash); a note of another bin, or one this session did not seal,
// is dropped.
func (c *Console) takeRestoreNote(q *request, t string) restoreNote {
	if q.r.Method != http.MethodGet || q.r.Header.Get(fetchHeader) != "" {
		return restoreNote{}
	}
	ck, err := c.cookie(q.r, restoreCookie)
	if err != nil {
		return restoreNote{}
	}
	c.clearCookie(q.w, q.r, restoreCookie)
	sealed, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return restoreNote{}
	}
	raw, err := unsealWith(restoreNoteKey(q.sess.secret), sealed)
	if err != nil {
		return restoreNote{}
	}
	var n restoreNote
	if json.Unmarshal(raw, &n) != nil || n.Type != t {
		return restoreNote{}
	}
	return n
}

// binVias are the ways a record enters the bin (the API's archivedVia), for the filter.
var binVias = []string{"api", "bulk", "list", "workflow"}

// bin serves GET /console/bin/{type}?by=&via=&from=&to=&op=&after=: who deleted each record, when,
// how, by which operation, and until when it can be restored. The filters are the API's, so they
// narrow the whole bin, not the page shown.
func (c *Console) bin(q *request) error {
	p, err := c.binPage(q)
	if err != nil {
		return err
	}
	c.render(q.w, q.r, cmp.Or(p.status, http.StatusOK), "bin", p)
	return nil
}

// undoOffer says whether the user of q may undo op now (by the permissions the API says the undo
// needs: restore, and what canceling its running job or pausing its active workflow takes), and
// the sentence the page shows with the Undo button (what it stops) or in its place (what it would
// stop, the permissions the user lacks, and what to do instead).
func undoOffer(q *request, op operationJSON) (can bool, note, refused string) {
	needs := make([]crm.Permission, 0, len(op.UndoNeeds)+1)
	needs = append(needs, crm.PermRestore) // an older API says nothing: restore, as ever
	for _, n := range op.UndoNeeds {
		needs = append(needs, crm.Permission(n))
	}
	missing := q.p.User.Permissions.Missing(needs)
	stops := op.UndoStops
	if len(missing) == 0 {
		switch {
		case stops.Workflow != "":
			note = q.tr.T("bin.operation.undo.pauses", stops.Workflow)
		case stops.Job != "":
			note = q.tr.T("bin.operation.undo.cancels", stops.Job)
		}
		return true, note, ""
	}
	if stops.Job == "" && stops.Workflow == "" {
		return false, "", ""
	}
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = strconv.Quote(string(m))
	}
	key, what := "bin.operation.undo.nojob", stops.Job
	if stops.Workflow != "" {
		key, what = "bin.operation.undo.noworkflow", stops.Workflow
	}
	if len(missing) == 1 {
		key += ".one"
	}
	return false, "", q.tr.T(key, what, strings.Join(quoted, q.tr.T("pause.and")))
}

func (c *Console) binPage(q *request) (binPage, error) {
	t := objectType(q)
	qs := q.r.URL.Query()
	p := binPage{view: q.view("bin.title"), Type: t, By: strings.TrimSpace(qs.Get("by")), Via: qs.Get("via"), Vias: binVias,
		CanRestore: q.can(crm.PermRestore), Op: strings.TrimSpace(qs.Get("op")),
		From: strings.TrimSpace(qs.Get("from")), To: strings.TrimSpace(qs.Get("to"))}
	p.RestoreAction = "/console/bin/" + url.PathEscape(t) + "/restore" + binView(qs)
	p.Filtered = p.By != "" || p.Via != "" || p.From != "" || p.To != "" || p.Op != ""
	p.Title = p.TypeLabel(t) + " · " + p.Title
	note := c.takeRestoreNote(q, t)
	p.Failures, p.MoreFailures = note.Failures, note.More
	if p.Op != "" {
		var op operationJSON
		_, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/operations/"+url.PathEscape(p.Op), nil, &op)
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
			// An operation id mistyped in the filter: the bin says so, with the filters kept.
			p.FilterError, p.status = q.tr.T("bin.nooperation", p.Op), apiErr.Status
			return p, nil
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
			p.FilterError, p.status = q.tr.apiError(apiErr), apiErr.Status
			return p, nil
		case err != nil:
			return p, err
		}
		p.Operation = &op
		p.CanUndo, p.UndoNote, p.UndoRefused = undoOffer(q, op)
	}
	if p.From != "" {
		// From is a day, like To; the API would take a time too, and name its own parameter.
		if _, err := time.Parse(time.DateOnly, p.From); err != nil {
			p.FilterError = q.tr.T("bin.baddate", p.From)
			return p, nil
		}
	}
	api := url.Values{"archived": {"true"}, "limit": {"100"}}
	for param, v := range map[string]string{"archivedOperation": p.Op, "archivedBy": p.By, "archivedVia": p.Via,
		"archivedAfter": p.From, "after": qs.Get("after")} {
		if v != "" {
			api.Set(param, v)
		}
	}
	if p.To != "" {
		// To is a day included: the API's archivedBefore is the next midnight.
		to, err := time.Parse(time.DateOnly, p.To)
		if err != nil {
			p.FilterError = q.tr.T("bin.baddate", p.To)
			return p, nil
		}
		api.Set("archivedBefore", to.AddDate(0, 0, 1).Format(time.DateOnly))
	}
	var page recordPage
	_, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/objects/"+url.PathEscape(t)+"?"+api.Encode(), nil, &page)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
		p.FilterError = q.tr.apiError(apiErr)
		return p, nil
	case err != nil:
		return p, err
	}
	now := c.cfg.Clock.Now()
	for _, r := range page.Results {
		by := r.ArchivedActor
		if by == "" {
			by = r.ArchivedBy
		}
		how := q.tr.T("via." + r.ArchivedVia)
		if r.ArchivedRef != "" {
			how += " " + r.ArchivedRef
		}
		row := binRow{ID: r.ID, Name: displayName(r.Properties), By: by, When: shortTime(r.ArchivedAt), How: how, Operation: r.ArchivedOperation}
		if at, err := time.Parse(time.RFC3339Nano, r.ArchivedAt); err == nil {
			until := at.Add(c.cfg.Retention)
			row.Until, row.Expired = until.UTC().Format("2006-01-02 15:04"), !now.Before(until)
		}
		p.Rows = append(p.Rows, row)
	}
	if after := page.after(); after != "" {
		next := url.Values{"by": {p.By}, "via": {p.Via}, "op": {p.Op}, "from": {p.From}, "to": {p.To}, "after": {after}}
		p.Next = "/console/bin/" + url.PathEscape(t) + binView(next)
	}
	return p, nil
}

// restore serves POST /console/bin/{type}/restore: it restores the records checked, and sends the
// browser to the bin, in the view (filters, page) the restore was asked from, which says how many came back, so that reloading that page sends nothing
// again. When some cannot come back (an email now taken, past the retention period), the bin says
// why, with a link to the record that blocks each: after the redirect when others came back; on
// the answer itself (409), with those records still checked, when none did, as nothing changed.
func (c *Console) restore(q *request) error {
	t := objectType(q)
	var inputs []map[string]string
	for _, id := range q.r.PostForm["id"] {
		inputs = append(inputs, map[string]string{"id": id})
	}
	// The bin comes back in the view the restore was asked from (the form's action carries it).
	back := "/console/bin/" + url.PathEscape(t) + binView(q.r.URL.Query())
	if len(inputs) == 0 {
		redirect(q, back, "noneselected", 0)
		return nil
	}
	var res struct {
		Results []recordJSON `json:"results"`
		Errors  []struct {
			Category string              `json:"category"`
			Message  string              `json:"message"`
			Context  map[string][]string `json:"context"`
		} `json:"errors"`
	}
	status, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/objects/"+url.PathEscape(t)+"/batch/restore",
		map[string]any{"inputs": inputs}, &res)
	if err != nil {
		return err
	}
	if status != http.StatusMultiStatus {
		redirect(q, back, "restored", len(res.Results))
		return nil
	}
	var failures []restoreFailure
	var records []int
	for _, e := range res.Errors {
		f := restoreFailure{Message: q.tr.APIMessage(e.Category, "", e.Message, e.Context)}
		if b := e.Context["blockingId"]; len(b) > 0 {
			f.BlockingID = b[0]
		}
		failures = append(failures, f)
		records = append(records, max(len(e.Context["id"]), 1))
	}
	if len(res.Results) > 0 {
		c.keepRestoreNote(q, t, failures, records)
		redirect(q, back, "restored", len(res.Results))
		return nil
	}
	p, err := c.binPage(q)
	if err != nil {
		return err
	}
	p.Failures = failures
	for i := range p.Rows {
		p.Rows[i].Checked = slices.Contains(q.r.PostForm["id"], p.Rows[i].ID)
	}
	c.render(q.w, q.r, http.StatusConflict, "bin", p)
	return nil
}

// jobJSON is a bulk job as the API returns it.
type jobJSON struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	ObjectType   string `json:"objectType"`
	ConfirmCount int64  `json:"confirmCount"`
	Matched      int64  `json:"matched"`
	Total        int64  `json:"total"`
	Done         int64  `json:"done"`
	Skipped      int64  `json:"skipped"`
	Gone         int64  `json:"gone"`
	Protected    int64  `json:"protected"`
	Selection    string `json:"selection"`
	RequestedBy  string `json:"requestedBy"`
	CreatedAt    string `json:"createdAt"`
	CompletedAt  string `json:"completedAt"`
	Refusal      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"refusal"`
	// Stop says why a STOPPED job stopped: its creator was disabled or lost a permission.
	Stop *struct {
		Code       string `json:"code"`
		User       string `json:"user"`
		Permission string `json:"permission"`
		Message    string `json:"message"`
	} `json:"stop"`
	// Kind is "bulk_delete" or "undo"; an undo job restores Operation's records, and Failures are
	// those it could not restore.
	Kind      string `json:"kind"`
	Operation string `json:"operation"`
	Failures  []struct {
		ID         string `json:"id"`
		Code       string `json:"code"`
		Property   string `json:"property"`
		BlockingID string `json:"blockingId"`
		Reason     string `json:"reason"`
	} `json:"failures"`
}

// Reason is what the page says of a job that ended without completing: why it was refused, or
// why it stopped; "" otherwise.
func (j jobJSON) Reason() string {
	switch {
	case j.Refusal != nil:
		return j.Refusal.Message
	case j.Stop != nil:
		return j.Stop.Message
	}
	return ""
}

// localize words what the API said of j in the page's language: why it was refused or stopped,
// and why each record of an undo was not restored. English keeps the API's words. Another
// language has the catalog's sentence for each code; a refusal keeps the API's words after it,
// since they hold what only the API knows (the protected counts, the list).
func (tr translator) localize(j *jobJSON) {
	if tr.lang == languages[0] {
		return
	}
	if s := j.Stop; s != nil {
		var what string
		switch s.Code {
		case crm.StoppedUserMissing, crm.StoppedUserDisabled:
			what = tr.T("job.stop."+s.Code, s.User)
		case crm.StoppedPermission:
			what = tr.T("job.stop."+s.Code, s.User, s.Permission)
		}
		switch {
		case what == "":
			s.Message = tr.T("api.said", s.Message)
		case j.Kind == "undo":
			s.Message = tr.T("job.stopped.undo", what, j.Done, j.Total, j.Operation)
		case j.Done == 0:
			s.Message = tr.T("job.stopped.none", what, j.Total)
		default:
			s.Message = tr.T("job.stopped.some", what, j.Done, j.Total, crm.JobOperationID(j.ID))
		}
	}
	if r := j.Refusal; r != nil {
		key := "job.refusal." + r.Code
		switch r.Code {
		case crm.RefusedCountMismatch:
			r.Message = tr.T(key, j.ConfirmCount, j.Matched) + " " + tr.T("api.said", r.Message)
		case crm.RefusedInvalidFilter, crm.RefusedListGone, crm.RefusedFilterErased:
			r.Message = tr.T(key) + " " + tr.T("api.said", r.Message)
		default:
			r.Message = tr.T("api.said", r.Message)
		}
	}
	for i := range j.Failures {
		f := &j.Failures[i]
		switch f.Code {
		case "conflict":
			f.Reason = tr.T("job.failure.conflict", f.BlockingID)
		case "unique":
			f.Reason = tr.T("job.failure.unique", f.Property, f.BlockingID)
		case "erased":
			f.Reason = tr.T("job.failure.erased", f.Property)
		case "expired", "missing":
			f.Reason = tr.T("job.failure." + f.Code)
		default:
			f.Reason = tr.T("api.said", f.Reason)
		}
	}
}

// finalJobStatus reports whether a job's status is one it keeps: the page stops polling.
func finalJobStatus(s string) bool {
	return s == "COMPLETE" || s == "REFUSED" || s == "CANCELED" || s == "STOPPED"
}

// jobPage is the data of a job's page.
type jobPage struct {
	view
	Job jobJSON
}

// job serves GET /console/jobs/{id}: the job's progress, which the page's script keeps live by
// polling its status.
func (c *Console) job(q *request) error {
	var j jobJSON
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/jobs/"+url.PathEscape(q.r.PathValue("id")), nil, &j); err != nil {
		return err
	}
	q.tr.localize(&j)
	c.render(q.w, q.r, http.StatusOK, "job", jobPage{view: q.view(jobKey(j, "job.title")), Job: j})
	return nil
}

// jobStatus serves GET /console/jobs/{id}/status: the job's progress as JSON, with its state
// already in the page's language, for the live progress.
func (c *Console) jobStatus(q *request) error {
	var j jobJSON
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/jobs/"+url.PathEscape(q.r.PathValue("id")), nil, &j); err != nil {
		return err
	}
	q.tr.localize(&j)
	out := map[string]any{"status": j.Status, "label": q.tr.T("job.status." + j.Status), "done": j.Done, "total": j.Total,
		"skipped": j.Skipped, "protected": j.Protected, "final": finalJobStatus(j.Status),
		"progress": q.tr.T(jobKey(j, "job.progress"), j.Done, j.Total),
		// An undo that could not restore some records: the page, read again, lists them.
		// So does one some of whose records had left the bin before it reached them.
		"reload": j.Kind == "undo" && (j.Skipped > 0 || j.Gone > 0) && (j.Status == "COMPLETE" || j.Status == "STOPPED")}
	if why := j.Reason(); why != "" {
		out["refusal"] = why
	}
	q.w.Header().Set("Content-Type", "application/json")
	return writeJSONTo(q.w, out)
}

// listJSON is a static list as the API returns it.
type listJSON struct {
	ListID     string `json:"listId"`
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
	Size       int64  `json:"size"`
}

// listsPage is the data of the lists page.
type listsPage struct {
	view
	Lists   []listJSON
	CanBulk bool
}

// lists serves GET /console/lists.
func (c *Console) lists(q *request) error {
	var res struct {
		Lists []listJSON `json:"lists"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/lists", nil, &res); err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "lists", listsPage{view: q.view("lists.title"), Lists: res.Lists,
		CanBulk: q.can(crm.PermDelete, crm.PermBulkDelete)})
	return nil
}

// listDeletePage serves GET /console/lists/{id}/delete: how many members a delete would delete
// (a dry run), and the typed count.
func (c *Console) listDeletePage(q *request) error {
	p, err := c.listConfirm(q)
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "confirm", p)
	return nil
}

func (c *Console) listConfirm(q *request) (confirmPage, error) {
	if err := q.need(crm.PermDelete, crm.PermBulkDelete); err != nil {
		return confirmPage{}, err
	}
	id := q.r.PathValue("id")
	var l struct {
		List listJSON `json:"list"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/lists/"+url.PathEscape(id), nil, &l); err != nil {
		return confirmPage{}, err
	}
	var dr dryRunJSON
	if _, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/lists/"+url.PathEscape(id)+"/records/delete",
		map[string]any{"dryRun": true}, &dr); err != nil {
		return confirmPage{}, err
	}
	p := confirmPage{view: q.view("confirm.list.title"), Type: l.List.ObjectType, Scope: "list", Filter: l.List.Name,
		Count: dr.WouldDelete, Protected: dr.Protected, Action: "/console/lists/" + url.PathEscape(id) + "/delete", Back: "/console/lists"}
	return p, nil
}

// listDelete serves POST /console/lists/{id}/delete: with the right typed count, a job deletes
// the list's members (never the list); with a wrong one nothing happens.
func (c *Console) listDelete(q *request) error {
	p, err := c.listConfirm(q)
	if err != nil {
		return err
	}
	p.Typed = q.r.PostForm.Get("count")
	if !typedCount(p.Typed, p.Count) {
		p.Error = q.tr.T("confirm.wrong", p.Count, p.Typed)
		c.render(q.w, q.r, http.StatusUnprocessableEntity, "confirm", p)
		return nil
	}
	var job jobAccepted
	if _, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/lists/"+url.PathEscape(q.r.PathValue("id"))+"/records/delete",
		map[string]any{"confirmCount": p.Count}, &job); err != nil {
		return err
	}
	redirect(q, "/console/jobs/"+url.PathEscape(job.ID), "", 0)
	return nil
}

// homePage is the data of the home page.
type homePage struct {
	view
	Types []string
}

// home serves GET /console/: every object type, the tenant's custom ones included.
func (c *Console) home(q *request) error {
	var res struct {
		Results []struct {
			Name string `json:"name"`
		} `json:"results"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/schemas", nil, &res); err != nil {
		return err
	}
	p := homePage{view: q.view("home.title")}
	for _, o := range crm.StandardObjectTypes {
		p.Types = append(p.Types, string(o))
	}
	for _, s := range res.Results {
		p.Types = append(p.Types, s.Name)
	}
	c.render(q.w, q.r, http.StatusOK, "home", p)
	return nil
}

// typeLabel is the label of an object type: the catalog's for a standard one, else its name.
func (v view) TypeLabel(t string) string {
	if msg := v.T("type." + t); msg != "type."+t {
		return msg
	}
	return t
}

// undoOperation serves POST /console/operations/{id}/undo: the undo of a whole operation (SPEC
// S26), whose job page then shows its progress and the records it could not restore. An undo of
// an operation with nothing left in the bin (sent again from a page shown before the first ran,
// say) changes nothing: the operation's page says so, with a link to its latest undo.
func (c *Console) undoOperation(q *request) error {
	id := q.r.PathValue("id")
	var acc jobAccepted
	_, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/operations/"+url.PathEscape(id)+"/undo", nil, &acc)
	var apiErr *APIError
	if errors.As(err, &apiErr) && len(apiErr.Errors) > 0 && apiErr.Errors[0].Code == "NOTHING_TO_UNDO" {
		var op operationJSON
		if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/operations/"+url.PathEscape(id), nil, &op); err != nil {
			return err
		}
		redirect(q, "/console/bin/"+url.PathEscape(op.ObjectType)+"?"+url.Values{"op": {op.ID}}.Encode(), "undo.nothing", 0)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/console/jobs/"+url.PathEscape(acc.ID), http.StatusSeeOther)
	return nil
}

// jobKey is the message key of a job's page: key, or key+".undo" for an undo job.
func jobKey(j jobJSON, key string) string {
	if j.Kind == "undo" {
		return key + ".undo"
	}
	return key
}

// Final reports whether the job's status is one it keeps (see finalJobStatus).
func (p jobPage) Final() bool { return finalJobStatus(p.Job.Status) }

// ProgressKey is the message key of the job's progress line.
func (p jobPage) ProgressKey() string { return jobKey(p.Job, "job.progress") }
