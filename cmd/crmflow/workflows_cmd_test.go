package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// planRefusal is the API's message to a tenant whose plan cannot activate workflows (crm.PlanError).
const planRefusal = "the starter plan does not include workflow automation: upgrade to professional or enterprise " +
	"to activate workflows (you can still write, validate and preview them)"

// TestWorkflowCommands is the script an ops person runs: apply a workflow, preview it, be refused
// its activation on Starter, activate it on Professional with enroll-existing, see exactly the
// matching contacts in the bin, read a record's history, pause, enroll one record by hand. It runs
// the commands against `crmflow serve` and `crmflow worker` on a Redis of its own.
func TestWorkflowCommands(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "starter")
	b.admin(t, "user", "create", b.tenant, "ops@example.com", "--perms", "all")
	token, _ := b.admin(t, "token", "create", b.tenant, "ops@example.com")
	token = strings.TrimSpace(token)

	base := b.serveWithWorker(t)
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		stdout, stderr, code := crmflow(t, ctl, args...)
		require.Equal(t, wantCode, code, "crmflow %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		return stdout, stderr
	}

	// Three bounced leads match; a bounced customer is suppressed; two contacts do not bounce.
	var in []map[string]any
	for i, c := range []struct{ bounced, stage string }{
		{"true", "lead"}, {"false", "lead"}, {"true", "lead"}, {"true", "customer"}, {"false", "lead"}, {"true", "lead"},
	} {
		in = append(in, map[string]any{"properties": map[string]string{
			"email": fmt.Sprintf("c%d@example.com", i), "email_bounced": c.bounced, "lifecyclestage": c.stage}})
	}
	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts/batch/create", token, map[string]any{"inputs": in})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	ids := map[string]string{} // email -> id
	for _, r := range body["results"].([]any) {
		rec := r.(map[string]any)
		ids[rec["properties"].(map[string]any)["email"].(string)] = rec["id"].(string)
	}
	matching := []string{ids["c0@example.com"], ids["c2@example.com"], ids["c5@example.com"]}
	slices.Sort(matching)
	bin := func() map[string]map[string]any {
		t.Helper()
		code, body := call(t, http.MethodGet, base+"/crm/v3/objects/contacts?archived=true&limit=100", token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		out := map[string]map[string]any{}
		for _, r := range body["results"].([]any) {
			out[r.(map[string]any)["id"].(string)] = r.(map[string]any)
		}
		return out
	}

	example := filepath.Join("..", "..", "examples", "workflows", "clean-bounced-contacts.yaml")
	const name = "clean-bounced-contacts"

	// Apply: a new revision, then unchanged.
	stdout, _ := run(0, "apply", "-f", example)
	require.Equal(t, name+": created revision 1\n", stdout)
	stdout, _ = run(0, "apply", "-f", example)
	require.Equal(t, name+": unchanged (revision 1)\n", stdout)

	// A file with a local problem: printed at its position, and nothing is applied, not even the valid file.
	bad := writeFile(t, "companies.yaml", deleteCompaniesYAML)
	other := writeFile(t, "other.yaml", "name: tidy-leads\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\n"+
		"actions:\n  - type: delete_contact\n")
	stdout, stderr := run(1, "apply", "-f", other, "-f", bad)
	require.Equal(t, bad+":6:11: actions[0]: delete_contact exists only for contact workflows: this workflow's object_type is companies\n", stdout)
	require.Contains(t, stderr, "nothing applied")

	// A file only the API can find wrong (its suppression list does not exist): printed against the file.
	noList := writeFile(t, "nolist.yaml", "name: no-list\nobject_type: contacts\ntrigger: email_bounced\n"+
		"suppression:\n  lists: [\"999\"]\nactions:\n  - type: delete_contact\n")
	stdout, stderr = run(1, "apply", "-f", noList)
	require.Regexp(t, `^`+regexp.QuoteMeta(noList)+`:5:11: suppression.lists\[0\]: list 999 does not exist`, stdout)
	require.Contains(t, stderr, "nothing applied")

	stdout, stderr = run(0, "workflows", "list")
	require.Regexp(t, `(?m)^NAME\s+TYPE\s+STATE\s+REVISION\s+ACTIVE_REVISION\s+PAUSED_REASON$`, stdout)
	require.Regexp(t, `(?m)^clean-bounced-contacts\s+contacts\s+DRAFT\s+1\s+-\s*$`, stdout)
	require.NotContains(t, stdout, "tidy-leads")
	require.NotContains(t, stdout, "no-list")
	require.Equal(t, "1 workflow\n", stderr)

	// Preview a file and the stored workflow: nothing changes.
	wantPreview := fmt.Sprintf(": 3 of 6 live contacts match now (1 suppressed, 0 could not be evaluated)\nsample ids: %s\n"+
		"limit: 1000 deletions per 1h (the tenant's default): it would delete 3, within the limit\n",
		strings.Join(matching, ", "))
	stdout, _ = run(0, "preview", example)
	require.Equal(t, name+wantPreview, stdout)
	stdout, _ = run(0, "preview", "--name", name)
	require.Equal(t, name+" (revision 1)"+wantPreview, stdout)
	stdout, _ = run(0, "preview", "--name", name, "--limit", "1")
	require.Contains(t, stdout, "sample ids: "+matching[0]+"\n")
	// The first three contacts by id hold two of the matches (c0 and c2).
	stdout, _ = run(0, "preview", "--name", name, "--max-records", "3")
	require.Contains(t, stdout, ": 2 of the first 3 live contacts match now")
	stdout, _ = run(1, "preview", noList)
	require.Regexp(t, `^`+regexp.QuoteMeta(noList)+`:5:11: `, stdout)

	// Starter: the API's refusal, as it gave it; nothing changes.
	stdout, stderr = run(1, "workflows", "activate", name, "--enroll-existing")
	require.Empty(t, stdout)
	require.Contains(t, stderr, planRefusal)
	require.Contains(t, stderr, "403 PLAN_NOT_ALLOWED")
	stdout, _ = run(0, "workflows", "list")
	require.Regexp(t, `(?m)^clean-bounced-contacts\s+contacts\s+DRAFT\s+1\s+-\s*$`, stdout)
	require.Empty(t, bin())

	// Professional: active, and exactly the matching contacts land in the bin, deleted by the workflow.
	b.admin(t, "tenant", "set-plan", b.tenant, "professional")
	stdout, stderr = run(0, "workflows", "activate", name, "--enroll-existing", "--wait", "--progress", "lines", "--interval", "50ms")
	require.Equal(t, "workflow "+name+": ACTIVE at revision 1\n"+
		"workflow "+name+": enroll-existing COMPLETE: 6 of 6 contacts looked at, 3 enrolled\n", stdout)
	require.Regexp(t, `(?m)^6/6 COMPLETE \(workflow clean-bounced-contacts: 6 contacts looked at, 3 enrolled\)$`, stderr)
	// The enrolled contacts run their one step, delete_contact, right after.
	eventually(t, 30*time.Second, "the matching contacts in the bin", func() bool { return len(bin()) >= len(matching) })
	got := bin()
	require.ElementsMatch(t, matching, slices.Collect(maps.Keys(got)))
	for id, rec := range got {
		require.Equal(t, "workflow", rec["archivedVia"], "contact %s", id)
		require.Equal(t, name, rec["archivedRef"], "contact %s", id)
		require.Equal(t, "ops@example.com", rec["archivedBy"], "contact %s: deleted with the activator's authority", id)
		require.Equal(t, "ops@example.com via workflow "+name+" (revision 1)", rec["archivedActor"], "contact %s", id)
	}
	stdout, _ = run(0, "workflows", "list")
	require.Regexp(t, `(?m)^clean-bounced-contacts\s+contacts\s+ACTIVE\s+1\s+1\s*$`, stdout)

	stdout, stderr = run(0, "workflows", "history", name, "--record", matching[0])
	require.Regexp(t, `(?m)^AT\s+EVENT\s+REVISION\s+STEP\s+ACTION\s+OUTCOME\s+DETAIL$`, stdout)
	require.Regexp(t, `(?m)^\S+\s+enrolled\s+1\s`, stdout)
	require.Regexp(t, `(?m)^\S+\s+action\s+1\s+1\s+delete_contact\s+done\s+moved contact `+matching[0]+` to the recycle bin$`, stdout)
	require.Contains(t, stderr, "events of record "+matching[0])

	// The workflow's history as a whole: every matching contact's deletion, newest first, in pages.
	stdout, stderr = run(0, "workflows", "history", name, "--kind", "action")
	require.Regexp(t, `(?m)^AT\s+RECORD\s+EVENT\s+REVISION\s+STEP\s+ACTION\s+OUTCOME\s+DETAIL$`, stdout)
	for _, id := range matching {
		require.Regexp(t, `(?m)^\S+\s+contacts/`+id+`\s+action\s+1\s+1\s+delete_contact\s+done\s`, stdout)
	}
	require.Equal(t, len(matching)+1, strings.Count(stdout, "\n"), "one line per deletion:\n%s", stdout)
	require.Contains(t, stderr, fmt.Sprintf("%d events of workflow %s, newest first", len(matching), name))
	stdout, stderr = run(0, "workflows", "history", name, "--limit", "1", "--kind", "action")
	require.Contains(t, stderr, "1 event of workflow "+name+", newest first")
	require.Equal(t, 2, strings.Count(stdout, "\n"))
	m := regexp.MustCompile(`older events: crmflow (workflows history ` + name + ` --limit 1 --kind action --after \d+-\d+)`).FindStringSubmatch(stderr)
	require.NotNil(t, m, "the next page's command keeps the filters:\n%s", stderr)
	stdout, _ = run(0, strings.Fields(m[1])...)
	require.Equal(t, 2, strings.Count(stdout, "\n"), "the next page")
	require.Contains(t, stdout, " action ")

	// Paused: no manual enrollment either.
	stdout, _ = run(0, "workflows", "pause", name)
	require.Equal(t, "workflow "+name+": PAUSED\n", stdout)
	stdout, _ = run(0, "workflows", "list")
	require.Regexp(t, `(?m)^clean-bounced-contacts\s+contacts\s+PAUSED\s+1\s+1\s`, stdout)
	lead := ids["c1@example.com"]
	_, stderr = run(1, "workflows", "enroll", name, "--record", lead)
	require.Contains(t, stderr, "enrolls nobody")
	require.Contains(t, stderr, "409 CONFLICT")

	// Active again without enroll-existing; a person enrolls a lead by hand, and the workflow runs on it.
	_, stderr = run(0, "workflows", "activate", name, "--enroll-existing=false")
	require.Contains(t, stderr, "were not enrolled")
	stdout, _ = run(0, "workflows", "enroll", name, "--record", lead)
	require.Equal(t, "enrolled record "+lead+" in workflow "+name+"\n", stdout)
	eventually(t, 30*time.Second, "the enrolled lead in the bin", func() bool { _, ok := bin()[lead]; return ok })
	require.Len(t, bin(), len(matching)+1, "nobody else")
	_, stderr = run(1, "workflows", "enroll", name, "--record", lead)
	require.Contains(t, stderr, "404 OBJECT_NOT_FOUND", "a record in the bin cannot be enrolled")
}

func TestWorkflowCommandsUsageErrors(t *testing.T) {
	t.Parallel()
	example := filepath.Join("..", "..", "examples", "workflows", "clean-bounced-contacts.yaml")
	ctl := []string{"CRMFLOW_URL=http://" + freeAddr(t), "CRMFLOW_TOKEN=t"}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"ApplyWithoutFile", ctl, []string{"apply"}, exitUsage, "-f FILE is required"},
		{"ApplyPositional", ctl, []string{"apply", example}, exitUsage, "crmflow apply takes a file after -f: give -f " + example},
		{"ApplyUnreadable", ctl, []string{"apply", "-f", "no-such.yaml"}, exitUsage, "no-such.yaml"},
		{"ApplyTwice", ctl, []string{"apply", "-f", example, "-f", example}, exitUsage, "both define workflow clean-bounced-contacts"},
		{"ApplyWithoutToken", nil, []string{"apply", "-f", example}, exitUsage, "set CRMFLOW_TOKEN"},
		{"ApplyUnreachable", ctl, []string{"apply", "-f", example}, 1, "is crmflow serve running there?"},
		{"ListWithoutToken", nil, []string{"workflows", "list"}, exitUsage, "set CRMFLOW_TOKEN"},
		{"ActivateWithoutName", ctl, []string{"workflows", "activate"}, exitUsage, "needs NAME"},
		{"WaitWithoutEnrollExisting", ctl, []string{"workflows", "activate", "x", "--wait", "--enroll-existing=false"}, exitUsage,
			"--wait follows the enrollment"},
		{"WaitBadProgress", ctl, []string{"workflows", "activate", "x", "--wait", "--progress", "dots"}, exitUsage, "--progress"},
		{"HistoryEmptyRecord", ctl, []string{"workflows", "history", "x", "--record", " "}, exitUsage, "--record is empty"},
		{"HistoryRecordAndKind", ctl, []string{"workflows", "history", "x", "--record", "1", "--kind", "action"}, exitUsage, "leave them out with --record"},
		{"HistoryLimit", ctl, []string{"workflows", "history", "x", "--limit", "0"}, exitUsage, "--limit 0 is out of range"},
		{"EnrollWithoutRecord", ctl, []string{"workflows", "enroll", "x"}, exitUsage, "--record is required"},
		{"UnknownSubcommand", ctl, []string{"workflows", "delete", "x"}, exitUsage, "unknown command"},
		{"PreviewNothing", ctl, []string{"preview"}, exitUsage, "give a workflow FILE or --name NAME"},
		{"PreviewBoth", ctl, []string{"preview", example, "--name", "x"}, exitUsage, "not both"},
		{"PreviewLimit", ctl, []string{"preview", "--name", "x", "--limit", "0"}, exitUsage, "--limit must be from 1 to 100"},
		{"PreviewUnreadable", ctl, []string{"preview", "no-such.yaml"}, exitUsage, "no-such.yaml"},
		{"PreviewStoredName", ctl, []string{"preview", "clean-bounced-contacts"}, exitUsage,
			`to preview the stored workflow "clean-bounced-contacts", use --name clean-bounced-contacts`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, tc.env, tc.args...)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

// TestApplyValidatesAgainstTheLiveSchema checks that `crmflow apply`, holding only an API token,
// validates workflow files against the tenant's live schema (its custom properties, options and
// object types) before storing anything, and that --schema FILE validates offline instead. It runs
// the built binary against `crmflow serve` on a redis-server of its own.
func TestApplyValidatesAgainstTheLiveSchema(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	token := b.tenantWithToken(t, "ops@example.com")
	b.admin(t, "user", "create", b.tenant, "flows@example.com", "--perms", "workflows")
	flowsToken, _ := b.admin(t, "token", "create", b.tenant, "flows@example.com")

	addr := freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, api, base)
	t.Cleanup(func() { require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr) })

	code, body := call(t, http.MethodPost, base+"/crm/v3/properties/contacts", token, map[string]any{
		"name": "favourite_colour", "label": "Favourite colour", "type": "enumeration",
		"options": []any{map[string]any{"label": "Red", "value": "red"}, map[string]any{"label": "Blue", "value": "blue"}}})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	code, body = call(t, http.MethodPost, base+"/crm/v3/schemas", token, map[string]any{
		"name": "subscriptions", "labels": map[string]any{"singular": "Subscription", "plural": "Subscriptions"},
		"properties": []any{map[string]any{"name": "plan", "type": "enumeration", "options": []any{"basic", "pro"}}}})
	require.Equal(t, http.StatusCreated, code, "body: %v", body)

	run := func(wantCode int, tok string, args ...string) (string, string) {
		t.Helper()
		stdout, stderr, code := crmflow(t, []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + strings.TrimSpace(tok)}, args...)
		require.Equal(t, wantCode, code, "crmflow %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		return stdout, stderr
	}
	flow := func(name, objectType, trigger string) string {
		return writeFile(t, name+".yaml", "name: "+name+"\nobject_type: "+objectType+"\ntrigger: "+trigger+
			"\nactions:\n  - type: notify_user\n    to: ops@example.com\n    subject: Look\n    body: Look at {{id}}.\n")
	}
	reds := flow("red-contacts", "contacts", `favourite_colour == "red"`)
	pros := flow("pro-subscriptions", "subscriptions", `plan == "pro"`)
	stdout, _ := run(0, token, "apply", "-f", reds, "-f", pros)
	require.Equal(t, "red-contacts: created revision 1\npro-subscriptions: created revision 1\n", stdout)

	// Problems against the live schema are found before anything is stored: the valid file is not
	// applied either (the API alone would have stored it).
	wrongOption := flow("wrong-option", "contacts", `favourite_colour == "Red"`)
	wrongType := flow("wrong-type", "subscription", `plan == "pro"`)
	valid := flow("blue-contacts", "contacts", `favourite_colour != "blue"`)
	stdout, stderr := run(1, token, "apply", "-f", valid, "-f", wrongOption, "-f", wrongType)
	require.Equal(t, wrongOption+`:3:30: trigger: "Red" is not an option of favourite_colour: did you mean "red" (label "Red")?`+"\n"+
		wrongType+`:2:14: object_type: unknown object type "subscription": did you mean "subscriptions"?`+"\n", stdout)
	require.Contains(t, stderr, "2 of 3 files invalid: nothing applied")
	stdout, _ = run(0, token, "workflows", "list")
	require.NotContains(t, stdout, "blue-contacts")

	// --schema validates offline against that export instead: one without the custom property
	// refuses the file before the API is asked anything.
	standardOnly := writeFile(t, "schema.yaml", "crmflow_schema: 1\nobject_types: []\n")
	stdout, stderr = run(1, token, "apply", "--schema", standardOnly, "-f", valid)
	require.Contains(t, stdout, valid+":3:10: trigger: unknown name favourite_colour")
	require.Contains(t, stderr, "nothing applied")
	exported, _ := b.admin(t, "schema", "export", b.tenant)
	stdout, _ = run(0, token, "apply", "--schema", writeFile(t, "live.yaml", exported), "-f", valid)
	require.Equal(t, "blue-contacts: created revision 1\n", stdout)

	// A token that cannot read the schema is told so, and of --schema.
	_, stderr = run(1, flowsToken, "apply", "-f", reds)
	require.Contains(t, stderr, "read the tenant's properties of contacts through the API")
	require.Contains(t, stderr, "--schema FILE")
	require.Contains(t, stderr, "403")
	stdout, _ = run(0, flowsToken, "apply", "--schema", writeFile(t, "live2.yaml", exported), "-f", reds)
	require.Equal(t, "red-contacts: unchanged (revision 1)\n", stdout)

	// A stored workflow keeps its object type: a file that changes it is found before anything is
	// stored, so the new workflow beside it is not stored either.
	retyped := writeFile(t, "red-contacts.yaml", "name: red-contacts\nobject_type: subscriptions\ntrigger: plan == \"pro\"\n"+
		"actions:\n  - type: notify_user\n    to: ops@example.com\n    subject: Look\n    body: Look at {{id}}.\n")
	fresh := flow("fresh-contacts", "contacts", `favourite_colour == "blue"`)
	stdout, stderr = run(1, token, "apply", "-f", fresh, "-f", retyped)
	require.Equal(t, retyped+":2:14: object_type: workflow red-contacts is stored for contacts, and a workflow keeps its "+
		"object type: give this one another name, or set object_type: contacts\n", stdout)
	require.Contains(t, stderr, "1 of 2 files cannot be applied: nothing applied")
	stdout, _ = run(0, token, "workflows", "list")
	require.NotContains(t, stdout, "fresh-contacts")
}

// TestDocumentedStepTiming pins two sentences of docs/workflows.md, on `crmflow serve` and
// `crmflow worker` processes: a delay fires no earlier than its duration and within about 6 s after
// it (its due time is rounded up to the second, and the worker moves due tasks to its queue every
// 5 s); and a step that fails for good ends the record's enrollment there, so the later actions
// never run.
func TestDocumentedStepTiming(t *testing.T) {
	t.Parallel()
	b := setupBackground(t)
	token := b.tenantWithToken(t, "ops@example.com")
	addr, workerAdmin := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	api := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	wrk := start(t, nil, "worker", "--redis", b.redisURL, "--admin-addr", workerAdmin)
	waitReady(t, api, base)
	waitReady(t, wrk, "http://"+workerAdmin)
	t.Cleanup(func() {
		require.Equal(t, 0, wrk.stop(t), "stderr:\n%s", wrk.stderr)
		require.Equal(t, 0, api.stop(t), "stderr:\n%s", api.stderr)
	})
	ctl := []string{"CRMFLOW_URL=" + base, "CRMFLOW_TOKEN=" + token}
	const delay = 2 * time.Second
	delayFlow := writeFile(t, "delay.yaml", "name: delay-then-set\nobject_type: contacts\ntrigger: firstname == \"Delay\"\n"+
		"actions:\n  - type: delay\n    duration: 2s\n  - type: set_property\n    property: jobtitle\n    value: Waited\n")
	failFlow := writeFile(t, "fail.yaml", "name: fail-then-set\nobject_type: contacts\ntrigger: firstname == \"Fail\"\n"+
		"actions:\n  - type: notify_user\n    to: nobody@example.com\n    subject: Hi\n    body: Hi\n"+
		"  - type: set_property\n    property: jobtitle\n    value: Reached\n")
	for _, args := range [][]string{
		{"apply", "-f", delayFlow, "-f", failFlow},
		{"workflows", "activate", "delay-then-set"},
		{"workflows", "activate", "fail-then-set"},
	} {
		stdout, stderr, code := crmflow(t, ctl, args...)
		require.Equal(t, 0, code, "crmflow %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
	}
	create := func(firstname string) (string, time.Time) {
		code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts", token,
			map[string]any{"properties": map[string]any{"firstname": firstname}})
		require.Equal(t, http.StatusCreated, code, "body: %v", body)
		created, err := time.Parse(time.RFC3339Nano, body["createdAt"].(string))
		require.NoError(t, err)
		return body["id"].(string), created
	}
	type entry struct {
		at      time.Time
		kind    string
		step    int
		outcome string
		detail  string
	}
	history := func(flow, id string) []entry {
		code, body := call(t, http.MethodGet, base+"/automation/v4/flows/"+flow+"/history?recordId="+id, token, nil)
		require.Equal(t, http.StatusOK, code, "body: %v", body)
		var out []entry
		for _, r := range body["results"].([]any) {
			m := r.(map[string]any)
			at, err := time.Parse(time.RFC3339Nano, m["at"].(string))
			require.NoError(t, err)
			e := entry{at: at, kind: m["kind"].(string), step: -1}
			if s, ok := m["step"].(float64); ok {
				e.step = int(s)
			}
			e.outcome, _ = m["outcome"].(string)
			e.detail, _ = m["detail"].(string)
			out = append(out, e)
		}
		return out
	}
	step := func(es []entry, i int) (entry, bool) {
		for _, e := range es {
			if e.kind == "action" && e.step == i {
				return e, true
			}
		}
		return entry{}, false
	}
	failed, _ := create("Fail")
	delayed, created := create("Delay")

	eventually(t, 30*time.Second, "the delayed step", func() bool { _, ok := step(history("delay-then-set", delayed), 1); return ok })
	es := history("delay-then-set", delayed)
	waited, _ := step(es, 0)
	ran, _ := step(es, 1)
	require.Equal(t, "wait", waited.outcome)
	require.GreaterOrEqual(t, ran.at.Sub(created), delay, "never before its duration")
	// How late it may be (about 6 s: 1 s of rounding and asynq's 5 s check of scheduled tasks) is a
	// figure of the machine's load, not something a test can hold to: it is logged, and the 30 s wait
	// above bounds it.
	t.Logf("a %s delay fired after %s", delay, ran.at.Sub(waited.at))

	es = history("fail-then-set", failed)
	first, ok := step(es, 0)
	require.True(t, ok, "history: %v", es)
	require.Equal(t, "failed", first.outcome)
	require.Contains(t, first.detail, "is not a user of the tenant")
	_, ran2 := step(es, 1)
	require.False(t, ran2, "the action after a step that failed for good never runs: %v", es)
	code, body := call(t, http.MethodGet, base+"/crm/v3/objects/contacts/"+failed+"?properties=jobtitle", token, nil)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body["properties"].(map[string]any)["jobtitle"])
	code, body = call(t, http.MethodPost, base+"/automation/v4/flows/fail-then-set/enrollments", token, map[string]any{"recordId": failed})
	// The enrollment ended (it is no longer enrolled): without reenrollment it may not enroll again.
	require.Equal(t, http.StatusConflict, code, "body: %v", body)
	require.Contains(t, body["message"], "was enrolled before")
}

// TestHistoryRefusesAnUnknownKind: `workflows history --kind` with a kind that is not one of the
// history's refuses it as a usage error naming the kinds there are, before any request.
func TestHistoryRefusesAnUnknownKind(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	ctl := []string{"CRMFLOW_URL=" + srv.URL, "CRMFLOW_TOKEN=t"}
	kinds := "enrolled, suppressed, trigger_error, reenroll_refused, action, completed, moved, unenrolled"
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"Unknown", []string{"--kind", "deleted"}, `--kind "deleted" is not a kind of history event: use one or more of ` + kinds},
		{"UnknownAfterAKnown", []string{"--kind", "action, enroled"}, `--kind "enroled" is not a kind of history event`},
		{"Repeated", []string{"--kind", "action", "--kind", "Action"}, `--kind "Action" is not a kind of history event`},
		{"Empty", []string{"--kind", "action,,completed"}, "--kind has an empty kind: give one or more of " + kinds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := crmflow(t, ctl, append([]string{"workflows", "history", "x"}, tc.args...)...)
			require.Equal(t, exitUsage, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}
	t.Cleanup(func() { require.Zero(t, requests.Load(), "no request for a command refused locally") })
}
