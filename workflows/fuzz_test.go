package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/workflows"
)

// FuzzParse checks that Parse never panics, and returns either a complete Workflow or a
// *ValidationError whose problems all have a position in the file. A valid workflow marshals back
// to a file that parses to the same workflow. The seed corpus (testdata/fuzz/FuzzParse) holds the
// examples and the invalid workflows of testdata/; they are also added here so it stays current.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../examples/workflows/*.yaml", "testdata/invalid/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	schemas, reg := workflows.StandardSchemas(), actions.Default()
	f.Fuzz(func(t *testing.T, src []byte) {
		wf, err := workflows.Parse("fuzz.yaml", src, schemas, reg)
		if err != nil {
			ve, ok := err.(*workflows.ValidationError)
			if !ok {
				t.Fatalf("Parse returned %T, not a *ValidationError: %v", err, err)
			}
			if wf != nil || len(ve.Problems) == 0 {
				t.Fatalf("an error with a workflow, or without problems: %v", err)
			}
			lines := yamlLines(src)
			for _, p := range ve.Problems {
				if p.File != "fuzz.yaml" || p.Line < 1 || p.Column < 1 || p.Line > lines+1 || p.Message == "" {
					t.Fatalf("bad problem position or text: %+v (file of %d lines)", p, lines)
				}
				if !utf8.ValidString(p.Snippet) {
					t.Fatalf("snippet is not UTF-8: %q", p.Snippet)
				}
			}
			_ = ve.Error()
			_ = ve.Detailed()
			return
		}
		if wf == nil || wf.Trigger.Program == nil || len(wf.Actions) == 0 {
			t.Fatalf("a valid workflow is incomplete: %+v", wf)
		}
		for _, s := range wf.Actions {
			if s.Action == nil || s.Action.Step == nil {
				t.Fatalf("step %s is not configured", s.Type)
			}
		}
		if wf.Suppression != nil && wf.Suppression.Trigger != nil && wf.Suppression.Trigger.Program == nil {
			t.Fatalf("the suppression trigger is not compiled")
		}
		out, err := yaml.Marshal(wf)
		if err != nil {
			t.Fatalf("marshal a valid workflow: %v", err)
		}
		again, err := workflows.Parse("again.yaml", out, schemas, reg)
		if err != nil {
			t.Fatalf("a marshaled valid workflow does not parse: %v\n%s", err, out)
		}
		if summary(again) != summary(wf) {
			t.Fatalf("round trip changed the workflow:\n%s\n%s", summary(wf), summary(again))
		}
	})
}

// yamlLines counts the lines of src as YAML does: CRLF, CR, LF, NEL, LS and PS end a line.
func yamlLines(src []byte) int {
	s := strings.ReplaceAll(string(src), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
