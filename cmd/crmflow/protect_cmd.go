package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// protectionAPIPath is where the API serves the protection rules.
const protectionAPIPath = "/crm/v3/protection"

// newProtectCmd returns `crmflow protect`: apply, list and delete the tenant's protection rules.
func newProtectCmd(a *app) *cobra.Command {
	c := group("protect", "Protect records from deletion by workflows and bulk deletes (apply, list, delete rules)",
		a.newProtectApplyCmd(), a.newProtectListCmd(), a.newProtectDeleteCmd())
	c.Long = `Protection rules protect records from deletion: a workflow's delete_contact and a bulk or list
delete skip the records a rule matches (counting them by rule), and a single delete of one is refused
with an error naming the rule. A rule is an expression of the workflow trigger language over the
properties of one object type.

The commands call the API at --url (CRMFLOW_URL) with the token of CRMFLOW_TOKEN; apply and delete
need the protect permission.`
	return c
}

// ruleFile is one rule of a `protect apply` file, with where it is.
type ruleFile struct {
	Name       string
	ObjectType string
	When       string
	line       int
	whenNode   *yaml.Node
}

// ruleProblem is one problem of a rules file, printed as "file:line:column: message".
type ruleProblem struct {
	line, column int
	msg          string
}

// parseRules reads a rules file: a YAML list of {name, objectType, when}. Its problems of shape
// (not of the expressions) come back with their positions.
func parseRules(src []byte) ([]ruleFile, []ruleProblem) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, []ruleProblem{yamlProblem(src, err)}
	}
	if len(doc.Content) == 0 {
		return nil, []ruleProblem{{1, 1, "the file is empty: write a list of rules, each with name, objectType and when"}}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, []ruleProblem{yamlProblem(src, err)}
	case len(next.Content) > 0 && !(next.Content[0].Kind == yaml.ScalarNode && next.Content[0].ShortTag() == "!!null"):
		n := next.Content[0]
		return nil, []ruleProblem{{n.Line, n.Column, "a rules file is one list: this second YAML document (after ---) " +
			"would not be applied; move its rules into the list above"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.SequenceNode {
		return nil, []ruleProblem{{root.Line, root.Column, "the file must be a list of rules (\"- name: ...\"), each with name, objectType and when"}}
	}
	var out []ruleFile
	var probs []ruleProblem
	seen := map[string]int{}
	for _, n := range root.Content {
		if n.Kind != yaml.MappingNode {
			probs = append(probs, ruleProblem{n.Line, n.Column, "a rule must be a mapping with name, objectType and when"})
			continue
		}
		r := ruleFile{line: n.Line}
		got := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if got[k.Value] {
				probs = append(probs, ruleProblem{k.Line, k.Column, fmt.Sprintf("%s is given twice in this rule: keep one", k.Value)})
				continue
			}
			if v.Kind != yaml.ScalarNode {
				probs = append(probs, ruleProblem{v.Line, v.Column, fmt.Sprintf("%s must be a string", k.Value)})
				continue
			}
			got[k.Value] = true
			switch k.Value {
			case "name":
				r.Name = v.Value
				if err := crm.ValidateRuleName(v.Value); err != nil {
					probs = append(probs, ruleProblem{v.Line, v.Column, err.Error()})
				} else if prev, dup := seen[v.Value]; dup {
					probs = append(probs, ruleProblem{v.Line, v.Column, fmt.Sprintf("rule %s is defined twice (first at line %d): keep one", v.Value, prev)})
				} else {
					seen[v.Value] = v.Line
				}
			case "objectType":
				r.ObjectType = v.Value
			case "when":
				r.When, r.whenNode = v.Value, v
			default:
				probs = append(probs, ruleProblem{k.Line, k.Column, fmt.Sprintf("unknown field %q: a rule has name, objectType and when", k.Value)})
			}
		}
		for _, f := range []string{"name", "objectType", "when"} {
			if !got[f] {
				probs = append(probs, ruleProblem{n.Line, n.Column, fmt.Sprintf("the rule has no %s: give it name, objectType and when", f)})
			}
		}
		out = append(out, r)
	}
	return out, probs
}

// yamlLineRE is the line yaml.v3 names in a syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem is a YAML syntax error at the line yaml.v3 names, at the line's first character that
// is not a space (a tab, when it is one).
func yamlProblem(src []byte, err error) ruleProblem {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return ruleProblem{1, 1, "the file is not YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(src), "\n")
	line = min(max(line, 1), len(lines))
	text := lines[line-1]
	col := len([]rune(text[:len(text)-len(strings.TrimLeft(text, " "))])) + 1
	msg := "the file is not YAML: " + m[2]
	if strings.Contains(m[2], "tab") {
		msg += ": indent YAML with spaces, not tabs"
	}
	return ruleProblem{line, col, msg}
}

// exprPosition maps the position of an expression error (line and column within the expression)
// to the file: exact for a plain or quoted scalar on one line, and for a block scalar (| or >) by
// the indentation of its lines.
func exprPosition(src []byte, n *yaml.Node, te *triggers.Error) (int, int) {
	if te.Line == 0 {
		return n.Line, n.Column
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line := n.Line + te.Line
		lines := strings.Split(string(src), "\n")
		indent := 0
		if line-1 < len(lines) {
			indent = len(lines[line-1]) - len(strings.TrimLeft(lines[line-1], " "))
		}
		return line, indent + te.Column
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if te.Line == 1 {
			return n.Line, n.Column + te.Column
		}
	default:
		if te.Line == 1 {
			return n.Line, n.Column + te.Column - 1
		}
	}
	return n.Line + te.Line - 1, te.Column
}

func (a *app) newProtectApplyCmd() *cobra.Command {
	var (
		o    opsConfig
		file string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or replace the protection rules of a YAML file",
		Long: `Create or replace the protection rules listed in a YAML file, through the API (PUT /crm/v3/protection/{name}):

  - name: customers            # 1-63 lowercase letters, digits, dashes or underscores
    objectType: contacts
    when: lifecyclestage == "customer"

Every rule is first checked here: its name, its fields, and its expression compiled against the
tenant's live properties of its type (read through the API). If any rule has a problem, every
problem is printed as FILE:LINE:COLUMN: message and nothing is applied (exit 1). Rules of the tenant
that the file does not name are left as they are (crmflow protect delete NAME removes one).

Each rule is printed with what became of it: created, updated, or unchanged when the tenant has it
already as the file gives it (it is then not written again, and leaves no audit entry); a summary
line with the counts follows on stderr.`,
		Example: `  export CRMFLOW_URL=https://crm.example.com CRMFLOW_TOKEN=...
  crmflow protect apply -f protection.yaml`,
		Args: filesWithF(false),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("-f FILE is required: give the YAML file of the rules to apply")
			}
			src, err := a.readFile(file)
			if err != nil {
				return usage(fmt.Errorf("read rules file: %w", err))
			}
			file := fileName(file)
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			rules, probs := parseRules(src)
			schemas := newAPISchemas(cmd.Context(), c)
			for _, r := range rules {
				if r.ObjectType == "" || r.whenNode == nil {
					continue
				}
				sch, err := schemas.Schema(crm.ObjectType(r.ObjectType))
				var nf *crm.NotFoundError
				switch {
				case errors.As(err, &nf):
					probs = append(probs, ruleProblem{r.line, 1, fmt.Sprintf("rule %s: objectType %q is not an object type of this tenant: use contacts, companies, deals, tickets, calls or a custom object's name", r.Name, r.ObjectType)})
					continue
				case err != nil:
					return err
				}
				if _, err := triggers.Compile(r.When, sch); err != nil {
					var te *triggers.Error
					if !errors.As(err, &te) {
						return err
					}
					line, col := exprPosition(src, r.whenNode, te)
					probs = append(probs, ruleProblem{line, col, fmt.Sprintf("rule %s: when: %s", r.Name, te.Message)})
				}
			}
			var have map[string]api.ProtectionRule
			if len(probs) == 0 {
				if have, err = tenantRules(cmd.Context(), c); err != nil {
					return err
				}
				if p := ruleCountProblem(have, rules); p != nil {
					probs = append(probs, *p)
				}
			}
			if len(probs) > 0 {
				for _, p := range probs {
					fmt.Fprintf(a.stdout, "%s:%d:%d: %s\n", file, p.line, p.column, p.msg)
				}
				return &exitError{code: 1, err: fmt.Errorf("%s has %s: nothing applied", file, counted(len(probs), "problem"))}
			}
			return a.applyRules(cmd.Context(), c, rules, have)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVarP(&file, "filename", "f", "", "the YAML file of the rules to apply; - reads it from stdin")
	return cmd
}

// tenantRules reads the tenant's protection rules, by name; nil when the user may not read them
// (the API still checks what apply writes).
func tenantRules(ctx context.Context, c *apiClient) (map[string]api.ProtectionRule, error) {
	var out api.ProtectionRules
	err := c.do(ctx, http.MethodGet, protectionAPIPath, nil, &out)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusForbidden && !ae.foreign:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the tenant's protection rules, to check the file's against them: %w", err)
	}
	have := make(map[string]api.ProtectionRule, len(out.Results))
	for _, r := range out.Results {
		have[r.Name] = r
	}
	return have, nil
}

// ruleCountProblem checks, before anything is applied, that the tenant, holding the rules have,
// can hold the new rules of the file beside them (at most crm.MaxProtectionRules): the API refuses
// the rule past the limit, and the rules before it would be applied already. The problem is at the
// first rule past the limit; nil when they fit, or when have is nil (the rules could not be read:
// the API still refuses).
func ruleCountProblem(have map[string]api.ProtectionRule, rules []ruleFile) *ruleProblem {
	if have == nil {
		return nil
	}
	n, added := len(have), 0
	for _, r := range rules {
		if _, ok := have[r.Name]; ok {
			continue
		}
		added++
		if n+added > crm.MaxProtectionRules {
			news := 0
			for _, r := range rules {
				if _, ok := have[r.Name]; !ok {
					news++
				}
			}
			return &ruleProblem{r.line, 1, fmt.Sprintf("rule %s: the tenant has %d protection rules and this file adds %d, "+
				"more than the %d a tenant may have: delete rules it no longer needs (crmflow protect delete NAME), "+
				"or apply fewer", r.Name, n, news, crm.MaxProtectionRules)}
		}
	}
	return nil
}

// applyRules writes each rule with PUT, in the file's order, and prints what became of it: created,
// updated, or unchanged for a rule the tenant already has as the file gives it (have, nil when
// the rules could not be read), which is not written again. A summary line follows on stderr.
func (a *app) applyRules(ctx context.Context, c *apiClient, rules []ruleFile, have map[string]api.ProtectionRule) error {
	var created, updated, unchanged int
	for _, r := range rules {
		if old, ok := have[r.Name]; ok && old.ObjectType == r.ObjectType && old.When == r.When {
			unchanged++
			fmt.Fprintf(a.stdout, "%s: unchanged (%s)\n", r.Name, old.ObjectType)
			continue
		}
		objectType, when := r.ObjectType, r.When
		var out api.ProtectionRule
		status, err := c.sendJSON(ctx, http.MethodPut, protectionAPIPath+"/"+url.PathEscape(r.Name),
			api.ProtectionRuleInput{ObjectType: &objectType, When: &when}, &out)
		if err != nil {
			return fmt.Errorf("apply rule %s: %w", r.Name, err)
		}
		verb := "updated"
		if status == http.StatusCreated {
			verb = "created"
			created++
		} else {
			updated++
		}
		fmt.Fprintf(a.stdout, "%s: %s (%s)\n", out.Name, verb, out.ObjectType)
	}
	fmt.Fprintf(a.stderr, "%s applied: %d created, %d updated, %d unchanged\n", counted(len(rules), "protection rule"), created, updated, unchanged)
	return nil
}

// sendJSON is do with send's answer: it returns the status of the answer.
func (c *apiClient) sendJSON(ctx context.Context, method, path string, body, out any) (int, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encode request: %w", err)
	}
	return c.send(ctx, method, path, "application/json", raw, out)
}

func (a *app) newProtectListCmd() *cobra.Command {
	var o opsConfig
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's protection rules",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			var out api.ProtectionRules
			if err := c.do(cmd.Context(), http.MethodGet, protectionAPIPath, nil, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTYPE\tWHEN\tUPDATED\tBY")
			for _, r := range out.Results {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.ObjectType, oneLine(r.When), r.UpdatedAt, r.UpdatedBy)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%s\n", counted(len(out.Results), "rule"))
			return nil
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

func (a *app) newProtectDeleteCmd() *cobra.Command {
	var o opsConfig
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a protection rule: the records it protected can be deleted again",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := crm.ValidateRuleName(args[0]); err != nil {
				return usage(err)
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, protectionAPIPath+"/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: deleted\n", args[0])
			return nil
		},
	}
	o.flags(cmd.Flags())
	return cmd
}
