package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/worker"
)

func newPurgeCmd(a *app) *cobra.Command {
	var tenant, asOf string
	var dryRun, early bool
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Purge the expired recycle-bin entries once, now or as of a given time (needs --redis or REDIS_URL)",
		Long: `Remove for good, once, the recycle-bin entries deleted at or before --as-of minus the
deployment's retention: the same purge the scheduler enqueues every hour, run at once from the
command line. Without --tenant it purges every tenant.

The retention is the one the Redis holds (see crmflow admin retention show; the default 90 days
when none is stored yet). --retention, or CRMFLOW_RETENTION, is only checked against it: a value
that differs is refused and nothing is removed. A purge never changes the retention; to change it,
use crmflow admin retention set.

It prints a table of the records purged per tenant and object type, with a total. With --dry-run it
removes nothing and prints what it would purge. Each entry's deletion time is re-checked inside
Redis, so running it twice, or beside the scheduler, removes nothing twice and nothing early.

--as-of defaults to now. A later time (RFC 3339, e.g. 2026-06-01T00:00:00Z) purges as if that time
had come: with --dry-run it shows what a future purge will remove. Without --dry-run it would remove
entries still within their retention period, which users may still restore, so it also needs
--allow-early (to empty the bin of a test tenant, say).`,
		Example: `  crmflow purge --redis redis://127.0.0.1:6379/0
  crmflow purge --tenant acme --dry-run
  crmflow purge --tenant acme --as-of 2026-06-01T00:00:00Z --dry-run`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.purgeRetention = true
			return a.purge(cmd.Context(), crm.TenantID(tenant), asOf, dryRun, early)
		},
	}
	fs := cmd.Flags()
	a.redisFlag(fs)
	a.retentionFlag(fs)
	fs.Lookup("retention").Usage = "the deployment's retention, checked only: the purge uses the one the Redis holds, and refuses " +
		"a value that differs (a duration such as 2160h, or days such as 90d) [env CRMFLOW_RETENTION]"
	a.saltFlag(fs)
	a.waitReplicasFlag(fs)
	fs.StringVar(&tenant, "tenant", "", "purge only this tenant (default: every tenant)")
	fs.StringVar(&asOf, "as-of", "", "purge as of this time, RFC 3339 (default: now)")
	fs.BoolVar(&dryRun, "dry-run", false, "count what would be purged; remove nothing")
	fs.BoolVar(&early, "allow-early", false, "with a future --as-of, remove entries still within their retention period (they can no longer be restored)")
	return cmd
}

// asOfSkew is how far past the clock --as-of may be without --allow-early: clocks of two machines
// differ by that much.
const asOfSkew = time.Minute

// purge runs worker.Purge once and prints its counts.
func (a *app) purge(ctx context.Context, tenant crm.TenantID, asOfFlag string, dryRun, early bool) error {
	now := time.Now().UTC()
	at := now
	if asOfFlag != "" {
		t, err := time.Parse(time.RFC3339, asOfFlag)
		if err != nil {
			return usageErrorf("--as-of %q is not an RFC 3339 time: use e.g. 2026-06-01T00:00:00Z", asOfFlag)
		}
		at = t.UTC()
	}
	if at.After(now.Add(asOfSkew)) && !dryRun && !early {
		return usageErrorf("--as-of %s is in the future: a purge as of then removes entries still within their retention period, "+
			"which users may still restore. Add --dry-run to see what it will remove, or --allow-early to remove them now",
			at.Format(time.RFC3339))
	}
	if tenant != worker.AllTenants {
		if err := tenant.Validate(); err != nil {
			return usage(err)
		}
	}
	if a.cfg.Retention <= 0 {
		return usageErrorf("--retention must be positive, got %s: use a duration such as 2160h (90 days)", a.cfg.Retention)
	}
	if a.cfg.RedisURL == "" {
		return errNoRedis("crmflow purge")
	}
	b, err := a.openRedis(ctx, false)
	if err != nil {
		return err
	}
	defer b.Close()
	counts, err := worker.Purge(ctx, b.store, tenant, at, &worker.PurgeOpts{DryRun: dryRun, Retention: a.cfg.Retention})
	if tenant != worker.AllTenants && len(counts) == 0 && err != nil {
		return tenantError(tenant, "purge", err)
	}
	// Print what was done even when a tenant failed: that part stays done.
	total, werr := a.printPurge(counts, tenant == worker.AllTenants, dryRun)
	verb := "purged"
	if dryRun {
		verb = "would purge (dry run: nothing was removed)"
	}
	fmt.Fprintf(a.stderr, "%s %s of %s deleted at or before %s (as of %s, retention %s)\n",
		verb, counted(total, "record"), counted(len(counts), "tenant"), at.Add(-a.cfg.Retention).Format(time.RFC3339), at.Format(time.RFC3339), a.cfg.Retention)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return werr
}

// printPurge prints the counts as a table: every object type of a single tenant, and only the
// types with something purged when all tenants were purged. It returns the total.
func (a *app) printPurge(counts map[crm.TenantID]map[crm.ObjectType]int64, allTenants, dryRun bool) (int64, error) {
	type row struct {
		tenant crm.TenantID
		typ    crm.ObjectType
		n      int64
	}
	var rows []row
	var total int64
	for t, byType := range counts {
		for o, n := range byType {
			total += n
			if n > 0 || !allTenants {
				rows = append(rows, row{t, o, n})
			}
		}
	}
	slices.SortFunc(rows, func(x, y row) int {
		return cmp.Or(cmp.Compare(x.tenant, y.tenant), cmp.Compare(x.typ, y.typ))
	})
	head := "PURGED"
	if dryRun {
		head = "WOULD PURGE"
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "TENANT\tOBJECT TYPE\t%s\n", head)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%d\n", r.tenant, r.typ, r.n)
	}
	fmt.Fprintf(w, "TOTAL\t\t%d\n", total)
	return total, w.Flush()
}
