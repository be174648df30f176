package triggers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// fuzzSchema is the schema the fuzzed expressions are compiled against: the standard properties of
// every standard object type (so that every example trigger compiles), a date property (no
// standard property is one), and two properties that a tenant may create under the names of
// helpers (now and id): together they cover every property type.
func fuzzSchema(t testing.TB) crm.Schema {
	t.Helper()
	s := crm.Schema{Type: crm.ObjectType("fuzzed"), Properties: map[string]crm.Property{}}
	for _, o := range []crm.ObjectType{crm.Contacts, crm.Companies, crm.Deals, crm.Tickets, crm.Calls} {
		std, ok := crm.StandardSchema(o)
		if !ok {
			t.Fatalf("no standard schema for %s", o)
		}
		for name, p := range std.Properties {
			s.Properties[name] = p
		}
	}
	s.Properties["renewal_date"] = crm.Property{Name: "renewal_date", Label: "Renewal date", Type: crm.TypeDate}
	s.Properties["now"] = crm.Property{Name: "now", Label: "Now", Type: crm.TypeDatetime}
	s.Properties["id"] = crm.Property{Name: "id", Label: "Id", Type: crm.TypeNumber}
	types := map[crm.PropertyType]bool{}
	for _, p := range s.Properties {
		types[p.Type] = true
	}
	if len(types) != len(crm.PropertyTypes) {
		t.Fatalf("the fuzz schema has properties of %d types, not all %d", len(types), len(crm.PropertyTypes))
	}
	return s
}

// fuzzRecord is a record whose properties all hold the fuzzed value of their type: text for
// strings and enumerations, number, flag and when for the others.
func fuzzRecord(schema crm.Schema, text, number, flag, when string) crm.Record {
	rec := crm.Record{ID: "7", Type: schema.Type, Properties: map[string]string{}}
	for name, p := range schema.Properties {
		switch p.Type {
		case crm.TypeNumber:
			rec.Properties[name] = number
		case crm.TypeBool:
			rec.Properties[name] = flag
		case crm.TypeDatetime, crm.TypeDate:
			rec.Properties[name] = when
		default:
			rec.Properties[name] = text
		}
	}
	return rec
}

// exampleTriggers returns the triggers and suppression triggers of the example workflows.
func exampleTriggers(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/workflows/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example workflows: %v", err)
	}
	var out []string
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			Trigger     string `yaml:"trigger"`
			Suppression struct {
				Trigger string `yaml:"trigger"`
			} `yaml:"suppression"`
		}
		if err := yaml.Unmarshal(src, &wf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, src := range []string{wf.Trigger, wf.Suppression.Trigger} {
			if src != "" {
				out = append(out, src)
			}
		}
	}
	return out
}

// FuzzCompile checks the trigger compiler and the programs it makes, on expressions and record
// values the fuzzer writes. Compile never panics; it returns a program or an *Error, and every
// error but those about the source as a whole (empty, too long) points at a line and column inside
// the source. A program's Match returns a boolean or an error (false with an error), never a
// panic, and agrees with Run on the environment NewEnv builds. Nothing may run for long: the
// fuzzing engine fails an input that takes more than 10 seconds.
//
// The seed corpus (testdata/fuzz/FuzzCompile) holds expressions at the edges of the language and
// the limits; the triggers of the example workflows and of the tests are added here so that it
// stays current.
func FuzzCompile(f *testing.F) {
	seeds := append(exampleTriggers(f),
		`lifecyclestage == "lead"`,
		`lifecyclestage != "customer" && daysSince(last_activity_date) > 730`,
		`num_notes >= 3 && num_notes < 4`,
		`!isSet("phone") && isSet("email")`,
		`hasSuffix(email, "@example.com") && id == "7"`,
		`lower(email) matches "^[a-z]+@"`,
		`daysSince(now) == 0`,
		`hoursSince(closedate) < 24 && amount > 1000`,
		`num_notes == "three"`,
		"lifecyclestage == \"lead\" &&\n  email_bounced > 3",
		`now() > last_activity_date`,
		`len(repeat("x", 1000000000)) > 0`,
		`fromJSON(email)`,
		`   `,
	)
	for _, src := range seeds {
		f.Add(src, "ada@example.com", "42", "true", "2024-05-01T00:00:00.000Z")
	}
	schema := fuzzSchema(f)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, src, text, number, flag, when string) {
		prog, err := triggers.Compile(src, schema)
		if err != nil {
			checkCompileError(t, src, err)
			return
		}
		if prog == nil || prog.Source() != src {
			t.Fatalf("Compile returned no error and the program %#v", prog)
		}
		rec := fuzzRecord(schema, text, number, flag, when)
		ok, err := prog.Match(rec, now)
		if err != nil && ok {
			t.Fatalf("Match returned true with the error %v", err)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("Match returned an error without a message")
		}
		ok2, err2 := prog.Run(prog.NewEnv(rec, now))
		if orderDependent(src) {
			return
		}
		if ok != ok2 || (err == nil) != (err2 == nil) {
			t.Fatalf("Match gives %v, %v but Run(NewEnv) gives %v, %v", ok, err, ok2, err2)
		}
	})
}

// orderDependent reports whether src may read a map in its iteration order, which Go randomizes:
// two runs of such an expression may legitimately differ.
func orderDependent(src string) bool {
	for _, s := range []string{"{", "$env", "keys", "values", "Pairs", "groupBy", "fromJSON"} {
		if strings.Contains(src, s) {
			return true
		}
	}
	return false
}

// checkCompileError checks that err is a *triggers.Error that points inside src, or one about src
// as a whole (empty or too long) without a position.
func checkCompileError(t *testing.T, src string, err error) {
	t.Helper()
	te, ok := err.(*triggers.Error)
	if !ok {
		t.Fatalf("Compile returned %T, not a *triggers.Error: %v", err, err)
	}
	if te.Message == "" || te.Error() == "" {
		t.Fatalf("an error without a message: %#v", te)
	}
	if te.Line == 0 {
		if strings.TrimSpace(src) != "" && len(src) <= triggers.MaxSourceLen {
			t.Fatalf("an error without a position: %v", te)
		}
		return
	}
	lines := strings.Split(src, "\n")
	if te.Line < 1 || te.Line > len(lines) {
		t.Fatalf("line %d is outside the source of %d lines: %v", te.Line, len(lines), te)
	}
	// expr counts columns in runes; the column after the last rune is where a missing token goes.
	if n := utf8.RuneCountInString(lines[te.Line-1]); te.Column < 1 || te.Column > n+1 {
		t.Fatalf("column %d is outside line %d of %d runes: %v", te.Column, te.Line, n, te)
	}
}
