package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// newRetentionCmd is `crmflow admin retention`: the deployment's retention, kept in Redis.
func (a *app) newRetentionCmd() *cobra.Command {
	c := group("retention", "Show or change how long a deleted record stays restorable, for the whole deployment",
		a.newRetentionShowCmd(), a.newRetentionSetCmd())
	c.Long = `The retention is how long a deleted record stays restorable in the recycle bin (90 days by
default). It is one setting of the deployment, kept in its Redis: the first serve, worker or run
stores its --retention (or the default), and every process uses the stored one. A process given
another --retention or CRMFLOW_RETENTION refuses to start; "set" is the only way to change it.

Processes read it when they start: after a change, restart every serve, worker and run process.`
	return c
}

func (a *app) newRetentionShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print the deployment's retention",
		Long: `Print the deployment's retention on stdout, as days and hours ("90d"), and on stderr whether
the Redis holds it or none is stored yet (the default then applies).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := a.adminStore(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			d, held, err := b.store.StoredRetention(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, crm.FormatWindow(d))
			if held {
				fmt.Fprintf(a.stderr, "the deployment's retention is %s (%s), kept in Redis at %s\n", crm.FormatWindow(d), d, b.addr)
			} else {
				fmt.Fprintf(a.stderr, "no retention is stored in Redis at %s yet: the default %s applies, and the first serve, worker or run stores its own\n",
					b.addr, crm.FormatWindow(d))
			}
			return nil
		},
	}
}

func (a *app) newRetentionSetCmd() *cobra.Command {
	var confirm bool
	cmd := &cobra.Command{
		Use:   "set DURATION [--confirm-shorter]",
		Short: "Change the deployment's retention (a shorter one needs --confirm-shorter)",
		Long: `Change the deployment's retention: a duration such as 2160h, or days such as 90d.

Lengthening it is always allowed. Shortening it makes the bin entries deleted between the two
horizons purgeable at once: users were told they could restore them, and once the next purge has
run they are gone for good. It is refused unless --confirm-shorter is given, and either way it
prints, per tenant, how many entries that is (the refusal changes nothing).

The change is written to every tenant's audit trail (action retention_set) with the acting admin.
Processes read the retention when they start: restart every serve, worker and run process after a
change, and drop (or update) any --retention or CRMFLOW_RETENTION they are given, which must be the
deployment's for them to start.`,
		Example: `  crmflow admin retention show
  crmflow admin retention set 180d
  crmflow admin retention set 30d                    # refused: says how many entries become purgeable
  crmflow admin retention set 30d --confirm-shorter`,
		Args: exactArgs("DURATION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d daysDuration
			if err := d.Set(args[0]); err != nil {
				return usageErrorf("retention %v", err)
			}
			if time.Duration(d) <= 0 {
				return usageErrorf("retention must be positive, got %s: use a duration such as 2160h, or days such as 90d", args[0])
			}
			return a.setRetention(cmd.Context(), time.Duration(d), confirm)
		},
	}
	cmd.Flags().BoolVar(&confirm, "confirm-shorter", false,
		"allow a retention shorter than the deployment's: the bin entries between the two become purgeable at once")
	return cmd
}

// setRetention changes the deployment's retention to d and reports what it did, or why not.
func (a *app) setRetention(ctx context.Context, d time.Duration, confirm bool) error {
	b, err := a.adminStore(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := b.store.SetRetention(ctx, redisstore.SetRetentionParams{Retention: d, AllowShorter: confirm, By: a.adminActor()})
	var bad *crm.ValidationError
	switch {
	case errors.As(err, &bad):
		return usage(err)
	case errors.Is(err, crm.ErrRetentionShorter):
		if werr := a.printPurgeable(c); werr != nil {
			return werr
		}
		if c.PurgeableTotal() == 0 {
			// Nothing in the bin is at stake, but the promise to users is: say that, not "0 records".
			return &exitError{code: exitUsage, err: fmt.Errorf("refusing to shorten the deployment's retention from %s to %s "+
				"without --confirm-shorter: no deleted record would become purgeable at once, but every record deleted from now on "+
				"would be restorable for %s instead of %s. Nothing was changed. If that is what you mean, run again with "+
				"--confirm-shorter: %w", crm.FormatWindow(c.Previous), crm.FormatWindow(d), crm.FormatWindow(d),
				crm.FormatWindow(c.Previous), err)}
		}
		now := time.Now()
		return &exitError{code: exitUsage, err: fmt.Errorf("refusing to shorten the deployment's retention from %s to %s: %s, "+
			"deleted between %s and %s, which users were told they could restore, would become purgeable at once and be removed "+
			"for good by the next purge. Nothing was changed. If that is what you mean, run again with --confirm-shorter: %w",
			crm.FormatWindow(c.Previous), crm.FormatWindow(d), purgeableText(c), crm.FormatDatetime(now.Add(-c.Previous)),
			crm.FormatDatetime(now.Add(-d)), err)}
	case err != nil && !c.Changed:
		return fmt.Errorf("set the retention: %w", err)
	}
	if werr := a.printPurgeable(c); werr != nil {
		return werr
	}
	if !c.Changed {
		fmt.Fprintf(a.stderr, "the deployment's retention is %s already: nothing changed\n", crm.FormatWindow(d))
		return err
	}
	fmt.Fprintf(a.stderr, "the deployment's retention: %s -> %s", crm.FormatWindow(c.Previous), crm.FormatWindow(d))
	if d < c.Previous {
		fmt.Fprintf(a.stderr, "; %s now purgeable at once (no longer restorable; the next purge removes them)", purgeableText(c))
	}
	fmt.Fprintf(a.stderr, "\nwritten to the audit trail of %s. Restart every serve, worker and run process: a running one keeps "+
		"the retention it read at start-up. Drop (or update) --retention and CRMFLOW_RETENTION where they are set, or those "+
		"processes will refuse to start.\n", counted(c.Audited, "tenant"))
	if err != nil {
		return fmt.Errorf("set the retention: %w", err)
	}
	return nil
}

// purgeableText says how many bin entries a shortening makes purgeable: "12 deleted records of 3 tenants".
func purgeableText(c redisstore.RetentionChange) string {
	return fmt.Sprintf("%s of %s", counted(c.PurgeableTotal(), "deleted record"), counted(len(c.Purgeable), "tenant"))
}

// printPurgeable prints, for a shortening, the table of the bin entries per tenant that it makes
// purgeable at once, with a total; nothing for a lengthening.
func (a *app) printPurgeable(c redisstore.RetentionChange) error {
	if c.Retention >= c.Previous {
		return nil
	}
	tenants := make([]crm.TenantID, 0, len(c.Purgeable))
	for t := range c.Purgeable {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tPURGEABLE AT ONCE")
	for _, t := range tenants {
		fmt.Fprintf(w, "%s\t%d\n", t, c.Purgeable[t])
	}
	fmt.Fprintf(w, "TOTAL\t%d\n", c.PurgeableTotal())
	return w.Flush()
}
