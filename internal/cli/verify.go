package cli

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// runVerify checks every ledger invariant (see ledger.Verify). It prints a
// summary and each violation on stdout and exits 1 when there is any.
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

	fmt.Fprintf(e.stdout, "store:    %s (%s)\n", st.Kind(), redactDB(*db))
	fmt.Fprintf(e.stdout, "accounts: %d checked\n", rep.Accounts)
	fmt.Fprintf(e.stdout, "assets:   %d checked\n", rep.Assets)
	if len(rep.Violations) == 0 {
		fmt.Fprintln(e.stdout, "result:   ok, no violations")
		return nil
	}
	for _, v := range rep.Violations {
		fmt.Fprintf(e.stdout, "VIOLATION %s\n", v)
	}
	fmt.Fprintf(e.stdout, "result:   %d violations\n", len(rep.Violations))
	return exitError{exitFailure}
}
