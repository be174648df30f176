package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// contactsWith creates a contact of each email in tenant, and returns them.
func (b *bgBundle) contactsWith(t *testing.T, tenant crm.TenantID, emails ...string) []crm.Record {
	t.Helper()
	in := make([]crm.RecordInput, len(emails))
	for i, e := range emails {
		in[i] = crm.RecordInput{Properties: map[string]string{"email": e}}
	}
	recs, err := b.store.CreateRecords(b.ctx, tenant, crm.Contacts, in, crm.Actor{User: opsUser})
	require.NoError(t, err)
	return recs
}

// archive moves the contacts ids of tenant to the bin in one batch, and returns its operation.
func (b *bgBundle) archive(t *testing.T, tenant crm.TenantID, ids ...crm.RecordID) string {
	t.Helper()
	_, err := b.store.ArchiveRecords(b.ctx, tenant, crm.Contacts, ids, crm.Actor{User: opsUser})
	require.NoError(t, err)
	arch, err := b.store.Record(b.ctx, tenant, crm.Contacts, ids[0], &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	return arch.Deletion.Operation
}

// TestUndoAndOperationsCommands drives `crmflow operations list` and `crmflow undo --wait`
// against serve and a worker: the list shows the batch archive with its counts, the undo restores
// what it can and prints the record it could not, naming the blocking contact, with exit code 1.
func TestUndoAndOperationsCommands(t *testing.T) {
	t.Parallel()
	b, tenant, ctl := opsServe(t)

	recs := b.contactsWith(t, tenant, "x@example.com", "y@example.com")
	opID := b.archive(t, tenant, recs[0].ID, recs[1].ID)
	blocker := b.contactsWith(t, tenant, "y@example.com")

	stdout, stderr, code := crmflow(t, ctl, "operations", "list", "--kind", "batch")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, "stdout:\n%s", stdout)
	require.Regexp(t, `^`+opID+`\s+batch\s+contacts\s+`+opsUser+`\s+\S+\s+2\s+2\s*$`, lines[1])
	_, stderr, code = crmflow(t, ctl, "operations", "list", "--kind", "nope")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "kind")

	_, stderr, code = crmflow(t, ctl, "undo", "no-such-op")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "404")

	stdout, stderr, code = crmflow(t, ctl, "undo", opID, "--wait", "--interval", "10ms", "--progress", "lines")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "not restored: contacts "+string(recs[1].ID)+": its email belongs to the live contact "+string(blocker[0].ID))
	// The progress and the summary tell what an undo did: it restored, it did not delete.
	require.Regexp(t, `(?m)^job \S+ COMPLETE: 1 of 2 contacts restored, 1 not restored$`, stdout)
	require.Regexp(t, `(?m)^2/2 COMPLETE \(job \S+: 1 restored, 1 not restored\)$`, stderr)
	require.NotContains(t, stdout+stderr, "moved to the recycle bin")
	require.NotContains(t, stdout+stderr, "deleted")
	_, err := b.store.Record(b.ctx, tenant, crm.Contacts, recs[0].ID, nil)
	require.NoError(t, err, "the other record is restored")

	// An undo job whose creator may no longer restore is STOPPED: watching it ends with exit code 1
	// and the reason, which names the user and the permission.
	undo, err := b.store.CreateUndoJob(b.ctx, tenant, crm.UndoParams{Operation: b.archive(t, tenant, recs[0].ID), By: "gone@example.com"})
	require.NoError(t, err)
	undo, err = b.store.RunUndoBatch(b.ctx, tenant, undo.ID, 10)
	require.NoError(t, err)
	require.Equal(t, crm.JobStopped, undo.State)
	stdout, stderr, code = crmflow(t, ctl, "jobs", "watch", undo.ID, "--interval", "10ms", "--progress", "lines")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Regexp(t, `(?m)^job `+undo.ID+` STOPPED: 0 of 1 contacts restored before it stopped; the rest stay in the recycle bin$`, stdout)
	require.Contains(t, stderr, "job "+undo.ID+" stopped: the job's creator gone@example.com is no longer a user of the tenant, so the undo stopped")
	require.Contains(t, stderr, "restore permission")
}

// TestUndoCommandWithNothingLeft undoes an operation a second time, after the first undo restored
// all of it: `crmflow undo` says there is nothing to undo, names the undo job that restored it,
// prints no job id and exits non-zero, and no job is started.
func TestUndoCommandWithNothingLeft(t *testing.T) {
	t.Parallel()
	b, tenant, ctl := opsServe(t)

	opID := b.archive(t, tenant, b.contactsWith(t, tenant, "x@example.com")[0].ID)

	stdout, stderr, code := crmflow(t, ctl, "undo", opID, "--wait", "--interval", "10ms", "--progress", "lines")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	first := strings.Fields(stdout)[0]
	jobs, _, err := b.store.RecentJobs(b.ctx, tenant, "", 100)
	require.NoError(t, err)

	stdout, stderr, code = crmflow(t, ctl, "undo", opID, "--wait", "--interval", "10ms")
	require.NotEqual(t, 0, code)
	require.Empty(t, stdout, "no job id: no job was started")
	require.Contains(t, stderr, "operation "+opID+" has no record left in the recycle bin, so there is nothing to undo")
	require.Contains(t, stderr, "undo job "+first)
	require.Contains(t, stderr, "409 CONFLICT")
	after, _, err := b.store.RecentJobs(b.ctx, tenant, "", 100)
	require.NoError(t, err)
	require.Equal(t, jobs, after)
}

// TestUndoAJobByItsNumber: crmflow delete prints the job's number, and its operation is job-N. An
// undo of N is refused, naming job-N and changing nothing; a watch of job-N names N.
func TestUndoAJobByItsNumber(t *testing.T) {
	t.Parallel()
	b, tenant, ctl := opsServe(t)

	recs := b.contactsWith(t, tenant, "x@example.com")
	id := string(recs[0].ID)
	stdout, stderr, code := crmflow(t, ctl, "delete", "--type", "contacts", "--ids", id, "--dry-run")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stderr, "dry run: 1 contact matches, 1 would be deleted, 0 protected; nothing was deleted\n")
	stdout, stderr, code = crmflow(t, ctl, "delete", "--type", "contacts", "--ids", id, "--confirm", "1", "--wait", "--interval", "10ms")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	job := strings.Fields(stdout)[0]
	require.Contains(t, stderr, "undo it with `crmflow undo job-"+job+"`")

	stdout, stderr, code = crmflow(t, ctl, "undo", job)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "operation "+job+" not found: if "+job+" is a bulk or list delete job, its operation is job-"+job+
		": crmflow undo job-"+job+"\n(the API answered 404")
	_, err := b.store.Record(b.ctx, tenant, crm.Contacts, recs[0].ID, nil)
	require.Error(t, err, "still in the bin")

	_, stderr, code = crmflow(t, ctl, "jobs", "watch", "job-"+job)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "job job-"+job+" not found: job-"+job+" is the operation of job "+job+": crmflow jobs watch "+job+"\n")

	_, stderr, code = crmflow(t, ctl, "undo", "no-such-op")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "operation no-such-op not found: crmflow operations list lists the operations")

	stdout, stderr, code = crmflow(t, ctl, "undo", "job-"+job, "--wait", "--interval", "10ms")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	_, err = b.store.Record(b.ctx, tenant, crm.Contacts, recs[0].ID, nil)
	require.NoError(t, err, "restored")
}

// TestUndoCommandNeedsTheAuthorityToPause: crmflow undo acts through the API as the token's user,
// so an undo that would pause a workflow still active, asked with a token of restore alone, is
// refused the same: exit code 1, the message naming the "workflows" permission and what to do
// instead, and nothing changed (the workflow still active, no undo job).
func TestUndoCommandNeedsTheAuthorityToPause(t *testing.T) {
	t.Parallel()
	b, tenant, ctl := opsServe(t)
	_, err := b.store.CreateUser(b.ctx, tenant, "restorer@example.com", crm.Permissions{crm.PermRead, crm.PermRestore}, "test")
	require.NoError(t, err)
	token, err := b.store.CreateToken(b.ctx, tenant, "restorer@example.com", nil)
	require.NoError(t, err)
	restorer := []string{ctl[0], "CRMFLOW_TOKEN=" + token}

	const src = "name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n"
	_, _, err = b.store.PutFlow(b.ctx, tenant, "bounced", crm.Contacts, src, opsUser)
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(b.ctx, tenant, "bounced", crm.ActivateFlowParams{By: opsUser})
	require.NoError(t, err)
	recs := b.contactsWith(t, tenant, "x@example.com")
	_, err = b.store.ArchiveRecords(b.ctx, tenant, crm.Contacts, []crm.RecordID{recs[0].ID},
		crm.Actor{User: opsUser, Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision})
	require.NoError(t, err)
	arch, err := b.store.Record(b.ctx, tenant, crm.Contacts, recs[0].ID, &crm.ReadOpts{Archived: true})
	require.NoError(t, err)
	op := arch.Deletion.Operation

	stdout, stderr, code := crmflow(t, restorer, "undo", op)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Empty(t, stdout, "no job id: no job was started")
	require.Contains(t, stderr, "nothing was changed")
	require.Contains(t, stderr, `"workflows"`)
	require.Contains(t, stderr, "crmflow workflows pause bounced")
	require.Contains(t, stderr, "403")
	f, err = b.store.Flow(b.ctx, tenant, "bounced")
	require.NoError(t, err)
	require.Equal(t, crm.FlowActive, f.State)
	jobs, _, err := b.store.RecentJobs(b.ctx, tenant, "", 100)
	require.NoError(t, err)
	require.Empty(t, jobs)

	// What the message says to do: someone who may pauses the workflow; then restore is enough.
	_, stderr, code = crmflow(t, ctl, "workflows", "pause", "bounced")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	stdout, stderr, code = crmflow(t, restorer, "undo", op, "--wait", "--interval", "10ms")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	_, err = b.store.Record(b.ctx, tenant, crm.Contacts, recs[0].ID, nil)
	require.NoError(t, err, "restored")
}
