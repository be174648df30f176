package triggers

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/crmflow/crmflow/crm"
)

// EvalBudget bounds the work of one evaluation of an expression on one record, in units of about
// one byte of a string read, copied or compared, or one element of a list or map walked, built or
// sorted; every step of a loop (all, any, filter, map, reduce, ...) costs its body's size. An
// evaluation that needs more fails with an error wrapping [ErrBudgetExceeded]; the record then
// counts as not matching. Lists built by ranges, literals, map and filter are bounded besides by
// expr's memory budget (conf.DefaultMemoryBudget elements).
const EvalBudget = 16 << 20

// ErrBudgetExceeded is wrapped by the run-time error of an evaluation that needs more work than
// [EvalBudget] allows.
var ErrBudgetExceeded = errors.New("triggers: evaluation budget exceeded")

var errNoMeter = errors.New("triggers: the expression ran without its meter: run it with Program.Match or Program.Run")

// maxRunMessage bounds the message of a run-time error. Longer messages quote values of the record
// (strconv's errors quote the whole string), and are replaced.
const maxRunMessage = 512

// maxDepth bounds how deeply nested a value can be for the operations that walk it (string, toJSON,
// ==, in, ...).
const maxDepth = 64

// maxNumberLen bounds the strings int(), float() and duration() parse.
const maxNumberLen = 256

// cheapLen is the length up to which a literal string is cheap enough to compare without metering.
const cheapLen = 64

// meterVar names the evaluation's meter in the environment. No property's name starts with "$",
// and an expression that names it is refused.
const meterVar = "$meter"

// meter counts the work of one evaluation.
type meter struct{ left int64 }

func newMeter() *meter { return &meter{left: EvalBudget} }

var errBudget = fmt.Errorf("%w: the trigger reads, builds or compares more than %d bytes of values (or runs its loops that many steps) on this record",
	ErrBudgetExceeded, EvalBudget)

// charge takes n units from the budget.
func (m *meter) charge(n int64) error {
	if m == nil {
		return errNoMeter
	}
	if n < 0 || n > m.left {
		m.left = -1
		return errBudget
	}
	m.left -= n
	return nil
}

// weights are what walking a value costs: per byte of each string in it, and per element.
type weights struct{ perByte, perItem int64 }

var (
	scanning   = weights{perByte: 1, perItem: 1}  // comparing, hashing, searching
	copying    = weights{perByte: 0, perItem: 16} // building a list of the elements
	formatting = weights{perByte: 6, perItem: 96} // string() and toJSON(): escapes, numbers, indentation
)

// weigh charges m for walking v with weights w, and fails when v nests deeper than maxDepth. It
// charges as it goes, so walking a huge value stops when the budget runs out.
func (m *meter) weigh(v any, w weights, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("a value nests more than %d levels deep", maxDepth)
	}
	switch v := v.(type) {
	case string:
		return m.charge(w.perItem + w.perByte*int64(len(v)))
	case []byte:
		return m.charge(w.perItem + w.perByte*int64(len(v)))
	case nil, bool, int, float64, time.Time, time.Duration:
		return m.charge(w.perItem)
	case []int:
		return m.charge(w.perItem * int64(len(v)+1))
	case []float64:
		return m.charge(w.perItem * int64(len(v)+1))
	case []string:
		if err := m.charge(w.perItem); err != nil {
			return err
		}
		for _, s := range v {
			if err := m.charge(w.perItem + w.perByte*int64(len(s))); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := m.charge(w.perItem); err != nil {
			return err
		}
		for _, e := range v {
			if err := m.weigh(e, w, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if err := m.charge(w.perItem); err != nil {
			return err
		}
		for k, e := range v {
			if err := m.charge(w.perByte * int64(len(k))); err != nil {
				return err
			}
			if err := m.weigh(e, w, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if err := m.charge(w.perItem); err != nil {
			return err
		}
		for i := range rv.Len() {
			if err := m.weigh(rv.Index(i).Interface(), w, depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if err := m.charge(w.perItem); err != nil {
			return err
		}
		it := rv.MapRange()
		for it.Next() {
			if err := m.weigh(it.Key().Interface(), w, depth+1); err != nil {
				return err
			}
			if err := m.weigh(it.Value().Interface(), w, depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		return m.charge(w.perItem + w.perByte*int64(rv.Len()))
	}
	return m.charge(w.perItem)
}

// length is the number of elements of a list or map, the length of a string, and 1 for anything
// else.
func length(v any) int64 {
	switch v := v.(type) {
	case string:
		return int64(len(v))
	case []any:
		return int64(len(v))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return int64(rv.Len())
	}
	return 1
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// meterOf is the meter an evaluation passes as the first argument of every metered function.
func meterOf(args []any) (*meter, error) {
	if len(args) == 0 {
		return nil, errNoMeter
	}
	m, _ := args[0].(*meter)
	if m == nil {
		return nil, errNoMeter
	}
	return m, nil
}

// Expressions reach expr's builtins in four ways. Builtins not named here are refused at compile
// time, so a builtin a later version of expr adds is refused until it is classified.
var (
	// refusedBuiltins have a side effect or read the system; the message says why.
	refusedBuiltins = map[string]string{
		"now":      "now() reads the wall clock: use the variable now, the time of the evaluation",
		"repeat":   "repeat() builds strings too large to evaluate",
		"timezone": "timezone() reads the system's time zone database: a trigger evaluates in UTC",
	}
	// freeBuiltins cost the same whatever their arguments (get's key is metered like an index).
	freeBuiltins = map[string]bool{
		"len": true, "type": true, "abs": true, "ceil": true, "floor": true, "round": true,
		"first": true, "last": true, "get": true, "take": true,
		"bitand": true, "bitor": true, "bitxor": true, "bitnand": true, "bitnot": true,
		"bitshl": true, "bitshr": true, "bitushr": true,
	}
	// predicateBuiltins loop over a list: each step of the loop is metered.
	predicateBuiltins = map[string]bool{
		"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
		"find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
		"count": true, "sum": true, "groupBy": true, "sortBy": true, "reduce": true,
	}
	// meteredBuiltins charge their arguments (and what they build) before they run.
	meteredBuiltins = map[string]func(m *meter, args []any) error{
		"trim": scan, "trimPrefix": scan, "trimSuffix": scan, "indexOf": scan, "lastIndexOf": scan,
		"hasPrefix": scan, "hasSuffix": scan, "int": scan, "float": scan, "duration": scan, "date": scan,
		"upper": per(3), "lower": per(3), "toBase64": per(3), "fromBase64": per(3), // read, and build up to twice as much
		"fromJSON": per(16), // Go's maps and slices of the decoded value
		"split":    costSplit, "splitAfter": costSplit,
		"replace": costReplace,
		"join":    costJoin,
		"string":  format, "toJSON": format,
		"max": elements, "min": elements, "mean": elements, "median": elements,
		"concat": elements, "flatten": elements, "reverse": elements,
		"keys": per(16), "values": per(16), "toPairs": per(64),
		"fromPairs": func(m *meter, args []any) error { return m.weigh(args[0], weights{perByte: 1, perItem: 64}, 0) },
		"uniq": func(m *meter, args []any) error {
			// uniq compares each element with every one kept: quadratic.
			n := length(args[0])
			if n > 0 && n > math.MaxInt64/n {
				return m.charge(-1)
			}
			if err := m.charge(n * n); err != nil {
				return err
			}
			return m.weigh(args[0], scanning, 0)
		},
		"sort": func(m *meter, args []any) error {
			// Sorting compares each element about log2(n) times.
			logn := int64(bits.Len64(uint64(length(args[0]))) + 1)
			return m.weigh(args[0], weights{perByte: logn, perItem: 16 + logn}, 0)
		},
	}
)

// per charges k per byte of a string, or per element of a list or map, of the first argument.
func per(k int64) func(m *meter, args []any) error {
	return func(m *meter, args []any) error { return m.charge(k * length(args[0])) }
}

func scan(m *meter, args []any) error {
	for _, a := range args {
		if err := m.weigh(a, scanning, 0); err != nil {
			return err
		}
	}
	return nil
}

func elements(m *meter, args []any) error {
	for _, a := range args {
		if err := m.weigh(a, copying, 0); err != nil {
			return err
		}
	}
	return nil
}

func format(m *meter, args []any) error {
	for _, a := range args {
		if err := m.weigh(a, formatting, 0); err != nil {
			return err
		}
	}
	return nil
}

// costSplit charges the string and the list of its parts.
func costSplit(m *meter, args []any) error {
	s := str(args[0])
	if err := m.charge(int64(len(s))); err != nil {
		return err
	}
	sep := ""
	if len(args) > 1 {
		sep = str(args[1])
	}
	n := int64(strings.Count(s, sep) + 1)
	if len(args) > 2 {
		if limit, ok := args[2].(int); ok && limit >= 0 && int64(limit) < n {
			n = int64(limit)
		}
	}
	return m.charge(16 * n)
}

// costReplace charges the string and what replace builds, before it is built: replacing "" (every
// position) by a long string multiplies the lengths.
func costReplace(m *meter, args []any) error {
	if len(args) < 3 {
		return nil // expr reports the arguments
	}
	s, old, repl := str(args[0]), str(args[1]), str(args[2])
	if err := m.charge(int64(len(s))); err != nil {
		return err
	}
	n := int64(strings.Count(s, old))
	if len(args) > 3 {
		if limit, ok := args[3].(int); ok && limit >= 0 && int64(limit) < n {
			n = int64(limit)
		}
	}
	grow := int64(len(repl)) - int64(len(old))
	if grow > 0 && n > 0 && n > (math.MaxInt64-int64(len(s)))/grow {
		return m.charge(-1)
	}
	return m.charge(int64(len(s)) + n*max(grow, 0))
}

// costJoin charges what join builds, before it is built.
func costJoin(m *meter, args []any) error {
	sep := int64(0)
	if len(args) > 1 {
		sep = int64(len(str(args[1])))
	}
	n := length(args[0])
	if n > 0 && sep > (math.MaxInt64/2)/n {
		return m.charge(-1)
	}
	if err := m.charge(n * (sep + 1)); err != nil {
		return err
	}
	return m.weigh(args[0], weights{perByte: 1, perItem: 1}, 0)
}

// dateLayouts are the layouts date(value) tries, as expr's date does.
var dateLayouts = []string{
	"2006-01-02",
	"15:04:05",
	"2006-01-02 15:04:05",
	time.RFC3339,
	time.RFC822,
	time.RFC850,
	time.RFC1123,
}

// date is expr's date(value[, layout]) in UTC: it never reads the system's time zone (expr's
// resolves a zone's abbreviation in the local zone, and loads the zone database for date's third
// argument, which the sandbox refuses).
func date(value string, layout ...string) (time.Time, error) {
	if len(layout) > 0 {
		return time.ParseInLocation(layout[0], value, time.UTC)
	}
	for _, l := range dateLayouts {
		if t, err := time.ParseInLocation(l, value, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("invalid date: use the layout 2006-01-02, 2006-01-02 15:04:05 or RFC 3339, or give a layout")
}

var (
	boolType     = reflect.TypeOf(true)
	meterType    = reflect.TypeOf((*meter)(nil))
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(time.Duration(0))
)

// sandboxFunctions are the functions the rewritten expression calls: metered builtins ("$" and the
// builtin's name), the meter of loops ($tick) and of operands ($cost). Each takes the evaluation's
// meter first.
func sandboxFunctions() expr.Option {
	return func(c *conf.Config) {
		for name, cost := range meteredBuiltins {
			c.Functions["$"+name] = meteredBuiltin(name, cost)
		}
		// $tick(meter, n) charges one step of a loop whose body has n nodes.
		c.Functions["$tick"] = &builtin.Function{
			Name: "$tick",
			Func: func(args ...any) (any, error) {
				m, err := meterOf(args)
				if err != nil {
					return nil, err
				}
				n, _ := args[1].(int)
				return true, m.charge(int64(n))
			},
			Types: []reflect.Type{reflect.TypeOf(func(*meter, int) bool { return true })},
		}
		// $cost(meter, v, w) charges w per byte of v's strings and per element, and returns v.
		c.Functions["$cost"] = &builtin.Function{
			Name: "$cost",
			Func: func(args ...any) (any, error) {
				m, err := meterOf(args)
				if err != nil {
					return nil, err
				}
				w, _ := args[2].(int)
				if err := m.weigh(args[1], weights{perByte: int64(w), perItem: int64(w)}, 0); err != nil {
					return nil, err
				}
				return args[1], nil
			},
			Validate: func(args []reflect.Type) (reflect.Type, error) {
				if len(args) != 3 || args[0] != meterType {
					return nil, errors.New("$cost takes a meter, a value and a weight")
				}
				return args[1], nil
			},
		}
	}
}

// meteredBuiltin is builtin name behind a meter: it charges cost(args), then runs the builtin (or,
// for date, its UTC twin). Its types are the builtin's, after the meter.
func meteredBuiltin(name string, cost func(m *meter, args []any) error) *builtin.Function {
	orig := builtin.Builtins[builtin.Index[name]]
	run := func(args []any) (any, error) {
		switch {
		case name == "int" || name == "float" || name == "duration":
			// No number or duration is this long; strconv's and time's errors would quote it whole.
			if s, ok := args[0].(string); ok && len(s) > maxNumberLen {
				return nil, fmt.Errorf("invalid operation: %s() of a string of %d bytes", name, len(s))
			}
		case name == "date":
			layout := make([]string, 0, 1)
			if len(args) > 1 {
				layout = append(layout, str(args[1]))
			}
			return date(str(args[0]), layout...)
		}
		switch {
		case orig.Fast != nil && len(args) == 1:
			return orig.Fast(args[0]), nil
		case orig.Func != nil:
			return orig.Func(args...)
		case orig.Safe != nil:
			out, _, err := orig.Safe(args...)
			return out, err
		}
		return nil, fmt.Errorf("builtin %s cannot be called", name)
	}
	f := &builtin.Function{
		// The builtin's own name, for the checker's messages ("not enough arguments to call lower").
		Name: name,
		Func: func(args ...any) (any, error) {
			m, err := meterOf(args)
			if err != nil {
				return nil, err
			}
			if len(args) < 2 {
				return nil, fmt.Errorf("not enough arguments to call %s", name)
			}
			if err := cost(m, args[1:]); err != nil {
				return nil, err
			}
			return run(args[1:])
		},
	}
	switch {
	case name == "date":
		f.Types = []reflect.Type{
			reflect.TypeOf(func(*meter, string) time.Time { return time.Time{} }),
			reflect.TypeOf(func(*meter, string, string) time.Time { return time.Time{} }),
		}
	case orig.Validate != nil:
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 || args[0] != meterType {
				return nil, fmt.Errorf("%s takes the meter first", name)
			}
			return orig.Validate(args[1:])
		}
	case len(orig.Types) > 0:
		for _, t := range orig.Types {
			in := []reflect.Type{meterType}
			for i := range t.NumIn() {
				in = append(in, t.In(i))
			}
			out := make([]reflect.Type, t.NumOut())
			for i := range out {
				out[i] = t.Out(i)
			}
			f.Types = append(f.Types, reflect.FuncOf(in, out, t.IsVariadic()))
		}
	}
	return f
}

// refusal is a construct a trigger may not use, where it is.
type refusal struct {
	loc file.Location
	msg string
}

// refuse finds, in the parsed expression, what a trigger may not use: a method call, a call of a
// variable or of anything but a name, $env but for $env.name (and other names starting with $),
// expr's builtins with a side effect (now, repeat, timezone) or not classified, date() with a time
// zone, and a matches whose pattern is not a literal or is too complex. It returns the first one
// in the source, or nil.
func refuse(node ast.Node) *refusal {
	var first *refusal
	add := func(n ast.Node, format string, args ...any) {
		if r := (&refusal{loc: n.Location(), msg: fmt.Sprintf(format, args...)}); first == nil || r.loc.From < first.loc.From {
			first = r
		}
	}
	// $env.name and $env["name"] read a property as its name does; $env itself (its names, a name
	// computed at run time) is not available.
	envRead := map[ast.Node]bool{}
	// Variables (let) may hold any value, a method's among them: they can never be called.
	variables := map[string]bool{}
	patterns := 0 // the size of the patterns of matches so far
	ast.Walk(&node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.MemberNode:
			id, isID := n.Node.(*ast.IdentifierNode)
			name, isName := n.Property.(*ast.StringNode)
			if isID && id.Value == "$env" && isName && !strings.HasPrefix(name.Value, "$") {
				envRead[id] = true
			}
		case *ast.VariableDeclaratorNode:
			variables[n.Name] = true
		}
	}))
	ast.Walk(&node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			switch {
			case n.Value == "$env" && envRead[n]:
			case n.Value == "$env":
				add(n, "$env can only be read at a property's name written out, as in $env.email or $env[\"email\"]: $env as a whole, and names computed at run time, are not available in a trigger")
			case strings.HasPrefix(n.Value, "$"):
				add(n, "names starting with $ are reserved: %s is not available in a trigger", n.Value)
			}
		case *ast.VariableDeclaratorNode:
			switch {
			case strings.HasPrefix(n.Name, "$"):
				add(n, "names starting with $ are reserved: name the variable otherwise than %s", n.Name)
			case helperNames[n.Name]:
				add(n, "%s is a helper: name the variable otherwise", n.Name)
			}
		case *ast.CallNode:
			switch c := n.Callee.(type) {
			case *ast.IdentifierNode:
				// One of the helpers, or expr reports that the name is unknown or not a function.
				if variables[c.Value] && !helperNames[c.Value] {
					add(n, "%s is a variable: only the helpers daysSince, hoursSince and isSet and expr's builtins can be called in a trigger", c.Value)
				}
			case *ast.MemberNode:
				if _, ok := c.Property.(*ast.StringNode); !ok {
					add(n, "only a function's name can be called in a trigger (the helpers daysSince, hoursSince and isSet, and expr's builtins): %s is not one", c)
					return
				}
				add(n, "calling a method (%s) is not allowed in a trigger: only the helpers daysSince, hoursSince and isSet and expr's builtins (lower, hasPrefix, ...) can be called", memberName(c))
			default:
				add(n, "only a function's name can be called in a trigger (the helpers daysSince, hoursSince and isSet, and expr's builtins): %s is not one", c)
			}
		case *ast.BuiltinNode:
			if why, ok := refusedBuiltins[n.Name]; ok {
				add(n, "%s is not available in a trigger: %s", n.Name, why)
				return
			}
			if !freeBuiltins[n.Name] && !predicateBuiltins[n.Name] && meteredBuiltins[n.Name] == nil {
				add(n, "%s() is not available in a trigger", n.Name)
				return
			}
			if n.Name == "date" && len(n.Arguments) > 2 {
				add(n, "date() takes no time zone in a trigger: triggers evaluate in UTC; write date(value) or date(value, layout)")
			}
		case *ast.BinaryNode:
			if n.Operator == "matches" {
				pattern, ok := n.Right.(*ast.StringNode)
				if !ok {
					add(n.Right, "the pattern of matches must be a literal string, such as email matches \"@example[.]com$\"")
					return
				}
				if patterns += regexpSize(pattern.Value); patterns > MaxPatternSize {
					add(n.Right, "the patterns of matches are too complex: they expand to more than %d steps together (use fewer and smaller repetitions {n})", MaxPatternSize)
				}
			}
		}
	}))
	return first
}

func memberName(m *ast.MemberNode) string {
	if s, ok := m.Property.(*ast.StringNode); ok {
		return s.Value
	}
	return m.Property.String()
}

// refuseTyped finds, in the type-checked expression, a member access (x.m, x["m"], get(x, "m")) on a
// value that is neither a map, a list nor a string: time.Time and time.Duration values have methods
// (Local reads the system's zone), which a trigger may neither call nor take.
func refuseTyped(node ast.Node) *refusal {
	var first *refusal
	add := func(at ast.Node, base reflect.Type, member string) {
		r := &refusal{loc: at.Location(), msg: fmt.Sprintf("a %s has no members: %s is not available in a trigger (compare dates, durations and numbers with the operators and the helpers daysSince and hoursSince)", base, member)}
		if first == nil || r.loc.From < first.loc.From {
			first = r
		}
	}
	container := func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array, reflect.String, reflect.Interface:
			return true
		}
		return false
	}
	ast.Walk(&node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.MemberNode:
			if !container(n.Node.Type()) {
				add(n, n.Node.Type(), memberName(n))
			}
		case *ast.BuiltinNode:
			if n.Name == "get" && len(n.Arguments) == 2 && !container(n.Arguments[0].Type()) {
				add(n, n.Arguments[0].Type(), n.Arguments[1].String())
			}
		}
	}))
	return first
}

// refuseHugeRanges finds, in the optimized expression, a range written with literal bounds that
// holds more elements than expr's memory budget lets a list hold: it would fail on every record.
// A whole-number value tested with in (int(num_notes) in 1..1000000000) is compared with the bounds
// by expr's optimizer, so its range is never built and not refused.
func refuseHugeRanges(node ast.Node) *refusal {
	var first *refusal
	ast.Walk(&node, visitor(func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok || b.Operator != ".." || first != nil {
			return
		}
		lo, okLo := intLiteral(b.Left)
		hi, okHi := intLiteral(b.Right)
		if !okLo || !okHi || hi < lo || uint64(hi-lo)+1 < uint64(conf.DefaultMemoryBudget) {
			return
		}
		first = &refusal{loc: b.Location(), msg: fmt.Sprintf("the range %d..%d would build a list of %d elements, and a list in a trigger holds fewer than %d, "+
			"so it would fail on every record: compare with the bounds instead, as in x >= %d && x <= %d",
			lo, hi, uint64(hi-lo)+1, conf.DefaultMemoryBudget, lo, hi)}
	}))
	return first
}

// intLiteral returns the value of an integer literal, negative ones included.
func intLiteral(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.ConstantNode:
		i, ok := n.Value.(int)
		return i, ok
	case *ast.UnaryNode:
		if i, ok := intLiteral(n.Node); ok && n.Operator == "-" {
			return -i, true
		}
	}
	return 0, false
}

// parseForRefusal parses src as expr does, with the node limit, for refuse.
func parseForRefusal(src string, maxNodes uint) (*parser.Tree, error) {
	c := conf.CreateNew()
	c.MaxNodes = maxNodes
	return parser.ParseWithConfig(src, c)
}

// meterer rewrites a type-checked expression so that every operation whose cost depends on the size
// of its operands charges the evaluation's meter first:
//
//   - every step of a loop charges its body's size ($tick), and the keys of groupBy and sortBy
//     their length;
//   - the builtins of meteredBuiltins become their metered twins ($lower(meter, x), ...);
//   - string concatenation, comparisons of strings, lists and maps, contains, startsWith,
//     endsWith, matches and in charge their operands' sizes ($cost), except literal operands
//     short enough to cost no more than a step;
//   - a map's key computed at run time (m[k], get(m, k), isSet(k), {(k): v}) charges its length.
//
// It runs once (it is not repeatable), after the checker gave every node its type.
type meterer struct{}

func (meterer) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		tick := call(n, "$tick", &ast.IntegerNode{Value: stepCost(bodySize(n.Node))})
		tick.SetType(boolType)
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{tick, n.Node}}
		n.Node.SetLocation(n.Location())
	case *ast.BuiltinNode:
		meterBuiltin(node, n)
	case *ast.BinaryNode:
		meterBinary(n)
	case *ast.MemberNode:
		if !cheap(n.Property) && !numeric(n.Property.Type()) {
			n.Property = cost(n.Property, 1)
		}
	case *ast.PairNode:
		if !cheap(n.Key) {
			n.Key = cost(n.Key, 1)
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "isSet" {
			for i, a := range n.Arguments {
				if !cheap(a) {
					n.Arguments[i] = cost(a, 1)
				}
			}
		}
	}
}

// bodySize is the number of nodes of a loop's body, but for the bodies of the loops within it,
// whose steps charge their own.
func bodySize(body ast.Node) int {
	var nested []*ast.PredicateNode
	ast.Walk(&body, visitor(func(n ast.Node) {
		if p, ok := n.(*ast.PredicateNode); ok {
			nested = append(nested, p)
		}
	}))
	saved := make([]ast.Node, len(nested))
	for i, p := range nested {
		saved[i], p.Node = p.Node, nil
	}
	size := 0
	ast.Walk(&body, visitor(func(ast.Node) { size++ }))
	for i, p := range nested {
		p.Node = saved[i]
	}
	return size
}

// stepCost is what one step of a loop whose body has size nodes costs: the step itself (about as
// long as copying 64 bytes) and 16 per node of the body.
func stepCost(size int) int { return 64 + 16*size }

func meterBuiltin(node *ast.Node, n *ast.BuiltinNode) {
	switch {
	case predicateBuiltins[n.Name]:
		if len(n.Arguments) == 1 && (n.Name == "count" || n.Name == "sum") {
			// count(list) and sum(list) loop too: give them the predicate they default to (#).
			p := &ast.PredicateNode{Node: &ast.PointerNode{}}
			p.Node.SetLocation(n.Location())
			p.SetLocation(n.Location())
			tick := call(n, "$tick", &ast.IntegerNode{Value: stepCost(1)})
			tick.SetType(boolType)
			p.Node = &ast.SequenceNode{Nodes: []ast.Node{tick, p.Node}}
			p.Node.SetLocation(n.Location())
			n.Arguments = append(n.Arguments, p)
		}
		if (n.Name == "groupBy" || n.Name == "sortBy") && len(n.Arguments) > 1 {
			// The keys are hashed (groupBy) or compared about log2(n) times (sortBy).
			if p, ok := n.Arguments[1].(*ast.PredicateNode); ok {
				if seq, ok := p.Node.(*ast.SequenceNode); ok && len(seq.Nodes) == 2 {
					w := 1
					if n.Name == "sortBy" {
						w = 24
					}
					seq.Nodes[1] = cost(seq.Nodes[1], w)
				}
			}
		}
	case n.Name == "get":
		if len(n.Arguments) == 2 && !cheap(n.Arguments[1]) {
			n.Arguments[1] = cost(n.Arguments[1], 1)
		}
	case (n.Name == "hasPrefix" || n.Name == "hasSuffix") && len(n.Arguments) == 2 && (cheap(n.Arguments[0]) || cheap(n.Arguments[1])):
		// Comparing with a short literal costs no more than its length.
	case meteredBuiltins[n.Name] != nil:
		c := call(n, "$"+n.Name, n.Arguments...)
		ast.Patch(node, c)
	}
}

func meterBinary(n *ast.BinaryNode) {
	l, r := n.Left.Type(), n.Right.Type()
	switch n.Operator {
	case "+":
		if scalar(l) && scalar(r) {
			return
		}
		if !cheap(n.Left) {
			n.Left = cost(n.Left, 1)
		}
		if !cheap(n.Right) {
			n.Right = cost(n.Right, 1)
		}
	case "==", "!=", "<", "<=", ">", ">=", "startsWith", "endsWith":
		// Comparing costs no more than the shorter operand.
		if cheap(n.Left) || cheap(n.Right) || scalar(l) && scalar(r) {
			return
		}
		n.Left, n.Right = cost(n.Left, 1), cost(n.Right, 1)
	case "contains":
		if cheap(n.Left) {
			return
		}
		n.Left = cost(n.Left, 1)
		if !cheap(n.Right) {
			n.Right = cost(n.Right, 1)
		}
	case "matches":
		if cheap(n.Left) {
			return
		}
		w := 1
		if s, ok := n.Right.(*ast.StringNode); ok {
			w = regexpWeight(s.Value)
		}
		n.Left = cost(n.Left, w)
	case "in":
		if arr, ok := n.Right.(*ast.ArrayNode); ok && allNodes(arr.Nodes, cheap) {
			return
		}
		if rng, ok := n.Right.(*ast.BinaryNode); ok && rng.Operator == ".." {
			return // expr's memory budget charges the range it builds
		}
		if !cheap(n.Left) {
			n.Left = cost(n.Left, 1)
		}
		n.Right = cost(n.Right, 1)
	}
}

// MaxPatternSize bounds the size of the patterns of matches of an expression, together, in the
// steps (about the instructions of Go's regexp) they expand to: x{1000} is a thousand. Matching a
// string may run every step for every byte, and the patterns are compiled with the expression.
const MaxPatternSize = 10_000

// regexpWeight is what matching one byte costs with pattern: its size, as Go's regexp may run
// every step for every byte (a step costs about as much as 8 bytes compared).
func regexpWeight(pattern string) int { return max(regexpSize(pattern), 1) }

// regexpSize is about the number of instructions pattern compiles to, without compiling it (which
// is what costs): repetitions multiply their operand. It is 0 for a pattern that does not parse
// (expr reports it), and saturates past MaxPatternSize.
func regexpSize(pattern string) int {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0
	}
	var size func(re *syntax.Regexp) int
	size = func(re *syntax.Regexp) int {
		n := 1
		switch re.Op {
		case syntax.OpLiteral:
			n = len(re.Rune)
		case syntax.OpRepeat:
			times := max(re.Max, re.Min)
			if times < 0 {
				times = re.Min + 1
			}
			n = 1 + times*size(re.Sub[0])
		default:
			for _, sub := range re.Sub {
				n += size(sub)
			}
		}
		return min(n, MaxPatternSize+1)
	}
	return size(re)
}

func allNodes(nodes []ast.Node, f func(ast.Node) bool) bool {
	for _, n := range nodes {
		if !f(n) {
			return false
		}
	}
	return true
}

// cheap reports whether n is a literal that costs no more than a step to compare or copy.
func cheap(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NilNode:
		return true
	case *ast.StringNode:
		return len(n.Value) <= cheapLen
	case *ast.UnaryNode:
		return (n.Operator == "-" || n.Operator == "+") && cheap(n.Node)
	}
	return false
}

// scalar reports whether values of type t compare and add at a fixed cost.
func scalar(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if t == timeType || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func numeric(t reflect.Type) bool { return scalar(t) && t != timeType }

// call builds fn(meter, args...) where at is, of at's type: the metered twin of a builtin, or
// $cost of a value, has the type of what it replaces.
func call(at ast.Node, fn string, args ...ast.Node) *ast.CallNode {
	loc := at.Location()
	m := &ast.IdentifierNode{Value: meterVar}
	m.SetLocation(loc)
	callee := &ast.IdentifierNode{Value: fn}
	callee.SetLocation(loc)
	for _, a := range args {
		if a.Location() == (file.Location{}) {
			a.SetLocation(loc)
		}
	}
	c := &ast.CallNode{Callee: callee, Arguments: append([]ast.Node{m}, args...)}
	c.SetLocation(loc)
	c.SetNature(*at.Nature())
	return c
}

// cost wraps n in $cost(meter, n, w).
func cost(n ast.Node, w int) ast.Node {
	return call(n, "$cost", n, &ast.IntegerNode{Value: w})
}

// usesMeter reports whether the compiled expression calls a metered function, and checks that it
// calls nothing else than the helpers and the metered functions, and no builtin outside the free
// ones and the loops.
func usesMeter(node ast.Node) (bool, error) {
	metered := false
	var bad error
	var walk func(n ast.Node)
	walk = func(root ast.Node) {
		ast.Walk(&root, visitor(func(n ast.Node) {
			switch n := n.(type) {
			case *ast.IdentifierNode:
				if n.Value == meterVar {
					metered = true
				}
			case *ast.CallNode:
				id, ok := n.Callee.(*ast.IdentifierNode)
				if !ok || !helperNames[id.Value] && !strings.HasPrefix(id.Value, "$") {
					bad = fmt.Errorf("the expression calls %s, which a trigger may not call", n.Callee)
				}
			case *ast.BuiltinNode:
				if !freeBuiltins[n.Name] && !predicateBuiltins[n.Name] &&
					!(n.Name == "hasPrefix" || n.Name == "hasSuffix") {
					bad = fmt.Errorf("the expression uses %s() unmetered", n.Name)
				}
				if n.Map != nil {
					walk(n.Map)
				}
			}
		}))
	}
	walk(node)
	return metered, bad
}

// helperNames are the functions of the environment.
var helperNames = map[string]bool{"daysSince": true, "hoursSince": true, "isSet": true}

// boundRunError replaces the message of a run-time error that is too long to be about anything but
// the record's values; the position and the error it wraps are kept.
func boundRunError(err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) || len(fe.Message) <= maxRunMessage {
		return err
	}
	c := *fe
	c.Message = fmt.Sprintf("the run-time error's message (%d bytes) is left out: it quotes the record's values", len(fe.Message))
	return &c
}

// compileSandboxed compiles src for Compile: it refuses what a trigger may not use (refuse), type-
// checks the expression as written against schema, refuses member accesses on values with methods
// (refuseTyped) and what can never do what it says against the schema (checkSchema), then compiles
// it again with the meterer, and reports whether the program needs a meter to run. With lazy, the
// program it returns reads its properties from a row (see lazyLoads) instead of its environment.
func compileSandboxed(src string, schema crm.Schema, maxNodes uint, lazy *lazyLoads) (*vm.Program, bool, error) {
	env := typeEnv(schema)
	tree, err := parseForRefusal(src, maxNodes)
	if err != nil {
		return nil, false, asError(operatorAsFunction(src, err))
	}
	if r := refuse(tree.Node); r != nil {
		return nil, false, asError((&file.Error{Location: r.loc, Message: r.msg}).Bind(tree.Source))
	}
	if r := checkSchema(tree.Node, schema); r != nil {
		return nil, false, asError((&file.Error{Location: r.loc, Message: r.msg}).Bind(tree.Source))
	}
	opts := []expr.Option{
		expr.Env(env),
		expr.AsBool(),
		expr.MaxNodes(maxNodes),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("repeat"),
		expr.DisableBuiltin("timezone"),
	}
	checked, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, false, asError(err)
	}
	if t := checked.Node().Type(); t == nil || t.Kind() == reflect.Interface {
		return nil, false, &Error{Line: 1, Column: 1, Message: "the expression's type is not known before it runs: it must be boolean (compare values, e.g. x == \"a\", or convert them)"}
	}
	if r := refuseTyped(checked.Node()); r != nil {
		return nil, false, asError((&file.Error{Location: r.loc, Message: r.msg}).Bind(tree.Source))
	}
	if r := refuseHugeRanges(checked.Node()); r != nil {
		return nil, false, asError((&file.Error{Location: r.loc, Message: r.msg}).Bind(tree.Source))
	}
	final := append(opts, sandboxFunctions(), expr.Patch(meterer{}))
	if lazy != nil {
		declareLoaders(env)
		final = append(final, expr.Patch(lazy))
	}
	prog, err := expr.Compile(src, final...)
	if err != nil {
		return nil, false, asError(err)
	}
	metered, err := usesMeter(prog.Node())
	if err != nil {
		return nil, false, &Error{Line: 1, Column: 1, Message: err.Error()}
	}
	return prog, metered, nil
}

// operators are expr's word operators that people write as functions.
var operators = []string{"contains", "startsWith", "endsWith", "matches"}

// operatorAsFunction replaces expr's parse error at an operator written as a function
// (contains(email, "@acme")) by one that says how to write it (email contains "@acme"). Other
// errors are returned as they are.
func operatorAsFunction(src string, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	runes := []rune(src)
	if fe.From < 0 || fe.From >= len(runes) {
		return err
	}
	rest := string(runes[fe.From:])
	for _, op := range operators {
		after, ok := strings.CutPrefix(rest, op)
		if !ok {
			continue
		}
		args, ok := strings.CutPrefix(strings.TrimLeft(after, " \t\n"), "(")
		if !ok {
			return err
		}
		example := fmt.Sprintf(`x %s "y"`, op)
		if a, b, ok := twoArguments(args); ok {
			example = a + " " + op + " " + b
		}
		c := *fe
		c.Message = fmt.Sprintf("%s is an operator, not a function: write %s", op, example)
		return &c
	}
	return err
}

// twoArguments splits the text after a call's "(" into its two arguments, when it has exactly two
// outside brackets and quotes, up to the closing ")".
func twoArguments(s string) (a, b string, ok bool) {
	depth, comma := 0, -1
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '(' || r == '[' || r == '{':
			depth++
		case (r == ')' || r == ']' || r == '}') && depth > 0:
			depth--
		case r == ')':
			if comma < 0 {
				return "", "", false
			}
			a, b = strings.TrimSpace(s[:comma]), strings.TrimSpace(s[comma+1:i])
			return a, b, a != "" && b != "" && !strings.ContainsAny(a+b, "\n")
		case r == ',' && depth == 0:
			if comma >= 0 {
				return "", "", false
			}
			comma = i
		}
	}
	return "", "", false
}
