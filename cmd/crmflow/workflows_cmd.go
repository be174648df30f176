package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/workflows"
)

// The workflow commands for ops staff talk to the API (CRMFLOW_URL, CRMFLOW_TOKEN) like the other
// ops commands: apply, workflows list|activate|pause|history|enroll, preview. Their results go to
// stdout, hints and warnings to stderr.

// flowsAPIPath is the path of the workflow endpoints.
const flowsAPIPath = "/automation/v4/flows"

// yamlContentType is the Content-Type of a workflow file sent to the API.
const yamlContentType = "application/yaml"

// flowView is a workflow as the API shows it.
type flowView struct {
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	State          string `json:"state"`
	Revision       int64  `json:"revision"`
	ActiveRevision int64  `json:"activeRevision"`
	PausedReason   string `json:"pausedReason"`
}

// activationView is the API's answer to an activation.
type activationView struct {
	flowView
	Backfill struct {
		Requested bool   `json:"requested"`
		Queued    bool   `json:"queued"`
		Warning   string `json:"warning"`
	} `json:"backfill"`
	// Resume is set when the workflow was paused.
	Resume *struct {
		Queued  bool   `json:"queued"`
		Warning string `json:"warning"`
	} `json:"resume"`
}

// previewView is what a workflow would enroll now, as the API counts it.
type previewView struct {
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
	Revision   int64  `json:"revision"`
	At         string `json:"at"`
	Total      int64  `json:"total"`
	Matched    int64  `json:"matched"`
	Suppressed int64  `json:"suppressed"`
	Errors     int64  `json:"errors"`
	Sample     []struct {
		ID string `json:"id"`
	} `json:"sample"`
	Warnings []string `json:"warnings"`
	// Partial is set when --max-records stopped the preview before the last record.
	Partial bool `json:"partial"`
	// Limit is the blast-radius limit of a workflow that deletes, and how far it would go.
	Limit *api.PreviewLimit `json:"limit"`
}

// historyView is one event of a record in a workflow.
type historyView struct {
	At       string `json:"at"`
	Kind     string `json:"kind"`
	Revision int64  `json:"revision"`
	Step     *int   `json:"step"`
	Action   string `json:"action"`
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
}

// flowPath is the path of workflow name, with an optional sub-resource ("activate", ...).
func flowPath(name string, sub ...string) string {
	p := flowsAPIPath + "/" + url.PathEscape(name)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

// flowProblemsError is a workflow file the API refused with problems at lines and columns (its
// 400 VALIDATION_ERROR with INVALID_WORKFLOW details). The API names the file flow.yaml; the
// commands print the problems against the file the user gave.
type flowProblemsError struct {
	problems []apiProblem
	// apiErr is the whole answer, for its message and correlation id.
	apiErr *apiError
}

// apiProblem is one INVALID_WORKFLOW detail: its message ("flow.yaml:3:20: path: message") and
// the line of the file with a caret under the column, when the API gave it.
type apiProblem struct {
	message string
	snippet string
}

func (e *flowProblemsError) Error() string { return e.apiErr.Error() }

// lines returns the problems as "file:line:col: path: message", with the snippets when detailed.
func (e *flowProblemsError) lines(file string, detailed bool) string {
	var b strings.Builder
	for i, p := range e.problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		msg := p.message
		// The API reports against its own name for the body; the position after it is the file's.
		if j := strings.Index(msg, ":"); j >= 0 {
			msg = file + msg[j:]
		}
		b.WriteString(msg)
		if detailed && p.snippet != "" {
			b.WriteByte('\n')
			b.WriteString(p.snippet)
		}
	}
	return b.String()
}

// apiErrorBody is the API's error body, with the details the workflow commands read.
type apiErrorBody struct {
	Message       string `json:"message"`
	Category      string `json:"category"`
	CorrelationID string `json:"correlationId"`
	Errors        []struct {
		Message string              `json:"message"`
		Code    string              `json:"code"`
		Context map[string][]string `json:"context"`
	} `json:"errors"`
}

// send sends a request with a raw body of contentType (a workflow file) and decodes a 2xx JSON
// answer into out (nil: discard it); it returns the status. An error answer is an *apiError, or a
// *flowProblemsError for a workflow file with problems; no answer at all wraps errUnreachable.
func (c *apiClient) send(ctx context.Context, method, path, contentType string, body []byte, out any) (int, error) {
	status, _, raw, err := c.exchange(ctx, method, path, contentType, body)
	if err != nil {
		return 0, err
	}
	if status >= 300 {
		var b apiErrorBody
		if json.Unmarshal(raw, &b) != nil || b.Message == "" {
			return status, c.foreignAnswer(method, path, status, raw)
		}
		ae := &apiError{status: status, Message: b.Message, Category: b.Category, CorrelationID: b.CorrelationID}
		var ps []apiProblem
		for _, d := range b.Errors {
			if d.Code != "INVALID_WORKFLOW" {
				return status, ae
			}
			p := apiProblem{message: d.Message}
			if s := d.Context["snippet"]; len(s) > 0 {
				p.snippet = s[0]
			}
			ps = append(ps, p)
		}
		if len(ps) > 0 {
			return status, &flowProblemsError{problems: ps, apiErr: ae}
		}
		return status, ae
	}
	return status, decodeAnswer(method, path, raw, out)
}

// printAPIProblems prints the problems the API found in file, as validate prints its own.
func (a *app) printAPIProblems(file string, pe *flowProblemsError) {
	fmt.Fprintln(a.stdout, pe.lines(file, isTerminal(a.stdout)))
}

// newApplyCmd returns `crmflow apply -f FILE...`: store workflow files through the API.
func newApplyCmd(a *app) *cobra.Command {
	var (
		o          opsConfig
		files      []string
		schemaFile string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...]",
		Short: "Store workflow files through the API, each as a new revision unless unchanged",
		Long: `Store workflow files through the API (PUT /automation/v4/flows/{name}), each under the name it gives.

Every file is first validated here, as "crmflow validate" does: if one has a problem, its problems
are printed and nothing is stored (exit 1). The API then validates each again against the tenant's
live schema and lists, and stores it as a new revision ("NAME: created revision N") unless it is
the same as the latest one ("NAME: unchanged"). Storing a revision never activates it: an active
workflow keeps running its active revision until "crmflow workflows activate NAME".

The local check uses the tenant's live schema, its standard and custom properties and object types,
read through the API with the token (GET /crm/v3/properties/{objectType}: the user needs the read
permission). With --schema FILE it uses that schema export instead and reads nothing before storing
(crmflow admin schema export TENANT > FILE writes one). The API is at --url (CRMFLOW_URL); the token,
of a user with the workflows permission, comes from the environment variable CRMFLOW_TOKEN.`,
		Example: `  export CRMFLOW_URL=https://crm.example.com CRMFLOW_TOKEN=...
  crmflow apply -f workflows/clean-bounced-contacts.yaml
  crmflow apply -f a.yaml -f b.yaml --schema acme-schema.yaml
  render-flow | crmflow apply -f -`,
		Args: filesWithF(true),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageErrorf("-f FILE is required: give the workflow file(s) to apply")
			}
			// Every file is read, and two files of one workflow refused, before anything else.
			byName := map[string]string{}
			for _, f := range files {
				src, err := a.readFile(f)
				if err != nil {
					return usage(fmt.Errorf("read workflow file: %w", err))
				}
				f := fileName(f)
				var head struct {
					Name any `yaml:"name"`
				}
				if yaml.Unmarshal(src, &head) != nil {
					continue // validation reports it
				}
				name, ok := head.Name.(string)
				if !ok || name == "" {
					continue
				}
				if prev, dup := byName[name]; dup {
					return usageErrorf("%s and %s both define workflow %s: apply one of them", prev, f, name)
				}
				byName[name] = f
			}
			var schemas workflows.SchemaLookup
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			if schemaFile != "" {
				if schemas, err = loadSchemas(schemaFile); err != nil {
					return err
				}
			} else {
				schemas = newAPISchemas(cmd.Context(), c)
			}
			checks := make([]fileCheck, len(files))
			bad := 0
			for i, f := range files {
				c, err := a.checkFile(f, schemas)
				if err != nil {
					return err
				}
				if c.problems != nil {
					bad++
					a.printProblems(c.problems)
					continue
				}
				checks[i] = c
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %s invalid: nothing applied", bad, counted(len(files), "file"))}
			}
			// A stored workflow keeps its object type: the API would refuse such a file after
			// the files before it were stored.
			for i, f := range files {
				f := fileName(f)
				wf := checks[i].wf
				var fl flowView
				err := c.do(cmd.Context(), http.MethodGet, flowPath(wf.Name), nil, &fl)
				var ae *apiError
				switch {
				case errors.As(err, &ae) && (ae.status == http.StatusNotFound || ae.status == http.StatusForbidden) && !ae.foreign:
					// New; or the user may store workflows but not read them: the API still refuses.
					continue
				case err != nil:
					return fmt.Errorf("read the stored workflow %s, to check %s against it: %w", wf.Name, f, err)
				}
				if fl.ObjectType != string(wf.ObjectType) {
					bad++
					line, col := topValuePosition(checks[i].src, "object_type")
					a.printProblems(&workflows.ValidationError{Problems: []workflows.Problem{{File: f, Line: line, Column: col,
						Path: "object_type", Message: fmt.Sprintf("workflow %s is stored for %s, and a workflow keeps its object type: "+
							"give this one another name, or set object_type: %s", wf.Name, fl.ObjectType, fl.ObjectType)}}})
				}
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %s cannot be applied: nothing applied", bad, counted(len(files), "file"))}
			}
			return a.applyFiles(cmd.Context(), c, files, checks)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringArrayVarP(&files, "filename", "f", nil, "a workflow file to apply (repeat for several); - reads it from stdin")
	fs.StringVar(&schemaFile, "schema", "",
		"validate locally against this schema export (crmflow admin schema export TENANT) instead of the tenant's live schema")
	return cmd
}

// applyFiles stores each checked file with PUT, in order, and prints what became of it. A file the
// API refuses with problems is printed and the others are still applied (exit 1 at the end); any
// other error stops at once.
func (a *app) applyFiles(ctx context.Context, c *apiClient, files []string, checks []fileCheck) error {
	refused := 0
	for i, f := range files {
		f := fileName(f)
		name := checks[i].wf.Name
		var fl flowView
		status, err := c.send(ctx, http.MethodPut, flowPath(name), yamlContentType, checks[i].src, &fl)
		var pe *flowProblemsError
		switch {
		case errors.As(err, &pe):
			refused++
			a.printAPIProblems(f, pe)
			continue
		case err != nil:
			return fmt.Errorf("apply %s (workflow %s): %w", f, name, err)
		}
		if status == http.StatusCreated {
			fmt.Fprintf(a.stdout, "%s: created revision %d\n", name, fl.Revision)
		} else {
			fmt.Fprintf(a.stdout, "%s: unchanged (revision %d)\n", name, fl.Revision)
		}
		if fl.State == "ACTIVE" && fl.ActiveRevision != fl.Revision {
			fmt.Fprintf(a.stderr, "workflow %s is active at revision %d: run `crmflow workflows activate %s` to run revision %d\n",
				name, fl.ActiveRevision, name, fl.Revision)
		}
	}
	switch {
	case refused == len(files):
		return &exitError{code: 1, err: fmt.Errorf("the API refused %d of %s: nothing applied", refused, counted(len(files), "file"))}
	case refused > 0:
		return &exitError{code: 1, err: fmt.Errorf("the API refused %d of %s; the others are applied", refused, counted(len(files), "file"))}
	}
	return nil
}

// newWorkflowsCmd returns `crmflow workflows`: list, activate, pause, history and enroll.
func newWorkflowsCmd(a *app) *cobra.Command {
	wfs := group("workflows", "List, activate and pause stored workflows, read what they did (CRMFLOW_URL, CRMFLOW_TOKEN)",
		a.newWorkflowsListCmd(), a.newWorkflowsActivateCmd(), a.newWorkflowsPauseCmd(),
		a.newWorkflowsHistoryCmd(), a.newWorkflowsEnrollCmd())
	wfs.Long = `Manage the workflows stored with "crmflow apply", through the API at --url (CRMFLOW_URL) with the
token of the environment variable CRMFLOW_TOKEN. Activating and pausing need a user with the
workflows permission; activating needs a tenant on the professional or enterprise plan.`
	wfs.Example = `  crmflow workflows list
  crmflow workflows activate clean-bounced-contacts --enroll-existing
  crmflow workflows history clean-bounced-contacts --kind action --limit 20
  crmflow workflows history clean-bounced-contacts --record 1042
  crmflow workflows pause clean-bounced-contacts`
	return wfs
}

func (a *app) newWorkflowsListCmd() *cobra.Command {
	var o opsConfig
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's workflows with their state and revisions",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			var out struct {
				Results []flowView `json:"results"`
			}
			if err := c.do(cmd.Context(), http.MethodGet, flowsAPIPath, nil, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTYPE\tSTATE\tREVISION\tACTIVE_REVISION\tPAUSED_REASON")
			for _, f := range out.Results {
				active := "-"
				if f.ActiveRevision > 0 {
					active = strconv.FormatInt(f.ActiveRevision, 10)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", f.Name, f.ObjectType, f.State, f.Revision, active, oneLine(f.PausedReason))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%s\n", counted(len(out.Results), "workflow"))
			return nil
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

func (a *app) newWorkflowsActivateCmd() *cobra.Command {
	var (
		o              opsConfig
		enrollExisting bool
		wait           bool
	)
	cmd := &cobra.Command{
		Use:   "activate NAME [--enroll-existing] [--wait]",
		Short: "Activate a workflow's latest revision, optionally enrolling the records that match already",
		Long: `Activate a workflow's latest revision (POST /automation/v4/flows/{name}/activate): from now on records
that start to match its trigger enroll and run its actions.

--enroll-existing=true also enrolls, in the background, every live record that matches already;
--enroll-existing=false does not; without the flag the workflow file's enroll_existing decides.
--wait follows that enrollment until every live record was looked at: on a terminal with a progress
bar on stderr, otherwise with one "done/total" line on stderr per change; then a summary line goes to
stdout. Stopping the command (Ctrl-C) does not stop the enrollment.

Activating a paused workflow (one paused at its blast-radius limit, say) resumes it: the records that
waited enrolled while it was paused run their due step at once, and stderr says so; a record still in a
delay waits for its end. Should that not be queued at once, a warning says so and the workflow sweep
runs them within a minute or two.

Only tenants on the professional and enterprise plans may activate workflows: on another plan the
API's refusal is printed and the exit code is 1. When the enrollment of existing records was asked
for but could not be queued, the workflow is active anyway, a warning says what to do and the exit
code is 1.`,
		Example: `  crmflow workflows activate clean-bounced-contacts --enroll-existing --wait
  crmflow workflows activate nurture-new-leads --enroll-existing=false`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			changed := cmd.Flags().Changed("enroll-existing")
			if wait {
				if changed && !enrollExisting {
					return usageErrorf("--wait follows the enrollment of the existing records: it needs --enroll-existing, not --enroll-existing=false")
				}
				if err := o.checkWatch(); err != nil {
					return err
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var before *backfillView
			if wait {
				// The progress of an earlier backfill, so that --wait does not take it for this one's.
				var d flowDetailView
				if err := c.do(ctx, http.MethodGet, flowPath(name), nil, &d); err != nil {
					return err
				}
				before = d.BackfillProgress
			}
			var body any
			if changed {
				body = map[string]bool{"enrollExisting": enrollExisting}
			}
			var out activationView
			if err := c.do(ctx, http.MethodPost, flowPath(name, "activate"), body, &out); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "workflow %s: %s at revision %d\n", out.Name, out.State, out.ActiveRevision)
			switch {
			case out.Resume == nil:
			case out.Resume.Queued:
				fmt.Fprintf(a.stderr, "the records that waited while it was paused carry on now\n")
			default:
				fmt.Fprintf(a.stderr, "warning: %s\n", out.Resume.Warning)
			}
			switch {
			case !out.Backfill.Requested:
				fmt.Fprintf(a.stderr, "records that match already were not enrolled; those created or updated from now on are\n")
				return nil
			case !out.Backfill.Queued:
				return fmt.Errorf("workflow %s is active, but: %s", out.Name, out.Backfill.Warning)
			case !wait:
				fmt.Fprintf(a.stderr, "the records that match already are being enrolled in the background; "+
					"follow it with `crmflow workflows activate %s --enroll-existing --wait`, which enrolls nobody twice\n", out.Name)
				return nil
			}
			return a.waitBackfill(ctx, c, out.flowView, before, o)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	o.watchFlags(fs)
	fs.BoolVar(&enrollExisting, "enroll-existing", false,
		"also enroll the live records that match already (default: the workflow file's enroll_existing)")
	fs.BoolVar(&wait, "wait", false, "follow the enrollment of the existing records until it is complete, showing its progress")
	return cmd
}

// flowDetailView is one workflow as GET /automation/v4/flows/{name} shows it, with the progress of
// its latest enroll-existing backfill (nil when it never had one).
type flowDetailView struct {
	flowView
	BackfillProgress *backfillView `json:"backfillProgress"`
}

// backfillView is the progress of an enroll-existing backfill: of Total live records (counted when
// it started), Done were looked at and Enrolled of those enrolled.
type backfillView struct {
	Revision  int64  `json:"revision"`
	Status    string `json:"status"` // RUNNING, COMPLETE or STOPPED
	Total     int64  `json:"total"`
	Done      int64  `json:"done"`
	Enrolled  int64  `json:"enrolled"`
	StartedAt string `json:"startedAt"`
}

// waitBackfill reads workflow f every o.interval until the backfill of its active revision that
// started after before (the progress read before the activation; nil when there was none) is
// complete, showing its progress on stderr, and prints a summary line on stdout. A backfill that
// stops (the workflow was paused, or another revision activated) is an error.
func (a *app) waitBackfill(ctx context.Context, c *apiClient, f flowView, before *backfillView, o opsConfig) error {
	show := a.newBackfillDisplay(f.Name, f.ObjectType, o.progress)
	t := time.NewTicker(o.interval)
	defer t.Stop()
	failures, waiting := 0, false
	for {
		var d flowDetailView
		err := c.do(ctx, http.MethodGet, flowPath(f.Name), nil, &d)
		switch {
		case err == nil:
			failures = 0
			bf := d.BackfillProgress
			// A record of an earlier backfill is not this one's: a new one starts with a new startedAt,
			// unless the earlier one of this revision was still running and this activation joined it.
			fresh := bf != nil && bf.Revision == f.ActiveRevision &&
				(before == nil || bf.StartedAt != before.StartedAt || before.Status == "RUNNING")
			if !fresh {
				if !waiting {
					fmt.Fprintf(a.stderr, "waiting for a worker to start enrolling the existing %s of workflow %s\n", f.ObjectType, f.Name)
					waiting = true
				}
				break
			}
			show.update(*bf)
			switch bf.Status {
			case "COMPLETE":
				show.finish()
				_, err := fmt.Fprintf(a.stdout, "workflow %s: enroll-existing COMPLETE: %d of %d %s looked at, %d enrolled\n",
					f.Name, bf.Done, bf.Total, f.ObjectType, bf.Enrolled)
				return err
			case "STOPPED":
				show.finish()
				why := "the workflow was paused or another revision activated"
				if d.State == "PAUSED" && d.PausedReason != "" {
					why = "the workflow paused itself: " + oneLine(d.PausedReason)
				}
				return fmt.Errorf("the enrollment of the existing %s of workflow %s STOPPED after %d of %d (%d enrolled): %s",
					f.ObjectType, f.Name, bf.Done, bf.Total, bf.Enrolled, why)
			}
		case errors.Is(err, errUnreachable) || isServerError(err):
			failures++
			if failures >= maxPollFailures {
				return fmt.Errorf("gave up following the enrollment of workflow %s after %d failed reads in a row (it goes on): %w",
					f.Name, failures, err)
			}
			fmt.Fprintf(a.stderr, "%v; retrying\n", err)
		default:
			if ctx.Err() != nil {
				// Stopped (Ctrl-C) while a read was under way.
				return stoppedFollowing(f.Name)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return stoppedFollowing(f.Name)
		case <-t.C:
		}
	}
}

// stoppedFollowing is the error of a wait for the enrollment of workflow name that was stopped:
// the enrollment goes on, and the command that follows it again.
func stoppedFollowing(name string) error {
	return fmt.Errorf("stopped following the enrollment of workflow %s; the workers go on with it: "+
		"crmflow workflows activate %s --enroll-existing --wait follows it again, and enrolls nobody twice", name, name)
}

// backfillDisplay shows a backfill's progress on stderr: a bar, or a line per change.
type backfillDisplay struct {
	w          io.Writer
	name, what string
	useBar     bool
	bar        *progressbar.ProgressBar
	last       string
}

// newBackfillDisplay returns a bar on a terminal (mode auto) or with mode bar, else lines.
func (a *app) newBackfillDisplay(name, objectType, mode string) *backfillDisplay {
	return &backfillDisplay{w: a.stderr, name: name, what: objectType,
		useBar: mode == "bar" || (mode == "auto" && isTerminal(a.stderr))}
}

func (d *backfillDisplay) update(bf backfillView) {
	if !d.useBar {
		line := fmt.Sprintf("%d/%d %s (workflow %s: %d %s looked at, %d enrolled)", bf.Done, bf.Total, bf.Status, d.name, bf.Done, d.what, bf.Enrolled)
		if line != d.last {
			fmt.Fprintln(d.w, line)
			d.last = line
		}
		return
	}
	if d.bar == nil {
		d.bar = newProgressBar(d.w, bf.Total, "workflow "+d.name+" enroll-existing "+d.what)
	}
	if bf.Total > d.bar.GetMax64() {
		d.bar.ChangeMax64(bf.Total)
	}
	_ = d.bar.Set64(min(bf.Done, d.bar.GetMax64()))
}

func (d *backfillDisplay) finish() {
	if d.bar != nil && !d.bar.IsFinished() {
		_ = d.bar.Finish()
	}
}

func (a *app) newWorkflowsPauseCmd() *cobra.Command {
	var o opsConfig
	cmd := &cobra.Command{
		Use:   "pause NAME",
		Short: "Pause a workflow: it enrolls nobody and runs no action until activated again",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			var out flowView
			if err := c.do(cmd.Context(), http.MethodPost, flowPath(args[0], "pause"), nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "workflow %s: %s\n", out.Name, out.State)
			return nil
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

func (a *app) newWorkflowsHistoryCmd() *cobra.Command {
	var (
		o      opsConfig
		record string
		kinds  []string
		limit  int
		after  string
	)
	cmd := &cobra.Command{
		Use:   "history NAME [--record ID | --kind KIND... --limit N --after CURSOR]",
		Short: "Show what a workflow did, newest first, or every event of one record in it (--record)",
		Long: `Without --record: the workflow's history as a whole, newest first, every record's events
(` + strings.Join(crm.HistoryKinds(), ", ") + `), --limit at a time;
--kind keeps only some kinds, and --after goes on from where the previous page ended (the
command prints the cursor). About the last 10,000 events of a workflow are kept.
With --record: every event of that record in the workflow, oldest first.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("record") {
				var err error
				if kinds, err = checkHistoryKinds(kinds); err != nil {
					return err
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("record") {
				if strings.TrimSpace(record) == "" {
					return usageErrorf("--record is empty: give the id of the record whose history to show, or leave --record out for the whole workflow's")
				}
				if len(kinds) > 0 || cmd.Flags().Changed("limit") || after != "" {
					return usageErrorf("--kind, --limit and --after page the whole workflow's history: leave them out with --record")
				}
				return a.recordHistory(cmd.Context(), c, args[0], record)
			}
			if limit < 1 || limit > 500 {
				return usageErrorf("--limit %d is out of range: use 1 to 500", limit)
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if len(kinds) > 0 {
				q.Set("kind", strings.Join(kinds, ","))
			}
			if after != "" {
				q.Set("after", after)
			}
			var out struct {
				Results []struct {
					ObjectType string `json:"objectType"`
					RecordID   string `json:"recordId"`
					historyView
				} `json:"results"`
				Paging *struct {
					Next struct {
						After string `json:"after"`
					} `json:"next"`
				} `json:"paging"`
			}
			if err := c.do(cmd.Context(), http.MethodGet, flowPath(args[0], "history")+"?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AT\tRECORD\tEVENT\tREVISION\tSTEP\tACTION\tOUTCOME\tDETAIL")
			for _, h := range out.Results {
				fmt.Fprintf(w, "%s\t%s/%s\t%s\t%d\t%s\t%s\t%s\t%s\n", h.At, h.ObjectType, h.RecordID, h.Kind, h.Revision, stepText(h.Step),
					dash(h.Action), dash(h.Outcome), oneLine(h.Detail))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%s of workflow %s, newest first\n", counted(len(out.Results), "event"), args[0])
			if out.Paging != nil {
				next := []string{"workflows", "history", args[0], "--limit", strconv.Itoa(limit)}
				if len(kinds) > 0 {
					next = append(next, "--kind", strings.Join(kinds, ","))
				}
				fmt.Fprintf(a.stderr, "older events: %s\n", commandLine(append(next, "--after", out.Paging.Next.After)...))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&record, "record", "", "show every event of this record, oldest first")
	fs.StringSliceVar(&kinds, "kind", nil, "only events of these kinds ("+strings.Join(crm.HistoryKinds(), ", ")+")")
	fs.IntVar(&limit, "limit", 100, "events per page, 1 to 500")
	fs.StringVar(&after, "after", "", "go on from this cursor (printed after a page)")
	return cmd
}

// checkHistoryKinds returns the kinds of --kind, trimmed, or a usage error naming the first one
// that is empty or not a kind of history event, and the kinds there are.
func checkHistoryKinds(kinds []string) ([]string, error) {
	known := crm.HistoryKinds()
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		k = strings.TrimSpace(k)
		switch {
		case k == "":
			return nil, usageErrorf("--kind has an empty kind: give one or more of %s, comma-separated", strings.Join(known, ", "))
		case !slices.Contains(known, k):
			return nil, usageErrorf("--kind %q is not a kind of history event: use one or more of %s, comma-separated", k, strings.Join(known, ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// recordHistory prints every event of record in workflow name, oldest first.
func (a *app) recordHistory(ctx context.Context, c *apiClient, name, record string) error {
	var out struct {
		Results []historyView `json:"results"`
	}
	path := flowPath(name, "history") + "?recordId=" + url.QueryEscape(record)
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AT\tEVENT\tREVISION\tSTEP\tACTION\tOUTCOME\tDETAIL")
	for _, h := range out.Results {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", h.At, h.Kind, h.Revision, stepText(h.Step), dash(h.Action), dash(h.Outcome), oneLine(h.Detail))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "%s of record %s in workflow %s\n", counted(len(out.Results), "event"), record, name)
	return nil
}

// stepText is a step as the history tables show it, counted from 1 as the console counts them
// (the API's step is the action's index, from 0): "-" for none.
func stepText(step *int) string {
	if step == nil {
		return "-"
	}
	return strconv.Itoa(*step + 1)
}

func (a *app) newWorkflowsEnrollCmd() *cobra.Command {
	var (
		o      opsConfig
		record string
	)
	cmd := &cobra.Command{
		Use:   "enroll NAME --record ID",
		Short: "Enroll one live record in an active workflow, whether or not it matches the trigger",
		Long: `Enroll one live record in an active workflow (POST /automation/v4/flows/{name}/enrollments); its
first step runs in the background. The record enrolls whether or not it matches the trigger, so
its actions (a delete_contact included) run on it. The API refuses, saying why, a record that is suppressed, already
enrolled, or was enrolled before when the workflow does not allow re-enrollment.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(record) == "" {
				return usageErrorf("--record is required: the id of the record to enroll")
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			body := map[string]string{"recordId": record}
			if err := c.do(cmd.Context(), http.MethodPost, flowPath(args[0], "enrollments"), body, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "enrolled record %s in workflow %s\n", record, args[0])
			return nil
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&record, "record", "", "the id of the record (required)")
	return cmd
}

// newPreviewCmd returns `crmflow preview FILE | --name NAME`.
func newPreviewCmd(a *app) *cobra.Command {
	var (
		o          opsConfig
		name       string
		limit      int
		maxRecords int
	)
	cmd := &cobra.Command{
		Use:   "preview (FILE | --name NAME) [--limit N] [--max-records N]",
		Short: "Count the live records a workflow would enroll now, with a sample, changing nothing",
		Long: `Count the live records a workflow would enroll now (they match its trigger and are not suppressed),
and show the ids of a sample of them, without storing or changing anything, on every plan.

With FILE the workflow file is sent as it is (POST /automation/v4/flows/preview) and validated
against the tenant's live schema; its problems are printed as "crmflow validate" prints them (a FILE
of "-" is read from stdin). With --name the latest stored revision of that workflow is previewed.`,
		Example: `  crmflow preview workflows/clean-bounced-contacts.yaml
  crmflow preview --name clean-bounced-contacts --limit 50`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 && name == "":
				return usageErrorf("give a workflow FILE or --name NAME\nUsage: %s", cmd.UseLine())
			case len(args) > 0 && name != "":
				return usageErrorf("give a workflow FILE or --name NAME, not both\nUsage: %s", cmd.UseLine())
			case len(args) > 1:
				return usageErrorf("%s previews one FILE, got %d\nUsage: %s", cmd.CommandPath(), len(args), cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 100 {
				return usageErrorf("--limit must be from 1 to 100, got %d", limit)
			}
			var src []byte
			if len(args) == 1 {
				var err error
				if src, err = a.readFile(args[0]); err != nil {
					if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(args[0], `/\.`) {
						// A bare word is more likely the name of a stored workflow than a file.
						return usage(fmt.Errorf("read workflow file: %w\nto preview the stored workflow %q, use --name %s", err, args[0], args[0]))
					}
					return usage(fmt.Errorf("read workflow file: %w", err))
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			if maxRecords < 0 {
				return usageErrorf("--max-records must be 1 or more (0: every record), got %d", maxRecords)
			}
			q := "?limit=" + strconv.Itoa(limit)
			if maxRecords > 0 {
				q += "&maxRecords=" + strconv.Itoa(maxRecords)
			}
			var p previewView
			if len(args) == 1 {
				_, err = c.send(cmd.Context(), http.MethodPost, flowsAPIPath+"/preview"+q, yamlContentType, src, &p)
				var pe *flowProblemsError
				if errors.As(err, &pe) {
					a.printAPIProblems(fileName(args[0]), pe)
					return &exitError{code: 1, err: fmt.Errorf("%s is invalid: nothing previewed", fileName(args[0]))}
				}
			} else {
				err = c.do(cmd.Context(), http.MethodGet, flowPath(name, "preview")+q, nil, &p)
			}
			if err != nil {
				return err
			}
			a.printPreview(p)
			return nil
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&name, "name", "", "preview the latest stored revision of this workflow instead of a file")
	fs.IntVar(&limit, "limit", 10, "show at most this many matching record ids, 1 to 100")
	fs.IntVar(&maxRecords, "max-records", 0, "look at the first N records only, by id (0: every record); "+
		"for a preview over its work budget, which names an N that fits")
	return cmd
}

// printPreview prints a preview: the counts, then the sample ids, on stdout; warnings on stderr.
func (a *app) printPreview(p previewView) {
	what := p.Name
	if p.Revision > 0 {
		what += fmt.Sprintf(" (revision %d)", p.Revision)
	}
	first := ""
	if p.Partial {
		first = "the first "
	}
	fmt.Fprintf(a.stdout, "%s: %d of %s%d live %s match now (%d suppressed, %d could not be evaluated)\n",
		what, p.Matched, first, p.Total, p.ObjectType, p.Suppressed, p.Errors)
	ids := make([]string, len(p.Sample))
	for i, r := range p.Sample {
		ids[i] = r.ID
	}
	if len(ids) > 0 {
		fmt.Fprintf(a.stdout, "sample ids: %s\n", strings.Join(ids, ", "))
	}
	if l := p.Limit; l != nil {
		whose := "its own"
		if l.Source == "tenant" {
			whose = "the tenant's default"
		}
		switch {
		case l.Unlimited || l.MaxDeletions == nil:
			fmt.Fprintf(a.stdout, "limit: none (%s): it would delete %d\n", whose, l.WouldDelete)
		case l.WouldPause:
			fmt.Fprintf(a.stdout, "limit: %d deletions per %s (%s): it would delete %d in its first window, then pause itself with the rest waiting\n",
				*l.MaxDeletions, l.Per, whose, l.WouldDelete)
		default:
			fmt.Fprintf(a.stdout, "limit: %d deletions per %s (%s): it would delete %d, within the limit\n", *l.MaxDeletions, l.Per, whose, l.WouldDelete)
		}
		if l.DeletedInWindow > 0 {
			fmt.Fprintf(a.stdout, "limit: the workflow already deleted %d in the last %s, which count: the limit is shared by all its activations\n",
				l.DeletedInWindow, l.Per)
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
}

// dash shows an empty table cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
