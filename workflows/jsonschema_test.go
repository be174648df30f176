package workflows_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/workflows"
)

func loadJSONSchema(t *testing.T) map[string]any {
	t.Helper()
	var s map[string]any
	require.NoError(t, json.Unmarshal(workflows.JSONSchema(), &s), "schema.json is not valid JSON")
	return s
}

func obj(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%v is not an object", path)
		v = m[p]
	}
	m, ok := v.(map[string]any)
	require.True(t, ok, "%v is not an object", path)
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	require.True(t, ok, "%v is not an array", v)
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = fmt.Sprint(x)
	}
	sort.Strings(out)
	return out
}

// yamlFields lists the yaml tag names of a struct's fields.
func yamlFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// TestJSONSchemaMatchesParse checks that schema.json lists exactly the fields Parse accepts: the
// workflow's and the suppression's (from the structs' yaml tags), the required ones (from Parse's
// answers), and each registered action type with its parameters.
func TestJSONSchemaMatchesParse(t *testing.T) {
	t.Parallel()
	s := loadJSONSchema(t)
	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", s["$schema"])
	require.Equal(t, false, s["additionalProperties"])
	props := obj(t, s, "properties")
	require.Equal(t, yamlFields(reflect.TypeFor[workflows.Workflow]()), keys(props))
	require.Equal(t, yamlFields(reflect.TypeFor[workflows.Suppression]()), keys(obj(t, props, "suppression", "properties")))
	require.Equal(t, false, obj(t, props, "suppression")["additionalProperties"])

	// A field is required in the schema exactly when Parse says it is missing without it.
	full := map[string]string{
		"name": "name: x\n", "description": "description: d\n", "object_type": "object_type: contacts\n",
		"trigger": "trigger: email_bounced\n", "events": "events: [created]\n", "enroll_existing": "enroll_existing: true\n",
		"reenrollment": "reenrollment: true\n", "unenroll_when_not_matching": "unenroll_when_not_matching: true\n",
		"suppression": "suppression: {lists: [1]}\n", "limits": "limits: {max_deletions: 5, per: 1h}\n",
		"actions": "actions:\n  - type: delete_contact\n",
	}
	require.Equal(t, keys(props), keys(map[string]any{"name": 1, "description": 1, "object_type": 1, "trigger": 1, "events": 1,
		"enroll_existing": 1, "reenrollment": 1, "unenroll_when_not_matching": 1, "suppression": 1, "limits": 1, "actions": 1}))
	var required []string
	for _, left := range keys(props) {
		var b strings.Builder
		for _, k := range keys(props) {
			if k != left {
				b.WriteString(full[k])
			}
		}
		_, err := workflows.Parse("f.yaml", []byte(b.String()), nil, nil)
		if err != nil {
			require.Contains(t, err.Error(), "f.yaml:1:1: "+left+": is missing")
			required = append(required, left)
		}
	}
	require.Equal(t, required, strs(t, s["required"]))

	// Every action type, with exactly its parameters.
	reg := actions.Default()
	defs := obj(t, s, "$defs")
	action := obj(t, defs, "action")
	require.Equal(t, reg.Names(), strs(t, obj(t, action, "properties", "type")["enum"]))
	var refs []string
	for _, alt := range action["oneOf"].([]any) {
		refs = append(refs, strings.TrimPrefix(alt.(map[string]any)["$ref"].(string), "#/$defs/"))
	}
	sort.Strings(refs)
	require.Equal(t, reg.Names(), refs)
	for _, name := range reg.Names() {
		def, _ := reg.Lookup(name)
		d := obj(t, defs, name)
		require.Equal(t, false, d["additionalProperties"], name)
		want, wantReq := []string{"type"}, []string{"type"}
		for _, p := range def.Params {
			want = append(want, p.Name)
			if p.Required {
				wantReq = append(wantReq, p.Name)
			}
		}
		sort.Strings(want)
		sort.Strings(wantReq)
		require.Equal(t, want, keys(obj(t, d, "properties")), name)
		require.Equal(t, wantReq, strs(t, d["required"]), name)
		require.Equal(t, name, obj(t, d, "properties", "type")["const"], name)
		require.NotEmpty(t, d["description"], name)
	}
}

// TestJSONSchemaValidatesExamples runs the examples, and some invalid workflows, through a small
// JSON Schema validator that knows exactly the keywords schema.json uses (and fails on any other).
func TestJSONSchemaValidatesExamples(t *testing.T) {
	t.Parallel()
	s := loadJSONSchema(t)
	check := func(t *testing.T, file string) []string {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return []string{err.Error()} // duplicate keys, for one
		}
		b, err := json.Marshal(doc)
		require.NoError(t, err)
		var inst any
		require.NoError(t, json.Unmarshal(b, &inst))
		v := &validator{t: t, root: s}
		return v.validate(s, inst, "")
	}
	files, err := filepath.Glob("../examples/workflows/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		require.Empty(t, check(t, f), f)
	}
	for _, f := range []string{"typos", "delete-companies", "nested", "kitchen-sink", "limits", "limits-unlimited"} {
		require.NotEmpty(t, check(t, "testdata/invalid/"+f+".yaml"), f)
	}
	// The schema cannot type-check a trigger: Parse does.
	require.Empty(t, check(t, "testdata/invalid/trigger-type-error.yaml"))
}

type validator struct {
	t    *testing.T
	root map[string]any
}

var annotations = map[string]bool{"$schema": true, "$id": true, "$defs": true, "title": true, "description": true,
	"default": true, "examples": true, "format": true}

func (v *validator) validate(schema any, inst any, path string) []string {
	s, ok := schema.(map[string]any)
	require.True(v.t, ok, "schema at %s is not an object", path)
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	for kw, arg := range s {
		switch kw {
		case "$ref":
			ref := strings.TrimPrefix(arg.(string), "#/$defs/")
			def, ok := v.root["$defs"].(map[string]any)[ref]
			require.True(v.t, ok, "unknown $ref %s", arg)
			errs = append(errs, v.validate(def, inst, path)...)
		case "type":
			var types []string
			if one, ok := arg.(string); ok {
				types = []string{one}
			} else {
				types = strs(v.t, arg)
			}
			if !slices.ContainsFunc(types, func(typ string) bool { return hasType(inst, typ) }) {
				fail("want type %v, got %T", types, inst)
			}
		case "enum":
			if !slices.ContainsFunc(arg.([]any), func(x any) bool { return reflect.DeepEqual(x, inst) }) {
				fail("%v is not one of %v", inst, arg)
			}
		case "const":
			if !reflect.DeepEqual(arg, inst) {
				fail("%v is not %v", inst, arg)
			}
		case "properties":
			if m, ok := inst.(map[string]any); ok {
				for k, sub := range arg.(map[string]any) {
					if x, ok := m[k]; ok {
						errs = append(errs, v.validate(sub, x, path+"/"+k)...)
					}
				}
			}
		case "additionalProperties":
			require.Equal(v.t, false, arg, "only additionalProperties: false is supported")
			if m, ok := inst.(map[string]any); ok {
				props, _ := s["properties"].(map[string]any)
				for k := range m {
					if _, ok := props[k]; !ok {
						fail("unknown property %q", k)
					}
				}
			}
		case "required":
			if m, ok := inst.(map[string]any); ok {
				for _, k := range strs(v.t, arg) {
					if _, ok := m[k]; !ok {
						fail("missing %q", k)
					}
				}
			}
		case "minProperties":
			if m, ok := inst.(map[string]any); ok && float64(len(m)) < arg.(float64) {
				fail("fewer than %v properties", arg)
			}
		case "items":
			if list, ok := inst.([]any); ok {
				for i, x := range list {
					errs = append(errs, v.validate(arg, x, fmt.Sprintf("%s/%d", path, i))...)
				}
			}
		case "minItems", "maxItems":
			if list, ok := inst.([]any); ok {
				n := float64(len(list))
				if (kw == "minItems" && n < arg.(float64)) || (kw == "maxItems" && n > arg.(float64)) {
					fail("%s %v", kw, arg)
				}
			}
		case "uniqueItems":
			if list, ok := inst.([]any); ok && arg == true {
				seen := map[string]bool{}
				for _, x := range list {
					b, _ := json.Marshal(x)
					if seen[string(b)] {
						fail("duplicate item %s", b)
					}
					seen[string(b)] = true
				}
			}
		case "minLength", "maxLength":
			if str, ok := inst.(string); ok {
				n := float64(len([]rune(str)))
				if (kw == "minLength" && n < arg.(float64)) || (kw == "maxLength" && n > arg.(float64)) {
					fail("%s %v", kw, arg)
				}
			}
		case "pattern":
			if str, ok := inst.(string); ok && !regexp.MustCompile(arg.(string)).MatchString(str) {
				fail("%q does not match %s", str, arg)
			}
		case "minimum":
			if n, ok := inst.(float64); ok && n < arg.(float64) {
				fail("%v is below %v", n, arg)
			}
		case "maximum":
			if n, ok := inst.(float64); ok && n > arg.(float64) {
				fail("%v is above %v", n, arg)
			}
		case "oneOf", "anyOf":
			passed := 0
			for _, alt := range arg.([]any) {
				if len(v.validate(alt, inst, path)) == 0 {
					passed++
				}
			}
			if (kw == "oneOf" && passed != 1) || (kw == "anyOf" && passed == 0) {
				fail("%s: %d alternatives match", kw, passed)
			}
		case "allOf":
			for _, sub := range arg.([]any) {
				errs = append(errs, v.validate(sub, inst, path)...)
			}
		case "not":
			if len(v.validate(arg, inst, path)) == 0 {
				fail("matches a schema it must not")
			}
		case "if":
			branch := "else"
			if len(v.validate(arg, inst, path)) == 0 {
				branch = "then"
			}
			if sub, ok := s[branch]; ok {
				errs = append(errs, v.validate(sub, inst, path)...)
			}
		case "then", "else":
		default:
			require.True(v.t, annotations[kw], "schema.json uses keyword %q, which this test's validator does not know", kw)
		}
	}
	return errs
}

func hasType(inst any, typ string) bool {
	switch typ {
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "boolean":
		_, ok := inst.(bool)
		return ok
	case "number":
		_, ok := inst.(float64)
		return ok
	case "integer":
		n, ok := inst.(float64)
		return ok && n == math.Trunc(n)
	case "null":
		return inst == nil
	}
	return false
}
