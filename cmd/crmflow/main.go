// Command crmflow is the crmflow binary: the HTTP API (serve), the operator's commands (admin),
// all roles in one process on a throwaway store (run), and version.
//
// Run `crmflow --help` for the commands, or see README.md.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}
