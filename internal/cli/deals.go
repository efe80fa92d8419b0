package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kinko-pay/kinko/client"
)

// runDeals is `kinko deals …`: escrow deals through the API of a running
// server, as a site's key (or, for resolve, the operator's) would.
func runDeals(ctx context.Context, e env, args []string) error {
	subs := map[string]func(context.Context, env, []string) error{
		"create":   dealsCreate,
		"get":      dealsGet,
		"list":     dealsList,
		"timeline": dealsTimeline,
		"ship":     dealsShip,
		"dispute":  dealsDispute,
		"resolve":  dealsResolve,
	}
	for name, step := range map[string]func(*client.Client, context.Context, string, ...client.CallOption) (client.Deal, error){
		"accept": (*client.Client).AcceptDeal, "decline": (*client.Client).DeclineDeal, "cancel": (*client.Client).CancelDeal,
		"confirm-receipt": (*client.Client).ConfirmReceipt, "approve": (*client.Client).ApproveDeal,
		"release-milestone": (*client.Client).ReleaseMilestone,
	} {
		subs[name] = func(ctx context.Context, e env, args []string) error {
			c, id, err := dealFlags(e, "deals "+name, args, nil)
			if err != nil {
				return err
			}
			d, err := step(c, ctx, id)
			return printJSON(e, d, err)
		}
	}
	return subcommand(ctx, e, "deals", args, subs,
		"create|get|list|timeline|accept|decline|cancel|ship|confirm-receipt|approve|release-milestone|dispute|resolve [flags]")
}

// dealFlags parses --id and the remote flags, plus what more registers.
func dealFlags(e env, name string, args []string, more func(fs *flag.FlagSet)) (*client.Client, string, error) {
	fs := newFlagSet(e, name)
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "deal id (dl_…)")
	if more != nil {
		more(fs)
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, "", err
	}
	if *id == "" {
		return nil, "", usageError("--id is required")
	}
	c, err := newClient()
	return c, *id, err
}

func dealsCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deals create")
	newClient := remoteFlags(fs, e)
	var p client.DealParams
	var shipping int64
	fs.StringVar(&p.ExternalRef, "external-ref", "", "your id for the deal (registering it again returns the first deal)")
	fs.StringVar(&p.Title, "title", "", "the item, one line")
	fs.StringVar(&p.Description, "description", "", "the item's description")
	fs.Int64Var(&p.Price.Amount, "price", 0, "price in minor units")
	fs.StringVar(&p.Price.Currency, "currency", "", "currency code, e.g. JPY")
	fs.Int64Var(&shipping, "shipping-fee", 0, "shipping fee in minor units")
	fs.StringVar(&p.FeePayer, "fee-payer", "", "who pays the escrow fee: buyer, seller or split")
	fs.StringVar(&p.Seller.Email, "seller", "", "the seller's email")
	fs.StringVar(&p.Buyer.Email, "buyer", "", "the buyer's email")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if shipping != 0 {
		p.ShippingFee = &client.Money{Amount: shipping, Currency: p.Price.Currency}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	d, _, err := c.CreateDeal(ctx, p)
	return printJSON(e, d, err)
}

func dealsGet(ctx context.Context, e env, args []string) error {
	c, id, err := dealFlags(e, "deals get", args, nil)
	if err != nil {
		return err
	}
	d, err := c.GetDeal(ctx, id)
	return printJSON(e, d, err)
}

func dealsTimeline(ctx context.Context, e env, args []string) error {
	c, id, err := dealFlags(e, "deals timeline", args, nil)
	if err != nil {
		return err
	}
	tl, err := c.GetDealTimeline(ctx, id)
	return printJSON(e, tl, err)
}

func dealsList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deals list")
	newClient := remoteFlags(fs, e)
	var q client.DealQuery
	fs.IntVar(&q.Limit, "limit", 0, "page size, 1..100 (default: the server's)")
	fs.StringVar(&q.StartingAfter, "starting-after", "", "last id of the previous page")
	fs.StringVar(&q.State, "state", "", "only deals in this state")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	page, err := c.ListDeals(ctx, q)
	return printJSON(e, page, err)
}

func dealsShip(ctx context.Context, e env, args []string) error {
	var carrier, tracking string
	c, id, err := dealFlags(e, "deals ship", args, func(fs *flag.FlagSet) {
		fs.StringVar(&carrier, "carrier", "", "the carrier")
		fs.StringVar(&tracking, "tracking-number", "", "the tracking number")
	})
	if err != nil {
		return err
	}
	d, err := c.ShipDeal(ctx, id, carrier, tracking)
	return printJSON(e, d, err)
}

func dealsDispute(ctx context.Context, e env, args []string) error {
	var reason string
	c, id, err := dealFlags(e, "deals dispute", args, func(fs *flag.FlagSet) {
		fs.StringVar(&reason, "reason", "", "why the buyer disputes the deal")
	})
	if err != nil {
		return err
	}
	d, err := c.DisputeDeal(ctx, id, reason)
	return printJSON(e, d, err)
}

// dealsResolve settles a dispute with the operator's admin key.
func dealsResolve(ctx context.Context, e env, args []string) error {
	var p client.DealResolveParams
	var buyer int64
	var currency string
	c, id, err := dealFlags(e, "deals resolve", args, func(fs *flag.FlagSet) {
		fs.StringVar(&p.Resolution, "resolution", "", "release, refund or split")
		fs.Int64Var(&buyer, "buyer-amount", 0, "split only: what the buyer gets back, in minor units")
		fs.StringVar(&currency, "currency", "", "split only: the deal's currency")
		fs.StringVar(&p.Note, "note", "", "why, for the timeline")
	})
	if err != nil {
		return err
	}
	if buyer != 0 {
		p.BuyerAmount = &client.Money{Amount: buyer, Currency: strings.ToUpper(currency)}
	}
	d, err := c.ResolveDeal(ctx, id, p)
	return printJSON(e, d, err)
}

// runDeposits is `kinko deposits …`: the operator's bank credits, with its
// admin key.
func runDeposits(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "deposits", args, map[string]func(context.Context, env, []string) error{
		"record": depositsRecord,
		"import": depositsImport,
		"list":   depositsList,
		"clear":  depositsClear,
	}, "record|import|list|clear [flags]")
}

func depositsRecord(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deposits record")
	newClient := remoteFlags(fs, e)
	var p client.DepositParams
	fs.StringVar(&p.BankAccount, "bank-account", "", "the operator's account the credit arrived on")
	fs.StringVar(&p.BankRef, "bank-ref", "", "the bank's id for the statement entry")
	fs.Int64Var(&p.Amount.Amount, "amount", 0, "amount in minor units")
	fs.StringVar(&p.Amount.Currency, "currency", "", "currency code, e.g. JPY")
	fs.StringVar(&p.ValueDate, "value-date", "", "the day the bank credited it, YYYY-MM-DD")
	fs.StringVar(&p.PayerName, "payer-name", "", "the remitter's name as the bank reports it")
	fs.StringVar(&p.Remittance, "remittance", "", "free text sent with the credit")
	fs.StringVar(&p.PaymentReference, "payment-reference", "", "the deal's payment reference, when known")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	d, _, err := c.RecordDeposit(ctx, p)
	return printJSON(e, d, err)
}

func depositsList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deposits list")
	newClient := remoteFlags(fs, e)
	var q client.DepositQuery
	fs.IntVar(&q.Limit, "limit", 0, "page size, 1..100 (default: the server's)")
	fs.StringVar(&q.StartingAfter, "starting-after", "", "last id of the previous page")
	fs.StringVar(&q.Review, "review", "", "open or cleared")
	fs.StringVar(&q.Deal, "deal", "", "only this deal's deposits")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	page, err := c.ListDeposits(ctx, q)
	return printJSON(e, page, err)
}

func depositsClear(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deposits clear")
	newClient := remoteFlags(fs, e)
	id := fs.String("id", "", "deposit id (dep_…)")
	note := fs.String("note", "", "what was done about it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	d, err := c.ClearDeposit(ctx, *id, *note)
	return printJSON(e, d, err)
}

// depositsImport is `kinko deposits import --format zengin FILE`: every
// credit of a bank statement file recorded and matched (FILE "-" reads
// stdin). It prints what the import did, one line per credit, or the whole
// report with --json. Importing the same file again changes nothing.
func depositsImport(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "deposits import")
	newClient := remoteFlags(fs, e)
	format := fs.String("format", "", "the statement format: zengin (入出金取引明細) or camt053")
	asJSON := fs.Bool("json", false, "print the whole report as JSON")
	pos, err := parseArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	if *format == "" {
		return usageError("--format is required: zengin or camt053")
	}
	file, err := readInput(e, pos[0], client.StatementFileBytesMax)
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	rep, err := c.ImportStatement(ctx, *format, file)
	if *asJSON || err != nil {
		return printJSON(e, rep, err)
	}
	printImport(e.stdout, rep)
	return nil
}

// readInput reads the file at path ("-": stdin), refusing more than max
// bytes.
func readInput(e env, path string, max int64) ([]byte, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else if r == nil {
		r = strings.NewReader("")
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, usageError("%s is larger than the %d MiB a statement import may have", path, max>>20)
	}
	return data, nil
}

// printImport writes an import's counts, then one line per credit.
func printImport(w io.Writer, rep client.DepositImport) {
	n := rep.Counts
	fmt.Fprintf(w, "%s: %d entries, %d withdrawals skipped, %d credits already recorded\n", rep.Format, rep.Entries, rep.Withdrawals, rep.Replayed)
	fmt.Fprintf(w, "recorded: %d matched, %d partial, %d overpaid, %d unmatched, %d late, %d duplicate\n", n.Matched, n.Partial, n.Overpaid, n.Unmatched, n.Late, n.Duplicate)
	if len(rep.Deposits) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPOSIT\tSTATUS\tAMOUNT\tDEAL\tREVIEW\tPAYER")
	for _, d := range rep.Deposits {
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%s\t%s\t%s\n", d.ID, d.Status, d.Amount.Amount, d.Amount.Currency, dash(d.Deal), dash(d.Review), d.PayerName)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
