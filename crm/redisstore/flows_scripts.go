package redisstore

import "github.com/crmflow/crmflow/crm"

// putFlowScript stores a new revision of a workflow (creating the workflow as a draft).
// See lua/put_flow.lua for its KEYS and ARGV.
var putFlowScript = newScript[putFlowCall]("put_flow")

// putFlowCall is a call of putFlowScript (lua/put_flow.lua).
type putFlowCall struct {
	Flows, Flow, FlowsOfType string

	Name      string
	Type      crm.ObjectType
	Source    string
	By        string
	At        int64  // unix ms
	RevPrefix string // the workflow's revision key prefix
}

func (c putFlowCall) keys() []string { return []string{c.Flows, c.Flow, c.FlowsOfType} }
func (c putFlowCall) argv() []any {
	return []any{c.Name, string(c.Type), c.Source, c.By, c.At, c.RevPrefix}
}

// activateFlowScript activates the latest revision of a workflow, if the tenant's plan allows it,
// on behalf of the activating user, whose authority the workflow then acts with.
// See lua/activate_flow.lua for its KEYS and ARGV.
var activateFlowScript = newScript[activateFlowCall]("trigger_reads", "activate_flow")

// activateFlowCall is a call of activateFlowScript (lua/activate_flow.lua).
type activateFlowCall struct {
	Tenant, Flow, ChangedEvents string

	At                int64 // unix ms
	ActiveFlowsPrefix string
	Name              string
	By                string // the activating user
	Revision          int64  // the revision the caller checked, or 0
	Reads             string // the properties its triggers read, comma-separated ("*": any)
	FlowPrefix        string
	TrigReadsPrefix   string
	Plans             []crm.Plan // the plans that allow workflows
}

func (c activateFlowCall) keys() []string { return []string{c.Tenant, c.Flow, c.ChangedEvents} }
func (c activateFlowCall) argv() []any {
	out := []any{c.At, c.ActiveFlowsPrefix, c.Name, c.By, c.Revision, c.Reads, c.FlowPrefix, c.TrigReadsPrefix}
	for _, p := range c.Plans {
		out = append(out, string(p))
	}
	return out
}

// pauseFlowScript pauses a workflow.
// See lua/pause_flow.lua for its KEYS and ARGV.
var pauseFlowScript = newScript[pauseFlowCall]("trigger_reads", "pause_flow")

// pauseFlowCall is a call of pauseFlowScript (lua/pause_flow.lua).
type pauseFlowCall struct {
	Flow string

	At                int64 // unix ms
	ActiveFlowsPrefix string
	Name              string
	Reason            string
	// IfActivatedAt is the activation (activated_at, unix ms) to pause, or "": any.
	IfActivatedAt string
	// IfActivation is, with IfActivatedAt, that activation's number, or "": IfActivatedAt alone.
	IfActivation    string
	FlowPrefix      string
	TrigReadsPrefix string
	Code            crm.PauseCode
	Params          string // JSON, or ""
}

func (c pauseFlowCall) keys() []string { return []string{c.Flow} }
func (c pauseFlowCall) argv() []any {
	return []any{c.At, c.ActiveFlowsPrefix, c.Name, c.Reason, c.IfActivatedAt, c.FlowPrefix, c.TrigReadsPrefix, string(c.Code), c.Params, c.IfActivation}
}

// setPlanScript changes a tenant's plan; when the new plan does not allow workflows, it pauses
// every active workflow of the tenant in the same step (never deleting one).
// See lua/set_plan.lua for its KEYS and ARGV.
var setPlanScript = newScript[setPlanCall]("trigger_reads", "set_plan")

// setPlanCall is a call of setPlanScript (lua/set_plan.lua).
type setPlanCall struct {
	Tenant, Flows string

	Plan              crm.Plan
	AllowsWorkflows   bool  // sent as 1 or 0
	At                int64 // unix ms
	FlowPrefix        string
	ActiveFlowsPrefix string
	TrigReadsPrefix   string
}

func (c setPlanCall) keys() []string { return []string{c.Tenant, c.Flows} }
func (c setPlanCall) argv() []any {
	return []any{string(c.Plan), flag(c.AllowsWorkflows), c.At, c.FlowPrefix, c.ActiveFlowsPrefix, c.TrigReadsPrefix,
		string(crm.PausePlanDowngraded)}
}

// eraseFlowScript erases the email addresses of a contact deleted permanently from every revision
// of a workflow, pausing it if active. See lua/erase_flow.lua for its KEYS and ARGV.
var eraseFlowScript = newScript[eraseFlowCall]("trigger_reads", "erase_flow")

// eraseFlowCall is a call of eraseFlowScript (lua/erase_flow.lua).
type eraseFlowCall struct {
	Flow, Audit string

	At                int64 // unix ms
	ActiveFlowsPrefix string
	Name              string
	Reason            string // the paused reason of an active workflow (its code is crm.PauseContactErased)
	FlowPrefix        string
	TrigReadsPrefix   string
	AuditMaxLen       string
	Header            string   // the first line of an erased revision's source
	Placeholder       string   // what replaces each address
	Emails            []string // lower case, and the spellings found with their ASCII letters lowered
}

func (c eraseFlowCall) keys() []string { return []string{c.Flow, c.Audit} }
func (c eraseFlowCall) argv() []any {
	out := []any{c.At, c.ActiveFlowsPrefix, c.Name, c.Reason, c.FlowPrefix, c.TrigReadsPrefix, c.AuditMaxLen, c.Header, c.Placeholder,
		string(crm.PauseContactErased)}
	for _, e := range c.Emails {
		out = append(out, e)
	}
	return out
}
