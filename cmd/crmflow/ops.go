package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// The ops commands talk to a running API (crmflow serve) as a user would, with a token of theirs:
// they go through the same permission checks, confirmations and audit trail as any client.

// defaultAPIURL is the API the ops commands call when neither --url nor CRMFLOW_URL is set.
const defaultAPIURL = "http://127.0.0.1:8080"

// opsConfig is what every ops command reads from its flags.
type opsConfig struct {
	url      string
	interval time.Duration
	progress string
	// stallHint is how long a job waits unchanged before watchJob says no worker has taken it;
	// stallHintDefault when zero (it has no flag).
	stallHint time.Duration
}

// flags defines the flags every ops command has.
func (o *opsConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&o.url, "url", defaultAPIURL, "base URL of the crmflow API; the token comes from the environment variable CRMFLOW_TOKEN")
	bindEnv(fs, "url", "CRMFLOW_URL")
}

// watchFlags defines the flags of the commands that follow a job.
func (o *opsConfig) watchFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.interval, "interval", time.Second, "how often to read the job's progress")
	fs.StringVar(&o.progress, "progress", "auto",
		"how to show progress on stderr: bar, lines (one \"done/total\" line per change) or auto (bar on a terminal)")
}

func newDeleteCmd(a *app) *cobra.Command {
	var (
		o       opsConfig
		typ     string
		filter  string
		ids     []string
		listID  string
		confirm int64
		wait    bool
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "delete --type TYPE (--filter EXPR | --ids ID,... | --list ID) --confirm N [--wait]",
		Short: "Delete many records through the API, restorably, after confirming their number",
		Long: `Delete many records through the API: the records of --type matching --filter (an expression in the
language of workflow triggers), the records named by --ids, or the members of the static list --list.
Records go to the recycle bin: they stay restorable for the retention period.

--confirm is the number of records you expect to delete. The API answers at once with a bulk delete
job that the workers run; its id is printed on stdout. With --ids the API counts the selection in the
request and refuses, deleting nothing, when the numbers differ. With --filter or --list the job starts
SELECTING: the workers select the records, then refuse the job (REFUSED, nothing deleted, both numbers
given) when their number is not --confirm, or delete them. --wait follows the job until it is complete,
refused, canceled (by "crmflow undo job-ID", which stops the job and restores what it moved) or
stopped (the job acts with your authority at each batch: when you are disabled or lose delete or
bulk_delete, it moves nothing more, and what it moved stays in the bin), as "crmflow jobs watch"
does, and exits non-zero on a refusal, a cancel or a stop.

Records that a protection rule protects are never deleted: they are left out of the count to
confirm, and the job reports them by rule. --dry-run prints the count that would be deleted (stdout),
the protected records by rule and a sample (stderr), and deletes nothing.

--list without --type deletes the list's members with POST /crm/v3/lists/{id}/records/delete; the
list itself is never deleted. The API is at --url (CRMFLOW_URL, default ` + defaultAPIURL + `), and the
token, of a user with the bulk_delete permission, comes from the environment variable CRMFLOW_TOKEN.`,
		Example: `  export CRMFLOW_URL=https://crm.example.com CRMFLOW_TOKEN=...
  crmflow delete --type contacts --filter 'lifecyclestage == "lead" && num_notes == 0' --confirm 1250 --wait
  crmflow delete --type companies --ids 101,102,103 --confirm 3
  crmflow delete --type contacts --filter 'lifecyclestage == "lead"' --dry-run
  JOB=$(crmflow delete --list 42 --confirm 300) && crmflow jobs watch "$JOB"`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			given := 0
			for _, f := range []string{"filter", "ids", "list"} {
				if fs.Changed(f) {
					given++
				}
			}
			switch {
			case given != 1:
				return usageErrorf("give exactly one of --filter, --ids or --list to select the records to delete")
			case dryRun && wait:
				return usageErrorf("--dry-run and --wait do not go together: a dry run starts no job")
			case !fs.Changed("confirm") && !dryRun:
				return usageErrorf("--confirm is required: the number of records you expect to delete; the API refuses when it differs")
			case confirm < 0:
				return usageErrorf("--confirm must be 0 or more, got %d", confirm)
			case typ == "" && !fs.Changed("list"):
				return usageErrorf("--type is required with --filter and --ids: the object type, e.g. contacts or companies")
			case fs.Changed("ids") && len(ids) == 0:
				return usageErrorf("--ids is empty: give the ids to delete, comma-separated")
			case fs.Changed("ids"):
				var err error
				if ids, err = deleteIDs(ids); err != nil {
					return err
				}
			case fs.Changed("list") && strings.TrimSpace(listID) == "":
				return usageErrorf("--list is empty: give the id of the list whose members to delete")
			}
			if wait {
				if err := o.checkWatch(); err != nil {
					return err
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			var path string
			body := map[string]any{}
			if fs.Changed("confirm") {
				body["confirmCount"] = confirm
			}
			if dryRun {
				body["dryRun"] = true
			}
			switch {
			case fs.Changed("list") && typ == "":
				path = "/crm/v3/lists/" + url.PathEscape(listID) + "/records/delete"
			case fs.Changed("list"):
				path, body["listId"] = "/crm/v3/objects/"+url.PathEscape(typ)+"/bulk-delete", listID
			case fs.Changed("filter"):
				path, body["filter"] = "/crm/v3/objects/"+url.PathEscape(typ)+"/bulk-delete", filter
			default:
				path, body["ids"] = "/crm/v3/objects/"+url.PathEscape(typ)+"/bulk-delete", ids
			}
			ctx := cmd.Context()
			if dryRun {
				return typeHint(a.printDryRun(ctx, c, path, body), typ)
			}
			var acc api.JobAccepted
			if err := c.do(ctx, http.MethodPost, path, body, &acc); err != nil {
				return typeHint(err, typ)
			}
			if _, err := fmt.Fprintln(a.stdout, acc.ID); err != nil {
				return err
			}
			if acc.Status == jobSelecting {
				fmt.Fprintf(a.stderr, "bulk delete job %s accepted: the workers select the records and delete them if %d match, status %s; follow it with `crmflow jobs watch %s`, undo it with `crmflow undo job-%s`\n",
					acc.ID, acc.ConfirmCount, acc.Status, acc.ID, acc.ID)
			} else {
				fmt.Fprintf(a.stderr, "bulk delete job %s accepted: %s to delete, status %s; follow it with `crmflow jobs watch %s`, undo it with `crmflow undo job-%s`\n",
					acc.ID, counted(acc.Total, "record"), acc.Status, acc.ID, acc.ID)
			}
			if !wait {
				return nil
			}
			return a.watchJob(ctx, c, acc.ID, o)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	o.watchFlags(fs)
	fs.StringVar(&typ, "type", "", "object type of the records: contacts, companies, deals, tickets, calls or a custom object")
	fs.StringVar(&filter, "filter", "", "select the live records of --type this expression matches (e.g. 'lifecyclestage == \"lead\"')")
	fs.StringSliceVar(&ids, "ids", nil, "select these records of --type, comma-separated ids")
	fs.StringVar(&listID, "list", "", "select the members of this static list")
	fs.Var((*countFlag)(&confirm), "confirm", "the number of records you expect to delete (required)")
	fs.BoolVar(&wait, "wait", false, "follow the job until it is complete, showing its progress")
	fs.BoolVar(&dryRun, "dry-run", false, "print what the delete would do (the count to confirm, the protected records by rule, a sample) and delete nothing; --confirm is optional")
	return cmd
}

// countFlag is a flag holding a count of records, written in decimal digits. pflag's Int64Var
// reads Go's integer literals, so "--confirm 010" would confirm 8 records and "0x10" 16: a
// confirmation must be the number the user means, so anything but digits is refused.
type countFlag int64

// String implements pflag.Value.
func (c *countFlag) String() string { return strconv.FormatInt(int64(*c), 10) }

// Set implements pflag.Value.
func (c *countFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	// A minus is left to the check that names the range; a plus sign is no digit.
	if err != nil || strings.Trim(strings.TrimPrefix(s, "-"), "0123456789") != "" {
		return fmt.Errorf("%q is not a whole number: give the number of records as digits, such as 1250", s)
	}
	*c = countFlag(n)
	return nil
}

// Type implements pflag.Value.
func (c *countFlag) Type() string { return "int" }

// deleteIDs checks the ids of crmflow delete --ids and returns them without the spaces around them
// ("101, 102" is two ids): an id that is empty, not a record id or given twice is a usage error
// before anything is sent. The API refuses the first two too (a 400 naming each), and counts a
// repeated id once, so the count to confirm would not be the one the user made.
func deleteIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, raw := range ids {
		id := strings.TrimSpace(raw)
		switch {
		case id == "":
			return nil, usageErrorf("an id in --ids is empty (two commas in a row?): give each record's id once")
		case !recordIDRE.MatchString(id):
			return nil, usageErrorf("--ids: %q is not a record id: record ids are numbers, such as 101", raw)
		case seen[id]:
			return nil, usageErrorf("--ids: id %s is given more than once: give each record's id once, and --confirm the number of different ids", id)
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}

// singularTypes are the standard object types in the singular.
var singularTypes = map[string]string{"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket", "calls": "call"}

// countOf is n records of object type typ in words: "1 contact", "2 contacts"; "1 record of
// TYPE" for a custom type, whose singular is not known here.
func countOf(n int64, typ string) string {
	if n != 1 {
		return fmt.Sprintf("%d %s", n, typ)
	}
	if s, ok := singularTypes[typ]; ok {
		return "1 " + s
	}
	return "1 record of " + typ
}

// verbFor is the verb of a count of n: one for n == 1, many for any other.
func verbFor(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// typeHint adds to the API's 404 for the object type typ, when typ is a standard type misspelt as
// people do (singular, capitalised: "contact", "Companies"), the type meant.
func typeHint(err error, typ string) error {
	var ae *apiError
	if err == nil || typ == "" || !errors.As(err, &ae) || ae.status != http.StatusNotFound || ae.foreign ||
		slices.Contains(crm.StandardObjectTypes, crm.ObjectType(typ)) {
		return err
	}
	t := strings.ToLower(strings.TrimSpace(typ))
	for _, o := range crm.StandardObjectTypes {
		if s := string(o); t == s || t+"s" == s || strings.TrimSuffix(t, "y")+"ies" == s {
			return fmt.Errorf("--type %s: did you mean --type %s? (object types are plural and lowercase): %w", typ, s, err)
		}
	}
	return err
}

// printDryRun asks the API for a dry run of a bulk delete and prints it: the count to confirm on
// stdout, the rest on stderr. It exits 1 when --confirm was given and differs from that count.
func (a *app) printDryRun(ctx context.Context, c *apiClient, path string, body map[string]any) error {
	var dr api.BulkDryRun
	if err := c.do(ctx, http.MethodPost, path, body, &dr); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, dr.WouldDelete)
	fmt.Fprintf(a.stderr, "dry run: %s %s, %d would be deleted, %d protected", countOf(dr.Matched, dr.ObjectType), verbFor(dr.Matched, "matches", "match"), dr.WouldDelete, dr.Protected)
	if len(dr.ProtectedByRule) > 0 {
		by := crm.ProtectedCounts(dr.ProtectedByRule).String() // "N (rule: n, ...)"
		fmt.Fprintf(a.stderr, " %s", by[strings.Index(by, "("):])
	}
	fmt.Fprintln(a.stderr, "; nothing was deleted")
	for _, r := range dr.Sample {
		fmt.Fprintf(a.stderr, "  %s\t%s\n", r.ID, r.Name)
	}
	if dr.CountMatches != nil && !*dr.CountMatches {
		return &exitError{code: 1, err: fmt.Errorf("you confirmed %d records but %d would be deleted now: run it with --confirm %d", *dr.ConfirmCount, dr.WouldDelete, dr.WouldDelete)}
	}
	return nil
}

func newJobsCmd(a *app) *cobra.Command {
	var o opsConfig
	watch := &cobra.Command{
		Use:   "watch JOBID",
		Short: "Follow a bulk delete or undo job until it is complete, showing its progress",
		Long: `Read a bulk delete or undo job's progress (GET /crm/v3/jobs/{id}) every --interval until it is COMPLETE.
On a terminal the progress is a bar on stderr; otherwise one "done/total" line on stderr each time
it changes (done counts the records moved to the bin and those skipped because they were no longer
live; for an undo job, the records restored and those it could not restore). When the job is
complete, a summary line goes to stdout and the exit code is 0. A job that ends otherwise (REFUSED,
CANCELED by an undo, or STOPPED because its creator was disabled or lost delete or bulk_delete)
gets its summary line on stdout, the reason on stderr, and exit code 1.

Stopping the command (Ctrl-C) does not stop the job: the workers go on with it. The API is at --url
(CRMFLOW_URL); the token comes from the environment variable CRMFLOW_TOKEN.`,
		Example: `  crmflow jobs watch 17
  crmflow jobs watch 17 --progress lines --interval 5s`,
		Args: exactArgs("JOBID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkWatch(); err != nil {
				return err
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			err = a.watchJob(cmd.Context(), c, args[0], o)
			var ae *apiError
			if n, ok := strings.CutPrefix(args[0], "job-"); ok && n != "" && strings.Trim(n, "0123456789") == "" && errors.As(err, &ae) && ae.status == http.StatusNotFound && !ae.foreign {
				// job-N is the operation of job N, as crmflow operations list shows it.
				h := *ae
				h.Message += fmt.Sprintf(": %s is the operation of job %s: crmflow jobs watch %s", args[0], n, n)
				return &h
			}
			return err
		},
	}
	o.flags(watch.Flags())
	o.watchFlags(watch.Flags())
	jobs := group("jobs", "Follow bulk delete jobs through the API (CRMFLOW_URL, CRMFLOW_TOKEN)", watch)
	jobs.Annotations = map[string]string{unknownHint + "list": `"crmflow operations list" lists the bulk and list delete jobs ` +
		`(as job-ID) with their undo jobs; follow one with "crmflow jobs watch ID"`}
	return jobs
}

// checkWatch checks the flags of a command that follows a job.
func (o *opsConfig) checkWatch() error {
	if o.interval <= 0 {
		return usageErrorf("--interval must be positive, got %s", o.interval)
	}
	switch o.progress {
	case "auto", "bar", "lines":
		return nil
	}
	return usageErrorf("--progress %q is unknown: use auto, bar or lines", o.progress)
}

// apiClient calls the crmflow API with a bearer token.
type apiClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// newAPIClient returns a client of the API at rawURL, with the token of CRMFLOW_TOKEN.
func (a *app) newAPIClient(rawURL string) (*apiClient, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--url/CRMFLOW_URL %q is not an http(s) URL: use e.g. %s", rawURL, defaultAPIURL)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(rawURL, "#") {
		// The API's paths are added to the URL: after a query or a fragment they would be part of it.
		base := url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: u.Path}
		return nil, usageErrorf("--url/CRMFLOW_URL %q has a query or a fragment: give the API's base URL alone, e.g. %s", rawURL, base.String())
	}
	token, _ := a.lookupEnv("CRMFLOW_TOKEN")
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, usageErrorf("set CRMFLOW_TOKEN to an API token of yours (an operator issues one with " +
			"`crmflow admin token create TENANT EMAIL`); it is read from the environment only, so that it never shows in the process list")
	}
	if scheme, _, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return nil, usageErrorf("CRMFLOW_TOKEN starts with %q: set it to the token alone, without %q: crmflow sends it as a bearer token", scheme+" ", scheme)
	}
	// The timeout is long: a filter is matched against every record of its type in the request.
	return &apiClient{base: u, token: token, http: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// apiError is an error answer of the API, in its error shape.
type apiError struct {
	status int
	// foreign is set when the answer was not in the API's error shape: something other than
	// crmflow's API answered.
	foreign       bool
	Message       string `json:"message"`
	Category      string `json:"category"`
	CorrelationID string `json:"correlationId"`
	Errors        []struct {
		Code string `json:"code"`
	} `json:"errors"`
}

// routeNotFound says that the answer is the API's 404 of a path no endpoint serves.
func (e *apiError) routeNotFound() bool {
	return !e.foreign && e.status == http.StatusNotFound && len(e.Errors) > 0 && e.Errors[0].Code == "ROUTE_NOT_FOUND"
}

// Error returns the API's message as it gave it, then the status, category and correlation id.
func (e *apiError) Error() string { return e.Message + "\n" + e.answer() }

// answer is the line of Error that names the answer: its status, category and correlation id.
func (e *apiError) answer() string {
	if e.CorrelationID == "" {
		return fmt.Sprintf("(the answer was %d %s)", e.status, e.Category)
	}
	return fmt.Sprintf("(the API answered %d %s; correlation id %s)", e.status, e.Category, e.CorrelationID)
}

// foreignAnswer is the error of an error answer that is not in the API's error shape: whatever
// answered at c.base (a worker's or scheduler's admin address, a proxy, another service) is not
// crmflow's API.
func (c *apiClient) foreignAnswer(method, path string, status int, raw []byte) *apiError {
	if status >= 500 {
		// A proxy in front of the API while crmflow serve restarts, say: worth a retry.
		return &apiError{status: status, foreign: true, Category: http.StatusText(status), Message: fmt.Sprintf(
			"%s %s at %s failed with an answer that is not the crmflow API's (%q): retry in a moment, "+
				"and check that --url or CRMFLOW_URL is the address of crmflow serve, or of a proxy in front of it",
			method, path, c.base, truncateAnswer(raw))}
	}
	return &apiError{status: status, foreign: true, Category: http.StatusText(status), Message: fmt.Sprintf(
		"%s %s at %s did not answer as the crmflow API does (%q): set --url or CRMFLOW_URL to the address "+
			"crmflow serve listens on (its --addr), not a worker's or a scheduler's --admin-addr",
		method, path, c.base, truncateAnswer(raw))}
}

// truncateAnswer is the start of a foreign answer's body, for an error message.
func truncateAnswer(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "..."
	}
	return s
}

// errUnreachable marks a request that got no answer from the API.
var errUnreachable = errors.New("no answer from the API")

// do sends a request with a JSON body (nil: none) and decodes a 2xx JSON answer into out (nil:
// discard it). An error answer is an *apiError; no answer at all wraps errUnreachable.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doHeader(ctx, method, path, body, out)
	return err
}

// doHeader is do, and returns the headers of a 2xx answer.
func (c *apiClient) doHeader(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var raw []byte
	contentType := ""
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		contentType = "application/json"
	}
	status, header, answer, err := c.exchange(ctx, method, path, contentType, raw)
	if err != nil {
		return nil, err
	}
	if status >= 300 {
		e := &apiError{status: status}
		if json.Unmarshal(answer, e) != nil || e.Message == "" {
			e = c.foreignAnswer(method, path, status, answer)
		}
		if c.base.Path != "" && (e.routeNotFound() || e.foreign && e.status == http.StatusNotFound) {
			root := url.URL{Scheme: c.base.Scheme, User: c.base.User, Host: c.base.Host}
			e.Message += fmt.Sprintf("; --url/CRMFLOW_URL %s has the path %s, and crmflow serve answers the API at the root of its address: "+
				"try %s (a proxy that serves it under a path must remove the path)", c.base, c.base.Path, root.String())
		}
		return nil, e
	}
	return header, decodeAnswer(method, path, answer, out)
}

// exchange sends one request to the API, with body as contentType ("" and nil: no body), and reads
// its answer (8 MiB at most): the status, the headers and the body, whatever the status. No
// answer at all wraps errUnreachable.
func (c *apiClient) exchange(ctx context.Context, method, path, contentType string, body []byte) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	u := c.base.String() + path
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request %s %s: %w", method, u, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, nil, fmt.Errorf("%w at %s: %w; is crmflow serve running there? Set --url or CRMFLOW_URL", errUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w at %s: reading the answer to %s %s: %w", errUnreachable, c.base, method, path, err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// decodeAnswer decodes the 2xx answer raw to method path into out; nil out, or an empty answer,
// is nothing to decode.
func decodeAnswer(method, path string, raw []byte, out any) error {
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// jobView is a bulk job as GET /crm/v3/jobs/{id} shows it (the API's own type): of Total records,
// Done were moved to the bin and Skipped were no longer live when their turn came.
type jobView struct{ api.Job }

// processed is how many records the job has handled so far (for a finished undo, with those that
// had left the bin before it reached them).
func (j jobView) processed() int64 { return j.Done + j.Skipped + j.Gone }

// goneNote is ", N had left the bin meanwhile (...)" for a finished undo some of whose records
// had left the bin before it reached them, or "".
func (j jobView) goneNote() string {
	if j.Gone == 0 {
		return ""
	}
	return fmt.Sprintf(", %d had left the bin meanwhile (restored by someone, or purged)", j.Gone)
}

// undo reports whether the job is an undo, whose done records were restored rather than deleted.
func (j jobView) undo() bool { return j.Kind == crm.JobKindUndo }

// The statuses of a job that watchJob tells apart.
const (
	jobSelecting = "SELECTING" // the workers select the records and check the count
	jobPending   = "PENDING"   // waiting for a worker's first batch
	jobComplete  = "COMPLETE"  // finished
	jobRefused   = "REFUSED"   // the selection did not hold: nothing was deleted
	jobCanceled  = "CANCELED"  // stopped by an undo of its operation, which restores what it moved
	jobStopped   = "STOPPED"   // its creator may no longer do what the job does: it does nothing more
)

// maxPollFailures is how many reads of a job in a row may get no answer, or a 5xx, before watchJob
// gives up (the API restarting, for instance).
const maxPollFailures = 30

// How long a job may wait for a worker, its status and progress unchanged, before watchJob says
// that no worker may have taken it: at least stallHintPolls reads and opsConfig.stallHint
// (stallHintDefault unless set), so that a short --interval does not make it say so early, nor a
// worker slow on a loaded machine.
const (
	stallHintPolls   = 10
	stallHintDefault = 10 * time.Second
)

// stallWatch tells when a job that waits for a worker (SELECTING or PENDING) has not moved for a
// while: the ops person on a first day who started the API but no worker would otherwise watch a
// line that never changes.
type stallWatch struct {
	after  time.Duration
	last   string
	polls  int
	since  time.Time
	hinted bool
}

// stalled reports, once, whether job j, read at now, has waited for a worker unchanged long enough.
func (w *stallWatch) stalled(j jobView, now time.Time) bool {
	seen := fmt.Sprintf("%s %d %d %d", j.Status, j.Scanned, j.Done, j.Skipped)
	if seen != w.last {
		w.last, w.polls, w.since = seen, 0, now
		return false
	}
	w.polls++
	waiting := j.Status == jobSelecting || j.Status == jobPending
	if w.hinted || !waiting || w.polls < stallHintPolls || now.Sub(w.since) < w.after {
		return false
	}
	w.hinted = true
	return true
}

// watchJob reads job id every o.interval until it is complete, showing its progress on stderr, and
// prints a summary line on stdout.
func (a *app) watchJob(ctx context.Context, c *apiClient, id string, o opsConfig) error {
	show := a.newProgress(id, o.progress)
	t := time.NewTicker(o.interval)
	defer t.Stop()
	failures := 0
	var last jobView // the job as last read, for what to say when the token stops working
	stall := stallWatch{after: cmp.Or(o.stallHint, stallHintDefault)}
	for {
		var j jobView
		err := c.do(ctx, http.MethodGet, "/crm/v3/jobs/"+url.PathEscape(id), nil, &j)
		switch {
		case err == nil:
			failures, last = 0, j
			show.update(j)
			if stall.stalled(j, time.Now()) {
				fmt.Fprintf(a.stderr, "job %s is still %s after %s: no worker has taken it yet. Either none runs against the API's Redis "+
					"(start one: crmflow worker --redis ...), or all are busy with earlier work (their logs say which). "+
					"This command goes on waiting; stopping it does not stop the job\n",
					id, j.Status, time.Since(stall.since).Round(time.Second))
			}
			switch j.Status {
			case jobComplete:
				show.finish(j)
				if j.undo() {
					_, err := fmt.Fprintf(a.stdout, "job %s %s: %d of %d %s restored, %d not restored%s\n",
						j.ID, j.Status, j.Done, j.Total, j.ObjectType, j.Skipped, j.goneNote())
					return err
				}
				_, err := fmt.Fprintf(a.stdout, "job %s %s: %d of %d %s moved to the recycle bin, %d skipped (no longer live)\n",
					j.ID, j.Status, j.Done, j.Total, j.ObjectType, j.Skipped)
				return err
			case jobRefused:
				show.finish(j)
				why := "no reason given"
				if j.Refusal != nil {
					why = j.Refusal.Message
				}
				if _, err := fmt.Fprintf(a.stdout, "job %s %s: nothing deleted (confirmed %d, matched %d)\n",
					j.ID, j.Status, j.ConfirmCount, j.Matched); err != nil {
					return err
				}
				return fmt.Errorf("bulk delete job %s was refused: %s", j.ID, why)
			case jobCanceled:
				show.finish(j)
				if _, err := fmt.Fprintf(a.stdout, "job %s %s: %d of %d %s had been moved to the recycle bin; the rest stay live\n",
					j.ID, j.Status, j.Done, j.Total, j.ObjectType); err != nil {
					return err
				}
				return fmt.Errorf("bulk delete job %s was canceled by undo job %s, which restores what it moved: crmflow jobs watch %s",
					j.ID, j.CanceledBy, j.CanceledBy)
			case jobStopped:
				show.finish(j)
				what := "moved to the recycle bin before it stopped; the rest stay live"
				if j.undo() {
					what = "restored before it stopped; the rest stay in the recycle bin"
				}
				if _, err := fmt.Fprintf(a.stdout, "job %s %s: %d of %d %s %s\n",
					j.ID, j.Status, j.Done, j.Total, j.ObjectType, what); err != nil {
					return err
				}
				why := "its creator may no longer do what it does"
				if j.Stop != nil {
					why = j.Stop.Message
				}
				return fmt.Errorf("job %s stopped: %s", j.ID, why)
			}
		case errors.Is(err, errUnreachable) || isServerError(err):
			failures++
			if failures >= maxPollFailures {
				return fmt.Errorf("gave up following job %s after %d failed reads in a row (the job goes on): %w", id, failures, err)
			}
			fmt.Fprintf(a.stderr, "%v; retrying\n", err)
		case isUnauthorized(err):
			// The token was revoked, or its user disabled, while the job runs (the user who started
			// it disabled mid-run, most often): say what becomes of the job, which no longer shows here.
			return fmt.Errorf("stopped following job %s: %w\n%s", id, err, unfollowedJob(id, last))
		default:
			if ctx.Err() != nil {
				return fmt.Errorf("stopped following job %s; the workers go on with it: crmflow jobs watch %s", id, id)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following job %s; the workers go on with it: crmflow jobs watch %s", id, id)
		case <-t.C:
		}
	}
}

// unfollowedJob says what becomes of job id, last read as last (zero if never), once the token no
// longer works: a job goes on, or stops at its next batch when its creator may no longer do what it
// does; stopping the watch stops nothing.
func unfollowedJob(id string, last jobView) string {
	what := "the workers stop it at its next batch, moving nothing more (what it moved stays in the recycle bin: " +
		"crmflow undo job-" + id + " restores it)"
	if last.undo() {
		what = "the workers stop it at its next batch, restoring nothing more (what it restored stays live)"
	}
	return "The job is not stopped by this. A job acts with its creator's authority at each batch: if its creator " +
		"was disabled or lost a permission it needs, " + what + "; otherwise it goes on. Follow it with a valid token: crmflow jobs watch " + id
}

// isUnauthorized reports whether err is a 401 of the API: the token is no longer accepted.
func isUnauthorized(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusUnauthorized && !ae.foreign
}

// isServerError reports whether err is an answer of the API with a 5xx status (a restart, Redis
// briefly away), after which a read may succeed.
func isServerError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status >= 500
}

// progress shows a job's progress.
type progress interface {
	update(j jobView)
	finish(j jobView)
}

// newProgress returns a bar on a terminal (mode auto) or with mode bar, else lines.
func (a *app) newProgress(id, mode string) progress {
	if mode == "bar" || (mode == "auto" && isTerminal(a.stderr)) {
		return &barProgress{w: a.stderr, id: id}
	}
	return &lineProgress{w: a.stderr, id: id}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lineProgress prints "processed/total" with the status, once per change.
type lineProgress struct {
	w    io.Writer
	id   string
	last string
}

func (p *lineProgress) update(j jobView) {
	line := fmt.Sprintf("%d/%d %s (job %s: %d deleted, %d skipped)", j.processed(), j.Total, j.Status, p.id, j.Done, j.Skipped)
	if j.undo() {
		line = fmt.Sprintf("%d/%d %s (job %s: %d restored, %d not restored%s)", j.processed(), j.Total, j.Status, p.id, j.Done, j.Skipped, j.goneNote())
	}
	if j.Status == jobSelecting || j.Status == jobRefused {
		line = selectingLine(p.id, j)
	}
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

func (p *lineProgress) finish(jobView) {}

// barProgress draws a progress bar, created at the first update, once the total is known.
type barProgress struct {
	w    io.Writer
	id   string
	bar  *progressbar.ProgressBar
	last string // the last selecting line printed
}

// newProgressBar is the bar the CLI shows on a terminal for background work of total items.
func newProgressBar(w io.Writer, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// selectingLine tells a job's selection: what it looked at and matched, against the count confirmed.
func selectingLine(id string, j jobView) string {
	return fmt.Sprintf("%s (job %s: %d %s looked at, %d match, %d confirmed)", j.Status, id, j.Scanned, j.ObjectType, j.Matched, j.ConfirmCount)
}

func (p *barProgress) update(j jobView) {
	if j.Status == jobSelecting || j.Status == jobRefused {
		// No bar until the total is known: a line per change of the selection's progress.
		if line := selectingLine(p.id, j); line != p.last {
			fmt.Fprintln(p.w, line)
			p.last = line
		}
		return
	}
	if p.bar == nil {
		p.bar = newProgressBar(p.w, j.Total, "job "+p.id+" "+j.ObjectType)
	}
	_ = p.bar.Set64(min(j.processed(), p.bar.GetMax64()))
}

func (p *barProgress) finish(j jobView) {
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Finish()
	}
}
