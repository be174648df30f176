package redisstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/crm/storetest"
	"github.com/crmflow/crmflow/internal/clock"
	"github.com/crmflow/crmflow/internal/redistest"
)

// TestConformance runs the store's conformance suite on every backend.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be, func(t *testing.T) {
			t.Parallel()
			rdb := client(t, be)
			storetest.Run(t, &storetest.Harness{
				NewStore: func(t *testing.T, clk clock.Clock) crm.Store {
					st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt, Clock: clk})
					require.NoError(t, err)
					return st
				},
				Dump: func(t *testing.T, tenant crm.TenantID) map[string]string {
					return redistest.Dump(t, rdb, string(tenant))
				},
			})
		})
	}
}
