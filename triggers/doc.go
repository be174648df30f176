// Package triggers compiles and runs the expressions that decide which records a workflow enrolls,
// and which records a bulk delete selects. They are written in expr
// (github.com/expr-lang/expr) over a record's properties:
//
//	lifecyclestage != "customer" && daysSince(last_activity_date) > 730
//
// # Typing
//
// [Compile] type-checks an expression against the tenant's property schema of one object type: every
// property is a variable of its type (string and enumeration as string, number as float, bool, and
// datetime as time.Time). A property the record does not have reads as its type's zero value; use
// isSet("name") to tell. The expression must be boolean; an expression of unknown type is refused.
//
// # Helpers
//
// Besides expr's pure builtins (len, lower, upper, hasPrefix, ...), expressions may use:
//
//	now                      the evaluation time (injected, never the wall clock)
//	daysSince(t)             days from datetime t to now (fractional; a huge number when t is unset)
//	hoursSince(t)            hours from datetime t to now
//	isSet("name")            whether the record has a value for property name
//	id                       the record's id (string)
//
// expr's now(), repeat() and timezone() builtins are disabled: the first hides a clock, the second
// can exhaust memory, the third reads the system's zone database. Nothing with a side effect is ever
// available to an expression.
//
// # Limits
//
// A compiled program is bounded by a node limit (default [DefaultMaxNodes]; see [MaxNodes]) and by
// expr's run-time memory budget. A run-time error is returned by [Program.Match], never a panic;
// callers treat it as "no match".
package triggers
