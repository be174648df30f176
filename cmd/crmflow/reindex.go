package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// newReindexCmd is `crmflow admin reindex [TENANT...] [--type TYPE]`: it builds the search
// indexes of the records that existed before them (redisstore.Store.ReindexSearch).
func (a *app) newReindexCmd() *cobra.Command {
	var only string
	cmd := &cobra.Command{
		Use:   "reindex [TENANT...] [--type TYPE]",
		Short: "Rebuild the search indexes from the live records (every tenant when none is named)",
		Long: `Rebuild the search indexes of POST /crm/v3/objects/{objectType}/search from the live
records: of the named tenants, or of every tenant when none is named; of every object type, or of
--type only. Run it once after upgrading to a version with search, for the records written before;
every write keeps the indexes from then on. It is safe while the API serves (writes during the
rebuild index themselves), but a search may miss records the rebuild has not reached yet. It prints
each type's count to stderr.`,
		Example: `  crmflow admin reindex            # every tenant, every type
  crmflow admin reindex acme --type contacts`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			check := func() error {
				var errs []error
				for _, t := range args {
					errs = append(errs, crm.TenantID(t).Validate())
				}
				return usage(errors.Join(errs...))
			}
			if err := check(); err != nil {
				return err
			}
			b, err := a.adminStore(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			tenants, err := a.namedOrAllTenants(ctx, b.store, args, "reindex")
			if err != nil {
				return err
			}
			for _, t := range tenants {
				if _, err := b.store.Tenant(ctx, t); err != nil {
					return tenantError(t, "reindex", err)
				}
				all, err := b.store.AllObjectTypes(ctx, t)
				if err != nil {
					return fmt.Errorf("tenant %s: list object types: %w", t, err)
				}
				types := all
				if only != "" {
					if !slices.Contains(all, crm.ObjectType(only)) {
						return usageErrorf("tenant %s has no object type %q: name one of %v, or leave --type out", t, only, all)
					}
					types = []crm.ObjectType{crm.ObjectType(only)}
				}
				for _, o := range types {
					n, err := b.store.ReindexSearch(ctx, t, o)
					if err != nil {
						return fmt.Errorf("tenant %s: reindex %s: %w", t, o, err)
					}
					fmt.Fprintf(a.stderr, "tenant %s: %s: %s indexed\n", t, o, counted(n, "record"))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&only, "type", "", "reindex only this object type (default every type)")
	return cmd
}

// namedOrAllTenants returns the tenants named in args, or every tenant of the store when none is
// named; when the store has none, it says on stderr that there is nothing to do (what: "reindex").
func (a *app) namedOrAllTenants(ctx context.Context, st *redisstore.Store, args []string, what string) ([]crm.TenantID, error) {
	if len(args) > 0 {
		tenants := make([]crm.TenantID, len(args))
		for i, t := range args {
			tenants[i] = crm.TenantID(t)
		}
		return tenants, nil
	}
	tenants, err := st.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if len(tenants) == 0 {
		fmt.Fprintf(a.stderr, "no tenant on this Redis: nothing to %s (crmflow admin tenant list lists them)\n", what)
	}
	return tenants, nil
}
