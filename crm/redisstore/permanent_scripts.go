package redisstore

// permanentDeleteScript removes contacts for good (privacy law), all in one step: each contact,
// live or in the bin, the activities (calls) associated with it, its associations and list
// memberships, its enrollments and workflow history, its entries in the live and the bin email
// indexes; it blocklists the salted hashes of their emails, writes the audit entries (ids and
// counts only) and the confirmation email to send.
// See lua/permanent_delete.lua for its KEYS and ARGV.
var permanentDeleteScript = newScript("helpers", "index", "permanent_delete")
