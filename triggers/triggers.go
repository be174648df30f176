package triggers

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
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
	// Snippet is expr's excerpt of the source with a caret under the column.
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
}

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
	prog, err := expr.Compile(src,
		expr.Env(typeEnv(schema)),
		expr.AsBool(),
		expr.MaxNodes(cfg.maxNodes),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("repeat"),
		expr.DisableBuiltin("timezone"),
	)
	if err != nil {
		return nil, asError(err)
	}
	if t := prog.Node().Type(); t == nil || t.Kind() == reflect.Interface {
		return nil, &Error{Line: 1, Column: 1, Message: "the expression's type is not known before it runs: it must be boolean (compare values, e.g. x == \"a\", or convert them)"}
	}
	return &Program{src: src, prog: prog, schema: schema}, nil
}

func asError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &Error{Line: fe.Line, Column: fe.Column + 1, Message: fe.Message, Snippet: fe.Snippet}
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
	case crm.TypeDatetime:
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
	return env
}

// Env is the environment one record is seen through. Build it with NewEnv; reuse is not allowed.
type Env map[string]any

// NewEnv builds the environment of a record at time now. Stored values that do not parse as their
// type read as the type's zero value.
func (p *Program) NewEnv(rec crm.Record, now time.Time) Env {
	env := make(Env, len(p.schema.Properties)+len(reserved))
	for name, prop := range p.schema.Properties {
		if reserved[name] {
			continue
		}
		env[name] = value(prop.Type, rec.Properties[name])
	}
	props := rec.Properties
	env["now"] = now
	env["id"] = string(rec.ID)
	env["daysSince"] = func(t time.Time) float64 { return since(now, t, 24*time.Hour) }
	env["hoursSince"] = func(t time.Time) float64 { return since(now, t, time.Hour) }
	env["isSet"] = func(name string) bool { return props[name] != "" }
	return env
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
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return float64(0)
		}
		return f
	case crm.TypeBool:
		return s == "true"
	case crm.TypeDatetime:
		tm, err := crm.ParseDatetime(s)
		if err != nil {
			return time.Time{}
		}
		return tm
	default:
		return s
	}
}

// Match runs the program on a record at time now. A run-time error (which a well-typed expression
// rarely has) is returned, wrapped; the record then counts as not matching.
func (p *Program) Match(rec crm.Record, now time.Time) (bool, error) {
	return p.Run(p.NewEnv(rec, now))
}

// Run runs the program on a prepared environment.
func (p *Program) Run(env Env) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("trigger %q: run-time panic: %v", p.src, r)
		}
	}()
	out, err := expr.Run(p.prog, map[string]any(env))
	if err != nil {
		return false, fmt.Errorf("trigger %q: %w", p.src, err)
	}
	b, _ := out.(bool)
	return b, nil
}
