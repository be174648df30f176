// Command crmflow is the crmflow binary: the HTTP API (serve), the background worker (worker) and
// its cron scheduler (scheduler), all roles in one process (run), the operator's commands on the
// store (admin, purge) and on the API (delete, jobs), and version.
//
// Run `crmflow --help` for the commands, or see README.md.
package main

import (
	"context"
	"os"

	"github.com/redis/go-redis/v9"
)

func main() {
	redis.SetLogger(redisLogger{}) // go-redis logs through the command's slog logger
	os.Exit(execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv, os.Environ))
}
