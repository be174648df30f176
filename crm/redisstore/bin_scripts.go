package redisstore

// archiveScript moves live records into their type's bin.
// See lua/archive.lua for its KEYS and ARGV.
var archiveScript = newScript("helpers", "index", "history", "archive")

// restoreScript brings records back from their type's bin.
// See lua/restore.lua for its KEYS and ARGV.
var restoreScript = newScript("helpers", "index", "restore")

// purgeScript removes for good the bin entries of a type deleted at or before a horizon.
// See lua/purge.lua for its KEYS and ARGV.
var purgeScript = newScript("helpers", "purge")
