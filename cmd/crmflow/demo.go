package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/worker"
	"github.com/crmflow/crmflow/workflows"
)

// tourWorkflow is the workflow the demo applies: a byte-for-byte copy of
// examples/workflows/clean-bounced-contacts.yaml (a test keeps them equal; go:embed cannot reach
// outside this directory).
//
//go:embed demo/clean-bounced-contacts.yaml
var tourWorkflow []byte

// tourSteps is the number of steps of the demo, for the "[n/N]" of their titles.
const tourSteps = 12

// tourOptions are the flags of crmflow demo.
type tourOptions struct {
	redisURL string
	tenant   string
	contacts int
	verbose  bool
}

func newDemoCmd(a *app) *cobra.Command {
	var o tourOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A scripted tour of workflows and the recycle bin that prints each step; needs no setup",
		Long: `A scripted tour: it creates a tenant on the starter plan, seeds contacts (some with a hard-bounced
email), applies the example workflow clean-bounced-contacts, is refused its activation on the starter
plan, upgrades the tenant to professional, previews the workflow, activates it with enroll-existing,
runs the background work, shows the bounced contacts in the recycle bin marked as deleted by the
workflow, restores one, and purges the bin as of 91 days later. It prints what happens at each step
and exits 0, or exits 1 as soon as something is not as described.

Everything runs in this process: the HTTP API on a loopback port (the tour calls it as a client
would), and a worker that runs the background tasks the API and the tasks themselves enqueue, each
to completion, after each step. The store is an embedded in-process Redis whose state is lost on
exit, unless --redis names a real one: the tour then creates its tenant there (a new one each run,
unless --tenant), and keeps its task queue in process all the same, so that it never takes the
tasks of workers running on that Redis.`,
		Example: `  crmflow demo
  crmflow demo --redis redis://127.0.0.1:6379/0 --tenant tour-1`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.demo(cmd.Context(), o) },
	}
	fs := cmd.Flags()
	// Not bound to REDIS_URL: the tour writes a tenant, so a real store must be asked for by name.
	fs.StringVar(&o.redisURL, "redis", "", "run on this Redis instead of the embedded one: redis://[[USER]:PASSWORD@]HOST:PORT/DB")
	fs.StringVar(&o.tenant, "tenant", "", `the new tenant the tour creates (default "demo-tour", or "demo-tour-" and a random suffix with --redis)`)
	a.saltFlag(fs) // needed with --redis only; the embedded store draws its own
	fs.IntVar(&o.contacts, "contacts", 50, "how many contacts to seed, 20 to 100")
	fs.BoolVar(&o.verbose, "verbose", false, "also log the API's and the worker's info lines on stderr")
	return cmd
}

// tour is the state of a running demo.
type tour struct {
	a      *app
	store  *redisstore.Store
	tenant crm.TenantID
	user   string
	api    *apiClient
	tasks  *worker.Client
	w      *worker.Worker
	insp   *asynq.Inspector
	step   int
}

// demo runs the tour.
func (a *app) demo(ctx context.Context, o tourOptions) error {
	if o.contacts < 20 || o.contacts > 100 {
		return usageErrorf("--contacts must be from 20 to 100, got %d", o.contacts)
	}
	tenant := crm.TenantID(o.tenant)
	switch {
	case tenant == "" && o.redisURL == "":
		tenant = "demo-tour"
	case tenant == "":
		tenant = crm.TenantID("demo-tour-" + randomHex(3))
	}
	if err := tenant.Validate(); err != nil {
		return usage(fmt.Errorf("--tenant: %w", err))
	}
	logger := a.logger
	if !o.verbose {
		logger = slog.New(minLevel{Handler: a.logger.Handler(), min: slog.LevelWarn})
	}

	var (
		b   *backend
		err error
	)
	if o.redisURL == "" {
		b, err = a.openEmbedded()
	} else {
		a.cfg.RedisURL = o.redisURL
		b, err = a.openRedis(ctx, false)
	}
	if err != nil {
		return err
	}
	defer b.Close()

	// The task queue: the embedded store's Redis, or one of the tour's own next to a real store.
	queueAddr := b.addr
	if b.embedded == nil {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start the in-process task queue: %w", err)
		}
		defer mr.Close()
		queueAddr = mr.Addr()
	}
	qopt := asynq.RedisClientOpt{Addr: queueAddr}
	tasks := worker.NewClient(qopt)
	defer tasks.Close()
	w, err := worker.New(b.store, qopt, &worker.Config{Logger: logger, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return fmt.Errorf("build the worker: %w", err)
	}
	defer w.Close()
	insp := asynq.NewInspector(qopt)
	defer insp.Close()

	h, err := api.New(b.store, &api.Config{Logger: logger, Tasks: tasks})
	if err != nil {
		return fmt.Errorf("build the api: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on a loopback port: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	base, err := url.Parse(baseURL(ln.Addr()))
	if err != nil {
		return fmt.Errorf("api url: %w", err)
	}

	t := &tour{a: a, store: b.store, tenant: tenant, user: "ops@" + string(tenant) + ".example", tasks: tasks, w: w, insp: insp,
		api: &apiClient{base: base, http: &http.Client{Timeout: time.Minute}}}
	where := "an embedded in-process Redis (nothing is kept after exit)"
	if b.embedded == nil {
		where = fmt.Sprintf("Redis at %s db %d, with an in-process task queue", b.addr, b.db)
	}
	fmt.Fprintf(a.stdout, "crmflow demo: the API at %s and a worker, in this process, on %s\n", base, where)
	if err := t.run(ctx, o.contacts); err != nil {
		return fmt.Errorf("demo step %d: %w", t.step, err)
	}
	return nil
}

// title starts the next step and prints its title.
func (t *tour) title(format string, args ...any) {
	t.step++
	fmt.Fprintf(t.a.stdout, "\n[%d/%d] %s\n", t.step, tourSteps, fmt.Sprintf(format, args...))
}

// say prints a line of the current step.
func (t *tour) say(format string, args ...any) {
	fmt.Fprintf(t.a.stdout, "      %s\n", fmt.Sprintf(format, args...))
}

// tourContact is a contact the tour seeds.
type tourContact struct {
	email    string
	bounced  bool
	customer bool
}

// tourContacts returns n contacts: every fourth has a hard-bounced email, and every fifth of
// those is a customer, whom the workflow's suppression keeps.
func tourContacts(n int) []tourContact {
	out := make([]tourContact, n)
	for i := range out {
		k := i + 1
		out[i] = tourContact{email: fmt.Sprintf("contact%03d@example.com", k), bounced: k%4 == 0, customer: k%20 == 0}
	}
	return out
}

// run plays the steps in order; the first one that does not go as described stops the tour.
func (t *tour) run(ctx context.Context, n int) error {
	name, err := tourWorkflowName()
	if err != nil {
		return err
	}
	// 1. A tenant on Starter, a user and a token: the operator's part, done on the store as
	// `crmflow admin` does.
	t.title("Create tenant %s on the starter plan, with a user and an API token", t.tenant)
	if _, err := t.store.CreateTenant(ctx, t.tenant, crm.PlanStarter); err != nil {
		if errors.Is(err, crm.ErrTenantExists) {
			return usageErrorf("tenant %s exists already: the demo needs a new tenant; pass another --tenant", t.tenant)
		}
		return fmt.Errorf("create tenant %s: %w", t.tenant, err)
	}
	if _, err := t.store.CreateUser(ctx, t.tenant, t.user, slices.Clone(crm.AllPermissions), "crmflow-demo"); err != nil {
		return fmt.Errorf("create user %s: %w", t.user, err)
	}
	if t.api.token, err = t.store.CreateToken(ctx, t.tenant, t.user, &crm.TokenOpts{By: "crmflow-demo"}); err != nil {
		return fmt.Errorf("issue a token for %s: %w", t.user, err)
	}
	t.say("tenant %s (plan starter), user %s with every permission; every step below calls the API with its token", t.tenant, t.user)

	// 2. Contacts, through the API.
	contacts := tourContacts(n)
	t.title("Seed %d contacts through the API", n)
	inputs := make([]map[string]any, len(contacts))
	bounced, customers := 0, 0
	for i, c := range contacts {
		stage := "lead"
		if c.customer {
			stage = "customer"
		}
		inputs[i] = map[string]any{"properties": map[string]string{
			"email": c.email, "firstname": "Contact", "lastname": fmt.Sprintf("%03d", i+1),
			"lifecyclestage": stage, "email_bounced": fmt.Sprint(c.bounced),
		}}
		if c.bounced {
			bounced++
			if c.customer {
				customers++
			}
		}
	}
	var created struct {
		Results []struct {
			ID         string            `json:"id"`
			Properties map[string]string `json:"properties"`
		} `json:"results"`
	}
	if err := t.api.do(ctx, http.MethodPost, "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": inputs}, &created); err != nil {
		return err
	}
	if len(created.Results) != n {
		return fmt.Errorf("created %d contacts, want %d", len(created.Results), n)
	}
	emailOf := map[string]string{}
	for _, r := range created.Results {
		emailOf[r.ID] = r.Properties["email"]
	}
	want := bounced - customers
	t.say("%d contacts, %d of them with email_bounced=true, %d of which are customers", n, bounced, customers)

	// 3. Apply the example workflow.
	t.title("Apply the example workflow %s (examples/workflows/clean-bounced-contacts.yaml)", name)
	var fl flowView
	status, err := t.api.send(ctx, http.MethodPut, flowPath(name), yamlContentType, tourWorkflow, &fl)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("PUT %s answered %d, want 201 (a new revision)", flowPath(name), status)
	}
	t.say("trigger: email_bounced; suppressed: customers and evangelists; action: delete_contact (to the recycle bin)")
	t.say("created revision %d, state %s", fl.Revision, fl.State)

	// 4. Activation refused on Starter.
	t.title("Try to activate it on the starter plan")
	err = t.api.do(ctx, http.MethodPost, flowPath(name, "activate"), map[string]bool{"enrollExisting": true}, nil)
	var ae *apiError
	switch {
	case err == nil:
		return errors.New("the API activated a workflow of a starter tenant: it must refuse")
	case !errors.As(err, &ae) || ae.Category != "PLAN_NOT_ALLOWED":
		return fmt.Errorf("activation failed, but not with PLAN_NOT_ALLOWED: %w", err)
	}
	t.say("refused, %d %s: %s", ae.status, ae.Category, ae.Message)

	// 5. Upgrade: the operator's part again.
	t.title("Upgrade tenant %s to the professional plan", t.tenant)
	prev, err := t.store.SetPlan(ctx, t.tenant, crm.PlanProfessional)
	if err != nil {
		return fmt.Errorf("set the plan of %s: %w", t.tenant, err)
	}
	t.say("plan %s -> %s (crmflow admin tenant set-plan %s professional)", prev.Plan, crm.PlanProfessional, t.tenant)

	// 6. Preview.
	t.title("Preview what it would enroll now (nothing changes)")
	var p previewView
	if err := t.api.do(ctx, http.MethodGet, flowPath(name, "preview")+"?limit=100", nil, &p); err != nil {
		return err
	}
	t.say("%d of %d live contacts match now; %d more match but are suppressed (customers)", p.Matched, p.Total, p.Suppressed)
	if p.Matched != int64(want) || p.Suppressed != int64(customers) || p.Total != int64(n) {
		return fmt.Errorf("preview: %d matched, %d suppressed of %d; want %d, %d of %d", p.Matched, p.Suppressed, p.Total, want, customers, n)
	}
	matched := make([]string, len(p.Sample))
	for i, r := range p.Sample {
		matched[i] = r.ID
	}
	t.say("sample ids: %s", strings.Join(matched, ", "))

	// 7. Activate with enroll-existing.
	t.title("Activate it with enroll-existing")
	var act activationView
	if err := t.api.do(ctx, http.MethodPost, flowPath(name, "activate"), map[string]bool{"enrollExisting": true}, &act); err != nil {
		return err
	}
	if !act.Backfill.Queued {
		return fmt.Errorf("the enrollment of the existing contacts was not queued: %s", act.Backfill.Warning)
	}
	t.say("%s at revision %d; the enrollment of the %d matching contacts is queued for the worker", act.State, act.ActiveRevision, want)

	// 8. The background work.
	t.title("Run the background work")
	ran, err := t.drain(ctx)
	if err != nil {
		return err
	}
	t.say("the worker ran %s", describeRan(ran))
	var d flowDetailView
	if err := t.api.do(ctx, http.MethodGet, flowPath(name), nil, &d); err != nil {
		return err
	}
	if bf := d.BackfillProgress; bf == nil || bf.Status != "COMPLETE" || bf.Enrolled != int64(want) {
		return fmt.Errorf("the enroll-existing progress is %+v; want COMPLETE with %d enrolled", bf, want)
	}
	t.say("enroll-existing %s: %d of %d contacts looked at, %d enrolled (GET %s shows it; "+
		"crmflow workflows activate --wait follows it)", d.BackfillProgress.Status, d.BackfillProgress.Done,
		d.BackfillProgress.Total, d.BackfillProgress.Enrolled, flowPath(name))

	// 9. The bin.
	t.title("Look in the recycle bin")
	bin, err := t.archivedContacts(ctx)
	if err != nil {
		return err
	}
	var binned []string
	for _, r := range bin {
		if r.ArchivedVia != string(crm.ViaWorkflow) || r.ArchivedRef != name {
			return fmt.Errorf("contact %s is in the bin via %q (%q), not via workflow %s", r.ID, r.ArchivedVia, r.ArchivedRef, name)
		}
		t.say("contact %-4s %-26s deleted by %s", r.ID, r.Properties["email"], r.ArchivedActor)
		binned = append(binned, r.ID)
	}
	slices.Sort(matched)
	slices.Sort(binned)
	if !slices.Equal(binned, matched) {
		return fmt.Errorf("the bin holds contacts %v; the preview matched %v", binned, matched)
	}
	t.say("%d contacts in the bin: exactly the ones the preview matched, each deleted by workflow %s", len(binned), name)
	first := bin[0].ID
	var hist struct {
		Results []historyView `json:"results"`
	}
	if err := t.api.do(ctx, http.MethodGet, flowPath(name, "history")+"?recordId="+first, nil, &hist); err != nil {
		return err
	}
	for _, h := range hist.Results {
		t.say("history of contact %s: %s %s", first, h.Kind, strings.Join(slices.DeleteFunc([]string{h.Action, h.Outcome, h.Detail},
			func(s string) bool { return s == "" }), " "))
	}

	// 10. Restore one.
	t.title("Restore contact %s from the bin", first)
	var restored struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
		NumErrors int `json:"numErrors"`
	}
	if err := t.api.do(ctx, http.MethodPost, "/crm/v3/objects/contacts/batch/restore",
		map[string]any{"inputs": []map[string]string{{"id": first}}}, &restored); err != nil {
		return err
	}
	if len(restored.Results) != 1 || restored.Results[0].ID != first {
		return fmt.Errorf("restore of contact %s: %+v", first, restored)
	}
	if bin, err = t.archivedContacts(ctx); err != nil {
		return err
	}
	t.say("contact %s (%s) is live again, with its properties; %d contacts left in the bin", first, emailOf[first], len(bin))
	// The engine looks at the record changes (the restore's among them): the contact still matches
	// the trigger, but it was enrolled once and the workflow does not re-enroll.
	if err := t.tasks.EnqueueChangesDrain(ctx, t.tenant, time.Now()); err != nil {
		return fmt.Errorf("enqueue the drain of record changes: %w", err)
	}
	if ran, err = t.drain(ctx); err != nil {
		return err
	}
	var again struct {
		Results []historyView `json:"results"`
	}
	if err := t.api.do(ctx, http.MethodGet, flowPath(name, "history")+"?recordId="+first, nil, &again); err != nil {
		return err
	}
	var rec binView
	if err := t.api.do(ctx, http.MethodGet, "/crm/v3/objects/contacts/"+first, nil, &rec); err != nil {
		return fmt.Errorf("contact %s is not live after the worker looked at the record changes: %w", first, err)
	}
	if len(again.Results) != len(hist.Results) {
		return fmt.Errorf("contact %s has %d workflow events after the restore, %d before", first, len(again.Results), len(hist.Results))
	}
	t.say("the worker ran %s; contact %s still matches the trigger but stays live and out of the workflow: "+
		"it was enrolled once and the workflow does not re-enroll", describeRan(ran), first)

	// 11. A later update makes another contact match.
	other := created.Results[0].ID
	t.title("Mark contact %s's email as bounced: a later update that makes a contact match", other)
	if err := t.api.do(ctx, http.MethodPatch, "/crm/v3/objects/contacts/"+other,
		map[string]any{"properties": map[string]string{"email_bounced": "true"}}, nil); err != nil {
		return err
	}
	if err := t.tasks.EnqueueChangesDrain(ctx, t.tenant, time.Now()); err != nil {
		return fmt.Errorf("enqueue the drain of record changes: %w", err)
	}
	if ran, err = t.drain(ctx); err != nil {
		return err
	}
	if bin, err = t.archivedContacts(ctx); err != nil {
		return err
	}
	i := slices.IndexFunc(bin, func(r binView) bool { return r.ID == other })
	if i < 0 || bin[i].ArchivedRef != name {
		return fmt.Errorf("contact %s is not in the bin, deleted by workflow %s, after its update", other, name)
	}
	t.say("the worker ran %s: contact %s enrolled on the update and is in the bin, deleted by %s; %d contacts in the bin",
		describeRan(ran), other, bin[i].ArchivedActor, len(bin))

	// 12. Purge as of 91 days later.
	asOf := time.Now().UTC().Add(91 * 24 * time.Hour)
	t.title("Purge the bin as of 91 days from now (%s)", asOf.Format(time.DateOnly))
	counts, err := worker.Purge(ctx, t.store, t.tenant, asOf, nil)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	purged := counts[t.tenant][crm.Contacts]
	if bin, err = t.archivedContacts(ctx); err != nil {
		return err
	}
	if len(bin) != 0 {
		return fmt.Errorf("the bin still holds %d contacts after the purge", len(bin))
	}
	live, err := t.liveContacts(ctx)
	if err != nil {
		return err
	}
	t.say("%d contacts removed for good (deleted more than 90 days before); the bin is empty; %d contacts live", purged, live)
	fmt.Fprintf(t.a.stdout, "\ndemo complete\n")
	return nil
}

// tourWorkflowName is the name in the embedded workflow file.
func tourWorkflowName() (string, error) {
	wf, err := workflows.Parse("clean-bounced-contacts.yaml", tourWorkflow, nil, nil)
	if err != nil {
		return "", fmt.Errorf("the demo's workflow is invalid: %w", err)
	}
	return wf.Name, nil
}

// binView is a record read from the bin.
type binView struct {
	ID          string            `json:"id"`
	Properties  map[string]string `json:"properties"`
	ArchivedBy  string            `json:"archivedBy"`
	ArchivedVia string            `json:"archivedVia"`
	ArchivedRef string            `json:"archivedRef"`
	// ArchivedActor is "USER via workflow NAME (revision R)" for a workflow's delete.
	ArchivedActor string `json:"archivedActor"`
}

// archivedContacts reads the contacts of the bin through the API (at most 100, enough for the
// tour), by ascending id.
func (t *tour) archivedContacts(ctx context.Context) ([]binView, error) {
	var page struct {
		Results []binView `json:"results"`
	}
	if err := t.api.do(ctx, http.MethodGet, "/crm/v3/objects/contacts?archived=true&limit=100", nil, &page); err != nil {
		return nil, err
	}
	return page.Results, nil
}

// liveContacts counts the live contacts through the API (at most 100, enough for the tour).
func (t *tour) liveContacts(ctx context.Context) (int, error) {
	var page struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := t.api.do(ctx, http.MethodGet, "/crm/v3/objects/contacts?limit=100&properties=email", nil, &page); err != nil {
		return 0, err
	}
	return len(page.Results), nil
}

// maxDrainRounds bounds drain: each round runs every task queued, and the tasks of a round may
// enqueue the next round's (a backfill its steps, a step the next step).
const maxDrainRounds = 100

// drain runs every task waiting in the queue through the worker, one at a time, until the queue
// is empty, and counts them by type. Each task is taken off the queue (as a worker's dequeue
// does) and then run with the worker's own handler; the tasks it enqueues are run in a later
// round. A task that fails stops the tour: there is no retry here. Tasks scheduled for later (a
// delay) are left for later; the tour's workflow has none.
func (t *tour) drain(ctx context.Context) (map[string]int, error) {
	ran := map[string]int{}
	for range maxDrainRounds {
		queues, err := t.insp.Queues()
		if err != nil {
			return nil, fmt.Errorf("list the task queues: %w", err)
		}
		n := 0
		for _, q := range queues {
			pending, err := t.insp.ListPendingTasks(q, asynq.PageSize(100))
			if err != nil {
				return nil, fmt.Errorf("list the pending tasks of queue %s: %w", q, err)
			}
			for _, ti := range pending {
				if err := t.insp.DeleteTask(q, ti.ID); err != nil {
					if errors.Is(err, asynq.ErrTaskNotFound) {
						continue // taken by someone else meanwhile
					}
					return nil, fmt.Errorf("take task %s off queue %s: %w", ti.ID, q, err)
				}
				if err := t.w.ProcessTask(ctx, asynq.NewTask(ti.Type, ti.Payload)); err != nil {
					return nil, fmt.Errorf("task %s (%s): %w", ti.Type, ti.ID, err)
				}
				ran[ti.Type]++
				n++
			}
		}
		if n == 0 {
			return ran, nil
		}
	}
	return nil, fmt.Errorf("the task queue was not empty after %d rounds", maxDrainRounds)
}

// describeRan describes the tasks drain ran: "2 tasks: workflow:backfill x1, workflow:steps x1".
func describeRan(ran map[string]int) string {
	types := make([]string, 0, len(ran))
	total := 0
	for typ, n := range ran {
		types = append(types, fmt.Sprintf("%s x%d", typ, n))
		total += n
	}
	slices.Sort(types)
	return fmt.Sprintf("%s: %s", counted(total, "task"), strings.Join(types, ", "))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// minLevel is a slog.Handler that drops the records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
