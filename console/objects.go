package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// pageSize is how many records an index page shows.
const pageSize = 25

// recordJSON is a record as the API returns it.
type recordJSON struct {
	ID            string            `json:"id"`
	Properties    map[string]string `json:"properties"`
	UpdatedAt     string            `json:"updatedAt"`
	ArchivedAt    string            `json:"archivedAt"`
	ArchivedBy    string            `json:"archivedBy"`
	ArchivedVia   string            `json:"archivedVia"`
	ArchivedRef   string            `json:"archivedRef"`
	ArchivedActor string            `json:"archivedActor"`
	// ArchivedOperation is the operation that moved the record to the bin (its undo restores it).
	ArchivedOperation string `json:"archivedOperation"`
}

// recordPage is a page of records as the API returns it.
type recordPage = apiPage[recordJSON]

// apiPage is one page of an API list: its results and, unless it is the last, the cursor of the
// next (paging.next.after).
type apiPage[T any] struct {
	Results []T `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

// after is the cursor of the next page, "" on the last.
func (p apiPage[T]) after() string {
	if p.Paging == nil {
		return ""
	}
	return p.Paging.Next.After
}

// dryRunJSON is the API's answer to a bulk delete's dry run.
type dryRunJSON struct {
	Matched         int64            `json:"matched"`
	WouldDelete     int64            `json:"wouldDelete"`
	Protected       int64            `json:"protected"`
	ProtectedByRule map[string]int64 `json:"protectedByRule"`
	Sample          []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Email     string `json:"email"`
		UpdatedAt string `json:"updatedAt"`
	} `json:"sample"`
	// SampleNext is the sampleAfter of the sample's next page, "" on the last.
	SampleNext string `json:"sampleNext"`
}

// jobAccepted is the API's 202 to a bulk delete.
type jobAccepted struct {
	ID string `json:"id"`
}

// displayName is how a record is named on the screens.
func displayName(p map[string]string) string {
	if n := strings.TrimSpace(p["firstname"] + " " + p["lastname"]); n != "" {
		return n
	}
	for _, k := range []string{"name", "dealname", "subject", "hs_call_title", "email", "domain"} {
		if p[k] != "" {
			return p[k]
		}
	}
	return ""
}

// objectType reads the {type} of the path: a standard type, or one of the tenant's custom types
// (the API answers 404 for an unknown one).
func objectType(q *request) string { return q.r.PathValue("type") }

// row is one record of a table.
type row struct {
	ID, Name, Email, Updated string
}

// indexPage is the data of an object index page.
type indexPage struct {
	view
	Type        string
	Filter      string
	FilterError string
	// FilterSnippet is the filter's line with a caret under the column of its problem, when known.
	FilterSnippet string
	Rows          []row
	// Next is the link to the next page, "" on the last; First the link to the first page, set on
	// every page but the first. Both keep the filter.
	Next, First string
	// Total is the number of live records of the type (or matching the filter); -1 when unknown.
	Total int64
	// Filtered is set when the page shows a filter's sample.
	Filtered  bool
	Protected int64
	CanDelete bool
	CanBulk   bool
}

// indexLink is the link to a page of type t's index: the first, or the one after the record id
// after; with the filter, when there is one.
func indexLink(t, filter, after string) string {
	v := url.Values{}
	if filter != "" {
		v.Set("filter", filter)
	}
	if after != "" {
		v.Set("after", after)
	}
	link := "/console/objects/" + url.PathEscape(t)
	if len(v) > 0 {
		link += "?" + v.Encode()
	}
	return link
}

// index serves GET /console/objects/{type}?filter=&after=: a page of the type's records, or
// with a filter (the trigger language) a page of the records it matches.
func (c *Console) index(q *request) error {
	t := objectType(q)
	p := indexPage{view: q.view("index.title"), Type: t, Filter: strings.TrimSpace(q.r.URL.Query().Get("filter")), Total: -1,
		CanDelete: q.can(crm.PermDelete), CanBulk: q.can(crm.PermDelete, crm.PermBulkDelete)}
	p.Title = p.TypeLabel(t) + " · " + p.Title
	after := q.r.URL.Query().Get("after")
	if after != "" {
		p.First = indexLink(t, p.Filter, "")
	}
	if p.Filter != "" {
		// The trigger language is evaluated by the bulk delete's dry run: the counts of every
		// match, a page of its sample, no change, and read is the only right it needs. Each page
		// is one dry run, within the API's preview budget.
		p.Filtered = true
		body := map[string]any{"filter": p.Filter, "dryRun": true, "sampleLimit": pageSize}
		if after != "" {
			body["sampleAfter"] = after
		}
		var dr dryRunJSON
		_, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/objects/"+url.PathEscape(t)+"/bulk-delete", body, &dr)
		var apiErr *APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest && !badSampleAfter(apiErr):
			p.FilterError = q.tr.apiError(apiErr)
			if len(apiErr.Errors) > 0 {
				if s := apiErr.Errors[0].Context["snippet"]; len(s) == 1 {
					p.FilterSnippet = strings.TrimLeft(s[0], "\n")
				}
			}
		case err != nil:
			return err
		default:
			p.Total, p.Protected = dr.WouldDelete, dr.Protected
			for _, s := range dr.Sample {
				p.Rows = append(p.Rows, row{ID: s.ID, Name: s.Name, Email: s.Email, Updated: shortTime(s.UpdatedAt)})
			}
			if dr.SampleNext != "" {
				p.Next = indexLink(t, p.Filter, dr.SampleNext)
			}
		}
		c.render(q.w, q.r, http.StatusOK, "index", p)
		return nil
	}
	path := "/crm/v3/objects/" + url.PathEscape(t) + "?limit=" + strconv.Itoa(pageSize)
	if after != "" {
		path += "&after=" + url.QueryEscape(after)
	}
	var page recordPage
	if _, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &page); err != nil {
		return err
	}
	for _, r := range page.Results {
		p.Rows = append(p.Rows, row{ID: r.ID, Name: displayName(r.Properties), Email: r.Properties["email"], Updated: shortTime(r.UpdatedAt)})
	}
	if next := page.after(); next != "" {
		p.Next = indexLink(t, "", next)
	}
	var total struct {
		Total int64 `json:"total"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/objects/"+url.PathEscape(t)+"/search", map[string]any{"limit": 1}, &total); err == nil {
		p.Total = total.Total
	}
	c.render(q.w, q.r, http.StatusOK, "index", p)
	return nil
}

// badSampleAfter reports whether the API refused a filtered index's page for its after, which is
// then the page's error, as it is without a filter, and not the filter's.
func badSampleAfter(e *APIError) bool {
	return len(e.Errors) > 0 && e.Errors[0].Code == "INVALID_SAMPLE_AFTER"
}

// confirmPage is the data of the typed-count confirmation of a bulk delete.
type confirmPage struct {
	view
	Type      string
	Scope     string // "selected" or "all"
	IDs       []string
	Filter    string
	Count     int64
	Protected int64
	Typed     string
	Error     string
	Action    string // where the form posts
	Back      string
}

// confirmBulk serves POST /console/objects/{type}/delete: the confirmation step, where the user
// types the number of records to delete. It changes nothing.
func (c *Console) confirmBulk(q *request) error {
	t := objectType(q)
	p, err := c.bulkSelection(q, t)
	if err != nil {
		return err
	}
	if p.Scope == "selected" && len(p.IDs) == 0 {
		redirect(q, "/console/objects/"+url.PathEscape(t), "noneselected", 0)
		return nil
	}
	c.render(q.w, q.r, http.StatusOK, "confirm", p)
	return nil
}

// bulkSelection reads the selection of a bulk delete's form and counts it: the ids checked, or
// every record matching the filter (every record of the type without one), counted by a dry run.
func (c *Console) bulkSelection(q *request, t string) (confirmPage, error) {
	f := q.r.PostForm
	p := confirmPage{view: q.view("confirm.title"), Type: t, Scope: f.Get("scope"), Filter: strings.TrimSpace(f.Get("filter")),
		Action: "/console/objects/" + url.PathEscape(t) + "/delete/run", Back: "/console/objects/" + url.PathEscape(t)}
	if p.Filter != "" {
		p.Back += "?filter=" + url.QueryEscape(p.Filter)
	}
	if p.Scope != "all" {
		p.Scope = "selected"
		for _, id := range f["id"] {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(p.IDs, id) {
				p.IDs = append(p.IDs, id)
			}
		}
		p.Count = int64(len(p.IDs))
		switch len(p.IDs) {
		case 0: // nothing selected: the index says so
		case 1:
			return p, q.need(crm.PermDelete)
		default:
			return p, q.need(crm.PermDelete, crm.PermBulkDelete)
		}
		return p, nil
	}
	if err := q.need(crm.PermDelete, crm.PermBulkDelete); err != nil {
		return p, err
	}
	filter := p.Filter
	if filter == "" {
		filter = "true"
	}
	var dr dryRunJSON
	if _, err := c.call(q.r, q.sess, http.MethodPost, "/crm/v3/objects/"+url.PathEscape(t)+"/bulk-delete",
		map[string]any{"filter": filter, "dryRun": true}, &dr); err != nil {
		return p, err
	}
	p.Count, p.Protected = dr.WouldDelete, dr.Protected
	return p, nil
}

// runBulk serves POST /console/objects/{type}/delete/run: with the right typed count it deletes
// the selection (one record at once, more as a bulk job whose progress the job page shows); with
// a wrong one it shows the confirmation again, saying so, and deletes nothing.
func (c *Console) runBulk(q *request) error {
	t := objectType(q)
	p, err := c.bulkSelection(q, t)
	if err != nil {
		return err
	}
	p.Typed = q.r.PostForm.Get("count")
	if !typedCount(p.Typed, p.Count) {
		p.Error = q.tr.T("confirm.wrong", p.Count, p.Typed)
		c.render(q.w, q.r, http.StatusUnprocessableEntity, "confirm", p)
		return nil
	}
	base := "/crm/v3/objects/" + url.PathEscape(t)
	if p.Scope == "selected" && len(p.IDs) == 1 {
		if _, err := c.call(q.r, q.sess, http.MethodDelete, base+"/"+url.PathEscape(p.IDs[0]), nil, nil); err != nil {
			return err
		}
		redirect(q, "/console/objects/"+url.PathEscape(t), "deleted", 1)
		return nil
	}
	body := map[string]any{"confirmCount": p.Count}
	if p.Scope == "selected" {
		body["ids"] = p.IDs
	} else {
		filter := p.Filter
		if filter == "" {
			filter = "true"
		}
		body["filter"] = filter
	}
	var job jobAccepted
	if _, err := c.call(q.r, q.sess, http.MethodPost, base+"/bulk-delete", body, &job); err != nil {
		return err
	}
	redirect(q, "/console/jobs/"+url.PathEscape(job.ID), "", 0)
	return nil
}

// typedCount reports whether typed, the count the user typed to confirm a delete, is count
// written as the confirmation shows it: its digits exactly, without a sign, a leading zero or a
// space. "030", "+30" and " 30" are not 30: the user confirms the number they were shown.
func typedCount(typed string, count int64) bool { return typed == strconv.FormatInt(count, 10) }

// recordPageData is the data of a record's page.
type recordPageData struct {
	view
	Type         string
	ID           string
	Name         string
	Props        [][2]string
	Associations []assocGroup
	CanDelete    bool
	// InBin says who deleted the record, when and how, when it is in the recycle bin.
	InBin string
	// CanErase offers the permanent delete of a contact in the recycle bin.
	CanErase bool
	// Lists are the static lists the record is a member of.
	Lists []struct {
		ListID string `json:"listId"`
		Name   string `json:"name"`
	}
	// Histories are what the workflows of the record's type did to it, one per workflow with events.
	Histories []recordHistory
}

// recordHistory is a record's events in one workflow, oldest first.
type recordHistory struct {
	Workflow string
	Events   []flowLogRow
}

// assocGroup is the records of one type associated with a record.
type assocGroup struct {
	Type string
	IDs  []string
}

// record serves GET /console/objects/{type}/{id}: its properties and associations, and the
// Delete action for a user who may delete.
func (c *Console) record(q *request) error {
	t, id := objectType(q), q.r.PathValue("id")
	var rec recordJSON
	path := "/crm/v3/objects/" + url.PathEscape(t) + "/" + url.PathEscape(id)
	_, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &rec)
	var apiErr *APIError
	inBin := false
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		// A record in the recycle bin (a link from a workflow's history, say) shows as such.
		if _, binErr := c.call(q.r, q.sess, http.MethodGet, path+"?archived=true", nil, &rec); binErr == nil {
			err, inBin = nil, true
		}
	}
	if err != nil {
		return err
	}
	p := recordPageData{view: q.view("record.title"), Type: t, ID: rec.ID, Name: displayName(rec.Properties), CanDelete: q.can(crm.PermDelete) && !inBin,
		// A contact in the bin can still be erased for good (SPEC S9).
		CanErase: inBin && t == string(crm.Contacts) && q.can(crm.PermPermanentDelete)}
	p.Title = p.TypeLabel(t) + " " + rec.ID
	if inBin {
		by := rec.ArchivedActor
		if by == "" {
			by = rec.ArchivedBy
		}
		how := q.tr.T("via." + rec.ArchivedVia)
		if rec.ArchivedRef != "" {
			how += " " + rec.ArchivedRef
		}
		p.InBin = q.tr.T("record.inbin", shortTime(rec.ArchivedAt), by, how)
	}
	keys := make([]string, 0, len(rec.Properties))
	for k := range rec.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p.Props = append(p.Props, [2]string{k, rec.Properties[k]})
	}
	for _, to := range crm.StandardObjectTypes {
		if inBin {
			break // a binned record's associations come back with it
		}
		var res struct {
			Results []struct {
				ToObjectID json.Number `json:"toObjectId"`
			} `json:"results"`
		}
		path := fmt.Sprintf("/crm/v4/objects/%s/%s/associations/%s", url.PathEscape(t), url.PathEscape(id), to)
		if _, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &res); err != nil {
			continue // a type the record cannot be associated with
		}
		if len(res.Results) > 0 {
			g := assocGroup{Type: string(to)}
			for _, r := range res.Results {
				g.IDs = append(g.IDs, r.ToObjectID.String())
			}
			p.Associations = append(p.Associations, g)
		}
	}
	if !inBin {
		var lists struct {
			Results []struct {
				ListID string `json:"listId"`
				Name   string `json:"name"`
			} `json:"results"`
		}
		if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/lists/records/"+url.PathEscape(t)+"/"+url.PathEscape(id)+"/memberships", nil, &lists); err != nil {
			return err
		}
		p.Lists = lists.Results
	}
	if p.Histories, err = c.recordHistories(q, t, id); err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "record", p)
	return nil
}

// recordHistories reads what each workflow of type t did to record id.
func (c *Console) recordHistories(q *request, t, id string) ([]recordHistory, error) {
	var flows struct {
		Results []flowJSON `json:"results"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, flowsPath, nil, &flows); err != nil {
		return nil, err
	}
	var out []recordHistory
	for _, f := range flows.Results {
		if f.ObjectType != t || f.State == "DRAFT" {
			continue
		}
		var h apiPage[historyEventJSON]
		path := flowsPath + "/" + url.PathEscape(f.Name) + "/history?recordId=" + url.QueryEscape(id)
		if _, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &h); err != nil {
			return nil, err
		}
		if len(h.Results) == 0 {
			continue
		}
		rh := recordHistory{Workflow: f.Name}
		for _, e := range h.Results {
			rh.Events = append(rh.Events, e.row())
		}
		out = append(out, rh)
	}
	return out, nil
}

// recordDeleteData is the data of a record's delete page.
type recordDeleteData struct {
	view
	Type, ID, Name, Email string
	RestorableUntil       string
	// CanDelete offers the restorable delete, CanPermanent the permanent one.
	CanDelete, CanPermanent bool
	// InBin: the record is in the recycle bin, where only a contact's permanent delete applies.
	InBin bool
	Error string
}

// recordDeletePage serves GET /console/objects/{type}/{id}/delete: the choice between a
// restorable delete and, for a contact and a user who may, the permanent one with its
// consequences spelled out.
func (c *Console) recordDeletePage(q *request) error {
	if !q.can(crm.PermDelete) && (objectType(q) != string(crm.Contacts) || !q.can(crm.PermPermanentDelete)) {
		return q.need(crm.PermDelete)
	}
	p, err := c.recordDeleteData(q)
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "delete", p)
	return nil
}

func (c *Console) recordDeleteData(q *request) (recordDeleteData, error) {
	t, id := objectType(q), q.r.PathValue("id")
	var rec recordJSON
	path := "/crm/v3/objects/" + url.PathEscape(t) + "/" + url.PathEscape(id)
	_, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &rec)
	var apiErr *APIError
	inBin := false
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && t == string(crm.Contacts) && q.can(crm.PermPermanentDelete) {
		// A contact in the recycle bin may still be erased for good (SPEC S9).
		if _, binErr := c.call(q.r, q.sess, http.MethodGet, path+"?archived=true", nil, &rec); binErr == nil {
			err, inBin = nil, true
		}
	}
	if err != nil {
		return recordDeleteData{}, err
	}
	return recordDeleteData{view: q.view("delete.title"), Type: t, ID: rec.ID, Name: displayName(rec.Properties), Email: rec.Properties["email"],
		RestorableUntil: c.cfg.Clock.Now().Add(c.cfg.Retention).UTC().Format("2006-01-02"),
		CanDelete:       q.can(crm.PermDelete), CanPermanent: t == string(crm.Contacts) && q.can(crm.PermPermanentDelete), InBin: inBin}, nil
}

// recordDelete serves POST /console/objects/{type}/{id}/delete: mode "bin" moves the record to
// the recycle bin; mode "permanent" (contacts) erases it for good once the user has typed its
// email (or its id, for a contact without one).
func (c *Console) recordDelete(q *request) error {
	t, id := objectType(q), q.r.PathValue("id")
	base := "/crm/v3/objects/" + url.PathEscape(t)
	switch q.r.PostForm.Get("mode") {
	case "permanent":
		p, err := c.recordDeleteData(q)
		if err != nil {
			return err
		}
		want := p.Email
		if want == "" {
			want = p.ID
		}
		if !strings.EqualFold(strings.TrimSpace(q.r.PostForm.Get("confirm")), want) {
			p.Error = q.tr.T("delete.permanent.wrong", want)
			c.render(q.w, q.r, http.StatusUnprocessableEntity, "delete", p)
			return nil
		}
		if _, err := c.call(q.r, q.sess, http.MethodPost, base+"/gdpr-delete", map[string]any{"objectId": id}, nil); err != nil {
			return err
		}
		back := "/console/objects/" + url.PathEscape(t)
		if p.InBin {
			back = "/console/bin/" + url.PathEscape(t)
		}
		redirect(q, back, "erased", 1)
	default:
		if _, err := c.call(q.r, q.sess, http.MethodDelete, base+"/"+url.PathEscape(id), nil, nil); err != nil {
			return err
		}
		redirect(q, "/console/objects/"+url.PathEscape(t), "deleted", 1)
	}
	return nil
}

// shortTime shows an API timestamp to the minute, in UTC.
func shortTime(s string) string {
	if len(s) >= 16 {
		return strings.Replace(s[:16], "T", " ", 1)
	}
	return s
}
