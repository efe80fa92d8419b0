package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// TestDealsThroughTheClient drives every escrow method of the client
// against the real API: a site's key for the deal, the operator's for
// deposits, the dispute's resolution and the test clock.
func TestDealsThroughTheClient(t *testing.T) {
	ctx := context.Background()
	url, adminKey, key := server(t, nil)
	admin, site := client.New(url, adminKey, nil), client.New(url, key, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	jpy := func(n int64) client.Money { return client.Money{Amount: n, Currency: "JPY"} }
	params := client.DealParams{ExternalRef: "lot-7", Title: "Kimono", Price: jpy(20000), ShippingFee: &client.Money{Amount: 800, Currency: "JPY"},
		FeePayer: "buyer", Seller: client.DealParty{Email: "s@example.com"}, Buyer: client.DealParty{Email: "b@example.com", Locale: "en"},
		Deadlines:  &client.DealDeadlinesParams{InspectionDays: 5},
		Milestones: []client.MilestoneParams{{Title: "half", Amount: jpy(10000)}, {Title: "rest", Amount: jpy(10000)}}}
	d, res, err := site.CreateDeal(ctx, params, client.WithIdempotencyKey("lot-7"))
	if err != nil || res.Status != 201 || d.State != client.DealPendingAcceptance || d.AmountDue != jpy(20000+800+600) ||
		d.Seller.Locale != "ja" || d.Deadlines.InspectionDays != 5 || len(d.Milestones) != 2 {
		t.Fatalf("CreateDeal = %+v, %+v, %v", d, res, err)
	}
	if again, res, err := site.CreateDeal(ctx, params, client.WithIdempotencyKey("lot-7")); err != nil || !res.Replayed || again.ID != d.ID {
		t.Fatalf("replay = %+v, %+v, %v", again, res, err)
	}
	if _, _, err := admin.CreateDeal(ctx, params); client.CodeOf(err) != "forbidden" {
		t.Fatalf("the operator registered a deal: %v", err)
	}
	if d, err = site.AcceptDeal(ctx, d.ID); err != nil || d.PaymentInstructions == nil || d.PaymentInstructions.PayTo != "Test Bank" {
		t.Fatalf("AcceptDeal = %+v, %v", d, err)
	}
	dep, res, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "A", BankRef: "r1", Amount: d.AmountDue,
		ValueDate: "2026-01-03", PayerName: "B", PaymentReference: d.PaymentReference})
	if err != nil || res.Status != 201 || dep.Status != "matched" || dep.Deal != d.ID || dep.Review != "" {
		t.Fatalf("RecordDeposit = %+v, %+v, %v", dep, res, err)
	}
	if again, res, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "A", BankRef: "r1", Amount: d.AmountDue,
		ValueDate: "2026-01-03"}); err != nil || res.Status != 200 || again.ID != dep.ID {
		t.Fatalf("recorded again = %+v, %+v, %v", again, res, err)
	}
	if d, err = site.ReleaseMilestone(ctx, d.ID); err != nil || d.Milestones[0].ReleasedAt == nil || d.State != client.DealFunded {
		t.Fatalf("ReleaseMilestone = %+v, %v", d, err)
	}
	if d, err = site.ShipDeal(ctx, d.ID, "Sagawa", "1234"); err != nil || d.Carrier != "Sagawa" {
		t.Fatalf("ShipDeal = %+v, %v", d, err)
	}
	if d, err = site.ConfirmReceipt(ctx, d.ID); err != nil || d.State != client.DealReceived || d.Deadlines.DueAt == nil {
		t.Fatalf("ConfirmReceipt = %+v, %v", d, err)
	}
	if d, err = admin.ReviewDeal(ctx, d.ID, true, []string{"odd"}); err != nil || !d.ReviewHold {
		t.Fatalf("ReviewDeal = %+v, %v", d, err)
	}
	if _, err := site.ApproveDeal(ctx, d.ID); client.CodeOf(err) != "review_hold" {
		t.Fatalf("approve under review: %v", err)
	}
	if d, err = admin.ReviewDeal(ctx, d.ID, false, nil); err != nil || d.ReviewHold {
		t.Fatalf("clear review = %+v, %v", d, err)
	}
	if d, err = site.DisputeDeal(ctx, d.ID, "torn sleeve"); err != nil || d.State != client.DealDisputed {
		t.Fatalf("DisputeDeal = %+v, %v", d, err)
	}
	if m, err := site.PostDealMessage(ctx, d.ID, "photos attached"); err != nil || m.Party != "site" {
		t.Fatalf("PostDealMessage = %+v, %v", m, err)
	}
	if ms, err := site.ListDealMessages(ctx, d.ID); err != nil || len(ms) != 1 {
		t.Fatalf("ListDealMessages = %+v, %v", ms, err)
	}
	if _, err := site.ResolveDeal(ctx, d.ID, client.DealResolveParams{Resolution: "refund"}); client.CodeOf(err) != "forbidden" {
		t.Fatalf("a site resolved a dispute: %v", err)
	}
	if d, err = admin.ResolveDeal(ctx, d.ID, client.DealResolveParams{Resolution: "refund", Note: "torn"}); err != nil ||
		d.State != client.DealResolved || d.Resolution != "refund" || d.Held.Amount != 0 {
		t.Fatalf("ResolveDeal = %+v, %v", d, err)
	}
	if tl, err := site.GetDealTimeline(ctx, d.ID); err != nil || tl[0].Action != "created" || tl[0].FromState != "" || tl[len(tl)-1].ToState != client.DealResolved {
		t.Fatalf("GetDealTimeline = %+v, %v", tl, err)
	}
	if page, err := site.ListDeals(ctx, client.DealQuery{State: client.DealResolved}); err != nil || len(page.Data) != 1 || page.Data[0].ID != d.ID {
		t.Fatalf("ListDeals = %+v, %v", page, err)
	}
	if got, err := site.GetDeal(ctx, d.ID); err != nil || got.UpdatedAt != d.UpdatedAt {
		t.Fatalf("GetDeal = %+v, %v", got, err)
	}

	t.Run("DepositsAndClock", func(t *testing.T) {
		lost, _, err := admin.RecordDeposit(ctx, client.DepositParams{BankAccount: "A", BankRef: "r2", Amount: jpy(5), ValueDate: "2026-01-04"})
		if err != nil || lost.Status != "unmatched" || lost.Review != "open" {
			t.Fatalf("unmatched = %+v, %v", lost, err)
		}
		if page, err := admin.ListDeposits(ctx, client.DepositQuery{Review: "open"}); err != nil || len(page.Data) != 1 {
			t.Fatalf("ListDeposits = %+v, %v", page, err)
		}
		if c, err := admin.ClearDeposit(ctx, lost.ID, "returned"); err != nil || c.Review != "cleared" {
			t.Fatalf("ClearDeposit = %+v, %v", c, err)
		}
		other, _, err := site.CreateDeal(ctx, client.DealParams{Title: "Obi", Price: jpy(5000), FeePayer: "seller",
			Seller: client.DealParty{Email: "s@example.com"}, Buyer: client.DealParty{Email: "b@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := site.AcceptDeal(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		c, err := admin.AdvanceTestClock(ctx, 8*24*time.Hour)
		if err != nil || c.DealsChanged != 1 || c.OffsetSeconds != 8*24*3600 {
			t.Fatalf("AdvanceTestClock = %+v, %v", c, err)
		}
		if got, err := admin.GetTestClock(ctx); err != nil || got.OffsetSeconds != c.OffsetSeconds || got.DealsChanged != 0 {
			t.Fatalf("GetTestClock = %+v, %v", got, err)
		}
		if got, _ := site.GetDeal(ctx, other.ID); got.State != client.DealCanceled {
			t.Fatalf("unpaid deal = %+v", got)
		}
	})
}
