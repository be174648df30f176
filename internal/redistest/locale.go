package redistest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Locale compiles the glibc locale name ("en_US.UTF-8": the sources' name, a dot, the charmap)
// into a temporary directory with localedef, and returns the environment entries under which a
// process started with them (StartServerEnv) uses it whatever the machine has installed: LOCPATH
// and LC_ALL. Redis applies the locale's collation to Lua's comparison of strings. It fails the
// test, saying what to install, when localedef or the locale's sources are missing.
func Locale(t testing.TB, name string) []string {
	t.Helper()
	source, charmap, ok := strings.Cut(name, ".")
	if !ok {
		t.Fatalf("locale %q: want the sources' name, a dot and the charmap, as en_US.UTF-8", name)
	}
	bin, err := exec.LookPath("localedef")
	if err != nil {
		t.Fatalf("localedef not found on PATH: it compiles the %s locale a test runs a redis-server under.\n"+
			"Install it with the locale sources (Debian/Ubuntu: sudo apt-get install -y locales)", name)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "-i", source, "-f", charmap, filepath.Join(dir, name)).CombinedOutput()
	// localedef exits 1 after warnings yet writes the locale: the compiled collation is what counts.
	if _, statErr := os.Stat(filepath.Join(dir, name, "LC_COLLATE")); statErr != nil {
		t.Fatalf("localedef -i %s -f %s could not compile the locale (%v): %s\n"+
			"Install the locale sources (Debian/Ubuntu: sudo apt-get install -y locales)", source, charmap, err, out)
	}
	return []string{"LOCPATH=" + dir, "LC_ALL=" + name}
}
