package actions

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/crmflow/crmflow/crm"
)

// ErrDuplicate means an action type of that name is already registered.
var ErrDuplicate = errors.New("actions: an action type of that name is already registered")

// ErrUnknownAction means no action type of that name is registered.
var ErrUnknownAction = errors.New("actions: unknown action type")

// Params are an action's parameters as written in a workflow, beside `type:`: each is a scalar
// value in its text form (YAML's 42, true and "42" all read "42"). A parameter that is absent (or
// null) is not in the map.
type Params map[string]string

// Param describes one parameter an action type accepts.
type Param struct {
	// Name is the parameter's key, in snake_case.
	Name string
	// Required says the parameter must be given.
	Required bool
	// AnyScalar lets the value be any YAML scalar: a number or true/false as well as text (value:
	// 42, list: 12). Otherwise it must be text.
	AnyScalar bool
	// Doc says what the parameter is, in one sentence, for docs and editors.
	Doc string
}

// FieldError is a problem with an action's parameters. Path names the parameter ("duration");
// it is empty for a problem with the action as a whole (one that does not apply to the workflow's
// object type, for example).
type FieldError struct {
	Path    string
	Message string
	// Offset is where in the parameter's value the problem is, in characters from its start (a
	// placeholder of notify_user's subject); 0 for the value as a whole.
	Offset int
	// Unknown is the property the schema lacks, when that is the problem.
	Unknown string
}

// Error returns "path: message", or the message alone for a problem with the whole action.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// FieldErrors are every problem found in one action's parameters.
type FieldErrors []*FieldError

// Error joins the errors' texts with "; ".
func (es FieldErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives errors.As access to each error.
func (es FieldErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// orNil returns es as an error, or nil when it is empty.
func (es FieldErrors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Step is an action whose parameters were checked against a schema, ready to be bound to its
// dependencies and run. A Step is immutable and safe for concurrent use.
type Step interface {
	// Bind returns the Action that runs the step with deps, for the run inv.
	Bind(deps Deps, inv Invocation) Action
}

// Definition is an action type.
type Definition struct {
	// Name is the type as written in a workflow (type: set_property): lowercase letters, digits and
	// underscores, starting with a letter.
	Name string
	// Summary says what the action does, in one sentence, for docs and listings.
	Summary string
	// ObjectTypes are the object types whose workflows may use the action. Empty means every type.
	ObjectTypes []crm.ObjectType
	// Params are the parameters the action accepts beside type. Any other key is refused.
	Params []Param
	// Configure checks params (only keys of Params, required ones present) against the schema of
	// the workflow's object type, and returns the step. Its errors are FieldErrors.
	Configure func(params Params, schema crm.Schema) (Step, error)
	// Needs returns the permissions a user must hold to activate a workflow that uses the action
	// with these parameters: the workflow acts with its activator's authority (SPEC S23). nil
	// means the action needs none (delay).
	Needs func(params Params) []crm.Permission
}

// Param returns the parameter of that name.
func (d *Definition) Param(name string) (Param, bool) {
	for _, p := range d.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// AppliesTo reports whether workflows of object type o may use the action.
func (d *Definition) AppliesTo(o crm.ObjectType) bool {
	return len(d.ObjectTypes) == 0 || slices.Contains(d.ObjectTypes, o)
}

var actionNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func (d *Definition) validate() error {
	if !actionNameRE.MatchString(d.Name) {
		return fmt.Errorf("actions: action type name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", d.Name)
	}
	if d.Configure == nil {
		return fmt.Errorf("actions: action type %s has no Configure function", d.Name)
	}
	seen := map[string]bool{"type": true}
	for _, p := range d.Params {
		if !actionNameRE.MatchString(p.Name) || seen[p.Name] {
			return fmt.Errorf("actions: action type %s: parameter name %q is invalid or taken (type is reserved)", d.Name, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// Configured is an action of a workflow whose parameters were checked: what the workflow keeps for
// each of its steps. It is immutable and safe for concurrent use.
type Configured struct {
	// Type is the action type's name.
	Type string
	// Params are the parameters as written (absent ones left out).
	Params Params
	// Step is what the action type's Configure returned; the engine may inspect it (a *Delay, for
	// example).
	Step Step
	// Needs are the permissions the workflow's activator must hold for this action (see
	// Definition.Needs), without duplicates, in the order of crm.AllPermissions.
	Needs []crm.Permission
}

// Bind returns the Action that runs the step with deps, for the run inv. The action sees the store
// through a guard that refuses permanent deletes. Bind is cheap: call it for each run.
func (c *Configured) Bind(deps Deps, inv Invocation) Action {
	return c.Step.Bind(deps.guarded(), inv)
}

// BatchStep is a Step that runs on many records in few store calls: the worker hands it the
// records of one workflow:steps task at once rather than binding the step once per record. RunBatch
// must do what Bind(deps, inv).Run does on each record, for the run of workflow inv.Workflow (inv.Key
// is not set), and return one Result per record, in order; an error means none of them ran to an
// outcome, and the records are run again.
type BatchStep interface {
	Step
	RunBatch(ctx context.Context, deps Deps, inv Invocation, tenant crm.TenantID, recs []crm.Record) ([]Result, error)
}

// RunBatch runs the step on recs in one go when it is a BatchStep, with the same guard as Bind, and
// reports false (running nothing) when it is not.
func (c *Configured) RunBatch(ctx context.Context, deps Deps, inv Invocation, tenant crm.TenantID, recs []crm.Record) ([]Result, bool, error) {
	b, ok := c.Step.(BatchStep)
	if !ok {
		return nil, false, nil
	}
	res, err := b.RunBatch(ctx, deps.guarded(), inv, tenant, recs)
	return res, true, err
}

// Registry holds action types by name. The zero value is an empty registry, ready to use. Safe for
// concurrent use.
type Registry struct {
	mu   sync.RWMutex
	defs map[string]*Definition
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Default returns a new registry holding the built-in action types: delete_contact, set_property,
// add_to_list, remove_from_list, delay and notify_user. Each call returns a new registry, so
// registering more types in one changes no other.
func Default() *Registry {
	r := NewRegistry()
	for _, d := range builtins() {
		r.Register(d)
	}
	return r
}

// Register adds an action type. It panics when the definition is invalid or its name is taken:
// it is meant for hard-coded registration at start-up. See TryRegister.
func (r *Registry) Register(d Definition) {
	if err := r.TryRegister(d); err != nil {
		panic(err)
	}
}

// TryRegister adds an action type. It returns an error wrapping ErrDuplicate when the name is
// taken, and an error naming the problem when the definition is invalid.
func (r *Registry) TryRegister(d Definition) error {
	if err := d.validate(); err != nil {
		return err
	}
	d.ObjectTypes = slices.Clone(d.ObjectTypes)
	d.Params = slices.Clone(d.Params)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.defs[d.Name]; ok {
		return fmt.Errorf("register %s: %w", d.Name, ErrDuplicate)
	}
	if r.defs == nil {
		r.defs = map[string]*Definition{}
	}
	r.defs[d.Name] = &d
	return nil
}

// Lookup returns the action type of that name.
func (r *Registry) Lookup(name string) (Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	if !ok {
		return Definition{}, false
	}
	return *d, true
}

// Names returns the names of the registered action types, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.defs))
	for n := range r.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Configure checks an action of a workflow whose object type is schema.Type: the action type
// exists (else an error wrapping ErrUnknownAction), it applies to the object type, every parameter
// is known, the required ones are there, and the type's own checks pass. Parameter problems are
// returned together as FieldErrors.
func (r *Registry) Configure(name string, params Params, schema crm.Schema) (*Configured, error) {
	d, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: use one of %s", ErrUnknownAction, name, strings.Join(r.Names(), ", "))
	}
	var errs FieldErrors
	if !d.AppliesTo(schema.Type) {
		errs = append(errs, &FieldError{Message: fmt.Sprintf("%s exists only for %s workflows: this workflow's object_type is %s",
			d.Name, objectTypesPhrase(d.ObjectTypes), schema.Type)})
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := d.Param(k); !ok {
			errs = append(errs, &FieldError{Path: k, Message: fmt.Sprintf("unknown field %q of %s: %s", k, d.Name, paramsPhrase(d))})
		}
	}
	for _, p := range d.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			errs = append(errs, &FieldError{Message: fmt.Sprintf("%s needs %s: %s", d.Name, p.Name, p.Doc)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	step, err := d.Configure(params, schema)
	if err != nil {
		return nil, err
	}
	out := maps.Clone(params)
	if out == nil {
		out = Params{}
	}
	var needs []crm.Permission
	if d.Needs != nil {
		needs = orderPerms(d.Needs(out))
	}
	return &Configured{Type: d.Name, Params: out, Step: step, Needs: needs}, nil
}

// orderPerms returns the permissions of ps once each, in the order of crm.AllPermissions.
func orderPerms(ps []crm.Permission) []crm.Permission {
	var out []crm.Permission
	for _, p := range crm.AllPermissions {
		if slices.Contains(ps, p) {
			out = append(out, p)
		}
	}
	return out
}

func paramsPhrase(d Definition) string {
	if len(d.Params) == 0 {
		return d.Name + " takes no parameters"
	}
	names := make([]string, len(d.Params))
	for i, p := range d.Params {
		names[i] = p.Name
	}
	return "use " + strings.Join(names, ", ")
}

// objectTypesPhrase names object types in the singular, as in "contact workflows".
func objectTypesPhrase(types []crm.ObjectType) string {
	out := make([]string, len(types))
	for i, o := range types {
		out[i] = Singular(o)
	}
	return strings.Join(out, " or ")
}

// Singular names one record of an object type: "contact" for contacts, "company" for companies.
// A custom type's name is returned as it is.
func Singular(o crm.ObjectType) string {
	return crm.SingularType(o)
}

func builtins() []Definition {
	return []Definition{
		deleteContactDef(),
		setPropertyDef(),
		listDef(addToList),
		listDef(removeFromList),
		delayDef(),
		notifyUserDef(),
	}
}
