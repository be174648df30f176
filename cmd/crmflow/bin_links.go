package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
)

// newBinLinksCmd is `crmflow admin bin-links [TENANT...]`: it builds the bin links of the records
// that went to the recycle bin before the store kept them (redisstore.Store.BackfillBinLinks).
func (a *app) newBinLinksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bin-links [TENANT...]",
		Short: "Index the associations of records binned before an upgrade, for permanent deletes (every tenant when none is named)",
		Long: `Build the index that lets a permanent delete find the records in the recycle bin that name the
contact (a call moved to the bin while its contact was live) and the binned records that name an
erased call, for the records moved to the bin before that index existed: of the named tenants, or
of every tenant when none is named, every object type. Run it once after upgrading from a version
without it; every delete, restore, purge and permanent delete keeps the index from then on. Until
it has run, a permanent delete does not find a call binned before the upgrade while its contact
was live. It is safe while the API serves, and safe to interrupt and run again: it only adds what
is missing. It prints each type's count of links added to stderr.`,
		Example: `  crmflow admin bin-links            # every tenant
  crmflow admin bin-links acme`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var errs []error
			for _, t := range args {
				errs = append(errs, crm.TenantID(t).Validate())
			}
			if err := usage(errors.Join(errs...)); err != nil {
				return err
			}
			b, err := a.adminStore(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			tenants, err := a.namedOrAllTenants(ctx, b.store, args, "index")
			if err != nil {
				return err
			}
			for _, t := range tenants {
				if _, err := b.store.Tenant(ctx, t); err != nil {
					return tenantError(t, "bin-links", err)
				}
				types, err := b.store.AllObjectTypes(ctx, t)
				if err != nil {
					return fmt.Errorf("tenant %s: list object types: %w", t, err)
				}
				for _, o := range types {
					n, err := b.store.BackfillBinLinks(ctx, t, o)
					if err != nil {
						return fmt.Errorf("tenant %s: bin links of %s: %w", t, o, err)
					}
					fmt.Fprintf(a.stderr, "tenant %s: %s: %s added\n", t, o, counted(n, "bin link"))
				}
			}
			return nil
		},
	}
}
