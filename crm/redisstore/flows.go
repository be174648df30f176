package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// PutFlow stores source as a new revision of workflow name (created as a draft on first put). The
// caller has validated source; an unchanged source adds no revision. A *ConflictError when the
// workflow exists with another object type.
func (s *Store) PutFlow(ctx context.Context, t crm.TenantID, name string, o crm.ObjectType, source, by string) (crm.Flow, bool, error) {
	res, err := putFlowScript.run(ctx, s, putFlowCall{
		Flows: FlowsKey(t), Flow: FlowKey(t, name), FlowsOfType: FlowsOfTypeKey(t, o),
		Name: name, Type: o, Source: source, By: by, At: s.cfg.Clock.Now().UnixMilli(), RevPrefix: flowKeyPrefix(t) + name + ":rev:",
	}).Slice()
	if err != nil {
		return crm.Flow{}, false, fmt.Errorf("store workflow %s: %w", name, err)
	}
	if len(res) == 3 {
		return crm.Flow{}, false, &crm.ConflictError{Message: fmt.Sprintf("workflow %q exists for %v: a workflow keeps its object type; choose another name", name, res[2])}
	}
	created, _ := res[1].(int64)
	f, err := s.Flow(ctx, t, name)
	return f, created == 1, err
}

// Flow returns a workflow, or a *NotFoundError.
func (s *Store) Flow(ctx context.Context, t crm.TenantID, name string) (crm.Flow, error) {
	h, err := s.rdb.HGetAll(ctx, FlowKey(t, name)).Result()
	if err != nil {
		return crm.Flow{}, fmt.Errorf("read workflow %s: %w", name, err)
	}
	if len(h) == 0 {
		return crm.Flow{}, &crm.NotFoundError{Kind: "workflow", ID: name}
	}
	return flowFromHash(name, h), nil
}

func flowFromHash(name string, h map[string]string) crm.Flow {
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	f := crm.Flow{Name: name, ObjectType: crm.ObjectType(h["object_type"]), State: crm.FlowState(h["state"]),
		Revision: num("revision"), ActiveRevision: num("active_revision"), PausedReason: h["paused_reason"], ActivatedBy: h["activated_by"],
		PausedCode:   crm.PauseCode(h["paused_reason_code"]),
		ActivatedSeq: num("activated_seq"), Activation: num("activation"),
		CreatedAt: parseMS(h["created_at"]), UpdatedAt: parseMS(h["updated_at"])}
	if p := h["paused_reason_params"]; p != "" {
		// Written by the store's scripts only; an object it cannot read leaves the params out, and
		// the English reason still says why.
		_ = json.Unmarshal([]byte(p), &f.PausedParams)
	}
	if h["activated_at"] != "" {
		f.ActivatedAt = parseMS(h["activated_at"])
	}
	return f
}

// Flows lists a tenant's workflows by name, in one round trip after the names.
func (s *Store) Flows(ctx context.Context, t crm.TenantID) ([]crm.Flow, error) {
	names, err := s.rdb.SMembers(ctx, FlowsKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	sort.Strings(names)
	return s.flowsByName(ctx, t, names)
}

func (s *Store) flowsByName(ctx context.Context, t crm.TenantID, names []string) ([]crm.Flow, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, FlowKey(t, n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read workflows: %w", err)
	}
	out := make([]crm.Flow, 0, len(names))
	for i, c := range cmds {
		if len(c.Val()) > 0 {
			out = append(out, flowFromHash(names[i], c.Val()))
		}
	}
	return out, nil
}

// FlowRevision returns one revision of a workflow, or a *NotFoundError.
func (s *Store) FlowRevision(ctx context.Context, t crm.TenantID, name string, rev int64) (crm.FlowRevision, error) {
	h, err := s.rdb.HGetAll(ctx, FlowRevisionKey(t, name, rev)).Result()
	if err != nil {
		return crm.FlowRevision{}, fmt.Errorf("read workflow %s revision %d: %w", name, rev, err)
	}
	if len(h) == 0 {
		return crm.FlowRevision{}, &crm.NotFoundError{Kind: "workflow revision", ID: fmt.Sprintf("%s@%d", name, rev)}
	}
	return revisionFromHash(name, rev, h), nil
}

// revisionFromHash reads a FlowRevisionKey hash.
func revisionFromHash(name string, rev int64, h map[string]string) crm.FlowRevision {
	return crm.FlowRevision{Flow: name, Revision: rev, Source: h["source"], By: h["by"], CreatedAt: parseMS(h["created_at"]),
		Erased: h["erased"] != ""}
}

// ActivateFlow activates the latest revision of a workflow on behalf of p.By. A *PlanError when the
// tenant's plan does not include workflows (nothing changes); a *NotFoundError for an unknown
// workflow; a *ConflictError when p.Revision is no longer the latest, or when a permanent delete
// erased an address from the latest (crm.ErasedRevisionError); a *ValidationError without p.By.
func (s *Store) ActivateFlow(ctx context.Context, t crm.TenantID, name string, p crm.ActivateFlowParams) (crm.Flow, error) {
	if strings.TrimSpace(p.By) == "" {
		return crm.Flow{}, &crm.ValidationError{Field: "by", Code: "REQUIRED", Message: "activating a workflow needs the activating user: the workflow acts with that user's authority"}
	}
	reads := "*"
	if p.Reads != nil {
		reads = strings.Join(p.Reads, ",")
	}
	call := activateFlowCall{
		Tenant: TenantKey(t), Flow: FlowKey(t, name), ChangedEvents: ChangedEventsKey(t),
		At: s.cfg.Clock.Now().UnixMilli(), ActiveFlowsPrefix: activeFlowsKeyPrefix(t), Name: name, By: p.By,
		Revision: p.Revision, Reads: reads, FlowPrefix: flowKeyPrefix(t), TrigReadsPrefix: trigReadsKeyPrefix(t),
	}
	for _, p := range crm.Plans {
		if p.AllowsWorkflows() {
			call.Plans = append(call.Plans, p)
		}
	}
	res, err := activateFlowScript.run(ctx, s, call).Slice()
	if err != nil {
		return crm.Flow{}, fmt.Errorf("activate workflow %s: %w", name, err)
	}
	switch res[0] {
	case "plan":
		return crm.Flow{}, &crm.PlanError{Plan: crm.Plan(fmt.Sprint(res[1]))}
	case "missing":
		return crm.Flow{}, &crm.NotFoundError{Kind: "workflow", ID: name}
	case "revision":
		return crm.Flow{}, &crm.ConflictError{Message: fmt.Sprintf("workflow %s has a newer revision %v than the revision %d that was checked: activate again", name, res[1], p.Revision)}
	case "erased":
		rev, _ := strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
		return crm.Flow{}, crm.ErasedRevisionError(name, rev)
	}
	return s.Flow(ctx, t, name)
}

// PauseFlow pauses a workflow: it enrolls nothing and runs no action until activated again.
func (s *Store) PauseFlow(ctx context.Context, t crm.TenantID, name string, opts *crm.PauseOpts) (crm.Flow, error) {
	if opts == nil {
		opts = &crm.PauseOpts{}
	}
	at, num := "", ""
	if !opts.IfActivatedAt.IsZero() {
		at = ms(opts.IfActivatedAt)
		if opts.IfActivation != 0 {
			num = strconv.FormatInt(opts.IfActivation, 10)
		}
	}
	params := ""
	if len(opts.Params) > 0 {
		b, _ := json.Marshal(opts.Params) // a map of strings always encodes
		params = string(b)
	}
	n, err := pauseFlowScript.run(ctx, s, pauseFlowCall{
		Flow: FlowKey(t, name), At: s.cfg.Clock.Now().UnixMilli(), ActiveFlowsPrefix: activeFlowsKeyPrefix(t), Name: name,
		Reason: opts.Reason, IfActivatedAt: at, IfActivation: num, FlowPrefix: flowKeyPrefix(t), TrigReadsPrefix: trigReadsKeyPrefix(t),
		Code: opts.Code, Params: params,
	}).Int()
	if err != nil {
		return crm.Flow{}, fmt.Errorf("pause workflow %s: %w", name, err)
	}
	switch n {
	case 0:
		return crm.Flow{}, &crm.NotFoundError{Kind: "workflow", ID: name}
	case -1:
		return crm.Flow{}, fmt.Errorf("pause workflow %s: %w", name, crm.ErrFlowReactivated)
	}
	return s.Flow(ctx, t, name)
}

// ActiveFlows returns the active workflows of an object type with the source of their active
// revision, in two round trips.
func (s *Store) ActiveFlows(ctx context.Context, t crm.TenantID, o crm.ObjectType) ([]crm.Flow, []crm.FlowRevision, error) {
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
	var outF []crm.Flow
	var outR []crm.FlowRevision
	for i, f := range flows {
		h := cmds[i].Val()
		if f.State != crm.FlowActive || len(h) == 0 {
			continue
		}
		outF = append(outF, f)
		outR = append(outR, revisionFromHash(f.Name, f.ActiveRevision, h))
	}
	return outF, outR, nil
}

// flowMember is how records appear in the enrollment keys: "<type>:<id>".
func flowMember(o crm.ObjectType, id crm.RecordID) string { return string(o) + ":" + string(id) }

// FlowRevisions returns every revision of a workflow, oldest first and without their sources, in
// one round trip after the workflow itself; a *NotFoundError for an unknown workflow.
func (s *Store) FlowRevisions(ctx context.Context, t crm.TenantID, name string) ([]crm.FlowRevision, error) {
	f, err := s.Flow(ctx, t, name)
	if err != nil {
		return nil, err
	}
	// Every field but the source, which may be a request body long.
	fields := []string{"by", "created_at", "erased"}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, f.Revision)
	for i := range cmds {
		cmds[i] = pipe.HMGet(ctx, FlowRevisionKey(t, name, int64(i+1)), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read workflow %s revisions: %w", name, err)
	}
	out := make([]crm.FlowRevision, 0, len(cmds))
	for i, c := range cmds {
		h := make(map[string]string, len(fields))
		for j, v := range c.Val() {
			if v, ok := v.(string); ok {
				h[fields[j]] = v
			}
		}
		out = append(out, revisionFromHash(name, int64(i+1), h))
	}
	return out, nil
}

// FlowErasedReason is the paused reason of an active workflow paused because a permanent delete
// erased an email address its definition named (SPEC S9), with the code crm.PauseContactErased.
// It names no address.
const FlowErasedReason = "a permanent delete erased an email address this workflow's definition named: " +
	"review it, store a revision without that address, and activate it again"

// ErasedFlowHeader is the first line of a workflow revision's source once a permanent delete
// erased an email address from it: no workflow file may hold the field, so the source no longer
// parses, and it tells whoever reads it why.
const ErasedFlowHeader = crm.ErasedField + ": \"a permanent delete erased an email address this revision named (now " + ErasedFlowAddress +
	"); write the workflow again without it\"\n"

// ErasedFlowAddress replaces each erased email address in a workflow revision's source.
const ErasedFlowAddress = crm.ErasedAddress

// eraseFlowsNaming erases emails (compared without case) from every revision of every workflow
// of the tenant that names one, in every place a revision keeps its text: see lua/erase_flow.lua.
// An active workflow whose active revision is among them is paused in the same script, with
// FlowErasedReason (one active at a revision that never named them runs on), and the erasure is
// audited as done by "permanent-delete". It reads the sources of every revision of
// every workflow in one pipelined round trip (after the names and the revision counts), then runs
// one script per workflow that names an email; the script looks at every revision again, so a
// revision stored since the read is erased too.
func (s *Store) eraseFlowsNaming(ctx context.Context, t crm.TenantID, emails []string) error {
	var low []string
	for _, e := range emails {
		if e != "" {
			low = append(low, strings.ToLower(e))
		}
	}
	if len(low) == 0 {
		return nil
	}
	names, err := s.rdb.SMembers(ctx, FlowsKey(t)).Result()
	if err != nil || len(names) == 0 {
		return err
	}
	sort.Strings(names)
	revs := make([]*redis.StringCmd, len(names))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			revs[i] = p.HGet(ctx, FlowKey(t, n), "revision")
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read the workflows: %w", err)
	}
	srcs := make([][]*redis.StringCmd, len(names))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			last, _ := strconv.ParseInt(revs[i].Val(), 10, 64)
			for r := int64(1); r <= last; r++ {
				srcs[i] = append(srcs[i], p.HGet(ctx, FlowRevisionKey(t, n, r), "source"))
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read the workflows' revisions: %w", err)
	}
	for i, n := range names {
		// The script lowers only ASCII letters (Lua's string.lower): an address spelt with other
		// capitals (ÅSA@EXEMPEL.SE for åsa@exempel.se) is passed to it as spelt, its ASCII letters
		// lowered, so that it finds every spelling found here.
		needles, named := slices.Clone(low), false
		for _, c := range srcs[i] {
			for _, sp := range spellingsOf(c.Val(), low) {
				named = true
				if sp = asciiLower(sp); !slices.Contains(needles, sp) {
					needles = append(needles, sp)
				}
			}
		}
		if !named {
			continue
		}
		call := eraseFlowCall{Flow: FlowKey(t, n), Audit: AuditKey(t), At: s.cfg.Clock.Now().UnixMilli(),
			ActiveFlowsPrefix: activeFlowsKeyPrefix(t), Name: n, Reason: FlowErasedReason, FlowPrefix: flowKeyPrefix(t),
			TrigReadsPrefix: trigReadsKeyPrefix(t), AuditMaxLen: auditMaxLen, Header: ErasedFlowHeader,
			Placeholder: ErasedFlowAddress, Emails: needles}
		if err := eraseFlowScript.run(ctx, s, call).Err(); err != nil {
			return fmt.Errorf("erase the address from workflow %s: %w", n, err)
		}
	}
	return nil
}

// spellingsOf returns, without repeats, every substring of src that is one of emails (lower case,
// as crm.NormalizeEmail gives them) once each of its letters is lowered as strings.ToLower lowers
// it: "ÅSA@Exempel.se" for "åsa@exempel.se". Letters whose lower case has another length in
// UTF-8 (the Kelvin sign K for k) are matched too, as spelt.
func spellingsOf(src string, emails []string) []string {
	var out []string
	for i := 0; i < len(src); {
		for _, e := range emails {
			if n := foldedPrefix(src[i:], e); n > 0 && !slices.Contains(out, src[i:i+n]) {
				out = append(out, src[i:i+n])
			}
		}
		_, w := utf8.DecodeRuneInString(src[i:])
		i += w
	}
	return out
}

// foldedPrefix returns the length in bytes of the prefix of s whose letters, lowered one by one,
// spell lower, or 0 when s does not start with it.
func foldedPrefix(s, lower string) int {
	j := 0
	for _, want := range lower {
		if j >= len(s) {
			return 0
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		if unicode.ToLower(r) != want {
			return 0
		}
		j += w
	}
	return j
}
