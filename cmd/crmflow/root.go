package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitUsage is the exit code of a command line or configuration that can never work as given.
const exitUsage = 2

// exitError is an error with the process exit code it calls for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that exits with exitUsage.
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// app is what every command shares: the configuration its flags fill, the output streams and
// the environment.
type app struct {
	cfg       Config
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	// environ lists the environment as KEY=VALUE, to warn of crmflow variables no command reads;
	// nil checks nothing.
	environ func() []string
	// fromEnv names the flags that were set from the environment, with their variables.
	fromEnv map[string]string
	// retentionSetting is the command's --retention, nil for a command without one (see
	// settleRetention); purgeRetention says the command is purge, which never stores a retention.
	retentionSetting *pflag.Flag
	purgeRetention   bool
	// logger is built from the flags before any command runs.
	logger *slog.Logger
	// stdinSrc is what a file named "-" read from stdin, read once (stdinRead) however many
	// times the command reads that file.
	stdinSrc  []byte
	stdinRead bool
	// started is set by a long-running command once its roles run: a signal before that stopped
	// it while it was starting.
	started bool
}

// roleAnnotation marks the long-running commands (serve, worker, scheduler, run): a signal is
// how they are told to stop, so a clean shutdown after one exits 0, and a failed one 1.
const roleAnnotation = "crmflow-role"

// signalCause is the cause of the command's context when a signal ended it.
type signalCause struct{ sig syscall.Signal }

func (c signalCause) Error() string { return c.sig.String() + " signal received" }

// name is the signal's name as kill(1) and systemd give it: SIGTERM, SIGINT.
func (c signalCause) name() string {
	switch c.sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return c.sig.String()
}

// execute runs the command line args and returns the process exit code: 0, 1 for a failure,
// exitUsage for a command line or configuration that can never work, and 128 + the signal's
// number (130 for SIGINT, 143 for SIGTERM) for a command other than a long-running role that a
// signal stopped before it was done. SIGINT and SIGTERM cancel the context; a second signal kills
// the process at once. A long-running role ignores SIGHUP, with a warning: it reloads nothing,
// and a hangup (a closed terminal, a reload sent by habit) must not stop it without its graceful
// shutdown; a role stopped by a signal while it was starting exits 0, as a graceful shutdown.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool), environ func() []string) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	a := &app{stdin: os.Stdin, stdout: stdout, stderr: stderr, lookupEnv: lookupEnv, environ: environ}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	hups := make(chan os.Signal, 1)
	if c, _, err := root.Find(args); err == nil && c.Annotations[roleAnnotation] != "" {
		signal.Notify(hups, syscall.SIGHUP)
		defer signal.Stop(hups)
	}
	go func() {
		for {
			select {
			case <-hups:
				if l := redisLog.Load(); l != nil {
					l.Warn("SIGHUP ignored: crmflow reloads no configuration; restart the process to apply a change " +
						"(systemctl restart), or send SIGTERM to stop it")
				}
			case s := <-sigs:
				// From here on, a second signal has its default effect: the process ends at once.
				signal.Stop(sigs)
				sig, _ := s.(syscall.Signal)
				cancel(signalCause{sig})
			case <-ctx.Done():
				return
			}
		}
	}()

	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var sc signalCause
	if cmd != nil && cmd.Annotations[roleAnnotation] != "" && !a.started && errors.As(context.Cause(ctx), &sc) && errors.Is(err, context.Canceled) {
		// A role stopped while it was starting (dialling Redis, checking it): nothing was running
		// yet, so it stopped as asked.
		fmt.Fprintf(stderr, "crmflow: %s received while %s was starting: stopped before it started\n", sc.name(), cmd.CommandPath())
		return 0
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// A signal while a request awaited its answer: the request may have been carried out.
		err = errors.New("interrupted before the answer came: what the command asked for may or may not have been done; " +
			"check (crmflow operations list, crmflow workflows list, crmflow bin list) before running it again")
	}
	fmt.Fprintf(stderr, "crmflow: %v\n", err)
	if errors.As(context.Cause(ctx), &sc) && (cmd == nil || cmd.Annotations[roleAnnotation] == "") {
		return 128 + int(sc.sig)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// counted is n and noun, the noun in the plural unless n is 1: "1 record", "3 records". The
// plural is the noun and an s, as of every noun the commands count.
func counted[N int | int64](n N, noun string) string {
	return strconv.FormatInt(int64(n), 10) + " " + plural(n, noun)
}

// plural is noun, in the plural unless n is 1: "id" for one id, "ids" for 0 or 2.
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// stdinName is how a file given as "-", read from stdin, is named in messages.
const stdinName = "<stdin>"

// fileName is how the file given as path is named in messages: stdinName for "-".
func fileName(path string) string {
	if path == "-" {
		return stdinName
	}
	return path
}

// readFile reads the file given as path on the command line: stdin when it is "-" (read once,
// however many times it is asked for), else the named file.
func (a *app) readFile(path string) ([]byte, error) {
	if path != "-" {
		src, err := os.ReadFile(path)
		if errors.Is(err, syscall.EISDIR) {
			return nil, fmt.Errorf("%s is a directory: give the files in it, e.g. %s", path, filepath.Join(path, "*.yaml"))
		}
		return src, err
	}
	if !a.stdinRead {
		src, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stdinName, err)
		}
		a.stdinSrc, a.stdinRead = src, true
	}
	return a.stdinSrc, nil
}

func newRootCmd(a *app) *cobra.Command {
	root := group("crmflow", "Multi-tenant CRM workflow automation: the API, the operator's commands and the zero-setup mode")
	root.Long = `crmflow is a multi-tenant CRM with workflow automation, stored in Redis.

Start here:
  crmflow demo                                   a scripted tour of workflows and the recycle bin, zero setup
  crmflow run                                    every role in one process on a throwaway in-process Redis
  crmflow serve --redis redis://HOST:6379/0      the HTTP API on a real Redis
  crmflow worker --redis redis://HOST:6379/0     the background tasks (bulk deletes, purges, emails)
  crmflow scheduler --redis redis://HOST:6379/0  the cron entries that enqueue purges and sweeps
  crmflow admin tenant create acme --plan professional --redis redis://HOST:6379/0

Operators' commands on the store: admin, purge. Offline: validate. On the API (CRMFLOW_URL,
CRMFLOW_TOKEN): apply, workflows, preview, delete, jobs, undo, operations, bin, erase, audit, protect.

Flags may also come from the environment (the variable is named in each flag's help);
a flag on the command line wins.`
	root.Version = buildVersion().String()
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// On a group, an unknown subcommand followed by its flags ("crmflow restore --type
		// contacts") fails on the flags first: the unknown subcommand is what to say.
		if c.HasSubCommands() && c.Args != nil && len(c.Flags().Args()) > 0 {
			if aerr := c.Args(c, c.Flags().Args()); aerr != nil {
				return aerr
			}
		}
		return usageErrorf("%w\nRun '%s --help' for usage", err, c.CommandPath())
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := restoreDefaults(cmd.Flags()); err != nil {
			return err
		}
		fromEnv, err := applyEnv(cmd.Flags(), a.lookupEnv)
		if err != nil {
			return err
		}
		a.fromEnv = fromEnv
		a.retentionSetting = cmd.Flags().Lookup("retention")
		if a.logger, err = a.cfg.logger(a.stderr); err != nil {
			return err
		}
		redisLog.Store(a.logger)
		a.warnUnknownEnv(cmd.Root())
		return nil
	}

	pf := root.PersistentFlags()
	pf.StringVar(&a.cfg.LogFormat, "log-format", "text", "log line format: text or json")
	bindEnv(pf, "log-format", "CRMFLOW_LOG_FORMAT")
	pf.StringVar(&a.cfg.LogLevel, "log-level", "info", "lowest level logged: debug, info, warn or error")
	bindEnv(pf, "log-level", "CRMFLOW_LOG_LEVEL")

	root.AddCommand(newServeCmd(a), newWorkerCmd(a), newSchedulerCmd(a), newRunCmd(a), newPurgeCmd(a), newAdminCmd(a),
		newDeleteCmd(a), newJobsCmd(a), newUndoCmd(a), newOperationsCmd(a), newProtectCmd(a), newVersionCmd(a),
		newValidateCmd(a), newApplyCmd(a), newWorkflowsCmd(a), newPreviewCmd(a), newDemoCmd(a), newBenchCmd(a),
		newBinCmd(a), newEraseCmd(a), newAuditCmd(a))
	return root
}

// otherEnv are the crmflow variables that set no flag: the secrets read from the environment only,
// and the knobs of the tests and benchmarks.
var otherEnv = []string{"CRMFLOW_TOKEN", "SMTP_PASSWORD", "CRMFLOW_BENCH_RECORDS", "CRMFLOW_TEST_SCALE_CONTACTS",
	"CRMFLOW_FAULT_SEED", "CRMFLOW_TRIGGER_N", "CRMFLOW_SCREENSHOTS", "CRMFLOW_CHROMIUM"}

// warnUnknownEnv logs a warning for each CRMFLOW_ or SMTP_ variable of the environment that no
// command of root reads: a misspelt one (CRMFLOW_CONCURENCY) would otherwise be ignored without a
// word, and its flag keep its default. A warning, not a refusal: an environment file may be
// written for a later version.
func (a *app) warnUnknownEnv(root *cobra.Command) {
	if a.environ == nil {
		return
	}
	known := map[string]bool{}
	for _, v := range otherEnv {
		known[v] = true
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				for _, v := range f.Annotations[envAnnotation] {
					known[v] = true
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, kv := range a.environ() {
		name, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(name, "CRMFLOW_") || strings.HasPrefix(name, "SMTP_")) && !known[name] {
			a.logger.Warn("environment variable "+name+" is set but no crmflow command reads it: check its name "+
				"(each flag's --help names its variable)", "variable", name)
		}
	}
}

// restoreDefaults gives every flag of fs not set on the command line its own default back. The
// commands fill one Config, so a field that two commands define with different defaults (serve's
// --addr and run's, the worker's --admin-addr and the scheduler's) holds, once the command tree is
// built, the default of the command defined last.
func restoreDefaults(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Value.String() == f.DefValue {
			return
		}
		if err := f.Value.Set(f.DefValue); err != nil {
			errs = append(errs, fmt.Errorf("default of --%s: %w", f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// group returns a command that only holds subcommands. Run bare, it prints its help; an unknown
// subcommand is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if hint, ok := cmd.Annotations[unknownHint+args[0]]; ok {
				msg += ": " + hint
			} else if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			} else if s := elsewhere(cmd.Root(), args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageErrorf("%s\nRun '%s --help' for usage", msg, cmd.CommandPath())
		},
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	c.AddCommand(subs...)
	return c
}

// unknownHint prefixes the annotation of a group that says what to run instead of the
// subcommand the rest of its key names, which does not exist but may be expected ("jobs list").
const unknownHint = "unknown-command-hint:"

// maxElsewhere is how many commands of one name elsewhere in the tree elsewhere names at most: a
// name as common as list would name too many to help.
const maxElsewhere = 3

// elsewhere returns the full paths of the commands named name (or aliased so) anywhere under root,
// quoted, as suggestions for an unknown command that is one of another group ("crmflow reindex"
// for "crmflow admin reindex"); none when more than maxElsewhere are.
func elsewhere(root *cobra.Command, name string) []string {
	var found []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || !sub.IsAvailableCommand() && !sub.HasAvailableSubCommands() {
				continue
			}
			if sub.Name() == name || sub.HasAlias(name) {
				found = append(found, strconv.Quote(sub.CommandPath()))
			}
			walk(sub)
		}
	}
	walk(root)
	if len(found) > maxElsewhere {
		return nil
	}
	return found
}

// filesWithF is the cobra.PositionalArgs of a command that takes its file with -f only (several
// when many): a file given without -f is a usage error that shows it with -f.
func filesWithF(many bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return nil
		case len(args) > 1 && !many:
			return usageErrorf("%s takes one file, given with -f, got %q\nUsage: %s", cmd.CommandPath(), args, cmd.UseLine())
		}
		with := make([]string, len(args))
		for i, f := range args {
			with[i] = "-f " + f
		}
		return usageErrorf("%s takes a file after -f: give %s\nUsage: %s", cmd.CommandPath(), strings.Join(with, " "), cmd.UseLine())
	}
}

// exactArgs is a cobra.PositionalArgs that wants the named arguments, with a usage error that
// names the missing or extra ones.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s needs %s\nUsage: %s", cmd.CommandPath(), strings.Join(names[len(args):], " and "), cmd.UseLine())
		case len(args) > len(names) && len(names) == 0:
			return usageErrorf("%s takes no arguments, got %q\nUsage: %s", cmd.CommandPath(), args, cmd.UseLine())
		case len(args) > len(names):
			return usageErrorf("%s takes %s, got extra %q\nUsage: %s", cmd.CommandPath(), counted(len(names), "argument"), args[len(names):], cmd.UseLine())
		}
		return nil
	}
}
