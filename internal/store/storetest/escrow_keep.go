package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// testEscrowKeep: every escrow call that escrow/keep.go lists runs the
// idempotency.Keep its context carries in the transaction of its change,
// with exactly what it returns, and what the keep writes commits with the
// change; a keep's error undoes the change and is the call's error. A
// refused call, a timer and a statement import run none.
func testEscrowKeep(t *testing.T, h Harness) {
	f := newEscrowFixture(t, h)
	idem, ok := f.store.(idempotency.Store)
	if !ok {
		t.Fatalf("%T does not implement idempotency.Store", f.store)
	}
	var kept []any
	var fail error
	runs := 0
	keep := func(ctx context.Context, tx idempotency.Tx, result any) error {
		if fail != nil {
			return fail
		}
		runs++
		kept = append(kept, result)
		key := fmt.Sprintf("keep-%d", runs)
		return tx.IdempotencyInsert(ctx, []idempotency.Record{{OrgID: "org_keep", Key: key, RequestHash: []byte(key), Done: true,
			Status: 200, ContentType: "application/json", Body: []byte("{}"), CreatedAt: f.Now()}})
	}
	ctx := idempotency.WithKeep(f.ctx, keep)
	// check fails unless the call returned got without an error and ran the
	// keep with got (once; a store that retried the transaction ran it
	// again, and the last run committed), whose record committed.
	check := func(name string, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(kept) == 0 || !reflect.DeepEqual(kept[len(kept)-1], got) {
			t.Fatalf("%s kept %+v; it returned %+v", name, kept, got)
		}
		if _, err := idem.IdempotencyByKey(f.ctx, "org_keep", fmt.Sprintf("keep-%d", runs)); err != nil {
			t.Fatalf("%s: the keep's record: %v", name, err)
		}
		kept = nil
	}
	none := func(name string) {
		t.Helper()
		if len(kept) != 0 {
			t.Fatalf("%s ran the keep with %+v", name, kept)
		}
	}
	// deal is check of a call that returns a deal.
	deal := func(name string) func(escrow.Deal, error) {
		return func(d escrow.Deal, err error) {
			t.Helper()
			check(name, d, err)
		}
	}

	p := f.params()
	p.ExternalRef = "keep-1"
	d, err := f.svc.CreateDeal(ctx, siteA, p)
	check("CreateDeal", d, err)
	again, err := f.svc.CreateDeal(ctx, siteA, p)
	check("CreateDeal repeated", again, err)
	if again.ID != d.ID {
		t.Fatalf("the external_ref repeated made deal %s after %s", again.ID, d.ID)
	}
	_, err = f.svc.AcceptDeal(ctx, other, d.ID)
	wantErrCode(t, err, apperr.CodeNotFound)
	none("a refused AcceptDeal")
	deal("AcceptDeal")(f.svc.AcceptDeal(ctx, buyer, d.ID))

	pay := escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: "001-100-1234567", BankRef: "keep-b1", Currency: "JPY",
		Amount: d.AmountDue, ValueDate: f.Now(), PayerName: "ﾔﾏﾀﾞ ﾀﾛｳ", PaymentRef: d.PaymentRef}
	dep, replayed, err := f.svc.RecordDeposit(ctx, staffF, pay)
	check("RecordDeposit", escrow.RecordDepositResult{Deposit: dep, Replayed: replayed}, err)
	dep, replayed, err = f.svc.RecordDeposit(ctx, staffF, pay)
	check("RecordDeposit replayed", escrow.RecordDepositResult{Deposit: dep, Replayed: replayed}, err)
	if !replayed {
		t.Fatal("a bank reference recorded again was not a replay")
	}
	deal("MarkShipped")(f.svc.MarkShipped(ctx, seller, d.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "1"}))
	deal("ConfirmReceipt")(f.svc.ConfirmReceipt(ctx, buyer, d.ID))
	deal("OpenDispute")(f.svc.OpenDispute(ctx, buyer, d.ID, "scratched"))
	msg, err := f.svc.PostMessage(ctx, buyer, d.ID, "photos")
	check("PostMessage", msg, err)
	deal("SetReviewHold")(f.svc.SetReviewHold(ctx, staffS, d.ID, true, []string{"new seller"}))
	deal("SetReviewHold")(f.svc.SetReviewHold(ctx, staffS, d.ID, false, nil))
	deal("ResolveDispute")(f.svc.ResolveDispute(ctx, staffS, d.ID, escrow.ResolveParams{Resolution: escrow.ResolveRelease}))

	deal("DeclineDeal")(f.svc.DeclineDeal(ctx, buyer, f.create(f.params()).ID))
	deal("CancelDeal")(f.svc.CancelDeal(ctx, buyer, f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID)).ID))
	mp := f.params()
	mp.Milestones = []escrow.MilestoneParams{{Title: "a", Amount: 25000}, {Title: "b", Amount: 25000}}
	m := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(mp).ID))
	f.deposit(m.PaymentRef, m.AmountDue, "keep-m")
	deal("ReleaseMilestone")(f.svc.ReleaseMilestone(ctx, buyer, m.ID))
	f.must(f.svc.MarkShipped(f.ctx, seller, m.ID, escrow.ShipParams{Carrier: "Yamato", TrackingNumber: "2"}))
	deal("ApproveDeal")(f.svc.ApproveDeal(ctx, buyer, m.ID))

	// Credits no deal takes: to suspense, applied by hand, a duplicate
	// from another source, cleared, returned.
	credit := func(src escrow.DepositSource, ref string, amount int64, payer string) (escrow.Deposit, error) {
		dep, replayed, err := f.svc.RecordDeposit(ctx, staffF, escrow.DepositParams{Source: src, BankAccount: "001-100-1234567",
			BankRef: ref, Currency: "JPY", Amount: amount, ValueDate: f.Now(), PayerName: payer})
		check("RecordDeposit "+ref, escrow.RecordDepositResult{Deposit: dep, Replayed: replayed}, err)
		return dep, err
	}
	u1, _ := credit(escrow.SourceAPI, "keep-u1", m.AmountDue, "ｻﾄｳ ｼﾞﾛｳ")
	target := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
	dep, applied, err := f.svc.ApplyDeposit(ctx, staffF, u1.ID, target.ID)
	check("ApplyDeposit", escrow.ApplyDepositResult{Deposit: dep, Deal: applied}, err)
	u2, _ := credit(escrow.SourceAPI, "keep-u2", 300, "ｽｽﾞｷ ﾊﾅｺ")
	if twin, _ := credit(escrow.SourceZengin, "keep-u2z", 300, "ｽｽﾞｷ ﾊﾅｺ"); twin.Status != escrow.DepositDuplicate {
		t.Fatalf("the second record of a credit is %s, want duplicate", twin.Status)
	}
	cleared, err := f.svc.ClearDeposit(ctx, staffF, u2.ID, "recalled")
	check("ClearDeposit", cleared, err)
	u3, _ := credit(escrow.SourceAPI, "keep-u3", 400, "ﾀﾅｶ ﾊﾅｺ")
	returned, err := f.svc.ReturnDeposit(ctx, staffF, u3.ID, "sent back")
	check("ReturnDeposit", returned, err)

	acct, err := f.svc.SetBankAccount(ctx, seller, bankParams("", "1234567"))
	check("SetBankAccount", acct, err)
	b, err := f.svc.BuildPayoutBatch(ctx, staffF, "JPY", f.Now())
	check("BuildPayoutBatch", b, err)
	b, err = f.svc.ReturnPayoutItem(ctx, staffF, b.ID, b.Items[0].ID, "account closed")
	check("ReturnPayoutItem", b, err)
	b, err = f.svc.SettlePayoutBatch(ctx, staffF, b.ID)
	check("SettlePayoutBatch", b, err)

	// A keep's error undoes the change.
	fail = errors.New("keep failed")
	count := func() int {
		ds, err := f.svc.FindDeals(f.ctx, siteA, escrow.DealFilter{Limit: escrow.PageLimitMax})
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	n := count()
	if _, err := f.svc.CreateDeal(ctx, siteA, f.params()); !errors.Is(err, fail) || count() != n {
		t.Fatalf("CreateDeal whose keep failed: %v, %d deals after %d", err, count(), n)
	}
	pending := f.create(f.params())
	if _, err := f.svc.AcceptDeal(ctx, buyer, pending.ID); !errors.Is(err, fail) {
		t.Fatalf("AcceptDeal whose keep failed: %v", err)
	}
	if got := f.must(f.svc.FindDealByID(f.ctx, siteA, pending.ID)); got.State != escrow.StatePendingAcceptance {
		t.Fatalf("AcceptDeal whose keep failed left the deal %s", got.State)
	}
	fail = nil

	// A statement import and a timer keep nothing.
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	file, err := bankfile.WriteStatements([]bankfile.Statement{{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0001",
		BranchCode: "100", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", Entries: []bankfile.Entry{
			{InquiryNumber: "00000001", Date: day, ValueDate: day, Kind: bankfile.Deposit, TransactionCode: bankfile.TxTransfer,
				AmountYen: 5000, RemitterName: "ｽｽﾞｷ ｲﾁﾛｳ"}}}}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := f.svc.ImportStatement(ctx, staffF, escrow.FormatZengin, file, nil); err != nil || rep.Statuses[escrow.DepositUnmatched] != 1 {
		t.Fatalf("import %+v: %v", rep, err)
	}
	none("ImportStatement")
	unpaid := f.must(f.svc.AcceptDeal(f.ctx, buyer, f.create(f.params()).ID))
	f.clock.Advance(8 * 24 * time.Hour)
	if _, err := f.svc.FireTimer(ctx, unpaid.ID, escrow.TimerPayBy); err != nil {
		t.Fatal(err)
	}
	if got := f.must(f.svc.FindDealByID(f.ctx, siteA, unpaid.ID)); got.State != escrow.StateCanceled {
		t.Fatalf("the pay-by timer left the deal %s", got.State)
	}
	none("FireTimer")
	f.verifyClean()
}
