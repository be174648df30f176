package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/crm"
)

// SchemaLookup gives the property schema of an object type, for validating workflows against it.
// For a type that does not exist it returns an error matching crm.ErrNotFound (the store's
// *crm.NotFoundError does); any other error stops validation and is returned by Parse.
type SchemaLookup interface {
	Schema(o crm.ObjectType) (crm.Schema, error)
}

// SchemaFunc adapts a function to SchemaLookup, for example a tenant's live schema:
//
//	workflows.SchemaFunc(func(o crm.ObjectType) (crm.Schema, error) { return store.Schema(ctx, tenant, o) })
type SchemaFunc func(o crm.ObjectType) (crm.Schema, error)

// Schema calls f.
func (f SchemaFunc) Schema(o crm.ObjectType) (crm.Schema, error) { return f(o) }

// Schemas is a fixed set of schemas by object type: the standard ones (StandardSchemas) or a
// tenant's, read from a schema export (LoadSchemaFile). Safe for concurrent reads.
type Schemas map[crm.ObjectType]crm.Schema

// Schema returns the schema of o, or a *crm.NotFoundError.
func (s Schemas) Schema(o crm.ObjectType) (crm.Schema, error) {
	sch, ok := s[o]
	if !ok {
		return crm.Schema{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
	}
	return sch, nil
}

// ObjectTypes lists the object types: the standard ones in their usual order, then custom ones
// sorted by name.
func (s Schemas) ObjectTypes() []crm.ObjectType {
	out := make([]crm.ObjectType, 0, len(s))
	for _, o := range crm.StandardObjectTypes {
		if _, ok := s[o]; ok {
			out = append(out, o)
		}
	}
	var custom []crm.ObjectType
	for o := range s {
		if !o.IsStandard() {
			custom = append(custom, o)
		}
	}
	slices.Sort(custom)
	return append(out, custom...)
}

// StandardSchemas returns the schemas every tenant has (crm.StandardSchema), for validating
// workflows offline.
func StandardSchemas() Schemas {
	out := make(Schemas, len(crm.StandardObjectTypes))
	for _, o := range crm.StandardObjectTypes {
		s, _ := crm.StandardSchema(o)
		out[o] = s
	}
	return out
}

// SchemaFileVersion is the version of the schema export format that WriteSchemaFile writes and
// LoadSchemaFile reads.
const SchemaFileVersion = 1

// schemaFile is the schema export format:
//
//	crmflow_schema: 1
//	object_types:
//	  - name: contacts
//	    properties:
//	      - name: email
//	        label: Email
//	        type: string
//	        standard: true
type schemaFile struct {
	Version     int              `yaml:"crmflow_schema"`
	ObjectTypes []schemaFileType `yaml:"object_types"`
}

type schemaFileType struct {
	Name       crm.ObjectType `yaml:"name"`
	Properties []crm.Property `yaml:"properties"`
}

// WriteSchemaFile writes schemas in the schema export format that LoadSchemaFile reads (what
// `crmflow admin schema export TENANT > schema.yaml` prints): standard object types first, then
// custom ones by name, each with its properties sorted by name.
func WriteSchemaFile(w io.Writer, schemas []crm.Schema) error {
	f := schemaFile{Version: SchemaFileVersion}
	sorted := slices.Clone(schemas)
	rank := func(o crm.ObjectType) int {
		if i := slices.Index(crm.StandardObjectTypes, o); i >= 0 {
			return i
		}
		return len(crm.StandardObjectTypes)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, rj := rank(sorted[i].Type), rank(sorted[j].Type)
		if ri != rj {
			return ri < rj
		}
		return sorted[i].Type < sorted[j].Type
	})
	for _, s := range sorted {
		t := schemaFileType{Name: s.Type}
		for _, n := range s.Names() {
			t.Properties = append(t.Properties, s.Properties[n])
		}
		f.ObjectTypes = append(f.ObjectTypes, t)
	}
	var b bytes.Buffer
	b.WriteString("# crmflow property schema export. Validate workflows against it with:\n")
	b.WriteString("#   crmflow validate --schema schema.yaml FILE...\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("encode schema file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode schema file: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write schema file: %w", err)
	}
	return nil
}

// LoadSchemaFile reads a schema export written by WriteSchemaFile. Standard object types the file
// does not list get their standard schema. Errors name the file and, for YAML problems, the line.
func LoadSchemaFile(path string) (Schemas, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema file: %w", err)
	}
	return ParseSchemaFile(path, src)
}

var (
	typeErrorLineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	typeErrorFieldRE   = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeErrorUnmarshal = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
)

// schemaFileProblem words one of yaml.v3's decoding errors of a schema file as
// "file:line: message", without Go's type names.
func schemaFileProblem(filename, e string) string {
	where := filename
	if m := typeErrorLineRE.FindStringSubmatch(e); m != nil {
		where, e = filename+":"+m[1], m[2]
	}
	if m := typeErrorFieldRE.FindStringSubmatch(e); m != nil {
		return fmt.Sprintf("%s: unknown field %q: remove it, or check its spelling", where, m[1])
	}
	if m := typeErrorUnmarshal.FindStringSubmatch(e); m != nil {
		want := "a mapping"
		switch {
		case strings.HasPrefix(m[2], "[]"):
			want = "a list"
		case m[2] == "int":
			want = "a whole number"
		case m[2] == "bool":
			want = "true or false"
		case m[2] == "string" || m[2] == "crm.ObjectType" || m[2] == "crm.PropertyType":
			want = "text"
		}
		return fmt.Sprintf("%s: %q is not %s", where, m[1], want)
	}
	return where + ": " + e
}

var objectTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ParseSchemaFile is LoadSchemaFile on the contents src of the file called filename.
func ParseSchemaFile(filename string, src []byte) (Schemas, error) {
	var f schemaFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the schema file is empty: write it with crmflow admin schema export TENANT > %s", filename, filename)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				msgs[i] = schemaFileProblem(filename, e)
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
		return nil, fmt.Errorf("%s: %s", filename, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if f.Version != SchemaFileVersion {
		return nil, fmt.Errorf("%s: crmflow_schema is %d: this crmflow reads version %d; export the schema again", filename, f.Version, SchemaFileVersion)
	}
	out := Schemas{}
	for i, t := range f.ObjectTypes {
		if !objectTypeRE.MatchString(string(t.Name)) {
			return nil, fmt.Errorf("%s: object_types[%d]: object type name %q is invalid: use lowercase letters, digits and underscores", filename, i, t.Name)
		}
		if _, dup := out[t.Name]; dup {
			return nil, fmt.Errorf("%s: object type %s is listed twice: keep one", filename, t.Name)
		}
		s := crm.Schema{Type: t.Name, Properties: make(map[string]crm.Property, len(t.Properties))}
		for _, p := range t.Properties {
			if err := p.Validate(); err != nil {
				return nil, fmt.Errorf("%s: object type %s: %w", filename, t.Name, err)
			}
			if _, dup := s.Properties[p.Name]; dup {
				return nil, fmt.Errorf("%s: object type %s: property %q is listed twice: keep one", filename, t.Name, p.Name)
			}
			s.Properties[p.Name] = p
		}
		out[t.Name] = s
	}
	for o, s := range StandardSchemas() {
		if _, ok := out[o]; !ok {
			out[o] = s
		}
	}
	return out, nil
}
