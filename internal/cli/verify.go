package cli

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// runVerify checks every ledger invariant (see ledger.Verify), the audit
// log's hash chain (see audit.Service.Verify), escrow's deals and billing's
// customers against the ledger (escrow.Service.Verify,
// billing.Service.Verify). It prints a summary and each
// violation on stdout and exits 1 when there is any.
func runVerify(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "verify")
	db := dbFlag(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, _, err := openStore(ctx, *db)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer st.Close()

	prog := newProgress(e.stderr)
	rep, err := ledger.Verify(ctx, st, func(accounts int64) {
		prog.Update("verify: %d accounts checked", accounts)
	})
	prog.Done("verify: %d accounts checked", rep.Accounts)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	auditRep, err := audit.NewService(st, nil).Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: audit log: %w", err)
	}
	deals := escrow.NewService(escrow.Config{Store: st})
	escrowRep, err := deals.Verify(ctx, func(n int) { prog.Update("verify: %d deals checked", n) })
	prog.Done("verify: %d deals checked", escrowRep.Deals)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	billingRep, err := billing.NewService(billing.Config{Store: st}).Verify(ctx, func(n int) { prog.Update("verify: %d billing customers checked", n) })
	prog.Done("verify: %d billing customers checked", billingRep.Customers)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}

	fmt.Fprintf(e.stdout, "store:    %s (%s)\n", st.Kind(), redactDB(*db))
	fmt.Fprintf(e.stdout, "accounts: %d checked\n", rep.Accounts)
	fmt.Fprintf(e.stdout, "assets:   %d checked\n", rep.Assets)
	fmt.Fprintf(e.stdout, "audit:    %d entries checked", auditRep.Checked)
	if auditRep.HeadSeq > 0 {
		// Kept outside the database, the head proves later that the log up
		// to it was not rewritten (docs/audit.md).
		fmt.Fprintf(e.stdout, "; head seq %d, hash %x", auditRep.HeadSeq, auditRep.HeadHash)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprintf(e.stdout, "deals:    %d checked against their holding accounts\n", escrowRep.Deals)
	fmt.Fprintf(e.stdout, "billing:  %d customers, %d reservations, %d charges, %d invoices, %d sessions checked against the ledger; %d organizations' revenue and top-up accounts\n",
		billingRep.Customers, billingRep.Reservations, billingRep.Charges, billingRep.Invoices, billingRep.Sessions, billingRep.Organizations)
	var violations []string
	for _, v := range rep.Violations {
		violations = append(violations, v.String())
	}
	violations = append(violations, escrowRep.Violations...)
	violations = append(violations, billingRep.Violations...)
	violations = append(violations, auditVerifyLines(auditRep)...)
	if len(violations) == 0 {
		fmt.Fprintln(e.stdout, "result:   ok, no violations")
		return nil
	}
	for _, v := range violations {
		fmt.Fprintf(e.stdout, "VIOLATION %s\n", v)
	}
	fmt.Fprintf(e.stdout, "result:   %d violations\n", len(violations))
	if !auditRep.OK() {
		fmt.Fprintln(e.stderr, "kinko verify: the audit log's hash chain is broken: an entry was changed, removed or inserted outside Kinko (docs/audit.md)")
	}
	return exitError{exitFailure}
}
