package ledger

import (
	"context"
	"fmt"
	"slices"

	"github.com/kinko-pay/kinko/internal/money"
)

// Violation is one broken invariant found by Verify.
type Violation struct {
	AccountID int64  // 0 when the violation is not about one account
	Asset     string // set for per-asset totals
	Problem   string
}

func (v Violation) String() string {
	switch {
	case v.AccountID != 0:
		return fmt.Sprintf("account %d: %s", v.AccountID, v.Problem)
	case v.Asset != "":
		return fmt.Sprintf("asset %s: %s", v.Asset, v.Problem)
	}
	return v.Problem
}

// VerifyReport is what Verify found. The ledger is healthy when Violations is empty.
type VerifyReport struct {
	Accounts   int64
	Assets     int
	Violations []Violation
}

// assetTotals are the four stored totals of all accounts in one asset.
type assetTotals struct{ debitsPosted, creditsPosted, debitsPending, creditsPending int64 }

// Verify recomputes every balance from the transfers, checks that debits equal
// credits per asset (posted and pending), that no account breaks its rule and
// that transfers are well formed. progress, when set, is called with the
// number of accounts checked so far.
func Verify(ctx context.Context, s Store, progress func(accounts int64)) (VerifyReport, error) {
	var rep VerifyReport
	totals := map[string]*assetTotals{}
	var overflow []string
	add := func(dst *int64, v int64, asset string) {
		sum, err := money.Add(*dst, v)
		if err != nil {
			overflow = append(overflow, asset)
			return
		}
		*dst = sum
	}
	err := s.VerifyScan(ctx, func(x AccountSums) error {
		a := x.Account
		rep.Accounts++
		if progress != nil && rep.Accounts%10000 == 0 {
			progress(rep.Accounts)
		}
		bad := func(format string, args ...any) {
			rep.Violations = append(rep.Violations, Violation{AccountID: a.ID, Problem: fmt.Sprintf(format, args...)})
		}
		for _, c := range []struct {
			name           string
			stored, summed int64
		}{
			{"debits_posted", a.DebitsPosted, x.DebitsPosted},
			{"credits_posted", a.CreditsPosted, x.CreditsPosted},
			{"debits_pending", a.DebitsPending, x.DebitsPending},
			{"credits_pending", a.CreditsPending, x.CreditsPending},
		} {
			if c.stored != c.summed {
				bad("%s is %d but its transfers sum to %d", c.name, c.stored, c.summed)
			}
		}
		if v := a.RuleViolation(); v != "" {
			bad("balance rule broken: %s", v)
		}
		if x.AssetMismatchTransfers > 0 {
			bad("%d transfers in an asset other than %s", x.AssetMismatchTransfers, a.Asset)
		}
		t := totals[a.Asset]
		if t == nil {
			t = &assetTotals{}
			totals[a.Asset] = t
		}
		add(&t.debitsPosted, a.DebitsPosted, a.Asset)
		add(&t.creditsPosted, a.CreditsPosted, a.Asset)
		add(&t.debitsPending, a.DebitsPending, a.Asset)
		add(&t.creditsPending, a.CreditsPending, a.Asset)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("ledger: verify scan: %w", err)
	}
	if progress != nil {
		progress(rep.Accounts)
	}
	rep.Assets = len(totals)
	codes := make([]string, 0, len(totals))
	for c := range totals {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		t := totals[c]
		if t.debitsPosted != t.creditsPosted {
			rep.Violations = append(rep.Violations, Violation{Asset: c, Problem: fmt.Sprintf("posted debits %d != posted credits %d", t.debitsPosted, t.creditsPosted)})
		}
		if t.debitsPending != t.creditsPending {
			rep.Violations = append(rep.Violations, Violation{Asset: c, Problem: fmt.Sprintf("pending debits %d != pending credits %d", t.debitsPending, t.creditsPending)})
		}
	}
	for _, c := range slices.Compact(overflow) {
		rep.Violations = append(rep.Violations, Violation{Asset: c, Problem: "totals overflow int64"})
	}
	checks, err := s.VerifyTransferChecks(ctx)
	if err != nil {
		return rep, fmt.Errorf("ledger: verify transfers: %w", err)
	}
	for _, c := range []struct {
		n    int64
		what string
	}{
		{checks.NonPositiveAmount, "transfers with an amount <= 0"},
		{checks.PostExceedsPending, "posts larger than their pending transfer"},
		{checks.HoldWithoutTransfer, "holds without a matching pending or resolving transfer"},
		{checks.PendingWithoutHold, "pending transfers without a hold"},
	} {
		if c.n > 0 {
			rep.Violations = append(rep.Violations, Violation{Problem: fmt.Sprintf("%d %s", c.n, c.what)})
		}
	}
	return rep, nil
}
