package worker

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// Every label value comes from a fixed set: the standard types and "custom", the task types the
// worker handles and "unknown", the kinds crmflow sends and "other".
func TestMetricLabelsAreBounded(t *testing.T) {
	t.Parallel()
	for _, o := range crm.StandardObjectTypes {
		require.Equal(t, string(o), objectTypeLabel(o))
	}
	require.Equal(t, "custom", objectTypeLabel("pets"))
	require.Equal(t, "custom", objectTypeLabel("p_4711_invoices"))
	require.Equal(t, TypeMailSend, taskTypeLabel(TypeMailSend))
	require.Equal(t, TypeWorkflowBackfill, taskTypeLabel(TypeWorkflowBackfill))
	require.Equal(t, "unknown", taskTypeLabel("made:up"))
	require.Equal(t, KindPermanentDeleteConfirmation, mailKindLabel(KindPermanentDeleteConfirmation))
	require.Equal(t, "other", mailKindLabel("tenant_chosen_kind"))
}
