package redisstore

// advanceBackfillScript records a backfill's position and progress for the runner that holds its
// lease, and only for it: a runner that lost the lease (stalled past it, and replaced) cannot move
// the backfill back.
// See lua/advance_backfill.lua for its KEYS and ARGV.
var advanceBackfillScript = newScript("advance_backfill")
