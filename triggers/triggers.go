package triggers

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/crmflow/crmflow/crm"
)

// DefaultMaxNodes bounds the size of a compiled expression.
const DefaultMaxNodes = 1000

// MaxSourceLen bounds the length of an expression's source, in bytes.
const MaxSourceLen = 16 * 1024

// reserved are the names the environment gives to helpers; a property of such a name is reachable
// only through the helpers.
var reserved = map[string]bool{"now": true, "daysSince": true, "hoursSince": true, "isSet": true, "id": true}

// Option configures Compile. It wraps expr's options.
type Option func(*config)

type config struct{ maxNodes uint }

// MaxNodes bounds the number of nodes of the compiled expression. Defaults to DefaultMaxNodes.
func MaxNodes(n uint) Option { return func(c *config) { c.maxNodes = n } }

// Error is an expression that does not compile: what is wrong, and where in the expression
// (1-based line and column, in bytes, as expr reports them).
type Error struct {
	Line, Column int
	Message      string
	// Snippet is expr's excerpt of the source with a caret under the column, cut to SnippetWidth
	// characters around it.
	Snippet string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Message)
}

// Program is a compiled expression. Safe for concurrent use.
type Program struct {
	src    string
	prog   *vm.Program
	schema crm.Schema
	// reads is what a record's environment must hold for this expression: the properties it names
	// and the helpers it calls. An expression that reads $env gets every property.
	reads reads
	// metered is set when the program charges an evaluation's meter (see EvalBudget): each run
	// then gets a fresh one.
	metered  bool
	maxNodes uint
	// lazy is the program Match runs, compiled on its first call: prog with each property read
	// from the record as the run reaches it (see lazyLoads); nil when prog runs on a filled
	// environment instead.
	lazy     *vm.Program
	lazyOnce sync.Once
}

// reads lists the names an expression looks up in its environment.
type reads struct {
	props                                 []prop // properties named, each once
	now, id, daysSince, hoursSince, isSet bool
	all                                   bool // $env: the environment as a whole
	// checked are the properties isSet is asked about by name; anyChecked is set when isSet's
	// argument is not a string literal, so that any property may be asked about.
	checked    []string
	anyChecked bool
}

// prop is a property an expression reads, and its type.
type prop struct {
	name string
	typ  crm.PropertyType
}

// collectReads walks a checked expression for the names it looks up. Names that are neither
// properties nor helpers (variables of let, predicates' arguments) are ignored.
func collectReads(node ast.Node, schema crm.Schema) reads {
	var r reads
	seen := map[string]bool{}
	ast.Walk(&node, visitor(func(n ast.Node) {
		if c, ok := n.(*ast.CallNode); ok {
			if callee, ok := c.Callee.(*ast.IdentifierNode); ok && callee.Value == "isSet" {
				if arg, ok := singleString(c.Arguments); ok {
					r.checked = append(r.checked, arg)
				} else {
					r.anyChecked = true
				}
			}
		}
		id, ok := n.(*ast.IdentifierNode)
		if !ok || seen[id.Value] {
			return
		}
		seen[id.Value] = true
		switch id.Value {
		case "$env":
			r.all = true
		case "now":
			r.now = true
		case "id":
			r.id = true
		case "daysSince":
			r.daysSince = true
		case "hoursSince":
			r.hoursSince = true
		case "isSet":
			r.isSet = true
		default:
			if _, ok := schema.Properties[id.Value]; ok {
				r.props = append(r.props, prop{id.Value, schema.Properties[id.Value].Type})
			}
		}
	}))
	if r.all {
		r.now, r.id, r.daysSince, r.hoursSince, r.isSet = true, true, true, true, true
		r.props = r.props[:0]
		for name, p := range schema.Properties {
			if !reserved[name] {
				r.props = append(r.props, prop{name, p.Type})
			}
		}
	}
	return r
}

func singleString(args []ast.Node) (string, bool) {
	if len(args) != 1 {
		return "", false
	}
	s, ok := args[0].(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// Reads returns the properties a record must hold for the expression to see it whole: those it
// names and those isSet asks about. all is true when that cannot be known before it runs ($env, or
// isSet of a computed name): the record must then hold every property.
func (p *Program) Reads() (props []string, all bool) {
	if p.reads.all || p.reads.anyChecked {
		return nil, true
	}
	for _, pr := range p.reads.props {
		props = append(props, pr.name)
	}
	for _, name := range p.reads.checked {
		if !slices.Contains(props, name) {
			props = append(props, name)
		}
	}
	return props, false
}

type visitor func(ast.Node)

func (v visitor) Visit(n *ast.Node) { v(*n) }

// Bytecode returns expr's compiled program, for tools that run it with expr's own machine (the
// bench measures Match against that). It must not be modified.
func (p *Program) Bytecode() *vm.Program { return p.prog }

// Source returns the expression's source.
func (p *Program) Source() string { return p.src }

// Compile type-checks src against a schema and compiles it. It returns an *Error with the position of
// the first problem.
func Compile(src string, schema crm.Schema, opts ...Option) (*Program, error) {
	cfg := config{maxNodes: DefaultMaxNodes}
	for _, o := range opts {
		o(&cfg)
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Message: "the expression is empty: write a condition such as lifecyclestage == \"lead\""}
	}
	if len(src) > MaxSourceLen {
		return nil, &Error{Message: fmt.Sprintf("the expression is %d bytes long: the limit is %d", len(src), MaxSourceLen)}
	}
	prog, metered, err := compileSandboxed(src, schema, cfg.maxNodes, nil)
	if err != nil {
		return nil, err
	}
	return &Program{src: src, prog: prog, schema: schema, reads: collectReads(prog.Node(), schema), metered: metered, maxNodes: cfg.maxNodes}, nil
}

func asError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &Error{Line: fe.Line, Column: fe.Column + 1, Message: fe.Message, Snippet: clipSnippet(fe.Snippet)}
	}
	// Errors without a position (the result type, the node limit) concern the whole expression.
	return &Error{Line: 1, Column: 1, Message: err.Error()}
}

func zero(t crm.PropertyType) any {
	switch t {
	case crm.TypeNumber:
		return float64(0)
	case crm.TypeBool:
		return false
	case crm.TypeDatetime, crm.TypeDate:
		return time.Time{}
	default:
		return ""
	}
}

// typeEnv is the environment the compiler checks types against.
func typeEnv(schema crm.Schema) map[string]any {
	env := make(map[string]any, len(schema.Properties)+len(reserved))
	for name, p := range schema.Properties {
		if !reserved[name] {
			env[name] = zero(p.Type)
		}
	}
	env["now"] = time.Time{}
	env["id"] = ""
	env["daysSince"] = func(time.Time) float64 { return 0 }
	env["hoursSince"] = func(time.Time) float64 { return 0 }
	env["isSet"] = func(string) bool { return false }
	env[meterVar] = (*meter)(nil)
	return env
}

// Env is the environment one record is seen through. Build it with NewEnv; reuse is not allowed.
type Env map[string]any

// NewEnv builds the environment of a record at time now: the properties the expression reads, as
// their types, and the helpers it calls. Stored values that do not parse as their type read as the
// type's zero value.
func (p *Program) NewEnv(rec crm.Record, now time.Time) Env {
	h := &envHelpers{now: now, props: rec.Properties}
	h.bind()
	env := make(Env, len(p.reads.props)+2)
	p.fill(env, h, rec)
	return env
}

// envHelpers are the functions a record's environment offers, bound to the record and the time.
type envHelpers struct {
	now                          time.Time
	props                        map[string]string
	daysSince, hoursSince, isSet any
}

func (h *envHelpers) bind() {
	h.daysSince = func(t time.Time) float64 { return since(h.now, t, 24*time.Hour) }
	h.hoursSince = func(t time.Time) float64 { return since(h.now, t, time.Hour) }
	h.isSet = func(name string) bool { return h.props[name] != "" }
}

// fill puts into env what the expression reads of rec, with the helpers h.
func (p *Program) fill(env Env, h *envHelpers, rec crm.Record) {
	for _, pr := range p.reads.props {
		env[pr.name] = value(pr.typ, rec.Properties[pr.name])
	}
	p.fillHelpers(env, h, rec)
}

// fillHelpers puts into env the helpers the expression calls, bound by h, and the names it reads
// besides the properties (now, id).
func (p *Program) fillHelpers(env Env, h *envHelpers, rec crm.Record) {
	r := &p.reads
	if r.now {
		env["now"] = h.now
	}
	if r.id {
		env["id"] = string(rec.ID)
	}
	if r.daysSince {
		env["daysSince"] = h.daysSince
	}
	if r.hoursSince {
		env["hoursSince"] = h.hoursSince
	}
	if r.isSet {
		env["isSet"] = h.isSet
	}
}

func since(now, t time.Time, unit time.Duration) float64 {
	if t.IsZero() {
		return math.MaxFloat64
	}
	return float64(now.Sub(t)) / float64(unit)
}

func value(t crm.PropertyType, s string) any {
	switch t {
	case crm.TypeNumber:
		return number(s)
	case crm.TypeBool:
		return boolean(s)
	case crm.TypeDatetime, crm.TypeDate:
		return datetime(s)
	default:
		return s
	}
}

// Match runs the program on a record at time now. A run-time error (which a well-typed expression
// rarely has) is returned, wrapped; the record then counts as not matching. Match reads each
// property when the run reaches it (see lazy.go; an expression that reads $env gets its properties
// beforehand) and reuses its environment and machine between calls, so evaluating a record costs
// little more than running the program; it is safe for concurrent use.
func (p *Program) Match(rec crm.Record, now time.Time) (bool, error) {
	p.lazyOnce.Do(p.compileLazy)
	r := runners.Get().(*runner)
	defer runners.Put(r)
	r.helpers.now, r.helpers.props = now, rec.Properties
	if p.lazy != nil {
		return p.matchLazily(r, rec)
	}
	p.fill(r.env, &r.helpers, rec)
	ok, err := p.run(&r.vm, p.prog, r.env)
	// Nothing of the record outlives the call: not in the environment, nor in what the machine
	// keeps for its next run (its stack and the values of let).
	clear(r.env)
	r.helpers.props = nil
	r.clearVM()
	return ok, err
}

// matchLazily is Match with p.lazy, on the runner's lazy environment: it holds the helpers and
// the loaders, bound to the runner for good, so that a run sets only what is the record's or the
// evaluation's (id, now, the meter) and deletes it afterwards.
func (p *Program) matchLazily(r *runner, rec crm.Record) (bool, error) {
	env := r.lazyEnv
	r.row.reset(p.reads.props, rec.Properties)
	if p.reads.now {
		env["now"] = r.helpers.now
	}
	if p.reads.id {
		env["id"] = string(rec.ID)
	}
	ok, err := p.run(&r.vm, p.lazy, env)
	if p.reads.now {
		delete(env, "now")
	}
	if p.reads.id {
		delete(env, "id")
	}
	if p.metered {
		delete(env, meterVar)
	}
	r.row.clear()
	r.helpers.props = nil
	r.clearVM()
	return ok, err
}

// compileLazy compiles p.lazy, or leaves it nil when the expression does not lend itself to it.
func (p *Program) compileLazy() {
	l := newLazyLoads(&p.reads, p.prog.Node())
	if l == nil {
		return
	}
	prog, metered, err := compileSandboxed(p.src, p.schema, p.maxNodes, l)
	if err != nil || metered != p.metered {
		return // prog runs as it is
	}
	p.lazy = prog
}

// Run runs the program on a prepared environment.
func (p *Program) Run(env Env) (ok bool, err error) {
	var m vm.VM
	return p.run(&m, p.prog, env)
}

// runner is what one evaluation reuses: an environment, the helpers and expr's machine.
type runner struct {
	env     Env
	helpers envHelpers
	row     row
	// lazyEnv is the environment of the lazily loading programs: the helpers and the loaders,
	// for good, and during a run what a run sets (id, now, the meter).
	lazyEnv Env
	vm      vm.VM
}

var runners = sync.Pool{New: func() any {
	r := &runner{env: make(Env, 8), lazyEnv: make(Env, 8)}
	r.helpers.bind()
	r.row.bind()
	r.lazyEnv["daysSince"] = r.helpers.daysSince
	r.lazyEnv["hoursSince"] = r.helpers.hoursSince
	r.lazyEnv["isSet"] = r.helpers.isSet
	r.row.loadersInto(r.lazyEnv)
	return r
}}

// clearVM forgets what expr's machine keeps of a run for the next: its stack and the values of
// let.
func (r *runner) clearVM() {
	clear(r.vm.Stack[:cap(r.vm.Stack)])
	clear(r.vm.Variables)
}

func (p *Program) run(m *vm.VM, prog *vm.Program, env Env) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("trigger %q: run-time panic: %v", p.src, r)
		}
	}()
	if p.metered {
		env[meterVar] = newMeter()
	}
	out, err := m.Run(prog, map[string]any(env))
	if err != nil {
		return false, fmt.Errorf("trigger %q: %w", p.src, boundRunError(err))
	}
	b, _ := out.(bool)
	return b, nil
}
