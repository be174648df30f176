package redisstore

// searchScript runs a search plan (planSearch) over the search indexes of one object type, in one
// step, so that it sees the records as one moment left them and returns only live ones.
// See lua/search.lua for its KEYS and ARGV.
var searchScript = newScript("helpers", "index", "search")
