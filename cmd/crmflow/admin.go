package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
)

// The admin commands print what they did to stderr; stdout carries only the result a script
// reads (the token of `token create`, the table of `tenant list`).

func newAdminCmd(a *app) *cobra.Command {
	admin := group("admin", "Operator's commands: tenants, users, API tokens, the email outbox (needs --redis or REDIS_URL)",
		group("tenant", "Create, list and re-plan tenants",
			a.newTenantCreateCmd(), a.newTenantSetPlanCmd(), a.newTenantListCmd()),
		group("user", "Create users", a.newUserCreateCmd()),
		group("token", "Issue API tokens", a.newTokenCreateCmd()),
		group("outbox", "Read the emails kept because no SMTP server is configured", a.newOutboxListCmd()),
		a.newSchemaCmd(),
	)
	admin.Long = `Operator's commands: tenants, users, API tokens, the email outbox and the schema export.

They need the store's Redis: pass --redis or set REDIS_URL. What they did goes to stderr; stdout
carries only what a script reads (the token of "token create", the tables of "tenant list" and
"outbox list").`
	admin.Example = `  export REDIS_URL=redis://127.0.0.1:6379/0
  crmflow admin tenant create acme --plan professional
  crmflow admin user create acme ops@acme.example --perms read,write,delete,bulk_delete
  TOKEN=$(crmflow admin token create acme ops@acme.example)
  crmflow admin tenant set-plan acme enterprise
  crmflow admin tenant list
  crmflow admin outbox list acme`
	a.redisFlag(admin.PersistentFlags())
	return admin
}

// adminStore opens the store of the admin commands; they need a Redis URL.
func (a *app) adminStore(ctx context.Context) (*backend, error) {
	if a.cfg.RedisURL == "" {
		return nil, errNoRedis("crmflow admin")
	}
	return a.openRedis(ctx, false)
}

// adminRun validates the arguments with check (usage errors, before any Redis is needed), opens
// the store and calls do with it.
func (a *app) adminRun(ctx context.Context, check func() error, do func(s crm.Store) error) error {
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	b, err := a.adminStore(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	return do(b.store)
}

// usage turns an input error (a *crm.ValidationError: its message already says what to do)
// into a usage error.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

func (a *app) newTenantCreateCmd() *cobra.Command {
	var plan string
	cmd := &cobra.Command{
		Use:   "create TENANT --plan PLAN",
		Short: "Create a tenant on a plan (free, starter, professional or enterprise)",
		Args:  exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, p := crm.TenantID(args[0]), crm.Plan(plan)
			check := func() error {
				if plan == "" {
					return usageErrorf("--plan is required: use one of free, starter, professional, enterprise")
				}
				return usage(errors.Join(t.Validate(), p.Validate()))
			}
			return a.adminRun(cmd.Context(), check, func(s crm.Store) error {
				if _, err := s.CreateTenant(cmd.Context(), t, p); err != nil {
					if errors.Is(err, crm.ErrTenantExists) {
						return fmt.Errorf("tenant %s already exists; change its plan with `crmflow admin tenant set-plan %s PLAN`: %w", t, t, err)
					}
					return fmt.Errorf("create tenant %s: %w", t, err)
				}
				fmt.Fprintf(a.stderr, "created tenant %s on plan %s\n", t, p)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&plan, "plan", "", "the tenant's plan: free, starter, professional or enterprise (required)")
	return cmd
}

func (a *app) newTenantSetPlanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-plan TENANT PLAN",
		Short: "Change a tenant's plan",
		Args:  exactArgs("TENANT", "PLAN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, p := crm.TenantID(args[0]), crm.Plan(args[1])
			check := func() error { return usage(errors.Join(t.Validate(), p.Validate())) }
			return a.adminRun(cmd.Context(), check, func(s crm.Store) error {
				prev, err := s.SetPlan(cmd.Context(), t, p)
				if err != nil {
					return tenantError(t, "set the plan of", err)
				}
				fmt.Fprintf(a.stderr, "tenant %s: plan %s -> %s\n", t, prev.Plan, p)
				return nil
			})
		},
	}
}

func (a *app) newTenantListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every tenant with its plan",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.adminRun(ctx, nil, func(s crm.Store) error {
				ids, err := s.Tenants(ctx)
				if err != nil {
					return fmt.Errorf("list tenants: %w", err)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TENANT\tPLAN\tCREATED")
				for _, id := range ids {
					t, err := s.Tenant(ctx, id)
					if errors.Is(err, crm.ErrNotFound) {
						continue // deleted since Tenants
					}
					if err != nil {
						return fmt.Errorf("read tenant %s: %w", id, err)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.Plan, t.CreatedAt.UTC().Format(time.RFC3339))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%d tenant(s)\n", len(ids))
				return nil
			})
		},
	}
}

func (a *app) newUserCreateCmd() *cobra.Command {
	var perms string
	cmd := &cobra.Command{
		Use:   "create TENANT EMAIL --perms PERMS",
		Short: "Add a user to a tenant, with permissions",
		Long: `Add a user to a tenant. --perms is a comma-separated list of
read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows; or "all".`,
		Example: `  crmflow admin user create acme ops@acme.example --perms read,write,delete,bulk_delete
  crmflow admin user create acme admin@acme.example --perms all`,
		Args: exactArgs("TENANT", "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, email := crm.TenantID(args[0]), args[1]
			var ps crm.Permissions
			check := func() error {
				var err error
				ps, err = crm.ParsePermissions(perms)
				return usage(errors.Join(t.Validate(), err))
			}
			return a.adminRun(ctx, check, func(s crm.Store) error {
				if _, err := s.Tenant(ctx, t); err != nil {
					return tenantError(t, "add a user to", err)
				}
				u, err := s.CreateUser(ctx, t, email, ps)
				if err != nil {
					if errors.Is(err, crm.ErrUserExists) {
						return fmt.Errorf("user %s already exists in tenant %s; issue a token with `crmflow admin token create %s %s`: %w",
							email, t, t, email, err)
					}
					return fmt.Errorf("create user %s in tenant %s: %w", email, t, err)
				}
				fmt.Fprintf(a.stderr, "created user %s in tenant %s with permissions %s\n", u.Email, t, u.Permissions)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&perms, "perms", "read,write",
		"comma-separated permissions: read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows; or all")
	return cmd
}

func (a *app) newTokenCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create TENANT EMAIL",
		Short: "Issue an API token for a user; prints the token alone on stdout",
		Long: `Issue an API token for a user and print it alone on stdout, so a script can capture it:

  TOKEN=$(crmflow admin token create acme ops@acme.example)

Only a hash of the token is stored: it cannot be shown again.`,
		Args: exactArgs("TENANT", "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, email := crm.TenantID(args[0]), args[1]
			check := func() error { return usage(t.Validate()) }
			return a.adminRun(ctx, check, func(s crm.Store) error {
				token, err := s.CreateToken(ctx, t, email)
				if err != nil {
					if nf := (*crm.NotFoundError)(nil); errors.As(err, &nf) && nf.Kind == "tenant" {
						return tenantError(t, "issue a token in", err)
					}
					if errors.Is(err, crm.ErrNotFound) {
						return fmt.Errorf("no user %s in tenant %s; create it with `crmflow admin user create %s %s --perms PERMS`: %w",
							email, t, t, email, err)
					}
					return fmt.Errorf("issue a token for %s in tenant %s: %w", email, t, err)
				}
				if _, err := fmt.Fprintln(a.stdout, token); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "issued an API token for %s in tenant %s; it is shown only once\n", email, t)
				return nil
			})
		},
	}
}

// tenantError explains a failed change of tenant t; a missing tenant gets the command that
// creates it.
func tenantError(t crm.TenantID, what string, err error) error {
	if errors.Is(err, crm.ErrNotFound) {
		return fmt.Errorf("tenant %s does not exist; create it with `crmflow admin tenant create %s --plan PLAN`: %w", t, t, err)
	}
	var ve *crm.ValidationError
	if errors.As(err, &ve) {
		return usage(err)
	}
	return fmt.Errorf("%s tenant %s: %w", what, t, err)
}

func (a *app) newOutboxListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list TENANT",
		Short: "List the emails of a tenant's outbox, oldest first",
		Long: `List the emails kept in a tenant's outbox, oldest first: the emails a worker without an SMTP
server (no --smtp-host) kept instead of sending, such as the confirmations of permanent deletes.
Configure SMTP on the workers to have new ones sent.

A workflow notification is kept as its template and a reference to its record, and is rendered
here, when listed, from the record (live or in the bin). When the record was permanently deleted
or purged, its subject says "(erased)" and names the record's id only. Workflow notifications
leave the outbox after the workers' --outbox-retention (default 720h, 30 days).`,
		Example: `  crmflow admin outbox list acme
  crmflow admin outbox list acme --limit 20`,
		Args: exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := crm.TenantID(args[0])
			check := func() error {
				if limit < 0 {
					return usageErrorf("--limit must be 0 (all) or more, got %d", limit)
				}
				return usage(t.Validate())
			}
			return a.adminRun(ctx, check, func(s crm.Store) error {
				if _, err := s.Tenant(ctx, t); err != nil {
					return tenantError(t, "read the outbox of", err)
				}
				rs, ok := s.(*crm.RedisStore)
				if !ok { // cannot happen: the admin commands run on a *crm.RedisStore
					return fmt.Errorf("the store %T keeps no outbox", s)
				}
				msgs, err := rs.Outbox(ctx, t, limit)
				if err != nil {
					return fmt.Errorf("read the outbox of tenant %s: %w", t, err)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TIME\tTO\tSUBJECT\tKIND")
				for _, m := range msgs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.CreatedAt.UTC().Format(time.RFC3339), m.To, oneLine(m.Subject), m.Kind)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%d email(s) in the outbox of tenant %s\n", len(msgs), t)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many emails, oldest first (0: all)")
	return cmd
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
