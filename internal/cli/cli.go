// Package cli is the kinko command line: one file per subcommand (serve,
// migrate, verify, bench, keys, staff, audit). It reads flags and the
// environment, opens the store that --db names and calls the domain packages.
// It holds no business rules, and nothing else in Kinko may import it:
// cmd/kinko is its only caller.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes of every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed, or found what it looks for (verify: violations)
	exitUsage   = 2 // bad flags or arguments
)

// errUsage marks an error that is the caller's misuse; Main exits with exitUsage.
var errUsage = errors.New("usage")

// usageError returns an error that makes Main print msg and exit with exitUsage.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// exitError ends a command with a given exit code after it has already said why.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// env is what a subcommand may touch of the process: its streams and
// environment. Tests pass their own; a nil stdin reads as empty.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP server and the ledger engine", runServe},
		{"migrate", "apply database migrations", runMigrate},
		{"verify", "check every ledger invariant and the audit log's chain; exit 1 on any violation", runVerify},
		{"bench", "measure throughput (bench ledger|api|webhooks|billing)", runBench},
		{"accounts", "create, read and list accounts through the API (accounts create|get|list|balance)", runAccounts},
		{"transfers", "create, read, post and void transfers through the API (transfers create|get|post|void)", runTransfers},
		{"deals", "escrow deals through the API (deals create|get|list|timeline|accept|ship|approve|…)", runDeals},
		{"deposits", "record, import (bank statements), list and clear escrow deposits through the API (operator key)", runDeposits},
		{"payouts", "payout batches through the API (payouts build|list|get|file|settle|return|balance; operator key)", runPayouts},
		{"bank-accounts", "register and read sellers' bank accounts through the API (bank-accounts set|get)", runBankAccounts},
		{"orgs", "create organizations and manage their portal members (orgs create|members add|remove|list)", runOrgs},
		{"keys", "create, list and revoke API keys (keys create|list|revoke)", runKeys},
		{"staff", "manage the operator's staff users and their roles (staff create|list|role|password|disable)", runStaff},
		{"users", "shut a portal user out (users disable)", runUsers},
		{"audit", "read the audit log of staff and product actions (audit list); kinko verify checks its chain", runAudit},
	}
}

// Main runs the kinko command line with args (without the program name) and
// returns the process exit code. ctx ends the command early, e.g. on SIGTERM.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		printUsage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(e, name, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(e.stderr, "kinko: unknown command %q\n\n", name)
	printUsage(e.stderr)
	return exitUsage
}

// exitCode reports err on stderr and maps it to an exit code.
func exitCode(e env, name string, err error) int {
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "kinko %s: %s\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "kinko %s: %v\n", name, err)
		return exitFailure
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: kinko <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Every command takes --db (env KINKO_DB): a SQLite file path (default ./kinko.db)`)
	fmt.Fprintln(w, `or a postgres:// URL. Run "kinko <command> -h" for its flags.`)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("kinko "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses args and rejects positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// The flag package has already printed the problem and the usage.
		return exitError{exitUsage}
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseArgs parses args, whose flags may come before, between or after the
// positional arguments (kinko payouts return ID ITEM --reason …), and
// returns the positional ones: exactly one per name, or a usage error
// naming them. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, exitError{exitUsage} // the flag package has printed why
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) != len(names) {
		return nil, usageError("want %d argument(s): %s; got %d", len(names), strings.Join(names, " "), len(pos))
	}
	return pos, nil
}

// envOr returns the environment variable key, or def when it is unset or empty.
// secretFlag registers a string flag whose value comes from the flag, else
// from the environment variable env, else def, and whose usage shows def
// only: never the environment's value, which may be an API key or a URL
// with a password, printed by a mistyped flag into a CI log.
func secretFlag(fs *flag.FlagSet, e env, name, env, def, usage string) *string {
	v := &secretValue{s: envOr(e, env, def), shown: def}
	fs.Var(v, name, usage)
	return &v.s
}

// secretValue is secretFlag's flag.Value. Its zero value prints "", so
// flag's usage treats it as having no default, and a set one prints its
// built-in default, not what it holds.
type secretValue struct{ s, shown string }

func (v *secretValue) String() string {
	if v == nil {
		return ""
	}
	return v.shown
}

func (v *secretValue) Set(s string) error { v.s = s; return nil }

func envOr(e env, key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}
