package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
)

// staffUsage is the help of kinko staff.
func staffUsage() string {
	return `Usage:
  kinko staff create   [--db DB] --email EMAIL --name NAME --role ROLE [--password-stdin]
  kinko staff list     [--db DB]
  kinko staff role     [--db DB] --email EMAIL --role ROLE
  kinko staff password [--db DB] --email EMAIL [--password-stdin]
  kinko staff disable  [--db DB] --email EMAIL

Staff users are the operator's people who sign in to the console. Roles: ` + joinRoles() + `.
create and password print a new random password alone on stdout (shown only
then) unless --password-stdin reads one from the first line of stdin
(` + fmt.Sprint(auth.PasswordBytesMin) + ` to ` + fmt.Sprint(auth.PasswordBytesMax) + ` bytes). Passwords are stored only as argon2id hashes.
Every change is written to the audit log (kinko audit list --subject staff_user:ID).`
}

func joinRoles() string {
	out := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

// runStaff dispatches kinko staff create|list|role|password|disable.
func runStaff(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(e.stderr, staffUsage())
		if len(args) == 0 {
			return exitError{exitUsage}
		}
		return nil
	}
	switch args[0] {
	case "create":
		return runStaffCreate(ctx, e, args[1:])
	case "list":
		return runStaffList(ctx, e, args[1:])
	case "role":
		return runStaffRole(ctx, e, args[1:])
	case "password":
		return runStaffPassword(ctx, e, args[1:])
	case "disable":
		return runStaffDisable(ctx, e, args[1:])
	}
	return usageError("unknown subcommand %q; there are: create, list, role, password, disable", args[0])
}

// openStaff opens the store db names (migrating it) and the staff service on
// it. The service records every change it makes, by cliActor, in the
// change's own transaction.
func openStaff(ctx context.Context, db string) (*auth.StaffService, func() error, error) {
	st, _, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewStaffService(st, nil), st.Close, nil
}

// readPassword returns the first line of stdin when fromStdin, else a fresh
// random password and true (the caller prints it).
func readPassword(e env, fromStdin bool) (string, bool, error) {
	if !fromStdin {
		return auth.NewPassword(), true, nil
	}
	if e.stdin == nil {
		return "", false, usageError("--password-stdin: stdin is empty")
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, auth.PasswordBytesMax+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", false, fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

func runStaffCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "staff create")
	db := dbFlag(fs, e)
	email := fs.String("email", "", "the user's email, their sign-in name (required)")
	name := fs.String("name", "", "the user's name (required)")
	role := fs.String("role", "", "one of "+joinRoles()+" (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of generating one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" || *name == "" || *role == "" {
		return usageError("staff create: --email, --name and --role are required")
	}
	password, generated, err := readPassword(e, *fromStdin)
	if err != nil {
		return err
	}
	svc, closeStore, err := openStaff(ctx, *db)
	if err != nil {
		return fmt.Errorf("staff create: %w", err)
	}
	defer closeStore()
	u, err := svc.CreateStaffUser(ctx, cliActor, auth.StaffUserParams{Email: *email, Name: *name, Role: auth.Role(*role), Password: password})
	if err != nil {
		return describe(err)
	}
	if generated {
		fmt.Fprintln(e.stdout, password)
		fmt.Fprintf(e.stderr, "created staff user %s (%s) with role %s; the password above is shown only now\n", u.ID, u.Email, u.Role)
	} else {
		fmt.Fprintf(e.stderr, "created staff user %s (%s) with role %s\n", u.ID, u.Email, u.Role)
	}
	return nil
}

func runStaffList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "staff list")
	db := dbFlag(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	svc, closeStore, err := openStaff(ctx, *db)
	if err != nil {
		return fmt.Errorf("staff list: %w", err)
	}
	defer closeStore()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED\tDISABLED\tNAME")
	for after := ""; ; {
		users, err := svc.FindStaffUsers(ctx, after, auth.StaffPageLimitMax)
		if err != nil {
			return describe(err)
		}
		for _, u := range users {
			disabled := "-"
			if !u.DisabledAt.IsZero() {
				disabled = u.DisabledAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.CreatedAt.Format(time.RFC3339), disabled, u.Name)
		}
		if len(users) < auth.StaffPageLimitMax {
			break
		}
		after = users[len(users)-1].ID
	}
	return tw.Flush()
}

func runStaffRole(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "staff role")
	db := dbFlag(fs, e)
	email := fs.String("email", "", "the user's email (required)")
	role := fs.String("role", "", "one of "+joinRoles()+" (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" || *role == "" {
		return usageError("staff role: --email and --role are required")
	}
	svc, closeStore, err := openStaff(ctx, *db)
	if err != nil {
		return fmt.Errorf("staff role: %w", err)
	}
	defer closeStore()
	u, err := svc.SetStaffRole(ctx, cliActor, *email, auth.Role(*role))
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stderr, "staff user %s (%s) now has role %s\n", u.ID, u.Email, u.Role)
	return nil
}

func runStaffPassword(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "staff password")
	db := dbFlag(fs, e)
	email := fs.String("email", "", "the user's email (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of generating one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError("staff password: --email is required")
	}
	password, generated, err := readPassword(e, *fromStdin)
	if err != nil {
		return err
	}
	svc, closeStore, err := openStaff(ctx, *db)
	if err != nil {
		return fmt.Errorf("staff password: %w", err)
	}
	defer closeStore()
	if err := svc.SetStaffPassword(ctx, cliActor, auth.StaffPasswordParams{Email: *email, Password: password, Generated: generated}); err != nil {
		return describe(err)
	}
	if generated {
		fmt.Fprintln(e.stdout, password)
	}
	fmt.Fprintf(e.stderr, "password of %s replaced\n", strings.ToLower(*email))
	return nil
}

func runStaffDisable(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "staff disable")
	db := dbFlag(fs, e)
	email := fs.String("email", "", "the user's email (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError("staff disable: --email is required")
	}
	svc, closeStore, err := openStaff(ctx, *db)
	if err != nil {
		return fmt.Errorf("staff disable: %w", err)
	}
	defer closeStore()
	u, err := svc.DisableStaffUser(ctx, cliActor, *email)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stderr, "staff user %s (%s) disabled at %s; they can no longer sign in\n", u.ID, u.Email, u.DisabledAt.Format(time.RFC3339))
	return nil
}
