package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// newSchemaCmd returns `crmflow admin schema`, the group of `admin schema export`. It is a
// subcommand of admin, whose persistent --redis flag it uses.
func (a *app) newSchemaCmd() *cobra.Command {
	return group("schema", "Export a tenant's property schema, for validating workflows offline", a.newSchemaExportCmd())
}

func (a *app) newSchemaExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export TENANT",
		Short: "Print a tenant's object types and properties as a schema file for crmflow validate --schema",
		Long: `Print a tenant's object types (the standard ones and its custom ones) with all their properties,
in the schema file format that "crmflow validate --schema" and "crmflow apply --schema" read. Only
the schema goes to stdout, so that it can be redirected to a file kept beside the workflows.`,
		Example: `  crmflow admin schema export acme --redis redis://127.0.0.1:6379/0 > acme-schema.yaml
  crmflow validate --schema acme-schema.yaml workflows/*.yaml`,
		Args: exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := crm.TenantID(args[0])
			return a.tenantRun(ctx, t, "export the schema of", func(s crm.Store) error {
				types, err := s.AllObjectTypes(ctx, t)
				if err != nil {
					return fmt.Errorf("list the object types of tenant %s: %w", t, err)
				}
				schemas := make([]crm.Schema, 0, len(types))
				for _, o := range types {
					sch, err := s.Schema(ctx, t, o)
					if errors.Is(err, crm.ErrNotFound) {
						continue // deleted since AllObjectTypes
					}
					if err != nil {
						return fmt.Errorf("read the %s schema of tenant %s: %w", o, t, err)
					}
					schemas = append(schemas, sch)
				}
				// Written whole or not at all: a failure must not leave half a schema in the file.
				var buf bytes.Buffer
				if err := workflows.WriteSchemaFile(&buf, schemas); err != nil {
					return err
				}
				if _, err := a.stdout.Write(buf.Bytes()); err != nil {
					return fmt.Errorf("write the schema: %w", err)
				}
				fmt.Fprintf(a.stderr, "exported %s of tenant %s\n", counted(len(schemas), "object type"), t)
				return nil
			})
		},
	}
}
