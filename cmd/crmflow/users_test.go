package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/crm/redisstore"
	"github.com/crmflow/crmflow/internal/redistest"
)

// adminFails runs `crmflow admin ARGS --redis URL`, which must fail with code, and returns its
// stderr; stdout must be empty.
func (b *testBundle) adminFails(t *testing.T, code int, args ...string) string {
	t.Helper()
	stdout, stderr, got := crmflow(t, nil, append(append([]string{"admin"}, args...), "--redis", b.redisURL)...)
	require.Equal(t, code, got, "crmflow admin %v\nstderr:\n%s", args, stderr)
	require.Empty(t, stdout, "errors go to stderr")
	return stderr
}

var tokenIDRE = regexp.MustCompile(`issued API token ([0-9a-f]{16}) `)

func TestAdminUsersAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "professional")
	b.admin(t, "user", "create", b.tenant, "zoe@example.com", "--perms", "read")
	b.admin(t, "user", "create", b.tenant, "al@example.com", "--perms", "read,write", "--by", "ops-oncall")

	t.Run("UserList", func(t *testing.T) {
		t.Parallel()
		stdout, stderr := b.admin(t, "user", "list", b.tenant)
		require.Contains(t, stderr, "2 users in tenant")
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		require.Len(t, lines, 3)
		require.Regexp(t, `^EMAIL\s+PERMISSIONS\s+STATUS\s+CREATED$`, lines[0])
		require.Regexp(t, `^al@example.com\s+read,write\s+active\s+\d{4}-`, lines[1])
		require.Regexp(t, `^zoe@example.com\s+read\s+active\s+\d{4}-`, lines[2])
	})

	t.Run("SetPermsDisableEnableAndTokens", func(t *testing.T) {
		t.Parallel()
		// A tenant of its own, so that UserList, which runs beside it, sees only its two users.
		tn := b.tenant + "-p"
		b.admin(t, "tenant", "create", tn, "--plan", "professional")
		const who = "pat@example.com"
		b.admin(t, "user", "create", tn, who, "--perms", "read")
		_, stderr := b.admin(t, "user", "set-perms", tn, who, "--perms", "read,write,delete")
		require.Contains(t, stderr, "read -> read,write,delete")
		stdout, _ := b.admin(t, "user", "list", tn)
		require.Regexp(t, `(?m)^pat@example.com\s+read,write,delete\s+active`, stdout)
		_, stderr = b.admin(t, "user", "create", tn, "nil@example.com", "--perms", "")
		require.Contains(t, stderr, "created user nil@example.com in tenant "+tn+" with permissions (none)\n")

		token, stderr := b.admin(t, "token", "create", tn, who, "--ttl", "90d")
		require.Regexp(t, tokenRE, token)
		m := tokenIDRE.FindStringSubmatch(stderr)
		require.NotNil(t, m, stderr)
		id := m[1]
		require.Equal(t, crm.TokenID(strings.TrimSpace(token)), id)
		require.Contains(t, stderr, "expires in 2160h0m0s")
		forever, stderr := b.admin(t, "token", "create", tn, who)
		require.Contains(t, stderr, "never expires")

		stdout, stderr = b.admin(t, "token", "list", tn, "--email", who)
		require.Contains(t, stderr, "2 tokens in tenant")
		require.Regexp(t, `(?m)^ID\s+USER\s+CREATED\s+EXPIRES\s+STATUS$`, stdout)
		require.Regexp(t, `(?m)^`+id+`\s+pat@example.com\s+\S+\s+\d{4}-\S+\s+active$`, stdout)
		require.Regexp(t, `(?m)^`+crm.TokenID(strings.TrimSpace(forever))+`\s+pat@example.com\s+\S+\s+never\s+active$`, stdout)
		require.NotContains(t, stdout, strings.TrimSpace(token), "a listing never shows a secret")

		_, stderr = b.admin(t, "user", "disable", tn, who)
		require.Contains(t, stderr, "refused from now on")
		stdout, _ = b.admin(t, "user", "list", tn)
		require.Regexp(t, `(?m)^pat@example.com\s+\S+\s+disabled`, stdout)
		stdout, _ = b.admin(t, "token", "list", tn, "--email", who)
		require.Regexp(t, `(?m)^`+id+`\s.*user-disabled$`, stdout)
		_, stderr = b.admin(t, "user", "disable", tn, who)
		require.Contains(t, stderr, "already disabled")
		stderr = b.adminFails(t, 1, "token", "create", tn, who)
		require.Contains(t, stderr, "is disabled")
		require.Contains(t, stderr, "crmflow admin user enable "+tn+" "+who)
		_, stderr = b.admin(t, "user", "enable", tn, who)
		require.Contains(t, stderr, "enabled user")

		_, stderr = b.admin(t, "token", "revoke", tn, id)
		require.Contains(t, stderr, "revoked API token "+id)
		stdout, _ = b.admin(t, "token", "list", tn, "--email", who)
		require.NotContains(t, stdout, id)
		stderr = b.adminFails(t, 1, "token", "revoke", tn, id)
		require.Contains(t, stderr, "no token "+id)
		require.Contains(t, stderr, "crmflow admin token list "+tn)
	})

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"SetPermsUnknownUser", []string{"user", "set-perms", b.tenant, "nobody@example.com", "--perms", "read"}, 1,
			[]string{"no user nobody@example.com", "admin user list " + b.tenant, "admin user create"}},
		{"SetPermsWithoutPerms", []string{"user", "set-perms", b.tenant, "zoe@example.com"}, exitUsage, []string{"--perms is required"}},
		{"SetPermsUnknownPermission", []string{"user", "set-perms", b.tenant, "zoe@example.com", "--perms", "fly"}, exitUsage,
			[]string{`permission "fly" is unknown`}},
		{"DisableUnknownUser", []string{"user", "disable", b.tenant, "nobody@example.com"}, 1, []string{"no user nobody@example.com"}},
		{"EnableUnknownUser", []string{"user", "enable", b.tenant, "nobody@example.com"}, 1, []string{"no user nobody@example.com"}},
		{"UserListUnknownTenant", []string{"user", "list", "x-" + b.tenant}, 1, []string{"does not exist", "admin tenant list", "admin tenant create"}},
		{"TokenListUnknownUser", []string{"token", "list", b.tenant, "--email", "nobody@example.com"}, 1, []string{"no user nobody@example.com"}},
		{"TokenListUnknownTenant", []string{"token", "list", "x-" + b.tenant}, 1, []string{"does not exist"}},
		{"RevokeUnknownToken", []string{"token", "revoke", b.tenant, "0123456789abcdef"}, 1, []string{"no token 0123456789abcdef", "token list"}},
		{"SetPermsInUnknownTenant", []string{"user", "set-perms", "x-" + b.tenant, "zoe@example.com", "--perms", "read"}, 1,
			[]string{"tenant x-" + b.tenant + " does not exist", "admin tenant create x-" + b.tenant}},
		{"DisableInUnknownTenant", []string{"user", "disable", "x-" + b.tenant, "zoe@example.com"}, 1,
			[]string{"tenant x-" + b.tenant + " does not exist", "admin tenant create x-" + b.tenant}},
		{"TokenListOfAUserInUnknownTenant", []string{"token", "list", "x-" + b.tenant, "--email", "zoe@example.com"}, 1,
			[]string{"tenant x-" + b.tenant + " does not exist"}},
		{"RevokeInUnknownTenant", []string{"token", "revoke", "x-" + b.tenant, "0123456789abcdef"}, 1, []string{"does not exist"}},
		{"CreateBadEmail", []string{"user", "create", b.tenant, "notanemail", "--perms", "read"}, exitUsage,
			[]string{`user email "notanemail" is not an email address: use one such as ops@example.com`}},
		{"BadTTL", []string{"token", "create", b.tenant, "zoe@example.com", "--ttl", "soon"}, exitUsage, []string{"--ttl", "90d"}},
		{"NegativeTTL", []string{"token", "create", b.tenant, "zoe@example.com", "--ttl", "-1h"}, exitUsage, []string{"negative"}},
		{"TTLOver100YearsInDays", []string{"token", "create", b.tenant, "zoe@example.com", "--ttl", "36501d"}, exitUsage,
			[]string{"--ttl 36501d is longer than 100 years: give at most 36500d"}},
		{"TTLOver100Years", []string{"token", "create", b.tenant, "zoe@example.com", "--ttl", "900000h"}, exitUsage,
			[]string{"--ttl 900000h is longer than 100 years"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stderr := b.adminFails(t, tc.code, tc.args...)
			for _, s := range tc.stderr {
				require.Contains(t, stderr, s)
			}
		})
	}

	t.Run("AuditNamesTheAdmin", func(t *testing.T) {
		t.Parallel()
		rdb := redistest.Client(t)
		st, err := redisstore.New(rdb, &redisstore.Config{EmailSalt: redistest.EmailSalt})
		require.NoError(t, err)
		entries, _, err := st.Audit(t.Context(), crm.TenantID(b.tenant), &crm.AuditOpts{Limit: 1000})
		require.NoError(t, err)
		by := map[string]string{}
		for _, e := range entries {
			if e.Action == crm.AuditUserCreate {
				by[e.User] = e.By
			}
		}
		require.Equal(t, "ops-oncall", by["al@example.com"])
		require.True(t, strings.HasPrefix(by["zoe@example.com"], "admin-cli:"), by["zoe@example.com"])
	})
}

// TestMissingScopeHintWorks runs the very command the API's 403 suggests and shows that the
// request then succeeds, and that the user keeps the permissions it had.
func TestMissingScopeHintWorks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "professional")
	b.admin(t, "user", "create", b.tenant, "reader@example.com", "--perms", "read,schema")
	token, _ := b.admin(t, "token", "create", b.tenant, "reader@example.com")
	token = strings.TrimSpace(token)

	addr := freeAddr(t)
	base := "http://" + addr
	p := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL)
	waitReady(t, p, base)
	t.Cleanup(func() { require.Equal(t, 0, p.stop(t), "stderr:\n%s", p.stderr) })

	create := map[string]any{"properties": map[string]string{"email": "new@example.com"}}
	code, body := call(t, http.MethodPost, base+"/crm/v3/objects/contacts", token, create)
	require.Equal(t, http.StatusForbidden, code, "body: %v", body)
	m := regexp.MustCompile("\\((crmflow admin user set-perms [^)]+)\\)").FindStringSubmatch(body["message"].(string))
	require.NotNil(t, m, "no command in %q", body["message"])
	require.Equal(t, "crmflow admin user set-perms "+b.tenant+" reader@example.com --perms read,write,schema", m[1])

	args := strings.Fields(m[1])[1:] // the hint as an operator would paste it, after "crmflow"
	b.admin(t, args[1:]...)

	code, body = call(t, http.MethodPost, base+"/crm/v3/objects/contacts", token, create)
	require.Equal(t, http.StatusCreated, code, "body: %v", body)
	code, body = call(t, http.MethodPost, base+"/crm/v3/properties/contacts", token,
		map[string]any{"name": "shoe_size", "label": "Shoe size", "type": "number"})
	require.Equal(t, http.StatusCreated, code, "the user keeps schema; body: %v", body)
}

// TestEmailSaltRequired starts every process on a real Redis without a salt, and with a salt
// other than the one the Redis was first used with: each refuses to start, saying what the salt
// is for and how to set it. It runs on a redis-server of its own, whose salt fingerprint it sets.
func TestEmailSaltRequired(t *testing.T) {
	t.Parallel()
	srv, err := redistest.StartServer("")
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	url := srv.URL
	commands := [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"worker", "--admin-addr", "127.0.0.1:0"},
		{"scheduler", "--admin-addr", "127.0.0.1:0"},
		{"run", "--addr", "127.0.0.1:0"},
		{"purge", "--dry-run"},
		{"admin", "tenant", "list"},
		{"admin", "user", "list", "acme"},
		{"demo", "--redis", url},
	}

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		for _, args := range commands {
			stdout, stderr, code := crmflow(t, []string{"CRMFLOW_EMAIL_SALT=", "REDIS_URL=" + url}, args...)
			require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", args, stderr)
			require.Empty(t, stdout, "crmflow %v", args)
			require.Contains(t, stderr, "CRMFLOW_EMAIL_SALT", "crmflow %v", args)
			require.Contains(t, stderr, "openssl rand -hex 32", "crmflow %v", args)
			require.Contains(t, stderr, "erased", "crmflow %v", args)
		}
	})

	t.Run("WeakOnANewRedis", func(t *testing.T) {
		t.Parallel()
		// A Redis of its own, with no salt fingerprint yet: the first process would keep the salt
		// it was given for good.
		fresh, err := redistest.StartServer("")
		require.NoError(t, err)
		t.Cleanup(fresh.Stop)
		rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", fresh.Port)})
		t.Cleanup(func() { _ = rdb.Close() })
		for _, salt := range []string{
			"change-me-to-the-output-of-openssl-rand-hex-32", // crmflow.env as installed
			"...",     // the documentation's export CRMFLOW_EMAIL_SALT=...
			"s3cret!", // too short to be a secret
		} {
			for _, args := range commands {
				if args[0] == "demo" {
					args = []string{"demo", "--redis", fresh.URL}
				}
				stdout, stderr, code := crmflow(t, []string{"CRMFLOW_EMAIL_SALT=" + salt, "REDIS_URL=" + fresh.URL}, args...)
				require.Equal(t, exitUsage, code, "crmflow %v with salt %q\nstderr:\n%s", args, salt, stderr)
				require.Empty(t, stdout, "crmflow %v", args)
				require.Contains(t, stderr, "openssl rand -hex 32", "crmflow %v", args)
				require.Contains(t, stderr, "nothing was stored", "crmflow %v", args)
				keys, err := rdb.Keys(t.Context(), "*").Result()
				require.NoError(t, err)
				require.Empty(t, keys, "crmflow %v with salt %q changed the Redis", args, salt)
			}
		}
		// A real salt is taken, and from then on a weak one is only another salt.
		_, stderr, code := crmflow(t, []string{"REDIS_URL=" + fresh.URL, "CRMFLOW_EMAIL_SALT=" + strings.Repeat("5e", 32)}, "admin", "tenant", "list")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
		_, stderr, code = crmflow(t, []string{"REDIS_URL=" + fresh.URL, "CRMFLOW_EMAIL_SALT=..."}, "admin", "tenant", "list")
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "is not the one this Redis was first used with")

		// A Redis first used with a short salt, before short salts were refused, keeps working.
		require.NoError(t, rdb.Set(t.Context(), redisstore.SaltFingerprintKey(), crm.SaltFingerprint("s3cret!"), 0).Err())
		_, stderr, code = crmflow(t, []string{"REDIS_URL=" + fresh.URL, "CRMFLOW_EMAIL_SALT=s3cret!"}, "admin", "tenant", "list")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
	})

	t.Run("Mismatch", func(t *testing.T) {
		t.Parallel()
		// The first process stores the fingerprint of its salt.
		b := &testBundle{redisURL: url}
		_, _, code := crmflow(t, []string{"CRMFLOW_EMAIL_SALT=the-deployments-salt"}, "admin", "tenant", "list", "--redis", url)
		require.Equal(t, 0, code)
		for _, args := range commands {
			_, stderr, code := crmflow(t, []string{"CRMFLOW_EMAIL_SALT=a-mistyped-salt", "REDIS_URL=" + url}, args...)
			require.Equal(t, exitUsage, code, "crmflow %v\nstderr:\n%s", args, stderr)
			require.Contains(t, stderr, "is not the one this Redis was first used with", "crmflow %v", args)
			require.NotContains(t, stderr, "a-mistyped-salt", "the salt is a secret")
			require.NotContains(t, stderr, "white space", "crmflow %v", args)
		}
		// The deployment's salt with the newline a file kept: the refusal says what differs.
		_, stderr, code := crmflow(t, []string{"CRMFLOW_EMAIL_SALT=the-deployments-salt\n", "REDIS_URL=" + url}, "admin", "tenant", "list")
		require.Equal(t, exitUsage, code, "stderr:\n%s", stderr)
		require.Contains(t, stderr, "This salt has white space at its start or end (a newline kept from a file, say) and, without it, is the Redis's: remove the white space.")
		require.NotContains(t, stderr, "the-deployments-salt", "the salt is a secret")
		// The right salt still works, by flag as by variable.
		_, stderr, code = crmflow(t, []string{"CRMFLOW_EMAIL_SALT="}, "admin", "tenant", "list", "--redis", b.redisURL,
			"--email-salt", "the-deployments-salt")
		require.Equal(t, 0, code, "stderr:\n%s", stderr)
	})
}
