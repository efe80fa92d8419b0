package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/kinko-pay/kinko/client"
)

// runPayouts is `kinko payouts …`: payout batches through the API of a
// running server, with the operator's admin key. Every subcommand but file
// prints the API's JSON; file writes the bank file's bytes.
func runPayouts(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "payouts", args, map[string]func(context.Context, env, []string) error{
		"build":   payoutsBuild,
		"list":    payoutsList,
		"get":     payoutsGet,
		"file":    payoutsFile,
		"settle":  payoutsSettle,
		"return":  payoutsReturn,
		"balance": payoutsBalance,
	}, "build|list|get ID|file ID|settle ID|return ID ITEM|balance EMAIL [flags]")
}

func payoutsBuild(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "payouts build")
	newClient := remoteFlags(fs, e)
	var p client.PayoutBatchParams
	fs.StringVar(&p.Currency, "currency", "JPY", "the currency to pay out")
	fs.StringVar(&p.TransferDate, "date", "", "the day the bank is asked to pay, YYYY-MM-DD")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if p.TransferDate == "" {
		return usageError("--date is required: the day the bank pays, e.g. 2026-01-09")
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	b, err := c.BuildPayoutBatch(ctx, p)
	return printJSON(e, b, err)
}

func payoutsList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "payouts list")
	newClient := remoteFlags(fs, e)
	var p client.ListParams
	fs.IntVar(&p.Limit, "limit", 0, "page size, 1..100 (default: the server's)")
	fs.StringVar(&p.StartingAfter, "starting-after", "", "last id of the previous page")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	page, err := c.ListPayoutBatches(ctx, p)
	return printJSON(e, page, err)
}

// batchArgs parses the remote flags, what more registers, and the batch id
// with the other positional arguments names.
func batchArgs(e env, name string, args []string, more func(*flag.FlagSet), names ...string) (*client.Client, []string, error) {
	fs := newFlagSet(e, "payouts "+name)
	newClient := remoteFlags(fs, e)
	if more != nil {
		more(fs)
	}
	pos, err := parseArgs(fs, args, append([]string{"ID"}, names...)...)
	if err != nil {
		return nil, nil, err
	}
	c, err := newClient()
	return c, pos, err
}

func payoutsGet(ctx context.Context, e env, args []string) error {
	c, pos, err := batchArgs(e, "get", args, nil)
	if err != nil {
		return err
	}
	b, err := c.GetPayoutBatch(ctx, pos[0])
	return printJSON(e, b, err)
}

// payoutsFile writes a batch's bank file, byte for byte, to stdout or --out.
func payoutsFile(ctx context.Context, e env, args []string) error {
	var format, out string
	c, pos, err := batchArgs(e, "file", args, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "zengin", "zengin (総合振込, Shift_JIS) or pain001 (ISO 20022 XML)")
		fs.StringVar(&out, "out", "", "write the file here instead of to stdout")
	})
	if err != nil {
		return err
	}
	f, err := c.GetPayoutFile(ctx, pos[0], format)
	if err != nil {
		return printJSON(e, nil, err)
	}
	if out != "" {
		if err := os.WriteFile(out, f.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "wrote %s (%d bytes, %s)\n", out, len(f.Data), f.ContentType)
		return nil
	}
	_, err = e.stdout.Write(f.Data)
	return err
}

func payoutsSettle(ctx context.Context, e env, args []string) error {
	c, pos, err := batchArgs(e, "settle", args, nil)
	if err != nil {
		return err
	}
	b, err := c.SettlePayoutBatch(ctx, pos[0])
	return printJSON(e, b, err)
}

func payoutsReturn(ctx context.Context, e env, args []string) error {
	var reason string
	c, pos, err := batchArgs(e, "return", args, func(fs *flag.FlagSet) {
		fs.StringVar(&reason, "reason", "", "why the bank could not pay it (振込不能の理由)")
	}, "ITEM")
	if err != nil {
		return err
	}
	if reason == "" {
		return usageError("--reason is required")
	}
	b, err := c.ReturnPayoutItem(ctx, pos[0], pos[1], reason)
	return printJSON(e, b, err)
}

func payoutsBalance(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "payouts balance")
	newClient := remoteFlags(fs, e)
	currency := fs.String("currency", "JPY", "the currency")
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	b, err := c.GetPayeeBalance(ctx, pos[0], *currency)
	return printJSON(e, b, err)
}

// runBankAccounts is `kinko bank-accounts …`: a site registers and reads
// its deals' parties' bank accounts (sellers, refunded buyers) (the operator's key reads anyone's).
func runBankAccounts(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "bank-accounts", args, map[string]func(context.Context, env, []string) error{
		"set": bankAccountsSet,
		"get": bankAccountsGet,
	}, "set --email … --bank-code … |get EMAIL [flags]")
}

func bankAccountsSet(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bank-accounts set")
	newClient := remoteFlags(fs, e)
	var p client.BankAccountParams
	fs.StringVar(&p.Email, "email", "", "the seller (of one of the site's deals)")
	fs.StringVar(&p.BankCode, "bank-code", "", "the bank's 4-digit code")
	fs.StringVar(&p.BankName, "bank-name", "", "the bank's name, in katakana (converted to half-width)")
	fs.StringVar(&p.BranchCode, "branch-code", "", "the branch's 3-digit code")
	fs.StringVar(&p.BranchName, "branch-name", "", "the branch's name, in katakana")
	fs.StringVar(&p.AccountType, "account-type", "ordinary", "ordinary, checking or savings")
	fs.StringVar(&p.AccountNumber, "account-number", "", "the 7-digit account number")
	fs.StringVar(&p.HolderName, "holder-name", "", "the account holder's name, in katakana")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	b, err := c.SetBankAccount(ctx, p)
	return printJSON(e, b, err)
}

func bankAccountsGet(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bank-accounts get")
	newClient := remoteFlags(fs, e)
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	b, err := c.GetBankAccount(ctx, pos[0])
	return printJSON(e, b, err)
}
