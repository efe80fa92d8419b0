package escrow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"golang.org/x/text/unicode/norm"
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
	keep := idempotency.KeepOf(ctx)
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		kept := func() error { return idempotency.RunKeep(ctx, keep, tx, RecordDepositResult{Deposit: dep}) }
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
		// After the deal's lock: a credit recorded for it meanwhile from
		// another source has committed and is seen.
		alike, err := tx.DepositsAlike(ctx, dep)
		if err != nil {
			return err
		}
		if found && deal.Currency != p.Currency {
			found = false
		}
		if twin, ok := twinOf(dep, refs, deal.ID, found, alike); ok {
			dep.Status, dep.Review = DepositDuplicate, ReviewOpen
			if found {
				dep.DealID = deal.ID
			}
			if err := tx.DepositUpdate(ctx, dep); err != nil {
				return err
			}
			if err := kept(); err != nil {
				return err
			}
			return record(ctx, tx, now, actorDeposit, "deposit.duplicate", "deposit", dep.ID, "",
				map[string]any{"amount": dep.Amount, "bank_ref": dep.BankRef, "like": twin.ID})
		}
		if !found {
			dep.Review = ReviewOpen
			return s.toSuspense(ctx, tx, w, &dep, now, kept)
		}
		c := &change{now: now, actor: actorDeposit, deal: deal, from: deal.State, action: "payment_received",
			data: map[string]any{"deposit": dep.ID, "amount": p.Amount}, deposit: &dep, keep: keep}
		c.result = func() any { return RecordDepositResult{Deposit: dep} }
		if deal.State != StateAwaitingPayment {
			dep.Status, dep.Review = DepositLate, ReviewOpen
			c.move(acctBank, acctSuspense, p.Amount, "deposit:"+dep.ID, "escrow_suspense")
			c.action = "payment_late"
		} else if err := s.pay(ctx, tx, c, &dep, acctBank, "deposit:"+dep.ID); err != nil {
			return err
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
		if keep != nil {
			// Nothing changed to commit with: the replay is kept in a
			// transaction of its own.
			err := s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
				return idempotency.RunKeep(ctx, keep, tx, RecordDepositResult{Deposit: old, Replayed: true})
			})
			if err != nil {
				return Deposit{}, false, fmt.Errorf("escrow: record deposit %s: %w", p.BankRef, err)
			}
		}
		return old, true, nil
	}
	if err != nil {
		return Deposit{}, false, fmt.Errorf("escrow: record deposit %s: %w", p.BankRef, err)
	}
	return dep, false, nil
}

var errReplayed = errors.New("escrow: deposit already recorded")

// twinOf returns the earlier deposit, among alike (same currency, amount
// and value date), that dep seems to be a second record of: one booked
// (not itself a suspected duplicate), from
// another source (the API and a statement file, or two kinds of file,
// name one credit with different bank references) that went to the same
// deal, named one of the same payment references, or, with no deal on at
// least one side, came from the same payer (a payer who quotes the deal's
// reference in one record and not in the other). refs are the payment
// references dep names; dealID the deal they found, if found.
func twinOf(dep Deposit, refs []string, dealID string, found bool, alike []Deposit) (Deposit, bool) {
	payer := normalName(dep.PayerName)
	for _, o := range alike {
		if o.Source == dep.Source || o.Status == DepositDuplicate {
			// One source lists distinct credits under distinct references;
			// a suspected duplicate booked nothing to be twice.
			continue
		}
		switch {
		case found && o.DealID == dealID:
			return o, true
		case slices.ContainsFunc(FindPaymentRefs(o.PayerName+" "+o.Remittance), func(r string) bool { return slices.Contains(refs, r) }):
			return o, true
		case (!found || o.DealID == "") && payer != "" && normalName(o.PayerName) == payer:
			return o, true
		}
	}
	return Deposit{}, false
}

// normalName folds a payer name for comparison across sources: NFKC (a
// file's half-width katakana and a typed full-width name alike), upper
// case, single spaces, without the words that are only digits (a payment
// reference keyed in before the name).
func normalName(s string) string {
	words := strings.Fields(strings.ToUpper(norm.NFKC.String(s)))
	words = slices.DeleteFunc(words, func(w string) bool {
		return strings.Trim(w, "0123456789") == ""
	})
	return strings.Join(words, " ")
}

// pay credits dep.Amount, held on the account from (the bank for a credit
// arriving, suspense for one staff match by hand), to c.deal, which awaits
// payment: what the deal still owes moves to its holding account, under
// the transfer reference ref; any excess to suspense (where it is already,
// coming from there). Paid in full, the deal is funded; short, it waits for
// the rest. Anything but exact payment leaves the deposit's review open.
func (s *Service) pay(ctx context.Context, tx Tx, c *change, dep *Deposit, from acct, ref string) error {
	owed := c.deal.AmountDue - c.deal.AmountPaid
	applied := min(dep.Amount, owed)
	dep.Applied = applied
	c.move(from, acctHolding, applied, ref, "escrow_deposit")
	if from != acctSuspense {
		c.move(from, acctSuspense, dep.Amount-applied, ref+":excess", "escrow_suspense")
	}
	c.deal.AmountPaid += applied
	if dep.Amount < owed {
		dep.Status, dep.Review = DepositPartial, ReviewOpen
		c.event = event.TypeDealPaymentReceived
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "partial"))
		return nil
	}
	dep.Status = DepositMatched
	if dep.Amount > owed {
		dep.Status, dep.Review = DepositOverpaid, ReviewOpen
	}
	c.action = "funded"
	if err := s.checkAtFunding(ctx, tx, c); err != nil {
		return err
	}
	c.deal.State = StateFunded
	c.deal.FundedAt = &c.now
	c.setDue(TimerShipBy, c.deal.ShipWithinDays)
	c.event = event.TypeDealFunded
	c.mails = append(c.mails, s.mail(c.deal, Seller, "funded"), s.mail(c.deal, Buyer, "paid"))
	return nil
}

// ApplyDeposit credits a deposit that went whole to suspense (it named no
// deal, or came for a deal that no longer awaited payment) to a deal that
// awaits payment, as if it had quoted the deal's payment reference: staff's
// match of a mistyped reference, or of a payer's second deal. It moves
// suspense → the deal's holding account (the excess, if any, stays in
// suspense, and the deposit's review stays open for it), in one
// transaction with the deal's change; a deposit applies once.
//
// Errors: forbidden, not_found, invalid (currency), conflict (the deposit
// was credited to a deal already, or its review was closed: staff dealt
// with it otherwise), deal_state_conflict (the deal does not await
// payment).
func (s *Service) ApplyDeposit(ctx context.Context, actor Actor, depositID, dealID string) (Deposit, Deal, error) {
	if err := requireFinance(actor); err != nil {
		return Deposit{}, Deal{}, err
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, 2)
	if err != nil {
		return Deposit{}, Deal{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var dep Deposit
	var deal Deal
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		// The deal first: every deal change locks its deal before anything
		// else (a deposit recorded for it locks the deal, then writes the
		// deposit).
		d, err := tx.DealForUpdate(ctx, dealID)
		if err != nil {
			return err
		}
		if dep, err = tx.DepositForUpdate(ctx, depositID); err != nil {
			return err
		}
		switch {
		case dep.Applied > 0 || dep.Status == DepositMatched || dep.Status == DepositPartial || dep.Status == DepositOverpaid || dep.Status == DepositReturned:
			return apperr.New(apperr.CodeConflict, "deposit %s was credited to deal %s already", dep.ID, dep.DealID)
		case dep.Review != ReviewOpen:
			// Cleared: staff dealt with it otherwise (returned it, say).
			return apperr.New(apperr.CodeConflict, "deposit %s has no open review: it was dealt with (%s)", dep.ID, dep.Note)
		case dep.Currency != d.Currency:
			return apperr.Invalid("deal", "deposit %s is in %s, deal %s in %s", dep.ID, dep.Currency, d.ID, d.Currency)
		case d.State != StateAwaitingPayment:
			return &apperr.Error{Code: CodeStateConflict, Param: "deal", Message: fmt.Sprintf("deal %s is %s, not awaiting payment", d.ID, d.State)}
		}
		now := s.now()
		c := &change{now: now, actor: actor, deal: d, from: d.State, action: "payment_received",
			data: map[string]any{"deposit": dep.ID, "amount": dep.Amount, "applied_by_staff": true}, deposit: &dep, keep: keep}
		c.result = func() any { return ApplyDepositResult{Deposit: dep, Deal: c.deal} }
		dep.Review, dep.UpdatedAt = ReviewCleared, now
		// A suspected duplicate booked nothing: it comes from the bank.
		from := acctSuspense
		if dep.Status == DepositDuplicate {
			from = acctBank
		}
		if err := s.pay(ctx, tx, c, &dep, from, "deposit:"+dep.ID+":applied"); err != nil {
			return err
		}
		if dep.Status == DepositPartial {
			dep.Review = ReviewCleared // staff chose this; the deal's own instructions ask for the rest
		}
		c.data["status"] = dep.Status
		if err := s.commit(ctx, tx, w, c); err != nil {
			return err
		}
		deal = c.deal
		return nil
	})
	if err != nil {
		return Deposit{}, Deal{}, fmt.Errorf("escrow: apply deposit %s to deal %s: %w", depositID, dealID, err)
	}
	return dep, deal, nil
}

// toSuspense books an unmatched credit: bank → suspense; kept runs once
// it is written, before its audit entry.
func (s *Service) toSuspense(ctx context.Context, tx Tx, w *ledger.Writer, dep *Deposit, now time.Time, kept func() error) error {
	d := Deal{Currency: dep.Currency}
	reqs := accountRequests(d)
	accts, err := w.OpenAccounts(ctx, tx, now, []ledger.AccountRequest{reqs[acctBank], reqs[acctSuspense]})
	if err != nil {
		return err
	}
	res, err := w.Transfer(ctx, tx, now, []ledger.TransferRequest{suspenseTransfer(*dep, accts[0].ID, accts[1].ID)})
	if err != nil {
		return err
	}
	if err := ledger.Rejection(res); err != nil {
		return fmt.Errorf("escrow: ledger refused deposit %s into suspense: %w", dep.ID, err)
	}
	if err := tx.DepositUpdate(ctx, *dep); err != nil {
		return err
	}
	if err := kept(); err != nil {
		return err
	}
	return record(ctx, tx, now, actorDeposit, "deposit.unmatched", "deposit", dep.ID, "", map[string]any{"amount": dep.Amount, "bank_ref": dep.BankRef})
}

// suspenseTransfer is a credit's arrival in suspense: bank → suspense.
func suspenseTransfer(dep Deposit, bank, suspense int64) ledger.TransferRequest {
	return ledger.TransferRequest{Owner: LedgerOwner, Reference: "escrow:deposit:" + dep.ID, DebitAccountID: bank, CreditAccountID: suspense,
		Amount: dep.Amount, Asset: dep.Currency, Code: "escrow_suspense", Metadata: map[string]string{"deposit": dep.ID}}
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
	keep := idempotency.KeepOf(ctx)
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
		if err := idempotency.RunKeep(ctx, keep, tx, d); err != nil {
			return err
		}
		return record(ctx, tx, d.UpdatedAt, actor, "deposit.cleared", "deposit", d.ID, "", map[string]any{"note": note})
	})
	if err != nil {
		return Deposit{}, fmt.Errorf("escrow: clear deposit %s: %w", id, err)
	}
	return out, nil
}

// ReturnDeposit books the return to the payer of what a deposit left in
// suspense (all of an unmatched or late credit; an overpayment's excess),
// once staff have sent it back by bank transfer: suspense → bank, the
// deposit's status becomes returned and its review is closed with note,
// in one transaction. A suspected duplicate that was in fact a second
// payment (one no deal awaits) is returned the same way: its arrival in
// suspense is booked first, bank → suspense, then its return.
//
// Errors: forbidden, invalid (note), not_found, conflict (nothing of it is
// in suspense; its review was closed already).
func (s *Service) ReturnDeposit(ctx context.Context, actor Actor, id, note string) (Deposit, error) {
	if err := requireFinance(actor); err != nil {
		return Deposit{}, err
	}
	if strings.TrimSpace(note) == "" || !validText(note, ReasonLenMax) {
		return Deposit{}, apperr.Invalid("note", "a note of at most %d bytes says how it was returned", ReasonLenMax)
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, 2, 2)
	if err != nil {
		return Deposit{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var dep Deposit
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		if dep, err = tx.DepositForUpdate(ctx, id); err != nil {
			return err
		}
		held := dep.Amount - dep.Applied
		switch {
		case dep.Review != ReviewOpen:
			return apperr.New(apperr.CodeConflict, "deposit %s has no open review: it was dealt with (%s)", dep.ID, dep.Note)
		case held <= 0 || dep.Status == DepositPartial || dep.Status == DepositMatched:
			return apperr.New(apperr.CodeConflict, "deposit %s left nothing in suspense: all of it went to deal %s", dep.ID, dep.DealID)
		}
		now := s.now()
		reqs := accountRequests(Deal{Currency: dep.Currency})
		accts, err := w.OpenAccounts(ctx, tx, now, []ledger.AccountRequest{reqs[acctSuspense], reqs[acctBank]})
		if err != nil {
			return err
		}
		transfers := []ledger.TransferRequest{{Owner: LedgerOwner,
			Reference: "escrow:deposit:" + dep.ID + ":returned", DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID,
			Amount: held, Asset: dep.Currency, Code: "escrow_deposit_return", Metadata: map[string]string{"deposit": dep.ID}}}
		if dep.Status == DepositDuplicate {
			// A suspected duplicate booked nothing, but staff say it was a
			// real second payment (for a deal paid already, say) and sent
			// it back: book its arrival in suspense, as for any credit no
			// deal takes, before its return.
			transfers = slices.Insert(transfers, 0, suspenseTransfer(dep, accts[1].ID, accts[0].ID))
		}
		res, err := w.Transfer(ctx, tx, now, transfers)
		if err != nil {
			return err
		}
		if err := ledger.Rejection(res); err != nil {
			return fmt.Errorf("escrow: ledger refused the return of deposit %s: %w", dep.ID, err)
		}
		dep.Status, dep.Review, dep.Note, dep.UpdatedAt = DepositReturned, ReviewCleared, note, now
		if err := tx.DepositUpdate(ctx, dep); err != nil {
			return err
		}
		if err := idempotency.RunKeep(ctx, keep, tx, dep); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, "deposit.returned", "deposit", dep.ID, "", map[string]any{"amount": held, "note": note})
	})
	if err != nil {
		return Deposit{}, fmt.Errorf("escrow: return deposit %s: %w", id, err)
	}
	return dep, nil
}
