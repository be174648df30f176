// Package engine holds the workflow engine's decisions: given the compiled workflows of an object
// type, a batch of records with the events that changed them, and the time, which record enrolls,
// is suppressed, is unenrolled or is left alone; and, once a step ran, what the store records and
// when the next step is due. It does no I/O of its own: the worker reads the store, asks the
// engine, and writes the engine's answers back through the store's scripts, which re-check every
// rule atomically (see redisstore.Store.EvaluateFlow and redisstore.Store.AdvanceSteps).
//
//	wf, err := cache.Workflow(ctx, store, tenant, revision) // parsed once per (tenant, workflow, revision)
//	verdicts := engine.Decide(wf, changes, lists, now)
//	enrolled, err := store.EvaluateFlow(ctx, tenant, ref, verdicts)
//
// # Verdicts
//
// [Decide] gives each record one [crm.Verdict] for one workflow, by these rules, in order:
//
//   - The record was deleted or permanently deleted (events d or p): [crm.VerdictDeleted]. It is
//     unenrolled at once and only a manual enrollment brings it back (SPEC S8). A record that the
//     workflow's own delete_contact step moved to the bin gets no verdict: that step ends its
//     enrollment, with the action in its history.
//   - The record is not live (and no deletion was seen yet): no verdict; the deletion's own change
//     mark follows.
//   - Only restored (r without c or u): no verdict. A restored record re-enters a workflow only by
//     manual enrollment (SPEC S8).
//   - None of its events is one the workflow listens to (created, updated): no verdict, unless a
//     create or an update left it suppressed (a member of a suppression list, or matching the
//     suppression trigger): [crm.VerdictSuppressedNoMatch], which unenrolls it if it is enrolled
//     and records nothing otherwise (SPEC S19); or, in a workflow that unenrolls records that stop
//     matching, one that left it not matching the trigger: [crm.VerdictUnmatch], which unenrolls
//     it if it is enrolled (a trigger that fails at run time gives no verdict here). Records
//     looked at by enroll-existing ([Change].Existing) are evaluated whatever the events.
//   - It is a member of a suppression list, or matches the suppression trigger:
//     [crm.VerdictSuppressed] (never enrolled; unenrolled if enrolled, SPEC S19).
//   - It matches the enrollment trigger: [crm.VerdictMatch].
//   - It does not: [crm.VerdictUnmatch] when the workflow unenrolls records that stop matching,
//     else [crm.VerdictNoMatch].
//   - A trigger fails at run time: [crm.VerdictError] with the error's text (property values
//     replaced by their names). It counts as no match, is kept in the record's history, and never
//     stops the batch.
//
// # Steps
//
// [StepResult] turns one run of an action into the [crm.StepResult] the store records; an error
// wrapping actions.ErrCannotRun ends the enrollment as failed, any other error is for the caller to
// retry. [NextRuns] groups the records the store advanced by when their next step is due: now (the
// caller runs it at once) or later (the caller schedules it).
//
// # Programs
//
// [Cache] parses each stored revision of a workflow once, against the tenant's live property
// schema, and keeps the result in a bounded LRU; it is safe for concurrent use.
package engine
