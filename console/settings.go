package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// tenantJSON is GET /crm/v3/tenant.
type tenantJSON struct {
	ID               string `json:"id"`
	Plan             string `json:"plan"`
	WorkflowsAllowed bool   `json:"workflowsAllowed"`
	DeletionLimit    struct {
		MaxDeletions *int   `json:"maxDeletions"`
		Per          string `json:"per"`
		Unlimited    bool   `json:"unlimited"`
	} `json:"deletionLimit"`
}

// protectionRuleJSON is one protection rule as the API shows it.
type protectionRuleJSON struct {
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
	When       string `json:"when"`
	UpdatedAt  string `json:"updatedAt"`
	UpdatedBy  string `json:"updatedBy"`
}

// settingsPage is the data of the tenant's settings.
type settingsPage struct {
	view
	Account    tenantJSON
	Rules      []protectionRuleJSON
	CanProtect bool
	Types      []string
	// The rule being written, kept as typed when the API refuses it, and the refusal.
	Name, ObjectType, When, Refusal string
	// Removing is the rule whose removal the user is asked to confirm, or nil.
	Removing *protectionRuleJSON
}

// Limit describes the tenant's default deletion limit.
func (p settingsPage) Limit() string {
	l := p.Account.DeletionLimit
	if l.Unlimited || l.MaxDeletions == nil {
		return p.T("settings.limit.none")
	}
	return p.T("settings.limit.value", *l.MaxDeletions, l.Per)
}

// settings serves GET /console/settings: the tenant's plan, retention, default deletion limit and
// protection rules, which a user with protect may add, replace and remove.
func (c *Console) settings(q *request) error {
	p, err := c.settingsPage(q)
	if err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "settings", p)
	return nil
}

func (c *Console) settingsPage(q *request) (settingsPage, error) {
	p := settingsPage{view: q.view("settings.title"), CanProtect: q.can(crm.PermProtect), ObjectType: string(crm.Contacts)}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/tenant", nil, &p.Account); err != nil {
		return p, err
	}
	var rules struct {
		Results []protectionRuleJSON `json:"results"`
	}
	if _, err := c.call(q.r, q.sess, http.MethodGet, "/crm/v3/protection", nil, &rules); err != nil {
		return p, err
	}
	p.Rules = rules.Results
	for _, t := range crm.StandardObjectTypes {
		p.Types = append(p.Types, string(t))
	}
	return p, nil
}

// putRule serves POST /console/settings/protection: it writes a rule (PUT /crm/v3/protection/{name});
// a refusal (an expression that does not compile, with its position) is shown with the rule as typed.
func (c *Console) putRule(q *request) error {
	name := strings.TrimSpace(q.r.PostFormValue("name"))
	body := map[string]string{"objectType": q.r.PostFormValue("objectType"), "when": q.r.PostFormValue("when")}
	_, err := c.call(q.r, q.sess, http.MethodPut, "/crm/v3/protection/"+url.PathEscape(name), body, nil)
	if err == nil {
		redirect(q, "/console/settings", "rule.saved", 0)
		return nil
	}
	return c.settingsRefused(q, err, name, body["objectType"], body["when"])
}

// deleteRule serves POST /console/settings/protection/{name}/delete. Without confirm=yes it asks
// first, on the settings page, what the removal lets through: one click on Remove must not take a
// safety rail away.
func (c *Console) deleteRule(q *request) error {
	name := q.r.PathValue("name")
	if q.r.PostFormValue("confirm") != "yes" && q.can(crm.PermProtect) { // a user without protect is refused by the API
		p, err := c.settingsPage(q)
		if err != nil {
			return err
		}
		for i := range p.Rules {
			if p.Rules[i].Name == name {
				p.Removing = &p.Rules[i]
			}
		}
		if p.Removing == nil { // removed meanwhile, or never there: nothing to confirm
			redirect(q, "/console/settings", "rule.deleted", 0)
			return nil
		}
		c.render(q.w, q.r, http.StatusOK, "settings", p)
		return nil
	}
	_, err := c.call(q.r, q.sess, http.MethodDelete, "/crm/v3/protection/"+url.PathEscape(q.r.PathValue("name")), nil, nil)
	if err == nil {
		redirect(q, "/console/settings", "rule.deleted", 0)
		return nil
	}
	return c.settingsRefused(q, err, "", "", "")
}

// settingsRefused shows the settings with the API's refusal of a rule change (a 4xx), or returns
// err.
func (c *Console) settingsRefused(q *request, err error, name, objectType, when string) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status >= 500 {
		return err
	}
	p, perr := c.settingsPage(q)
	if perr != nil {
		return perr
	}
	p.Name, p.When, p.Refusal = name, when, q.tr.apiError(apiErr)
	if objectType != "" {
		p.ObjectType = objectType
	}
	c.render(q.w, q.r, apiErr.Status, "settings", p)
	return nil
}

// jobsPage is the data of the jobs index.
type jobsPage struct {
	view
	Jobs []jobJSON
	Next string
}

// ProgressOf is a job's progress line.
func (p jobsPage) ProgressOf(j jobJSON) string {
	return p.T(jobKey(j, "job.progress"), j.Done, j.Total)
}

// jobs serves GET /console/jobs?after=: the tenant's jobs, newest first, 25 a page.
func (c *Console) jobs(q *request) error {
	path := "/crm/v3/jobs?limit=25"
	if after := q.r.URL.Query().Get("after"); after != "" {
		path += "&after=" + url.QueryEscape(after)
	}
	var res apiPage[jobJSON]
	if _, err := c.call(q.r, q.sess, http.MethodGet, path, nil, &res); err != nil {
		return err
	}
	p := jobsPage{view: q.view("jobs.title"), Jobs: res.Results}
	for i := range p.Jobs {
		p.Jobs[i].CreatedAt = shortTime(p.Jobs[i].CreatedAt)
	}
	if after := res.after(); after != "" {
		p.Next = "/console/jobs?after=" + url.QueryEscape(after)
	}
	c.render(q.w, q.r, http.StatusOK, "jobs", p)
	return nil
}
