package triggers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/internal/suggest"
)

// checkSchema finds, in the parsed expression, what type-checks but can never do what it says
// against the schema:
//
//   - isSet of anything but the quoted name of a property of the object type (isSet(email) asks
//     about the property named by email's value; isSet("emial") is always false);
//   - an enumeration compared (==, !=, in, not in, either way round) with a literal that is not one
//     of its options ("" excepted: it is how an unset value reads).
//
// It returns the first one in the source, or nil.
func checkSchema(node ast.Node, schema crm.Schema) *refusal {
	var first *refusal
	add := func(n ast.Node, format string, args ...any) {
		if r := (&refusal{loc: n.Location(), msg: fmt.Sprintf(format, args...)}); first == nil || r.loc.From < first.loc.From {
			first = r
		}
	}
	// A name declared with let is a variable, not the property of that name.
	variables := map[string]bool{}
	ast.Walk(&node, visitor(func(n ast.Node) {
		if v, ok := n.(*ast.VariableDeclaratorNode); ok {
			variables[v.Name] = true
		}
	}))
	// property returns the property that n reads (a name, $env.name or $env["name"]).
	property := func(n ast.Node) (crm.Property, bool) {
		var name string
		switch n := n.(type) {
		case *ast.IdentifierNode:
			if variables[n.Value] || reserved[n.Value] {
				return crm.Property{}, false
			}
			name = n.Value
		case *ast.MemberNode:
			id, ok := n.Node.(*ast.IdentifierNode)
			s, isName := n.Property.(*ast.StringNode)
			if !ok || id.Value != "$env" || !isName {
				return crm.Property{}, false
			}
			name = s.Value
		default:
			return crm.Property{}, false
		}
		p, ok := schema.Properties[name]
		return p, ok
	}
	checkOption := func(p crm.Property, lit ast.Node) {
		s, ok := lit.(*ast.StringNode)
		if !ok || s.Value == "" || p.Type != crm.TypeEnumeration || slices.Contains(p.Options, s.Value) {
			return
		}
		add(lit, "%s", optionMessage(p, s.Value))
	}
	ast.Walk(&node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "isSet" && !variables["isSet"] && len(n.Arguments) == 1 {
				checkIsSet(n.Arguments[0], schema, variables, add)
			}
		case *ast.BinaryNode:
			switch n.Operator {
			case "==", "!=":
				if p, ok := property(n.Left); ok {
					checkOption(p, n.Right)
				}
				if p, ok := property(n.Right); ok {
					checkOption(p, n.Left)
				}
			case "in":
				p, ok := property(n.Left)
				arr, isArr := n.Right.(*ast.ArrayNode)
				if ok && isArr {
					for _, e := range arr.Nodes {
						checkOption(p, e)
					}
				}
			}
		}
	}))
	return first
}

// checkIsSet checks isSet's argument: the quoted name of a property of the schema.
func checkIsSet(arg ast.Node, schema crm.Schema, variables map[string]bool, add func(ast.Node, string, ...any)) {
	switch a := arg.(type) {
	case *ast.StringNode:
		if _, ok := schema.Properties[a.Value]; ok {
			return
		}
		msg := fmt.Sprintf("isSet(%q): %q is not a property of %s", a.Value, a.Value, schema.Type)
		if s := suggest.Closest(strings.ToLower(a.Value), schema.Names()); s != "" {
			msg += fmt.Sprintf(": did you mean isSet(%q)?", s)
		} else {
			msg += ", so it is never set: name a property of " + string(schema.Type)
		}
		add(a, "%s", msg)
	case *ast.IdentifierNode:
		if _, ok := schema.Properties[a.Value]; ok && !variables[a.Value] {
			add(a, "isSet takes the property's name in quotes: write isSet(%q)", a.Value)
			return
		}
		add(a, "isSet takes a property's name as a quoted literal, such as isSet(\"email\"), not %s", a.Value)
	default:
		add(a, "isSet takes a property's name as a quoted literal, such as isSet(\"email\"): a name computed when the trigger runs is not allowed")
	}
}

// maxOptionsListed bounds the options a message lists.
const maxOptionsListed = 12

// optionMessage says that v is not an option of enumeration p, with the option meant when one is
// close (the same but for case, its label, or a likely typo) and its label.
func optionMessage(p crm.Property, v string) string {
	msg := fmt.Sprintf("%q is not an option of %s", v, p.Name)
	if o := suggest.Option(v, p.Options, p.OptionLabel); o != "" {
		if l := p.OptionLabel(o); l != o {
			return msg + fmt.Sprintf(": did you mean %q (label %q)?", o, l)
		}
		return msg + fmt.Sprintf(": did you mean %q?", o)
	}
	opts := p.Options
	more := ""
	if len(opts) > maxOptionsListed {
		opts, more = opts[:maxOptionsListed], fmt.Sprintf(" (and %d more)", len(p.Options)-maxOptionsListed)
	}
	return msg + ": compare with one of its values " + strings.Join(opts, ", ") + more
}
