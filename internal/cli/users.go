package cli

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/auth"
)

// usersUsage is the help of kinko users.
func usersUsage() string {
	return `Usage:
  kinko users disable [--db DB] --email EMAIL

Portal users (buyers and sellers) sign themselves up. disable shuts one out:
they can no longer sign in, and a session of theirs that is open (a stolen
one, say) ends on its next request.`
}

// runUsers dispatches kinko users disable.
func runUsers(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(e.stderr, usersUsage())
		if len(args) == 0 {
			return exitError{exitUsage}
		}
		return nil
	}
	if args[0] != "disable" {
		return usageError("unknown subcommand %q; there is: disable", args[0])
	}
	fs := newFlagSet(e, "users disable")
	db := dbFlag(fs, e)
	email := fs.String("email", "", "the user's email (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageError("users disable: --email is required")
	}
	st, _, err := openStore(ctx, *db)
	if err != nil {
		return fmt.Errorf("users disable: %w", err)
	}
	defer st.Close()
	u, err := auth.NewUserService(st, nil).DisableUserByEmail(ctx, *email)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stderr, "user %s (%s) disabled; they can no longer sign in, and their open sessions end\n", u.ID, u.Email)
	return nil
}
