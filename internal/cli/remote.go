package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// remoteFlags registers --url and --key on fs, for commands that talk to a
// running server through the public client, and returns its constructor.
func remoteFlags(fs *flag.FlagSet, e env) func() (*client.Client, error) {
	url := fs.String("url", envOr(e, "KINKO_URL", "http://"+addrDefault), "server base URL (env KINKO_URL)")
	key := secretFlag(fs, e, "key", "KINKO_KEY", "", "API key secret (env KINKO_KEY)")
	return func() (*client.Client, error) {
		if *key == "" {
			return nil, usageError("--key (or KINKO_KEY) is required")
		}
		return client.New(*url, *key, nil), nil
	}
}

// printJSON writes v, indented, to stdout; an API error goes to stderr as the
// problem it is and fails the command.
func printJSON(e env, v any, err error) error {
	if err != nil {
		var ae *client.Error
		if errors.As(err, &ae) {
			b, _ := json.MarshalIndent(ae, "", "  ")
			fmt.Fprintf(e.stderr, "%s\n", b)
			return exitError{exitFailure}
		}
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", b)
	return nil
}

// subcommand dispatches args[0] among subs, printing usage when it is missing.
func subcommand(ctx context.Context, e env, name string, args []string, subs map[string]func(context.Context, env, []string) error, usage string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: kinko %s %s\n", name, usage)
		if len(args) == 0 {
			return exitError{exitUsage}
		}
		return nil
	}
	run, ok := subs[args[0]]
	if !ok {
		return usageError("unknown command %q for kinko %s; there are: %s", args[0], name, usage)
	}
	return run(ctx, e, args[1:])
}

func runAccounts(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "accounts", args, map[string]func(context.Context, env, []string) error{
		"create":  accountsCreate,
		"get":     accountsGet,
		"list":    accountsList,
		"balance": accountsBalance,
	}, "create|get|list|balance [flags]")
}

func accountsCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "accounts create")
	newClient := remoteFlags(fs, e)
	var p client.AccountParams
	fs.StringVar(&p.Reference, "reference", "", "your reference for the account (creating it again returns it)")
	fs.StringVar(&p.Currency, "currency", "", "asset code, e.g. JPY")
	fs.StringVar(&p.Code, "code", "", "label for the account's purpose")
	fs.BoolVar(&p.DebitsMustNotExceedCredits, "debits-must-not-exceed-credits", false, "refuse debits beyond credits (+ limit)")
	fs.BoolVar(&p.CreditsMustNotExceedDebits, "credits-must-not-exceed-debits", false, "refuse credits beyond debits (+ limit)")
	fs.Int64Var(&p.Limit, "limit", 0, "overdraft or credit allowance, in minor units")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	a, _, err := c.CreateAccount(ctx, p)
	return printJSON(e, a, err)
}

func accountsGet(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "accounts get")
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "account id (acc_…)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	a, err := c.GetAccount(ctx, *id)
	return printJSON(e, a, err)
}

func accountsList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "accounts list")
	newClient := remoteFlags(fs, e)
	var p client.ListParams
	fs.IntVar(&p.Limit, "limit", 0, "page size, 1..100 (default: the server's)")
	fs.StringVar(&p.StartingAfter, "starting-after", "", "last id of the previous page")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	page, err := c.ListAccounts(ctx, p)
	return printJSON(e, page, err)
}

func accountsBalance(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "accounts balance")
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "account id (acc_…)")
	at := fs.String("at", "", "a past instant, RFC 3339 (default: now)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var when time.Time
	if *at != "" {
		var err error
		if when, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return usageError("--at must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z")
		}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	b, err := c.GetBalance(ctx, *id, when)
	return printJSON(e, b, err)
}

func runTransfers(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "transfers", args, map[string]func(context.Context, env, []string) error{
		"create": transfersCreate,
		"get":    transfersGet,
		"post":   func(ctx context.Context, e env, args []string) error { return transfersResolve(ctx, e, args, "post") },
		"void":   func(ctx context.Context, e env, args []string) error { return transfersResolve(ctx, e, args, "void") },
	}, "create|get|post|void [flags]")
}

func transfersCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "transfers create")
	newClient := remoteFlags(fs, e)
	var p client.TransferParams
	fs.StringVar(&p.Reference, "reference", "", "your reference (a retry with it returns the first transfer)")
	fs.StringVar(&p.Kind, "kind", "immediate", "immediate or pending")
	fs.StringVar(&p.DebitAccount, "debit", "", "debit account id (acc_…)")
	fs.StringVar(&p.CreditAccount, "credit", "", "credit account id (acc_…)")
	fs.Int64Var(&p.Amount.Amount, "amount", 0, "amount in minor units")
	fs.StringVar(&p.Amount.Currency, "currency", "", "asset code, e.g. JPY")
	fs.StringVar(&p.Code, "code", "", "label for the transfer's purpose")
	fs.Int64Var(&p.TimeoutSeconds, "timeout-seconds", 0, "pending only: release the hold after this many seconds")
	idem := fs.String("idempotency-key", "", "Idempotency-Key to send (default: a fresh one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	var opts []client.CallOption
	if *idem != "" {
		opts = append(opts, client.WithIdempotencyKey(*idem))
	}
	t, _, err := c.CreateTransfer(ctx, p, opts...)
	return printJSON(e, t, err)
}

func transfersGet(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "transfers get")
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "transfer id (tr_…)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	t, err := c.GetTransfer(ctx, *id)
	return printJSON(e, t, err)
}

func transfersResolve(ctx context.Context, e env, args []string, kind string) error {
	fs := newFlagSet(e, "transfers "+kind)
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "pending transfer id (tr_…)")
	var p client.ResolveParams
	fs.StringVar(&p.Reference, "reference", "", "your reference for the "+kind)
	amount := fs.Int64("amount", 0, "post only: amount to post, in minor units (default: all of it)")
	currency := fs.String("currency", "", "post only: the amount's asset code")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	amountSet := false
	fs.Visit(func(f *flag.Flag) { amountSet = amountSet || f.Name == "amount" })
	if amountSet { // an explicit --amount 0 is refused by the server, not read as "all"
		if kind == "void" {
			return usageError("a void releases the whole amount; --amount is for post")
		}
		p.Amount = &client.Money{Amount: *amount, Currency: *currency}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	var t client.Transfer
	if kind == "post" {
		t, err = c.PostTransfer(ctx, *id, p)
	} else {
		t, err = c.VoidTransfer(ctx, *id, p)
	}
	return printJSON(e, t, err)
}
