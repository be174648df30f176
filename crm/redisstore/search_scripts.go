package redisstore

// searchScript runs a search plan (planSearch) over the search indexes of one object type and
// returns only live records: in one step when its work fits in one call (Config.SearchCallWork),
// else in slices of at most that work, each a call of its own (Store.searchSlices).
// See lua/search.lua for its KEYS and ARGV.
var searchScript = newScript[searchCall]("helpers", "index", "search").quiet().readOnly()

// searchCall is a call of searchScript (lua/search.lua).
type searchCall struct {
	Live string
	// Indexes are the index keys the plan names (searchPlan.indexKeys).
	Indexes []string

	Plan string // JSON (searchPlan)
	Step string // JSON (searchStep); "" for the first call
}

func (c searchCall) keys() []string { return append([]string{c.Live}, c.Indexes...) }
func (c searchCall) argv() []any {
	if c.Step == "" {
		return []any{c.Plan}
	}
	return []any{c.Plan, c.Step}
}
