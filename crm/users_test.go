package crm

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnableUserCommandIsOneShellWord: the command a message tells an admin to paste names the
// user as one word of a shell command line, whatever the address holds (an apostrophe, a dollar
// sign, a space: all valid in an email's quoted local part).
func TestEnableUserCommandIsOneShellWord(t *testing.T) {
	t.Parallel()
	require.Equal(t, "crmflow admin user enable acme ops@acme.example", EnableUserCommand("acme", "ops@acme.example"))
	for _, email := range []string{"o'brien@acme.example", "$HOME@acme.example", "a b@acme.example", "`x`@acme.example", "x;y@acme.example"} {
		cmd := EnableUserCommand("acme", email)
		args, found := strings.CutPrefix(cmd, "crmflow admin user enable acme ")
		require.True(t, found, cmd)
		// The shell reads the word back as the address itself.
		out, err := exec.Command("sh", "-c", `printf '%s' `+args).Output()
		require.NoError(t, err, cmd)
		require.Equal(t, email, string(out), cmd)
	}
}
