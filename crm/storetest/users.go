package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

func testUsersAndPermissions(t *testing.T, hn *Harness) {
	t.Parallel()
	b := setup(t, hn)
	ctx := b.ctx
	_, err := b.store.CreateUser(ctx, b.tenant, "zed@acme.example", crm.Permissions{crm.PermRead}, "admin-cli:root")
	require.NoError(t, err)
	_, err = b.store.CreateUser(ctx, b.tenant, "amy@acme.example", crm.Permissions{crm.PermRead, crm.PermWrite}, "admin-cli:root")
	require.NoError(t, err)

	users, err := b.store.Users(ctx, b.tenant)
	require.NoError(t, err)
	require.Len(t, users, 2)
	require.Equal(t, "amy@acme.example", users[0].Email)
	require.Equal(t, "zed@acme.example", users[1].Email)
	require.Equal(t, crm.Permissions{crm.PermRead, crm.PermWrite}, users[0].Permissions)

	_, err = b.store.Users(ctx, crm.TenantID(NewTenant(t)))
	var nf *crm.NotFoundError
	require.ErrorAs(t, err, &nf)
	require.Equal(t, "tenant", nf.Kind)

	tok, err := b.store.CreateToken(ctx, b.tenant, "zed@acme.example", nil)
	require.NoError(t, err)
	p, err := b.store.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.False(t, p.User.Permissions.Has(crm.PermDelete))

	// Replacing the set: a grant and a removal at once, seen by the next request.
	u, err := b.store.SetUserPermissions(ctx, b.tenant, "Zed@Acme.Example", crm.Permissions{crm.PermDelete}, "admin-cli:root")
	require.NoError(t, err)
	require.Equal(t, crm.Permissions{crm.PermDelete}, u.Permissions)
	p, err = b.store.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.Equal(t, crm.Permissions{crm.PermDelete}, p.User.Permissions)

	before := b.dump(t)
	_, err = b.store.SetUserPermissions(ctx, b.tenant, "nobody@acme.example", crm.Permissions{crm.PermRead}, "x")
	require.ErrorAs(t, err, &nf)
	require.Equal(t, "user", nf.Kind)
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "nobody@acme.example", true, "x")
	require.ErrorAs(t, err, &nf)
	require.Equal(t, before, b.dump(t), "a refused change changes nothing")

	// Disabling refuses every token of the user at once; enabling accepts them again.
	u, err = b.store.SetUserDisabled(ctx, b.tenant, "zed@acme.example", true, "admin-cli:root")
	require.NoError(t, err)
	require.True(t, u.Disabled)
	_, err = b.store.Authenticate(ctx, tok)
	require.ErrorIs(t, err, crm.ErrUnauthenticated)
	require.ErrorContains(t, err, "disabled")
	_, err = b.store.CreateToken(ctx, b.tenant, "zed@acme.example", nil)
	require.ErrorIs(t, err, crm.ErrUserDisabled)
	_, err = b.store.SetUserDisabled(ctx, b.tenant, "zed@acme.example", true, "admin-cli:root") // already: no entry
	require.NoError(t, err)
	u, err = b.store.SetUserDisabled(ctx, b.tenant, "zed@acme.example", false, "admin-cli:root")
	require.NoError(t, err)
	require.False(t, u.Disabled)
	_, err = b.store.Authenticate(ctx, tok)
	require.NoError(t, err)

	entries, _, err := b.store.Audit(ctx, b.tenant, nil)
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.User+" by "+e.By)
		require.Equal(t, b.clock.Now().UTC().Truncate(time.Millisecond), e.At)
	}
	require.Equal(t, []string{
		"user_create zed@acme.example by admin-cli:root",
		"user_create amy@acme.example by admin-cli:root",
		"token_create zed@acme.example by ",
		"user_set_perms zed@acme.example by admin-cli:root",
		"user_disable zed@acme.example by admin-cli:root",
		"user_enable zed@acme.example by admin-cli:root",
	}, actions)
	require.Equal(t, crm.Permissions{crm.PermRead}, entries[0].Permissions)
	require.Equal(t, crm.TokenID(tok), entries[2].TokenID)
	require.Equal(t, crm.Permissions{crm.PermDelete}, entries[3].Permissions)
	require.Equal(t, crm.Permissions{crm.PermRead}, entries[3].PreviousPermissions)
}
