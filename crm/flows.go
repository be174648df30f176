package crm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// FlowState is the state of a workflow.
type FlowState string

// The states of a workflow.
const (
	FlowDraft  FlowState = "draft"  // stored, never activated
	FlowActive FlowState = "active" // enrolls records and runs actions
	FlowPaused FlowState = "paused" // enrolls nothing and runs no action
)

// Flow is a stored workflow: its definition lives in its revisions, as YAML.
type Flow struct {
	Name       string
	ObjectType ObjectType
	State      FlowState
	// Revision is the latest stored revision; ActiveRevision the one activated (0 if never).
	Revision, ActiveRevision int64
	// PausedReason says why a paused workflow was paused ("" when paused by a user).
	PausedReason string
	// ActivatedBy is the user who activated the workflow: it acts with that user's authority
	// (SPEC S23). Empty for a workflow never activated.
	ActivatedBy string
	// ActivatedSeq is the tenant's change counter at the activation: the workflow evaluates only
	// the record writes numbered after it (ChangeState.Seq).
	ActivatedSeq int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ActivatedAt  time.Time
}

// FlowRevision is one stored revision of a workflow.
type FlowRevision struct {
	Flow      string
	Revision  int64
	Source    string
	By        string
	CreatedAt time.Time
}

// PlanError means the tenant's plan does not include what was asked (activating a workflow).
type PlanError struct {
	Plan Plan
}

func (e *PlanError) Error() string {
	return fmt.Sprintf("the %s plan does not include workflow automation: upgrade to professional or enterprise to activate workflows (you can still write, validate and preview them)", e.Plan)
}

// PutFlow stores source as a new revision of workflow name (created as a draft on first put). The
// caller has validated source; an unchanged source adds no revision. A *ConflictError when the
// workflow exists with another object type.
func (s *RedisStore) PutFlow(ctx context.Context, t TenantID, name string, o ObjectType, source, by string) (Flow, bool, error) {
	res, err := putFlowScript.Run(ctx, s.rdb, []string{FlowsKey(t), FlowKey(t, name), FlowsOfTypeKey(t, o)},
		name, string(o), source, by, ms(s.cfg.Clock.Now()), flowKeyPrefix(t)+name+":rev:").Slice()
	if err != nil {
		return Flow{}, false, fmt.Errorf("store workflow %s: %w", name, err)
	}
	if len(res) == 3 {
		return Flow{}, false, &ConflictError{Message: fmt.Sprintf("workflow %q exists for %v: a workflow keeps its object type; choose another name", name, res[2])}
	}
	created, _ := res[1].(int64)
	f, err := s.Flow(ctx, t, name)
	return f, created == 1, err
}

// Flow returns a workflow, or a *NotFoundError.
func (s *RedisStore) Flow(ctx context.Context, t TenantID, name string) (Flow, error) {
	h, err := s.rdb.HGetAll(ctx, FlowKey(t, name)).Result()
	if err != nil {
		return Flow{}, fmt.Errorf("read workflow %s: %w", name, err)
	}
	if len(h) == 0 {
		return Flow{}, &NotFoundError{Kind: "workflow", ID: name}
	}
	return flowFromHash(name, h), nil
}

func flowFromHash(name string, h map[string]string) Flow {
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	f := Flow{Name: name, ObjectType: ObjectType(h["object_type"]), State: FlowState(h["state"]),
		Revision: num("revision"), ActiveRevision: num("active_revision"), PausedReason: h["paused_reason"], ActivatedBy: h["activated_by"],
		ActivatedSeq: num("activated_seq"),
		CreatedAt:    parseMS(h["created_at"]), UpdatedAt: parseMS(h["updated_at"])}
	if h["activated_at"] != "" {
		f.ActivatedAt = parseMS(h["activated_at"])
	}
	return f
}

// Flows lists a tenant's workflows by name, in one round trip after the names.
func (s *RedisStore) Flows(ctx context.Context, t TenantID) ([]Flow, error) {
	names, err := s.rdb.SMembers(ctx, FlowsKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	sort.Strings(names)
	return s.flowsByName(ctx, t, names)
}

func (s *RedisStore) flowsByName(ctx context.Context, t TenantID, names []string) ([]Flow, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, FlowKey(t, n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read workflows: %w", err)
	}
	out := make([]Flow, 0, len(names))
	for i, c := range cmds {
		if len(c.Val()) > 0 {
			out = append(out, flowFromHash(names[i], c.Val()))
		}
	}
	return out, nil
}

// FlowRevision returns one revision of a workflow, or a *NotFoundError.
func (s *RedisStore) FlowRevision(ctx context.Context, t TenantID, name string, rev int64) (FlowRevision, error) {
	h, err := s.rdb.HGetAll(ctx, FlowRevisionKey(t, name, rev)).Result()
	if err != nil {
		return FlowRevision{}, fmt.Errorf("read workflow %s revision %d: %w", name, rev, err)
	}
	if len(h) == 0 {
		return FlowRevision{}, &NotFoundError{Kind: "workflow revision", ID: fmt.Sprintf("%s@%d", name, rev)}
	}
	return FlowRevision{Flow: name, Revision: rev, Source: h["source"], By: h["by"], CreatedAt: parseMS(h["created_at"])}, nil
}

// ActivateFlowParams are the inputs of ActivateFlow.
type ActivateFlowParams struct {
	// By is the activating user's email. Required: the workflow acts with that user's authority.
	By string
	// Revision is the revision the caller checked (its actions against By's permissions). When
	// set, activation is refused with a *ConflictError if another revision was stored since. 0
	// activates the latest revision.
	Revision int64
	// Reads are the properties the revision's triggers read (enrollment and suppression), "*" for
	// any: every record write of the type keeps their values for the engine (see
	// TriggerReadsKey). nil means any.
	Reads []string
}

// ActivateFlow activates the latest revision of a workflow on behalf of p.By. A *PlanError when the
// tenant's plan does not include workflows (nothing changes); a *NotFoundError for an unknown
// workflow; a *ConflictError when p.Revision is no longer the latest; a *ValidationError without p.By.
func (s *RedisStore) ActivateFlow(ctx context.Context, t TenantID, name string, p ActivateFlowParams) (Flow, error) {
	if strings.TrimSpace(p.By) == "" {
		return Flow{}, &ValidationError{Field: "by", Code: "REQUIRED", Message: "activating a workflow needs the activating user: the workflow acts with that user's authority"}
	}
	reads := "*"
	if p.Reads != nil {
		reads = strings.Join(p.Reads, ",")
	}
	args := []any{ms(s.cfg.Clock.Now()), activeFlowsKeyPrefix(t), name, p.By, p.Revision, reads, flowKeyPrefix(t), trigReadsKeyPrefix(t)}
	for _, p := range Plans {
		if p.AllowsWorkflows() {
			args = append(args, string(p))
		}
	}
	res, err := activateFlowScript.Run(ctx, s.rdb, []string{TenantKey(t), FlowKey(t, name), ChangedEventsKey(t)}, args...).Slice()
	if err != nil {
		return Flow{}, fmt.Errorf("activate workflow %s: %w", name, err)
	}
	switch res[0] {
	case "plan":
		return Flow{}, &PlanError{Plan: Plan(fmt.Sprint(res[1]))}
	case "missing":
		return Flow{}, &NotFoundError{Kind: "workflow", ID: name}
	case "revision":
		return Flow{}, &ConflictError{Message: fmt.Sprintf("workflow %s has a newer revision %v than the revision %d that was checked: activate again", name, res[1], p.Revision)}
	}
	return s.Flow(ctx, t, name)
}

// PauseOpts are options of PauseFlow. nil means the defaults.
type PauseOpts struct {
	// Reason says why the workflow pauses, for GET /automation/v4/flows/{name}. Empty means a user
	// paused it.
	Reason string
	// IfActivatedAt pauses the workflow only if its activation is still the one made at that time
	// (Flow.ActivatedAt): a workflow activated again since is left as it is, and PauseFlow returns
	// ErrFlowReactivated. Zero pauses it whatever its activation.
	IfActivatedAt time.Time
}

// ErrFlowReactivated means a conditional PauseFlow found the workflow activated again since.
var ErrFlowReactivated = errors.New("crm: the workflow was activated again since")

// PauseFlow pauses a workflow: it enrolls nothing and runs no action until activated again.
func (s *RedisStore) PauseFlow(ctx context.Context, t TenantID, name string, opts *PauseOpts) (Flow, error) {
	if opts == nil {
		opts = &PauseOpts{}
	}
	at := ""
	if !opts.IfActivatedAt.IsZero() {
		at = ms(opts.IfActivatedAt)
	}
	n, err := pauseFlowScript.Run(ctx, s.rdb, []string{FlowKey(t, name)}, ms(s.cfg.Clock.Now()), activeFlowsKeyPrefix(t), name,
		opts.Reason, at, flowKeyPrefix(t), trigReadsKeyPrefix(t)).Int()
	if err != nil {
		return Flow{}, fmt.Errorf("pause workflow %s: %w", name, err)
	}
	switch n {
	case 0:
		return Flow{}, &NotFoundError{Kind: "workflow", ID: name}
	case -1:
		return Flow{}, fmt.Errorf("pause workflow %s: %w", name, ErrFlowReactivated)
	}
	return s.Flow(ctx, t, name)
}

// ActiveFlows returns the active workflows of an object type with the source of their active
// revision, in two round trips.
func (s *RedisStore) ActiveFlows(ctx context.Context, t TenantID, o ObjectType) ([]Flow, []FlowRevision, error) {
	names, err := s.rdb.SMembers(ctx, ActiveFlowsKey(t, o)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list active workflows: %w", err)
	}
	sort.Strings(names)
	flows, err := s.flowsByName(ctx, t, names)
	if err != nil {
		return nil, nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(flows))
	for i, f := range flows {
		cmds[i] = pipe.HGetAll(ctx, FlowRevisionKey(t, f.Name, f.ActiveRevision))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("read active revisions: %w", err)
	}
	var outF []Flow
	var outR []FlowRevision
	for i, f := range flows {
		h := cmds[i].Val()
		if f.State != FlowActive || len(h) == 0 {
			continue
		}
		outF = append(outF, f)
		outR = append(outR, FlowRevision{Flow: f.Name, Revision: f.ActiveRevision, Source: h["source"], By: h["by"], CreatedAt: parseMS(h["created_at"])})
	}
	return outF, outR, nil
}

// flowMember is how records appear in the enrollment keys: "<type>:<id>".
func flowMember(o ObjectType, id RecordID) string { return string(o) + ":" + string(id) }

// FlowRevisions returns every revision of a workflow, oldest first, in one round trip after the
// workflow itself; a *NotFoundError for an unknown workflow.
func (s *RedisStore) FlowRevisions(ctx context.Context, t TenantID, name string) ([]FlowRevision, error) {
	f, err := s.Flow(ctx, t, name)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, f.Revision)
	for i := range cmds {
		cmds[i] = pipe.HGetAll(ctx, FlowRevisionKey(t, name, int64(i+1)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read workflow %s revisions: %w", name, err)
	}
	out := make([]FlowRevision, 0, len(cmds))
	for i, c := range cmds {
		h := c.Val()
		out = append(out, FlowRevision{Flow: name, Revision: int64(i + 1), Source: h["source"], By: h["by"], CreatedAt: parseMS(h["created_at"])})
	}
	return out, nil
}
