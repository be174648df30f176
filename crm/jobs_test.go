package crm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJobStopMessage checks that a stopped job's message gives advice that can be followed: an
// undo of the operation only when the job moved something (a job that moved nothing has no
// operation, and its undo is refused: nothing to undo).
func TestJobStopMessage(t *testing.T) {
	t.Parallel()
	moved := NewJobStop("acme", Job{ID: "7", Done: 2, Total: 6}, StoppedUserDisabled, "ann@x.example", "")
	require.Contains(t, moved.Message, "ann@x.example was disabled")
	require.Contains(t, moved.Message, "2 of 6 records had been moved to the recycle bin")
	require.Contains(t, moved.Message, "undo the operation job-7 to restore them")
	require.Contains(t, moved.Message, "crmflow admin user enable acme ann@x.example",
		"a disabled creator's stop says how to enable the user again, as a disabled user's refusals do")

	none := NewJobStop("acme", Job{ID: "8", Done: 0, Total: 6}, StoppedPermission, "bob@x.example", PermDelete)
	require.Contains(t, none.Message, "bob@x.example no longer holds the delete permission")
	require.Contains(t, none.Message, "stopped before it moved anything to the recycle bin: its 6 records stay live")
	require.NotContains(t, none.Message, "undo")

	undo := NewJobStop("acme", Job{ID: "9", Kind: JobKindUndo, Done: 0, Total: 4, By: Actor{Ref: "job-7"}}, StoppedUserMissing, "ghost@x.example", "")
	require.Contains(t, undo.Message, "0 of 4 records had been restored")
	require.Contains(t, undo.Message, "may undo the operation job-7 again")
	require.NotContains(t, undo.Message, "user enable", "a user no longer of the tenant cannot be enabled")
	dis := NewJobStop("acme", Job{ID: "10", Kind: JobKindUndo, Done: 1, Total: 4, By: Actor{Ref: "job-7"}}, StoppedUserDisabled, "ann@x.example", "")
	require.Contains(t, dis.Message, "crmflow admin user enable acme ann@x.example")
}

// TestJobMessagesCountOne checks the grammar of the messages of a job of one record: a stop and a
// count mismatch say "1 record", not "1 records".
func TestJobMessagesCountOne(t *testing.T) {
	t.Parallel()
	one := NewJobStop("acme", Job{ID: "8", Done: 0, Total: 1}, StoppedUserDisabled, "bob@x.example", "")
	require.Contains(t, one.Message, "its 1 record stays live; a user with the delete and bulk_delete permissions may delete it again")

	require.Equal(t, "you confirmed deleting 1 record but 2 match now: nothing was deleted; check the selection and confirm 2",
		(&CountMismatchError{Confirmed: 1, Matched: 2}).Error())
	require.Equal(t, "you confirmed deleting 2 records but 1 matches now: nothing was deleted; check the selection and confirm 1",
		(&CountMismatchError{Confirmed: 2, Matched: 1}).Error())
}
