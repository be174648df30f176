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
// datetime as time.Time; a date, a day without a time, as the time.Time of its midnight UTC, so
// that date("2027-05-01") and daysSince work on it as on a datetime). A property the record does
// not have reads as its type's zero value; use isSet("name") to tell. The expression must be
// boolean; an expression of unknown type is refused.
//
// [Compile] also refuses what type-checks but can never do what it says against the schema: isSet
// of anything but the quoted name of a property of the object type, and an enumeration compared
// (==, !=, in, not in, either way round) with a literal that is not one of its options' values,
// with a "did you mean" that shows the option's label. contains, startsWith, endsWith and matches
// are operators (email contains "@acme"); written as functions they are refused with the operator
// form to write.
//
// # Helpers
//
// Besides expr's pure builtins (len, lower, upper, hasPrefix, ...), expressions may use:
//
//	now                      the evaluation time (injected, never the wall clock)
//	daysSince(t)             days from datetime or date t to now (fractional; a huge number when t is unset)
//	hoursSince(t)            hours from datetime or date t to now
//	isSet("name")            whether the record has a value for property name
//	id                       the record's id (string)
//
// # Sandbox
//
// Nothing an expression can reach does I/O, reads the environment or the system, sleeps or changes
// state. [Compile] refuses, with the position and a message:
//
//   - expr's now(), repeat() and timezone(), and date() with a time zone: the first hides a clock,
//     the second builds strings too large to evaluate, the others read the system's zone
//     database (date(value) and date(value, layout) parse in UTC);
//   - calling a method (now.Local()), and taking one (now.Local, now["Local"]): dates and
//     durations have no members in a trigger;
//   - calling anything but a helper or a builtin by its name (a variable, an element, #);
//   - $env as a whole or at a computed name ($env.email and $env["email"] are email), and every
//     other name starting with $;
//   - a matches whose pattern is not a literal, or whose patterns expand past [MaxPatternSize];
//   - a builtin that a later version of expr adds, until it is classified.
//
// # Limits
//
// The source is at most [MaxSourceLen] bytes, checked before it is parsed: expr's parser, checker
// and compiler recurse once per level of nesting, and a Go stack overflow cannot be recovered.
// A compiled program has at most [DefaultMaxNodes] nodes (see [MaxNodes]).
//
// Each evaluation has a budget, [EvalBudget], of about one unit per byte of a string read, copied
// or compared and per element of a list walked or built, and of a loop's step the size of its
// body: every builtin, operator and loop whose cost depends on its operands' sizes charges it
// before it runs (replace, join, string and toJSON charge what they would build). Lists built by
// ranges, literals, map and filter count besides against expr's memory budget. An evaluation that
// needs more stops with an error (wrapping [ErrBudgetExceeded]), so a huge record or a runaway
// expression costs a bounded amount of memory and time. An expression that does nothing costly
// (no loop, no metered builtin, comparisons with short literals) runs unmetered.
//
// A run-time error is returned by [Program.Match], never a panic; callers treat it as "no match".
// A message over 512 bytes (one that quotes a long value of the record) is replaced by one that
// gives its length, and int(), float() and duration() refuse strings over 256 bytes without
// quoting them.
package triggers
