package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time, for example
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/crmflow
//
// When empty, they come from the build information the Go toolchain embeds (the module version
// of `go install ...@vX`, the VCS revision of a build inside a checkout).
var (
	version string
	commit  string
)

// versionInfo is what `crmflow version` reports.
type versionInfo struct {
	Version string
	Commit  string
	Go      string
}

// String returns the one-line form used by --version.
func (v versionInfo) String() string {
	return fmt.Sprintf("crmflow %s (commit %s, %s)", v.Version, v.Commit, v.Go)
}

// buildVersion combines the -ldflags variables with the embedded build information.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		if v.Commit == "" {
			var rev, modified string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value
				}
			}
			if rev != "" && modified == "true" {
				rev += "-dirty"
			}
			v.Commit = rev
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the Go version of this binary",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			v := buildVersion()
			_, err := fmt.Fprintf(a.stdout, "version  %s\ncommit   %s\ngo       %s\n", v.Version, v.Commit, v.Go)
			return err
		},
	}
}
