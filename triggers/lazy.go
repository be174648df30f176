package triggers

import (
	"reflect"
	"strconv"
	"time"

	"github.com/expr-lang/expr/ast"

	"github.com/crmflow/crmflow/crm"
)

// Match runs a second compilation of the expression, in which each property the expression reads
// is a call that reads it from the record when the run reaches it, converted to its type once per
// run. A run thus looks up and converts only what it needs: in a && b, b's properties are not read
// when a is false (a record's map is mostly out of the CPU's caches, and a datetime is parsed).
// The program the Program reports (Bytecode) and runs on a prepared environment (Run) is the plain
// one.

// loader is a function of the environment that reads one type of property from the record, given
// the property's index in the Program's reads.props: its name is the one in loaderNames, and its
// type is one of expr's typed functions, which its machine calls without reflection.
type loader int

const (
	loadString loader = iota
	loadNumber
	loadBool
	loadTime
	loaders
)

var loaderNames = [loaders]string{"$str", "$num", "$bool", "$time"}

// loaderOf is the loader of the properties of type t (TypeEnumeration and unknown types read as
// strings, as value does).
func loaderOf(t crm.PropertyType) loader {
	switch t {
	case crm.TypeNumber:
		return loadNumber
	case crm.TypeBool:
		return loadBool
	case crm.TypeDatetime, crm.TypeDate:
		return loadTime
	default:
		return loadString
	}
}

// loaderTypes are the types of the loaders, declared to the compiler (declareLoaders). $time takes
// its index as an int64: expr's machine has no typed call of a func(int) time.Time.
var loaderTypes = [loaders]reflect.Type{
	reflect.TypeOf(func(int) string { return "" }),
	reflect.TypeOf(func(int) float64 { return 0 }),
	reflect.TypeOf(func(int) bool { return false }),
	reflect.TypeOf(func(int64) time.Time { return time.Time{} }),
}

// declareLoaders puts the loaders in a type environment.
func declareLoaders(env map[string]any) {
	for l, t := range loaderTypes {
		env[loaderNames[l]] = reflect.Zero(t).Interface()
	}
}

// row is the record a lazily loading program reads: the properties it names (the Program's
// reads.props, by index), their stored strings, and the values converted so far in this run.
type row struct {
	props []prop
	rec   map[string]string
	slots []slot
	// str, num, boolean and tm are the loaders, bound to the row once.
	str     func(int) string
	num     func(int) float64
	boolean func(int) bool
	tm      func(int64) time.Time
}

// slot is a property's value in this run, once read.
type slot struct {
	got bool
	b   bool
	f   float64
	s   string
	t   time.Time
}

func (r *row) bind() {
	r.str = func(i int) string {
		s := &r.slots[i]
		if !s.got {
			s.s, s.got = r.rec[r.props[i].name], true
		}
		return s.s
	}
	r.num = func(i int) float64 {
		s := &r.slots[i]
		if !s.got {
			s.f, s.got = number(r.rec[r.props[i].name]), true
		}
		return s.f
	}
	r.boolean = func(i int) bool {
		s := &r.slots[i]
		if !s.got {
			s.b, s.got = boolean(r.rec[r.props[i].name]), true
		}
		return s.b
	}
	r.tm = func(i int64) time.Time {
		s := &r.slots[i]
		if !s.got {
			s.t, s.got = datetime(r.rec[r.props[i].name]), true
		}
		return s.t
	}
}

// reset readies the row for a run of a program that reads props, on the properties rec.
func (r *row) reset(props []prop, rec map[string]string) {
	r.props, r.rec = props, rec
	if cap(r.slots) < len(props) {
		r.slots = make([]slot, len(props))
	}
	r.slots = r.slots[:len(props)]
}

// loadersInto puts the row's loaders into env.
func (r *row) loadersInto(env Env) {
	env[loaderNames[loadString]] = r.str
	env[loaderNames[loadNumber]] = r.num
	env[loaderNames[loadBool]] = r.boolean
	env[loaderNames[loadTime]] = r.tm
}

// clear forgets the record: nothing of it outlives a run.
func (r *row) clear() {
	clear(r.slots)
	r.props, r.rec = nil, nil
}

// lazyLoads rewrites each read of a property (an identifier naming one of props) into a call of
// its type's loader with the property's index.
type lazyLoads struct {
	index map[string]int
	props []prop
}

// newLazyLoads returns the rewriter for an expression that reads r, or nil when the expression
// cannot be rewritten so: it reads $env, or no property, or one of its variables (let) has a
// property's name (expr refuses that today; an identifier of that name could then be either).
func newLazyLoads(r *reads, tree ast.Node) *lazyLoads {
	if r.all || len(r.props) == 0 {
		return nil
	}
	l := &lazyLoads{index: make(map[string]int, len(r.props)), props: r.props}
	for i, p := range r.props {
		l.index[p.name] = i
	}
	shadowed := false
	ast.Walk(&tree, visitor(func(n ast.Node) {
		if v, ok := n.(*ast.VariableDeclaratorNode); ok {
			if _, ok := l.index[v.Name]; ok {
				shadowed = true
			}
		}
	}))
	if shadowed {
		return nil
	}
	return l
}

func (l *lazyLoads) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok {
		return
	}
	i, ok := l.index[id.Value]
	if !ok {
		return
	}
	ld := loaderOf(l.props[i].typ)
	if id.Type() != reflect.TypeOf(zero(l.props[i].typ)) {
		return // not the property as the environment types it: left as it is
	}
	loc := id.Location()
	var idx ast.Node = &ast.IntegerNode{Value: i}
	if ld == loadTime {
		idx = &ast.ConstantNode{Value: int64(i)} // $time takes an int64 (see loaderTypes)
	}
	idx.SetLocation(loc)
	idx.SetType(loaderTypes[ld].In(0))
	callee := &ast.IdentifierNode{Value: loaderNames[ld]}
	callee.SetLocation(loc)
	callee.SetType(loaderTypes[ld])
	c := &ast.CallNode{Callee: callee, Arguments: []ast.Node{idx}}
	c.SetLocation(loc)
	// Typed here, callee and argument too: expr's checker does not look again into a call that
	// has a type (the call of a helper around this one has one), and its compiler calls the loader
	// as the typed function it is only when the callee's type is known.
	c.SetType(id.Type())
	*node = c
}

func number(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return f
}

func boolean(s string) bool { return s == "true" }

func datetime(s string) time.Time {
	t, err := crm.ParseDatetime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}
