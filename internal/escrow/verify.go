package escrow

import (
	"context"
	"fmt"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// VerifyReport is what Verify found: deals checked and every broken
// invariant, one line each.
type VerifyReport struct {
	Deals      int
	Violations []string
}

// Verify checks every deal against the ledger: its holding account holds
// exactly what the deal says remains (paid − released − refunded − fees), a
// closed deal holds nothing, and its amounts add up (paid never above due,
// nothing negative). progress, when set, is called every PageLimitMax deals.
func (s *Service) Verify(ctx context.Context, progress func(deals int)) (VerifyReport, error) {
	var rep VerifyReport
	after := ""
	for {
		page, err := s.cfg.Store.DealList(ctx, DealFilter{AfterID: after, Limit: PageLimitMax})
		if err != nil {
			return rep, fmt.Errorf("escrow: verify: %w", err)
		}
		for _, d := range page {
			rep.Deals++
			bad := func(format string, args ...any) {
				rep.Violations = append(rep.Violations, fmt.Sprintf("deal %s: ", d.ID)+fmt.Sprintf(format, args...))
			}
			a, err := s.cfg.Store.AccountByReference(ctx, LedgerOwner, "escrow:deal:"+d.ID)
			var held int64
			switch {
			case apperr.Is(err, apperr.CodeNotFound):
				bad("its holding account is missing")
			case err != nil:
				return rep, fmt.Errorf("escrow: verify: %w", err)
			default:
				held = a.CreditsPosted - a.DebitsPosted
				if a.ID != d.HoldingAccountID {
					bad("names holding account %d, the ledger has %d", d.HoldingAccountID, a.ID)
				}
			}
			if held != d.Remaining() {
				bad("holds %d in the ledger but %d by its own amounts", held, d.Remaining())
			}
			if d.State.Final() && d.Remaining() != 0 {
				bad("is %s but still holds %d", d.State, d.Remaining())
			}
			if d.AmountPaid > d.AmountDue || d.AmountPaid < 0 || d.Released < 0 || d.Refunded < 0 || d.FeeTaken < 0 || d.FeeTaken > d.Fee {
				bad("amounts do not add up: due %d paid %d released %d refunded %d fee %d of %d",
					d.AmountDue, d.AmountPaid, d.Released, d.Refunded, d.FeeTaken, d.Fee)
			}
		}
		if progress != nil && len(page) > 0 {
			progress(rep.Deals)
		}
		if len(page) < PageLimitMax {
			return rep, nil
		}
		after = page[len(page)-1].ID
	}
}
