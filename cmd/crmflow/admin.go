package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/actions"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
)

// The admin commands print what they did to stderr; stdout carries only the result a script
// reads (the token of `token create`, the table of `tenant list`).

func newAdminCmd(a *app) *cobra.Command {
	admin := group("admin", "Operator's commands: tenants, users, API tokens, the email outbox (needs --redis or REDIS_URL)",
		group("tenant", "Create, list and re-plan tenants, and set their workflows' default deletion limit",
			a.newTenantCreateCmd(), a.newTenantSetPlanCmd(), a.newTenantSetLimitsCmd(), a.newTenantListCmd()),
		group("user", "Create, list, re-permission, disable and enable users",
			a.newUserCreateCmd(), a.newUserListCmd(), a.newUserSetPermsCmd(), a.newUserDisableCmd(true), a.newUserDisableCmd(false)),
		group("token", "Issue, list and revoke API tokens", a.newTokenCreateCmd(), a.newTokenListCmd(), a.newTokenRevokeCmd()),
		group("outbox", "Read the emails kept because no SMTP server is configured; see, retry or discard the undelivered ones",
			a.newOutboxListCmd(), a.newOutboxPendingCmd(), a.newOutboxRetryCmd(false), a.newOutboxRetryCmd(true)),
		a.newRetentionCmd(),
		a.newSchemaCmd(),
		a.newReindexCmd(),
		a.newBinLinksCmd(),
	)
	admin.Long = `Operator's commands: tenants, users, API tokens, the email outbox, the deployment's
retention and the schema export.

They need the store's Redis: pass --redis or set REDIS_URL, and the deployment's email salt:
set CRMFLOW_EMAIL_SALT (or pass --email-salt). What they did goes to stderr; stdout carries only
what a script reads (the token of "token create", the tables of the list commands).

Every change of a user or a token is written to the tenant's audit trail (GET /crm/v3/audit) with
the acting admin: --by, or else "admin-cli:" and the operating-system user running the command; a
change of the retention is written to every tenant's.`
	admin.Example = `  export REDIS_URL=redis://127.0.0.1:6379/0
  export CRMFLOW_EMAIL_SALT=...   # the deployment's, as every crmflow process on that Redis
  crmflow admin tenant create acme --plan professional
  crmflow admin user create acme ops@acme.example --perms read,write,delete,bulk_delete
  TOKEN=$(crmflow admin token create acme ops@acme.example --ttl 90d)
  crmflow admin user set-perms acme ops@acme.example --perms read,write
  crmflow admin user disable acme ops@acme.example
  crmflow admin token list acme
  crmflow admin token revoke acme 3f9a0c1d2e4b5a69
  crmflow admin tenant set-plan acme enterprise
  crmflow admin tenant set-limits acme --max-deletions 200 --per 1h
  crmflow admin tenant list
  crmflow admin outbox list acme
  crmflow admin outbox pending acme   # confirmations not yet delivered, and why a failed one failed
  crmflow admin retention show
  crmflow admin retention set 30d --confirm-shorter
  crmflow admin reindex acme      # search indexes of records older than search
  crmflow admin bin-links acme    # bin links of records binned before them, for permanent deletes`
	pf := admin.PersistentFlags()
	a.redisFlag(pf)
	a.saltFlag(pf)
	pf.StringVar(&a.cfg.AdminBy, "by", "", `who is acting, for the audit trail of user, token, retention and pending-email changes (default "admin-cli:" and the OS user)`)
	bindEnv(pf, "by", "CRMFLOW_ADMIN_BY")
	return admin
}

// adminActor is who the audit trail says made a change from the admin commands: --by, or
// "admin-cli:" and the operating-system user.
func (a *app) adminActor() string {
	if by := strings.TrimSpace(a.cfg.AdminBy); by != "" {
		return by
	}
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name, _ = a.lookupEnv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	return "admin-cli:" + name
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
// tenantRun is adminRun for a command about tenant t, which must exist: a malformed t is a usage
// error, an unknown one the refusal of tenantError, saying that the command could not what.
func (a *app) tenantRun(ctx context.Context, t crm.TenantID, what string, do func(s crm.Store) error) error {
	return a.adminRun(ctx, func() error { return usage(t.Validate()) }, func(s crm.Store) error {
		if _, err := s.Tenant(ctx, t); err != nil {
			return tenantError(t, what, err)
		}
		return do(s)
	})
}

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

// limitText shows a deletion limit in the admin commands: "1000/1h", or "unlimited".
func limitText(l crm.DeletionLimit) string {
	if l.Unlimited() {
		return "unlimited"
	}
	return strconv.Itoa(l.Max) + "/" + crm.FormatWindow(l.Per)
}

func (a *app) newTenantSetLimitsCmd() *cobra.Command {
	var maxDeletions, per string
	cmd := &cobra.Command{
		Use:   "set-limits TENANT --max-deletions N --per WINDOW",
		Short: "Set the blast-radius limit of the tenant's workflows that set no limits of their own",
		Long: `Set the tenant's default blast-radius limit: a workflow without limits of its own deletes at
most --max-deletions records in any window of --per; past it, it pauses itself and emails its
activator. Until set, the limit is 1000 deletions per hour. --max-deletions unlimited sets no
limit (and takes no --per). Workflows already active take the new limit from their next step;
one paused at its limit runs again once activated again.`,
		Example: `  crmflow admin tenant set-limits acme --max-deletions 200 --per 1h
  crmflow admin tenant set-limits acme --max-deletions 5000 --per 1d
  crmflow admin tenant set-limits acme --max-deletions unlimited`,
		Args: exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := crm.TenantID(args[0])
			var lim crm.DeletionLimit
			check := func() error {
				if err := t.Validate(); err != nil {
					return usage(err)
				}
				var err error
				lim, err = parseLimitFlags(maxDeletions, per)
				return err
			}
			return a.adminRun(cmd.Context(), check, func(s crm.Store) error {
				tn, err := s.SetDeletionLimit(cmd.Context(), t, lim)
				if err != nil {
					return tenantError(t, "set the deletion limit of", err)
				}
				fmt.Fprintf(a.stderr, "tenant %s: workflows without limits of their own may delete %s\n", t, limitSentence(tn.DeletionLimit))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&maxDeletions, "max-deletions", "", "the most deletions per window: 1 to 100000, or unlimited (required)")
	cmd.Flags().StringVar(&per, "per", "", "the window, such as 1h, 30m or 1d: 1m to 30d (required unless --max-deletions unlimited)")
	return cmd
}

// limitSentence says what a deletion limit allows: "at most 10 records per 1h", or "without limit".
func limitSentence(l crm.DeletionLimit) string {
	if l.Unlimited() {
		return "without limit"
	}
	return fmt.Sprintf("at most %s per %s", counted(l.Max, "record"), crm.FormatWindow(l.Per))
}

// parseLimitFlags reads --max-deletions and --per; a usage error says what is wrong.
func parseLimitFlags(maxDeletions, per string) (crm.DeletionLimit, error) {
	switch {
	case maxDeletions == "":
		return crm.DeletionLimit{}, usageErrorf("--max-deletions is required: give 1 to %d, or unlimited", crm.MaxDeletionsLimit)
	case maxDeletions == "unlimited":
		if per != "" {
			return crm.DeletionLimit{}, usageErrorf("--per has no use with --max-deletions unlimited: leave it out")
		}
		return crm.DeletionLimit{}, nil
	}
	n, err := strconv.Atoi(maxDeletions)
	if err != nil || n < 1 || n > crm.MaxDeletionsLimit {
		return crm.DeletionLimit{}, usageErrorf("--max-deletions %q is invalid: give a whole number from 1 to %d, or unlimited", maxDeletions, crm.MaxDeletionsLimit)
	}
	if per == "" {
		return crm.DeletionLimit{}, usageErrorf("--per is required: give the window the deletions are counted over, such as 1h")
	}
	d, err := actions.ParseDuration(per)
	if err != nil {
		return crm.DeletionLimit{}, usageErrorf("--per %q is invalid: write a number and a unit (d, h, m or s) from 1m to 30d, such as 1h", per)
	}
	lim := crm.DeletionLimit{Max: n, Per: d}
	return lim, usage(lim.Validate())
}

func (a *app) newTenantListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every tenant with its plan and its workflows' default deletion limit",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.adminRun(ctx, nil, func(s crm.Store) error {
				ids, err := s.Tenants(ctx)
				if err != nil {
					return fmt.Errorf("list tenants: %w", err)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TENANT\tPLAN\tCREATED\tDELETION LIMIT")
				for _, id := range ids {
					t, err := s.Tenant(ctx, id)
					if errors.Is(err, crm.ErrNotFound) {
						continue // deleted since Tenants
					}
					if err != nil {
						return fmt.Errorf("read tenant %s: %w", id, err)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.ID, t.Plan, t.CreatedAt.UTC().Format(time.RFC3339), limitText(t.DeletionLimit))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s\n", counted(len(ids), "tenant"))
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
read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows, protect; or "all".`,
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
				var bad error
				if _, e := crm.NormalizeEmail(email); e != nil {
					bad = fmt.Errorf("user email %q is not an email address: use one such as ops@example.com", email)
				}
				return usage(errors.Join(t.Validate(), bad, err))
			}
			return a.adminRun(ctx, check, func(s crm.Store) error {
				if _, err := s.Tenant(ctx, t); err != nil {
					return tenantError(t, "add a user to", err)
				}
				u, err := s.CreateUser(ctx, t, email, ps, a.adminActor())
				if err != nil {
					if errors.Is(err, crm.ErrUserExists) {
						return fmt.Errorf("user %s already exists in tenant %s; change its permissions with "+
							"`crmflow admin user set-perms %s %s --perms PERMS`, or issue a token with `crmflow admin token create %s %s`: %w",
							email, t, t, email, t, email, err)
					}
					return fmt.Errorf("create user %s in tenant %s: %w", email, t, err)
				}
				fmt.Fprintf(a.stderr, "created user %s in tenant %s with permissions %s\n", u.Email, t, permsOrNone(u.Permissions))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&perms, "perms", "read,write",
		"comma-separated permissions: read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows, protect; or all")
	return cmd
}

func (a *app) newTokenCreateCmd() *cobra.Command {
	var ttl string
	cmd := &cobra.Command{
		Use:   "create TENANT EMAIL [--ttl DURATION]",
		Short: "Issue an API token for a user; prints the token alone on stdout",
		Long: `Issue an API token for a user and print it alone on stdout, so a script can capture it:

  TOKEN=$(crmflow admin token create acme ops@acme.example --ttl 90d)

Only a hash of the token is stored: it cannot be shown again. Its public id, which names it in
"token list", "token revoke" and the audit trail, is printed on stderr.

--ttl limits its life: a Go duration (720h, 90m) or a number of days (90d). Without it, or with 0,
the token never expires. A disabled user cannot be issued a token.`,
		Example: `  crmflow admin token create acme ops@acme.example
  crmflow admin token create acme ops@acme.example --ttl 90d`,
		Args: exactArgs("TENANT", "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, email := crm.TenantID(args[0]), args[1]
			var life time.Duration
			check := func() error {
				var err error
				if life, err = parseTTL(ttl); err != nil {
					return err
				}
				return usage(t.Validate())
			}
			return a.adminRun(ctx, check, func(s crm.Store) error {
				token, err := s.CreateToken(ctx, t, email, &crm.TokenOpts{By: a.adminActor(), TTL: life})
				if err != nil {
					if errors.Is(err, crm.ErrUserDisabled) {
						return fmt.Errorf("user %s of tenant %s is disabled; enable it first with `crmflow admin user enable %s %s`: %w",
							email, t, t, email, err)
					}
					return userError(ctx, s, t, email, "issue a token for", err)
				}
				if _, err := fmt.Fprintln(a.stdout, token); err != nil {
					return err
				}
				expiry := "it never expires"
				if life > 0 {
					expiry = "it expires in " + life.String()
				}
				fmt.Fprintf(a.stderr, "issued API token %s for %s in tenant %s (%s); the token is shown only once\n",
					crm.TokenID(token), email, t, expiry)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "", "how long the token is valid: a Go duration such as 720h, or days such as 90d (default: never expires)")
	return cmd
}

// parseTTL parses --ttl: "" or 0 for no expiry, a Go duration, or a whole number of days ("90d").
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	bad := usageErrorf("--ttl %q is not a duration: use a Go duration such as 720h or 90m, or days such as 90d (0 or none: never expires)", s)
	const maxDays = 100 * 365
	tooLong := usageErrorf("--ttl %s is longer than 100 years: give at most %dd, or 0 for a token that never expires", s, maxDays)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, bad
		}
		if n > maxDays {
			return 0, tooLong
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
		if d > maxDays*24*time.Hour {
			return 0, tooLong
		}
	}
	if d < 0 {
		return 0, usageErrorf("--ttl %s is negative: use a positive duration, or 0 for a token that never expires", s)
	}
	return d, nil
}

func (a *app) newTokenListCmd() *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "list TENANT [--email EMAIL]",
		Short: "List a tenant's API tokens (id, user, created, expires), never their secrets",
		Long: `List the API tokens of a tenant, or of one of its users with --email, oldest first: the public
id of each (the one "token revoke" takes), its user, when it was created and when it expires.
STATUS is active, expired, or user-disabled (refused while the user is disabled).`,
		Example: `  crmflow admin token list acme
  crmflow admin token list acme --email ops@acme.example`,
		Args: exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := crm.TenantID(args[0])
			check := func() error { return usage(t.Validate()) }
			return a.adminRun(ctx, check, func(s crm.Store) error {
				tokens, err := s.Tokens(ctx, t, email)
				if err != nil {
					return userError(ctx, s, t, email, "list the tokens of", err)
				}
				users, err := s.Users(ctx, t)
				if err != nil {
					return tenantError(t, "list the users of", err)
				}
				disabled := map[string]bool{}
				for _, u := range users {
					disabled[u.Email] = u.Disabled
				}
				now := time.Now()
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tUSER\tCREATED\tEXPIRES\tSTATUS")
				for _, ti := range tokens {
					expires, status := "never", "active"
					if !ti.ExpiresAt.IsZero() {
						expires = ti.ExpiresAt.UTC().Format(time.RFC3339)
					}
					switch {
					case ti.Expired(now):
						status = "expired"
					case disabled[ti.User]:
						status = "user-disabled"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", ti.ID, ti.User, ti.CreatedAt.UTC().Format(time.RFC3339), expires, status)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s in tenant %s\n", counted(len(tokens), "token"), t)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "list only the tokens of this user")
	return cmd
}

func (a *app) newTokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke TENANT ID",
		Short: "Revoke an API token by its id, for good",
		Long: `Revoke an API token by its public id (see "token list"): it is deleted for good and refused from
the next request on. The audit trail records who revoked it.`,
		Example: `  crmflow admin token revoke acme 3f9a0c1d2e4b5a69`,
		Args:    exactArgs("TENANT", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, id := crm.TenantID(args[0]), args[1]
			return a.tenantRun(ctx, t, "revoke a token of", func(s crm.Store) error {
				if err := s.RevokeToken(ctx, t, id, a.adminActor()); err != nil {
					if errors.Is(err, crm.ErrNotFound) {
						return fmt.Errorf("no token %s in tenant %s (revoked, expired, or never issued); list the tokens with `crmflow admin token list %s`: %w",
							id, t, t, err)
					}
					return fmt.Errorf("revoke token %s in tenant %s: %w", id, t, err)
				}
				fmt.Fprintf(a.stderr, "revoked API token %s in tenant %s\n", id, t)
				return nil
			})
		},
	}
}

func (a *app) newUserListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's users with their permissions and status",
		Args:  exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := crm.TenantID(args[0])
			check := func() error { return usage(t.Validate()) }
			return a.adminRun(ctx, check, func(s crm.Store) error {
				users, err := s.Users(ctx, t)
				if err != nil {
					return tenantError(t, "list the users of", err)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "EMAIL\tPERMISSIONS\tSTATUS\tCREATED")
				for _, u := range users {
					perms, status := u.Permissions.String(), "active"
					if perms == "" {
						perms = "-"
					}
					if u.Disabled {
						status = "disabled"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", u.Email, perms, status, u.CreatedAt.UTC().Format(time.RFC3339))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s in tenant %s\n", counted(len(users), "user"), t)
				return nil
			})
		},
	}
}

func (a *app) newUserSetPermsCmd() *cobra.Command {
	var perms string
	cmd := &cobra.Command{
		Use:   "set-perms TENANT EMAIL --perms PERMS",
		Short: "Replace the permissions of an existing user",
		Long: `Replace the permissions of an existing user with --perms, a comma-separated list of
read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows, protect; or "all"; or ""
for none. It is a replacement, not an addition: to grant one more permission, give the current
ones and the new one (see "user list"). The user's tokens carry the new set from their next request.`,
		Example: `  crmflow admin user set-perms acme ops@acme.example --perms read,write,delete,bulk_delete
  crmflow admin user set-perms acme ops@acme.example --perms read`,
		Args: exactArgs("TENANT", "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, email := crm.TenantID(args[0]), args[1]
			var ps crm.Permissions
			check := func() error {
				if !cmd.Flags().Changed("perms") {
					return usageErrorf("--perms is required: give the whole new set, e.g. --perms read,write (\"\" for none)")
				}
				var err error
				ps, err = crm.ParsePermissions(perms)
				return usage(errors.Join(t.Validate(), err))
			}
			return a.adminRun(ctx, check, func(s crm.Store) error {
				before, err := s.User(ctx, t, email)
				if err != nil {
					return userError(ctx, s, t, email, "change the permissions of", err)
				}
				u, err := s.SetUserPermissions(ctx, t, email, ps, a.adminActor())
				if err != nil {
					return userError(ctx, s, t, email, "change the permissions of", err)
				}
				fmt.Fprintf(a.stderr, "user %s in tenant %s: permissions %s -> %s\n", u.Email, t, permsOrNone(before.Permissions), permsOrNone(u.Permissions))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&perms, "perms", "",
		"the new comma-separated permissions: read, write, schema, delete, bulk_delete, permanent_delete, restore, workflows, protect; or all (required)")
	return cmd
}

func permsOrNone(p crm.Permissions) string {
	if len(p) == 0 {
		return "(none)"
	}
	return p.String()
}

// newUserDisableCmd is "user disable" (disable true) or "user enable".
func (a *app) newUserDisableCmd(disable bool) *cobra.Command {
	use, short, long := "disable", "Disable a user: every token of it is refused at once",
		`Disable a user: every API token of the user is refused from the next request on, and no new one
can be issued. Its tokens are kept, and accepted again if the user is enabled; revoke them with
"token revoke" to remove them for good.`
	if !disable {
		use, short, long = "enable", "Enable a disabled user again",
			`Enable a disabled user: its tokens that were neither revoked nor expired are accepted again.`
	}
	return &cobra.Command{
		Use:     use + " TENANT EMAIL",
		Short:   short,
		Long:    long,
		Example: "  crmflow admin user " + use + " acme ops@acme.example",
		Args:    exactArgs("TENANT", "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, email := crm.TenantID(args[0]), args[1]
			check := func() error { return usage(t.Validate()) }
			return a.adminRun(ctx, check, func(s crm.Store) error {
				before, err := s.User(ctx, t, email)
				if err != nil {
					return userError(ctx, s, t, email, use, err)
				}
				u, err := s.SetUserDisabled(ctx, t, email, disable, a.adminActor())
				if err != nil {
					return userError(ctx, s, t, email, use, err)
				}
				switch {
				case before.Disabled == disable:
					fmt.Fprintf(a.stderr, "user %s in tenant %s was already %sd; nothing changed\n", u.Email, t, use)
				case disable:
					fmt.Fprintf(a.stderr, "disabled user %s in tenant %s: its tokens are refused from now on\n", u.Email, t)
				default:
					fmt.Fprintf(a.stderr, "enabled user %s in tenant %s\n", u.Email, t)
				}
				return nil
			})
		},
	}
}

// userError explains a failed change of user email in tenant t: a missing tenant or user gets
// the command that lists or creates it.
func userError(ctx context.Context, s crm.Store, t crm.TenantID, email, what string, err error) error {
	var nf *crm.NotFoundError
	if errors.As(err, &nf) && nf.Kind == "user" {
		// A tenant that does not exist has no users either: creating the user would fail too.
		if _, terr := s.Tenant(ctx, t); errors.Is(terr, crm.ErrNotFound) {
			return tenantError(t, what+" a user of", terr)
		}
		return fmt.Errorf("no user %s in tenant %s; list the users with `crmflow admin user list %s`, "+
			"or create it with `crmflow admin user create %s %s --perms PERMS`: %w", email, t, t, t, email, err)
	}
	return tenantError(t, what+" a user of", err)
}

// tenantError explains a failed change of tenant t; a missing tenant gets the command that
// creates it.
func tenantError(t crm.TenantID, what string, err error) error {
	if errors.Is(err, crm.ErrNotFound) {
		return fmt.Errorf("tenant %s does not exist: `crmflow admin tenant list` lists the tenants (or create it with `crmflow admin tenant create %s --plan PLAN`): %w", t, t, err)
	}
	var ve *crm.ValidationError
	if errors.As(err, &ve) {
		return usage(err)
	}
	return fmt.Errorf("%s tenant %s: %w", what, t, err)
}

func (a *app) newOutboxListCmd() *cobra.Command {
	var (
		limit int
		brief bool
	)
	cmd := &cobra.Command{
		Use:   "list TENANT [--limit N] [--brief]",
		Short: "List the emails of a tenant's outbox, newest first, with their bodies",
		Long: `List the emails kept in a tenant's outbox, newest first, each with its body: the emails a
worker without an SMTP server (no --smtp-host) kept instead of sending, such as the confirmations
of permanent deletes. --brief prints one line per email instead. Configure SMTP on the workers to
have new ones sent.

A workflow notification is kept as its template and a reference to its record, and is rendered
here, when listed, from the record (live or in the bin). When the record was permanently deleted
or purged, its subject says "(erased)" and names the record's id only. Workflow notifications
leave the outbox after the workers' --outbox-retention (default 720h, 30 days).

An outbox keeps at most the workers' --outbox-max emails (default 1000): past it the oldest workflow
notifications are dropped, and this command says how many were. Other emails, such as the
confirmations of permanent deletes, are never dropped.`,
		Example: `  crmflow admin outbox list acme
  crmflow admin outbox pending acme   # confirmations not yet delivered, and why a failed one failed
  crmflow admin outbox list acme --limit 5
  crmflow admin outbox list acme --brief --limit 0`,
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
				rs, ok := s.(*redisstore.Store)
				if !ok { // cannot happen: the admin commands run on a *redisstore.Store
					return fmt.Errorf("the store %T keeps no outbox", s)
				}
				msgs, err := rs.RecentOutbox(ctx, t, limit)
				if err != nil {
					return fmt.Errorf("read the outbox of tenant %s: %w", t, err)
				}
				if brief {
					w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "TIME\tTO\tSUBJECT\tKIND")
					for _, m := range msgs {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.CreatedAt.UTC().Format(time.RFC3339), m.To, oneLine(m.Subject), m.Kind)
					}
					if err := w.Flush(); err != nil {
						return err
					}
				} else {
					for i, m := range msgs {
						if i > 0 {
							fmt.Fprintln(a.stdout)
						}
						fmt.Fprintf(a.stdout, "Date: %s\nTo: %s\nSubject: %s\nKind: %s\n\n%s\n", m.CreatedAt.UTC().Format(time.RFC3339),
							m.To, oneLine(m.Subject), m.Kind, strings.TrimRight(m.Body, "\n"))
					}
				}
				more := ""
				if limit > 0 && len(msgs) == limit {
					more = fmt.Sprintf(" (the newest %d; --limit 0 lists them all)", limit)
				}
				fmt.Fprintf(a.stderr, "%s in the outbox of tenant %s%s, newest first\n", counted(len(msgs), "email"), t, more)
				drops, err := rs.OutboxDropped(ctx, t)
				if err != nil {
					return fmt.Errorf("read the outbox of tenant %s: %w", t, err)
				}
				if drops.Count > 0 {
					fmt.Fprintf(a.stderr, "%s dropped from this outbox when it was full, the last at %s: "+
						"configure SMTP on the workers (--smtp-host) to send emails, or raise their --outbox-max (default %d)\n",
						counted(drops.Count, "older workflow notification"), drops.LastAt.Format(time.RFC3339), crm.DefaultOutboxMax)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "list the newest this many emails (0: all)")
	cmd.Flags().BoolVar(&brief, "brief", false, "one line per email (time, recipient, subject, kind), without the bodies")
	return cmd
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
