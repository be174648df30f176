package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hubspotNodeDir holds the compatibility suite that drives crmflow with HubSpot's official Node
// client: package.json and package-lock.json pin @hubspot/api-client, compat.js is the suite.
var hubspotNodeDir = filepath.Join("testdata", "hubspot-node")

// TestHubSpotNodeClient runs compat.js, HubSpot's official Node client used unchanged, against a
// crmflow server started as the README says. It needs node and npm; it runs npm ci in
// testdata/hubspot-node when the client is not installed there yet.
func TestHubSpotNodeClient(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not installed: the HubSpot compatibility suite needs Node.js (20 or later) "+
		"(apt-get install nodejs npm), then run the test again")
	installNodeModules(t)

	b := setup(t)
	b.admin(t, "tenant", "create", b.tenant, "--plan", "professional")
	b.admin(t, "user", "create", b.tenant, "ops@example.com", "--perms", "all")
	token, _ := b.admin(t, "token", "create", b.tenant, "ops@example.com")
	b.admin(t, "user", "create", b.tenant, "reader@example.com", "--perms", "read")
	readToken, _ := b.admin(t, "token", "create", b.tenant, "reader@example.com")

	addr := freeAddr(t)
	base := "http://" + addr
	p := start(t, nil, "serve", "--addr", addr, "--redis", b.redisURL, "--log-format", "json")
	waitReady(t, p, base)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "compat.js")
	cmd.Dir = hubspotNodeDir
	cmd.Env = append(os.Environ(), "CRMFLOW_URL="+base, "CRMFLOW_TOKEN="+strings.TrimSpace(token),
		"CRMFLOW_READ_TOKEN="+strings.TrimSpace(readToken))
	out, err := cmd.CombinedOutput()
	t.Logf("node compat.js:\n%s", out)
	require.NoError(t, err, "HubSpot's Node client failed against crmflow (the FAIL line says where):\n%s\nserver log:\n%s", out, p.stderr)
	require.Contains(t, string(out), " passed, 0 failed")
}

// installNodeModules runs npm ci in hubspotNodeDir unless it completed there for the lock file as
// it is now: a marker in node_modules holds the lock file's hash, written after npm ci succeeded,
// so an interrupted install or a changed lock file installs again.
func installNodeModules(t *testing.T) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(hubspotNodeDir, "package-lock.json"))
	require.NoError(t, err)
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	marker := filepath.Join(hubspotNodeDir, "node_modules", ".crmflow-installed")
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return
	}
	npm, err := exec.LookPath("npm")
	require.NoError(t, err, "npm is not installed and %s/node_modules is missing: install npm (apt-get install npm), "+
		"or run npm ci in %s, then run the test again", hubspotNodeDir, hubspotNodeDir)
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = hubspotNodeDir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci in %s failed (it needs the npm registry): %s", hubspotNodeDir, out)
	require.NoError(t, os.WriteFile(marker, []byte(want), 0o644))
}
