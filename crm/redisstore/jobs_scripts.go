package redisstore

import "github.com/crmflow/crmflow/crm"

// stageLiveScript adds to a job's staged selection those of the ids that are live records now.
// See lua/stage_live.lua for its KEYS and ARGV.
var stageLiveScript = newScript[stageLiveCall]("stage_live")

// stageLiveCall is a call of stageLiveScript (lua/stage_live.lua).
type stageLiveCall struct {
	Staged, Live string

	IDs []crm.RecordID // at most 1000
}

func (c stageLiveCall) keys() []string { return []string{c.Staged, c.Live} }
func (c stageLiveCall) argv() []any    { return idArgs(c.IDs) }

// sealDeleteJobScript turns a staged selection (the records live when they were staged, by
// stageLiveScript) into a confirmed bulk delete job with a new id, or refuses it and keeps nothing,
// the job counter included.
// See lua/seal_delete_job.lua for its KEYS and ARGV.
var sealDeleteJobScript = newScript[sealDeleteJobCall]("seal_delete_job")

// sealDeleteJobCall is a call of sealDeleteJobScript (lua/seal_delete_job.lua).
type sealDeleteJobCall struct {
	Staged, Seq, Jobs string

	ConfirmCount int64
	At           int64 // unix ms
	JobPrefix    string
	Ref          string // the job's ref, "" for the job's own id
	Fields       jobFields
}

// jobFields are the fields a bulk delete job is created with, besides those its script sets.
type jobFields struct {
	Type         crm.ObjectType
	By           string
	Via          crm.Via
	Selection    string
	ConfirmCount int64
	Filter       string // a job selecting by filter's; left out when ""
}

// pairs are the fields as HSET takes them: name, value, ...
func (f jobFields) pairs() []any {
	out := []any{"kind", "bulk_delete", "object_type", string(f.Type), "by", f.By, "via", string(f.Via),
		"selection", f.Selection, "confirm_count", f.ConfirmCount}
	if f.Filter != "" {
		out = append(out, "filter", f.Filter)
	}
	return out
}

func (c sealDeleteJobCall) keys() []string { return []string{c.Staged, c.Seq, c.Jobs} }
func (c sealDeleteJobCall) argv() []any {
	return append([]any{c.ConfirmCount, c.At, c.JobPrefix, c.Ref}, c.Fields.pairs()...)
}

// leaseScript takes or renews a lease.
// See lua/lease.lua for its KEYS and ARGV.
var leaseScript = newScript[leaseCall]("lease").quiet()

// leaseCall is a call of leaseScript (lua/lease.lua).
type leaseCall struct {
	Lease string

	Owner string
	TTL   int64 // ms
}

func (c leaseCall) keys() []string { return []string{c.Lease} }
func (c leaseCall) argv() []any    { return []any{c.Owner, c.TTL} }

// releaseScript gives a lease up if the caller holds it.
// See lua/release.lua for its KEYS and ARGV.
var releaseScript = newScript[releaseCall]("release").quiet()

// releaseCall is a call of releaseScript (lua/release.lua).
type releaseCall struct {
	Lease string

	Owner string
}

func (c releaseCall) keys() []string { return []string{c.Lease} }
func (c releaseCall) argv() []any    { return []any{c.Owner} }
