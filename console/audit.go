package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// auditRow is one entry of the audit log as the page shows it.
type auditRow struct {
	At, Action, Type, Actor, Ref, Count string
	IDs                                 []string
	More                                int
	// Revisions is how many revisions of workflow Ref a workflow_erased entry erased: its count
	// is of revisions, not of records.
	Revisions int
	// Purgeable is how many bin entries a retention_set entry made purgeable at once.
	Purgeable int
	// Property names the property of a property_* entry; Changed the fields a property_update
	// changed (comma-separated), and OptionsAdded and OptionsRemoved how many options it added and
	// removed when Options (it changed options).
	Property, Changed            string
	Options                      bool
	OptionsAdded, OptionsRemoved int
	// ObjectType names the custom object type an object_type_create entry created.
	ObjectType string
}

// auditPage is the data of the audit log.
type auditPage struct {
	view
	Rows    []auditRow
	Action  string
	By      string
	Actions []string
	Next    string
}

// auditShownIDs is how many record ids an audit row names before "and N more".
const auditShownIDs = 10

// audit serves GET /console/audit?action=&by=&after=: the tenant's audit trail, newest first,
// 50 entries a page, filtered by action and by who acted.
func (c *Console) audit(q *request) error {
	qs := q.r.URL.Query()
	p := auditPage{view: q.view("audit.title"), Action: qs.Get("action"), By: strings.TrimSpace(qs.Get("by")), Actions: crm.AuditActions}
	api := url.Values{"order": {"newest"}, "limit": {"50"}}
	if p.Action != "" {
		api.Set("action", p.Action)
	}
	if p.By != "" {
		api.Set("by", p.By)
	}
	if after := qs.Get("after"); after != "" {
		api.Set("after", after)
	}
	var res apiPage[struct {
		Action     string   `json:"action"`
		ObjectType string   `json:"objectType"`
		RecordIDs  []string `json:"recordIds"`
		Count      int      `json:"count"`
		Actor      string   `json:"actor"`
		Ref        string   `json:"ref"`
		At         string   `json:"at"`
		User       string   `json:"user"`
		Rule       string   `json:"rule"`
		TokenID    string   `json:"tokenId"`
		// Retention and PreviousRetention are those of a retention_set entry.
		Retention         string `json:"retention"`
		PreviousRetention string `json:"previousRetention"`
		// Property, Changed, OptionsAdded and OptionsRemoved are those of a property_* entry.
		Property       string   `json:"property"`
		Changed        []string `json:"changed"`
		OptionsAdded   *int     `json:"optionsAdded"`
		OptionsRemoved *int     `json:"optionsRemoved"`
	}]
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/audit?"+api.Encode(), nil, &res); err != nil {
		return err
	}
	for _, e := range res.Results {
		row := auditRow{At: shortTime(e.At), Action: e.Action, Type: e.ObjectType, Actor: e.Actor, Ref: e.Ref}
		switch {
		case e.User != "":
			row.Ref = strings.TrimSpace(e.User + " " + e.TokenID)
		case e.Rule != "":
			row.Ref = e.Rule
		}
		if e.Action == crm.AuditRetentionSet {
			row.Type, row.Ref, row.Purgeable = "", e.PreviousRetention+" → "+e.Retention, e.Count
			p.Rows = append(p.Rows, row)
			continue
		}
		if e.Action == crm.AuditWorkflowErased {
			row.Type, row.Revisions = "", e.Count
			p.Rows = append(p.Rows, row)
			continue
		}
		if e.Action == crm.AuditObjectTypeCreate {
			row.Type, row.ObjectType = "", e.ObjectType
			p.Rows = append(p.Rows, row)
			continue
		}
		if e.Property != "" {
			row.Property, row.Changed = e.Property, strings.Join(e.Changed, ", ")
			if e.OptionsAdded != nil && e.OptionsRemoved != nil {
				row.Options, row.OptionsAdded, row.OptionsRemoved = true, *e.OptionsAdded, *e.OptionsRemoved
			}
			p.Rows = append(p.Rows, row)
			continue
		}
		row.IDs = e.RecordIDs
		if len(row.IDs) > auditShownIDs {
			row.IDs, row.More = row.IDs[:auditShownIDs], len(e.RecordIDs)-auditShownIDs
		}
		if e.Count > len(e.RecordIDs) {
			row.More += e.Count - len(e.RecordIDs)
		}
		p.Rows = append(p.Rows, row)
	}
	if after := res.after(); after != "" {
		next := url.Values{"after": {after}}
		if p.Action != "" {
			next.Set("action", p.Action)
		}
		if p.By != "" {
			next.Set("by", p.By)
		}
		p.Next = "/console/audit?" + next.Encode()
	}
	c.render(q.w, q.r, http.StatusOK, "audit", p)
	return nil
}

// outboxPage is the data of the outbox page.
type outboxPage struct {
	view
	Mails []outboxMail
	// Dropped is how many workflow notifications a full outbox dropped, the last at DroppedAt.
	Dropped   int64
	DroppedAt string
}

// outboxMail is one email kept in the outbox.
type outboxMail struct {
	ID        string `json:"id"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	Kind      string `json:"kind"`
	CreatedAt string `json:"createdAt"`
}

// outbox serves GET /console/outbox: the newest 50 emails kept instead of sent, with their bodies.
func (c *Console) outbox(q *request) error {
	var res struct {
		Results []outboxMail `json:"results"`
		Dropped struct {
			Count  int64  `json:"count"`
			LastAt string `json:"lastAt"`
		} `json:"dropped"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/outbox?limit=50", nil, &res); err != nil {
		return err
	}
	for i := range res.Results {
		res.Results[i].CreatedAt = shortTime(res.Results[i].CreatedAt)
	}
	c.render(q.w, q.r, http.StatusOK, "outbox", outboxPage{view: q.view("outbox.title"), Mails: res.Results,
		Dropped: res.Dropped.Count, DroppedAt: shortTime(res.Dropped.LastAt)})
	return nil
}
