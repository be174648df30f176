package redisstore

// searchScript runs a search plan (planSearch) over the search indexes of one object type, in one
// step, so that it sees the records as one moment left them and returns only live ones.
// See lua/search.lua for its KEYS and ARGV.
var searchScript = newScript[searchCall]("helpers", "index", "search").quiet().readOnly()

// searchCall is a call of searchScript (lua/search.lua).
type searchCall struct {
	Live string
	// Indexes are the index keys the plan names (searchPlan.indexKeys).
	Indexes []string

	Plan string // JSON (searchPlan)
}

func (c searchCall) keys() []string { return append([]string{c.Live}, c.Indexes...) }
func (c searchCall) argv() []any    { return []any{c.Plan} }
