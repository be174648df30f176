package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWritesAskForADrain checks that a successful record write asks for a drain of the tenant's
// changes (so that workflows see it at once), and that reads and refused writes do not.
func TestWritesAskForADrain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := string(b.contact(t, map[string]string{"firstname": "Ada"}))
	props := map[string]any{"properties": map[string]any{"firstname": "Grace"}}
	steps := []struct {
		method, path, who string
		body              any
		status            int
		drains            int // asked for by this call
	}{
		{"GET", "/crm/v3/objects/contacts/" + id, tokRead, nil, http.StatusOK, 0},
		{"PATCH", "/crm/v3/objects/contacts/" + id, tokRead, props, http.StatusForbidden, 0},
		{"PATCH", "/crm/v3/objects/contacts/" + id, tokAll, props, http.StatusOK, 1},
		{"POST", "/crm/v3/objects/contacts", tokAll, props, http.StatusCreated, 1},
		{"PATCH", "/crm/v3/objects/contacts/999999", tokAll, props, http.StatusNotFound, 0},
		{"DELETE", "/crm/v3/objects/contacts/" + id, tokAll, nil, http.StatusNoContent, 1},
		{"POST", "/crm/v3/objects/contacts/batch/restore", tokAll, map[string]any{"inputs": idInputs(id)}, http.StatusOK, 1},
	}
	for _, s := range steps {
		before := b.tasks.drainsOf(b.tenantA)
		r := b.call(t, s.method, s.path, s.who, s.body)
		require.Equal(t, s.status, r.status, "%s %s: %s", s.method, s.path, r.body)
		// The drain is asked for beside the answer: wait for it, then make sure there is no other.
		if s.drains > 0 {
			require.Eventually(t, func() bool { return b.tasks.drainsOf(b.tenantA)-before >= s.drains }, 5*time.Second, time.Millisecond,
				"%s %s asks for a drain", s.method, s.path)
		}
		require.Equal(t, s.drains, b.tasks.drainsOf(b.tenantA)-before, "%s %s", s.method, s.path)
	}
}
