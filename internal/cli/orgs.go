package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
)

// runOrgs dispatches kinko orgs create|members.
func runOrgs(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "orgs", args, map[string]func(context.Context, env, []string) error{
		"create":  runOrgsCreate,
		"members": runOrgsMembers,
	}, "create --name NAME [--db DB] | members add|remove|list --org ORG_ID [--email EMAIL] [--db DB]")
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

// membersUsage is the help of kinko orgs members.
const membersUsage = "add|remove|list --org ORG_ID [--email EMAIL] [--db DB]: members are verified portal users who read " +
	"the organization's billing at /billing; adding twice or removing a non-member changes nothing; every change is audited"

// runOrgsMembers dispatches kinko orgs members add|remove|list.
func runOrgsMembers(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "orgs members", args, map[string]func(context.Context, env, []string) error{
		"add":    func(ctx context.Context, e env, args []string) error { return runMembersChange(ctx, e, "add", args) },
		"remove": func(ctx context.Context, e env, args []string) error { return runMembersChange(ctx, e, "remove", args) },
		"list":   runMembersList,
	}, membersUsage)
}

// openMembers opens the store db names (migrating it) and the member
// service on it. The service records every change it makes, by cliActor, in
// the change's own transaction.
func openMembers(ctx context.Context, db string) (*auth.MemberService, func() error, error) {
	st, _, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewMemberService(st, nil), st.Close, nil
}

// runMembersChange adds (verb "add") or removes (verb "remove") a member;
// the service audits the change when there was one.
func runMembersChange(ctx context.Context, e env, verb string, args []string) error {
	name := "orgs members " + verb
	fs := newFlagSet(e, name)
	db := dbFlag(fs, e)
	org := fs.String("org", "", "the organization's id (required)")
	email := fs.String("email", "", "the portal user's email (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *org == "" || *email == "" {
		return usageError("%s: --org and --email are required", name)
	}
	svc, closeStore, err := openMembers(ctx, *db)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer closeStore()
	c := memberChanges[verb]
	change := svc.AddMember
	if verb == "remove" {
		change = svc.RemoveMember
	}
	m, changed, err := change(ctx, cliActor, *org, *email)
	if err != nil {
		return describe(err)
	}
	if !changed {
		fmt.Fprintf(e.stderr, c.same, m.Email, m.UserID, m.OrgID, m.OrgName)
		return nil
	}
	fmt.Fprintf(e.stderr, c.done, m.Email, m.UserID, m.OrgID, m.OrgName)
	return nil
}

// memberChanges are, per verb, what the command says when it changed
// something (done) and when it did not (same), each of the user's email and
// id and the organization's id and name.
var memberChanges = map[string]struct{ done, same string }{
	"add":    {"added %s (%s) to %s (%s)\n", "%s (%s) is already a member of %s (%s); nothing changed\n"},
	"remove": {"removed %s (%s) from %s (%s)\n", "%s (%s) is not a member of %s (%s); nothing changed\n"},
}

func runMembersList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "orgs members list")
	db := dbFlag(fs, e)
	org := fs.String("org", "", "the organization's id (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *org == "" {
		return usageError("orgs members list: --org is required")
	}
	svc, closeStore, err := openMembers(ctx, *db)
	if err != nil {
		return fmt.Errorf("orgs members list: %w", err)
	}
	defer closeStore()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tEMAIL\tSINCE")
	for after := ""; ; {
		ms, err := svc.FindMembers(ctx, *org, after, auth.MemberPageLimitMax)
		if err != nil {
			return describe(err)
		}
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.UserID, m.Email, m.CreatedAt.Format(time.RFC3339))
		}
		if len(ms) < auth.MemberPageLimitMax {
			break
		}
		after = ms[len(ms)-1].UserID
	}
	return tw.Flush()
}
