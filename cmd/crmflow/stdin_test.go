package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crmflowStdin runs crmflow with args, the extra environment and stdin, and returns its output and
// exit code.
func crmflowStdin(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = testEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestFilesFromStdin: "-" as a file reads stdin, for validate, apply, preview and protect apply,
// as in `generate | crmflow apply -f -`; the file is named <stdin> in what they print.
func TestFilesFromStdin(t *testing.T) {
	t.Parallel()
	const wf = "name: tidy-leads\nobject_type: contacts\ntrigger: lifecyclestage == \"lead\"\nactions:\n  - type: delete_contact\n"

	stdout, stderr, code := crmflowStdin(t, nil, wf, "validate", "-")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, "<stdin>: ok\n", stdout)
	stdout, stderr, code = crmflowStdin(t, nil, deleteCompaniesYAML, "validate", "-")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, "<stdin>:6:11: actions[0]: delete_contact exists only for contact workflows: this workflow's object_type is companies\n", stdout)

	b, tenant, ctl := opsServe(t)

	stdout, stderr, code = crmflowStdin(t, ctl, deleteCompaniesYAML, "apply", "-f", "-")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.True(t, strings.HasPrefix(stdout, "<stdin>:6:11: "), "stdout:\n%s", stdout)
	stdout, stderr, code = crmflowStdin(t, ctl, wf, "apply", "-f", "-")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, "tidy-leads: created revision 1\n", stdout)
	stdout, stderr, code = crmflowStdin(t, ctl, wf, "preview", "-")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "tidy-leads: 0 of 0 live contacts match now")

	stdout, stderr, code = crmflowStdin(t, ctl, "- name: customers\n  objectType: contacts\n  when: lifecyclestage == \"customer\"\n",
		"protect", "apply", "-f", "-")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, "customers: created (contacts)\n", stdout)
	rules, err := b.store.ProtectionRules(b.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, rules, 1)
}
