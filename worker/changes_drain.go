package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/engine"
	"github.com/crmflow/crmflow/workflows"
)

// TypeChangesDrain is the type of the task that drains a tenant's record change marks (left by
// every record write, in the same script as the write) through the workflow engine: each changed
// record is evaluated against the tenant's active workflows of its object type, enrolled,
// suppressed or unenrolled, and the first step of each new enrollment is enqueued.
const TypeChangesDrain = "changes:drain"

// DrainWindow is the time bucket of a changes:drain task id: however many writes a tenant makes
// within one window, one drain is queued for it.
const DrainWindow = time.Second

// DrainBatchesPerTask bounds one changes:drain run: after that many batches (of
// Config.WorkflowBatchSize marks) it enqueues its continuation and returns, so that one busy tenant
// does not hold a worker slot for long.
const DrainBatchesPerTask = 20

// ChangesDrainPayload is the payload of a changes:drain task.
type ChangesDrainPayload struct {
	// TenantID is the tenant whose changes are drained.
	TenantID crm.TenantID `json:"tenant_id"`
	// At is when the drain was asked for; its DrainWindow names the task.
	At time.Time `json:"at,omitzero"`
	// Round counts the drains that continued this one (0 for the first).
	Round int `json:"round,omitempty"`
}

// NewChangesDrainTask returns a changes:drain task of tenant for queue default. Its task id is
// derived from the tenant and the DrainWindow of at, so a burst of writes enqueues one drain per
// window (the others get ErrDuplicate). A drain that runs finds every mark left until then.
func NewChangesDrainTask(tenant crm.TenantID, at time.Time) *asynq.Task {
	return newChangesDrainTask(ChangesDrainPayload{TenantID: tenant, At: at.UTC()})
}

func newChangesDrainTask(p ChangesDrainPayload) *asynq.Task {
	raw, _ := json.Marshal(p) // strings, a time and an int always encode
	id := TypeChangesDrain + ":" + string(p.TenantID) + ":" + stamp(p.At.Truncate(DrainWindow))
	if p.Round > 0 {
		id += ":r" + strconv.Itoa(p.Round)
	}
	return asynq.NewTask(TypeChangesDrain, raw, asynq.Queue(QueueDefault), asynq.MaxRetry(5), asynq.TaskID(id))
}

// HandleChangesDrain handles a changes:drain task. It reads the tenant's oldest change marks
// (Config.WorkflowBatchSize at a time), evaluates them (drainChanges), and acknowledges them; a mark
// that changed again meanwhile survives the acknowledgement and is drained next. It stops when no
// mark is left, or after DrainBatchesPerTask batches, when it enqueues its continuation. Every step
// is idempotent: a drain that crashes is retried, and the store's scripts enroll nobody twice. A bad
// payload wraps asynq.SkipRetry.
func (w *Worker) HandleChangesDrain(ctx context.Context, t *asynq.Task) error {
	var p ChangesDrainPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %w: %w", TypeChangesDrain, asynq.SkipRetry, err)
	}
	if err := p.TenantID.Validate(); err != nil {
		return fmt.Errorf("%s payload: %w: %w", TypeChangesDrain, asynq.SkipRetry, err)
	}
	return w.drainTenant(ctx, w.taskLogger(ctx, t), p)
}

// drainTenant drains p's tenant's change marks, as a changes:drain task or a wake-up (see
// wakeLoop) does.
func (w *Worker) drainTenant(ctx context.Context, log *slog.Logger, p ChangesDrainPayload) error {
	lists := engine.ListSets{} // the suppression lists read in this run
	var drained, enrolled int
	for range DrainBatchesPerTask {
		if err := ctx.Err(); err != nil {
			return err
		}
		cs, err := w.store.PendingChanges(ctx, p.TenantID, w.cfg.WorkflowBatchSize)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			log.Log(ctx, sweepLevel(drained), "changes drained", "changes", drained, "enrolled", enrolled)
			return nil
		}
		n, err := w.drainChanges(ctx, log, p.TenantID, cs, lists)
		if err != nil {
			return err
		}
		if _, err := w.store.AckChanges(ctx, p.TenantID, cs); err != nil {
			return err
		}
		drained += len(cs)
		enrolled += n
	}
	next := p
	next.Round++
	if next.At.IsZero() {
		next.At = w.clock.Now().UTC()
	}
	if _, err := w.enq.Enqueue(ctx, newChangesDrainTask(next)); err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("enqueue the drain's continuation: %w", err)
	}
	log.Info("changes drain continues in a new task", "changes", drained, "enrolled", enrolled, "round", next.Round)
	return nil
}

// drainChanges evaluates one batch of change marks against the active workflows of their object
// types and returns how many records it enrolled. Per object type it reads the live records in one
// round trip (and, for deleted ones, the bin's record of who deleted them); then, for each
// workflow, it replays the states the writes left, in order: the first state of every record,
// then the second, and so on, each judged by the engine on the values that write left and applied
// in one script, so that no write goes unseen however close together they came (a record created
// not matching and updated to match is an update; a match, a miss and a match again is a
// transition). A workflow evaluates only the writes made after its activation
// (crm.Flow.ActivatedSeq). One workflow:steps task per workflow and layer is enqueued for the
// records newly enrolled. A workflow whose revision no longer validates (a property it reads was
// removed, say) pauses itself with the reason, so that it does not stop unseen.
func (w *Worker) drainChanges(ctx context.Context, log *slog.Logger, t crm.TenantID, cs []crm.Change, lists engine.ListSets) (int, error) {
	var types []crm.ObjectType
	byType := map[crm.ObjectType][]crm.Change{}
	for _, c := range cs {
		if _, ok := byType[c.Type]; !ok {
			types = append(types, c.Type)
		}
		byType[c.Type] = append(byType[c.Type], c)
	}
	now := w.clock.Now()
	total := 0
	for _, o := range types {
		changes := byType[o]
		w.metrics.drained.WithLabelValues(objectTypeLabel(o)).Add(float64(len(changes)))
		flows, revs, err := w.store.ActiveFlows(ctx, t, o)
		if err != nil {
			return total, err
		}
		if len(flows) == 0 {
			continue
		}
		seen, err := w.readChanged(ctx, t, o, changes)
		if err != nil {
			return total, err
		}
		for i, f := range flows {
			wf, err := w.workflow(ctx, t, revs[i])
			if err != nil {
				var ve *workflows.ValidationError
				if errors.As(err, &ve) {
					if err := w.pauseInvalid(ctx, log, t, f, revs[i].Revision, ve); err != nil {
						return total, err
					}
					continue
				}
				return total, err
			}
			if wf.ObjectType != o {
				log.Error("an active workflow's revision is of another object type: it evaluates no change",
					"workflow_id", f.Name, "revision", revs[i].Revision, "object_type", o, "workflow_object_type", wf.ObjectType)
				continue
			}
			var ls engine.Lists
			if wf.Suppression != nil && len(wf.Suppression.Lists) > 0 {
				if ls, err = w.listSets(ctx, log, t, o, wf.Suppression.Lists, lists); err != nil {
					return total, err
				}
			}
			ref := crm.FlowRef{Name: f.Name, Revision: revs[i].Revision, ObjectType: o, Reenrollment: wf.Reenrollment}
			for _, layer := range stateLayers(changes, f.ActivatedSeq, seen) {
				vs := engine.Decide(wf, layer, ls, now)
				if len(vs) == 0 {
					continue
				}
				enrolled, err := w.store.EvaluateFlow(ctx, t, ref, vs)
				if err != nil {
					return total, err
				}
				if len(enrolled) > 0 {
					w.metrics.enrolled.WithLabelValues(objectTypeLabel(o)).Add(float64(len(enrolled)))
					total += len(enrolled)
					w.enqueueSteps(ctx, log, WorkflowStepsPayload{TenantID: t, Workflow: f.Name, Revision: ref.Revision}, enrolled, nil, time.Time{})
				}
			}
			if err := w.followDates(ctx, log, t, wf, ref, seen, now); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// followDates moves the next step of the changed records of seen that wait in wf (at ref's
// revision) after a delay until a date property, when that date, as they hold it now, is not the
// one their step is due at (engine.FollowDates): the step runs at the new date, or at once when the
// date was cleared or has gone by. It reads their enrollments in one round trip and moves them in
// one script, for the whole batch; a workflow without such a delay reads nothing. The old task
// finds its records not yet due and leaves them (see waitForMovedDates). The marks are
// acknowledged only after it, so a drain that stops before the move is retried and moves them.
func (w *Worker) followDates(ctx context.Context, log *slog.Logger, t crm.TenantID, wf *workflows.Workflow, ref crm.FlowRef,
	seen changedNow, now time.Time) error {
	if len(seen.live) == 0 || !engine.FollowsDates(wf) {
		return nil
	}
	ids := make([]crm.RecordID, 0, len(seen.live))
	recs := make(map[crm.RecordID]crm.Record, len(seen.live))
	for id, r := range seen.live {
		ids = append(ids, id)
		recs[id] = *r
	}
	slices.Sort(ids)
	enrs, err := w.store.Enrollments(ctx, t, ref.Name, ref.ObjectType, ids)
	if err != nil {
		return err
	}
	ds := engine.FollowDates(wf, ref.Revision, enrs, recs, now)
	if len(ds) == 0 {
		return nil
	}
	moved, err := w.store.RescheduleSteps(ctx, t, ref, ds)
	if err != nil {
		return err
	}
	if len(moved) > 0 {
		log.Info("records waiting for a date that was written: their next step moved", "workflow_id", ref.Name, "records", len(moved))
	}
	w.enqueueMoved(ctx, log, WorkflowStepsPayload{TenantID: t, Workflow: ref.Name, Revision: ref.Revision}, ds, moved, len(wf.Actions), now)
	return nil
}

// changedNow is what the store holds now of a batch of changed records: the live ones, and how
// those in the bin were deleted.
type changedNow struct {
	live      map[crm.RecordID]*crm.Record
	deletions map[crm.RecordID]*crm.Deletion
}

// readChanged reads the records of changes (all of object type o): the live ones in one round trip,
// and, for those deleted since, their deletion from the bin in one more.
func (w *Worker) readChanged(ctx context.Context, t crm.TenantID, o crm.ObjectType, changes []crm.Change) (changedNow, error) {
	ids := make([]crm.RecordID, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	recs, err := w.store.Records(ctx, t, o, ids, nil)
	if err != nil {
		return changedNow{}, err
	}
	out := changedNow{live: make(map[crm.RecordID]*crm.Record, len(recs)), deletions: map[crm.RecordID]*crm.Deletion{}}
	for i := range recs {
		out.live[recs[i].ID] = &recs[i]
	}
	var gone []crm.RecordID
	for _, c := range changes {
		if out.live[c.ID] == nil && strings.ContainsAny(c.Events, "dp") {
			gone = append(gone, c.ID)
		}
	}
	if len(gone) > 0 {
		binned, err := w.store.Records(ctx, t, o, gone, &crm.ReadOpts{Archived: true, Properties: []string{"-"}})
		if err != nil {
			return changedNow{}, err
		}
		for _, r := range binned {
			out.deletions[r.ID] = r.Deletion
		}
	}
	return out, nil
}

// stateLayers turns the states of changes that a workflow activated at change number since
// evaluates (those numbered after it, and those of the older format, numbered 0) into the engine's
// changes, layer by layer: layer k holds the k-th such state of every record that has one. A state
// is judged on the values its write left; one without values (a list join, or a state of the older
// format) on the record as it is now, and a delete on the record being gone.
func stateLayers(changes []crm.Change, since int64, now changedNow) [][]engine.Change {
	var layers [][]engine.Change
	for _, c := range changes {
		k := 0
		for _, st := range c.States {
			if st.Seq != 0 && st.Seq <= since {
				continue
			}
			ec := engine.Change{ID: c.ID, Events: string(st.Event), Deletion: now.deletions[c.ID]}
			switch {
			case st.Event == crm.EventDeleted || st.Event == crm.EventPermanent:
				// Gone at that write, whatever came after.
			case st.Values != nil:
				ec.Record = &crm.Record{ID: c.ID, Type: c.Type, Properties: st.Values}
			default:
				ec.Record = now.live[c.ID]
			}
			if k == len(layers) {
				layers = append(layers, nil)
			}
			layers[k] = append(layers[k], ec)
			k++
		}
	}
	return layers
}
