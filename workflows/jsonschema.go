package workflows

import (
	_ "embed"
	"slices"
)

//go:embed schema.json
var jsonSchema []byte

// JSONSchema returns the JSON Schema (draft 2020-12) of the workflow format, for editors: with the
// YAML language server, put
//
//	# yaml-language-server: $schema=https://raw.githubusercontent.com/crmflow/crmflow/main/workflows/schema.json
//
// at the top of a workflow file, or map examples/workflows/*.yaml to the file in the editor's
// settings. It describes the same fields as Parse accepts; Parse checks more (that properties
// exist, that triggers type-check). Each call returns a new copy.
func JSONSchema() []byte { return slices.Clone(jsonSchema) }
