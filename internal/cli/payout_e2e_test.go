package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/client"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// TestPayoutEndToEnd starts the real server in-process on a fresh SQLite
// file and moves money in and out of escrow as the operator would: deals
// funded by importing the bank's Zengin statement, released, sellers' bank
// accounts registered by their site, a payout batch built, its Zengin and
// pain.001 files checked record by record, an item returned, the batch
// settled; then kinko verify.
func TestPayoutEndToEnd(t *testing.T) {
	payoutEndToEnd(t, filepath.Join(t.TempDir(), "kinko.db"))
}

// TestPostgresPayoutEndToEnd is TestPayoutEndToEnd on PostgreSQL.
func TestPostgresPayoutEndToEnd(t *testing.T) {
	payoutEndToEnd(t, freshPostgres(t))
}

// operatorStatement is a one-day 入出金取引明細 of the operator's account
// 0005-001-1234567 holding the given credits and a bank fee.
func operatorStatement(t *testing.T, day bankfile.Date, credits ...bankfile.Entry) []byte {
	t.Helper()
	st := bankfile.Statement{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0005", BankName: "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
		BranchCode: "001", BranchName: "ﾎﾝﾃﾝ", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567",
		AccountName: "ｶ)ｷﾝｺ ｴｽｸﾛ-", OpeningBalance: bankfile.Balance{Yen: 1_000_000, Known: true}}
	for i, c := range credits {
		c.InquiryNumber = fmt.Sprintf("%04d%04d", day.Day, i+1)
		c.Date, c.ValueDate, c.Kind, c.TransactionCode = day, day, bankfile.Deposit, bankfile.TxTransfer
		st.Entries = append(st.Entries, c)
	}
	st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: fmt.Sprintf("%04d9999", day.Day), Date: day, ValueDate: day,
		Kind: bankfile.Withdrawal, TransactionCode: bankfile.TxOther, AmountYen: 440, Description: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"})
	file, err := bankfile.WriteStatements([]bankfile.Statement{st}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// pain001 is the part of a pain.001.001.09 document the test reads.
type pain001 struct {
	XMLName xml.Name `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Document"`
	MsgID   string   `xml:"CstmrCdtTrfInitn>GrpHdr>MsgId"`
	NbOfTxs int      `xml:"CstmrCdtTrfInitn>GrpHdr>NbOfTxs"`
	CtrlSum int64    `xml:"CstmrCdtTrfInitn>GrpHdr>CtrlSum"`
	PmtInf  struct {
		ExecutionDate string `xml:"ReqdExctnDt>Dt"`
		Debtor        string `xml:"Dbtr>Nm"`
		Txs           []struct {
			EndToEndID string `xml:"PmtId>EndToEndId"`
			Amount     struct {
				Currency string `xml:"Ccy,attr"`
				Value    int64  `xml:",chardata"`
			} `xml:"Amt>InstdAmt"`
			Member   string `xml:"CdtrAgt>FinInstnId>ClrSysMmbId>MmbId"`
			Creditor string `xml:"Cdtr>Nm"`
			Account  string `xml:"CdtrAcct>Id>Othr>Id"`
		} `xml:"CdtTrfTxInf"`
	} `xml:"CstmrCdtTrfInitn>PmtInf"`
}

func payoutEndToEnd(t *testing.T, db string) {
	ctx := context.Background()
	adminKey := cliOut(t, "keys", "create", "--db", db, "--scopes", "admin")
	org := cliOut(t, "orgs", "create", "--db", db, "--name", "Auction A")
	siteKey := cliOut(t, "keys", "create", "--db", db, "--org", org, "--scopes", "escrow:write")
	srv := startServeConfig(t, serveConfig{DB: db})
	base := "http://" + srv.addr
	admin, site := client.New(base, adminKey, nil), client.New(base, siteKey, nil)
	if _, err := admin.CreateAsset(ctx, client.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	// cli runs kinko against the server; its stdout as it is.
	cli := func(key string, args ...string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		e := env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		if code := run(ctx, append(args, "--url", base, "--key", key), e); code != exitOK {
			t.Fatalf("kinko %v: exit %d\n%s", args, code, stderr.String())
		}
		return stdout.Bytes()
	}
	jpy := func(n int64) client.Money { return client.Money{Amount: n, Currency: "JPY"} }

	// Two deals of 20,000 JPY with 1,000 shipping, the fee (600) paid by
	// the seller: 21,000 due, 20,400 to each seller on release.
	const due, toSeller = 21000, 20400
	newDeal := func(name string) client.Deal {
		t.Helper()
		d, _, err := site.CreateDeal(ctx, client.DealParams{ExternalRef: name, Title: "Lot " + name, Price: jpy(20000),
			ShippingFee: &client.Money{Amount: 1000, Currency: "JPY"}, FeePayer: "seller",
			Seller: client.DealParty{Email: "seller-" + name + "@example.com"}, Buyer: client.DealParty{Email: "buyer-" + name + "@example.com"}})
		if err != nil || d.AmountDue != jpy(due) {
			t.Fatalf("create %s: %+v %v", name, d, err)
		}
		if d, err = site.AcceptDeal(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		return d
	}
	one, two := newDeal("one"), newDeal("two")
	state := func(id, want string) client.Deal {
		t.Helper()
		d, err := site.GetDeal(ctx, id)
		if err != nil || d.State != want {
			t.Fatalf("deal %s: %+v, %v; want %s", id, d, err, want)
		}
		return d
	}

	// Money in: the bank's statement for 5 January holds deal one's exact
	// amount, part of deal two's, and a transfer quoting no reference.
	jan5 := operatorStatement(t, bankfile.Date{Year: 2026, Month: time.January, Day: 5},
		bankfile.Entry{AmountYen: due, RemitterName: one.PaymentReference + " ﾔﾏﾀﾞ ﾀﾛｳ"},
		bankfile.Entry{AmountYen: 8000, RemitterName: "ｻﾄｳ ﾊﾅｺ", EDI: two.PaymentReference},
		bankfile.Entry{AmountYen: 3333, RemitterName: "ﾀﾅｶ ｲﾁﾛｳ"})
	t.Run("ImportStatement", func(t *testing.T) {
		rep, err := admin.ImportStatement(ctx, client.StatementZengin, jan5)
		if err != nil || rep.Entries != 4 || rep.Withdrawals != 1 || rep.Replayed != 0 || len(rep.Deposits) != 3 ||
			rep.Counts != (client.DepositCounts{Matched: 1, Partial: 1, Unmatched: 1}) {
			t.Fatalf("import: %+v, %v", rep, err)
		}
		for i, want := range []struct {
			status, deal, review string
		}{{"matched", one.ID, ""}, {"partial", two.ID, "open"}, {"unmatched", "", "open"}} {
			d := rep.Deposits[i]
			if d.Status != want.status || d.Deal != want.deal || d.Review != want.review || d.Source != "zengin" ||
				d.BankAccount != "0005-001-1234567" || d.ValueDate != "2026-01-05" {
				t.Errorf("deposit %d: %+v, want %+v", i, d, want)
			}
		}
		state(one.ID, client.DealFunded)
		if d := state(two.ID, client.DealAwaitingPayment); d.AmountPaid != jpy(8000) {
			t.Fatalf("deal two paid %+v", d.AmountPaid)
		}
		open, err := admin.ListDeposits(ctx, client.DepositQuery{Review: "open"})
		if err != nil || len(open.Data) != 2 {
			t.Fatalf("open reviews %+v, %v", open, err)
		}
		if suspense := operatorBalance(t, admin, "escrow:suspense:JPY"); suspense != 3333 {
			t.Fatalf("suspense holds %d", suspense)
		}

		// The same file again, by the CLI: every credit a replay, no money moves.
		bank, suspense := operatorBalance(t, admin, "escrow:bank:JPY"), operatorBalance(t, admin, "escrow:suspense:JPY")
		path := filepath.Join(t.TempDir(), "jan5.txt")
		if err := os.WriteFile(path, jan5, 0o644); err != nil {
			t.Fatal(err)
		}
		text := string(cli(adminKey, "deposits", "import", "--format", "zengin", path))
		if !strings.Contains(text, "zengin: 4 entries, 1 withdrawals skipped, 3 credits already recorded") ||
			!strings.Contains(text, "recorded: 0 matched, 0 partial, 0 overpaid, 0 unmatched, 0 late") || !strings.Contains(text, one.ID) {
			t.Fatalf("kinko deposits import printed:\n%s", text)
		}
		if b, s := operatorBalance(t, admin, "escrow:bank:JPY"), operatorBalance(t, admin, "escrow:suspense:JPY"); b != bank || s != suspense {
			t.Fatalf("importing again moved bank %d → %d, suspense %d → %d", bank, b, suspense, s)
		}
		if d := state(two.ID, client.DealAwaitingPayment); d.AmountPaid != jpy(8000) {
			t.Fatalf("importing again paid deal two %+v", d.AmountPaid)
		}

		// The next day's statement brings the rest of deal two (--json).
		jan6 := operatorStatement(t, bankfile.Date{Year: 2026, Month: time.January, Day: 6},
			bankfile.Entry{AmountYen: due - 8000, RemitterName: two.PaymentReference + " ｻﾄｳ ﾊﾅｺ"})
		path6 := filepath.Join(t.TempDir(), "jan6.txt")
		if err := os.WriteFile(path6, jan6, 0o644); err != nil {
			t.Fatal(err)
		}
		var rep6 client.DepositImport
		if err := json.Unmarshal(cli(adminKey, "deposits", "import", path6, "--format", "zengin", "--json"), &rep6); err != nil ||
			rep6.Counts.Matched != 1 || rep6.Deposits[0].Deal != two.ID {
			t.Fatalf("kinko deposits import --json: %+v, %v", rep6, err)
		}
		state(two.ID, client.DealFunded)
	})

	for _, d := range []client.Deal{one, two} {
		if _, err := site.ShipDeal(ctx, d.ID, "Yamato", "4512-7788"); err != nil {
			t.Fatal(err)
		}
		if rel, err := site.ApproveDeal(ctx, d.ID); err != nil || rel.State != client.DealReleased || rel.Released != jpy(toSeller) {
			t.Fatalf("approve %s: %+v, %v", d.ID, rel, err)
		}
	}

	t.Run("BankAccounts", func(t *testing.T) {
		for _, a := range []client.BankAccountParams{
			{Email: "seller-one@example.com", BankCode: "0001", BankName: "ミズホ", BranchCode: "002", BranchName: "トウキヨウ",
				AccountType: "ordinary", AccountNumber: "7654321", HolderName: "ヤマダ　タロウ"},
			{Email: "seller-two@example.com", BankCode: "0009", BankName: "みついすみとも", BranchCode: "123", BranchName: "しんじゅく",
				AccountType: "savings", AccountNumber: "1112223", HolderName: "サトウ　ハナコ"},
		} {
			if _, err := site.SetBankAccount(ctx, a); err != nil {
				t.Fatalf("register %s: %v", a.Email, err)
			}
		}
		var got client.BankAccount
		if err := json.Unmarshal(cli(siteKey, "bank-accounts", "get", "seller-two@example.com"), &got); err != nil ||
			got.HolderName != "ｻﾄｳ ﾊﾅｺ" || got.BankName != "ﾐﾂｲｽﾐﾄﾓ" || got.BranchName != "ｼﾝｼﾞﾕｸ" || got.Invalid {
			t.Fatalf("kinko bank-accounts get: %+v, %v", got, err)
		}
		if _, err := site.SetBankAccount(ctx, client.BankAccountParams{Email: "seller-one@example.com", BankCode: "0001", BankName: "ミズホ",
			BranchCode: "002", BranchName: "トウキヨウ", AccountType: "ordinary", AccountNumber: "7654321", HolderName: "山田太郎"}); client.CodeOf(err) != "invalid" {
			t.Fatalf("a kanji name: %v", err)
		}
	})

	balance := func(email string, available, inPayout int64) {
		t.Helper()
		b, err := admin.GetPayeeBalance(ctx, email, "JPY")
		if err != nil || b.Available != jpy(available) || b.InPayout != jpy(inPayout) {
			t.Fatalf("%s: %+v, %v; want %d available, %d in payout", email, b, err, available, inPayout)
		}
	}
	balance("seller-one@example.com", toSeller, 0)
	balance("seller-two@example.com", toSeller, 0)

	var batch client.PayoutBatch
	payDay := time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)
	if err := json.Unmarshal(cli(adminKey, "payouts", "build", "--currency", "JPY", "--date", payDay), &batch); err != nil {
		t.Fatal(err)
	}
	if batch.State != "pending" || batch.Count != 2 || batch.Total != jpy(2*toSeller) || batch.TransferDate != payDay || len(batch.Items) != 2 {
		t.Fatalf("batch %+v", batch)
	}
	balance("seller-one@example.com", 0, toSeller)
	if _, err := admin.BuildPayoutBatch(ctx, client.PayoutBatchParams{Currency: "JPY", TransferDate: payDay}); client.CodeOf(err) != "nothing_to_pay" {
		t.Fatalf("a second batch: %v", err)
	}

	// The Zengin 総合振込 file, record by record.
	type payee struct {
		email, bank, branch, account, name string
		typ                                bankfile.AccountType
	}
	payees := []payee{
		{"seller-one@example.com", "0001", "002", "7654321", "ﾔﾏﾀﾞ ﾀﾛｳ", bankfile.AccountOrdinary},
		{"seller-two@example.com", "0009", "123", "1112223", "ｻﾄｳ ﾊﾅｺ", bankfile.AccountSavings},
	}
	t.Run("ZenginFile", func(t *testing.T) {
		f, err := admin.GetPayoutFile(ctx, batch.ID, client.PayoutFileZengin)
		if err != nil || f.ContentType != "text/plain; charset=Shift_JIS" || f.Filename != batch.ID+"-zengin.txt" {
			t.Fatalf("download: %+v, %v", f, err)
		}
		if fromCLI := cli(adminKey, "payouts", "file", batch.ID, "--format", "zengin"); !bytes.Equal(fromCLI, f.Data) {
			t.Fatalf("kinko payouts file wrote %d bytes, the API answers %d", len(fromCLI), len(f.Data))
		}
		records := strings.Split(strings.TrimSuffix(string(f.Data), "\r\n"), "\r\n")
		if len(records) != 5 {
			t.Fatalf("%d records, want header, 2 data, trailer, end", len(records))
		}
		for i, r := range records {
			if len(r) != bankfile.TransferRecordLen || r[0] != "12289"[i] {
				t.Errorf("record %d: %d bytes, kind %q", i+1, len(r), r[0])
			}
		}
		batches, err := bankfile.ParseTransfers(f.Data)
		if err != nil || len(batches) != 1 {
			t.Fatalf("ParseTransfers: %+v, %v", batches, err)
		}
		hdr := batches[0]
		src := escrow.PayoutSourceDevelopment
		if hdr.RequesterCode != src.RequesterCode || hdr.RequesterName != src.RequesterName || hdr.TransferDate.String() != payDay[5:] ||
			hdr.BankCode != src.BankCode || hdr.BranchCode != src.BranchCode || hdr.AccountNumber != src.AccountNumber {
			t.Errorf("header %+v", hdr)
		}
		if len(hdr.Items) != 2 {
			t.Fatalf("%d data records", len(hdr.Items))
		}
		for i, p := range payees {
			it := hdr.Items[i]
			if it.BankCode != p.bank || it.BranchCode != p.branch || it.AccountType != p.typ || it.AccountNumber != p.account ||
				it.RecipientName != p.name || it.AmountYen != toSeller || it.CustomerCode1 != fmt.Sprintf("%010d", i+1) {
				t.Errorf("data record %d: %+v, want %+v", i+1, it, p)
			}
			if batch.Items[i].Email != p.email || batch.Items[i].Seq != i+1 {
				t.Errorf("item %d: %+v", i, batch.Items[i])
			}
		}
		totals, err := hdr.Totals()
		if err != nil || totals.Count != 2 || totals.TotalYen != 2*toSeller {
			t.Errorf("totals %+v, %v", totals, err)
		}
		// The trailer as written: 8, the count in 6 digits, the total in 12.
		if want := fmt.Sprintf("8%06d%012d", 2, 2*toSeller); !strings.HasPrefix(records[3], want) {
			t.Errorf("trailer %q, want %q…", records[3][:19], want)
		}
	})

	t.Run("Pain001File", func(t *testing.T) {
		f, err := admin.GetPayoutFile(ctx, batch.ID, client.PayoutFilePain001)
		if err != nil || f.ContentType != "application/xml" || f.Filename != batch.ID+"-pain001.xml" {
			t.Fatalf("download: %+v, %v", f, err)
		}
		var doc pain001
		if err := xml.Unmarshal(f.Data, &doc); err != nil {
			t.Fatalf("pain.001: %v\n%s", err, f.Data)
		}
		if doc.MsgID != strings.ReplaceAll(batch.ID, "_", "-") || doc.NbOfTxs != 2 || doc.CtrlSum != 2*toSeller ||
			doc.PmtInf.ExecutionDate != payDay || len(doc.PmtInf.Txs) != 2 {
			t.Fatalf("pain.001 %+v", doc)
		}
		for i, p := range payees {
			tx := doc.PmtInf.Txs[i]
			if tx.EndToEndID != strings.ReplaceAll(batch.Items[i].ID, "_", "-") || tx.Amount.Value != toSeller || tx.Amount.Currency != "JPY" ||
				tx.Member != p.bank+p.branch || tx.Creditor != p.name || tx.Account != p.account {
				t.Errorf("transaction %d: %+v", i, tx)
			}
		}
	})

	// The bank could not pay seller two: the money is theirs to be paid again.
	returned := batch.Items[1]
	var after client.PayoutBatch
	if err := json.Unmarshal(cli(adminKey, "payouts", "return", batch.ID, returned.ID, "--reason", "口座なし"), &after); err != nil ||
		after.Items[1].State != "returned" || after.Items[1].Reason != "口座なし" || after.Items[0].State != "pending" {
		t.Fatalf("kinko payouts return: %+v, %v", after, err)
	}
	balance("seller-two@example.com", toSeller, 0)
	if a, err := site.GetBankAccount(ctx, "seller-two@example.com"); err != nil || !a.Invalid {
		t.Fatalf("the account a payout came back from: %+v, %v", a, err)
	}
	if f, err := admin.GetPayoutFile(ctx, batch.ID, client.PayoutFileZengin); err != nil {
		t.Fatal(err)
	} else if bs, err := bankfile.ParseTransfers(f.Data); err != nil || len(bs[0].Items) != 1 || bs[0].Items[0].AccountNumber != "7654321" {
		t.Fatalf("the file after the return: %+v, %v", bs, err)
	}

	if settled, err := admin.SettlePayoutBatch(ctx, batch.ID); err != nil || settled.State != "settled" || settled.SettledAt == nil ||
		settled.Items[0].State != "settled" || settled.Items[1].State != "returned" {
		t.Fatalf("settle: %+v, %v", settled, err)
	}
	balance("seller-one@example.com", 0, 0)
	balance("seller-two@example.com", toSeller, 0)
	var page client.Page[client.PayoutBatch]
	if err := json.Unmarshal(cli(adminKey, "payouts", "list"), &page); err != nil || len(page.Data) != 1 || page.Data[0].State != "settled" {
		t.Fatalf("kinko payouts list: %+v, %v", page, err)
	}
	// The ledger's bank account: the credits in, less the payout out.
	if bank := operatorBalance(t, admin, "escrow:bank:JPY"); bank != -(2*due+3333)+toSeller {
		t.Fatalf("escrow:bank:JPY is %d", bank)
	}

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve after cancel: %v", err)
	}
	if r := runCLI(t, nil, "verify", "--db", db); r.code != exitOK || !strings.Contains(r.stdout, "no violations") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestPayoutsUsage checks what the payout commands refuse before they call
// a server.
func TestPayoutsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"payouts"}, exitUsage, "build|list"},
		{[]string{"payouts", "get", "--key", "k"}, exitUsage, "ID"},
		{[]string{"payouts", "get", "pb_1", "pb_2", "--key", "k"}, exitUsage, "ID"},
		{[]string{"payouts", "return", "pb_1", "--reason", "x", "--key", "k"}, exitUsage, "ID ITEM"},
		{[]string{"payouts", "return", "pb_1", "pi_1", "--key", "k"}, exitUsage, "--reason"},
		{[]string{"payouts", "build", "--key", "k"}, exitUsage, "--date"},
		{[]string{"payouts", "file", "pb_1"}, exitUsage, "--key"},
		{[]string{"bank-accounts", "get", "--key", "k"}, exitUsage, "EMAIL"},
		{[]string{"deposits", "import", "--key", "k", "statement.txt"}, exitUsage, "--format"},
		{[]string{"deposits", "import", "--format", "zengin", "--key", "k"}, exitUsage, "FILE"},
		{[]string{"deposits", "import", "--format", "zengin", "--key", "k", filepath.Join(t.TempDir(), "missing.txt")}, exitFailure, "missing.txt"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("exit %d, want %d; stderr %q does not say %q", r.code, tc.code, r.stderr, tc.says)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
		reason     string
	}{
		{[]string{"a", "b", "--reason", "r"}, []string{"a", "b"}, "r"},
		{[]string{"--reason", "r", "a", "b"}, []string{"a", "b"}, "r"},
		{[]string{"a", "--reason=r", "b"}, []string{"a", "b"}, "r"},
		{[]string{"--reason", "r", "--", "-a", "--b"}, []string{"-a", "--b"}, "r"},
		{[]string{"a", "--", "--reason"}, []string{"a", "--reason"}, ""},
	} {
		fs := newFlagSet(env{stderr: &bytes.Buffer{}}, "t")
		reason := fs.String("reason", "", "")
		got, err := parseArgs(fs, tc.args, "X", "Y")
		if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") || *reason != tc.reason {
			t.Errorf("%q: %q, reason %q, %v", tc.args, got, *reason, err)
		}
	}
}
