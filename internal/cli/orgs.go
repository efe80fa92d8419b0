package cli

import (
	"context"
	"errors"
	"fmt"
)

// runOrgs dispatches kinko orgs create.
func runOrgs(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "orgs", args, map[string]func(context.Context, env, []string) error{
		"create": runOrgsCreate,
	}, "create --name NAME [--db DB]")
}

// runOrgsCreate creates an organization (a merchant, member site, issuer or
// partner) and prints its id alone on stdout, for scripts:
//
//	ORG=$(kinko orgs create --name "Example Shop")
//	KEY=$(kinko keys create --org "$ORG" --scopes accounts:write,transfers:write)
func runOrgsCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "orgs create")
	db := dbFlag(fs, e)
	name := fs.String("name", "", "the organization's name (1 to 200 bytes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	svc, closeStore, err := openAuth(ctx, *db)
	if err != nil {
		return fmt.Errorf("orgs create: %w", err)
	}
	org, err := svc.CreateOrganization(ctx, *name)
	err = errors.Join(err, closeStore())
	if err != nil {
		return fmt.Errorf("orgs create: %w", err)
	}
	fmt.Fprintln(e.stdout, org.ID)
	return nil
}
