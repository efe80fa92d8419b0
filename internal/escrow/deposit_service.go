package escrow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// RecordDeposit records one credit to the operator's bank account and
// matches it to a deal by payment reference, in one transaction: the
// deposit row, the ledger transfers (bank → the deal's holding account, or
// → suspense) and the deal's state change commit together.
//
// A credit already recorded (same BankAccount and BankRef) changes nothing
// and returns the first record with replayed true, so importing a statement
// twice is harmless. Exact payment funds the deal; less leaves it awaiting
// the rest; more funds it and parks the excess in suspense; a credit with no
// matching deal, in another currency, or for a deal that no longer awaits
// payment goes to suspense. All but exact payment open a review for staff.
//
// Errors: invalid, forbidden.
func (s *Service) RecordDeposit(ctx context.Context, actor Actor, p DepositParams) (dep Deposit, replayed bool, err error) {
	if actor.Kind != ActorStaff && actor.Kind != ActorSystem {
		return Deposit{}, false, apperr.New(apperr.CodeForbidden, "only the operator records deposits")
	}
	if actor.Kind == ActorStaff && actor.Role != "finance" && actor.Role != "admin" {
		return Deposit{}, false, apperr.New(apperr.CodeForbidden, "only finance staff record deposits")
	}
	if err := p.validate(); err != nil {
		return Deposit{}, false, err
	}
	refs := []string{p.PaymentRef}
	if p.PaymentRef == "" {
		refs = FindPaymentRefs(p.PayerName + " " + p.Remittance)
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, 2)
	if err != nil {
		return Deposit{}, false, err
	}
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		dep = Deposit{ID: newID("dep_"), Source: p.Source, BankAccount: p.BankAccount, BankRef: p.BankRef,
			Currency: p.Currency, Amount: p.Amount, ValueDate: p.ValueDate.UTC(), PayerName: p.PayerName,
			Remittance: p.Remittance, Status: DepositUnmatched, CreatedAt: now, UpdatedAt: now}
		inserted, err := tx.DepositInsert(ctx, dep)
		if err != nil {
			return err
		}
		if !inserted {
			replayed = true
			return errReplayed
		}
		var deal Deal
		found := false
		for _, ref := range refs {
			d, err := tx.DealByPaymentRefForUpdate(ctx, ref)
			if apperr.Is(err, apperr.CodeNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			deal, found = d, true
			break
		}
		if !found || deal.Currency != p.Currency {
			dep.Review = ReviewOpen
			return s.toSuspense(ctx, tx, w, &dep, now)
		}
		c := &change{now: now, actor: actorDeposit, deal: deal, from: deal.State, action: "payment_received",
			data: map[string]any{"deposit": dep.ID, "amount": p.Amount}, deposit: &dep}
		if deal.State != StateAwaitingPayment {
			dep.Status, dep.Review = DepositLate, ReviewOpen
			c.move(acctBank, acctSuspense, p.Amount, "deposit:"+dep.ID, "escrow_suspense")
			c.action = "payment_late"
		} else {
			owed := deal.AmountDue - deal.AmountPaid
			applied := min(p.Amount, owed)
			dep.Applied = applied
			c.move(acctBank, acctHolding, applied, "deposit:"+dep.ID, "escrow_deposit")
			c.move(acctBank, acctSuspense, p.Amount-applied, "deposit:"+dep.ID+":excess", "escrow_suspense")
			c.deal.AmountPaid += applied
			switch {
			case p.Amount < owed:
				dep.Status, dep.Review = DepositPartial, ReviewOpen
				c.event = event.TypeDealPaymentReceived
				c.mails = append(c.mails, s.mail(c.deal, Buyer, "partial"))
			default:
				dep.Status = DepositMatched
				if p.Amount > owed {
					dep.Status, dep.Review = DepositOverpaid, ReviewOpen
				}
				c.action = "funded"
				if err := s.checkAtFunding(ctx, tx, c); err != nil {
					return err
				}
				c.deal.State = StateFunded
				c.deal.FundedAt = &now
				c.setDue(TimerShipBy, c.deal.ShipWithinDays)
				c.event = event.TypeDealFunded
				c.mails = append(c.mails, s.mail(c.deal, Seller, "funded"), s.mail(c.deal, Buyer, "paid"))
			}
		}
		c.data["status"] = dep.Status
		return s.commit(ctx, tx, w, c)
	})
	if errors.Is(err, errReplayed) {
		old, err := s.findDeposit(ctx, p.BankAccount, p.BankRef)
		if err != nil {
			return Deposit{}, false, err
		}
		if old.Amount != p.Amount || old.Currency != p.Currency {
			return Deposit{}, false, &apperr.Error{Code: apperr.CodeConflict, Param: "amount",
				Message: fmt.Sprintf("bank entry %s was recorded as %d %s", p.BankRef, old.Amount, old.Currency)}
		}
		return old, true, nil
	}
	if err != nil {
		return Deposit{}, false, fmt.Errorf("escrow: record deposit %s: %w", p.BankRef, err)
	}
	return dep, false, nil
}

var errReplayed = errors.New("escrow: deposit already recorded")

// toSuspense books an unmatched credit: bank → suspense.
func (s *Service) toSuspense(ctx context.Context, tx Tx, w *ledger.Writer, dep *Deposit, now time.Time) error {
	d := Deal{Currency: dep.Currency}
	reqs := accountRequests(d)
	accts, err := w.OpenAccounts(ctx, tx, now, []ledger.AccountRequest{reqs[acctBank], reqs[acctSuspense]})
	if err != nil {
		return err
	}
	res, err := w.Transfer(ctx, tx, now, []ledger.TransferRequest{{Owner: LedgerOwner,
		Reference: "escrow:deposit:" + dep.ID, DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID,
		Amount: dep.Amount, Asset: dep.Currency, Code: "escrow_suspense", Metadata: map[string]string{"deposit": dep.ID}}})
	if err != nil {
		return err
	}
	if err := ledger.Rejection(res); err != nil {
		return fmt.Errorf("escrow: ledger refused deposit %s into suspense: %w", dep.ID, err)
	}
	if err := tx.DepositUpdate(ctx, *dep); err != nil {
		return err
	}
	return record(ctx, tx, now, actorDeposit, "deposit.unmatched", "deposit", dep.ID, "", map[string]any{"amount": dep.Amount, "bank_ref": dep.BankRef})
}

func (s *Service) findDeposit(ctx context.Context, account, ref string) (Deposit, error) {
	return s.cfg.Store.DepositByBankRef(ctx, account, ref)
}

// FindDeposits lists deposits for staff, newest first.
//
// Errors: forbidden, invalid.
func (s *Service) FindDeposits(ctx context.Context, actor Actor, f DepositFilter) ([]Deposit, error) {
	if actor.Kind != ActorStaff && actor.Kind != ActorSystem {
		return nil, apperr.New(apperr.CodeForbidden, "only the operator sees deposits")
	}
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	if f.Review != ReviewNone && f.Review != ReviewOpen && f.Review != ReviewCleared {
		return nil, apperr.Invalid("review", "open or cleared")
	}
	return s.cfg.Store.DepositList(ctx, f)
}

// ClearDeposit closes a deposit's review with staff's note, once they have
// dealt with it (matched it by hand, returned it to the payer).
//
// Errors: forbidden, invalid, not_found, conflict (not open).
func (s *Service) ClearDeposit(ctx context.Context, actor Actor, id, note string) (Deposit, error) {
	if actor.Kind != ActorStaff || (actor.Role != "finance" && actor.Role != "admin") {
		return Deposit{}, apperr.New(apperr.CodeForbidden, "only finance staff clear deposits")
	}
	if strings.TrimSpace(note) == "" || !validText(note, ReasonLenMax) {
		return Deposit{}, apperr.Invalid("note", "a note of at most %d bytes says what was done", ReasonLenMax)
	}
	var out Deposit
	err := s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		d, err := tx.DepositForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if d.Review != ReviewOpen {
			return apperr.New(apperr.CodeConflict, "deposit %s has no open review", id)
		}
		d.Review, d.Note, d.UpdatedAt = ReviewCleared, note, s.now()
		out = d
		if err := tx.DepositUpdate(ctx, d); err != nil {
			return err
		}
		return record(ctx, tx, d.UpdatedAt, actor, "deposit.cleared", "deposit", d.ID, "", map[string]any{"note": note})
	})
	if err != nil {
		return Deposit{}, fmt.Errorf("escrow: clear deposit %s: %w", id, err)
	}
	return out, nil
}
