package redisstore

// evaluateFlowScript applies one workflow's verdicts on a batch of records: it enrolls, unenrolls
// or records a suppression, re-checking every condition here so that a retried batch changes
// nothing more.
// See lua/evaluate_flow.lua for its KEYS and ARGV.
var evaluateFlowScript = newScript("history", "evaluate_flow")

// advanceStepsScript records the results of step ARGV[3] of a workflow for a batch of records and
// moves each to its next step, once: a record not at that step (already advanced by an earlier run)
// is left alone.
// See lua/advance_steps.lua for its KEYS and ARGV.
var advanceStepsScript = newScript("history", "advance_steps")

// moveEnrollmentsScript moves the records enrolled at an older revision of a workflow, waiting at a
// step, on to its active revision, where they continue at the same step; a record whose step the
// active revision does not have completes there.
// See lua/move_enrollments.lua for its KEYS and ARGV.
var moveEnrollmentsScript = newScript("history", "move_enrollments")

// ackChangesScript forgets the drained states of changed records: those numbered up to the last one
// drained.
// See lua/ack_changes.lua for its KEYS and ARGV.
var ackChangesScript = newScript("ack_changes")
