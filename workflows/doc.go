// Package workflows reads and validates workflow files: the YAML documents ops staff keep in git
// to say which records enroll and what happens to them.
//
//	name: clean-bounced-contacts
//	object_type: contacts
//	trigger: email_bounced && lifecyclestage != "customer"
//	actions:
//	  - type: delete_contact
//
// [Parse] decodes a file with its positions (gopkg.in/yaml.v3 nodes), checks every field,
// compiles the triggers once against the property schema of the workflow's object type
// ([triggers.Compile]), configures each action through an [actions.Registry], and returns a
// [*Workflow] ready for the engine. The format is described field by field in docs/workflows.md,
// and as a JSON Schema for editors by [JSONSchema].
//
// # Validation
//
// A file with problems gives a [*ValidationError] that lists all of them, sorted, one per line:
//
//	bounced.yaml:3:20: trigger: invalid operation: == (mismatched types float64 and string): a number compares with a number, written without quotes, and text with text, in quotes
//	bounced.yaml:6:11: actions[0]: delete_contact exists only for contact workflows: this workflow's object_type is companies
//
// Each [Problem] has the file, the line and column (in characters), the path of the field and a
// message that says what to do. A problem inside a trigger is reported where it is in the file:
// the expression's own line and column are carried through YAML's quoting, escapes, folding and
// block scalars (| and >).
//
// # Schemas
//
// Validation needs the property schema of the workflow's object type, through a [SchemaLookup]:
// [StandardSchemas] for offline checks against the properties every tenant has, a tenant's schema
// export read by [LoadSchemaFile] (written by [WriteSchemaFile], as `crmflow admin schema export`
// prints it), or a tenant's live schema through [SchemaFunc].
package workflows
