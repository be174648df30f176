package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
	"github.com/crmflow/crmflow/triggers"
	"github.com/crmflow/crmflow/workflows"
)

// TestMapError pins the one mapping from errors to status and category, for errors wrapped as the
// handlers wrap them.
func TestMapError(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("create contacts: %w", err) }

	for _, tc := range []struct {
		name     string
		err      error
		status   int
		category string
		in       []string
		message  string
	}{
		{"Unauthenticated", wrap(crm.ErrUnauthenticated), http.StatusUnauthorized, categoryAuthentication, []string{"Authorization"}, "token"},
		{"NotFoundType", wrap(&crm.NotFoundError{Kind: "record", ID: "contacts/7"}), http.StatusNotFound, categoryNotFound, []string{"record"}, "contacts/7"},
		{"NotFoundSentinel", wrap(crm.ErrNotFound), http.StatusNotFound, categoryNotFound, []string{""}, "not found"},
		{"Validation", wrap(&crm.ValidationError{Field: "num_notes", Code: "INVALID_NUMBER", Message: "bad num_notes"}),
			http.StatusBadRequest, categoryValidation, []string{"num_notes"}, "bad num_notes"},
		{"Validations", wrap(crm.ValidationErrors{{Field: "a", Code: "X", Message: "bad a"}, {Field: "b", Code: "Y", Message: "bad b"}}),
			http.StatusBadRequest, categoryValidation, []string{"a", "b"}, "bad a; bad b"},
		{"EmailConflict", wrap(&crm.EmailConflictError{Email: "a@x.example", BlockingID: "42"}),
			http.StatusConflict, categoryConflict, []string{"email"}, "contact 42"},
		{"BlockedEmail", wrap(&crm.BlockedEmailError{Email: "a@x.example"}),
			http.StatusBadRequest, categoryValidation, []string{"email"}, "blocklisted"},
		{"Conflict", wrap(&crm.ConflictError{Message: "property \"x\" already exists"}),
			http.StatusConflict, categoryConflict, []string{""}, "already exists"},
		{"UserExists", wrap(crm.ErrUserExists), http.StatusConflict, categoryConflict, []string{""}, "exists"},
		{"Deadline", wrap(context.DeadlineExceeded), http.StatusServiceUnavailable, categoryTimeout, []string{""}, "deadline"},
		{"Canceled", wrap(context.Canceled), http.StatusServiceUnavailable, categoryTimeout, []string{""}, "deadline"},
		{"StoreUnavailable", wrap(fmt.Errorf("%w: dial tcp 10.0.0.7:6379: connect: connection refused", crm.ErrStoreUnavailable)),
			http.StatusServiceUnavailable, categoryUnavailable, []string{""}, "the store is unavailable, retry later"},
		{"StoreFull", wrap(fmt.Errorf("%w: OOM command not allowed", crm.ErrStoreFull)),
			http.StatusServiceUnavailable, categoryUnavailable, []string{""}, "the store is full"},
		{"MissingScope", errMissingScope(crm.Principal{Tenant: "acme", User: crm.User{Email: "ops@acme.example", Permissions: crm.Permissions{crm.PermRead}}}, crm.PermSchema), http.StatusForbidden, categoryMissingScopes, []string{"permission"}, `"schema"`},
		{"TooLarge", errTooLarge(10), http.StatusRequestEntityTooLarge, categoryTooLarge, []string{"body"}, "10 bytes"},
		{"CountMismatch", wrap(&crm.CountMismatchError{Confirmed: 12, Matched: 13}), http.StatusConflict, categoryConflict,
			[]string{"confirmCount"}, "12 records but 13 match"},
		{"FilterError", wrap(&triggers.Error{Line: 2, Column: 7, Message: "unknown name nope", Snippet: "\n | nope\n | ^"}),
			http.StatusBadRequest, categoryValidation, []string{"filter"}, "2:7"},
		{"FilterErrorWithoutPosition", wrap(&triggers.Error{Message: "the expression is empty"}),
			http.StatusBadRequest, categoryValidation, []string{"filter"}, "empty"},
		{"WorkflowProblems", wrap(&workflows.ValidationError{Problems: []workflows.Problem{
			{File: "flow.yaml", Line: 1, Column: 1, Message: "the file is empty"},
			{File: "flow.yaml", Line: 3, Column: 20, Path: "trigger", Message: "mismatched types"}}}),
			http.StatusBadRequest, categoryValidation, []string{"body", "trigger"}, "flow.yaml:1:1: the file is empty\nflow.yaml:3:20: trigger: mismatched types"},
		{"Plan", wrap(&crm.PlanError{Plan: crm.PlanStarter}), http.StatusForbidden, categoryPlan, []string{"plan"}, "the starter plan"},
		{"MediaType", errMediaType("text/plain", []string{"application/yaml", "text/yaml"}), http.StatusUnsupportedMediaType,
			categoryMediaType, []string{"Content-Type"}, "application/yaml, or text/yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := mapError(tc.err)
			require.Equal(t, tc.status, status)
			require.Equal(t, "error", body.Status)
			require.Equal(t, tc.category, body.Category)
			require.Contains(t, body.Message, tc.message)
			var in []string
			for _, d := range body.Errors {
				require.NotEmpty(t, d.Message)
				require.NotEmpty(t, d.Code)
				in = append(in, d.In)
			}
			require.Equal(t, tc.in, in)
		})
	}

	t.Run("CountMismatchContext", func(t *testing.T) {
		t.Parallel()
		_, body := mapError(wrap(&crm.CountMismatchError{Confirmed: 12, Matched: 13}))
		want := map[string][]string{"confirmCount": {"12"}, "matched": {"13"}}
		require.Equal(t, want, body.Context)
		require.Equal(t, want, body.Errors[0].Context)
	})

	t.Run("FilterErrorContext", func(t *testing.T) {
		t.Parallel()
		_, body := mapError(wrap(&triggers.Error{Line: 2, Column: 7, Message: "unknown name nope", Snippet: "\n | nope\n | ^"}))
		require.Equal(t, map[string][]string{"line": {"2"}, "column": {"7"}, "snippet": {"\n | nope\n | ^"}}, body.Errors[0].Context)
		require.Equal(t, "INVALID_FILTER", body.Errors[0].Code)
		_, body = mapError(&triggers.Error{Message: "the expression is empty"})
		require.Nil(t, body.Errors[0].Context)
	})

	t.Run("WorkflowProblemsContext", func(t *testing.T) {
		t.Parallel()
		_, body := mapError(wrap(&workflows.ValidationError{Problems: []workflows.Problem{
			{File: "flow.yaml", Line: 3, Column: 20, Path: "trigger", Message: "mismatched types", Snippet: " 3 | x\n   | ^"}}}))
		require.Equal(t, "INVALID_WORKFLOW", body.Errors[0].Code)
		require.Equal(t, "flow.yaml:3:20: trigger: mismatched types", body.Errors[0].Message)
		require.Equal(t, map[string][]string{"line": {"3"}, "column": {"20"}, "path": {"trigger"}, "snippet": {" 3 | x\n   | ^"}},
			body.Errors[0].Context)
		// An empty list of problems is no workflow error: it must not become a 400 without details.
		status, _ := mapError(&workflows.ValidationError{})
		require.Equal(t, http.StatusInternalServerError, status)
	})

	t.Run("PlanContext", func(t *testing.T) {
		t.Parallel()
		_, body := mapError(wrap(&crm.PlanError{Plan: crm.PlanFree}))
		want := map[string][]string{"plan": {"free"}, "requiredPlans": {"professional", "enterprise"}}
		require.Equal(t, want, body.Context)
		require.Equal(t, want, body.Errors[0].Context)
		require.Equal(t, "PLAN_NOT_ALLOWED", body.Errors[0].Code)
	})

	t.Run("InternalLeaksNothing", func(t *testing.T) {
		t.Parallel()
		status, body := mapError(fmt.Errorf("read contacts: %w", errors.New("dial tcp 10.0.0.7:6379: connection refused")))
		require.Equal(t, http.StatusInternalServerError, status)
		require.Equal(t, categoryInternal, body.Category)
		require.NotContains(t, body.Message, "10.0.0.7")
		require.NotContains(t, body.Message, "contacts")
		require.Len(t, body.Errors, 1)
	})

	t.Run("WrappedMessageIsTheTypedErrorsOwn", func(t *testing.T) {
		t.Parallel()
		_, body := mapError(fmt.Errorf("internal detail: %w", &crm.NotFoundError{Kind: "list", ID: "9"}))
		require.Equal(t, "list 9 not found", body.Message)
	})
}

// TestWriteErrorOutcomeUnknown: a change that reached the store and got no answer may have been
// made, so its 503 says so and says to read before retrying; a read that fails the same way
// changed nothing and keeps the plain "retry later".
func TestWriteErrorOutcomeUnknown(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("create contacts: %w: %w: i/o timeout", crm.ErrOutcomeUnknown, crm.ErrStoreUnavailable)
	for _, tc := range []struct {
		method, code, message string
	}{
		{http.MethodPost, "OUTCOME_UNKNOWN", "it may have been made or not. Read the records before you retry"},
		{http.MethodDelete, "OUTCOME_UNKNOWN", "it may have been made or not. Read the records before you retry"},
		{http.MethodGet, "STORE_UNAVAILABLE", "the store is unavailable, retry later"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest(tc.method, "/crm/v3/objects/contacts/batch/create", nil), err)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
			require.Equal(t, "5", rec.Header().Get("Retry-After"))
			var body errorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, categoryUnavailable, body.Category)
			require.Equal(t, tc.code, body.Errors[0].Code)
			require.Contains(t, body.Message, tc.message)
		})
	}
}

func TestPanicIsInternalError(t *testing.T) {
	t.Parallel()
	st, err := redisstore.New(redistest.Client(t), &redisstore.Config{EmailSalt: redistest.EmailSalt})
	require.NoError(t, err)
	var logs bytes.Buffer
	s, err := New(st, &Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)

	w := httptest.NewRecorder()
	s.observe(w, httptest.NewRequest("GET", "/crm/v3/objects/contacts", nil), func(http.ResponseWriter, *http.Request) {
		panic("boom at 10.0.0.7")
	})
	require.Equal(t, http.StatusInternalServerError, w.Code)
	var body errorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, categoryInternal, body.Category)
	require.NotContains(t, w.Body.String(), "boom")
	require.Equal(t, w.Header().Get("X-Correlation-Id"), body.CorrelationID)
	require.Contains(t, logs.String(), "boom at 10.0.0.7") // the cause is logged, with the correlation id
	require.Contains(t, logs.String(), body.CorrelationID)
}
