package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// escrowFixture is an escrow service on a fresh store, on the fixture's
// engine and clock.
type escrowFixture struct {
	*fixture
	es  escrow.Store
	svc *escrow.Service
}

var (
	siteA  = escrow.Actor{Kind: escrow.ActorOrg, ID: "org_siteA"}
	siteB  = escrow.Actor{Kind: escrow.ActorOrg, ID: "org_siteB"}
	seller = escrow.Actor{Kind: escrow.ActorUser, ID: "usr_seller", Email: "seller@example.com", Locale: "en"}
	buyer  = escrow.Actor{Kind: escrow.ActorUser, ID: "usr_buyer", Email: "buyer@example.com", Locale: "ja"}
	other  = escrow.Actor{Kind: escrow.ActorUser, ID: "usr_other", Email: "other@example.com"}
	staffS = escrow.Actor{Kind: escrow.ActorStaff, ID: "stf_support", Role: "support"}
	staffF = escrow.Actor{Kind: escrow.ActorStaff, ID: "stf_finance", Role: "finance"}
)

func newEscrowFixture(t testing.TB, h Harness) *escrowFixture {
	t.Helper()
	f := newFixture(t, h)
	es, ok := f.store.(escrow.Store)
	if !ok {
		t.Fatalf("%T does not implement escrow.Store", f.store)
	}
	// Fraud rules that never fire: testEscrowFraud sets its own.
	quiet := escrow.FraudRules{AmountMin: 1 << 50, DealsPerDayMax: 1 << 30, NewPartyAmountMin: 1 << 50, SellersPerBankAccountMax: 1 << 30}
	svc := escrow.NewService(escrow.Config{Store: es, Ledger: f.engine, Clock: f.clock.Now, PayTo: "Kinko Bank 001-100 1234567",
		PortalURL: "https://escrow.example", Fraud: quiet})
	return &escrowFixture{fixture: f, es: es, svc: svc}
}

func (f *escrowFixture) params() escrow.DealParams {
	return escrow.DealParams{Title: "Camera", Currency: "JPY", Price: 50000, ShippingFee: 1000, FeePayer: escrow.FeeSeller,
		SellerEmail: seller.Email, BuyerEmail: buyer.Email}
}

func (f *escrowFixture) create(p escrow.DealParams) escrow.Deal {
	f.t.Helper()
	d, err := f.svc.CreateDeal(f.ctx, siteA, p)
	if err != nil {
		f.t.Fatalf("create deal: %v", err)
	}
	return d
}

func (f *escrowFixture) must(d escrow.Deal, err error) escrow.Deal {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *escrowFixture) mustDeposit(d escrow.Deposit, err error) escrow.Deposit {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *escrowFixture) deposit(ref string, amount int64, bankRef string) escrow.Deposit {
	f.t.Helper()
	dep, _, err := f.svc.RecordDeposit(f.ctx, staffF, escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: "001-100-1234567",
		BankRef: bankRef, Currency: "JPY", Amount: amount, ValueDate: f.Now(), PayerName: ref + " ﾔﾏﾀﾞ ﾀﾛｳ"})
	if err != nil {
		f.t.Fatalf("deposit: %v", err)
	}
	return dep
}

// credit returns an escrow ledger account's credit balance (credits − debits, posted).
func (f *escrowFixture) credit(reference string) int64 {
	f.t.Helper()
	var accts []ledger.Account
	err := f.store.Transact(f.ctx, func(tx ledger.Tx) error {
		var err error
		accts, err = tx.AccountsByReference(f.ctx, []ledger.RefKey{{Owner: escrow.LedgerOwner, Reference: reference}})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(accts) == 0 {
		return 0
	}
	return accts[0].CreditsPosted - accts[0].DebitsPosted
}

func (f *escrowFixture) holding(d escrow.Deal) int64 { return f.credit("escrow:deal:" + d.ID) }

func wantErrCode(t testing.TB, err error, code string) {
	t.Helper()
	if apperr.CodeOf(err) != code {
		t.Fatalf("error %v: code %q, want %q", err, apperr.CodeOf(err), code)
	}
}

func testEscrow(t *testing.T, h Harness) {
	t.Run("HappyPath", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		d := f.create(f.params())
		if d.State != escrow.StatePendingAcceptance || d.Fee != 1500 || d.AmountDue != 51000 || !escrow.ValidPaymentRef(d.PaymentRef) {
			t.Fatalf("created %+v", d)
		}
		d = f.must(f.svc.AcceptDeal(f.ctx, buyer, d.ID))
		if d.State != escrow.StateAwaitingPayment || d.DueAt == nil || d.Buyer.UserID != buyer.ID {
			t.Fatalf("accepted %+v", d)
		}
		dep := f.deposit(d.PaymentRef, 51000, "bank-1")
		if dep.Status != escrow.DepositMatched || dep.DealID != d.ID || dep.Review != escrow.ReviewNone {
			t.Fatalf("deposit %+v", dep)
		}
		d = f.must(f.svc.FindDealByID(f.ctx, seller, d.ID))
		if d.State != escrow.StateFunded || f.holding(d) != 51000 {
			t.Fatalf("funded %+v, holding %d", d, f.holding(d))
		}
		d = f.must(f.svc.MarkShipped(f.ctx, seller, d.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1234-5678"}))
		d = f.must(f.svc.ConfirmReceipt(f.ctx, buyer, d.ID))
		d = f.must(f.svc.ApproveDeal(f.ctx, buyer, d.ID))
		if d.State != escrow.StateReleased || d.Released != 49500 || d.FeeTaken != 1500 || d.Remaining() != 0 {
			t.Fatalf("released %+v", d)
		}
		if got := f.holding(d); got != 0 {
			t.Errorf("holding %d after release", got)
		}
		if got := f.credit(escrow.PayableReference(seller.Email, "JPY")); got != 49500 {
			t.Errorf("seller payable %d, want 49500", got)
		}
		if got := f.credit("escrow:fees:JPY"); got != 1500 {
			t.Errorf("fees %d, want 1500", got)
		}
		if got := -f.credit("escrow:bank:JPY"); got != 51000 {
			t.Errorf("bank %d, want 51000", got)
		}
		tl, err := f.svc.FindTimeline(f.ctx, buyer, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for i, e := range tl {
			if e.Seq != i+1 {
				t.Errorf("timeline entry %d has seq %d", i, e.Seq)
			}
			actions = append(actions, e.Action)
		}
		if fmt.Sprint(actions) != "[created accepted funded shipped received released]" {
			t.Errorf("timeline %v", actions)
		}
		as := f.store.(audit.Store)
		entries, err := as.AuditList(f.ctx, audit.Filter{SubjectType: "deal", SubjectID: d.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var audited []string
		for _, e := range entries {
			audited = append(audited, e.Actor.ID+":"+e.Action)
		}
		if want := "[org_siteA:deal.created usr_buyer:deal.accepted deposit:deal.funded usr_seller:deal.shipped usr_buyer:deal.received usr_buyer:deal.released]"; fmt.Sprint(audited) != want {
			t.Errorf("audit log of the deal %v, want %s", audited, want)
		}
		if rep, err := audit.NewService(as, nil).Verify(f.ctx); err != nil || !rep.OK() {
			t.Errorf("audit chain: %+v, %v", rep, err)
		}
		f.verifyClean()
	})

	t.Run("Guards", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		d := f.create(f.params())
		_, err := f.svc.AcceptDeal(f.ctx, seller, d.ID)
		wantErrCode(t, err, escrow.CodeNotParty)
		_, err = f.svc.AcceptDeal(f.ctx, other, d.ID)
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.AcceptDeal(f.ctx, siteB, d.ID)
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.MarkShipped(f.ctx, seller, d.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"})
		wantErrCode(t, err, escrow.CodeStateConflict)
		_, err = f.svc.ApproveDeal(f.ctx, buyer, d.ID)
		wantErrCode(t, err, escrow.CodeStateConflict)
		_, err = f.svc.ResolveDispute(f.ctx, staffF, d.ID, escrow.ResolveParams{Resolution: escrow.ResolveRefund})
		wantErrCode(t, err, apperr.CodeForbidden)
		_, _, err = f.svc.RecordDeposit(f.ctx, buyer, escrow.DepositParams{})
		wantErrCode(t, err, apperr.CodeForbidden)
		p := f.params()
		p.BuyerEmail = p.SellerEmail
		_, err = f.svc.CreateDeal(f.ctx, siteA, p)
		wantErrCode(t, err, apperr.CodeInvalid)
		p = f.params()
		p.Currency = "EUR"
		_, err = f.svc.CreateDeal(f.ctx, siteA, p)
		wantErrCode(t, err, apperr.CodeInvalid)
		if got, _ := f.svc.FindDeals(f.ctx, siteB, escrow.DealFilter{Limit: 10}); len(got) != 0 {
			t.Errorf("site B sees %d of site A's deals", len(got))
		}
		// Refused requests changed nothing.
		got := f.must(f.svc.FindDealByID(f.ctx, siteA, d.ID))
		if got.State != escrow.StatePendingAcceptance || got.Version != d.Version {
			t.Errorf("after refusals: %+v", got)
		}
		f.verifyClean()
	})

	t.Run("ExternalRefIsIdempotent", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		p := f.params()
		p.ExternalRef = "auction-42"
		a, b := f.create(p), f.create(p)
		if a.ID != b.ID {
			t.Fatalf("two deals for one external_ref: %s, %s", a.ID, b.ID)
		}
		p.Price++
		_, err := f.svc.CreateDeal(f.ctx, siteA, p)
		if apperr.CodeOf(err) != apperr.CodeConflict {
			t.Fatalf("same external_ref, another price: %v", err)
		}
	})

	t.Run("Deposits", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		d := f.create(f.params())
		d = f.must(f.svc.AcceptDeal(f.ctx, buyer, d.ID))
		dep := f.deposit(d.PaymentRef, 20000, "b-1")
		if dep.Status != escrow.DepositPartial || dep.Review != escrow.ReviewOpen || dep.Applied != 20000 {
			t.Fatalf("partial %+v", dep)
		}
		again := f.deposit(d.PaymentRef, 20000, "b-1")
		if again.ID != dep.ID {
			t.Fatalf("re-import recorded a second deposit %s", again.ID)
		}
		_, _, err := f.svc.RecordDeposit(f.ctx, staffF, escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: "001-100-1234567",
			BankRef: "b-1", Currency: "JPY", Amount: 20001, ValueDate: f.Now()})
		wantErrCode(t, err, apperr.CodeConflict)
		if got := f.holding(d); got != 20000 {
			t.Fatalf("holding %d after a partial payment imported twice, want 20000", got)
		}
		over := f.deposit(d.PaymentRef, 40000, "b-2")
		if over.Status != escrow.DepositOverpaid || over.Applied != 31000 {
			t.Fatalf("overpaid %+v", over)
		}
		if got := f.credit("escrow:suspense:JPY"); got != 9000 {
			t.Errorf("suspense %d, want 9000", got)
		}
		late := f.deposit(d.PaymentRef, 100, "b-3")
		if late.Status != escrow.DepositLate || late.Review != escrow.ReviewOpen {
			t.Errorf("late %+v", late)
		}
		unknown := f.deposit("1234567890", 5000, "b-4")
		if unknown.Status != escrow.DepositUnmatched || unknown.DealID != "" {
			t.Errorf("unknown %+v", unknown)
		}
		if got := f.credit("escrow:suspense:JPY"); got != 9000+100+5000 {
			t.Errorf("suspense %d", got)
		}
		open, err := f.svc.FindDeposits(f.ctx, staffF, escrow.DepositFilter{Review: escrow.ReviewOpen, Limit: 10})
		if err != nil || len(open) != 4 {
			t.Fatalf("open reviews: %d, %v", len(open), err)
		}
		cleared, err := f.svc.ClearDeposit(f.ctx, staffF, unknown.ID, "returned to payer")
		if err != nil || cleared.Review != escrow.ReviewCleared {
			t.Fatalf("clear: %+v, %v", cleared, err)
		}
		_, err = f.svc.ClearDeposit(f.ctx, staffF, unknown.ID, "again")
		wantErrCode(t, err, apperr.CodeConflict)
		f.verifyClean()
	})

	t.Run("ApplyDeposit", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		// A credit whose reference was mistyped: to suspense, review open.
		typo := f.deposit("1234567890", d.AmountDue+500, "ap-1")
		if typo.Status != escrow.DepositUnmatched || f.credit("escrow:suspense:JPY") != d.AmountDue+500 {
			t.Fatalf("unmatched %+v, suspense %d", typo, f.credit("escrow:suspense:JPY"))
		}
		_, _, err := f.svc.ApplyDeposit(f.ctx, seller, typo.ID, d.ID)
		wantErrCode(t, err, apperr.CodeForbidden)
		dep, deal, err := f.svc.ApplyDeposit(f.ctx, staffF, typo.ID, d.ID)
		if err != nil || dep.Status != escrow.DepositOverpaid || dep.Applied != d.AmountDue || dep.DealID != d.ID || dep.Review != escrow.ReviewOpen {
			t.Fatalf("apply: %+v, %v", dep, err)
		}
		if deal.State != escrow.StateFunded || deal.AmountPaid != d.AmountDue || f.holding(d) != d.AmountDue || f.credit("escrow:suspense:JPY") != 500 {
			t.Fatalf("deal %s paid %d, holding %d, suspense %d", deal.State, deal.AmountPaid, f.holding(d), f.credit("escrow:suspense:JPY"))
		}
		// Once only; and only to a deal that awaits payment.
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, typo.ID, d.ID)
		wantErrCode(t, err, apperr.CodeConflict)
		other := f.deposit("1234567890", 700, "ap-2")
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, other.ID, d.ID)
		wantErrCode(t, err, escrow.CodeStateConflict)
		matched := f.deposit(f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID)).PaymentRef, 100, "ap-3")
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, matched.ID, matched.DealID)
		wantErrCode(t, err, apperr.CodeConflict)
		// A part of what a deal owes: applied, the deal waits for the rest.
		d2 := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		if dep, deal, err := f.svc.ApplyDeposit(f.ctx, staffF, other.ID, d2.ID); err != nil || dep.Status != escrow.DepositPartial ||
			dep.Review != escrow.ReviewCleared || deal.State != escrow.StateAwaitingPayment || deal.AmountPaid != 700 {
			t.Fatalf("a part applied: %+v %s %d, %v", dep, deal.State, deal.AmountPaid, err)
		}
		// A deposit staff dealt with otherwise (cleared) is not credited.
		handled := f.deposit("1234567890", 300, "ap-4")
		f.mustDeposit(f.svc.ClearDeposit(f.ctx, staffF, handled.ID, "the payer's bank recalled it"))
		d3 := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, handled.ID, d3.ID)
		wantErrCode(t, err, apperr.CodeConflict)

		// Returns: what suspense holds of a deposit goes back to the bank
		// mirror, once; nothing of a deposit credited whole to its deal.
		suspense, bank := f.credit("escrow:suspense:JPY"), f.credit("escrow:bank:JPY")
		back := f.deposit("1234567890", 400, "ap-5")
		_, err = f.svc.ReturnDeposit(f.ctx, staffF, back.ID, " ")
		wantErrCode(t, err, apperr.CodeInvalid)
		_, err = f.svc.ReturnDeposit(f.ctx, seller, back.ID, "sent back")
		wantErrCode(t, err, apperr.CodeForbidden)
		got, err := f.svc.ReturnDeposit(f.ctx, staffF, back.ID, "sent back on 2026-01-06")
		if err != nil || got.Status != escrow.DepositReturned || got.Review != escrow.ReviewCleared || got.Note != "sent back on 2026-01-06" {
			t.Fatalf("return: %+v, %v", got, err)
		}
		if f.credit("escrow:suspense:JPY") != suspense || f.credit("escrow:bank:JPY") != bank {
			t.Fatalf("after the return suspense %d (was %d), bank %d (was %d)", f.credit("escrow:suspense:JPY"), suspense, f.credit("escrow:bank:JPY"), bank)
		}
		_, err = f.svc.ReturnDeposit(f.ctx, staffF, back.ID, "again")
		wantErrCode(t, err, apperr.CodeConflict)
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, back.ID, d3.ID)
		wantErrCode(t, err, apperr.CodeConflict)
		// The overpayment's excess (500 of typo, above) goes back alone.
		excess, err := f.svc.ReturnDeposit(f.ctx, staffF, typo.ID, "excess sent back")
		if err != nil || excess.Applied != d.AmountDue || excess.Status != escrow.DepositReturned || f.credit("escrow:suspense:JPY") != suspense-500 {
			t.Fatalf("the excess returned: %+v, %v; suspense %d", excess, err, f.credit("escrow:suspense:JPY"))
		}
		_, err = f.svc.ReturnDeposit(f.ctx, staffF, other.ID, "all of it went to a deal")
		wantErrCode(t, err, apperr.CodeConflict)
		if rep, err := f.svc.Verify(f.ctx, nil); err != nil || len(rep.Violations) != 0 {
			t.Fatalf("escrow verify: %+v, %v", rep, err)
		}
		f.verifyClean()
	})

	t.Run("DuplicateAcrossSources", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
		credit := func(src escrow.DepositSource, bankRef, payer string, amount int64) escrow.Deposit {
			t.Helper()
			dep, _, err := f.svc.RecordDeposit(f.ctx, staffF, escrow.DepositParams{Source: src, BankAccount: "0005-001-1234567",
				BankRef: bankRef, Currency: "JPY", Amount: amount, ValueDate: day, PayerName: payer})
			if err != nil {
				t.Fatalf("record %s %s: %v", src, bankRef, err)
			}
			return dep
		}
		d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		half := d.AmountDue / 2
		// Posted through the API, then seen again in the day's Zengin file
		// under the file's own reference: not paid twice.
		first := credit(escrow.SourceAPI, "api-1", d.PaymentRef+" ﾔﾏﾀﾞ ﾀﾛｳ", half)
		bank, suspense := f.credit("escrow:bank:JPY"), f.credit("escrow:suspense:JPY")
		again := credit(escrow.SourceZengin, "20260105-20260105-00000001", d.PaymentRef+" ヤマダ タロウ", half)
		if first.Status != escrow.DepositPartial || again.Status != escrow.DepositDuplicate || again.Review != escrow.ReviewOpen || again.Applied != 0 {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		if f.holding(d) != half || f.credit("escrow:bank:JPY") != bank || f.credit("escrow:suspense:JPY") != suspense {
			t.Fatalf("a suspected duplicate moved money: holding %d", f.holding(d))
		}
		// It was a second real payment after all: applied from the bank.
		dep, deal, err := f.svc.ApplyDeposit(f.ctx, staffF, again.ID, d.ID)
		if err != nil || dep.Status != escrow.DepositMatched || deal.State != escrow.StateFunded || f.holding(d) != d.AmountDue || f.credit("escrow:suspense:JPY") != suspense {
			t.Fatalf("applied: %+v, %s holding %d, %v", dep, deal.State, f.holding(d), err)
		}
		// A third like credit, from a camt.053 file: a real payment too,
		// for a deal paid in full. It cannot be applied; staff send it back
		// and return it, which books its arrival and its return.
		third := credit(escrow.SourceCamt, "ref:A3", d.PaymentRef+" YAMADA TARO", half)
		if third.Status != escrow.DepositDuplicate {
			t.Fatalf("third %+v", third)
		}
		_, _, err = f.svc.ApplyDeposit(f.ctx, staffF, third.ID, d.ID)
		wantErrCode(t, err, escrow.CodeStateConflict)
		bank, suspense = f.credit("escrow:bank:JPY"), f.credit("escrow:suspense:JPY")
		returned := f.mustDeposit(f.svc.ReturnDeposit(f.ctx, staffF, third.ID, "sent back by transfer"))
		if returned.Status != escrow.DepositReturned || returned.Review != escrow.ReviewCleared || f.holding(d) != d.AmountDue ||
			f.credit("escrow:bank:JPY") != bank || f.credit("escrow:suspense:JPY") != suspense {
			t.Fatalf("returned duplicate %+v: holding %d, bank %d (was %d), suspense %d (was %d)", returned, f.holding(d),
				f.credit("escrow:bank:JPY"), bank, f.credit("escrow:suspense:JPY"), suspense)
		}
		var moves []ledger.Transfer
		err = f.store.Transact(f.ctx, func(tx ledger.Tx) error {
			_, moves, err = tx.AccountsForUpdate(f.ctx, nil, []ledger.RefKey{{Owner: escrow.LedgerOwner, Reference: "escrow:deposit:" + third.ID},
				{Owner: escrow.LedgerOwner, Reference: "escrow:deposit:" + third.ID + ":returned"}})
			return err
		})
		if err != nil || len(moves) != 2 || moves[0].Amount != half || moves[1].Amount != half || moves[0].DebitAccountID != moves[1].CreditAccountID {
			t.Fatalf("the returned duplicate's arrival and return: %+v, %v", moves, err)
		}
		_, err = f.svc.ReturnDeposit(f.ctx, staffF, third.ID, "again")
		wantErrCode(t, err, apperr.CodeConflict)
		// One credit from a Zengin file and a camt.053 file, no deal named:
		// the second is cleared as what it is, and nothing moved.
		bank = f.credit("escrow:bank:JPY")
		z := credit(escrow.SourceZengin, "20260105-20260105-00000002", "ｽｽﾞｷ ﾊﾅｺ", 3000)
		c := credit(escrow.SourceCamt, "ref:B7", "スズキ ハナコ", 3000)
		if z.Status != escrow.DepositUnmatched || c.Status != escrow.DepositDuplicate || f.credit("escrow:bank:JPY") != bank-3000 {
			t.Fatalf("zengin %+v, camt %+v, bank %d (was %d)", z, c, f.credit("escrow:bank:JPY"), bank)
		}
		f.mustDeposit(f.svc.ClearDeposit(f.ctx, staffF, c.ID, "the same credit as "+z.ID))
		// The API's record names no deal, the statement's the deal's
		// reference: one payer's one credit, not a payment beside an
		// unknown one.
		d2 := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		bank = f.credit("escrow:bank:JPY")
		noRef := credit(escrow.SourceAPI, "api-7", "ﾀﾅｶ ｼﾞﾛｳ", d2.AmountDue)
		withRef := credit(escrow.SourceZengin, "20260105-20260105-00000007", d2.PaymentRef+" ﾀﾅｶ ｼﾞﾛｳ", d2.AmountDue)
		if noRef.Status != escrow.DepositUnmatched || withRef.Status != escrow.DepositDuplicate || withRef.DealID != d2.ID ||
			f.holding(d2) != 0 || f.credit("escrow:bank:JPY") != bank-d2.AmountDue {
			t.Fatalf("no reference %+v, with reference %+v, holding %d", noRef, withRef, f.holding(d2))
		}
		// Staff credit the booked record to the deal and clear the other.
		if _, deal, err := f.svc.ApplyDeposit(f.ctx, staffF, noRef.ID, d2.ID); err != nil || deal.State != escrow.StateFunded {
			t.Fatalf("apply the unmatched record: %s, %v", deal.State, err)
		}
		f.mustDeposit(f.svc.ClearDeposit(f.ctx, staffF, withRef.ID, "the same credit as "+noRef.ID))
		// One source lists distinct credits: two alike entries of one file
		// are two payments.
		z2 := credit(escrow.SourceZengin, "20260105-20260105-00000003", "ｽｽﾞｷ ﾊﾅｺ", 3000)
		if z2.Status != escrow.DepositUnmatched {
			t.Fatalf("a second entry of the same source: %+v", z2)
		}
		if rep, err := f.svc.Verify(f.ctx, nil); err != nil || len(rep.Violations) != 0 {
			t.Fatalf("escrow verify: %+v, %v", rep, err)
		}
		f.verifyClean()
	})

	t.Run("TimerSweepPassesOverFailures", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		// More deals whose timer fails than one page of the sweep holds,
		// all due before two whose timers work.
		stuck := map[string]bool{}
		for range escrow.TimerSweepBatchMax + 5 {
			d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
			stuck[d.ID] = true
		}
		f.clock.Advance(time.Second)
		var later []escrow.Deal
		for range 2 {
			later = append(later, f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID)))
		}
		f.clock.Advance(30 * 24 * time.Hour)
		broken := escrow.NewService(escrow.Config{Store: failingTimers{f.es, stuck}, Ledger: f.engine, Clock: f.clock.Now,
			PayTo: "Kinko Bank 001-100 1234567", PortalURL: "https://escrow.example"})
		n, err := broken.FireDueTimers(f.ctx)
		if n != len(later) || !errors.Is(err, errInjected) {
			t.Fatalf("sweep past %d failing deals = %d, %v; want %d and the failures", len(stuck), n, err, len(later))
		}
		for _, d := range later {
			if got := f.must(f.svc.FindDealByID(f.ctx, siteA, d.ID)); got.State != escrow.StateCanceled {
				t.Fatalf("deal due after the failing ones is %s", got.State)
			}
		}
		// Once their timers work, the next sweep fires them.
		if n, err := f.svc.FireDueTimers(f.ctx); n != len(stuck) || err != nil {
			t.Fatalf("sweep after the failures = %d, %v; want %d", n, err, len(stuck))
		}
		f.verifyClean()
	})

	t.Run("Timers", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		day := 24 * time.Hour
		unpaid := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		f.deposit(unpaid.PaymentRef, 1000, "t-1")
		unshipped := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		f.deposit(unshipped.PaymentRef, unshipped.AmountDue, "t-2")
		inspected := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		f.deposit(inspected.PaymentRef, inspected.AmountDue, "t-3")
		f.must(f.svc.MarkShipped(f.ctx, seller, inspected.ID, escrow.ShipParams{Carrier: "JP Post", TrackingNumber: "9"}))
		f.must(f.svc.ConfirmReceipt(f.ctx, buyer, inspected.ID))
		held := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		f.deposit(held.PaymentRef, held.AmountDue, "t-4")
		f.must(f.svc.MarkShipped(f.ctx, seller, held.ID, escrow.ShipParams{Carrier: "JP Post", TrackingNumber: "8"}))
		f.must(f.svc.ConfirmReceipt(f.ctx, buyer, held.ID))
		f.must(f.svc.SetReviewHold(f.ctx, staffS, held.ID, true, []string{"new_account_large_amount"}))

		// A timer not yet due changes nothing and says when to come back.
		when, err := f.svc.FireTimer(f.ctx, unpaid.ID, escrow.TimerPayBy)
		if err != nil || !when.Equal(*unpaid.DueAt) {
			t.Fatalf("early timer: %v, %v", when, err)
		}
		if n, err := f.svc.FireDueTimers(f.ctx); err != nil || n != 0 {
			t.Fatalf("nothing due: fired %d, %v", n, err)
		}
		f.clock.Advance(8 * day)
		// Four deadlines passed; the held deal's is spent without releasing it.
		n, err := f.svc.FireDueTimers(f.ctx)
		if err != nil || n != 4 {
			t.Fatalf("fired %d, %v; want 4", n, err)
		}
		if n, err := f.svc.FireDueTimers(f.ctx); err != nil || n != 0 {
			t.Fatalf("a second sweep fired %d, %v", n, err)
		}
		for _, c := range []struct {
			d    escrow.Deal
			want escrow.State
		}{{unpaid, escrow.StateCanceled}, {unshipped, escrow.StateRefunded}, {inspected, escrow.StateReleased}, {held, escrow.StateReceived}} {
			got := f.must(f.svc.FindDealByID(f.ctx, siteA, c.d.ID))
			if got.State != c.want || (c.want != escrow.StateReceived && got.Remaining() != 0) {
				t.Errorf("deal %s: %s remaining %d, want %s", c.d.ID, got.State, got.Remaining(), c.want)
			}
			if f.holding(got) != got.Remaining() {
				t.Errorf("deal %s: holding %d, deal says %d", got.ID, f.holding(got), got.Remaining())
			}
		}
		// The buyer got back the part payment and the unshipped deal.
		if got := f.credit(escrow.PayableReference(buyer.Email, "JPY")); got != 1000+unshipped.AmountDue {
			t.Errorf("buyer payable %d", got)
		}
		// A timer fired twice, or after the deal moved on, changes nothing.
		if when, err := f.svc.FireTimer(f.ctx, unpaid.ID, escrow.TimerPayBy); err != nil || !when.IsZero() {
			t.Errorf("refire: %v, %v", when, err)
		}
		cleared := f.must(f.svc.SetReviewHold(f.ctx, staffS, held.ID, false, nil))
		if cleared.State != escrow.StateReleased {
			t.Errorf("clearing a review past inspection: %s, want released", cleared.State)
		}
		f.verifyClean()
	})

	t.Run("DisputeSplit", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		p := f.params()
		p.FeePayer = escrow.FeeSplit
		d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(p).ID))
		f.deposit(d.PaymentRef, d.AmountDue, "d-1")
		f.must(f.svc.MarkShipped(f.ctx, seller, d.ID, escrow.ShipParams{Carrier: "Sagawa", TrackingNumber: "7"}))
		_, err := f.svc.OpenDispute(f.ctx, seller, d.ID, "x")
		wantErrCode(t, err, escrow.CodeNotParty)
		d = f.must(f.svc.OpenDispute(f.ctx, buyer, d.ID, "the lens is scratched"))
		for _, a := range []escrow.Actor{buyer, seller, staffS} {
			if _, err := f.svc.PostMessage(f.ctx, a, d.ID, "message from "+a.ID); err != nil {
				t.Fatal(err)
			}
		}
		_, err = f.svc.PostMessage(f.ctx, other, d.ID, "hi")
		wantErrCode(t, err, apperr.CodeNotFound)
		msgs, err := f.svc.FindMessages(f.ctx, seller, d.ID)
		if err != nil || len(msgs) != 3 || msgs[0].Party != "buyer" || msgs[1].Party != "seller" || msgs[2].Party != "staff" {
			t.Fatalf("thread %+v, %v", msgs, err)
		}
		held := d.Remaining()
		_, err = f.svc.ResolveDispute(f.ctx, staffS, d.ID, escrow.ResolveParams{Resolution: escrow.ResolveSplit, BuyerAmount: held})
		wantErrCode(t, err, apperr.CodeInvalid)
		d = f.must(f.svc.ResolveDispute(f.ctx, staffS, d.ID, escrow.ResolveParams{Resolution: escrow.ResolveSplit, BuyerAmount: 20000}))
		if d.State != escrow.StateResolved || d.Refunded != 20000 || d.FeeTaken != d.Fee || d.Released != held-20000-d.Fee || d.Remaining() != 0 {
			t.Fatalf("split %+v", d)
		}
		f.verifyClean()
	})

	t.Run("Milestones", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		p := f.params()
		p.Price, p.ShippingFee, p.FeePayer = 100000, 0, escrow.FeeBuyer
		p.Milestones = []escrow.MilestoneParams{{Title: "design", Amount: 30000}, {Title: "build", Amount: 70000}}
		d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(p).ID))
		f.deposit(d.PaymentRef, d.AmountDue, "m-1")
		d = f.must(f.svc.ReleaseMilestone(f.ctx, buyer, d.ID))
		if d.State != escrow.StateFunded || d.Milestones[0].ReleasedAt == nil || d.Released != 30000 {
			t.Fatalf("first milestone %+v", d)
		}
		d = f.must(f.svc.ReleaseMilestone(f.ctx, buyer, d.ID))
		if d.State != escrow.StateReleased || d.Released != 100000 || d.FeeTaken != 3000 || f.holding(d) != 0 {
			t.Fatalf("last milestone %+v", d)
		}
		f.verifyClean()
	})

	t.Run("ConcurrentApprovals", func(t *testing.T) {
		f := newEscrowFixture(t, h)
		d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		f.deposit(d.PaymentRef, d.AmountDue, "c-1")
		f.must(f.svc.MarkShipped(f.ctx, seller, d.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"}))
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					_, errs[i] = f.svc.ApproveDeal(f.ctx, buyer, d.ID)
				} else {
					_, errs[i] = f.svc.OpenDispute(f.ctx, buyer, d.ID, "race")
				}
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case apperr.CodeOf(err) != escrow.CodeStateConflict:
				t.Errorf("unexpected error %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of the racing actions succeeded, want 1", ok)
		}
		got := f.must(f.svc.FindDealByID(f.ctx, siteA, d.ID))
		if f.holding(got) != got.Remaining() {
			t.Errorf("holding %d, deal says %d", f.holding(got), got.Remaining())
		}
		f.verifyClean()
	})

	t.Run("Payouts", func(t *testing.T) { testEscrowPayouts(t, h) })
	t.Run("PayoutsPastIdlePayees", func(t *testing.T) { testEscrowPayoutsPastIdlePayees(t, h) })
	t.Run("BankAccountOwnership", func(t *testing.T) { testEscrowBankAccountOwnership(t, h) })
	t.Run("Fraud", func(t *testing.T) { testEscrowFraud(t, h) })
	t.Run("BankFiles", func(t *testing.T) { testEscrowBankFiles(t, h) })
	t.Run("TimersTwoNodes", func(t *testing.T) { testEscrowTimersTwoNodes(t, h) })
	t.Run("Model", func(t *testing.T) { testEscrowModel(t, h) })
	t.Run("Keep", func(t *testing.T) { testEscrowKeep(t, h) })
}

// testEscrowModel drives random actions on a few deals and checks after each
// that every deal's holding account holds exactly what the deal says
// (Remaining), that money is conserved (bank = holdings + payables + fees +
// suspense), and that the ledger verifies.
func testEscrowModel(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	rng := rand.New(rand.NewPCG(7, 11))
	var deals []string
	steps := 150
	if testing.Short() {
		steps = 40
	}
	bankRef := 0
	for step := range steps {
		if len(deals) < 6 || rng.IntN(6) == 0 {
			p := f.params()
			p.Price = 1000 + rng.Int64N(100000)
			p.FeePayer = []escrow.FeePayer{escrow.FeeBuyer, escrow.FeeSeller, escrow.FeeSplit}[rng.IntN(3)]
			deals = append(deals, f.create(p).ID)
			continue
		}
		id := deals[rng.IntN(len(deals))]
		d := f.must(f.svc.FindDealByID(f.ctx, siteA, id))
		var err error
		switch rng.IntN(10) {
		case 0:
			_, err = f.svc.AcceptDeal(f.ctx, buyer, id)
		case 1, 2:
			bankRef++
			amount := d.AmountDue - d.AmountPaid
			if rng.IntN(3) == 0 {
				amount = 1 + rng.Int64N(max(d.AmountDue, 2))
			}
			_, _, err = f.svc.RecordDeposit(f.ctx, staffF, escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: "main",
				BankRef: fmt.Sprintf("m-%d", bankRef), Currency: "JPY", Amount: max(amount, 1), ValueDate: f.Now(), PaymentRef: d.PaymentRef})
		case 3:
			_, err = f.svc.MarkShipped(f.ctx, seller, id, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"})
		case 4:
			_, err = f.svc.ConfirmReceipt(f.ctx, buyer, id)
		case 5:
			_, err = f.svc.ApproveDeal(f.ctx, buyer, id)
		case 6:
			_, err = f.svc.OpenDispute(f.ctx, buyer, id, "model")
		case 7:
			res := []escrow.Resolution{escrow.ResolveRelease, escrow.ResolveRefund, escrow.ResolveSplit}[rng.IntN(3)]
			_, err = f.svc.ResolveDispute(f.ctx, staffS, id, escrow.ResolveParams{Resolution: res, BuyerAmount: 1 + rng.Int64N(max(d.Remaining()-1, 1))})
		case 8:
			_, err = f.svc.CancelDeal(f.ctx, buyer, id)
		case 9:
			f.clock.Advance(time.Duration(rng.IntN(9)) * 24 * time.Hour)
			_, err = f.svc.FireDueTimers(f.ctx)
		}
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code == apperr.CodeInternal || ae.Code == ledger.CodeTransferRejected {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		var holdings, remaining int64
		for _, id := range deals {
			d := f.must(f.svc.FindDealByID(f.ctx, siteA, id))
			if d.Remaining() < 0 || d.Remaining() != f.holding(d) {
				t.Fatalf("step %d: deal %s remaining %d, holding %d", step, id, d.Remaining(), f.holding(d))
			}
			holdings += f.holding(d)
			remaining += d.Remaining()
		}
		bank := -f.credit("escrow:bank:JPY")
		rest := f.credit(escrow.PayableReference(buyer.Email, "JPY")) + f.credit(escrow.PayableReference(seller.Email, "JPY")) +
			f.credit("escrow:fees:JPY") + f.credit("escrow:suspense:JPY")
		if bank != holdings+rest {
			t.Fatalf("step %d: bank %d ≠ holdings %d + payables, fees and suspense %d", step, bank, holdings, rest)
		}
	}
	f.verifyClean()
}

// closedDeal runs a deal of site A for seller s to release and returns it.
func (f *escrowFixture) closedDeal(s escrow.Actor, price int64, bankRef string) escrow.Deal {
	f.t.Helper()
	return f.closedDealOn(siteA, s, price, bankRef)
}

// closedDealOn is closedDeal for a deal of site.
func (f *escrowFixture) closedDealOn(site, s escrow.Actor, price int64, bankRef string) escrow.Deal {
	f.t.Helper()
	p := f.params()
	p.SellerEmail, p.Price, p.ShippingFee = s.Email, price, 0
	created, err := f.svc.CreateDeal(f.ctx, site, p)
	if err != nil {
		f.t.Fatalf("create deal: %v", err)
	}
	d := f.must(f.svc.AcceptDeal(f.ctx, buyer, created.ID))
	f.deposit(d.PaymentRef, d.AmountDue, bankRef)
	f.must(f.svc.MarkShipped(f.ctx, site, d.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"}))
	return f.must(f.svc.ApproveDeal(f.ctx, buyer, d.ID))
}

func bankParams(email, number string) escrow.BankAccountParams {
	return escrow.BankAccountParams{Email: email, BankCode: "0001", BankName: "MIZUHO", BranchCode: "100", BranchName: "HONTEN",
		AccountType: escrow.AccountOrdinary, AccountNumber: number, HolderName: "YAMADA TARO"}
}

// testEscrowBankAccountOwnership: a site may replace only a bank account it
// registered itself. Another site that merely names the payee as a seller
// cannot redirect the payee's payouts, and neither can the site once the
// payee has registered their own.
func testEscrowBankAccountOwnership(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	d := f.closedDeal(seller, 30000, "p-own")
	if _, err := f.svc.SetBankAccount(f.ctx, siteA, bankParams(seller.Email, "1111111")); err != nil {
		t.Fatalf("site A registers its seller's account: %v", err)
	}
	// Site B names the same seller in a deal of its own, which it never funds.
	p := f.params()
	if _, err := f.svc.CreateDeal(f.ctx, siteB, p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, siteA, bankParams(seller.Email, "2222222")); err != nil {
		t.Fatalf("site A replaces the account it registered: %v", err)
	}
	_, err := f.svc.SetBankAccount(f.ctx, siteB, bankParams(seller.Email, "9999999"))
	wantErrCode(t, err, apperr.CodeForbidden)
	// Nor may site B read it.
	_, err = f.svc.FindBankAccount(f.ctx, siteB, seller.Email)
	wantErrCode(t, err, apperr.CodeNotFound)
	if b, err := f.svc.FindBankAccount(f.ctx, siteA, seller.Email); err != nil || b.AccountNumber != "2222222" {
		t.Fatalf("site A reads the account it registered: %+v, %v", b, err)
	}
	// The payee's own registration wins, and no site replaces it.
	if _, err := f.svc.SetBankAccount(f.ctx, seller, bankParams("", "3333333")); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SetBankAccount(f.ctx, siteA, bankParams(seller.Email, "4444444"))
	wantErrCode(t, err, apperr.CodeForbidden)
	batch, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil || batch.Count != 1 || batch.Items[0].Account.AccountNumber != "3333333" || batch.Total != d.Released {
		t.Fatalf("batch %+v, %v; want %d to the payee's own account", batch, err, d.Released)
	}

	// A payee whom another site's deal has paid registers their first
	// account themselves. (A deal that paid nothing does not count: site B's
	// unfunded deal above did not stop site A.)
	both := escrow.Actor{Kind: escrow.ActorUser, ID: "usr_both", Email: "both@example.com"}
	paid := f.closedDealOn(siteB, both, 20000, "p-both")
	pa := f.params()
	pa.SellerEmail = both.Email
	if _, err := f.svc.CreateDeal(f.ctx, siteA, pa); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.SetBankAccount(f.ctx, siteA, bankParams(both.Email, "5555555"))
	wantErrCode(t, err, apperr.CodeForbidden)
	if _, err := f.svc.SetBankAccount(f.ctx, both, bankParams("", "5555555")); err != nil {
		t.Fatalf("the payee registers their own: %v", err)
	}
	batch, err = f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil || batch.Count != 1 || batch.Total != paid.Released {
		t.Fatalf("batch %+v, %v; want %d to the payee's own account", batch, err, paid.Released)
	}

	// Site B registers first, for a payee it alone names so far; site A's
	// deal with the payee then pays them. B's account does not get A's money.
	late := escrow.Actor{Kind: escrow.ActorUser, ID: "usr_late", Email: "late@example.com"}
	pb := f.params()
	pb.SellerEmail = late.Email
	if _, err := f.svc.CreateDeal(f.ctx, siteB, pb); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, siteB, bankParams(late.Email, "6666666")); err != nil {
		t.Fatalf("site B registers the account of a payee only it names: %v", err)
	}
	lateDeal := f.closedDeal(late, 40000, "p-late")
	_, err = f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	wantErrCode(t, err, apperr.CodeNotFound)
	if _, err := f.svc.SetBankAccount(f.ctx, late, bankParams("", "7777777")); err != nil {
		t.Fatal(err)
	}
	batch, err = f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil || batch.Count != 1 || batch.Items[0].Account.AccountNumber != "7777777" || batch.Total != lateDeal.Released {
		t.Fatalf("after the payee registered their own: %+v, %v", batch, err)
	}

	// A buyer whom a canceled deal refunded is a payee too: the site
	// registers their account, as for a seller, and the refund is paid out.
	refunded := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
	f.deposit(refunded.PaymentRef, 1200, "p-refund")
	if d := f.must(f.svc.CancelDeal(f.ctx, siteA, refunded.ID)); d.State != escrow.StateCanceled || d.Refunded != 1200 {
		t.Fatalf("canceled deal %s refunded %d", d.State, d.Refunded)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, siteA, bankParams(buyer.Email, "8888888")); err != nil {
		t.Fatalf("site A registers its refunded buyer's account: %v", err)
	}
	// Site B's unfunded deal names the same buyer: it may not redirect
	// what site A registered.
	_, err = f.svc.SetBankAccount(f.ctx, siteB, bankParams(buyer.Email, "9999999"))
	wantErrCode(t, err, apperr.CodeForbidden)
	batch, err = f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil || batch.Count != 1 || batch.Items[0].Account.AccountNumber != "8888888" || batch.Total != 1200 {
		t.Fatalf("the refund's payout: %+v, %v", batch, err)
	}
	f.verifyClean()
}

// testEscrowPayoutsPastIdlePayees: payees who registered a bank account
// first but are owed nothing, a whole batch of them, do not keep a batch
// from paying the payee behind them.
func testEscrowPayoutsPastIdlePayees(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	for i := range escrow.PayoutItemsMax + 1 {
		idle := escrow.Actor{Kind: escrow.ActorUser, ID: fmt.Sprintf("usr_idle%03d", i), Email: fmt.Sprintf("idle%03d@example.com", i)}
		if _, err := f.svc.SetBankAccount(f.ctx, idle, bankParams("", "1234567")); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Minute)
	d := f.closedDeal(seller, 30000, "p-idle")
	if _, err := f.svc.SetBankAccount(f.ctx, seller, bankParams("", "7654321")); err != nil {
		t.Fatal(err)
	}
	batch, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil {
		t.Fatalf("a payee behind %d idle ones: %v", escrow.PayoutItemsMax+1, err)
	}
	if batch.Count != 1 || batch.Items[0].Account.Email != seller.Email || batch.Total != d.Released {
		t.Fatalf("batch %+v, want the seller's %d alone", batch, d.Released)
	}
	f.verifyClean()
}

func testEscrowPayouts(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	seller2 := escrow.Actor{Kind: escrow.ActorUser, ID: "usr_seller2", Email: "seller2@example.com"}
	a := f.closedDeal(seller, 50000, "p-1")
	b := f.closedDeal(seller2, 20000, "p-2")
	if _, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now()); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("batch with no bank accounts: %v", err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, seller, bankParams(seller2.Email, "1234567")); apperr.CodeOf(err) != apperr.CodeForbidden {
		t.Fatalf("a user setting another's account: %v", err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, siteB, bankParams(seller2.Email, "1234567")); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("a site setting a stranger's account: %v", err)
	}
	bad := bankParams("", "12345")
	if _, err := f.svc.SetBankAccount(f.ctx, seller, bad); apperr.CodeOf(err) != apperr.CodeInvalid {
		t.Fatalf("a six-digit account number: %v", err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, seller, bankParams("", "1234567")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetBankAccount(f.ctx, siteA, bankParams(seller2.Email, "7654321")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.BuildPayoutBatch(f.ctx, staffS, "JPY", f.Now()); apperr.CodeOf(err) != apperr.CodeForbidden {
		t.Fatalf("support staff building a batch: %v", err)
	}
	batch, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now())
	if err != nil {
		t.Fatal(err)
	}
	if batch.Count != 2 || batch.Total != a.Released+b.Released {
		t.Fatalf("batch %+v, want 2 items totalling %d", batch, a.Released+b.Released)
	}
	avail, inPayout, err := f.svc.Payable(f.ctx, seller, seller.Email, "JPY")
	if err != nil || avail != 0 || inPayout != a.Released {
		t.Fatalf("seller payable during payout: %d available, %d in payout, %v", avail, inPayout, err)
	}
	if _, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", f.Now()); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("a second batch paid someone twice: %v", err)
	}
	var second escrow.PayoutItem
	for _, it := range batch.Items {
		if it.Account.Email == seller2.Email {
			second = it
		}
	}
	batch, err = f.svc.ReturnPayoutItem(f.ctx, staffF, batch.ID, second.ID, "account closed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ReturnPayoutItem(f.ctx, staffF, batch.ID, second.ID, "again"); apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("returning twice: %v", err)
	}
	if avail, _, _ := f.svc.Payable(f.ctx, seller2, seller2.Email, "JPY"); avail != b.Released {
		t.Errorf("returned payout: seller2 has %d available, want %d", avail, b.Released)
	}
	if acct, err := f.svc.FindBankAccount(f.ctx, seller2, seller2.Email); err != nil || !acct.Invalid {
		t.Errorf("the account a payout came back from is still valid: %+v, %v", acct, err)
	}
	batch, err = f.svc.SettlePayoutBatch(f.ctx, staffF, batch.ID)
	if err != nil || batch.State != escrow.PayoutSettled {
		t.Fatalf("settle: %+v, %v", batch, err)
	}
	if _, err := f.svc.SettlePayoutBatch(f.ctx, staffF, batch.ID); apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("settling twice: %v", err)
	}
	if got := f.credit(escrow.PayableReference(seller.Email, "JPY")); got != 0 {
		t.Errorf("seller payable after settlement: %d", got)
	}
	if got := -f.credit("escrow:bank:JPY"); got != a.AmountDue+b.AmountDue-a.Released {
		t.Errorf("bank after paying seller: %d", got)
	}
	got, err := f.svc.FindPayoutBatch(f.ctx, staffF, batch.ID)
	if err != nil || len(got.Items) != 2 || got.Items[0].Seq != 1 {
		t.Fatalf("find batch: %+v, %v", got, err)
	}
	// The bank's notice that the seller's payout failed comes after the
	// settlement: the money came back to the operator's account and goes
	// back to the seller's payable balance.
	var first escrow.PayoutItem
	for _, it := range got.Items {
		if it.Account.Email == seller.Email {
			first = it
		}
	}
	batch, err = f.svc.ReturnPayoutItem(f.ctx, staffF, batch.ID, first.ID, "口座解約")
	if err != nil || batch.State != escrow.PayoutSettled {
		t.Fatalf("return after settlement: %+v, %v", batch, err)
	}
	if avail, _, _ := f.svc.Payable(f.ctx, seller, seller.Email, "JPY"); avail != a.Released {
		t.Errorf("returned after settlement: seller has %d available, want %d", avail, a.Released)
	}
	if got := -f.credit("escrow:bank:JPY"); got != a.AmountDue+b.AmountDue {
		t.Errorf("bank after the payout came back: %d, want %d", got, a.AmountDue+b.AmountDue)
	}
	if _, err := f.svc.ReturnPayoutItem(f.ctx, staffF, batch.ID, first.ID, "again"); apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("returning a settled item twice: %v", err)
	}
	f.verifyClean()
}

func testEscrowFraud(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	f.svc = escrow.NewService(escrow.Config{Store: f.es, Ledger: f.engine, Clock: f.clock.Now,
		Fraud: escrow.FraudRules{AmountMin: 60000, SellersPerBankAccountMax: 1, NewPartyAmountMin: 1 << 40}})
	p := f.params()
	p.Price = 70000
	big := f.create(p)
	if !big.ReviewHold || fmt.Sprint(big.ReviewReasons) != "[large_amount]" {
		t.Fatalf("large deal not held: %+v", big)
	}
	small := f.create(f.params())
	if small.ReviewHold {
		t.Fatalf("small deal held: %v", small.ReviewReasons)
	}
	q, err := f.svc.FindReviewQueue(f.ctx, staffS, "", 10)
	if err != nil || len(q) != 1 || q[0].ID != big.ID {
		t.Fatalf("review queue %v, %v", q, err)
	}
	big = f.must(f.svc.AcceptDeal(f.ctx, buyer, big.ID))
	f.deposit(big.PaymentRef, big.AmountDue, "f-1")
	f.must(f.svc.MarkShipped(f.ctx, seller, big.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"}))
	_, err = f.svc.ApproveDeal(f.ctx, buyer, big.ID)
	wantErrCode(t, err, escrow.CodeReviewHold)
	if got := f.must(f.svc.FindDealByID(f.ctx, siteA, big.ID)); got.Released != 0 || f.holding(got) != got.AmountDue {
		t.Fatalf("money left a held deal: %+v", got)
	}
	// Nor does a dispute's resolution pay the seller past the review.
	f.must(f.svc.OpenDispute(f.ctx, buyer, big.ID, "not as described"))
	for _, r := range []escrow.ResolveParams{{Resolution: escrow.ResolveRelease}, {Resolution: escrow.ResolveSplit, BuyerAmount: 1000}} {
		_, err = f.svc.ResolveDispute(f.ctx, staffS, big.ID, r)
		wantErrCode(t, err, escrow.CodeReviewHold)
	}
	if got := f.must(f.svc.FindDealByID(f.ctx, siteA, big.ID)); got.Released != 0 || f.holding(got) != got.AmountDue {
		t.Fatalf("a resolution moved money out of a held deal: %+v", got)
	}
	f.must(f.svc.SetReviewHold(f.ctx, staffS, big.ID, false, nil))
	f.must(f.svc.ResolveDispute(f.ctx, staffS, big.ID, escrow.ResolveParams{Resolution: escrow.ResolveRelease}))

	// Three sellers behind one bank account: the next deal of one of them
	// is held when it is funded.
	for _, email := range []string{"s1@example.com", "s2@example.com", "s3@example.com"} {
		if _, err := f.svc.SetBankAccount(f.ctx, escrow.Actor{Kind: escrow.ActorUser, ID: "u", Email: email}, bankParams("", "5555555")); err != nil {
			t.Fatal(err)
		}
	}
	p = f.params()
	p.SellerEmail = "s1@example.com"
	d := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(p).ID))
	f.deposit(d.PaymentRef, d.AmountDue, "f-2")
	d = f.must(f.svc.FindDealByID(f.ctx, siteA, d.ID))
	if d.State != escrow.StateFunded || !d.ReviewHold || fmt.Sprint(d.ReviewReasons) != "[bank_account_shared_by_sellers]" {
		t.Fatalf("deal of a seller sharing a bank account: %s %v %v", d.State, d.ReviewHold, d.ReviewReasons)
	}
	f.verifyClean()
}

// testEscrowBankFiles imports a Zengin statement with matched, partial and
// unknown credits (twice), and checks a payout batch's Zengin file record by
// record and its pain.001.
func testEscrowBankFiles(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	exact := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
	part := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	entry := func(n string, kind bankfile.EntryKind, amount int64, name string) bankfile.Entry {
		return bankfile.Entry{InquiryNumber: n, Date: day, ValueDate: day, Kind: kind, TransactionCode: bankfile.TxTransfer, AmountYen: amount, RemitterName: name}
	}
	file, err := bankfile.WriteStatements([]bankfile.Statement{{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0001",
		BranchCode: "100", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", Entries: []bankfile.Entry{
			entry("00000001", bankfile.Deposit, exact.AmountDue, exact.PaymentRef+" ﾔﾏﾀﾞ ﾀﾛｳ"),
			entry("00000002", bankfile.Deposit, 1000, part.PaymentRef+" ﾔﾏﾀﾞ ﾀﾛｳ"),
			entry("00000003", bankfile.Deposit, 7777, "ｽｽﾞｷ ﾊﾅｺ"),
			entry("00000004", bankfile.Withdrawal, 500, ""),
		}}}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ImportStatement(f.ctx, staffS, escrow.FormatZengin, file, nil); apperr.CodeOf(err) != apperr.CodeForbidden {
		t.Fatalf("support staff importing: %v", err)
	}
	rep, err := f.svc.ImportStatement(f.ctx, staffF, escrow.FormatZengin, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 4 || rep.Withdrawals != 1 || rep.Replayed != 0 || rep.Statuses[escrow.DepositMatched] != 1 ||
		rep.Statuses[escrow.DepositPartial] != 1 || rep.Statuses[escrow.DepositUnmatched] != 1 {
		t.Fatalf("first import %+v", rep)
	}
	bank := f.credit("escrow:bank:JPY")
	again, err := f.svc.ImportStatement(f.ctx, staffF, escrow.FormatZengin, file, nil)
	if err != nil || again.Replayed != 3 || len(again.Statuses) != 0 {
		t.Fatalf("second import %+v, %v", again, err)
	}
	if f.credit("escrow:bank:JPY") != bank {
		t.Fatal("importing a statement twice moved money")
	}
	// A file in western years ("26"): imports once read every file as
	// Reiwa, recording its credit under 2044's dates. Importing it now
	// finds that record and books nothing again.
	west, err := bankfile.WriteStatements([]bankfile.Statement{{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0001",
		BranchCode: "100", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", Entries: []bankfile.Entry{
			entry("00000009", bankfile.Deposit, 3333, "ｽｽﾞｷ ﾊﾅｺ")}}}, bankfile.EraWestern, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	early, _, err := f.svc.RecordDeposit(f.ctx, staffF, escrow.DepositParams{Source: escrow.SourceZengin, BankAccount: "0001-100-1234567",
		BankRef: "20440105-20440105-00000009", Currency: "JPY", Amount: 3333, ValueDate: time.Date(2044, time.January, 5, 0, 0, 0, 0, time.UTC),
		PayerName: "ｽｽﾞｷ ﾊﾅｺ"})
	if err != nil {
		t.Fatal(err)
	}
	bank = f.credit("escrow:bank:JPY")
	rep, err = f.svc.ImportStatement(f.ctx, staffF, escrow.FormatZengin, west, nil)
	if err != nil || rep.Replayed != 1 || len(rep.Statuses) != 0 || rep.Deposits[0].ID != early.ID {
		t.Fatalf("a western-year file recorded under its Reiwa reading, imported again: %+v, %v", rep, err)
	}
	if f.credit("escrow:bank:JPY") != bank {
		t.Fatal("importing a western-year file recorded under its Reiwa reading moved money")
	}
	if d := f.must(f.svc.FindDealByID(f.ctx, siteA, exact.ID)); d.State != escrow.StateFunded {
		t.Errorf("exactly paid deal is %s", d.State)
	}
	if d := f.must(f.svc.FindDealByID(f.ctx, siteA, part.ID)); d.State != escrow.StateAwaitingPayment || d.AmountPaid != 1000 {
		t.Errorf("partly paid deal %s paid %d", d.State, d.AmountPaid)
	}
	if _, err := f.svc.ImportStatement(f.ctx, staffF, escrow.FormatZengin, file[:150], nil); apperr.CodeOf(err) != apperr.CodeInvalid {
		t.Errorf("a truncated file: %v", err)
	}

	// Pay the seller out and check the files.
	f.must(f.svc.MarkShipped(f.ctx, seller, exact.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"}))
	released := f.must(f.svc.ApproveDeal(f.ctx, buyer, exact.ID))
	p := bankParams("", "7654321")
	p.HolderName, p.BankName, p.BranchName = "ヤマダ　タロウ", "みずほ", "ほんてん"
	acct, err := f.svc.SetBankAccount(f.ctx, seller, p)
	if err != nil || acct.HolderName != "ﾔﾏﾀﾞ ﾀﾛｳ" {
		t.Fatalf("bank account %+v, %v", acct, err)
	}
	p.HolderName = "山田"
	if _, err := f.svc.SetBankAccount(f.ctx, seller, p); apperr.CodeOf(err) != apperr.CodeInvalid {
		t.Fatalf("a kanji holder name: %v", err)
	}
	batch, err := f.svc.BuildPayoutBatch(f.ctx, staffF, "JPY", time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	zen, err := f.svc.ExportPayoutBatch(f.ctx, staffF, batch.ID, escrow.FormatZengin)
	if err != nil {
		t.Fatal(err)
	}
	if len(zen) != 4*122 {
		t.Errorf("Zengin file is %d bytes, want 4 records of 120 bytes and CRLF", len(zen))
	}
	tbs, err := bankfile.ParseTransfers(zen)
	if err != nil || len(tbs) != 1 || len(tbs[0].Items) != 1 {
		t.Fatalf("parse the payout file: %+v, %v", tbs, err)
	}
	it := tbs[0].Items[0]
	if it.BankCode != "0001" || it.BranchCode != "100" || it.AccountNumber != "7654321" || it.RecipientName != "ﾔﾏﾀﾞ ﾀﾛｳ" ||
		it.AmountYen != released.Released || tbs[0].TransferDate != (bankfile.MonthDay{Month: time.January, Day: 9}) {
		t.Errorf("payout record %+v", it)
	}
	pain, err := f.svc.ExportPayoutBatch(f.ctx, staffF, batch.ID, escrow.FormatPain001)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pain), "<NbOfTxs>1</NbOfTxs>") || !strings.Contains(string(pain), fmt.Sprintf(">%d</InstdAmt>", released.Released)) {
		t.Errorf("pain.001:\n%s", pain)
	}
	f.verifyClean()
}

// testEscrowTimersTwoNodes fires the same overdue deadlines from two nodes
// (two handles on one database, each with its own engine and service) at
// once: every deal changes exactly once, and the money moves once.
func testEscrowTimersTwoNodes(t *testing.T, h Harness) {
	s1, s2 := h.OpenPair(t)
	a := newFixtureOn(t, s1, h.Workers)
	clock := a.clock
	e2 := ledger.NewEngine(s2, ledger.Config{Workers: h.Workers, Clock: clock.Now})
	t.Cleanup(e2.Close)
	quiet := escrow.FraudRules{AmountMin: 1 << 50, DealsPerDayMax: 1 << 30, NewPartyAmountMin: 1 << 50, SellersPerBankAccountMax: 1 << 30}
	svc1 := escrow.NewService(escrow.Config{Store: s1.(escrow.Store), Ledger: a.engine, Clock: clock.Now, Fraud: quiet})
	svc2 := escrow.NewService(escrow.Config{Store: s2.(escrow.Store), Ledger: e2, Clock: clock.Now, Fraud: quiet})
	f := &escrowFixture{fixture: a, es: s1.(escrow.Store), svc: svc1}
	var ids []string
	for i := range 6 {
		d := f.must(svc1.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
		if i%2 == 0 {
			f.deposit(d.PaymentRef, d.AmountDue, fmt.Sprintf("two-%d", i)) // funded: ship-by will refund it
		}
		ids = append(ids, d.ID)
	}
	clock.Advance(8 * 24 * time.Hour)
	var wg sync.WaitGroup
	fired := make([]int, 2)
	errs := make([]error, 2)
	for i, svc := range []*escrow.Service{svc1, svc2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fired[i], errs[i] = svc.FireDueTimers(f.ctx)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("sweeps: %v, %v", errs[0], errs[1])
	}
	if fired[0]+fired[1] != len(ids) {
		t.Fatalf("two nodes fired %d and %d deadlines, want %d in all", fired[0], fired[1], len(ids))
	}
	for _, id := range ids {
		tl, err := svc2.FindTimeline(f.ctx, siteA, id)
		if err != nil {
			t.Fatal(err)
		}
		timers := 0
		for _, e := range tl {
			if strings.HasPrefix(e.Action, "timer.") {
				timers++
			}
		}
		d := f.must(svc2.FindDealByID(f.ctx, siteA, id))
		if timers != 1 || d.Remaining() != 0 || f.holding(d) != 0 {
			t.Errorf("deal %s: %d timer entries, %s, holding %d", id, timers, d.State, f.holding(d))
		}
	}
	f.verifyClean()
}

// failingTimers is an escrow store on which the given deals cannot be
// changed: locking them fails.
type failingTimers struct {
	escrow.Store
	fail map[string]bool // deal ids
}

func (s failingTimers) EscrowTransact(ctx context.Context, fn func(escrow.Tx) error) error {
	return s.Store.EscrowTransact(ctx, func(tx escrow.Tx) error { return fn(failingTimersTx{tx, s.fail}) })
}

type failingTimersTx struct {
	escrow.Tx
	fail map[string]bool
}

func (t failingTimersTx) DealForUpdate(ctx context.Context, id string) (escrow.Deal, error) {
	if t.fail[id] {
		return escrow.Deal{}, errInjected
	}
	return t.Tx.DealForUpdate(ctx, id)
}
