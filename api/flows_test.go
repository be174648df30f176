package api_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// yamlBody is a request body sent as application/yaml (see testBundle.raw).
type yamlBody string

type flow struct {
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	State          string `json:"state"`
	Revision       int64  `json:"revision"`
	ActiveRevision int64  `json:"activeRevision"`
	PausedReason   string `json:"pausedReason"`
	// PausedReasonCode and PausedReasonParams are pointers, so that a missing field fails.
	PausedReasonCode   *string            `json:"pausedReasonCode"`
	PausedReasonParams *map[string]string `json:"pausedReasonParams"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	ActivatedAt        *string            `json:"activatedAt"`
	Source             string             `json:"source"`
	Revisions          []struct {
		Revision  int64  `json:"revision"`
		CreatedAt string `json:"createdAt"`
		By        string `json:"by"`
		Erased    bool   `json:"erased"`
	} `json:"revisions"`
	Backfill *struct {
		Requested bool   `json:"requested"`
		Queued    bool   `json:"queued"`
		Warning   string `json:"warning"`
	} `json:"backfill"`
	Resume *struct {
		Queued  bool   `json:"queued"`
		Warning string `json:"warning"`
	} `json:"resume"`
	BackfillProgress *struct {
		Revision int64  `json:"revision"`
		Status   string `json:"status"`
		Total    int64  `json:"total"`
		Done     int64  `json:"done"`
		Enrolled int64  `json:"enrolled"`
	} `json:"backfillProgress"`
}

type flowRevision struct {
	Revision  int64  `json:"revision"`
	Source    string `json:"source"`
	By        string `json:"by"`
	CreatedAt string `json:"createdAt"`
}

type preview struct {
	Name       string            `json:"name"`
	ObjectType string            `json:"objectType"`
	Revision   int64             `json:"revision"`
	At         string            `json:"at"`
	Total      int64             `json:"total"`
	Matched    int64             `json:"matched"`
	Suppressed int64             `json:"suppressed"`
	Errors     int64             `json:"errors"`
	Sample     []record          `json:"sample"`
	Warnings   []string          `json:"warnings"`
	Limit      *api.PreviewLimit `json:"limit"`
}

type historyEntry struct {
	At       string `json:"at"`
	Kind     string `json:"kind"`
	Revision int64  `json:"revision"`
	Step     *int   `json:"step"`
	Action   string `json:"action"`
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
}

type results[T any] struct {
	Results []T `json:"results"`
}

// bouncedFlow is a contact workflow named name: hard-bounced contacts go to the bin.
func bouncedFlow(name string) string {
	return "name: " + name + `
object_type: contacts
trigger: email_bounced
actions:
  - type: delete_contact
`
}

// planTenant creates a fresh tenant on plan with a user of every permission, ops@x.example, and
// returns the tenant and an Authorization header of that user.
func (b *testBundle) planTenant(t *testing.T, plan crm.Plan) (crm.TenantID, string) {
	t.Helper()
	tn := crm.TenantID(redistest.Tenant(t))
	_, err := b.store.CreateTenant(b.ctx, tn, plan)
	require.NoError(t, err)
	return tn, "Bearer " + b.user(t, tn, "ops@x.example", "all")
}

// sendYAML sends src with Content-Type ctype as the holder of auth (a full Authorization header).
func (b *testBundle) sendYAML(t *testing.T, method, path, auth, ctype, src string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.url+path, strings.NewReader(src))
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := b.client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// put stores src as workflow name through the API, as the holder of auth.
func (b *testBundle) put(t *testing.T, auth, name, src string) response {
	t.Helper()
	return b.raw(t, "PUT", "/automation/v4/flows/"+name, auth, yamlBody(src))
}

// problem is one expected problem of a workflow file.
type problem struct {
	line, column int
	path         string
	msg          string
}

// expectProblems checks that r is the 400 of a workflow file with exactly the problems want, in
// order, each an error detail with its position and the message listing all of them.
func expectProblems(t *testing.T, r response, want ...problem) {
	t.Helper()
	e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
	require.Len(t, e.Errors, len(want), "body: %s", r.body)
	lines := strings.Split(e.Message, "\n")
	require.Len(t, lines, len(want), "message: %s", e.Message)
	for i, w := range want {
		d := e.Errors[i]
		require.Equal(t, "INVALID_WORKFLOW", d.Code)
		require.Equal(t, []string{fmt.Sprint(w.line)}, d.Context["line"], "problem %d: %s", i, d.Message)
		require.Equal(t, []string{fmt.Sprint(w.column)}, d.Context["column"], "problem %d: %s", i, d.Message)
		require.Equal(t, []string{w.path}, d.Context["path"], "problem %d: %s", i, d.Message)
		prefix := fmt.Sprintf("flow.yaml:%d:%d: ", w.line, w.column)
		if w.path != "" {
			prefix += w.path + ": "
		}
		require.True(t, strings.HasPrefix(d.Message, prefix), "problem %d: %q does not start with %q", i, d.Message, prefix)
		require.Contains(t, d.Message, w.msg)
		require.Equal(t, d.Message, lines[i])
	}
}

func TestPutFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("RevisionsAndUnchangedSource", func(t *testing.T) {
		t.Parallel()
		tn, all := b.planTenant(t, crm.PlanProfessional)
		writer := "Bearer " + b.user(t, tn, "wf@x.example", "workflows")
		reader := "Bearer " + b.user(t, tn, "read@x.example", "read")
		src := bouncedFlow("bounced")
		r := b.put(t, all, "bounced", src)
		f := expect[flow](t, r, http.StatusCreated)
		require.Equal(t, "/automation/v4/flows/bounced", r.header.Get("Location"))
		require.Equal(t, "bounced", f.Name)
		require.Equal(t, "contacts", f.ObjectType)
		require.Equal(t, "DRAFT", f.State)
		require.Equal(t, int64(1), f.Revision)
		require.Equal(t, int64(0), f.ActiveRevision)
		require.Nil(t, f.ActivatedAt)
		require.Equal(t, "2026-03-01T12:00:00.000Z", f.CreatedAt)

		// The same source again stores nothing: 200, the same revision, not a key changed.
		before := b.dump(t, tn)
		f = expect[flow](t, b.put(t, all, "bounced", src), http.StatusOK)
		require.Equal(t, int64(1), f.Revision)
		require.Equal(t, before, b.dump(t, tn))

		// Any change of the source, a comment included, is a new revision.
		v2 := "# v2: a comment\n" + src
		f = expect[flow](t, b.put(t, writer, "bounced", v2), http.StatusCreated)
		require.Equal(t, int64(2), f.Revision)
		require.Equal(t, "DRAFT", f.State)

		got := expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/bounced", reader, nil), http.StatusOK)
		require.Equal(t, v2, got.Source)
		require.Len(t, got.Revisions, 2)
		require.Equal(t, int64(1), got.Revisions[0].Revision)
		require.Equal(t, "ops@x.example", got.Revisions[0].By)
		require.Equal(t, int64(2), got.Revisions[1].Revision)
		require.Equal(t, "wf@x.example", got.Revisions[1].By)
		require.Equal(t, "2026-03-01T12:00:00.000Z", got.Revisions[1].CreatedAt)

		rev := expect[flowRevision](t, b.raw(t, "GET", "/automation/v4/flows/bounced/revisions/1", reader, nil), http.StatusOK)
		require.Equal(t, flowRevision{Revision: 1, Source: src, By: "ops@x.example", CreatedAt: "2026-03-01T12:00:00.000Z"}, rev)
		for _, bad := range []string{"3", "0", "-1", "x"} {
			expectError(t, b.raw(t, "GET", "/automation/v4/flows/bounced/revisions/"+bad, reader, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		}

		list := expect[results[flow]](t, b.raw(t, "GET", "/automation/v4/flows", reader, nil), http.StatusOK)
		require.Len(t, list.Results, 1)
		require.Equal(t, "bounced", list.Results[0].Name)
		require.Equal(t, "DRAFT", list.Results[0].State)
		require.Equal(t, int64(2), list.Results[0].Revision)
		require.Empty(t, list.Results[0].Source) // the list is light: no sources
	})

	t.Run("ContentTypes", func(t *testing.T) {
		t.Parallel()
		tn, all := b.planTenant(t, crm.PlanProfessional)
		for i, ct := range []string{"application/yaml", "text/yaml", "application/x-yaml", "application/yaml; charset=utf-8", "Text/YAML"} {
			name := fmt.Sprintf("ctype-%d", i)
			expect[flow](t, b.sendYAML(t, "PUT", "/automation/v4/flows/"+name, all, ct, bouncedFlow(name)), http.StatusCreated)
		}
		before := b.dump(t, tn)
		for _, ct := range []string{"", "application/json", "text/plain", "application/x-www-form-urlencoded", "yaml"} {
			e := expectError(t, b.sendYAML(t, "PUT", "/automation/v4/flows/ctype-bad", all, ct, bouncedFlow("ctype-bad")),
				http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
			require.Contains(t, e.Message, "application/yaml")
			require.Equal(t, []string{"Content-Type"}, e.in())
		}
		require.Equal(t, before, b.dump(t, tn))
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		tn, all := b.planTenant(t, crm.PlanProfessional)
		companies, err := b.store.CreateList(b.ctx, tn, "Partners", crm.Companies)
		require.NoError(t, err)

		for _, tc := range []struct {
			name string
			path string // the {name} of the URL
			src  string
			want []problem
		}{
			{"TypeErrorInTrigger", "typed", "name: typed\nobject_type: contacts\ntrigger: email_bounced && lifecyclestage == 3\nactions:\n  - type: delete_contact\n",
				[]problem{{3, 42, "trigger", "mismatched types string and int"}}},
			// The same type error in a block scalar: reported at its line and column in the file.
			{"TypeErrorInBlockTrigger", "typed-block", "name: typed-block\nobject_type: contacts\ntrigger: |\n  email_bounced &&\n    lifecyclestage == 3\nactions:\n  - type: delete_contact\n",
				[]problem{{5, 20, "trigger", "mismatched types string and int"}}},
			{"DeleteContactInCompanies", "companies", "name: companies\nobject_type: companies\ntrigger: name == \"Acme\"\nactions:\n  - type: delete_contact\n",
				[]problem{{5, 11, "actions[0]", "delete_contact exists only for contact workflows"}}},
			{"UnknownProperty", "shoes", "name: shoes\nobject_type: contacts\ntrigger: shoe_size > 3\nactions:\n  - type: delete_contact\n",
				[]problem{{3, 10, "trigger", "unknown name shoe_size"}}},
			{"NameDiffersFromURL", "other", bouncedFlow("bounced"),
				[]problem{{1, 7, "name", `the URL names workflow "other"`}}},
			{"UnknownSuppressionList", "lists", "name: lists\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists: [999999]\nactions:\n  - type: delete_contact\n",
				[]problem{{5, 11, "suppression.lists[0]", "list 999999 does not exist"}}},
			{"SuppressionListOfAnotherType", "lists2", "name: lists2\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  lists:\n    - " + string(companies.ID) + "\nactions:\n  - type: delete_contact\n",
				[]problem{{6, 7, "suppression.lists[0]", "holds companies, not contacts"}}},
			{"SeveralProblems", "several", "name: several\nobject_type: contacts\ntrigger: lifecyclestage == 3\nunknown_field: 1\nactions:\n  - type: delete_everything\n",
				[]problem{{3, 25, "trigger", "mismatched types"}, {4, 1, "unknown_field", ""}, {6, 11, "actions[0].type", "unknown action type \"delete_everything\""}}},
			{"Empty", "empty", "", []problem{{1, 1, "", "empty"}}},
			{"NotYAML", "broken", "name: [unclosed\n", []problem{{1, 7, "", ""}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				before := b.dump(t, tn)
				r := b.put(t, all, tc.path, tc.src)
				if tc.name == "NotYAML" { // the position of a syntax error is yaml's: only check its shape
					e := expectError(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
					require.Equal(t, "INVALID_WORKFLOW", e.Errors[0].Code)
					require.True(t, strings.HasPrefix(e.Message, "flow.yaml:"), e.Message)
				} else {
					expectProblems(t, r, tc.want...)
				}
				require.Equal(t, before, b.dump(t, tn))
				expectError(t, b.raw(t, "GET", "/automation/v4/flows/"+tc.path, all, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
			})
		}
	})

	t.Run("LiveSchema", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		src := "name: shoes\nobject_type: contacts\ntrigger: shoe_size > 44\nactions:\n  - type: delete_contact\n"
		expectProblems(t, b.put(t, auth, "shoes", src), problem{3, 10, "trigger", "unknown name shoe_size"})
		// Another tenant's property does not count.
		other, _ := b.freshTenant(t)
		_, err := b.store.CreateProperty(b.ctx, other, crm.Contacts, crm.Property{Name: "shoe_size", Label: "Shoe size", Type: crm.TypeNumber}, "ops@x.example")
		require.NoError(t, err)
		expectProblems(t, b.put(t, auth, "shoes", src), problem{3, 10, "trigger", "unknown name shoe_size"})
		// Its own does, typed: a number compared to text is a type error.
		_, err = b.store.CreateProperty(b.ctx, tn, crm.Contacts, crm.Property{Name: "shoe_size", Label: "Shoe size", Type: crm.TypeNumber}, "ops@x.example")
		require.NoError(t, err)
		expect[flow](t, b.put(t, auth, "shoes", src), http.StatusCreated)
		expectProblems(t, b.put(t, auth, "shoes", strings.Replace(src, "44", `"44"`, 1)),
			problem{3, 20, "trigger", "mismatched types float64 and string"})
		// A custom object type of the tenant.
		_, err = b.store.CreateObjectType(b.ctx, tn, crm.ObjectTypeDef{Name: "pets", Label: "Pets",
			Properties: []crm.Property{{Name: "pet_name", Label: "Name", Type: crm.TypeString}}}, "ops@x.example")
		require.NoError(t, err)
		pets := "name: pets\nobject_type: pets\ntrigger: pet_name == \"Rex\"\nactions:\n  - type: set_property\n    property: pet_name\n    value: Max\n"
		expect[flow](t, b.put(t, auth, "pets", pets), http.StatusCreated)
		expectProblems(t, b.put(t, "Bearer "+b.tokens[tokAll], "pets", pets), problem{2, 14, "object_type", `unknown object type "pets"`})
	})

	t.Run("ObjectTypeIsKept", func(t *testing.T) {
		t.Parallel()
		tn, all := b.planTenant(t, crm.PlanProfessional)
		expect[flow](t, b.put(t, all, "kept", bouncedFlow("kept")), http.StatusCreated)
		before := b.dump(t, tn)
		src := "name: kept\nobject_type: companies\ntrigger: name == \"Acme\"\nactions:\n  - type: set_property\n    property: name\n    value: ACME\n"
		e := expectError(t, b.put(t, all, "kept", src), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "contacts")
		require.Equal(t, before, b.dump(t, tn))
	})

	t.Run("BadRequests", func(t *testing.T) {
		t.Parallel()
		tn, all := b.planTenant(t, crm.PlanProfessional)
		before := b.dump(t, tn)
		e := expectError(t, b.put(t, all, "Bad_Name", bouncedFlow("bad")), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"name"}, e.in())
		huge := bouncedFlow("huge") + "description: " + strings.Repeat("x", 1<<20) + "\n"
		expectError(t, b.put(t, all, "huge", huge), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
		for _, path := range []string{"/automation/v4/flows/nope", "/automation/v4/flows/Not_A_Name"} {
			expectError(t, b.raw(t, "GET", path, all, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		}
		require.Equal(t, before, b.dump(t, tn))
	})
}

func TestActivateFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := "Bearer " + b.tokens[tokAll]
	now := "2026-03-01T12:00:00.000Z"

	for name, plan := range map[string]crm.Plan{"RefusedOnFree": crm.PlanFree, "RefusedOnStarter": crm.PlanStarter} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tn, auth := b.planTenant(t, plan)
			// Free and Starter tenants may write, validate and preview workflows (SPEC S18).
			expect[flow](t, b.put(t, auth, "bounced", bouncedFlow("bounced")), http.StatusCreated)
			expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/bounced/preview", auth, nil), http.StatusOK)
			expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(bouncedFlow("x"))), http.StatusOK)

			before, snap := b.dump(t, tn), b.snapshot(t, tn)
			for _, body := range []any{nil, map[string]any{"enrollExisting": true}, map[string]any{"enrollExisting": false}} {
				e := expectError(t, b.raw(t, "POST", "/automation/v4/flows/bounced/activate", auth, body), http.StatusForbidden, "PLAN_NOT_ALLOWED")
				require.Contains(t, e.Message, "the "+string(plan)+" plan does not include workflow")
				require.Contains(t, e.Message, "upgrade to professional or enterprise")
				require.Equal(t, []string{string(plan)}, e.Context["plan"])
				require.Equal(t, []string{"professional", "enterprise"}, e.Context["requiredPlans"])
				require.Equal(t, []string{"plan"}, e.in())
			}
			require.Equal(t, before, b.dump(t, tn))
			require.Equal(t, snap, b.snapshot(t, tn))
			require.Empty(t, b.tasks.backfillsOf(tn))
			f := expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/bounced", auth, nil), http.StatusOK)
			require.Equal(t, "DRAFT", f.State)
		})
	}

	t.Run("ProfessionalWithEnrollExisting", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		expect[flow](t, b.put(t, auth, "bounced", bouncedFlow("bounced")), http.StatusCreated)
		f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/bounced/activate", auth, map[string]any{"enrollExisting": true}), http.StatusOK)
		require.Equal(t, "ACTIVE", f.State)
		require.Equal(t, int64(1), f.ActiveRevision)
		require.Equal(t, now, *f.ActivatedAt)
		require.NotNil(t, f.Backfill)
		require.True(t, f.Backfill.Requested)
		require.True(t, f.Backfill.Queued)
		require.Empty(t, f.Backfill.Warning)
		require.Equal(t, []enqueuedBackfill{{tenant: tn, flow: "bounced", revision: 1}}, b.tasks.backfillsOf(tn))
		// The worker keeps the backfill's progress in the store; the workflow's detail shows it.
		f = expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/bounced", auth, nil), http.StatusOK)
		require.Nil(t, f.BackfillProgress)
		require.NoError(t, b.store.SetBackfill(b.ctx, tn, "bounced", crm.Backfill{Revision: 1, State: "running", Total: 40, Done: 20, Enrolled: 3}))
		f = expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/bounced", auth, nil), http.StatusOK)
		require.NotNil(t, f.BackfillProgress)
		require.Equal(t, "RUNNING", f.BackfillProgress.Status)
		require.Equal(t, []int64{1, 40, 20, 3}, []int64{f.BackfillProgress.Revision, f.BackfillProgress.Total, f.BackfillProgress.Done, f.BackfillProgress.Enrolled})

		// A new revision of an active workflow is stored, not activated, until activated.
		f = expect[flow](t, b.put(t, auth, "bounced", "# v2\n"+bouncedFlow("bounced")), http.StatusCreated)
		require.Equal(t, "ACTIVE", f.State)
		require.Equal(t, int64(2), f.Revision)
		require.Equal(t, int64(1), f.ActiveRevision)
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/bounced/activate", auth, nil), http.StatusOK)
		require.Equal(t, int64(2), f.ActiveRevision)
		require.False(t, f.Backfill.Requested) // the file does not ask for it, nor the request
		require.Len(t, b.tasks.backfillsOf(tn), 1)
	})

	t.Run("ResumeQueuesTheWaitingRecords", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanEnterprise)
		expect[flow](t, b.put(t, auth, "resumed", bouncedFlow("resumed")), http.StatusCreated)
		// Activated from a draft or while active, nothing waited: no resume.
		f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/activate", auth, nil), http.StatusOK)
		require.Nil(t, f.Resume)
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/activate", auth, nil), http.StatusOK)
		require.Nil(t, f.Resume)
		require.Empty(t, b.tasks.resumesOf(tn))

		// Paused (by a user, or at its limit by a worker) and activated again: the records that
		// waited are handed to a worker at once, for this activation.
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/pause", auth, nil), http.StatusOK)
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/activate", auth, nil), http.StatusOK)
		require.Equal(t, "ACTIVE", f.State)
		require.NotNil(t, f.Resume)
		require.True(t, f.Resume.Queued)
		require.Empty(t, f.Resume.Warning)
		stored, err := b.store.Flow(b.ctx, tn, "resumed")
		require.NoError(t, err)
		require.Equal(t, []enqueuedResume{{tenant: tn, flow: "resumed", activatedAt: stored.ActivatedAt}}, b.tasks.resumesOf(tn))
		require.Equal(t, crm.FormatDatetime(stored.ActivatedAt), *f.ActivatedAt)
	})

	t.Run("TasksNotQueued", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name  string
			tasks api.Tasks
			want  string
		}{
			{"EnqueueFails", &fakeTasks{err: errors.New("redis: connection refused")}, "the task queue failed"},
			{"NoTaskQueue", nil, "no task queue configured"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				b.serve(t, &api.Config{Clock: b.clock, Logger: slog.New(slog.NewJSONHandler(b.logs, nil)), Tasks: tc.tasks})
				all := "Bearer " + b.tokens[tokAll]

				// Enroll-existing: the activation stands; the answer says the backfill was not
				// queued and what to do.
				expect[flow](t, b.put(t, all, "filled", bouncedFlow("filled")), http.StatusCreated)
				f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/filled/activate", all, map[string]any{"enrollExisting": true}), http.StatusOK)
				require.Equal(t, "ACTIVE", f.State)
				require.True(t, f.Backfill.Requested)
				require.False(t, f.Backfill.Queued)
				require.Contains(t, f.Backfill.Warning, "backfill not queued")
				require.Contains(t, f.Backfill.Warning, tc.want)
				require.Contains(t, f.Backfill.Warning, `retry POST /automation/v4/flows/filled/activate with {"enrollExisting": true}`)
				require.Contains(t, b.logs.String(), `"workflow_id":"filled"`)
				got := expect[flow](t, b.call(t, "GET", "/automation/v4/flows/filled", tokRead, nil), http.StatusOK)
				require.Equal(t, "ACTIVE", got.State)

				// Resumed after a pause: the activation stands; the answer says the sweep runs the
				// waiting records later.
				expect[flow](t, b.put(t, all, "resumed", bouncedFlow("resumed")), http.StatusCreated)
				expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/activate", all, nil), http.StatusOK)
				expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/pause", all, nil), http.StatusOK)
				f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/resumed/activate", all, nil), http.StatusOK)
				require.Equal(t, "ACTIVE", f.State)
				require.NotNil(t, f.Resume)
				require.False(t, f.Resume.Queued)
				require.Contains(t, f.Resume.Warning, "waiting records not queued at once")
				require.Contains(t, f.Resume.Warning, tc.want)
				require.Contains(t, f.Resume.Warning, "workflow sweep runs the steps of the records that waited")
				require.Contains(t, b.logs.String(), `"workflow_id":"resumed"`)
			})
		}
	})

	t.Run("EnrollExistingDefaultsToTheFile", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanEnterprise)
		src := strings.Replace(bouncedFlow("from-file"), "actions:", "enroll_existing: true\nactions:", 1)
		expect[flow](t, b.put(t, auth, "from-file", src), http.StatusCreated)
		f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/from-file/activate", auth, nil), http.StatusOK)
		require.True(t, f.Backfill.Requested)
		require.True(t, f.Backfill.Queued)
		require.Len(t, b.tasks.backfillsOf(tn), 1)
		// An explicit false wins over the file.
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/from-file/activate", auth, map[string]any{"enrollExisting": false}), http.StatusOK)
		require.False(t, f.Backfill.Requested)
		require.False(t, f.Backfill.Queued)
		require.Len(t, b.tasks.backfillsOf(tn), 1)
		// An empty body is no body.
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/from-file/activate", auth, " \n"), http.StatusOK)
		require.True(t, f.Backfill.Requested)
		require.Len(t, b.tasks.backfillsOf(tn), 2)
	})

	t.Run("LowerPlanPausesNeverDeletes", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		for _, name := range []string{"one", "two"} {
			expect[flow](t, b.put(t, auth, name, bouncedFlow(name)), http.StatusCreated)
		}
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/one/activate", auth, nil), http.StatusOK)
		_, err := b.store.SetPlan(b.ctx, tn, crm.PlanStarter)
		require.NoError(t, err)
		list := expect[results[flow]](t, b.raw(t, "GET", "/automation/v4/flows", auth, nil), http.StatusOK)
		require.Len(t, list.Results, 2)
		require.Equal(t, "PAUSED", list.Results[0].State)
		require.Contains(t, list.Results[0].PausedReason, "starter")
		require.NotNil(t, list.Results[0].PausedReasonCode, "pausedReasonCode is answered")
		require.NotNil(t, list.Results[0].PausedReasonParams, "pausedReasonParams is answered")
		require.Equal(t, "PLAN_DOWNGRADED", *list.Results[0].PausedReasonCode)
		require.Equal(t, map[string]string{"plan": "starter"}, *list.Results[0].PausedReasonParams)
		require.Equal(t, int64(1), list.Results[0].ActiveRevision)
		require.Equal(t, "DRAFT", list.Results[1].State)
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/one/activate", auth, nil), http.StatusForbidden, "PLAN_NOT_ALLOWED")
		// Upgrading again does not resume it on its own; activating does.
		_, err = b.store.SetPlan(b.ctx, tn, crm.PlanProfessional)
		require.NoError(t, err)
		f := expect[flow](t, b.raw(t, "GET", "/automation/v4/flows/one", auth, nil), http.StatusOK)
		require.Equal(t, "PAUSED", f.State)
		require.Equal(t, "PLAN_DOWNGRADED", *f.PausedReasonCode)
		require.Equal(t, map[string]string{"plan": "starter"}, *f.PausedReasonParams)
		f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/one/activate", auth, nil), http.StatusOK)
		require.Equal(t, "ACTIVE", f.State)
		require.Empty(t, f.PausedReason)
		require.Empty(t, *f.PausedReasonCode)
		require.Empty(t, *f.PausedReasonParams)
	})

	t.Run("Pause", func(t *testing.T) {
		t.Parallel()
		_, auth := b.planTenant(t, crm.PlanProfessional)
		expect[flow](t, b.put(t, auth, "p", bouncedFlow("p")), http.StatusCreated)
		// Pausing a draft changes nothing.
		f := expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/p/pause", auth, nil), http.StatusOK)
		require.Equal(t, "DRAFT", f.State)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/p/activate", auth, nil), http.StatusOK)
		for range 2 { // pausing twice is pausing once
			f = expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/p/pause", auth, nil), http.StatusOK)
			require.Equal(t, "PAUSED", f.State)
			require.Empty(t, f.PausedReason)
			require.NotNil(t, f.PausedReasonCode, "pausedReasonCode is answered")
			require.Empty(t, *f.PausedReasonCode, "a user's pause has no code")
			require.Empty(t, *f.PausedReasonParams)
			require.Equal(t, int64(1), f.ActiveRevision)
		}
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/nope/pause", auth, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})

	t.Run("BadRequests", func(t *testing.T) {
		t.Parallel()
		expect[flow](t, b.put(t, all, "bad-requests", bouncedFlow("bad-requests")), http.StatusCreated)
		before := b.dump(t, b.tenantA)
		expectError(t, b.call(t, "POST", "/automation/v4/flows/nope/activate", tokAll, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		e := expectError(t, b.call(t, "POST", "/automation/v4/flows/bad-requests/activate", tokAll, `{"enrollExisting": "yes"}`),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"enrollExisting"}, e.in())
		e = expectError(t, b.call(t, "POST", "/automation/v4/flows/bad-requests/activate", tokAll, `{"enroll_existing": true}`),
			http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"enroll_existing"}, e.in())
		expectError(t, b.call(t, "POST", "/automation/v4/flows/bad-requests/activate", tokAll, `{} {}`), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, before, b.dump(t, b.tenantA))
		require.Empty(t, b.tasks.backfillsOf(b.tenantA))
	})
}

func TestPreviewFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// seed gives a fresh tenant: five live contacts and one in the bin, and a list holding c3.
	// With the trigger email_bounced and the suppression below, c1 and c5 would enroll, c2 and c3
	// are suppressed, and c4 does not match.
	type seeded struct {
		tn     crm.TenantID
		auth   string
		ids    []string // c1..c5
		list   crm.ListID
		flow   string
		binned crm.RecordID
	}
	seed := func(t *testing.T, plan crm.Plan) seeded {
		t.Helper()
		tn, auth := b.planTenant(t, plan)
		s := seeded{tn: tn, auth: auth}
		for _, props := range []map[string]string{
			{"email": "c1@x.example", "email_bounced": "true"},
			{"email": "c2@x.example", "email_bounced": "true", "lifecyclestage": "customer"},
			{"email": "c3@x.example", "email_bounced": "true"},
			{"email": "c4@x.example", "email_bounced": "false"},
			{"email": "c5@x.example", "email_bounced": "true", "firstname": "Eve"},
		} {
			s.ids = append(s.ids, string(b.create(t, tn, crm.Contacts, props)))
		}
		s.binned = b.create(t, tn, crm.Contacts, map[string]string{"email": "gone@x.example", "email_bounced": "true"})
		_, err := b.store.ArchiveRecords(b.ctx, tn, crm.Contacts, []crm.RecordID{s.binned}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		l, err := b.store.CreateList(b.ctx, tn, "Keep", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(b.ctx, tn, l.ID, []crm.RecordID{crm.RecordID(s.ids[2])})
		require.NoError(t, err)
		s.list = l.ID
		s.flow = "name: clean\nobject_type: contacts\ntrigger: email_bounced\nsuppression:\n  trigger: lifecyclestage == \"customer\"\n" +
			"  lists: [" + string(l.ID) + "]\nactions:\n  - type: delete_contact\n"
		return s
	}

	t.Run("CountsAndNoSideEffects", func(t *testing.T) {
		t.Parallel()
		s := seed(t, crm.PlanStarter) // previews work on every plan
		expect[flow](t, b.put(t, s.auth, "clean", s.flow), http.StatusCreated)
		before, snap := b.dump(t, s.tn), b.snapshot(t, s.tn)

		p := expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/clean/preview", s.auth, nil), http.StatusOK)
		require.Equal(t, "clean", p.Name)
		require.Equal(t, "contacts", p.ObjectType)
		require.Equal(t, int64(1), p.Revision)
		require.Equal(t, "2026-03-01T12:00:00.000Z", p.At)
		require.Equal(t, int64(5), p.Total)
		require.Equal(t, int64(2), p.Matched)
		require.Equal(t, int64(2), p.Suppressed)
		require.Equal(t, int64(0), p.Errors)
		require.Empty(t, p.Warnings)
		require.Len(t, p.Sample, 2)
		require.Equal(t, s.ids[0], p.Sample[0].ID)
		require.Equal(t, s.ids[4], p.Sample[1].ID)
		require.Equal(t, "Eve", p.Sample[1].Properties["firstname"])

		p = expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/clean/preview?limit=1", s.auth, nil), http.StatusOK)
		require.Equal(t, int64(2), p.Matched)
		require.Len(t, p.Sample, 1)

		// The same file, not stored, previews the same.
		q := expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", s.auth, yamlBody(s.flow)), http.StatusOK)
		require.Equal(t, int64(0), q.Revision)
		q.Revision = 1
		p = expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/clean/preview", s.auth, nil), http.StatusOK)
		require.Equal(t, p, q)

		// Another file, not stored: nothing of it is kept.
		other := strings.ReplaceAll(s.flow, "clean", "not-stored")
		expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", s.auth, yamlBody(other)), http.StatusOK)
		expectError(t, b.raw(t, "GET", "/automation/v4/flows/not-stored", s.auth, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")

		require.Equal(t, before, b.dump(t, s.tn)) // not a key nor a value of the tenant changed
		require.Equal(t, snap, b.snapshot(t, s.tn))
		require.Empty(t, b.tasks.backfillsOf(s.tn))
	})

	// WhatTheCountsMean pins what docs/workflows.md says of preview's counts: of the live records
	// (total), matched are those the trigger matches and no suppression holds, suppressed those the
	// trigger matches but a suppression holds; a record the trigger does not match counts in neither,
	// whatever its suppression, and enrollments are not looked at (an enrolled record counts too).
	t.Run("WhatTheCountsMean", func(t *testing.T) {
		t.Parallel()
		s := seed(t, crm.PlanProfessional)
		// Suppressed by the trigger, but not bounced: in neither count.
		b.create(t, s.tn, crm.Contacts, map[string]string{"email": "c6@x.example", "lifecyclestage": "customer"})
		expect[flow](t, b.put(t, s.auth, "clean", s.flow), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/clean/activate", s.auth, map[string]any{"enrollExisting": false}), http.StatusOK)
		r := b.raw(t, "POST", "/automation/v4/flows/clean/enrollments", s.auth, map[string]any{"recordId": s.ids[0]})
		require.Less(t, r.status, 300, "body: %s", r.body)
		p := expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/clean/preview", s.auth, nil), http.StatusOK)
		require.Equal(t, int64(6), p.Total, "live records only: the one in the bin is left out")
		require.Equal(t, int64(2), p.Matched, "c1 (enrolled already) and c5")
		require.Equal(t, int64(2), p.Suppressed, "c2 by the suppression trigger, c3 by the list")
		require.Equal(t, []string{s.ids[0], s.ids[4]}, []string{p.Sample[0].ID, p.Sample[1].ID})
	})

	// Limit: a preview reports the blast-radius limit the workflow's deletions would run under
	// (SPEC S24) and how far it would let the workflow go in its first window, its deletions
	// already in the window (any activation's) counted.
	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		var created []crm.RecordID
		for range 5 {
			created = append(created, b.create(t, tn, crm.Contacts, map[string]string{"email_bounced": "true"}))
		}
		base := "name: lim\nobject_type: contacts\ntrigger: email_bounced\n%sactions:\n  - type: delete_contact\n"
		previewOf := func(limits string) preview {
			return expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(fmt.Sprintf(base, limits))), http.StatusOK)
		}

		p := previewOf("limits: {max_deletions: 3, per: 1h}\n")
		require.Equal(t, int64(5), p.Matched)
		require.NotNil(t, p.Limit)
		require.Equal(t, 3, *p.Limit.MaxDeletions)
		require.Equal(t, "1h", p.Limit.Per)
		require.Equal(t, "workflow", p.Limit.Source)
		require.Equal(t, int64(3), p.Limit.WouldDelete)
		require.True(t, p.Limit.WouldPause)

		p = previewOf("limits: {max_deletions: 10, per: 1d}\n")
		require.Equal(t, int64(5), p.Limit.WouldDelete)
		require.False(t, p.Limit.WouldPause)

		// No limits of its own: the tenant's, 1000 per hour unless set.
		p = previewOf("")
		require.Equal(t, "tenant", p.Limit.Source)
		require.Equal(t, 1000, *p.Limit.MaxDeletions)
		require.Equal(t, int64(5), p.Limit.WouldDelete)
		_, err := b.store.SetDeletionLimit(b.ctx, tn, crm.DeletionLimit{Max: 2, Per: 30 * time.Minute})
		require.NoError(t, err)
		p = previewOf("")
		require.Equal(t, 2, *p.Limit.MaxDeletions)
		require.Equal(t, "30m", p.Limit.Per)
		require.Equal(t, int64(2), p.Limit.WouldDelete)
		require.True(t, p.Limit.WouldPause)

		p = previewOf("limits: {max_deletions: unlimited}\n")
		require.True(t, p.Limit.Unlimited)
		require.Nil(t, p.Limit.MaxDeletions)
		require.Equal(t, int64(5), p.Limit.WouldDelete)
		require.False(t, p.Limit.WouldPause)
		require.Zero(t, p.Limit.DeletedInWindow)

		// The count is the workflow's, whatever the activation: its deletions still in the window
		// leave less of the limit.
		res, err := b.store.ArchiveWithLimit(b.ctx, tn, crm.Contacts, created[:2], crm.Actor{User: "ops@a.example", Via: crm.ViaWorkflow, Ref: "lim", Revision: 1},
			crm.ArchiveLimit{DeletionLimit: crm.DeletionLimit{Max: 3, Per: time.Hour}})
		require.NoError(t, err)
		require.Len(t, res.Archived, 2)
		p = previewOf("limits: {max_deletions: 3, per: 1h}\n")
		require.Equal(t, int64(3), p.Matched)
		require.Equal(t, int64(2), p.Limit.DeletedInWindow)
		require.Equal(t, int64(1), p.Limit.WouldDelete)
		require.True(t, p.Limit.WouldPause)
		p = previewOf("limits: {max_deletions: 2, per: 1h}\n")
		require.Equal(t, int64(0), p.Limit.WouldDelete, "the limit is used up")
		require.True(t, p.Limit.WouldPause)
		p = previewOf("limits: {max_deletions: 10, per: 1d}\n")
		require.Equal(t, int64(2), p.Limit.DeletedInWindow)
		require.Equal(t, int64(3), p.Limit.WouldDelete)
		require.False(t, p.Limit.WouldPause)

		// A workflow that deletes nothing has no limit to report.
		src := "name: lim\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: set_property\n    property: lifecyclestage\n    value: lead\n"
		p = expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Nil(t, p.Limit)
	})

	t.Run("UsesTheClock", func(t *testing.T) {
		t.Parallel()
		sb := setup(t) // a bundle of its own, so that moving its clock moves no other test's
		tn, auth := sb.planTenant(t, crm.PlanProfessional)
		id := string(sb.create(t, tn, crm.Contacts, map[string]string{"email": "old@x.example", "last_activity_date": "2026-01-01T00:00:00Z"}))
		sb.create(t, tn, crm.Contacts, map[string]string{"email": "new@x.example", "last_activity_date": "2026-02-20T00:00:00Z"})
		src := "name: old\nobject_type: contacts\ntrigger: daysSince(last_activity_date) > 90\nactions:\n  - type: delete_contact\n"
		p := expect[preview](t, sb.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Equal(t, int64(0), p.Matched)
		sb.clock.Advance(40 * 24 * time.Hour) // 2026-04-10: the first is 99 days old, the second 49
		p = expect[preview](t, sb.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Equal(t, "2026-04-10T12:00:00.000Z", p.At)
		require.Equal(t, int64(1), p.Matched)
		require.Equal(t, id, p.Sample[0].ID)
	})

	// A trigger that matches every record is said to, beside the counts: a slip such as > 0 for
	// > 730 would otherwise show only as a large number.
	t.Run("MatchesEveryRecord", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		b.create(t, tn, crm.Contacts, map[string]string{"email": "a@x.example", "last_activity_date": "2026-01-01T00:00:00Z"})
		b.create(t, tn, crm.Contacts, map[string]string{"email": "b@x.example", "last_activity_date": "2024-01-01T00:00:00Z"})
		b.create(t, tn, crm.Contacts, map[string]string{"email": "c@x.example"})
		src := "name: stale\nobject_type: contacts\ntrigger: daysSince(last_activity_date) > 0\nactions:\n  - type: delete_contact\n"
		p := expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Equal(t, int64(3), p.Matched)
		require.Equal(t, []string{"trigger: it matches every one of the 3 live contacts: check that it says what you mean " +
			"(daysSince(last_activity_date) > 0, say, matches every record whose date is past or unset)"}, p.Warnings)
		src = strings.Replace(src, "> 0", "> 730", 1)
		p = expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Equal(t, int64(2), p.Matched) // the unset date and the one of 2024
		require.Empty(t, p.Warnings)
	})

	t.Run("RunTimeErrors", func(t *testing.T) {
		t.Parallel()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		ada := string(b.create(t, tn, crm.Contacts, map[string]string{"firstname": "Ada Lovelace"}))
		b.create(t, tn, crm.Contacts, map[string]string{"firstname": "Bob"}) // no second word: index out of range
		src := "name: split\nobject_type: contacts\ntrigger: split(firstname, \" \")[1] == \"Lovelace\"\nactions:\n  - type: delete_contact\n"
		p := expect[preview](t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, yamlBody(src)), http.StatusOK)
		require.Equal(t, int64(2), p.Total)
		require.Equal(t, int64(1), p.Matched)
		require.Equal(t, int64(1), p.Errors)
		require.Equal(t, ada, p.Sample[0].ID)
	})

	t.Run("DeletedSuppressionList", func(t *testing.T) {
		t.Parallel()
		s := seed(t, crm.PlanProfessional)
		expect[flow](t, b.put(t, s.auth, "clean", s.flow), http.StatusCreated)
		require.NoError(t, b.store.DeleteList(b.ctx, s.tn, s.list))
		p := expect[preview](t, b.raw(t, "GET", "/automation/v4/flows/clean/preview", s.auth, nil), http.StatusOK)
		require.Equal(t, int64(3), p.Matched) // c3 is no longer suppressed
		require.Equal(t, int64(1), p.Suppressed)
		require.Len(t, p.Warnings, 1)
		require.Contains(t, p.Warnings[0], "suppression.lists[0]: list "+string(s.list)+" does not exist")
		// Unstored, the same file is refused: the list is checked as a PUT checks it.
		expectProblems(t, b.raw(t, "POST", "/automation/v4/flows/preview", s.auth, yamlBody(s.flow)),
			problem{6, 11, "suppression.lists[0]", "does not exist"})
	})

	t.Run("BadRequests", func(t *testing.T) {
		t.Parallel()
		_, auth := b.planTenant(t, crm.PlanProfessional)
		expectError(t, b.raw(t, "GET", "/automation/v4/flows/nope/preview", auth, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expect[flow](t, b.put(t, auth, "bounced", bouncedFlow("bounced")), http.StatusCreated)
		for _, limit := range []string{"0", "101", "x"} {
			e := expectError(t, b.raw(t, "GET", "/automation/v4/flows/bounced/preview?limit="+limit, auth, nil), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{"limit"}, e.in())
		}
		expectProblems(t, b.raw(t, "POST", "/automation/v4/flows/preview", auth,
			yamlBody("name: x\nobject_type: companies\ntrigger: name == 1\nactions:\n  - type: delete_contact\n")),
			problem{3, 15, "trigger", "mismatched types"}, problem{5, 11, "actions[0]", "only for contact workflows"})
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/preview", auth, bouncedFlow("x")), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})
}

func TestFlowHistoryAndManualEnrollment(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// active gives a fresh professional tenant with an active contact workflow "wf" (trigger
	// email_bounced; suppressed: customers and the members of a list) and contacts by role.
	type fixture struct {
		tn   crm.TenantID
		auth string
		ref  crm.FlowRef
		c    map[string]crm.RecordID
	}
	active := func(t *testing.T, reenroll bool) fixture {
		t.Helper()
		tn, auth := b.planTenant(t, crm.PlanProfessional)
		fx := fixture{tn: tn, auth: auth, c: map[string]crm.RecordID{}}
		for _, role := range []string{"matching", "other", "listed", "customer", "deleted"} {
			props := map[string]string{"email": role + "@x.example", "email_bounced": "true"}
			if role == "customer" {
				props["lifecyclestage"] = "customer"
			}
			fx.c[role] = b.create(t, tn, crm.Contacts, props)
		}
		l, err := b.store.CreateList(b.ctx, tn, "Keep", crm.Contacts)
		require.NoError(t, err)
		_, _, err = b.store.AddListMembers(b.ctx, tn, l.ID, []crm.RecordID{fx.c["listed"]})
		require.NoError(t, err)
		src := fmt.Sprintf("name: wf\nobject_type: contacts\ntrigger: email_bounced\nreenrollment: %v\nsuppression:\n"+
			"  trigger: lifecyclestage == \"customer\"\n  lists: [%s]\nactions:\n  - type: delete_contact\n", reenroll, l.ID)
		expect[flow](t, b.put(t, auth, "wf", src), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/wf/activate", auth, nil), http.StatusOK)
		fx.ref = crm.FlowRef{Name: "wf", Revision: 1, ObjectType: crm.Contacts, Reenrollment: reenroll}
		return fx
	}
	enroll := func(t *testing.T, fx fixture, id crm.RecordID) response {
		t.Helper()
		return b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", fx.auth, map[string]any{"recordId": id})
	}
	history := func(t *testing.T, fx fixture, id crm.RecordID) []historyEntry {
		t.Helper()
		return expect[results[historyEntry]](t, b.raw(t, "GET", "/automation/v4/flows/wf/history?recordId="+string(id), fx.auth, nil), http.StatusOK).Results
	}

	t.Run("History", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		id := fx.c["matching"]
		// The engine runs in the workers; here the store's engine calls stand in for it.
		got, err := b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: id, Verdict: crm.VerdictMatch}})
		require.NoError(t, err)
		require.Equal(t, []crm.RecordID{id}, got)
		_, err = b.store.AdvanceSteps(b.ctx, fx.tn, fx.ref, 0, 1, "delete_contact",
			[]crm.StepResult{{ID: id, Outcome: "done", Detail: "moved to the bin", Due: b.clock.Now()}})
		require.NoError(t, err)
		_, err = b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: fx.c["customer"], Verdict: crm.VerdictSuppressed, Detail: "suppression trigger"}})
		require.NoError(t, err)

		h := history(t, fx, id)
		require.Len(t, h, 3)
		zero := 0
		require.Equal(t, historyEntry{At: "2026-03-01T12:00:00.000Z", Kind: "enrolled", Revision: 1, Detail: "trigger matched"}, h[0])
		require.Equal(t, historyEntry{At: "2026-03-01T12:00:00.000Z", Kind: "action", Revision: 1, Step: &zero, Action: "delete_contact",
			Outcome: "done", Detail: "moved to the bin"}, h[1])
		require.Equal(t, "completed", h[2].Kind)

		h = history(t, fx, fx.c["customer"])
		require.Len(t, h, 1)
		require.Equal(t, "suppressed", h[0].Kind)
		require.Equal(t, "suppression trigger", h[0].Detail)

		// A record without history, live or in the bin: an empty list.
		require.Empty(t, history(t, fx, fx.c["other"]))
		_, err = b.store.ArchiveRecords(b.ctx, fx.tn, crm.Contacts, []crm.RecordID{fx.c["other"]}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		require.Empty(t, history(t, fx, fx.c["other"]))
		// A record deleted after its history was written keeps its history.
		_, err = b.store.ArchiveRecords(b.ctx, fx.tn, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: userEmail})
		require.NoError(t, err)
		require.Len(t, history(t, fx, id), 3)
	})

	// An enrollment stopped by a failed step says so counting steps from 1, as the console does,
	// while step stays the action's index from 0; an entry written when the text counted from 0
	// is answered counting from 1 too.
	t.Run("StoppedAfterStepCountsFrom1", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		id := fx.c["matching"]
		_, err := b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: id, Verdict: crm.VerdictMatch}})
		require.NoError(t, err)
		_, err = b.store.AdvanceSteps(b.ctx, fx.tn, fx.ref, 0, 1, "delete_contact",
			[]crm.StepResult{{ID: id, Outcome: "failed", Detail: "the contact is protected", Due: b.clock.Now(), Stop: true}})
		require.NoError(t, err)
		h := history(t, fx, id)
		require.Len(t, h, 3)
		zero := 0
		require.Equal(t, &zero, h[1].Step)
		require.Equal(t, "completed", h[2].Kind)
		require.Equal(t, "stopped after step 1 of 1: failed", h[2].Detail)
		log := expect[results[historyEntry]](t, b.raw(t, "GET", "/automation/v4/flows/wf/history?kind=completed", fx.auth, nil), http.StatusOK).Results
		require.Len(t, log, 1)
		require.Equal(t, "stopped after step 1 of 1: failed", log[0].Detail)

		legacy := fx.c["other"]
		require.NoError(t, b.rdb.LPush(b.ctx, redisstore.HistoryKey(fx.tn, "wf", "contacts:"+string(legacy)),
			`{"at":"1772366400000","kind":"completed","revision":"1","detail":"stopped after step 0: failed"}`).Err())
		h = history(t, fx, legacy)
		require.Len(t, h, 1)
		require.Equal(t, "stopped after step 1: failed", h[0].Detail)
	})

	t.Run("HistoryErrors", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		id := string(fx.c["matching"])
		for _, path := range []string{
			"/automation/v4/flows/nope/history?recordId=" + id, // unknown workflow
			"/automation/v4/flows/wf/history?recordId=999999",  // unknown record
			"/automation/v4/flows/wf/history?recordId=abc",     // not an id
		} {
			expectError(t, b.raw(t, "GET", path, fx.auth, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
		}
	})

	t.Run("WorkflowHistory", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		id := fx.c["matching"]
		_, err := b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: id, Verdict: crm.VerdictMatch}})
		require.NoError(t, err)
		_, err = b.store.AdvanceSteps(b.ctx, fx.tn, fx.ref, 0, 1, "delete_contact",
			[]crm.StepResult{{ID: id, Outcome: "done", Detail: "moved to the bin", Due: b.clock.Now()}})
		require.NoError(t, err)
		_, err = b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: fx.c["customer"], Verdict: crm.VerdictSuppressed, Detail: "suppression trigger"}})
		require.NoError(t, err)
		type logEntry struct {
			ObjectType string `json:"objectType"`
			RecordID   string `json:"recordId"`
			By         string `json:"by"`
			historyEntry
		}
		type logPage struct {
			Results []logEntry `json:"results"`
			Paging  *struct {
				Next struct {
					After string `json:"after"`
					Link  string `json:"link"`
				} `json:"next"`
			} `json:"paging"`
		}
		read := func(query string) logPage {
			t.Helper()
			return expect[logPage](t, b.raw(t, "GET", "/automation/v4/flows/wf/history"+query, fx.auth, nil), http.StatusOK)
		}
		all := read("")
		require.Nil(t, all.Paging)
		var got []string
		for _, e := range all.Results {
			require.Equal(t, "contacts", e.ObjectType)
			got = append(got, e.RecordID+" "+e.Kind)
		}
		require.Equal(t, []string{string(fx.c["customer"]) + " suppressed", string(id) + " completed", string(id) + " action",
			string(id) + " enrolled"}, got, "newest first, every record")
		require.Equal(t, "workflow wf (revision 1)", all.Results[2].By, "an action says whom it acted as")

		actions := read("?kind=action,completed")
		require.Len(t, actions.Results, 2)
		require.Equal(t, "action", actions.Results[1].Kind)

		first := read("?limit=3")
		require.Len(t, first.Results, 3)
		require.NotNil(t, first.Paging)
		require.Contains(t, first.Paging.Next.Link, "after="+url.QueryEscape(first.Paging.Next.After))
		rest := read("?limit=3&after=" + url.QueryEscape(first.Paging.Next.After))
		require.Len(t, rest.Results, 1)
		require.Equal(t, "enrolled", rest.Results[0].Kind)
		require.Nil(t, rest.Paging)

		for query, in := range map[string]string{"?kind=deleted": "kind", "?limit=0": "limit", "?limit=501": "limit", "?after=x-y": "after"} {
			e := expectError(t, b.raw(t, "GET", "/automation/v4/flows/wf/history"+query, fx.auth, nil), http.StatusBadRequest, "VALIDATION_ERROR")
			require.Equal(t, []string{in}, e.in(), query)
		}
		expectError(t, b.raw(t, "GET", "/automation/v4/flows/nope/history", fx.auth, nil), http.StatusNotFound, "OBJECT_NOT_FOUND")
	})

	t.Run("ManualEnrollment", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		id := fx.c["other"]
		r := enroll(t, fx, id)
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		h := history(t, fx, id)
		require.Len(t, h, 1)
		require.Equal(t, "enrolled", h[0].Kind)
		require.Equal(t, "enrolled manually by ops@x.example", h[0].Detail)
		require.Contains(t, b.tasks.stepsOf(fx.tn), enqueuedSteps{tenant: fx.tn, flow: "wf", revision: 1, ids: []crm.RecordID{id}},
			"the first step is queued at once")
		enr, err := b.store.Enrollments(b.ctx, fx.tn, "wf", crm.Contacts, []crm.RecordID{id})
		require.NoError(t, err)
		require.Equal(t, crm.Enrolled, enr[0].State)

		// Never enrolled twice at once (SPEC S19); refusals change nothing.
		before := b.dump(t, fx.tn)
		e := expectError(t, enroll(t, fx, id), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "enrolled already")
		// Suppressed records never enroll, manually neither: by the trigger and by a list.
		e = expectError(t, enroll(t, fx, fx.c["customer"]), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "suppression trigger")
		e = expectError(t, enroll(t, fx, fx.c["listed"]), http.StatusConflict, "CONFLICT")
		require.Contains(t, e.Message, "suppression list")
		// Unknown and malformed records, and bad bodies.
		expectError(t, enroll(t, fx, "999999"), http.StatusNotFound, "OBJECT_NOT_FOUND")
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", fx.auth, map[string]any{"recordId": "abc"}),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		e = expectError(t, b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", fx.auth, map[string]any{}), http.StatusBadRequest, "VALIDATION_ERROR")
		require.Equal(t, []string{"recordId"}, e.in())
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", fx.auth, nil), http.StatusBadRequest, "VALIDATION_ERROR")
		expectError(t, b.raw(t, "POST", "/automation/v4/flows/nope/enrollments", fx.auth, map[string]any{"recordId": id}),
			http.StatusNotFound, "OBJECT_NOT_FOUND")
		require.Equal(t, before, b.dump(t, fx.tn))

		// A number is an id too.
		var n int
		_, err = fmt.Sscan(string(fx.c["matching"]), &n)
		require.NoError(t, err)
		r = b.raw(t, "POST", "/automation/v4/flows/wf/enrollments", fx.auth, map[string]any{"recordId": n})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	})

	t.Run("DeletedAndRestored", func(t *testing.T) {
		t.Parallel()
		for name, reenroll := range map[string]bool{"WithoutReenrollment": false, "WithReenrollment": true} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fx := active(t, reenroll)
				id := fx.c["deleted"]
				_, err := b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: id, Verdict: crm.VerdictMatch}})
				require.NoError(t, err)
				_, err = b.store.ArchiveRecords(b.ctx, fx.tn, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: userEmail})
				require.NoError(t, err)
				_, err = b.store.EvaluateFlow(b.ctx, fx.tn, fx.ref, []crm.FlowVerdict{{ID: id, Verdict: crm.VerdictDeleted}})
				require.NoError(t, err)
				// In the bin: not enrollable, and its history is readable.
				expectError(t, enroll(t, fx, id), http.StatusNotFound, "OBJECT_NOT_FOUND")
				require.Equal(t, "unenrolled", history(t, fx, id)[1].Kind)
				_, err = b.store.RestoreRecords(b.ctx, fx.tn, crm.Contacts, []crm.RecordID{id}, crm.Actor{User: userEmail})
				require.NoError(t, err)
				// A restored record re-enters only by manual enrollment, where re-enrollment allows (SPEC S8).
				r := enroll(t, fx, id)
				if !reenroll {
					e := expectError(t, r, http.StatusConflict, "CONFLICT")
					require.Contains(t, e.Message, "does not allow re-enrollment")
					return
				}
				require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
				require.Equal(t, "enrolled", history(t, fx, id)[2].Kind)
			})
		}
	})

	t.Run("NotActive", func(t *testing.T) {
		t.Parallel()
		fx := active(t, false)
		expect[flow](t, b.put(t, fx.auth, "draft", bouncedFlow("draft")), http.StatusCreated)
		expect[flow](t, b.raw(t, "POST", "/automation/v4/flows/wf/pause", fx.auth, nil), http.StatusOK)
		before := b.dump(t, fx.tn)
		for _, name := range []string{"wf", "draft"} {
			e := expectError(t, b.raw(t, "POST", "/automation/v4/flows/"+name+"/enrollments", fx.auth,
				map[string]any{"recordId": fx.c["other"]}), http.StatusConflict, "CONFLICT")
			require.Contains(t, e.Message, "activate it first")
			require.Contains(t, e.Message, "/automation/v4/flows/"+name+"/activate")
		}
		require.Equal(t, before, b.dump(t, fx.tn))
	})
}

// TestPreviewWorkBudget: a preview whose triggers need more than its budget over the tenant's
// records stops with a 400 that says how many records fit; ?maxRecords previews that many.
func TestPreviewWorkBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var in []crm.RecordInput
	for i := range 300 {
		in = append(in, crm.RecordInput{Properties: map[string]string{"email": fmt.Sprintf("p%d@a.example", i)}})
	}
	_, err := b.store.CreateRecords(b.ctx, b.tenantA, crm.Contacts, in, crm.Actor{User: "all@a.example"})
	require.NoError(t, err)
	heavy := "name: heavy\nobject_type: contacts\ntrigger: any(1..100, {any(1..100, {# == -1})}) or email_bounced\n" +
		"actions:\n  - type: delete_contact\n"
	read := "Bearer " + b.tokens[tokRead]

	// Within the default budget: the first 5 records by id, and the answer says it is partial.
	r := b.raw(t, "POST", "/automation/v4/flows/preview?maxRecords=5", read, yamlBody(heavy))
	require.Equal(t, 200, r.status, "%s", r.body)
	got := decode[struct {
		Total   int64 `json:"total"`
		Partial bool  `json:"partial"`
	}](t, r)
	require.EqualValues(t, 5, got.Total)
	require.True(t, got.Partial)
	r = b.raw(t, "POST", "/automation/v4/flows/preview?maxRecords=0", read, yamlBody(heavy))
	require.Equal(t, "INVALID_MAX_RECORDS", expectError(t, r, 400, "VALIDATION_ERROR").Errors[0].Code)

	// A budget that the first record already uses up: the whole preview does not fit.
	b.serve(t, &api.Config{Clock: b.clock, PreviewBudget: time.Nanosecond})
	r = b.raw(t, "POST", "/automation/v4/flows/preview", read, yamlBody(heavy))
	e := expectError(t, r, 400, "VALIDATION_ERROR")
	require.Equal(t, "PREVIEW_TOO_EXPENSIVE", e.Errors[0].Code)
	require.Contains(t, e.Message, "?maxRecords=1 ")
	require.Equal(t, []string{"1"}, e.Context["maxRecords"])
}
