package ledger

import (
	"context"
	"fmt"
	"math/big"
	"slices"
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

// assetTotals are the four stored totals of all accounts in one asset. Sums
// over many accounts may exceed int64, so they are kept as big integers.
type assetTotals struct{ debitsPosted, creditsPosted, debitsPending, creditsPending big.Int }

// Verify recomputes every balance from the transfers, checks that debits equal
// credits per asset (posted and pending), that no account breaks its rule and
// that transfers are well formed. progress, when set, is called with the
// number of accounts checked so far.
func Verify(ctx context.Context, s Store, progress func(accounts int64)) (VerifyReport, error) {
	var rep VerifyReport
	totals := map[string]*assetTotals{}
	var v big.Int
	add := func(dst *big.Int, x int64) { dst.Add(dst, v.SetInt64(x)) }
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
		add(&t.debitsPosted, a.DebitsPosted)
		add(&t.creditsPosted, a.CreditsPosted)
		add(&t.debitsPending, a.DebitsPending)
		add(&t.creditsPending, a.CreditsPending)
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
		if t.debitsPosted.Cmp(&t.creditsPosted) != 0 {
			rep.Violations = append(rep.Violations, Violation{Asset: c, Problem: fmt.Sprintf("posted debits %s != posted credits %s", &t.debitsPosted, &t.creditsPosted)})
		}
		if t.debitsPending.Cmp(&t.creditsPending) != 0 {
			rep.Violations = append(rep.Violations, Violation{Asset: c, Problem: fmt.Sprintf("pending debits %s != pending credits %s", &t.debitsPending, &t.creditsPending)})
		}
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
		{checks.OrphanTransfers, "transfers whose account or pending hold does not exist"},
		{checks.ResolutionMismatch, "posts, voids or expiries that do not match the hold they resolve (state, accounts, asset or amount)"},
		{checks.MalformedTransfers, "transfers of an unknown kind, with a pending transfer where none belongs (or none where one does), or debiting and crediting one account"},
	} {
		if c.n > 0 {
			rep.Violations = append(rep.Violations, Violation{Problem: fmt.Sprintf("%d %s", c.n, c.what)})
		}
	}
	return rep, nil
}
