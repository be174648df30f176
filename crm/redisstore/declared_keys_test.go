package redisstore_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// undeclaredKeys watches the scripts a client runs: an argument after the declared KEYS that is a
// whole key of tenant (one that is not a key prefix, which ends with ':') is a key the script
// touches without declaring it, which Redis Cluster does not allow. Add redistest.EachCommand(check)
// to the client.
type undeclaredKeys struct {
	tenant string
	mu     sync.Mutex
	found  []string
}

func (h *undeclaredKeys) check(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 3 {
		return
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	if name != "eval" && name != "evalsha" && name != "eval_ro" && name != "evalsha_ro" {
		return
	}
	var nkeys int
	if _, err := fmt.Sscan(fmt.Sprint(args[2]), &nkeys); err != nil || 3+nkeys > len(args) {
		return
	}
	own := redisstore.TenantKey(crm.TenantID(h.tenant))
	tag := own[:strings.Index(own, "}")+1] + ":"
	for i, a := range args[3+nkeys:] {
		s, ok := a.(string)
		if ok && strings.HasPrefix(s, tag) && !strings.HasSuffix(s, ":") {
			h.mu.Lock()
			h.found = append(h.found, fmt.Sprintf("ARGV[%d] = %s", i+1, s))
			h.mu.Unlock()
		}
	}
}

// TestScriptsDeclareTheKeysTheyTouch runs the deletes and the undo through every guard of the
// archive script (a workflow's blast-radius limit and its activator, a bulk delete job's creator,
// the version of the protection rules) and checks that no script is given a whole key in ARGV:
// each key a script reads or writes by name is in KEYS, as Redis Cluster requires.
func TestScriptsDeclareTheKeysTheyTouch(t *testing.T) {
	t.Parallel()
	b := setup(t, "redis")
	ctx := b.ctx
	hook := &undeclaredKeys{tenant: string(b.tenant)}
	b.rdb.AddHook(redistest.EachCommand(hook.check))
	_, err := b.store.CreateUser(ctx, b.tenant, "ops@x.example", crm.Permissions(crm.AllPermissions), "root@x.example")
	require.NoError(t, err)
	var ids []crm.RecordID
	for i := range 6 {
		ids = append(ids, b.contact(t, map[string]string{"email": fmt.Sprintf("c%d@x.example", i)}).ID)
	}

	// A workflow's deletion, with a limit and its activator's permissions checked.
	_, _, err = b.store.PutFlow(ctx, b.tenant, "bounced", crm.Contacts, "name: bounced\nobject_type: contacts\ntrigger: email_bounced\nactions:\n  - type: delete_contact\n", "ops@x.example")
	require.NoError(t, err)
	f, err := b.store.ActivateFlow(ctx, b.tenant, "bounced", crm.ActivateFlowParams{By: "ops@x.example"})
	require.NoError(t, err)
	wf := crm.Actor{User: "ops@x.example", Via: crm.ViaWorkflow, Ref: "bounced", Revision: f.ActiveRevision}
	res, err := b.store.ArchiveWithLimit(ctx, b.tenant, crm.Contacts, ids[:2], wf, crm.ArchiveLimit{
		DeletionLimit: crm.DeletionLimit{Max: 10, Per: time.Hour}, ActivatedAt: f.ActivatedAt, Needs: []crm.Permission{crm.PermDelete}})
	require.NoError(t, err)
	require.Len(t, res.Archived, 2)

	// A bulk delete job, checked against the protection rules' version.
	j, err := b.store.CreateDeleteJob(ctx, b.tenant, crm.DeleteJobParams{ObjectType: crm.Contacts, IDs: ids[2:], ConfirmCount: 4, By: "ops@x.example"})
	require.NoError(t, err)
	version, err := b.store.ProtectionVersion(ctx, b.tenant)
	require.NoError(t, err)
	for !j.State.Finished() {
		j, err = b.store.RunCheckedDeleteJobBatch(ctx, b.tenant, j.ID, 2, nil, version)
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, j.Done)

	// Its undo.
	undo, err := b.store.CreateUndoJob(ctx, b.tenant, crm.UndoParams{Operation: crm.JobOperationID(j.ID), By: "ops@x.example"})
	require.NoError(t, err)
	for !undo.State.Finished() {
		undo, err = b.store.RunUndoBatch(ctx, b.tenant, undo.ID, 2)
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, undo.Done)

	// A delayed step moved to another date.
	moved, err := b.store.RescheduleSteps(ctx, b.tenant, crm.FlowRef{Name: "bounced", Revision: f.ActiveRevision, ObjectType: crm.Contacts},
		[]crm.StepDue{{ID: ids[0], Step: 1, Due: time.Now()}})
	require.NoError(t, err)
	require.Empty(t, moved, "not enrolled")

	hook.mu.Lock()
	defer hook.mu.Unlock()
	require.Empty(t, hook.found, "keys given to scripts in ARGV instead of KEYS")
}
