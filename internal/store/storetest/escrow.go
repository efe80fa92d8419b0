package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
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
	svc := escrow.NewService(escrow.Config{Store: es, Ledger: f.engine, Clock: f.clock.Now, PayTo: "Kinko Bank 001-100 1234567", PortalURL: "https://escrow.example"})
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
		n, err := f.svc.FireDueTimers(f.ctx)
		if err != nil || n != 3 {
			t.Fatalf("fired %d, %v; want 3", n, err)
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

	t.Run("Model", func(t *testing.T) { testEscrowModel(t, h) })
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
