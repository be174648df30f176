package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// newUndoCmd is "crmflow undo OPERATION": the one-call undo of a destructive operation (SPEC S26).
func newUndoCmd(a *app) *cobra.Command {
	var (
		o    opsConfig
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "undo OPERATION [--wait]",
		Short: "Restore every record a delete operation moved to the bin and that is still there",
		Long: `Undo a destructive operation through the API (POST /crm/v3/operations/{id}/undo): a delete or a
batch archive by the API, a bulk or list delete job ("job-<id>"), or a workflow's deletions from one
activation until it paused. The operation's id is a deleted record's archivedOperation, or comes from
"crmflow operations list". The workers restore, in batches, every record of the operation still in
the recycle bin, under the rules of a restore: a contact whose email now belongs to a live contact
stays in the bin and is reported, naming that contact. The undo job's id is printed on stdout;
while an undo of the operation runs, undoing again prints the same job; once nothing of the
operation is left in the bin, undoing again starts no job, says so (naming the latest undo job) and
exits non-zero. A bulk or list delete job
that still runs is stopped first (its status becomes CANCELED): undoing "job-<id>" is how a
mistaken bulk delete is stopped, with what it had moved restored and the rest left live. A workflow
still active at the activation whose deletions are undone is paused first (activate it again to
carry on with the records still enrolled). Stopping the job needs the delete and bulk_delete
permissions too, and pausing the workflow the workflows permission: without them the undo is
refused (403), says what to do instead, and changes nothing.

--wait follows the job until it is complete, then prints each record it could not restore with the
reason, and exits 1 when there is one. The token, of a user with the restore permission, comes from
the environment variable CRMFLOW_TOKEN; the API is at --url (CRMFLOW_URL).`,
		Example: `  crmflow operations list --workflow bounced
  crmflow undo wf-bounced-1767225600000 --wait
  crmflow undo job-17`,
		Args: exactArgs("OPERATION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait {
				if err := o.checkWatch(); err != nil {
					return err
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var acc api.JobAccepted
			if err := c.do(ctx, http.MethodPost, "/crm/v3/operations/"+url.PathEscape(args[0])+"/undo", nil, &acc); err != nil {
				return operationHint(err, args[0])
			}
			if _, err := fmt.Fprintln(a.stdout, acc.ID); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "undo job %s of operation %s accepted: %s to restore, status %s; follow it with `crmflow jobs watch %s`\n",
				acc.ID, args[0], counted(acc.Total, "record"), acc.Status, acc.ID)
			if !wait {
				return nil
			}
			if err := a.watchJob(ctx, c, acc.ID, o); err != nil {
				return err
			}
			return a.printUndoFailures(ctx, c, acc.ID)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	o.watchFlags(fs)
	fs.BoolVar(&wait, "wait", false, "follow the undo job until it is complete, then print the records it could not restore")
	return cmd
}

// operationHint adds to the API's 404 for operation id what to give instead: job-N for a bare job
// id N (crmflow delete prints the job's id, and its operation is job-N), and where the ids are.
func operationHint(err error, id string) error {
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != http.StatusNotFound || ae.foreign || ae.routeNotFound() {
		return err
	}
	h := *ae
	// The API's own message ends with a hint that names its endpoints: the command says it anew,
	// with a hint that names the commands.
	h.Message = "operation " + id + " not found"
	if id != "" && strings.Trim(id, "0123456789") == "" {
		h.Message += fmt.Sprintf(": if %s is a bulk or list delete job, its operation is %s: crmflow undo %s", id, crm.JobOperationID(id), crm.JobOperationID(id))
	} else {
		h.Message += ": crmflow operations list lists the operations, and a deleted record's archivedOperation names its own"
	}
	return &h
}

// printUndoFailures prints, on stdout, the records undo job id could not restore with the reason,
// and returns an exit error when there is one.
func (a *app) printUndoFailures(ctx context.Context, c *apiClient, id string) error {
	var j api.Job
	if err := c.do(ctx, http.MethodGet, "/crm/v3/jobs/"+url.PathEscape(id), nil, &j); err != nil {
		return err
	}
	if j.Skipped == 0 {
		return nil
	}
	for _, f := range j.Failures {
		if _, err := fmt.Fprintf(a.stdout, "not restored: %s\n", f.Reason); err != nil {
			return err
		}
	}
	if int64(len(j.Failures)) < j.Skipped {
		fmt.Fprintf(a.stdout, "... and %d more not restored\n", j.Skipped-int64(len(j.Failures)))
	}
	return &exitError{code: 1, err: fmt.Errorf("%s of operation %s could not be restored (listed above); fix what blocks them and undo again", counted(j.Skipped, "record"), j.Operation)}
}

// newOperationsCmd is "crmflow operations list".
func newOperationsCmd(a *app) *cobra.Command {
	var (
		o                                    opsConfig
		kind, actor, workflow, from, to, aft string
		limit                                int
	)
	list := &cobra.Command{
		Use:   "list [--kind KIND] [--actor EMAIL] [--workflow NAME] [--from TIME] [--to TIME]",
		Short: "List the operations that moved records to the bin, newest first",
		Long: `List a tenant's destructive operations (GET /crm/v3/operations), newest first: their id (to give to
"crmflow undo"), kind (delete, batch, bulk, list or workflow), object type, who deleted, when it
started, how many records it moved to the bin and how many of them are still there. --from and --to
bound when the operation started (RFC 3339, a date or unix ms). One page of --limit is printed;
when there are more, the cursor of the next page is printed on stderr, for --after.`,
		Example: `  crmflow operations list
  crmflow operations list --kind workflow --workflow bounced
  crmflow operations list --actor ops@acme.example --from 2026-03-01 --to 2026-03-02`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 100 {
				return usageErrorf("--limit %d is out of range: use 1 to 100", limit)
			}
			if kind != "" && !slices.Contains(crm.OperationKinds, kind) {
				return usageErrorf("--kind %q is not a kind of operation: use one of %s", kind, strings.Join(crm.OperationKinds, ", "))
			}
			for _, f := range []struct{ flag, v string }{{"--from", from}, {"--to", to}} {
				if f.v == "" {
					continue
				}
				if _, err := crm.ParseDatetime(f.v); err != nil {
					return usageErrorf("%s %q is not a time: use RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01) or unix milliseconds", f.flag, f.v)
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"kind": kind, "actor": actor, "workflow": workflow, "from": from, "to": to, "after": aft} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", strconv.Itoa(limit))
			var page struct {
				Results []api.Operation `json:"results"`
				Paging  *struct {
					Next struct {
						After string `json:"after"`
					} `json:"next"`
				} `json:"paging"`
			}
			if err := c.do(cmd.Context(), http.MethodGet, "/crm/v3/operations?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tTYPE\tBY\tFIRST\tMOVED\tIN BIN\tUNDO JOB")
			for _, op := range page.Results {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", op.ID, op.Kind, op.ObjectType, op.Actor, op.FirstAt, op.Moved, op.InBin, op.UndoJob)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if page.Paging != nil && page.Paging.Next.After != "" {
				fmt.Fprintf(a.stderr, "more operations: add --after %s\n", page.Paging.Next.After)
			}
			return nil
		},
	}
	fs := list.Flags()
	o.flags(fs)
	fs.StringVar(&kind, "kind", "", "only operations of this kind: delete, batch, bulk, list or workflow")
	fs.StringVar(&actor, "actor", "", "only operations of this user (for a workflow: its activating user)")
	fs.StringVar(&workflow, "workflow", "", "only the operations of this workflow")
	fs.StringVar(&from, "from", "", "only operations started at or after this time")
	fs.StringVar(&to, "to", "", "only operations started at or before this time")
	fs.StringVar(&aft, "after", "", "the cursor of the page to print, as printed on stderr")
	fs.IntVar(&limit, "limit", 20, "how many operations to print (1 to 100)")
	return group("operations", "List delete operations through the API (CRMFLOW_URL, CRMFLOW_TOKEN); undo one with crmflow undo", list)
}
