package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/crm"
)

// The commands of the emails written with a change (a permanent delete's confirmation) whose
// delivery is pending, and of those that failed for good.

func (a *app) newOutboxPendingCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pending TENANT",
		Short: "List the emails not yet delivered (permanent delete confirmations), with why a failed one failed",
		Long: `List a tenant's pending emails, oldest first: the confirmations of permanent deletes, written with
the delete and kept until a worker has delivered them (sent over SMTP, or kept in the outbox).

An email whose delivery failed for good (the SMTP server refused it with a 5xx reply, or its last
retry failed, about a day of retries) is FAILED, with the server's answer (the recipient's address
replaced by "recipient"): the workers no longer try it. Fix the cause (the recipient's mailbox, the
SMTP configuration), then "outbox retry" it; or "outbox discard" it to give up. Both are written to
the tenant's audit trail.`,
		Example: `  crmflow admin outbox pending acme`,
		Args:    exactArgs("TENANT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := crm.TenantID(args[0])
			return a.tenantRun(ctx, t, "read the pending emails of", func(s crm.Store) error {
				mails, err := s.PendingMails(ctx, t)
				if err != nil {
					return fmt.Errorf("read the pending emails of tenant %s: %w", t, err)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tCREATED\tKIND\tTO\tSTATUS\tRETRIES\tREASON")
				failed := 0
				for _, m := range mails {
					status, reason := "waiting", ""
					if m.Failure != nil {
						failed++
						status, reason = "FAILED "+m.Failure.At.UTC().Format(time.RFC3339), oneLine(m.Failure.Reason)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.CreatedAt.UTC().Format(time.RFC3339), m.Kind, m.To,
						status, m.Retries, reason)
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s pending in tenant %s, %d failed for good\n", counted(len(mails), "email"), t, failed)
				if failed > 0 {
					fmt.Fprintf(a.stderr, "fix the cause the reason gives, then `crmflow admin outbox retry %s ID`; "+
						"or `crmflow admin outbox discard %s ID` to give up on one\n", t, t)
				}
				return nil
			})
		},
	}
}

// newOutboxRetryCmd and newOutboxDiscardCmd build "outbox retry" (discard false) and "outbox
// discard" (discard true).
func (a *app) newOutboxRetryCmd(discard bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retry TENANT ID",
		Short: "Try again a pending email whose delivery failed for good",
		Long: `Try again a pending email whose delivery failed for good (see "outbox pending"): the next mail
sweep of the scheduler (--mail-sweep-spec, every 5 minutes by default) hands it to a worker. Fix
the cause first, or it fails again. The audit trail records who retried it.`,
		Example: `  crmflow admin outbox retry acme pd-3f9a0c1d2e4b5a69`,
	}
	if discard {
		cmd.Use = "discard TENANT ID"
		cmd.Short = "Give up on a pending email whose delivery failed for good"
		cmd.Long = `Give up on a pending email whose delivery failed for good (see "outbox pending"): it is deleted
and never sent. For a permanent delete's confirmation, tell the user who asked some other way. The
audit trail records who discarded it.`
		cmd.Example = `  crmflow admin outbox discard acme pd-3f9a0c1d2e4b5a69`
	}
	cmd.Args = exactArgs("TENANT", "ID")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		t, id := crm.TenantID(args[0]), args[1]
		return a.tenantRun(ctx, t, "change a pending email of", func(s crm.Store) error {
			var n int
			var err error
			if discard {
				err = s.DiscardPendingMail(ctx, t, id, a.adminActor())
			} else {
				n, err = s.RetryPendingMail(ctx, t, id, a.adminActor())
			}
			var ce *crm.ConflictError
			var ve *crm.ValidationError
			switch {
			case errors.Is(err, crm.ErrNotFound):
				return fmt.Errorf("no pending email %s in tenant %s (delivered, discarded, or never written); "+
					"list them with `crmflow admin outbox pending %s`: %w", id, t, t, err)
			case errors.As(err, &ce):
				return fmt.Errorf("%s; `crmflow admin outbox pending %s` shows its status", ce.Message, t)
			case errors.As(err, &ve):
				return usage(err)
			case err != nil:
				return err
			}
			if discard {
				fmt.Fprintf(a.stderr, "discarded pending email %s of tenant %s: it will not be sent\n", id, t)
			} else {
				fmt.Fprintf(a.stderr, "pending email %s of tenant %s will be tried again at the next mail sweep (retry %d)\n", id, t, n)
			}
			return nil
		})
	}
	return cmd
}
