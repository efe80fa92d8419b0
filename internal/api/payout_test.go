package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// statementCredit is one buyer's transfer on a test statement.
type statementCredit struct {
	inquiry string // 照会番号, 8 digits
	amount  int64
	name    string // the remitter, half-width: "<payment reference> ﾔﾏﾀﾞ ﾀﾛｳ"
}

// zenginStatement writes a one-day 入出金取引明細 of the operator's account
// holding credits and one withdrawal (a bank fee).
func zenginStatement(t *testing.T, credits ...statementCredit) []byte {
	t.Helper()
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	st := bankfile.Statement{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0005", BankName: "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
		BranchCode: "001", BranchName: "ﾎﾝﾃﾝ", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567",
		AccountName: "ｶ)ｷﾝｺ ｴｽｸﾛ-"}
	for _, c := range credits {
		st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: c.inquiry, Date: day, ValueDate: day, Kind: bankfile.Deposit,
			TransactionCode: bankfile.TxTransfer, AmountYen: c.amount, RemitterName: c.name})
	}
	st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: "99999999", Date: day, ValueDate: day, Kind: bankfile.Withdrawal,
		TransactionCode: bankfile.TxOther, AmountYen: 440, Description: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"})
	file, err := bankfile.WriteStatements([]bankfile.Statement{st}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	return file
}

func importBody(format string, file []byte) string {
	return fmt.Sprintf(`{"format":%q,"file":%q}`, format, base64.StdEncoding.EncodeToString(file))
}

func TestDepositImportDecoding(t *testing.T) {
	h := newHarness(t)
	good := zenginStatement(t, statementCredit{"00000001", 1000, "NO REF"})
	for _, tc := range []struct{ name, body, param, detail string }{
		{"ErrUnknownFormat", importBody("mt940", good), "format", "zengin"},
		{"ErrNoFormat", `{"file":"` + base64.StdEncoding.EncodeToString(good) + `"}`, "format", ""},
		{"ErrNoFile", `{"format":"zengin"}`, "file", "required"},
		{"ErrBadBase64", `{"format":"zengin","file":"not base64!"}`, "file", "byte 3"},
		{"ErrURLBase64", `{"format":"zengin","file":"` + base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}) + `"}`, "file", "base64"},
		{"ErrFileType", `{"format":"zengin","file":123}`, "file", ""},
		{"ErrUnknownField", `{"format":"zengin","file":"","name":"x"}`, "name", ""},
		{"ErrNotAStatement", importBody("zengin", []byte("hello")), "file", "record 1"},
		{"ErrCutShort", importBody("zengin", good[:404]), "file", "no trailer"},
		{"ErrNotCamt", importBody("camt053", good), "file", "XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.want(h.do("POST", "/v1/deposits/imports", "admin", tc.body), 400, "invalid")
			if r.body["param"] != tc.param || !strings.Contains(r.body["detail"].(string), tc.detail) {
				t.Fatalf("param %v detail %v, want %s and %q", r.body["param"], r.body["detail"], tc.param, tc.detail)
			}
		})
	}
	t.Run("ErrRecordAndField", func(t *testing.T) {
		bad := bytes.Clone(good)
		copy(bad[202+1:], "X") // the first data record's 照会番号
		r := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", bad)), 400, "invalid")
		if d := r.body["detail"].(string); r.body["param"] != "file" || !strings.HasPrefix(d, "record 2: ") {
			t.Fatalf("detail %q param %v", d, r.body["param"])
		}
	})
	t.Run("OperatorOnly", func(t *testing.T) {
		h.want(h.do("POST", "/v1/deposits/imports", "k1", importBody("zengin", good)), 403, "forbidden")
	})
	t.Run("ErrOversize", func(t *testing.T) {
		body := `{"format":"zengin","file":"` + strings.Repeat("A", ImportBodyBytesMax) + `"}`
		r := h.want(h.do("POST", "/v1/deposits/imports", "admin", body), 413, "body_too_large")
		if d := r.body["detail"].(string); !strings.Contains(d, "8 MiB") {
			t.Fatalf("detail %q does not give the file's bound", d)
		}
	})
	t.Run("ErrOversizeFileWithLineFeeds", func(t *testing.T) {
		// Line feeds in base64 are skipped, so the body bound alone lets a
		// little more than the file bound through.
		b64 := base64.StdEncoding.EncodeToString(make([]byte, ImportFileBytesMax+3))
		body := `{"format":"zengin","file":"` + b64[:len(b64)-8] + `\n` + b64[len(b64)-8:] + `"}`
		if len(body) > ImportBodyBytesMax {
			t.Skipf("body of %d bytes is over the body bound", len(body))
		}
		r := h.want(h.do("POST", "/v1/deposits/imports", "admin", body), 400, "invalid")
		if r.body["param"] != "file" || !strings.Contains(r.body["detail"].(string), "8 MiB") {
			t.Fatalf("oversize file: %s", r.raw)
		}
	})
	t.Run("LargerThanOtherBodies", func(t *testing.T) {
		// 1.5 MiB: more than any other route takes, within the import's bound.
		big := bytes.Repeat([]byte("x"), BodyBytesMax*3/2)
		r := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", big)), 400, "invalid")
		if r.body["param"] != "file" {
			t.Fatalf("a large body: %s", r.raw)
		}
		h.want(h.do("POST", "/v1/deposits", "admin", importBody("zengin", big)), 413, "body_too_large")
	})
	if r := h.want(h.do("GET", "/v1/deposits", "admin", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
		t.Fatalf("a refused import recorded deposits: %s", r.raw)
	}
}

func TestDepositImport(t *testing.T) {
	h := newHarness(t)
	d := h.newDeal("k1", "imp")
	id, pay := d.body["id"].(string), d.body["payment_reference"].(string)
	h.step("k1", id, "accept", 200, "")
	file := zenginStatement(t,
		statementCredit{"00000001", amountDue, pay + " ﾔﾏﾀﾞ ﾀﾛｳ"},
		statementCredit{"00000002", 777, "ｽｽﾞｷ ﾊﾅｺ"})
	first := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", file), "Idempotency-Key", "imp-1"), 200, "")
	var rep depositImportJSON
	if err := json.Unmarshal([]byte(first.raw), &rep); err != nil {
		t.Fatal(err)
	}
	want := depositCountsJSON{Matched: 1, Unmatched: 1}
	if rep.Object != "deposit_import" || rep.Format != "zengin" || rep.Entries != 3 || rep.Withdrawals != 1 || rep.Replayed != 0 ||
		rep.Counts != want || len(rep.Deposits) != 2 {
		t.Fatalf("report %s", first.raw)
	}
	dep := rep.Deposits[0]
	if dep.Source != "zengin" || dep.Deal == nil || *dep.Deal != id || dep.Status != "matched" || dep.BankAccount != "0005-001-1234567" ||
		dep.ValueDate != "2026-01-05" || dep.BankRef != "20260105-20260105-00000001" {
		t.Fatalf("matched deposit %+v", dep)
	}
	if st := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "").body["state"]; st != "funded" {
		t.Fatalf("deal %v after import", st)
	}
	replay := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", file), "Idempotency-Key", "imp-1"), 200, "")
	if replay.raw != first.raw || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed import %s", replay.raw)
	}
	again := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", file)), 200, "")
	if err := json.Unmarshal([]byte(again.raw), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 2 || rep.Counts != (depositCountsJSON{}) || len(rep.Deposits) != 2 || rep.Deposits[0].ID != dep.ID {
		t.Fatalf("imported again %s", again.raw)
	}
	h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("camt053", file), "Idempotency-Key", "imp-1"), 422, "idempotency_key_reused")

	t.Run("ErrEntryRecordedWithAnotherAmount", func(t *testing.T) {
		other := zenginStatement(t, statementCredit{"00000002", 778, "ｽｽﾞｷ ﾊﾅｺ"})
		r := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", other)), 409, "conflict")
		if r.body["param"] != "file" || !strings.Contains(r.body["detail"].(string), "20260105-20260105-00000002") {
			t.Fatalf("conflict %s", r.raw)
		}
	})
}

// releasedDeal takes a deal of k1's (seller@example.com) to released and
// returns its id: amountDue - 1500 is then payable to the seller.
func (h *harness) releasedDeal(ref string) string {
	h.t.Helper()
	d := h.newDeal("k1", ref)
	id, pay := d.body["id"].(string), d.body["payment_reference"].(string)
	h.step("k1", id, "accept", 200, "")
	h.deposit("rel-"+ref, pay, amountDue, 201)
	h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"Yamato","tracking_number":"4512"}`), 200, "")
	h.step("k1", id, "approve", 200, "")
	return id
}

const bankAccountBody = `{"email":"Seller@example.com","bank_code":"0001","bank_name":"ミズホ","branch_code":"002",` +
	`"branch_name":"トウキヨウ","account_type":"ordinary","account_number":"7654321","holder_name":"ヤマダ　タロウ"}`

func TestBankAccounts(t *testing.T) {
	h := newHarness(t)
	h.newDeal("k1", "ba")
	set := func(old, new string) string {
		if !strings.Contains(bankAccountBody, old) {
			t.Fatalf("%q not in the body", old)
		}
		return strings.Replace(bankAccountBody, old, new, 1)
	}
	for _, tc := range []struct{ name, body, param string }{
		{"ErrKanji", set(`"ヤマダ　タロウ"`, `"山田太郎"`), "holder_name"},
		{"ErrBankNameKanji", set(`"ミズホ"`, `"みずほ銀行"`), "bank_name"},
		{"ErrBankCode", set(`"0001"`, `"001"`), "bank_code"},
		{"ErrAccountType", set(`"ordinary"`, `"current"`), "account_type"},
		{"ErrAccountNumber", set(`"7654321"`, `"765432"`), "account_number"},
		{"ErrNoEmail", set(`"email":"Seller@example.com",`, ``), "email"},
		{"ErrUnknownField", set(`"holder_name"`, `"iban":"x","holder_name"`), "iban"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.want(h.do("POST", "/v1/bank_accounts", "k1", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Fatalf("param %v, want %s: %s", r.body["param"], tc.param, r.raw)
			}
		})
	}
	t.Run("ErrKanjiNamesTheCharacter", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/bank_accounts", "k1", set(`"ヤマダ　タロウ"`, `"ヤマダ太郎"`)), 400, "invalid")
		if !strings.Contains(r.body["detail"].(string), "太") {
			t.Fatalf("detail %v", r.body["detail"])
		}
	})
	missing := h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "k1", ""), 404, "not_found")
	got := h.want(h.do("POST", "/v1/bank_accounts", "k1", bankAccountBody), 200, "")
	var b bankAccountJSON
	if err := json.Unmarshal([]byte(got.raw), &b); err != nil {
		t.Fatal(err)
	}
	if b.Object != "bank_account" || b.Email != "seller@example.com" || b.HolderName != "ﾔﾏﾀﾞ ﾀﾛｳ" || b.BankName != "ﾐｽﾞﾎ" ||
		b.BranchName != "ﾄｳｷﾖｳ" || b.AccountNumber != "7654321" || b.Invalid {
		t.Fatalf("registered %s", got.raw)
	}
	for _, path := range []string{"seller@example.com", url.PathEscape("SELLER@example.com"), "seller%40example.com"} {
		if r := h.want(h.do("GET", "/v1/bank_accounts/"+path, "k1", ""), 200, ""); r.raw != got.raw {
			t.Errorf("GET %s: %s", path, r.raw)
		}
	}
	h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "admin", ""), 200, "")
	h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "dealread", ""), 200, "")
	t.Run("NotYoursLooksLikeMissing", func(t *testing.T) {
		theirs := h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "k2", ""), 404, "not_found")
		if theirs.body["detail"] != missing.body["detail"] {
			t.Fatalf("%v vs %v", theirs.body["detail"], missing.body["detail"])
		}
		h.want(h.do("GET", "/v1/bank_accounts/nobody@example.com", "k1", ""), 404, "not_found")
		h.want(h.do("POST", "/v1/bank_accounts", "k2", bankAccountBody), 404, "not_found")
	})
	t.Run("Scopes", func(t *testing.T) {
		h.want(h.do("POST", "/v1/bank_accounts", "dealread", bankAccountBody), 403, "forbidden")
		h.want(h.do("POST", "/v1/bank_accounts", "admin", bankAccountBody), 403, "forbidden")
		h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "ledger", ""), 403, "forbidden")
	})
}

func TestPayoutBatches(t *testing.T) {
	h := newHarness(t)
	payDay := h.clock.Now().UTC().AddDate(0, 0, 6).Format(time.DateOnly)
	build := `{"currency":"JPY","transfer_date":"` + payDay + `"}`
	h.want(h.do("POST", "/v1/payout_batches", "admin", build), 404, "nothing_to_pay")
	h.releasedDeal("p1")
	h.releasedDeal("p2")
	const owed = 2 * (amountDue - 1500)
	h.want(h.do("POST", "/v1/payout_batches", "admin", build), 404, "nothing_to_pay") // no bank account yet
	h.want(h.do("POST", "/v1/bank_accounts", "k1", bankAccountBody), 200, "")

	balance := func(available, inPayout int64) {
		t.Helper()
		r := h.want(h.do("GET", "/v1/payees/Seller@example.com/balance?currency=JPY", "admin", ""), 200, "")
		if r.body["object"] != "payee_balance" || r.body["email"] != "seller@example.com" ||
			amountOf(t, r.body["available"]) != available || amountOf(t, r.body["in_payout"]) != inPayout {
			t.Fatalf("balance %s, want %d available, %d in payout", r.raw, available, inPayout)
		}
	}
	balance(owed, 0)
	t.Run("BalanceErrors", func(t *testing.T) {
		h.want(h.do("GET", "/v1/payees/seller@example.com/balance", "admin", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/payees/seller@example.com/balance?currency=jpy", "admin", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/payees/seller@example.com/balance?currency=JPY", "k1", ""), 403, "forbidden")
		r := h.want(h.do("GET", "/v1/payees/nobody@example.com/balance?currency=JPY", "admin", ""), 200, "")
		if amountOf(t, r.body["available"]) != 0 {
			t.Fatalf("nobody's balance %s", r.raw)
		}
	})

	for _, tc := range []struct{ name, body, param string }{
		{"ErrDate", `{"currency":"JPY","transfer_date":"9 Jan 2026"}`, "transfer_date"},
		{"ErrNoDate", `{"currency":"JPY"}`, "transfer_date"},
		{"ErrPastDate", `{"currency":"JPY","transfer_date":"2020-01-01"}`, "transfer_date"},
		{"ErrFarDate", `{"currency":"JPY","transfer_date":"` + h.clock.Now().UTC().AddDate(0, 0, 90).Format(time.DateOnly) + `"}`, "transfer_date"},
		{"ErrNoCurrency", `{"transfer_date":"` + payDay + `"}`, "currency"},
		{"ErrCurrency", `{"currency":"yen","transfer_date":"` + payDay + `"}`, "currency"},
		{"ErrAsset", `{"currency":"EUR","transfer_date":"` + payDay + `"}`, "currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.want(h.do("POST", "/v1/payout_batches", "admin", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Fatalf("param %v, want %s: %s", r.body["param"], tc.param, r.raw)
			}
		})
	}
	h.want(h.do("POST", "/v1/payout_batches", "k1", build), 403, "forbidden")

	created := h.want(h.do("POST", "/v1/payout_batches", "admin", build), 201, "")
	var b payoutBatchJSON
	if err := json.Unmarshal([]byte(created.raw), &b); err != nil {
		t.Fatal(err)
	}
	if b.Object != "payout_batch" || !strings.HasPrefix(b.ID, prefixPayoutBatch) || b.Currency != "JPY" || b.TransferDate != payDay ||
		b.State != "pending" || b.Total != (moneyJSON{owed, "JPY"}) || b.Count != 1 || len(b.Items) != 1 || b.SettledAt != nil {
		t.Fatalf("batch %s", created.raw)
	}
	it := b.Items[0]
	if !strings.HasPrefix(it.ID, prefixPayoutItem) || it.Seq != 1 || it.Email != "seller@example.com" || it.Amount != (moneyJSON{owed, "JPY"}) ||
		it.State != "pending" || it.BankAccount != (bankAccountSummaryJSON{"0001", "002", "ordinary", "4321", "ﾔﾏﾀﾞ ﾀﾛｳ"}) {
		t.Fatalf("item %+v", it)
	}
	if strings.Contains(created.raw, "7654321") {
		t.Fatal("the batch shows the whole account number")
	}
	balance(0, owed)
	h.want(h.do("POST", "/v1/payout_batches", "admin", build), 404, "nothing_to_pay")

	if r := h.want(h.do("GET", "/v1/payout_batches/"+b.ID, "admin", ""), 200, ""); r.raw != created.raw {
		t.Fatalf("GET %s\nPOST %s", r.raw, created.raw)
	}
	t.Run("List", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/payout_batches?limit=1", "admin", ""), 200, "")
		data := r.body["data"].([]any)
		if len(data) != 1 || r.body["has_more"] != false || data[0].(map[string]any)["id"] != b.ID || data[0].(map[string]any)["items"] != nil {
			t.Fatalf("list %s", r.raw)
		}
		h.want(h.do("GET", "/v1/payout_batches?starting_after=dl_1", "admin", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/payout_batches", "k1", ""), 403, "forbidden")
	})
	t.Run("NotFound", func(t *testing.T) {
		none := h.want(h.do("GET", "/v1/payout_batches/pb_nothing", "admin", ""), 404, "not_found")
		if r := h.want(h.do("GET", "/v1/payout_batches/dl_1", "admin", ""), 404, "not_found"); r.body["detail"] != none.body["detail"] {
			t.Fatalf("malformed id: %s", r.raw)
		}
		h.want(h.do("GET", "/v1/payout_batches/pb_nothing/file?format=zengin", "admin", ""), 404, "not_found")
		h.want(h.do("POST", "/v1/payout_batches/pb_nothing/settle", "admin", `{}`), 404, "not_found")
		h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/pi_nothing/return", "admin", `{"reason":"x"}`), 404, "not_found")
		h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/dl_1/return", "admin", `{"reason":"x"}`), 404, "not_found")
	})

	t.Run("Files", func(t *testing.T) {
		zen := h.want(h.do("GET", "/v1/payout_batches/"+b.ID+"/file?format=zengin", "admin", ""), 200, "")
		if ct, cd := zen.header.Get("Content-Type"), zen.header.Get("Content-Disposition"); ct != "text/plain; charset=Shift_JIS" ||
			cd != `attachment; filename="`+b.ID+`-zengin.txt"` {
			t.Fatalf("zengin headers %q %q", ct, cd)
		}
		batches, err := bankfile.ParseTransfers([]byte(zen.raw))
		if err != nil || len(batches) != 1 || len(batches[0].Items) != 1 {
			t.Fatalf("zengin file: %v %+v", err, batches)
		}
		if got := batches[0].Items[0]; got.AmountYen != owed || got.RecipientName != "ﾔﾏﾀﾞ ﾀﾛｳ" || got.AccountNumber != "7654321" {
			t.Fatalf("transfer %+v", got)
		}
		pain := h.want(h.do("GET", "/v1/payout_batches/"+b.ID+"/file?format=pain001", "admin", ""), 200, "")
		if ct := pain.header.Get("Content-Type"); ct != "application/xml" || !strings.HasSuffix(pain.header.Get("Content-Disposition"), `-pain001.xml"`) {
			t.Fatalf("pain.001 headers %v", pain.header)
		}
		var doc struct {
			Sum string `xml:"CstmrCdtTrfInitn>GrpHdr>CtrlSum"`
		}
		if err := xml.Unmarshal([]byte(pain.raw), &doc); err != nil || doc.Sum != fmt.Sprint(owed) {
			t.Fatalf("pain.001 %v %+v", err, doc)
		}
		for _, q := range []string{"", "?format=csv", "?format=camt053"} {
			h.want(h.do("GET", "/v1/payout_batches/"+b.ID+"/file"+q, "admin", ""), 400, "invalid")
		}
		h.want(h.do("GET", "/v1/payout_batches/"+b.ID+"/file?format=zengin", "k1", ""), 403, "forbidden")
	})

	h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/"+it.ID+"/return", "admin", `{"reason":""}`), 400, "invalid")
	h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/"+it.ID+"/return", "k1", `{"reason":"x"}`), 403, "forbidden")
	ret := h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/"+it.ID+"/return", "admin", `{"reason":"口座なし"}`), 200, "")
	if item := ret.body["items"].([]any)[0].(map[string]any); item["state"] != "returned" || item["reason"] != "口座なし" ||
		ret.body["returned_count"] != 1.0 || amountOf(t, ret.body["returned_total"]) != owed || amountOf(t, ret.body["total"]) != owed {
		t.Fatalf("returned %s", ret.raw)
	}
	balance(owed, 0)
	h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/items/"+it.ID+"/return", "admin", `{"reason":"again"}`), 409, "conflict")
	if r := h.want(h.do("GET", "/v1/bank_accounts/seller@example.com", "k1", ""), 200, ""); r.body["invalid"] != true {
		t.Fatalf("the account a payout came back from: %s", r.raw)
	}
	h.want(h.do("GET", "/v1/payout_batches/"+b.ID+"/file?format=zengin", "admin", ""), 400, "invalid")
	h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/settle", "admin", `{"x":1}`), 400, "invalid")
	settled := h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/settle", "admin", `{}`, "Idempotency-Key", "settle-1"), 200, "")
	if settled.body["state"] != "settled" || settled.body["settled_at"] == nil {
		t.Fatalf("settled %s", settled.raw)
	}
	if r := h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/settle", "admin", `{}`, "Idempotency-Key", "settle-1"), 200, ""); r.raw != settled.raw {
		t.Fatalf("replayed settle %s", r.raw)
	}
	h.want(h.do("POST", "/v1/payout_batches/"+b.ID+"/settle", "admin", `{}`), 409, "conflict")
	balance(owed, 0)

	// Registered again, the payee is paid by the next batch.
	h.want(h.do("POST", "/v1/bank_accounts", "k1", bankAccountBody), 200, "")
	next := h.want(h.do("POST", "/v1/payout_batches", "admin", build), 201, "")
	h.want(h.do("POST", "/v1/payout_batches/"+next.body["id"].(string)+"/settle", "admin", `{}`), 200, "")
	balance(0, 0)
	if r := h.want(h.do("GET", "/v1/payout_batches", "admin", ""), 200, ""); len(r.body["data"].([]any)) != 2 ||
		r.body["data"].([]any)[0].(map[string]any)["id"] != next.body["id"] {
		t.Fatalf("newest first: %s", r.raw)
	}
}

// TestOpenAPIImportExampleIsAStatement keeps the document's base64 example
// a file the server imports.
func TestOpenAPIImportExampleIsAStatement(t *testing.T) {
	d := mustOpenAPI(t)
	var op operation
	for _, o := range d.operations() {
		if o.String() == "POST /v1/deposits/imports" {
			op = o
		}
	}
	if op.op == nil {
		t.Fatal("POST /v1/deposits/imports is not documented")
	}
	body := d.resolve(op.op["requestBody"])
	examples := d.examples(d.resolve(body["content"].(map[string]any)["application/json"]))
	if len(examples) == 0 {
		t.Fatal("no example")
	}
	var file []byte
	for name, ex := range examples {
		var in depositImport
		if err := decodeStrict(ex, &in); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var err error
		if file, err = in.file(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		stmts, err := bankfile.ParseStatements(file, bankfile.EraReiwa)
		if err != nil || len(stmts) != 1 || len(stmts[0].Entries) != 3 {
			t.Fatalf("%s: %v %+v", name, err, stmts)
		}
	}
	h := newHarness(t)
	rep := h.want(h.do("POST", "/v1/deposits/imports", "admin", importBody("zengin", file)), 200, "")
	if rep.body["entries"] != 3.0 || rep.body["withdrawals"] != 1.0 {
		t.Fatalf("the example imported: %s", rep.raw)
	}
}

// FuzzPayoutBodies feeds arbitrary bodies to the import, bank account and
// payout decoders: nothing panics, and an import accepted holds a known
// format and a file within its bound.
func FuzzPayoutBodies(f *testing.F) {
	f.Add([]byte(`{"format":"zengin","file":"MTAzMA=="}`))
	f.Add([]byte(`{"format":"camt053","file":"PERvY3VtZW50Lz4=\n"}`))
	f.Add([]byte(`{"format":"zengin","file":"not base64!"}`))
	f.Add([]byte(bankAccountBody))
	f.Add([]byte(`{"currency":"JPY","transfer_date":"2026-01-09"}`))
	f.Add([]byte(`{"reason":"口座なし"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := func() *http.Request {
			return httptest.NewRequest("POST", "/v1/deposits/imports", bytes.NewReader(body))
		}
		var in depositImport
		if decode(req(), &in) == nil {
			if file, err := in.file(); err == nil && (!importFormats[in.Format] || len(file) == 0 || len(file) > ImportFileBytesMax) {
				t.Fatalf("accepted %s as %d bytes of %q", body, len(file), in.Format)
			}
		}
		for _, dst := range []any{&bankAccountCreate{}, &payoutBatchCreate{}, &payoutBatchSettle{}, &payoutItemReturn{}} {
			decode(req(), dst)
		}
	})
}

// TestOpenAPIPayoutBounds keeps the bounds the document gives equal to the
// code's.
func TestOpenAPIPayoutBounds(t *testing.T) {
	d := mustOpenAPI(t)
	prop := func(schema, name string) map[string]any {
		return d.schema(schema)["properties"].(map[string]any)[name].(map[string]any)
	}
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"DepositImportCreate.file maxLength", prop("DepositImportCreate", "file")["maxLength"], base64.StdEncoding.EncodedLen(ImportFileBytesMax)},
		{"PayoutBatch.items maxItems", prop("PayoutBatch", "items")["maxItems"], escrow.PayoutItemsMax},
		{"PayoutBatch.count maximum", prop("PayoutBatch", "count")["maximum"], escrow.PayoutItemsMax},
		{"PayoutBatchSummary.count maximum", prop("PayoutBatchSummary", "count")["maximum"], escrow.PayoutItemsMax},
		{"ReturnPayoutItem.reason maxLength", prop("ReturnPayoutItem", "reason")["maxLength"], escrow.ReturnReasonMax},
		{"PayoutItem.reason maxLength", prop("PayoutItem", "reason")["maxLength"], escrow.ReturnReasonMax},
		{"BankAccount.holder_name maxLength", prop("BankAccount", "holder_name")["maxLength"], escrow.HolderNameLenMax},
		{"BankAccount.bank_name maxLength", prop("BankAccount", "bank_name")["maxLength"], escrow.BankNameLenMax},
	} {
		if tc.got != tc.want {
			t.Errorf("%s is %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	info := strings.Join(strings.Fields(d.root["info"].(map[string]any)["description"].(string)), " ")
	var imports string
	for _, o := range d.operations() {
		if o.String() == "POST /v1/deposits/imports" {
			imports = strings.Join(strings.Fields(o.op["description"].(string)), " ")
		}
	}
	for _, want := range []string{fmt.Sprint(ImportBodyBytesMax), fmt.Sprintf("%d MiB", ImportFileBytesMax>>20)} {
		if !strings.Contains(info, want) || !strings.Contains(imports, want) {
			t.Errorf("info.description or the import's description does not say %q", want)
		}
	}
}

// TestCamtBatchEntryPaysEachDeal: a camt.053 entry booked as a batch (two
// buyers' payments in one entry, each a TxDtls with its own amount and
// reference) funds each buyer's deal, and importing the file again records
// nothing.
func TestCamtBatchEntryPaysEachDeal(t *testing.T) {
	h := newHarness(t)
	var ids, refs []string
	for _, ref := range []string{"batch-1", "batch-2"} {
		d := h.newDeal("k1", ref).body
		ids, refs = append(ids, d["id"].(string)), append(refs, d["payment_reference"].(string))
		h.step("k1", d["id"].(string), "accept", 200, "")
	}
	camt := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-01-05T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><Othr><Id>ACC1</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="JPY">%d</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-05</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>
<NtryDtls>
<TxDtls><Amt Ccy="JPY">%d</Amt><RltdPties><Dbtr><Nm>YAMADA</Nm></Dbtr></RltdPties><RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls>
<TxDtls><Amt Ccy="JPY">%d</Amt><RltdPties><Dbtr><Nm>SATO</Nm></Dbtr></RltdPties><RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls>
</NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>`, 2*amountDue, amountDue, refs[0], amountDue, refs[1])
	body := importBody("camt053", []byte(camt))
	t.Run("RecordedWholeBefore", func(t *testing.T) {
		// An import before batch entries were split recorded the entry as
		// one credit, under the entry's reference: the parts are replays.
		h := newHarness(t)
		h.want(h.do("POST", "/v1/deposits", "admin", fmt.Sprintf(`{"bank_account":"ACC1","bank_ref":"ref:B1","amount":{"amount":%d,"currency":"JPY"},"value_date":"2026-01-05","payer_name":"YAMADA SATO"}`, 2*amountDue)), 201, "")
		rep := h.want(h.do("POST", "/v1/deposits/imports", "admin", body), 200, "").body
		if c := rep["counts"].(map[string]any); rep["replayed"] != 2.0 || c["matched"] != 0.0 || c["unmatched"] != 0.0 {
			t.Errorf("import of an entry recorded whole: %v", rep)
		}
	})
	first := h.want(h.do("POST", "/v1/deposits/imports", "admin", body), 200, "").body
	if c := first["counts"].(map[string]any); c["matched"] != 2.0 || first["replayed"] != 0.0 {
		t.Fatalf("first import: %v", first)
	}
	for i, d := range first["deposits"].([]any) {
		dep := d.(map[string]any)
		if dep["bank_ref"] != fmt.Sprintf("ref:B1/tx%d", i+1) || amountOf(t, dep["amount"]) != amountDue || dep["deal"] != ids[i] {
			t.Errorf("deposit %d: %v", i, dep)
		}
	}
	for _, id := range ids {
		if d := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "").body; d["state"] != "funded" || amountOf(t, d["held"]) != amountDue {
			t.Errorf("deal %s paid in full within a batch entry: %v holding %v", id, d["state"], d["held"])
		}
	}
	again := h.want(h.do("POST", "/v1/deposits/imports", "admin", body), 200, "").body
	if again["replayed"] != 2.0 {
		t.Errorf("the same file again: %v", again)
	}
}

// TestPayoutItemsFitTheZenginFile: a payable balance above what one 総合振込
// record carries (振込金額, 10 digits) is paid over several batches, each
// item at most TransferAmountMax, so every batch's file can be written.
func TestPayoutItemsFitTheZenginFile(t *testing.T) {
	h := newHarness(t)
	h.releasedDeal("small") // seller@example.com is owed 50,250
	const price = 20_000_000_000
	body := fmt.Sprintf(`{"external_ref":"big","title":"Building","price":{"amount":%d,"currency":"JPY"},"fee_payer":"seller",`+
		`"seller":{"email":"big@example.com"},"buyer":{"email":"buyer@example.com","locale":"en"}}`, price)
	d := h.want(h.do("POST", "/v1/deals", "k1", body), 201, "").body
	id := d["id"].(string)
	h.step("k1", id, "accept", 200, "")
	h.deposit("big-1", d["payment_reference"].(string), price, 201)
	h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"Yamato","tracking_number":"1"}`), 200, "")
	h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":false}`), 200, "")
	h.step("k1", id, "approve", 200, "")
	h.want(h.do("POST", "/v1/bank_accounts", "k1", bankAccountBody), 200, "")
	h.want(h.do("POST", "/v1/bank_accounts", "k1", strings.Replace(bankAccountBody, "Seller@", "big@", 1)), 200, "")
	owed := int64(0)
	for n := 1; ; n++ {
		r := h.do("POST", "/v1/payout_batches", "admin", fmt.Sprintf(`{"currency":"JPY","transfer_date":%q}`, h.clock.Now().UTC().AddDate(0, 0, n).Format(time.DateOnly)))
		if r.status == 404 {
			break
		}
		b := h.want(r, 201, "").body
		for _, it := range b["items"].([]any) {
			if a := amountOf(t, it.(map[string]any)["amount"]); a > bankfile.TransferAmountMax {
				t.Fatalf("batch %d pays %d in one item", n, a)
			} else {
				owed += a
			}
		}
		h.want(h.do("GET", "/v1/payout_batches/"+b["id"].(string)+"/file?format=zengin", "admin", ""), 200, "")
		h.want(h.do("POST", "/v1/payout_batches/"+b["id"].(string)+"/settle", "admin", `{}`), 200, "")
		if n > 5 {
			t.Fatal("more batches than the balances need")
		}
	}
	fee := amountOf(t, h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "").body["fee"])
	if want := price - fee + 50250; owed != want {
		t.Errorf("batches paid %d in all, want %d", owed, want)
	}
}

// TestApplyDepositRoute: the operator credits an unmatched deposit to a deal
// awaiting payment, once; other keys may not.
func TestApplyDepositRoute(t *testing.T) {
	h := newHarness(t)
	d := h.newDeal("k1", "apply-1").body
	id := d["id"].(string)
	h.step("k1", id, "accept", 200, "")
	dep := h.deposit("apply-s-1", "0000000000", amountDue, 201).body
	if dep["status"] != "unmatched" {
		t.Fatalf("a credit quoting no deal: %v", dep)
	}
	path := "/v1/deposits/" + dep["id"].(string) + "/apply"
	body := fmt.Sprintf(`{"deal":%q}`, id)
	h.want(h.do("POST", path, "k1", body), 403, "forbidden")
	h.want(h.do("POST", path, "admin", `{"deal":"x"}`), 400, "invalid")
	h.want(h.do("POST", path, "admin", `{"deal":"dl_06474fd1510400Rk8sW1qZ5nB9"}`), 404, "not_found")
	got := h.want(h.do("POST", path, "admin", body), 200, "").body
	if got["status"] != "matched" || got["deal"] != id || amountOf(t, got["applied"]) != amountDue || got["review"] != "cleared" {
		t.Fatalf("applied: %v", got)
	}
	if deal := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "").body; deal["state"] != "funded" || amountOf(t, deal["held"]) != amountDue {
		t.Fatalf("the deal after the deposit was credited: %v holding %v", deal["state"], deal["held"])
	}
	h.want(h.do("POST", path, "admin", body), 409, "conflict")
}

// TestReturnDepositRoute: the operator books the return of an unmatched
// credit to its payer, once, with a note.
func TestReturnDepositRoute(t *testing.T) {
	h := newHarness(t)
	dep := h.deposit("return-s-1", "0000000000", 5000, 201).body
	path := "/v1/deposits/" + dep["id"].(string) + "/return"
	h.want(h.do("POST", path, "k1", `{"note":"sent back"}`), 403, "forbidden")
	h.want(h.do("POST", path, "admin", `{"note":""}`), 400, "invalid")
	got := h.want(h.do("POST", path, "admin", `{"note":"sent back on 2026-01-06"}`), 200, "").body
	if got["status"] != "returned" || got["review"] != "cleared" || got["note"] != "sent back on 2026-01-06" {
		t.Fatalf("returned: %v", got)
	}
	h.want(h.do("POST", path, "admin", `{"note":"again"}`), 409, "conflict")
	h.want(h.do("POST", "/v1/deposits/dep_0647715fb778c0sT3kW7qB2xN6/return", "admin", `{"note":"x"}`), 404, "not_found")
}
