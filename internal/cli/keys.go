package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// keysUsage is the help of kinko keys.
func keysUsage() string {
	return `Usage:
  kinko keys create [--db DB] [--org ORG_ID] --scopes LIST [--name NAME]
  kinko keys list   [--db DB] [--org ORG_ID]
  kinko keys revoke [--db DB] --org ORG_ID KEY_ID

Without --org, create and list act on the operator's organization (` + auth.OperatorOrgID + `).
create prints the new secret alone on stdout; it is shown only then.
Scopes: admin (operator only), or <family>:read|write with family one of
  ` + strings.Join(auth.Families, ", ") + `.
Run "kinko keys <subcommand> -h" for its flags.`
}

// runKeys dispatches kinko keys create|list|revoke.
func runKeys(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(e.stderr, keysUsage())
		if len(args) == 0 {
			return exitError{exitUsage}
		}
		return nil
	}
	switch args[0] {
	case "create":
		return runKeysCreate(ctx, e, args[1:])
	case "list":
		return runKeysList(ctx, e, args[1:])
	case "revoke":
		return runKeysRevoke(ctx, e, args[1:])
	}
	return usageError("unknown subcommand %q; there are: create, list, revoke", args[0])
}

// openAuth opens the store db names (migrating it) and an auth.Service on it.
func openAuth(ctx context.Context, db string) (*auth.Service, func() error, error) {
	st, _, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewService(st, auth.Config{}), st.Close, nil
}

// orgFlag registers --org on fs; "" means the operator's organization.
func orgFlag(fs *flag.FlagSet, what string) *string {
	return fs.String("org", "", what)
}

func runKeysCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "keys create")
	db := dbFlag(fs, e)
	org := orgFlag(fs, "organization id (default: the operator's, created if needed)")
	scopesList := fs.String("scopes", "", `comma-separated scopes, e.g. "accounts:read,transfers:write" or "admin" (required)`)
	name := fs.String("name", "", fmt.Sprintf("a label for the key, up to %d bytes", auth.NameBytesMax))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	scopes, err := auth.ParseScopes(*scopesList)
	if err != nil {
		return usageError("--scopes: %s", apperrMessage(err))
	}
	orgID := *org
	if orgID == "" {
		orgID = auth.OperatorOrgID
	}
	svc, closeStore, err := openAuth(ctx, *db)
	if err != nil {
		return fmt.Errorf("keys create: %w", err)
	}
	defer closeStore()
	key, secret, err := svc.CreateKey(ctx, orgID, *name, scopes)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(e.stdout, secret)
	fmt.Fprintf(e.stderr, "created key %s (%s) for %s with scopes %s; the secret above is shown only now\n",
		key.ID, key.Prefix, key.OrgID, joinScopes(key.Scopes))
	return nil
}

func runKeysList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "keys list")
	db := dbFlag(fs, e)
	org := orgFlag(fs, "organization id (default: the operator's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	orgID := *org
	if orgID == "" {
		orgID = auth.OperatorOrgID
	}
	svc, closeStore, err := openAuth(ctx, *db)
	if err != nil {
		return fmt.Errorf("keys list: %w", err)
	}
	defer closeStore()

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tSCOPES\tCREATED\tLAST USED\tREVOKED\tNAME")
	after := ""
	for {
		keys, err := svc.FindKeys(ctx, orgID, after, auth.KeyPageLimitMax)
		if err != nil {
			return describe(err)
		}
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%q\n", k.ID, k.Prefix, joinScopes(k.Scopes),
				timeOrDash(k.CreatedAt), timeOrDash(k.LastUsedAt), timeOrDash(k.RevokedAt), k.Name)
		}
		if len(keys) < auth.KeyPageLimitMax {
			break
		}
		after = keys[len(keys)-1].ID
	}
	return tw.Flush()
}

func runKeysRevoke(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "keys revoke")
	db := dbFlag(fs, e)
	org := orgFlag(fs, "organization id the key belongs to (required)")
	// Flags may come before or after KEY_ID: parse up to it, take it, parse the rest.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{exitUsage} // the flag package has said why
	}
	if fs.NArg() == 0 {
		return usageError("revoke needs a KEY_ID")
	}
	keyID := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return err
	}
	if *org == "" {
		return usageError("--org is required: the organization the key belongs to")
	}
	svc, closeStore, err := openAuth(ctx, *db)
	if err != nil {
		return fmt.Errorf("keys revoke: %w", err)
	}
	defer closeStore()
	key, err := svc.RevokeKey(ctx, *org, keyID)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "revoked %s (%s) of %s at %s\n", key.ID, key.Prefix, key.OrgID, key.RevokedAt.Format(time.RFC3339))
	if !isPostgresURL(*db) {
		// PostgreSQL nodes hear of it as it commits; a SQLite server does not.
		fmt.Fprintf(e.stderr, "note: a kinko serve running on this file may accept the key for up to its --key-cache-ttl (%s unless set)\n", KeyCacheTTLDefault)
	}
	return nil
}

// describe turns an application error into the message a user of the
// command line needs; other errors pass unchanged.
func describe(err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		if ae.Param != "" && !strings.Contains(msg, ae.Param) {
			msg += " (" + ae.Param + ")"
		}
		return errors.New(msg)
	}
	return err
}

func apperrMessage(err error) string { return describe(err).Error() }

func joinScopes(scopes []auth.Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
