package worker

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
)

// metrics are the worker's Prometheus metrics. See the package documentation for their names.
type metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	purged    *prometheus.CounterVec
	// bulkDeleted is for bulk_delete.go's handler.
	bulkDeleted *prometheus.CounterVec
	// ruleFailures is for the protection checks of bulk_delete.go's handler.
	ruleFailures *prometheus.CounterVec
	// undone and undoFailed are for undo.go's batches.
	undone, undoFailed *prometheus.CounterVec
	mailSent           *prometheus.CounterVec
	mailFailed         *prometheus.CounterVec
	mailKept           *prometheus.CounterVec
	mailDropped        *prometheus.CounterVec
	outboxDropped      prometheus.Counter
	mailPendingFailed  *prometheus.CounterVec
	// drained, enrolled and steps are for the workflow engine's tasks.
	drained  *prometheus.CounterVec
	enrolled *prometheus.CounterVec
	steps    *prometheus.CounterVec
	// wakeups is for wake.go's loop.
	wakeups *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var m metrics
	var err error
	counter := func(name, help, label string) *prometheus.CounterVec {
		c, e := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label}))
		err = errors.Join(err, e)
		return c
	}
	m.processed = counter("crmflow_worker_tasks_processed_total",
		"Tasks handled by the worker, whether they succeeded or failed, by task type.", "type")
	m.failed = counter("crmflow_worker_tasks_failed_total",
		"Tasks whose handler returned an error (to be retried or archived), by task type.", "type")
	var e error
	m.duration, e = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crmflow_worker_task_duration_seconds",
		Help:    "Time a task's handler ran, by task type.",
		Buckets: []float64{.005, .025, .1, .5, 1, 5, 30, 120, 600},
	}, []string{"type"}))
	err = errors.Join(err, e)
	m.purged = counter("crmflow_trash_purged_records_total",
		"Recycle-bin entries removed for good by purges, by object type.", "object_type")
	m.bulkDeleted = counter("crmflow_bulk_deleted_records_total",
		"Records moved to the recycle bin by bulk delete jobs, by object type.", "object_type")
	m.ruleFailures = counter("crmflow_protection_rule_failures_total",
		"Records of bulk delete jobs a protection rule protected only because it could not be evaluated on them "+
			"(it fails on their values, or no longer compiles): the rule is to be fixed, by object type.", "object_type")
	m.undone = counter("crmflow_undo_restored_records_total",
		"Records brought back from the recycle bin by undo jobs, by object type.", "object_type")
	m.undoFailed = counter("crmflow_undo_not_restored_records_total",
		"Records an undo job could not restore (a value taken, past retention, gone), by object type.", "object_type")
	m.mailSent = counter("crmflow_mail_sent_total", "Emails delivered to the SMTP server, by kind.", "kind")
	m.mailFailed = counter("crmflow_mail_failed_total",
		"Email deliveries that failed (and will be retried unless the server refused for good), by kind.", "kind")
	m.mailKept = counter("crmflow_mail_outbox_total",
		"Emails kept in a tenant's outbox because no SMTP server is configured, by kind.", "kind")
	m.mailDropped = counter("crmflow_mail_dropped_total",
		"Workflow notifications dropped unsent (or not kept in the outbox): their record no longer exists, their recipient is no "+
			"longer an enabled user, their workflow is no longer active under the activation that queued them, or its activator "+
			"lacks read (the audit entry mail_dropped says which), by kind.", "kind")
	m.mailPendingFailed = counter("crmflow_mail_pending_failed_total",
		"Emails written with a change (a permanent delete's confirmation) whose delivery failed for good and waits for an operator "+
			"(crmflow admin outbox pending), by kind.", "kind")
	m.outboxDropped, e = register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "crmflow_mail_outbox_dropped_total",
		Help: "Workflow notifications dropped from a full outbox (past --outbox-max; no SMTP server is configured) to make room for newer emails."}))
	err = errors.Join(err, e)
	m.drained = counter("crmflow_changes_drained_total",
		"Record change marks the workflow engine evaluated and acknowledged, by object type.", "object_type")
	m.enrolled = counter("crmflow_workflow_enrolled_total",
		"Records enrolled in workflows (by a change, or by enroll-existing), by object type.", "object_type")
	m.steps = counter("crmflow_workflow_steps_total",
		"Workflow steps run on a record, by outcome (done, unchanged, skipped, wait, failed).", "outcome")
	m.wakeups = counter("crmflow_worker_wakeups_total",
		"Drains a worker ran at once on a wake-up rather than from the queue, by outcome (drained, failed; "+
			"busy: a wake-up put back on the list for another worker, every slot of this one taken).", "outcome")
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// register registers c, or returns the collector already registered under the same description, so
// that several components of one process share their metrics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("worker: register metric: %w", err)
	}
	return c, nil
}

// No label value comes from tenant data, nor from a task's payload: every label comes from a fixed
// set, so that the number of series stays bounded however many tenants and custom types there are.

// objectTypeLabel is the object_type label of o: the standard type's name, or "custom" for every
// custom object type (whose names are tenant data).
func objectTypeLabel(o crm.ObjectType) string {
	if o.IsStandard() {
		return string(o)
	}
	return "custom"
}

// taskTypes are the task types the worker handles: the values of the type label.
var taskTypes = map[string]bool{
	TypeBulkDelete: true, TypeChangesDrain: true, TypeChangesSweep: true, TypeJobsSweep: true,
	TypeMailSend: true, TypeMailSweep: true, TypeTrashPurge: true, TypeTrashSweep: true,
	TypeWorkflowBackfill: true, TypeWorkflowResume: true, TypeWorkflowSteps: true, TypeWorkflowSweep: true,
}

// taskTypeLabel is the type label of a task of type typ: typ when the worker handles it, else
// "unknown" (a task someone else put in the queue).
func taskTypeLabel(typ string) string {
	if taskTypes[typ] {
		return typ
	}
	return "unknown"
}

// mailKindLabel is the kind label of an email of kind kind: the kinds crmflow sends, or "other".
func mailKindLabel(kind string) string {
	switch kind {
	case KindPermanentDeleteConfirmation, KindWorkflowLimitReached, actions.KindWorkflowNotification:
		return kind
	}
	return "other"
}
