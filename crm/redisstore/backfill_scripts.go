package redisstore

import (
	"time"

	"github.com/crmflow/crmflow/crm"
)

// advanceBackfillScript records a backfill's position and progress for the runner that holds its
// lease, and only for it: a runner that lost the lease (stalled past it, and replaced) cannot move
// the backfill back.
// See lua/advance_backfill.lua for its KEYS and ARGV.
var advanceBackfillScript = newScript[advanceBackfillCall]("advance_backfill")

// advanceBackfillCall is a call of advanceBackfillScript (lua/advance_backfill.lua).
type advanceBackfillCall struct {
	Backfill, Lease string

	Owner     string
	State     crm.Backfill // its fields follow Owner (backfillFields)
	UpdatedAt time.Time
}

func (c advanceBackfillCall) keys() []string { return []string{c.Backfill, c.Lease} }
func (c advanceBackfillCall) argv() []any {
	return append([]any{c.Owner}, backfillFields(c.State, c.UpdatedAt)...)
}

// leaseBackfillFlowScript reads a workflow and takes, or renews, its backfill's lease for a runner.
// See lua/lease_backfill_flow.lua for its KEYS and ARGV.
var leaseBackfillFlowScript = newScript[leaseBackfillFlowCall]("lease_backfill_flow").quiet()

// leaseBackfillFlowCall is a call of leaseBackfillFlowScript (lua/lease_backfill_flow.lua).
type leaseBackfillFlowCall struct {
	Flow, Lease string

	Owner string
	TTL   int64 // ms
}

func (c leaseBackfillFlowCall) keys() []string { return []string{c.Flow, c.Lease} }
func (c leaseBackfillFlowCall) argv() []any    { return []any{c.Owner, c.TTL} }
