// Package worker is the glue between the asynq queue and the CRM: task types, their payloads and
// handlers, the queues and their priorities, the cron scheduler that only enqueues, and the admin
// endpoints (health and Prometheus metrics) of the worker and scheduler processes.
//
// # Processes
//
// A worker process builds a [Worker] and runs it until its context is cancelled (cmd cancels it on
// SIGTERM); Run then stops fetching, lets the tasks in flight finish for up to
// [Config].ShutdownTimeout, hands the rest back to the queue, and closes its connections:
//
//	queue, _ := asynq.ParseRedisURI("redis://127.0.0.1:6379/0")
//	registry := prometheus.NewRegistry()
//	w, err := worker.New(store, queue, &worker.Config{
//		Concurrency: 20,
//		Logger:      logger,
//		Mail:        worker.MailConfig{Host: "smtp.example.com", From: "crm@example.com"},
//		Registerer:  registry,
//		Retention:   retention,
//	})
//	if err != nil { ... }
//	registry.MustRegister(worker.NewBinSizeCollector(ctx, store, nil))
//	go http.ListenAndServe(adminAddr, worker.AdminHandler(registry, w.Ping))
//	return w.Run(ctx) // a Worker that will never Run must be Closed instead
//
// A scheduler process builds a [Scheduler], whose cron entries only enqueue (a [TypeTrashSweep]
// every hour, a [TypeMailSweep] every 5 minutes, a [TypeJobsSweep] and a [TypeWorkflowSweep] every
// 30 seconds and a [TypeChangesSweep] every 2 seconds by default), and runs it the same way, with
// [Scheduler.Ping] as its readiness check. Producers such as the HTTP API enqueue through a
// [Client] (for example [Client.EnqueueMail] for the confirmation email that
// redisstore.Store.PermanentDeleteContact wrote). The `crmflow purge` command calls [Purge] directly:
//
//	counts, err := worker.Purge(ctx, store, worker.AllTenants, asOf, &worker.PurgeOpts{DryRun: dryRun, Retention: retention})
//
// # Task types
//
// Each task type has its own file holding its TypeXxx constant, payload, NewXxxTask constructor
// and handler:
//
//   - [TypeMailSend] ("mail:send", queue critical): sends an email over SMTP, or keeps it in the
//     tenant's outbox when no SMTP host is configured. A delivery ledger keyed by the email's
//     idempotency key keeps a retried task from sending twice. A workflow notification carries its
//     templates and its record's reference only; it is rendered at delivery, and dropped (audit
//     entry "mail_dropped") when the record was permanently deleted or purged. A tenant's outbox
//     keeps at most Config.OutboxMax emails: past it the oldest notifications are dropped and
//     counted. A pending email whose delivery failed for good (a 5xx, or its last retry) is
//     recorded as failed (crm.MailFailure, audit entry "mail_failed") and left to an operator.
//   - [TypeMailSweep] ("mail:sweep", queue default): re-enqueues the pending emails the store wrote
//     with the change that caused them (a permanent delete's confirmation) and that no task
//     delivered, for instance because the API crashed before enqueueing. A delivered pending email
//     is acknowledged in the store; a failed one is not enqueued again until an operator retries
//     it, and each sweep warns of those. It also removes the expired workflow notifications of each
//     tenant's outbox (Config.OutboxRetention).
//   - [TypeTrashSweep] ("trash:sweep", queue default): fans out one [TypeTrashPurge] per tenant,
//     each with a task id derived from (tenant, tick), so that two sweeps of the same tick enqueue
//     each tenant's purge once.
//   - [TypeTrashPurge] ("trash:purge", queue bulk): removes for good, in batches, the bin entries of
//     one tenant deleted at or before as_of minus the retention. The store re-checks each deletion
//     time inside its script, so a purge run twice, or by two workers, deletes nothing twice and
//     nothing early.
//   - [TypeChangesDrain] ("changes:drain", queue default): feeds one tenant's record changes to the
//     workflow engine. Every record write leaves a change mark in the same script as the write; the
//     drain reads them in batches, asks package engine for each active workflow's verdicts,
//     enrolls, suppresses or unenrolls in one script per workflow (redisstore.Store.EvaluateFlow),
//     enqueues one [TypeWorkflowSteps] per workflow for the records it enrolled, moves the next
//     step of the records waiting for a date property that was written (a delay until a date,
//     redisstore.Store.RescheduleSteps, one script per workflow and batch) and schedules it at the
//     new date, and acknowledges the marks. Its task id is derived from the tenant and a [DrainWindow], so a burst of writes
//     enqueues few drains ([Client.EnqueueChangesDrain]). The same call pushes the tenant on
//     [WakeKey], where every running worker waits: the one that pops it drains the tenant at once,
//     in process, rather than at its next poll of the queue.
//   - [TypeChangesSweep] ("changes:sweep", queue default): enqueues a drain for every tenant with
//     change marks waiting.
//   - [TypeWorkflowSteps] ("workflow:steps", queue default, or bulk for the enrollments of a
//     backfill and the steps the sweep enqueues again): runs one step of a workflow on a batch
//     of enrolled records, records each result and moves each record on once
//     (redisstore.Store.AdvanceSteps), continues at once with the steps due now, and schedules a task
//     at the due time of the others (a delay), in the same queue. A paused workflow runs nothing.
//     Its task id is derived from the tenant, the workflow, the revision, the step, the records
//     and, for a scheduled one, its time. A step after a delay until a date reads the date again
//     and does not run while it is still to come: it is scheduled at that date instead.
//   - [TypeWorkflowSweep] ("workflow:sweep", queue default): enqueues the steps that are overdue
//     (their task was lost or its worker killed, or their workflow was paused and is active again
//     and its workflow:resume was not enqueued),
//     and continues the backfills whose runner died.
//   - [TypeWorkflowBackfill] ("workflow:backfill", queue bulk): enroll-existing on activation,
//     in batches over the live records of the workflow's object type, one runner at a time (a
//     lease), with its cursor and progress in the store ([Client.EnqueueWorkflowBackfill]).
//   - [TypeWorkflowResume] ("workflow:resume", queue default): when a paused workflow is
//     activated again, enqueues at once the steps of its enrolled records that are due, as the
//     workflow:sweep would for that one workflow without its grace ([Client.EnqueueWorkflowResume]).
//
// The workflow tasks parse each stored revision once (an [engine.Cache] of [Config].ProgramCacheSize
// entries); notify_user's emails go through [TypeMailSend], like the permanent-delete confirmation.
//
// # Queues
//
// Tasks go to three queues: [QueueCritical] (emails), [QueueDefault] (live work: sweeps, drains of
// record changes, the steps of the enrollments they make) and [QueueBulk] (purges, bulk delete
// jobs, enroll-existing backfills and the steps of their enrollments, the steps the workflow sweep
// enqueues again), weighted 6, 3 and 1 by default (see [Config].Queues).
//
// One tenant's bulk work must not stall another tenant's live work, so it neither queues in front
// of live work (it is in its own queue) nor holds every worker slot: at most
// [Config].BulkConcurrency tasks of queue bulk run at once (one by default), and the other slots
// take only tasks of the other queues. A Worker runs two asynq
// servers for this, on the same connections: one of BulkConcurrency slots serving every queue,
// one of the rest serving every queue but bulk.
//
// # Metrics
//
// The worker registers, on [Config].Registerer:
//
//	crmflow_worker_tasks_processed_total{type}   every task handled, failed or not
//	crmflow_worker_tasks_failed_total{type}      tasks whose handler returned an error
//	crmflow_worker_task_duration_seconds{type}   handler run time
//	crmflow_trash_purged_records_total{object_type}
//	crmflow_bulk_deleted_records_total{object_type}
//	crmflow_protection_rule_failures_total{object_type}  records a rule protected because it failed on them
//	crmflow_mail_sent_total{kind}, crmflow_mail_failed_total{kind}, crmflow_mail_outbox_total{kind},
//	crmflow_mail_dropped_total{kind}, crmflow_mail_pending_failed_total{kind},
//	crmflow_mail_outbox_dropped_total
//	crmflow_changes_drained_total{object_type}
//	crmflow_workflow_enrolled_total{object_type}
//	crmflow_workflow_steps_total{outcome}
//
// and [NewBinSizeCollector] adds crmflow_trash_bin_records{object_type} and
// crmflow_trash_bin_sample_ok, sampled at scrape time, at most once per BinSizeConfig.MaxAge (10s)
// however often and however many at once the scrapes come.
//
// No label value comes from tenant data, so the number of series is bounded however many tenants
// and custom types there are: object_type is a standard type's name or "custom", type is a task
// type the worker handles or "unknown", and kind is a kind of email crmflow sends or "other".
package worker
