package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// TestManagedAccountsMoveOnlyThroughAWriter: accounts Config.Managed names
// are a product's. A Writer (the product, in its own transaction) opens and
// moves them; Submit, SubmitKeyed and CommitBatch refuse any transfer that
// touches one, including a post or void of a hold between them, or that
// uses one of the product's transfer references, and CreateAccounts refuses
// to open one. The owner's other accounts are free.
func TestManagedAccountsMoveOnlyThroughAWriter(t *testing.T) {
	ctx := context.Background()
	managed := func(owner, ref string) bool { return owner == "op" && strings.HasPrefix(ref, "product:") }
	db, e := openEngine(t, ledger.Config{Managed: managed})

	// The product opens its accounts and holds money between them.
	var kept []ledger.Account
	var hold ledger.Transfer
	w, err := e.NewWriter(ctx, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Transact(ctx, func(tx ledger.Tx) error {
		w.Begin()
		now := time.Now()
		kept, err = w.OpenAccounts(ctx, tx, now, []ledger.AccountRequest{
			{Owner: "op", Reference: "product:a", Asset: "JPY"}, {Owner: "op", Reference: "product:b", Asset: "JPY"}})
		if err != nil {
			return err
		}
		res, err := w.Transfer(ctx, tx, now, []ledger.TransferRequest{{Owner: "op", Reference: "product:t1", Kind: ledger.KindPending,
			DebitAccountID: kept[0].ID, CreditAccountID: kept[1].ID, Amount: 500}})
		if err != nil {
			return err
		}
		hold = res[0].Transfer
		return ledger.Rejection(res)
	})
	if err != nil {
		t.Fatalf("the product's own writer: %v", err)
	}
	own, err := e.CreateAccounts(ctx, []ledger.AccountRequest{{Owner: "op", Reference: "mine", Asset: "JPY"}, {Owner: "op", Reference: "mine2", Asset: "JPY"}})
	if err != nil {
		t.Fatal(err)
	}

	refused := []ledger.TransferRequest{
		{Owner: "op", Reference: "x1", DebitAccountID: kept[0].ID, CreditAccountID: own[0].ID, Amount: 1},
		{Owner: "op", Reference: "x2", DebitAccountID: own[0].ID, CreditAccountID: kept[1].ID, Amount: 1, Kind: ledger.KindPending},
		{Owner: "op", Reference: "x3", Kind: ledger.KindPost, PendingID: hold.ID},
		{Owner: "op", Reference: "x4", Kind: ledger.KindVoid, PendingID: hold.ID},
	}
	for _, r := range refused {
		res, err := e.Submit(ctx, []ledger.TransferRequest{r})
		if err != nil || res[0].Result != ledger.ResultAccountManaged {
			t.Errorf("Submit %s = %+v, %v; want %s", r.Reference, res, err, ledger.ResultAccountManaged)
		}
	}
	// A product's transfer references are its own too: a caller sharing
	// the owner may neither replay the product's transfer nor take a
	// reference the product will use, even between its own accounts.
	for _, ref := range []string{"product:t1", "product:t2"} {
		r := ledger.TransferRequest{Owner: "op", Reference: ref, DebitAccountID: own[0].ID, CreditAccountID: own[1].ID, Amount: 1}
		refused = append(refused, r)
		res, err := e.Submit(ctx, []ledger.TransferRequest{r})
		if err != nil || res[0].Result != ledger.ResultAccountManaged {
			t.Errorf("Submit under reference %s = %+v, %v; want %s", ref, res, err, ledger.ResultAccountManaged)
		}
	}
	out, err := e.CommitBatch(ctx, [][]ledger.TransferRequest{refused[:1], refused[len(refused)-1:]})
	if err != nil || out[0][0].Result != ledger.ResultAccountManaged || out[1][0].Result != ledger.ResultAccountManaged {
		t.Errorf("CommitBatch = %+v, %v; want %s", out, err, ledger.ResultAccountManaged)
	}
	render := func(rs []ledger.TransferResult) idempotency.Response {
		return idempotency.Response{Status: 422, ContentType: "application/json", Body: []byte(rs[0].Result)}
	}
	for i, r := range refused {
		claim := ledger.KeyClaim{OrgID: "op", Key: fmt.Sprintf("k%d", i), RequestHash: []byte("h"), Render: render}
		ans, err := e.SubmitKeyed(ctx, []ledger.TransferRequest{r}, claim)
		if err != nil || ans.Results[0].Result != ledger.ResultAccountManaged {
			t.Errorf("SubmitKeyed %s = %+v, %v; want %s", r.Reference, ans, err, ledger.ResultAccountManaged)
		}
		answers, _, err := e.CommitKeyedBatch(ctx, []ledger.KeyedSubmission{{Reqs: []ledger.TransferRequest{r}, Claim: ledger.KeyClaim{OrgID: "op", Key: fmt.Sprintf("kb%d", i), RequestHash: []byte("h"), Render: render}}})
		if err != nil || answers[0].Results[0].Result != ledger.ResultAccountManaged {
			t.Errorf("CommitKeyedBatch %s = %+v, %v; want %s", r.Reference, answers, err, ledger.ResultAccountManaged)
		}
	}
	// Nothing moved: the hold is still whole and the product's accounts as
	// the writer left them.
	accts, err := db.AccountsByID(ctx, []int64{kept[0].ID, kept[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if accts[0].DebitsPending != 500 || accts[0].DebitsPosted != 0 || accts[1].CreditsPending != 500 || accts[1].CreditsPosted != 0 {
		t.Errorf("the product's accounts changed: %+v", accts)
	}
	// The owner's own accounts still move.
	res, err := e.Submit(ctx, []ledger.TransferRequest{{Owner: "op", Reference: "free", DebitAccountID: own[0].ID, CreditAccountID: own[1].ID, Amount: 1}})
	if err != nil || res[0].Result != ledger.ResultOK {
		t.Errorf("a transfer between the owner's own accounts = %+v, %v", res, err)
	}
	// Nor may a caller open an account under a product's reference.
	_, err = e.CreateAccounts(ctx, []ledger.AccountRequest{{Owner: "op", Reference: "product:c", Asset: "JPY"}})
	if !apperr.Is(err, apperr.CodeInvalid) || !strings.Contains(err.Error(), "product") {
		t.Errorf("opening a product's account = %v, want invalid", err)
	}
}
