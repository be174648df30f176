package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// MaxFileSize bounds a workflow file, in bytes.
const MaxFileSize = 1 << 20

// The fields of a workflow file, in the order the docs list them.
var (
	workflowFields    = []string{"name", "description", "object_type", "trigger", "events", "enroll_existing", "reenrollment", "unenroll_when_not_matching", "suppression", "limits", "actions"}
	requiredFields    = []string{"name", "object_type", "trigger", "actions"}
	suppressionFields = []string{"trigger", "lists"}
	limitsFields      = []string{"max_deletions", "per"}
)

// Parse decodes and validates the workflow file called filename whose contents are src. Triggers
// (the enrollment trigger and the suppression trigger) are compiled once, typed against the
// schema that schemas gives for the workflow's object type; actions are looked up in reg and
// configured against that schema. A nil schemas means StandardSchemas(); a nil reg means
// actions.Default().
//
// A file with problems gives a *ValidationError holding all of them, each with its line and
// column in the file: YAML syntax errors, unknown fields, duplicate keys, a value of the wrong
// kind (a mapping or list where text is expected, or the reverse), an unknown object type, action
// or property, a trigger that does not compile or is not boolean (reported where the problem is
// inside the expression), an action that does not apply to the object type, bad parameters.
// Another error is returned only when schemas fails for another reason than an unknown type.
// Parse is safe for concurrent use.
func Parse(filename string, src []byte, schemas SchemaLookup, reg *actions.Registry) (*Workflow, error) {
	if schemas == nil {
		schemas = StandardSchemas()
	}
	if reg == nil {
		reg = actions.Default()
	}
	p := newParser(filename, src, schemas, reg)
	wf := p.parse()
	if p.fatal != nil {
		return nil, p.fatal
	}
	if len(p.probs) > 0 {
		return nil, &ValidationError{Problems: p.finish()}
	}
	return wf, nil
}

type parser struct {
	file       string
	src        []byte
	lineStarts []int
	schemas    SchemaLookup
	reg        *actions.Registry
	probs      []Problem
	dropped    int // problems past MaxProblems
	fatal      error
}

func newParser(file string, src []byte, schemas SchemaLookup, reg *actions.Registry) *parser {
	return &parser{file: file, src: src, lineStarts: lineStarts(src), schemas: schemas, reg: reg}
}

// MaxActions bounds the actions of one workflow.
const MaxActions = 200

// MaxProblems bounds the problems reported for one file; past it, a last problem says that more
// were left out.
const MaxProblems = 100

func (p *parser) addAt(pos Position, path, msg string) { p.addUnknown(pos, path, msg, "") }

// addUnknown adds a problem whose cause is a name the schema lacks (Problem.Unknown).
func (p *parser) addUnknown(pos Position, path, msg, unknown string) {
	if p.full() {
		p.dropped++
		return
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: pos.Line, Column: pos.Column, Path: path, Message: msg, Unknown: unknown})
}

// full reports whether MaxProblems were found: callers skip work whose only use is a message.
func (p *parser) full() bool { return len(p.probs) >= MaxProblems }

func (p *parser) add(n *yaml.Node, path, msg string) { p.addAt(nodePos(n), path, msg) }

func nodePos(n *yaml.Node) Position {
	if n == nil || n.Line < 1 {
		return Position{Line: 1, Column: 1}
	}
	return Position{Line: n.Line, Column: max(n.Column, 1)}
}

// finish sorts the problems and fills in their snippets.
func (p *parser) finish() []Problem {
	ps := sortProblems(p.probs)
	for i := range ps {
		ps[i].Snippet = p.snippet(Position{Line: ps[i].Line, Column: ps[i].Column})
	}
	if p.dropped > 0 {
		last := ps[len(ps)-1]
		ps = append(ps, Problem{File: p.file, Line: last.Line, Column: last.Column,
			Message: fmt.Sprintf("%d more problems were left out: fix these and validate again", p.dropped)})
	}
	return ps
}

func (p *parser) parse() *Workflow {
	if len(p.src) > MaxFileSize {
		p.addAt(Position{1, 1}, "", fmt.Sprintf("the file is %d bytes long: a workflow file may be at most %d bytes", len(p.src), MaxFileSize))
		return nil
	}
	root := p.decode()
	if root == nil {
		return nil
	}
	p.checkAliases(root)
	wf := p.workflow(root)
	p.checkErasedAddress()
	return wf
}

// checkErasedAddress reports every line but an erased revision's first (ErasedField) that still
// holds ErasedAddress: the placeholder matches no record and reaches no one, so a workflow copied
// from an erased revision must be written without it.
func (p *parser) checkErasedAddress() {
	if !bytes.Contains(p.src, []byte(ErasedAddress)) {
		return
	}
	for line := 1; line <= len(p.lineStarts); line++ {
		text := p.lineText(line)
		i := strings.Index(text, ErasedAddress)
		if i < 0 || strings.HasPrefix(text, ErasedField+":") {
			continue
		}
		p.addAt(Position{Line: line, Column: runeCol(text, i)}, "", ErasedAddress+" stands for an email address "+
			"a permanent delete erased: no record has it and no one receives mail at it, so a workflow may not name it; "+
			"write this without it")
	}
}

// decode parses the YAML into its one document's root node, or reports why it cannot.
func (p *parser) decode() (root *yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			p.addAt(Position{1, 1}, "", fmt.Sprintf("invalid YAML: the parser failed (%v): check the file's syntax", r))
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(p.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addAt(Position{1, 1}, "", "the file is empty: a workflow needs name, object_type, trigger and actions")
		} else {
			p.syntaxError(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntaxError(err)
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		// An empty document after a closing "---" holds no second workflow: it is let be.
		p.add(next.Content[0], "", "a workflow file holds one workflow: this second YAML document (after ---) is not allowed; put it in a file of its own")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind == 0 {
		p.addAt(Position{1, 1}, "", "the file is empty: a workflow needs name, object_type, trigger and actions")
		return nil
	}
	return doc.Content[0]
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// keyRE is the start of a line up to a key's colon: indentation, list dashes and a plain name.
var keyRE = regexp.MustCompile(`^[ \t]*(- +)*[A-Za-z_][A-Za-z0-9_]*$`)

// maxLocateSize bounds the files whose syntax errors are located by parsing prefixes (a few
// parses of the file); a larger file gets the line yaml.v3 reports.
const maxLocateSize = 64 << 10

// syntaxError reports a YAML syntax error. yaml.v3 gives a line for most errors (not always the
// right one) and never a column, so the line is found again by parsing ever longer prefixes of the
// file, and the column is guessed from the line's text.
func (p *parser) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	}
	if len(p.src) <= maxLocateSize {
		if l := p.locateSyntaxError(msg); l > 0 {
			line = l
		}
	}
	line = min(max(line, 1), len(p.lineStarts))
	text := p.lineText(line)
	col := 1
	if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' && r != '\t' }); i >= 0 {
		col = runeCol(text, i)
	}
	hint := ""
	switch {
	case strings.Contains(msg, "mapping values are not allowed"):
		i := -1
		if len(p.src) <= maxLocateSize {
			i = p.locateColon(line, msg)
		}
		if i < 0 {
			i = secondColon(text)
		}
		if i >= 0 && keyRE.MatchString(text[:i]) {
			// The line's own key: the line is indented further than the keys above it, so it
			// continues the value above.
			hint = ": this key is indented further than the keys above it, so it continues the value above; line it up with them"
			break
		}
		if i >= 0 {
			col = runeCol(text, i)
		}
		hint = `: a ": " inside an unquoted value starts a mapping; quote the whole value ('...' or "...") or write it as a block scalar (|)`
		if i >= 0 && (strings.Count(text[:i], `"`)%2 == 1 || strings.Count(text[:i], `'`)%2 == 1) && !quotedValue(text) {
			hint = `: a ": " inside an unquoted value starts a mapping, even between quotes inside the value; quote the whole value ('...', doubling the ' inside, or "...", escaping the " inside as \") or write it as a block scalar (|)`
		}
	case strings.HasPrefix(text, "\t") || strings.Contains(msg, "tab"):
		if i := strings.IndexByte(text, '\t'); i >= 0 {
			col = runeCol(text, i)
		}
		hint = ": indent YAML with spaces, not tabs"
	default:
		if i, c := indicatorValue(text); i >= 0 {
			col = runeCol(text, i)
			hint = fmt.Sprintf(": a value that starts with %c is read as YAML syntax (%s), not as text; quote the whole value ('...' or \"...\") or write it as a block scalar (|)", c, indicators[c])
			if c == '!' {
				hint += ", or in a trigger write not instead of !"
			}
		}
	}
	p.addAt(Position{line, col}, "", "invalid YAML: "+msg+hint)
}

// indicators are the characters that, at the start of a plain value, YAML reads as syntax.
var indicators = map[byte]string{'!': "! starts a tag", '&': "& starts an anchor", '*': "* starts an alias",
	'@': "@ is reserved", '`': "` is reserved", '%': "% starts a directive"}

// indicatorValue returns the byte index in a "key: value" line (or a "- value" list item) of a
// value that starts with one of the indicators, and that indicator; -1 when it does not.
func indicatorValue(line string) (int, byte) {
	i := 0
	if k, _, ok := strings.Cut(line, ": "); ok && keyRE.MatchString(k) {
		i = len(k) + 2
	} else if t := strings.TrimLeft(line, " "); strings.HasPrefix(t, "- ") {
		i = len(line) - len(t) + 2
	} else {
		return -1, 0
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i < len(line) && indicators[line[i]] != "" {
		return i, line[i]
	}
	return -1, 0
}

// locateSyntaxError returns the first line whose end, parsed as the end of the file, gives the
// same error message; 0 when none does.
func (p *parser) locateSyntaxError(msg string) int {
	n := len(p.lineStarts)
	same := func(k int) bool {
		end := len(p.src)
		if k < n {
			end = p.lineStarts[k]
		}
		err := parseAll(p.src[:end])
		if err == nil {
			return false
		}
		m := strings.TrimPrefix(err.Error(), "yaml: ")
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			m = sm[2]
		}
		return m == msg
	}
	if !same(n) {
		return 0
	}
	lo, hi := 1, n
	for lo < hi {
		mid := (lo + hi) / 2
		if same(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func parseAll(src []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: panic: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// locateColon returns the byte index, in line (1-based), of the ": " that YAML took for a mapping
// value where none is allowed: the first one such that the file cut just after it gives the error
// msg. A plain scalar is not quoted text: in trigger: jobtitle == "VP: Sales" it is the colon of
// "VP: ". -1 when no colon does.
func (p *parser) locateColon(line int, msg string) int {
	if line < 1 || line > len(p.lineStarts) {
		return -1
	}
	start := p.lineStarts[line-1]
	text := p.lineText(line)
	for i := 0; i < len(text); i++ {
		if text[i] != ':' || (i+1 < len(text) && text[i+1] != ' ' && text[i+1] != '\t') {
			continue
		}
		err := parseAll(p.src[:start+i+1])
		if err == nil {
			continue
		}
		m := strings.TrimPrefix(err.Error(), "yaml: ")
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			m = sm[2]
		}
		if m == msg {
			return i
		}
	}
	return -1
}

// quotedValue reports whether the value of a "key: value" line starts with a quote (a quoted
// scalar, which may hold ": ").
func quotedValue(line string) bool {
	_, v, ok := strings.Cut(line, ": ")
	v = strings.TrimLeft(v, " \t")
	return ok && v != "" && (v[0] == '"' || v[0] == '\'')
}

// secondColon returns the byte index of the second ": " (or a final ":") outside quotes in a
// line: where a plain value that contains ": " turns into a mapping. -1 when there is none.
func secondColon(line string) int {
	var quote byte
	seen := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return -1
		case c == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t'):
			seen++
			if seen == 2 {
				return i
			}
		}
	}
	return -1
}

// checkAliases reports every alias and every merge key (<<): a workflow is written out in full.
func (p *parser) checkAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode {
		p.add(n, "", fmt.Sprintf("YAML aliases (*%s) are not supported in workflows: write the value out", n.Value))
		return
	}
	for i := 0; i < len(n.Content); i++ {
		if c := n.Content[i]; n.Kind == yaml.MappingNode && i%2 == 0 && isMergeKey(c) {
			// What it merges is left unread: the merge is the problem, whatever it merges.
			p.add(c, "", "YAML merge keys (<<) are not supported in workflows: write the fields out in this mapping")
			i++
			continue
		}
		p.checkAliases(n.Content[i])
	}
}

// isMergeKey reports whether n is YAML's merge key <<, which yaml.v3 would resolve into the
// mapping's fields.
func isMergeKey(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge" }

// hasMergeKey reports whether the mapping n has a merge key (<<) among its keys; a value written
// as << is no merge, and is reported where it is read.
func hasMergeKey(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if t := localTag(n); t != "" {
			return fmt.Sprintf("a value with the YAML tag %s", t)
		}
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!bool":
			return "true/false"
		case "!!int", "!!float":
			return "a number"
		case "!!timestamp":
			return "a date"
		case "!!str":
			return fmt.Sprintf("the text %q", truncate(n.Value, 40))
		}
		return fmt.Sprintf("a value of the YAML type %s", n.ShortTag())
	}
	return "empty"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && localTag(n) == ""
}

// localTag returns the tag written on n when it is not one of YAML's own (!!str, !!int, ...): a
// value written with a leading !, as in trigger: !email_opt_out, whose ! YAML reads as a tag and
// drops from the text. "" when there is none.
func localTag(n *yaml.Node) string {
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag
	}
	return ""
}

// tagProblem is the problem of a scalar written with a leading !: YAML took the word after it for
// a tag, so the value lost it.
func tagProblem(n *yaml.Node, path string) string {
	tag := localTag(n)
	whole := tag
	if n.Value != "" {
		whole += " " + n.Value
	}
	msg := fmt.Sprintf("YAML reads %s at the start of a value as a tag, not as text, and leaves it out of the value: "+
		"quote the whole value, as in '%s'", tag, strings.ReplaceAll(whole, "'", "''"))
	if path == "trigger" || strings.HasSuffix(path, ".trigger") {
		msg += fmt.Sprintf(", or write not %s", strings.TrimPrefix(whole, "!"))
	}
	return msg
}

type field struct{ key, val *yaml.Node }

// fields returns the fields of mapping n by key. It reports keys that are not text, duplicate
// keys and keys not in known; those are left out. n must be a mapping.
func (p *parser) fields(n *yaml.Node, path string, known []string, unknownHint func(key string) string) map[string]field {
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode || isMergeKey(k) {
			continue // reported by checkAliases
		}
		if k.Kind != yaml.ScalarNode {
			p.add(k, path, fmt.Sprintf("a key must be a plain name, not %s", describe(k)))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.add(k, join(path, k.Value), fmt.Sprintf("duplicate key %q: it is already set on line %d; keep one", k.Value, prev.key.Line))
			continue
		}
		if !slices.Contains(known, k.Value) {
			// Record it so a second copy is reported as a duplicate, not twice as unknown.
			out[k.Value] = field{key: k}
			if p.full() {
				p.dropped++
			} else {
				p.add(k, join(path, k.Value), unknownHint(k.Value))
			}
			continue
		}
		out[k.Value] = field{key: k, val: v}
	}
	for name, f := range out {
		if f.val == nil {
			delete(out, name)
		}
	}
	return out
}

// ErasedField is the first key of a workflow revision's source once a permanent delete erased an
// email address it named (SPEC S9), and ErasedAddress what replaced each such address. No
// workflow file may hold the field, so such a source does not parse: it says what to do instead.
const (
	ErasedField   = crm.ErasedField
	ErasedAddress = crm.ErasedAddress
)

// erasedHint is the problem of a source that holds ErasedField: a copy of an erased revision.
const erasedHint = "this is the text of a revision a permanent delete erased (it named the email address of a contact " +
	"deleted permanently, now " + ErasedAddress + "): remove this line, and write the workflow without that address " +
	"rather than the placeholder"

func unknownField(key string, known []string) string {
	if s := closest(key, known); s != "" {
		return fmt.Sprintf("unknown field %q: did you mean %q?", key, s)
	}
	return fmt.Sprintf("unknown field %q: use %s", key, strings.Join(known, ", "))
}

// str reads a text scalar (YAML tag !!str). Anything else is a problem: a mapping, a list, an
// empty value, or a number or true/false, which YAML does not read as text.
func (p *parser) str(n *yaml.Node, path, what string) (string, bool) {
	switch {
	case n.Kind == yaml.AliasNode:
		return "", false
	case n.Kind == yaml.ScalarNode && localTag(n) != "":
		p.add(n, path, tagProblem(n, path))
		return "", false
	case n.Kind == yaml.MappingNode:
		p.add(n, path, fmt.Sprintf("must be %s, not a mapping: a \": \" inside an unquoted value starts a mapping; quote the whole value or write it as a block scalar (|)", what))
		return "", false
	case n.Kind == yaml.SequenceNode:
		p.add(n, path, fmt.Sprintf("must be %s, not a list: a value starting with [ or \"- \" is a list; quote it", what))
		return "", false
	case n.Kind != yaml.ScalarNode:
		p.add(n, path, fmt.Sprintf("must be %s", what))
		return "", false
	case isNull(n):
		p.add(n, path, fmt.Sprintf("is empty: write %s", what))
		return "", false
	case n.ShortTag() != "!!str":
		p.add(n, path, fmt.Sprintf("must be %s, not %s: quote it if you meant the text", what, describe(n)))
		return "", false
	}
	return n.Value, true
}

// scalar reads any scalar as text: numbers and true/false as well (list: 12, value: 42). Integers
// and booleans are written canonically (0x1F reads 31, True reads true).
func (p *parser) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.ShortTag() == "!!str" || localTag(n) != "" {
		return p.str(n, path, what)
	}
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return strconv.FormatInt(i, 10), true
		}
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return strconv.FormatBool(b), true
		}
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		msg := fmt.Sprintf("must be true or false, not %s", describe(n))
		if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 &&
			(n.Value == "true" || n.Value == "false") {
			msg += ": remove the quotes"
		}
		p.add(n, path, msg)
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

// seq checks that n is a list.
func (p *parser) seq(n *yaml.Node, path, what string) bool {
	switch n.Kind {
	case yaml.SequenceNode:
		return true
	case yaml.AliasNode:
		return false
	}
	p.add(n, path, fmt.Sprintf("must be a list of %s, not %s", what, describe(n)))
	return false
}

func (p *parser) workflow(root *yaml.Node) *Workflow {
	if root.Kind != yaml.MappingNode {
		if root.Kind != yaml.AliasNode {
			p.add(root, "", fmt.Sprintf("a workflow file must be a mapping with name, object_type, trigger and actions, not %s", describe(root)))
		}
		return nil
	}
	fs := p.fields(root, "", workflowFields, func(k string) string {
		if k == ErasedField {
			return erasedHint
		}
		return unknownField(k, workflowFields)
	})
	merged := hasMergeKey(root) // its fields are the problem (checkAliases)
	for _, k := range requiredFields {
		if _, ok := fs[k]; !ok && !merged {
			p.add(root, k, fmt.Sprintf("is missing: a workflow needs %s", strings.Join(requiredFields, ", ")))
		}
	}
	wf := &Workflow{Events: slices.Clone(AllEvents)}
	if f, ok := fs["name"]; ok {
		if name, ok := p.str(f.val, "name", "the workflow's name, such as clean-bounced-contacts"); ok {
			if err := ValidateName(name); err != nil {
				p.add(f.val, "name", err.Error())
			}
			wf.Name = name
		}
	}
	if f, ok := fs["description"]; ok && !isNull(f.val) {
		wf.Description, _ = p.str(f.val, "description", "text")
	}
	var schema *crm.Schema
	if f, ok := fs["object_type"]; ok {
		if o, ok := p.str(f.val, "object_type", "an object type, such as contacts"); ok {
			wf.ObjectType = crm.ObjectType(o)
			schema = p.schema(f.val, wf.ObjectType)
		}
	}
	if f, ok := fs["trigger"]; ok {
		if e := p.expr(f.val, "trigger", schema); e != nil {
			wf.Trigger = *e
		}
	}
	if f, ok := fs["events"]; ok && !isNull(f.val) {
		wf.Events = p.events(f.val)
	}
	for key, dst := range map[string]*bool{"enroll_existing": &wf.EnrollExisting, "reenrollment": &wf.Reenrollment,
		"unenroll_when_not_matching": &wf.UnenrollWhenNotMatching} {
		if f, ok := fs[key]; ok && !isNull(f.val) {
			*dst = p.boolean(f.val, key)
		}
	}
	if f, ok := fs["suppression"]; ok && !isNull(f.val) {
		wf.Suppression = p.suppression(f.val, schema)
	}
	if f, ok := fs["limits"]; ok {
		wf.Limits = p.limits(f.val)
	}
	if f, ok := fs["actions"]; ok {
		wf.Actions = p.actions(f.val, schema)
	}
	return wf
}

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// limitsExample is how the problems with limits show a good one.
const limitsExample = "such as limits: {max_deletions: 500, per: 1h}, or limits: {max_deletions: unlimited}"

// limits reads a workflow's blast-radius limit (SPEC S24).
func (p *parser) limits(n *yaml.Node) *Limits {
	if n.Kind != yaml.MappingNode {
		switch {
		case n.Kind == yaml.AliasNode:
		case isNull(n):
			p.add(n, "limits", "is empty: give max_deletions and per, "+limitsExample+", or remove limits for the tenant's default")
		default:
			p.add(n, "limits", fmt.Sprintf("must be a mapping with max_deletions and per, %s; not %s", limitsExample, describe(n)))
		}
		return nil
	}
	fs := p.fields(n, "limits", limitsFields, func(k string) string { return unknownField(k, limitsFields) })
	before := len(p.probs)
	l := &Limits{Pos: nodePos(n)}
	mf, ok := fs["max_deletions"]
	if !ok && hasMergeKey(n) {
		return nil // the merge key is the problem (checkAliases)
	}
	if !ok {
		p.add(n, "limits.max_deletions", "is missing: give the most deletions per window, such as max_deletions: 500, or max_deletions: unlimited for no limit")
		return nil
	}
	unlimited := false
	switch v := mf.val; {
	case v.Kind == yaml.AliasNode:
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value == "unlimited":
		unlimited = true
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int":
		var max int64
		if err := v.Decode(&max); err != nil || max > crm.MaxDeletionsLimit {
			p.add(v, "limits.max_deletions", fmt.Sprintf("%s is too large: give at most %d, or unlimited for no limit", v.Value, crm.MaxDeletionsLimit))
			break
		}
		if max < 1 {
			p.add(v, "limits.max_deletions", fmt.Sprintf("must be at least 1, not %s: a workflow that must never delete has no delete action; write unlimited for no limit", v.Value))
			break
		}
		l.Deletions.Max = int(max)
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && strings.EqualFold(strings.TrimSpace(v.Value), "unlimited"):
		// Meant as unlimited: the window is then judged as for unlimited.
		unlimited = true
		p.add(v, "limits.max_deletions", fmt.Sprintf("write unlimited in lowercase, not %q", v.Value))
	case v.Kind == yaml.ScalarNode && v.ShortTag() != "!!str" && digitsRE.MatchString(v.Value):
		// An integer too large for YAML's int is read as a float.
		p.add(v, "limits.max_deletions", fmt.Sprintf("%s is too large: give at most %d, or unlimited for no limit", v.Value, crm.MaxDeletionsLimit))
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!float":
		p.add(v, "limits.max_deletions", fmt.Sprintf("must be a whole number of deletions, such as 500, or unlimited; not %s", v.Value))
	default:
		p.add(v, "limits.max_deletions", fmt.Sprintf("must be a whole number of deletions, such as 500, or unlimited; not %s", describe(v)))
	}
	pf, hasPer := fs["per"]
	switch {
	case unlimited && hasPer:
		p.add(pf.key, "limits.per", "has no use with max_deletions: unlimited: remove it, or give a number of deletions")
	case !unlimited && !hasPer:
		p.add(n, "limits.per", "is missing: give the window the deletions are counted over, such as per: 1h")
	case hasPer:
		if src, ok := p.scalar(pf.val, "limits.per", "a window such as 1h, 30m or 1d"); ok {
			d, err := actions.ParseDuration(src)
			switch {
			case err != nil && strings.Contains(err.Error(), "longer than zero"):
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is too short: give at least %s, such as 1h", src, crm.FormatWindow(crm.MinLimitWindow)))
			case err != nil && strings.Contains(err.Error(), "longer than"):
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is too long: give at most %s", src, crm.FormatWindow(crm.MaxLimitWindow)))
			case err != nil:
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is invalid: write a number and a unit (d, h, m or s), such as 1h, 30m or 1d", src))
			case d < crm.MinLimitWindow:
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is too short: give at least %s, such as 1h", src, crm.FormatWindow(crm.MinLimitWindow)))
			case d > crm.MaxLimitWindow:
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is too long: give at most %s", src, crm.FormatWindow(crm.MaxLimitWindow)))
			case d%time.Second != 0:
				p.add(pf.val, "limits.per", fmt.Sprintf("window %q is not a whole number of seconds: round it, such as 1h or 90s", src))
			default:
				l.Deletions.Per = d
			}
		}
	}
	if len(p.probs) > before {
		return nil
	}
	return l
}

// schema looks up the schema of o; nil when the type is unknown (reported) or the lookup failed.
func (p *parser) schema(n *yaml.Node, o crm.ObjectType) *crm.Schema {
	s, err := p.schemas.Schema(o)
	if errors.Is(err, crm.ErrNotFound) {
		var known []string
		if l, ok := p.schemas.(interface{ ObjectTypes() []crm.ObjectType }); ok {
			for _, t := range l.ObjectTypes() {
				known = append(known, string(t))
			}
		}
		msg := fmt.Sprintf("unknown object type %q", o)
		switch s := closest(string(o), known); {
		case s != "":
			msg += fmt.Sprintf(": did you mean %q?", s)
		case len(known) > 0:
			msg += ": use " + strings.Join(known, ", ")
		default:
			msg += ": use contacts, companies, deals, tickets, calls or one of the tenant's custom object types"
		}
		p.addUnknown(nodePos(n), "object_type", msg, string(o))
		return nil
	}
	if err != nil {
		p.fatal = fmt.Errorf("look up the schema of %s: %w", o, err)
		return nil
	}
	if s.Type == "" {
		s.Type = o
	}
	return &s
}

func (p *parser) expr(n *yaml.Node, path string, schema *crm.Schema) *Expr {
	src, ok := p.str(n, path, `an expression (text), such as lifecyclestage == "lead"`)
	if !ok {
		return nil
	}
	m := p.mapScalar(n)
	e := &Expr{Source: src, Pos: m.at(0)}
	if schema == nil {
		return e
	}
	prog, err := triggers.Compile(src, *schema)
	if err != nil {
		var te *triggers.Error
		if !errors.As(err, &te) {
			p.addAt(e.Pos, path, err.Error())
			return e
		}
		pos := nodePos(n)
		if te.Line > 0 {
			pos = m.exprPos(te.Line, te.Column)
		}
		msg, unknown := exprMessage(te.Message, *schema)
		if d := dashedName(src, te.Line, te.Column); d != "" && unknown != "" {
			msg, unknown = dashedMessage(te.Message, d, *schema)
		}
		p.addUnknown(pos, path, msg, unknown)
		return e
	}
	e.Program = prog
	return e
}

// unknownNameRE is expr's message for an unknown name; expr's names are letters (any script),
// digits, _ and $.
var unknownNameRE = regexp.MustCompile(`^unknown name ([\p{L}_$][\p{L}\p{N}_$]*)`)

// exprMessage adds a hint to expr's message for an unknown name, and returns the name.
func exprMessage(msg string, schema crm.Schema) (string, string) {
	if m := mismatchRE.FindStringSubmatch(msg); m != nil {
		return msg + mismatchHint(m[1], m[2]), ""
	}
	m := unknownNameRE.FindStringSubmatch(msg)
	if m == nil {
		return msg, ""
	}
	if s := closest(m[1], schema.Names()); s != "" {
		return fmt.Sprintf("%s: did you mean %s?", msg, s), m[1]
	}
	return fmt.Sprintf("%s: it is not a property of %s nor a helper (daysSince, hoursSince, isSet, now, id)", msg, schema.Type), m[1]
}

// mismatchRE is expr's message for an operator between values of two types it does not compare.
var mismatchRE = regexp.MustCompile(`\(mismatched types (\S+) and (\S+)\)$`)

// mismatchHint says how to write a comparison of a property with a literal of the wrong type:
// a date with a text, a number or true/false with a quoted value, a text with a number.
func mismatchHint(a, b string) string {
	has := func(t string) bool { return a == t || b == t }
	number := has("float64") || has("int")
	switch {
	case has("time.Time") && has("string"):
		return `: a datetime or date property compares with a date, such as date("2024-01-01"), or counts days with daysSince(property) > 30`
	case number && has("string"):
		return ": a number compares with a number, written without quotes, and text with text, in quotes"
	case has("bool") && has("string"):
		return ": a true/false property compares with true or false, written without quotes"
	}
	return ""
}

// dashedName returns the name with dashes around the character at line:col (1-based, col in
// characters, as expr counts it) of src, such as hs-lead-status, whose - expr reads as a minus; ""
// when there is no dash in it.
func dashedName(src string, line, col int) string {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) || col < 1 {
		return ""
	}
	text := lines[line-1]
	at := -1 // the byte index of the col-th character
	for i := range text {
		if col--; col == 0 {
			at = i
			break
		}
	}
	if at < 0 {
		return ""
	}
	part := func(c byte) bool {
		return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	i, j := at, at
	for i > 0 && part(text[i-1]) {
		i--
	}
	for j < len(text) && part(text[j]) {
		j++
	}
	name := strings.Trim(text[i:j], "-")
	if !strings.Contains(name, "-") {
		return ""
	}
	return name
}

// dashedMessage is the problem of an unknown name that is part of a name with dashes (in a
// trigger, - is a minus), and the name the schema lacks: the dashed name with _ for -, or "" when
// the schema has a property close to it. Property names never have dashes.
func dashedMessage(msg, dashed string, schema crm.Schema) (string, string) {
	msg += fmt.Sprintf(": in a trigger, - is a minus, so %s is not one name", dashed)
	under := strings.ReplaceAll(dashed, "-", "_")
	if _, ok := schema.Properties[under]; ok {
		return msg + fmt.Sprintf("; did you mean %s?", under), ""
	}
	if s := closest(under, schema.Names()); s != "" {
		return msg + fmt.Sprintf("; did you mean %s?", s), ""
	}
	return msg + fmt.Sprintf("; property names use _, not -, and %s is not a property of %s either", under, schema.Type), under
}

func (p *parser) events(n *yaml.Node) []Event {
	if !p.seq(n, "events", "events (created, updated)") {
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, "events", "is empty: list created, updated or both, or leave events out for both")
		return nil
	}
	var out []Event
	for i, item := range n.Content {
		path := fmt.Sprintf("events[%d]", i)
		s, ok := p.str(item, path, "created or updated")
		if !ok {
			continue
		}
		e := Event(s)
		switch {
		case !slices.Contains(AllEvents, e):
			p.add(item, path, fmt.Sprintf("unknown event %q: use created or updated", s))
		case slices.Contains(out, e):
			p.add(item, path, fmt.Sprintf("event %q is listed twice: keep one", s))
		default:
			out = append(out, e)
		}
	}
	return out
}

var listIDRE = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

func (p *parser) suppression(n *yaml.Node, schema *crm.Schema) *Suppression {
	if n.Kind != yaml.MappingNode {
		if n.Kind != yaml.AliasNode {
			p.add(n, "suppression", fmt.Sprintf("must be a mapping with trigger, lists or both, not %s", describe(n)))
		}
		return nil
	}
	fs := p.fields(n, "suppression", suppressionFields, func(k string) string { return unknownField(k, suppressionFields) })
	if len(n.Content) == 0 {
		p.add(n, "suppression", "is empty: give trigger, lists or both, or remove suppression")
	}
	s := &Suppression{}
	if f, ok := fs["trigger"]; ok {
		s.Trigger = p.expr(f.val, "suppression.trigger", schema)
	}
	if f, ok := fs["lists"]; ok && p.seq(f.val, "suppression.lists", "list ids") {
		if len(f.val.Content) == 0 {
			p.add(f.val, "suppression.lists", "is empty: give the ids of static lists, or remove lists")
		}
		for i, item := range f.val.Content {
			path := fmt.Sprintf("suppression.lists[%d]", i)
			id, ok := p.scalar(item, path, "a list id, such as 12")
			if !ok {
				continue
			}
			switch {
			case !listIDRE.MatchString(id):
				p.add(item, path, fmt.Sprintf("list id %q is invalid: use the list's number, such as 12 (GET /crm/v3/lists shows them)", id))
			case slices.Contains(s.Lists, crm.ListID(id)):
				p.add(item, path, fmt.Sprintf("list %s is listed twice: keep one", id))
			default:
				s.Lists = append(s.Lists, crm.ListID(id))
			}
		}
	}
	return s
}

func (p *parser) actions(n *yaml.Node, schema *crm.Schema) []Step {
	if isNull(n) {
		p.add(n, "actions", "is empty: a workflow needs at least one action, such as - type: delete_contact")
		return nil
	}
	if !p.seq(n, "actions", "actions, each a mapping with a type") {
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, "actions", "is empty: a workflow needs at least one action, such as - type: delete_contact")
		return nil
	}
	if len(n.Content) > MaxActions {
		p.add(n, "actions", fmt.Sprintf("has %d actions: a workflow may have at most %d; split it into several workflows", len(n.Content), MaxActions))
		return nil
	}
	steps := make([]Step, 0, len(n.Content))
	bad := false
	for i, item := range n.Content {
		path := fmt.Sprintf("actions[%d]", i)
		// In a workflow of another object type, delete_contact is itself the problem (reported
		// with it): the actions after it are not told that a contact is gone.
		if i > 0 && actionType(n.Content[i-1]) == "delete_contact" && (schema == nil || schema.Type == crm.Contacts) {
			p.add(item, path, "comes after delete_contact, so it would never run: the contact is already in the recycle bin; make delete_contact the last action")
		}
		st, ok := p.action(item, path, schema)
		bad = bad || !ok
		steps = append(steps, st)
	}
	if bad {
		return nil
	}
	return steps
}

// actionType returns the type written in an action's mapping, or "".
func actionType(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Kind == yaml.ScalarNode && k.Value == "type" && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

func (p *parser) action(n *yaml.Node, path string, schema *crm.Schema) (Step, bool) {
	if n.Kind != yaml.MappingNode {
		if n.Kind != yaml.AliasNode {
			p.add(n, path, fmt.Sprintf("an action must be a mapping with a type, such as {type: delete_contact}, not %s", describe(n)))
		}
		return Step{}, false
	}
	st := Step{Pos: nodePos(n), Params: actions.Params{}}
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "type" && typeNode == nil {
			typeNode = n.Content[i+1]
		}
	}
	if typeNode == nil {
		if hasMergeKey(n) {
			return Step{}, false // the merge key is the problem (checkAliases)
		}
		p.add(n, path, fmt.Sprintf("the action has no type: add type: with one of %s", strings.Join(p.reg.Names(), ", ")))
		return Step{}, false
	}
	name, ok := p.str(typeNode, join(path, "type"), "an action type, such as delete_contact")
	if !ok {
		return Step{}, false
	}
	def, ok := p.reg.Lookup(name)
	if !ok {
		msg := fmt.Sprintf("unknown action type %q", name)
		if s := closest(name, p.reg.Names()); s != "" {
			msg += fmt.Sprintf(": did you mean %q?", s)
		} else {
			msg += ": use " + strings.Join(p.reg.Names(), ", ")
		}
		if strings.Contains(name, "permanent") || strings.Contains(name, "gdpr") {
			msg += " (workflows never delete permanently: delete_contact moves the contact to the recycle bin)"
		}
		p.add(typeNode, join(path, "type"), msg)
		return Step{}, false
	}
	st.Type = name
	known := []string{"type"}
	for _, prm := range def.Params {
		known = append(known, prm.Name)
	}
	before := len(p.probs)
	fs := p.fields(n, path, known, func(k string) string {
		if s := closest(k, known); s != "" {
			return fmt.Sprintf("unknown field %q of %s: did you mean %q?", k, name, s)
		}
		if len(def.Params) == 0 {
			return fmt.Sprintf("unknown field %q: %s takes no parameters", k, name)
		}
		return fmt.Sprintf("unknown field %q of %s: use %s", k, name, strings.Join(known[1:], ", "))
	})
	for k, f := range fs {
		if k == "type" || isNull(f.val) {
			continue
		}
		prm, _ := def.Param(k)
		if v := f.val; !prm.AnyScalar && v.Kind == yaml.ScalarNode && localTag(v) == "" && v.ShortTag() != "!!str" {
			// Quoting it is rarely the fix (duration: 90 has no unit): say what the parameter takes.
			p.add(v, join(path, k), fmt.Sprintf("must be text, not %s: %s is %s", describe(v), k, prm.Doc))
			continue
		}
		read, what := p.str, "text"
		if prm.AnyScalar {
			read, what = p.scalar, "a single value (text, a number or true/false)"
		}
		if v, ok := read(f.val, join(path, k), what); ok {
			st.Params[k] = v
		}
	}
	if len(p.probs) > before || schema == nil || hasMergeKey(n) {
		return Step{}, false
	}
	cfg, err := p.reg.Configure(name, st.Params, *schema)
	if err != nil {
		var fes actions.FieldErrors
		if !errors.As(err, &fes) {
			p.add(typeNode, join(path, "type"), err.Error())
			return Step{}, false
		}
		for _, fe := range fes {
			at, fpath := typeNode, path
			if fe.Path != "" {
				fpath = join(path, fe.Path)
				if f, ok := fs[fe.Path]; ok {
					at = f.val
				} else {
					at = n
				}
			}
			pos := nodePos(at)
			if fe.Offset > 0 && at.Kind == yaml.ScalarNode {
				// Inside the value: at that character, across the scalar's quoting and folding.
				pos = p.mapScalar(at).at(fe.Offset)
			}
			p.addUnknown(pos, fpath, fe.Message, fe.Unknown)
		}
		return Step{}, false
	}
	st.Action = cfg
	return st, true
}
