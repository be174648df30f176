package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/workflows"
)

// newValidateCmd returns `crmflow validate`: offline validation of workflow files.
func newValidateCmd(a *app) *cobra.Command {
	var schemaFile string
	cmd := &cobra.Command{
		Use:   "validate [--schema schema.yaml] FILE...",
		Short: "Check workflow files offline, printing every problem as file:line:col: message",
		Long: `Check workflow files offline, as the API checks them when they are stored: unknown fields, duplicate
keys, a value of the wrong kind, an unknown action or property, a trigger that does not compile or is
not boolean (reported at its line and column in the file), an action that does not apply to the
workflow's object type; and, as apply does, two files of one workflow name.

Every problem is printed on stdout as "file:line:col: path: message" (on a terminal followed by the
line with a caret under the column), and every valid file as "file: ok". One summary line goes to
stderr. The exit code is 0 when every file is valid, 1 when any has a problem, 2 when a file or the
schema cannot be read. A FILE of "-" is read from stdin, and named <stdin> in the output.

Files are checked against the standard properties of every tenant. A workflow that uses a tenant's
custom properties or object types is checked against that tenant's schema, exported with
"crmflow admin schema export TENANT > schema.yaml" and given with --schema.`,
		Example: `  crmflow validate examples/workflows/*.yaml
  crmflow admin schema export acme --redis redis://127.0.0.1:6379/0 > acme-schema.yaml
  crmflow validate --schema acme-schema.yaml workflows/*.yaml
  render-flow | crmflow validate -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s needs at least one FILE\nUsage: %s", cmd.CommandPath(), cmd.UseLine())
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			schemas, err := loadSchemas(schemaFile)
			if err != nil {
				return err
			}
			return a.validateFiles(args, schemas, schemaFile == "")
		},
	}
	cmd.Flags().StringVar(&schemaFile, "schema", "",
		"validate against this schema export (crmflow admin schema export TENANT) instead of the standard properties")
	return cmd
}

// loadSchemas returns the schemas of --schema, or the standard ones when path is empty. A schema
// file that cannot be read or parsed is a usage error.
func loadSchemas(path string) (workflows.Schemas, error) {
	if path == "" {
		return workflows.StandardSchemas(), nil
	}
	s, err := workflows.LoadSchemaFile(path)
	if err != nil {
		return nil, usage(fmt.Errorf("--schema %s: %w", path, err))
	}
	return s, nil
}

// fileCheck is the outcome of checking one workflow file.
type fileCheck struct {
	wf  *workflows.Workflow
	src []byte
	// problems is the file's *workflows.ValidationError, nil when it is valid.
	problems *workflows.ValidationError
}

// checkFile reads and validates one workflow file ("-" is stdin). A file that cannot be read is a
// usage error; a file with problems is no error, its problems are in the result.
func (a *app) checkFile(path string, schemas workflows.SchemaLookup) (fileCheck, error) {
	src, err := a.readFile(path)
	if err != nil {
		return fileCheck{}, usage(fmt.Errorf("read workflow file: %w", err))
	}
	path = fileName(path)
	wf, err := workflows.Parse(path, src, schemas, nil)
	var ve *workflows.ValidationError
	switch {
	case errors.As(err, &ve):
		return fileCheck{src: src, problems: ve}, nil
	case err != nil:
		return fileCheck{}, fmt.Errorf("validate %s: %w", path, err)
	}
	return fileCheck{wf: wf, src: src}, nil
}

// printProblems prints a file's problems on stdout: one line each, with the snippet on a terminal.
func (a *app) printProblems(ve *workflows.ValidationError) {
	out := ve.Error()
	if isTerminal(a.stdout) {
		out = ve.Detailed()
	}
	fmt.Fprintln(a.stdout, out)
}

// validateFiles checks every file and prints what it found; see newValidateCmd for the output and
// the exit codes. standard says schemas are the standard properties only: a name they lack may be
// one of the tenant's, and the summary says how to check against those.
func (a *app) validateFiles(paths []string, schemas workflows.SchemaLookup, standard bool) error {
	var bad, problems, unchecked int
	var unknown []string // names the schema lacks, in the order first found
	code := 0
	defined := map[string]string{} // workflow name -> the file that defines it
	for _, path := range paths {
		c, err := a.checkFile(path, schemas)
		path := fileName(path)
		if err != nil {
			unchecked++
			fmt.Fprintf(a.stderr, "crmflow: %v\n", err)
			code = max(code, exitCodeOf(err))
			continue
		}
		if c.problems != nil {
			bad++
			problems += len(c.problems.Problems)
			a.printProblems(c.problems)
			for _, pr := range c.problems.Problems {
				if pr.Unknown != "" && !slices.Contains(unknown, pr.Unknown) {
					unknown = append(unknown, pr.Unknown)
				}
			}
			continue
		}
		if prev, dup := defined[c.wf.Name]; dup && filepath.Clean(prev) != filepath.Clean(path) {
			// apply refuses two files of one workflow: so does validate.
			line, col := topValuePosition(c.src, "name")
			bad++
			problems++
			a.printProblems(&workflows.ValidationError{Problems: []workflows.Problem{{File: path, Line: line, Column: col, Path: "name",
				Message: fmt.Sprintf("workflow %s is also defined in %s: give each workflow its own name, or keep one of the files", c.wf.Name, prev)}}})
			continue
		}
		defined[c.wf.Name] = path
		fmt.Fprintf(a.stdout, "%s: ok\n", path)
	}
	n := len(paths)
	if standard && len(unknown) > 0 {
		fmt.Fprintf(a.stderr, "crmflow: checked against the standard properties only: if %s is a custom property or object type of your tenant, "+
			"export its schema (crmflow admin schema export TENANT > schema.yaml) and validate with --schema schema.yaml\n", orList(unknown))
	}
	switch {
	case unchecked > 0:
		msg := fmt.Sprintf("%d of %s could not be checked", unchecked, counted(n, "file"))
		if bad > 0 {
			msg += fmt.Sprintf("; %d invalid, %s", bad, counted(problems, "problem"))
		}
		return &exitError{code: code, err: errors.New(msg)}
	case bad > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of %s invalid, %s", bad, counted(n, "file"), counted(problems, "problem"))}
	}
	fmt.Fprintf(a.stderr, "%s valid\n", counted(n, "file"))
	return nil
}

// exitCodeOf is the exit code err calls for: its own for an *exitError, else 1.
func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// topValuePosition is the line and column of the value of a workflow file's top-level key (1:1
// when it cannot be found).
func topValuePosition(src []byte, key string) (int, int) {
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return 1, 1
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Line, m.Content[i+1].Column
		}
	}
	return 1, 1
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
