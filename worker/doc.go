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
// every hour and a [TypeMailSweep] every 5 minutes by default), and runs it the same way, with
// [Scheduler.Ping] as its readiness check. Producers such as the HTTP API enqueue through a
// [Client] (for example [Client.EnqueueMail] for the confirmation email that
// crm.RedisStore.PermanentDeleteContact wrote). The `crmflow purge` command calls [Purge] directly:
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
//     idempotency key keeps a retried task from sending twice.
//   - [TypeMailSweep] ("mail:sweep", queue default): re-enqueues the pending emails the store wrote
//     with the change that caused them (a permanent delete's confirmation) and that no task
//     delivered, for instance because the API crashed before enqueueing. A delivered pending email
//     is acknowledged in the store.
//   - [TypeTrashSweep] ("trash:sweep", queue default): fans out one [TypeTrashPurge] per tenant,
//     each with a task id derived from (tenant, tick), so that two sweeps of the same tick enqueue
//     each tenant's purge once.
//   - [TypeTrashPurge] ("trash:purge", queue bulk): removes for good, in batches, the bin entries of
//     one tenant deleted at or before as_of minus the retention. The store re-checks each deletion
//     time inside its script, so a purge run twice, or by two workers, deletes nothing twice and
//     nothing early.
//
// # Queues
//
// Tasks go to three queues: [QueueCritical] (emails), [QueueDefault] and [QueueBulk] (purges, bulk
// jobs), weighted 6, 3 and 1 by default (see [Config].Queues).
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
//	crmflow_mail_sent_total{kind}, crmflow_mail_failed_total{kind}, crmflow_mail_outbox_total{kind}
//
// and [NewBinSizeCollector] adds crmflow_trash_bin_records{object_type} and
// crmflow_trash_bin_sample_ok, sampled at scrape time.
package worker
