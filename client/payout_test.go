package client_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
	"github.com/kinko-pay/kinko/internal/bankfile"
)

// TestPayoutsThroughTheClient drives a statement import, a bank account and
// a payout batch through the client against the real API.
func TestPayoutsThroughTheClient(t *testing.T) {
	ctx := context.Background()
	url, adminKey, key := server(t, nil)
	admin, site := client.New(url, adminKey, nil), client.New(url, key, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	d, _, err := site.CreateDeal(ctx, client.DealParams{Title: "Obi", Price: client.Money{Amount: 5000, Currency: "JPY"}, FeePayer: "seller",
		Seller: client.DealParty{Email: "s@example.com"}, Buyer: client.DealParty{Email: "b@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = site.AcceptDeal(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	file, err := bankfile.WriteStatements([]bankfile.Statement{{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0005",
		BranchCode: "001", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567",
		Entries: []bankfile.Entry{{InquiryNumber: "00000001", Date: day, ValueDate: day, Kind: bankfile.Deposit,
			AmountYen: d.AmountDue.Amount, RemitterName: d.PaymentReference + " ﾔﾏﾀﾞ ﾀﾛｳ"}}}}, bankfile.EraReiwa, bankfile.Framing{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := admin.ImportStatement(ctx, client.StatementZengin, file)
	if err != nil || rep.Entries != 1 || rep.Counts.Matched != 1 || len(rep.Deposits) != 1 || rep.Deposits[0].Deal != d.ID {
		t.Fatalf("ImportStatement = %+v, %v", rep, err)
	}
	if rep, err = admin.ImportStatement(ctx, client.StatementZengin, file); err != nil || rep.Replayed != 1 || rep.Counts != (client.DepositCounts{}) {
		t.Fatalf("imported again = %+v, %v", rep, err)
	}
	if _, err := admin.ImportStatement(ctx, client.StatementZengin, file[:100]); client.CodeOf(err) != "invalid" {
		t.Fatalf("a cut file: %v", err)
	}
	if _, err := site.ShipDeal(ctx, d.ID, "Sagawa", "1"); err != nil {
		t.Fatal(err)
	}
	if d, err = site.ApproveDeal(ctx, d.ID); err != nil || d.State != client.DealReleased {
		t.Fatalf("ApproveDeal = %+v, %v", d, err)
	}
	owed := d.Released

	if _, err := admin.BuildPayoutBatch(ctx, client.PayoutBatchParams{Currency: "JPY", TransferDate: time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)}); client.CodeOf(err) != "nothing_to_pay" {
		t.Fatalf("a batch without bank accounts: %v", err)
	}
	acct, err := site.SetBankAccount(ctx, client.BankAccountParams{Email: "s@example.com", BankCode: "0001", BankName: "ミズホ",
		BranchCode: "002", BranchName: "トウキヨウ", AccountType: "ordinary", AccountNumber: "7654321", HolderName: "ヤマダ　タロウ"})
	if err != nil || acct.HolderName != "ﾔﾏﾀﾞ ﾀﾛｳ" {
		t.Fatalf("SetBankAccount = %+v, %v", acct, err)
	}
	if got, err := site.GetBankAccount(ctx, "s@example.com"); err != nil || got != acct {
		t.Fatalf("GetBankAccount = %+v, %v", got, err)
	}
	if bal, err := admin.GetPayeeBalance(ctx, "s@example.com", "JPY"); err != nil || bal.Available != owed || bal.InPayout.Amount != 0 {
		t.Fatalf("GetPayeeBalance = %+v, %v", bal, err)
	}
	b, err := admin.BuildPayoutBatch(ctx, client.PayoutBatchParams{Currency: "JPY", TransferDate: time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)})
	if err != nil || b.State != "pending" || b.Total != owed || len(b.Items) != 1 || b.Items[0].BankAccount.AccountNumberLast4 != "4321" {
		t.Fatalf("BuildPayoutBatch = %+v, %v", b, err)
	}
	if page, err := admin.ListPayoutBatches(ctx, client.ListParams{}); err != nil || len(page.Data) != 1 || page.Data[0].ID != b.ID {
		t.Fatalf("ListPayoutBatches = %+v, %v", page, err)
	}
	if got, err := admin.GetPayoutBatch(ctx, b.ID); err != nil || got.Items[0].ID != b.Items[0].ID {
		t.Fatalf("GetPayoutBatch = %+v, %v", got, err)
	}
	zen, err := admin.GetPayoutFile(ctx, b.ID, client.PayoutFileZengin)
	if err != nil || zen.ContentType != "text/plain; charset=Shift_JIS" || zen.Filename != b.ID+"-zengin.txt" {
		t.Fatalf("GetPayoutFile = %+v, %v", zen, err)
	}
	if bs, err := bankfile.ParseTransfers(zen.Data); err != nil || bs[0].Items[0].AmountYen != owed.Amount {
		t.Fatalf("the Zengin file: %+v, %v", bs, err)
	}
	pain, err := admin.GetPayoutFile(ctx, b.ID, client.PayoutFilePain001)
	if err != nil || pain.ContentType != "application/xml" || !strings.Contains(string(pain.Data), "<CtrlSum>"+strconv.FormatInt(owed.Amount, 10)+"</CtrlSum>") {
		t.Fatalf("GetPayoutFile pain.001 = %+v, %v", pain, err)
	}
	if _, err := admin.GetPayoutFile(ctx, b.ID, "csv"); client.CodeOf(err) != "invalid" {
		t.Fatalf("an unknown format: %v", err)
	}
	if b, err = admin.ReturnPayoutItem(ctx, b.ID, b.Items[0].ID, "口座なし"); err != nil || b.Items[0].State != "returned" {
		t.Fatalf("ReturnPayoutItem = %+v, %v", b, err)
	}
	if b, err = admin.SettlePayoutBatch(ctx, b.ID); err != nil || b.State != "settled" || b.SettledAt == nil {
		t.Fatalf("SettlePayoutBatch = %+v, %v", b, err)
	}
	if bal, err := admin.GetPayeeBalance(ctx, "s@example.com", "JPY"); err != nil || bal.Available != owed {
		t.Fatalf("after the return = %+v, %v", bal, err)
	}
}
