package crm

// SearchOperator is the operator of a search filter, as HubSpot names it.
type SearchOperator string

// The search operators.
const (
	OpEQ             SearchOperator = "EQ"
	OpNEQ            SearchOperator = "NEQ"
	OpLT             SearchOperator = "LT"
	OpLTE            SearchOperator = "LTE"
	OpGT             SearchOperator = "GT"
	OpGTE            SearchOperator = "GTE"
	OpBetween        SearchOperator = "BETWEEN"
	OpIn             SearchOperator = "IN"
	OpNotIn          SearchOperator = "NOT_IN"
	OpHasProperty    SearchOperator = "HAS_PROPERTY"
	OpNotHasProperty SearchOperator = "NOT_HAS_PROPERTY"
	OpContainsToken  SearchOperator = "CONTAINS_TOKEN"
)

// SearchOperators lists the operators in the order error messages name them.
var SearchOperators = []SearchOperator{OpEQ, OpNEQ, OpLT, OpLTE, OpGT, OpGTE, OpBetween, OpIn, OpNotIn,
	OpHasProperty, OpNotHasProperty, OpContainsToken}

// The limits of a search, HubSpot's.
const (
	// MaxSearchGroups is the most filter groups a search may have.
	MaxSearchGroups = 5
	// MaxSearchGroupFilters is the most filters one group may have.
	MaxSearchGroupFilters = 10
	// MaxSearchFilters is the most filters a search may have in all.
	MaxSearchFilters = 25
	// MaxSearchLimit is the largest page.
	MaxSearchLimit = 200
	// DefaultSearchLimit is the page size when none is given.
	DefaultSearchLimit = 10
	// MaxSearchResults is how far paging reaches: the results past the first 10,000 cannot be read.
	MaxSearchResults = 10000
	// MaxSearchValues is the most values an IN or NOT_IN filter may list.
	MaxSearchValues = 100
	// DefaultSearchWorkBudget is the default of Config.SearchWorkBudget: the most records a search reads from its indexes before checking the rest
	// of their filters (S27): a filter group is narrowed by its most selective indexed filter, and
	// when even that matches more records, the search is refused with a *ValidationError saying to
	// narrow it. A search that only filters and sorts on one indexed property reads no more than its page.
	DefaultSearchWorkBudget = 50000
)

// SearchFilter is one condition of a search: a property, an operator and its value(s), as text.
type SearchFilter struct {
	PropertyName string
	Operator     SearchOperator
	// Value is the value of EQ, NEQ, LT, LTE, GT, GTE, CONTAINS_TOKEN and the low end of BETWEEN.
	Value string
	// HasValue is true when the request gave Value (an empty value differs from none).
	HasValue bool
	// HighValue is the high end of BETWEEN.
	HighValue string
	// HasHighValue is true when the request gave HighValue.
	HasHighValue bool
	// Values are the values of IN and NOT_IN.
	Values []string
}

// SearchSort orders the results by one property.
type SearchSort struct {
	PropertyName string
	Descending   bool
}

// SearchParams is a search: the OR of its filter groups, each the AND of its filters, and the text
// query (AND with the groups); results sorted by Sorts (by id ascending when empty), paged by
// After (an offset) and Limit.
type SearchParams struct {
	FilterGroups [][]SearchFilter
	// Query finds the records whose text-indexed properties (TextIndexed) start with it, ignoring case.
	Query string
	// Sorts holds at most one sort.
	Sorts []SearchSort
	// Properties are the properties returned; empty means all.
	Properties []string
	// Limit is the page size: 1 to MaxSearchLimit, DefaultSearchLimit when 0.
	Limit int
	// After is the offset to start from (the After of the previous page).
	After int
}

// SearchResult is one page of a search.
type SearchResult struct {
	// Total is the number of records that match.
	Total int
	// Records are the page's records.
	Records []Record
	// After is the offset of the next page, or "" when there is none (the end, or MaxSearchResults).
	After string
}
