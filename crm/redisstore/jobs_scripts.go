package redisstore

// stageLiveScript adds to a job's staged selection those of the ids that are live records now and,
// for a list's members, members of the list now.
// See lua/stage_live.lua for its KEYS and ARGV.
var stageLiveScript = newScript("stage_live")

// sealDeleteJobScript turns a staged selection (the records live when they were staged, by
// stageLiveScript) into a confirmed bulk delete job with a new id, or refuses it and keeps nothing,
// the job counter included.
// See lua/seal_delete_job.lua for its KEYS and ARGV.
var sealDeleteJobScript = newScript("seal_delete_job")

// leaseScript takes or renews a lease.
// See lua/lease.lua for its KEYS and ARGV.
var leaseScript = newScript("lease")

// releaseScript gives a lease up if the caller holds it.
// See lua/release.lua for its KEYS and ARGV.
var releaseScript = newScript("release")
