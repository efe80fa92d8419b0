package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// The escrow pages over HTTP, on the fixture's store with a real escrow
// service: the portal's deal and payout pages, the console's queues, and
// what a refused action shows. The browser tests in internal/cli walk the
// same pages in Chromium.

// userBrowser signs a new, verified user up and in.
func (f *fixture) userBrowser(email string) *browser {
	f.t.Helper()
	b := f.browser()
	f.signUpVerified(b, email)
	page := b.get("/sign-in")
	wantRedirect(f.t, "sign in "+email, b.post("/sign-in", form(f.t, page, "email", email, "password", pw)), "/account")
	return b
}

// staffBrowser creates a staff user with role and signs them in to the console.
func (f *fixture) staffBrowser(email string, role auth.Role) *browser {
	f.t.Helper()
	if _, err := f.staff.CreateStaffUser(context.Background(), testActor, auth.StaffUserParams{Email: email, Name: string(role), Role: role, Password: pw}); err != nil {
		f.t.Fatal(err)
	}
	b := f.browser()
	page := b.get("/console/sign-in")
	wantRedirect(f.t, "console sign-in "+email, b.post("/console/sign-in", form(f.t, page, "email", email, "password", pw)), "/console")
	return b
}

// upload posts a multipart form as a same-origin browser would.
func (b *browser) upload(path string, fields url.Values, name string, data []byte) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			b.t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	req, err := http.NewRequest("POST", b.f.srv.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.f.srv.URL)
	return b.do(req)
}

var dealPath = regexp.MustCompile(`^/deals/(dl_[0-9A-Za-z]+)\?notice=deal-created$`)

// formRepeated is form with repeated keys kept, in order (the milestone
// rows).
func formRepeated(t *testing.T, page response, kv ...string) url.Values {
	t.Helper()
	v := url.Values{csrfField: {csrf(t, page.body)}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// createDeal fills the create form as the seller and returns the deal's id.
func (f *fixture) createDeal(seller *browser, kv ...string) string {
	f.t.Helper()
	page := seller.get("/deals/new")
	wantStatus(f.t, "GET /deals/new", page, http.StatusOK)
	r := seller.post("/deals", formRepeated(f.t, page, kv...))
	m := dealPath.FindStringSubmatch(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || m == nil {
		f.t.Fatalf("create deal: %d to %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	return m[1]
}

func (f *fixture) dealState(id string) escrow.State {
	f.t.Helper()
	d, err := f.escrow.FindDealByID(context.Background(), escrow.Actor{Kind: escrow.ActorSystem, ID: "test"}, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.State
}

// fund pays deal id in full by a recorded deposit.
func (f *fixture) fund(id string) {
	f.t.Helper()
	ctx := context.Background()
	sys := escrow.Actor{Kind: escrow.ActorSystem, ID: "test"}
	d, err := f.escrow.FindDealByID(ctx, sys, id)
	if err != nil {
		f.t.Fatal(err)
	}
	dep, _, err := f.escrow.RecordDeposit(ctx, sys, escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: "test", BankRef: "ref-" + id,
		Currency: d.Currency, Amount: d.AmountDue - d.AmountPaid, ValueDate: time.Now(), PaymentRef: d.PaymentRef})
	if err != nil || dep.Status != escrow.DepositMatched {
		f.t.Fatalf("fund %s: %+v %v", id, dep, err)
	}
}

var ja, en = catalogs[auth.LocaleJa], catalogs[auth.LocaleEn]

func TestDealPages(t *testing.T) {
	f := newFixture(t, nil)
	seller := f.userBrowser("seller@example.com")
	buyer := f.userBrowser("buyer@example.com")
	stranger := f.userBrowser("stranger@example.com")

	t.Run("ErrInvalidForm", func(t *testing.T) {
		page := seller.get("/deals/new")
		wantContains(t, "create form", page.body, `name="currency"`, `<option value="JPY" selected>`, `value="7"`, `value="3"`)
		for _, tc := range []struct {
			name string
			kv   []string
			want string
		}{
			{"Price", []string{"title", "Camera", "price", "abc", "currency", "JPY", "fee_payer", "buyer", "buyer_email", "buyer@example.com"}, ja["hint.price"]},
			{"OwnEmail", []string{"title", "Camera", "price", "1000", "currency", "JPY", "fee_payer", "buyer", "buyer_email", "seller@example.com"}, ja["hint.buyer_email"]},
			{"Days", []string{"title", "Camera", "price", "1000", "currency", "JPY", "fee_payer", "buyer", "buyer_email", "buyer@example.com", "ship_within_days", "99"},
				strings.ReplaceAll(strings.ReplaceAll(ja["hint.days"], "%[1]s", ja["deal.field.ship_days"]), "%[2]d", "60")},
			{"Milestones", []string{"title", "Camera", "price", "1000", "currency", "JPY", "fee_payer", "buyer", "buyer_email", "buyer@example.com",
				"milestone_title", "Half", "milestone_amount", "400"}, strings.ReplaceAll(ja["hint.milestones"], "%[1]d", "20")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := seller.post("/deals", form(t, page, tc.kv...))
				wantStatus(t, "a bad form", r, http.StatusBadRequest)
				wantContains(t, "the form again", r.body, tc.want, `value="Camera"`)
			})
		}
	})

	id := f.createDeal(seller, "title", "Camera <X100>", "description", "Boxed, with strap.", "price", "51,000", "shipping_fee", "1000",
		"currency", "JPY", "fee_payer", "buyer", "buyer_email", "Buyer@Example.com")
	page := seller.get("/deals/" + id + "?notice=deal-created")
	wantStatus(t, "the new deal", page, http.StatusOK)
	// 3% of 51,000 is 1,530, paid by the buyer: 51,000 + 1,000 + 1,530.
	wantContains(t, "the new deal", page.body, ja["notice.deal_created"], "Camera &lt;X100&gt;", `id="deal-fee">¥1,530`,
		`id="deal-amount-due">¥53,530</dd>`, `data-state="pending_acceptance"`, `action="/deals/`+id+`/cancel"`)
	if strings.Contains(page.body, `/accept"`) {
		t.Fatal("the seller is offered the buyer's accept button")
	}

	list := buyer.get("/deals")
	wantContains(t, "the buyer's deals", list.body, `data-deal="`+id+`"`, "¥53,530", ja["party.buyer"])
	wantContains(t, "the seller's deals", seller.get("/deals").body, `data-deal="`+id+`"`, ja["party.seller"])
	if r := stranger.get("/deals"); strings.Contains(r.body, id) {
		t.Fatal("a stranger's list shows the deal")
	}
	t.Run("ErrStrangerNotFound", func(t *testing.T) {
		wantStatus(t, "a stranger opens the deal", stranger.get("/deals/"+id), http.StatusNotFound)
		r := stranger.post("/deals/"+id+"/accept", form(t, stranger.get("/deals")))
		wantStatus(t, "a stranger accepts", r, http.StatusNotFound)
		wantStatus(t, "no such deal", buyer.get("/deals/dl_nothing"), http.StatusNotFound)
	})
	t.Run("ErrSellerAccepts", func(t *testing.T) {
		r := seller.post("/deals/"+id+"/accept", form(t, page))
		wantStatus(t, "the seller accepts", r, http.StatusForbidden)
		wantContains(t, "the deal page", r.body, ja["escrow.refused.not_party"], `data-state="pending_acceptance"`,
			`name="next" value="/deals/`+id+`"`)
		if s := f.dealState(id); s != escrow.StatePendingAcceptance {
			t.Fatalf("the refused accept changed the deal to %s", s)
		}
	})
	t.Run("ErrNoCSRFToken", func(t *testing.T) {
		r := buyer.post("/deals/"+id+"/accept", url.Values{})
		wantStatus(t, "accept without a token", r, http.StatusForbidden)
		if s := f.dealState(id); s != escrow.StatePendingAcceptance {
			t.Fatalf("a POST without a token changed the deal to %s", s)
		}
	})

	bpage := buyer.get("/deals/" + id)
	wantContains(t, "the buyer's deal page", bpage.body, `id="accept"`, `id="decline"`)
	wantRedirect(t, "accept", buyer.post("/deals/"+id+"/accept", form(t, bpage)), "/deals/"+id+"?notice=done")
	bpage = buyer.get("/deals/" + id + "?notice=done")
	d, _ := f.escrow.FindDealByID(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, id)
	wantContains(t, "payment instructions", bpage.body, `id="payment"`, `id="pay-amount" class="big">¥53,530`,
		`id="payment-ref">`+d.PaymentRef+`<`, testPayTo, ja["deal.pay.title"])
	t.Run("ErrAcceptTwice", func(t *testing.T) {
		r := buyer.post("/deals/"+id+"/accept", form(t, bpage))
		wantStatus(t, "accept again", r, http.StatusConflict)
		wantContains(t, "the deal page", r.body, ja["escrow.refused.state"], `data-state="awaiting_payment"`)
	})

	f.fund(id)
	spage := seller.get("/deals/" + id)
	wantContains(t, "the funded deal", spage.body, `data-state="funded"`, `id="ship-form"`)
	t.Run("ErrShipWithoutTracking", func(t *testing.T) {
		r := seller.post("/deals/"+id+"/ship", form(t, spage, "carrier", "Yamato", "tracking_number", " "))
		wantStatus(t, "ship without a number", r, http.StatusBadRequest)
		wantContains(t, "the deal page", r.body, strings.ReplaceAll(ja["hint.tracking_number"], "%[1]d", "64"), `value="Yamato"`)
	})
	wantRedirect(t, "ship", seller.post("/deals/"+id+"/ship", form(t, spage, "carrier", "Yamato", "tracking_number", "1234-5678-9012")), "/deals/"+id+"?notice=done")
	bpage = buyer.get("/deals/" + id)
	wantContains(t, "the shipped deal", bpage.body, `data-state="shipped"`, "Yamato <code>1234-5678-9012</code>", `id="receive"`, `id="approve"`, `id="dispute-form"`)
	wantRedirect(t, "receive", buyer.post("/deals/"+id+"/receive", form(t, bpage)), "/deals/"+id+"?notice=done")
	wantRedirect(t, "approve", buyer.post("/deals/"+id+"/approve", form(t, bpage)), "/deals/"+id+"?notice=done")
	bpage = buyer.get("/deals/" + id)
	wantContains(t, "the released deal", bpage.body, `data-state="released"`, `id="deal-released">¥52,000`, ja["action.released"])
	if strings.Contains(bpage.body, `id="actions"`) {
		t.Fatal("a closed deal offers actions")
	}

	pay := seller.get("/account/payouts")
	wantContains(t, "the seller's balance", pay.body, `<td class="num available">¥52,000</td>`, `id="no-account"`)
}

func TestDealMilestonesAndDispute(t *testing.T) {
	f := newFixture(t, nil)
	seller := f.userBrowser("seller@example.com")
	buyer := f.userBrowser("buyer@example.com")
	id := f.createDeal(seller, "title", "Website", "price", "100.00", "currency", "USD", "fee_payer", "seller", "buyer_email", "buyer@example.com",
		"milestone_title", "Design", "milestone_amount", "40", "milestone_title", "Build", "milestone_amount", "60.00")
	page := buyer.get("/deals/" + id)
	wantContains(t, "a USD deal", page.body, `id="deal-price">100.00 USD`, `id="milestones"`, "Design", "40.00 USD")
	wantRedirect(t, "accept", buyer.post("/deals/"+id+"/accept", form(t, page)), "/deals/"+id+"?notice=done")
	f.fund(id)
	page = buyer.get("/deals/" + id)
	wantContains(t, "the release button", page.body, `id="release"`, "Design")
	wantRedirect(t, "release", buyer.post("/deals/"+id+"/release", form(t, page)), "/deals/"+id+"?notice=done")
	page = seller.get("/deals/" + id)
	ship := form(t, page, "carrier", "Courier", "tracking_number", "T-1")
	wantRedirect(t, "ship", seller.post("/deals/"+id+"/ship", ship), "/deals/"+id+"?notice=done")

	page = buyer.get("/deals/" + id)
	t.Run("ErrDisputeWithoutReason", func(t *testing.T) {
		r := buyer.post("/deals/"+id+"/dispute", form(t, page, "reason", ""))
		wantStatus(t, "no reason", r, http.StatusBadRequest)
		wantContains(t, "deal page", r.body, ja["hint.reason"])
	})
	wantRedirect(t, "dispute", buyer.post("/deals/"+id+"/dispute", form(t, page, "reason", "Half of it is missing.")), "/deals/"+id+"?notice=done")
	wantRedirect(t, "seller writes", seller.post("/deals/"+id+"/messages", form(t, seller.get("/deals"), "body", "It was all there.")), "/deals/"+id+"?notice=posted")

	support := f.staffBrowser("support@example.com", auth.RoleSupport)
	list := support.get("/console/disputes")
	wantContains(t, "disputes", list.body, `data-deal="`+id+`"`, "Half of it is missing.", "60.00 USD")
	cpage := support.get("/console/deals/" + id)
	wantContains(t, "the console's deal", cpage.body, "It was all there.", `id="resolve-form"`, `id="post-form"`)
	wantRedirect(t, "staff writes", support.post("/console/deals/"+id+"/messages", form(t, cpage, "body", "We will split it.")),
		"/console/deals/"+id+"?notice=posted")
	t.Run("ErrSplitTooMuch", func(t *testing.T) {
		r := support.post("/console/deals/"+id+"/resolve", form(t, cpage, "resolution", "split", "buyer_amount", "60.00"))
		wantStatus(t, "a split of everything", r, http.StatusBadRequest)
		wantContains(t, "the deal page", r.body, ja["hint.buyer_amount"], `value="60.00"`)
	})
	wantRedirect(t, "resolve", support.post("/console/deals/"+id+"/resolve", form(t, cpage, "resolution", "split", "buyer_amount", "25", "note", "half")),
		"/console/deals/"+id+"?notice=resolved")
	page = buyer.get("/deals/" + id)
	// The buyer gets 25.00; the second milestone's fee (60% of 3.00) comes
	// from the rest.
	wantContains(t, "the resolved deal", page.body, `data-state="resolved"`, `id="deal-refunded">25.00 USD`,
		ja["resolution.split"], `<li class="post staff">`, "We will split it.", "It was all there.", "Half of it is missing.")
	wantContains(t, "the seller's view", seller.get("/deals/"+id).body, `<li class="post mine">`, `id="deal-released">`)
	if strings.Contains(page.body, `id="post-form"`) {
		t.Fatal("a resolved deal offers the message form")
	}
	avail, _, err := f.escrow.Payable(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, "buyer@example.com", "USD")
	if err != nil || avail != 2500 {
		t.Fatalf("the buyer's payable balance is %d, %v; want 2500", avail, err)
	}
}

func TestPayoutsPage(t *testing.T) {
	f := newFixture(t, nil)
	b := f.userBrowser("seller@example.com")
	page := b.get("/account/payouts")
	wantStatus(t, "GET /account/payouts", page, http.StatusOK)
	wantContains(t, "payouts page", page.body, `data-currency="JPY"`, "¥0", `id="bank-form"`)
	good := []string{"bank_code", "0005", "bank_name", "ミツビシ", "branch_code", "001", "branch_name", "ほんてん",
		"account_type", "ordinary", "account_number", "1234567", "holder_name", "ヤマダ　タロウ"}

	t.Run("ErrKanji", func(t *testing.T) {
		kv := append(append([]string(nil), good...), "holder_name", "山田 タロウ")
		r := b.post("/account/payouts/bank-account", form(t, page, kv...))
		wantStatus(t, "a kanji name", r, http.StatusBadRequest)
		want := strings.NewReplacer("%[1]s", ja["payouts.field.holder_name"], "%[2]s", "山").Replace(ja["hint.bad_char"])
		wantContains(t, "payouts page", r.body, want, `value="山田 タロウ"`)
	})
	t.Run("ErrBankCode", func(t *testing.T) {
		kv := append(append([]string(nil), good...), "bank_code", "5")
		r := b.post("/account/payouts/bank-account", form(t, page, kv...))
		wantStatus(t, "a short bank code", r, http.StatusBadRequest)
		wantContains(t, "payouts page", r.body, ja["hint.bank_code"])
	})
	wantRedirect(t, "save", b.post("/account/payouts/bank-account", form(t, page, good...)), "/account/payouts?notice=saved")
	page = b.get("/account/payouts?notice=saved")
	wantContains(t, "the saved account", page.body, `id="account-holder">ﾔﾏﾀﾞ ﾀﾛｳ</dd>`, `id="account-bank-name">ﾐﾂﾋﾞｼ<`,
		`id="account-branch-name">ﾎﾝﾃﾝ<`, `id="account-number">1234567<`)
}

// statement is a Zengin 入出金取引明細 file with one credit per remitter
// name and amount, as a bank would send it.
func statement(t *testing.T, credits ...any) []byte {
	t.Helper()
	d := bankfile.DateOf(time.Now())
	st := bankfile.Statement{Created: d, PeriodFrom: d, PeriodTo: d, BankCode: "0001", BankName: "ｷﾝｺｷﾞﾝｺｳ", BranchCode: "100",
		AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", AccountName: "ｷﾝｺ ｴｽｸﾛ-"}
	for i := 0; i+1 < len(credits); i += 2 {
		st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: "0000010" + string(rune('0'+i/2)), Date: d, ValueDate: d,
			Kind: bankfile.Deposit, TransactionCode: bankfile.TxTransfer, RemitterName: credits[i].(string), AmountYen: int64(credits[i+1].(int))})
	}
	st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: "00000199", Date: d, ValueDate: d, Kind: bankfile.Withdrawal,
		TransactionCode: bankfile.TxOther, AmountYen: 440, Description: "ﾃｽｳﾘﾖｳ"})
	b, err := bankfile.WriteStatements([]bankfile.Statement{st}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConsoleEscrowPages(t *testing.T) {
	f := newFixture(t, nil)
	seller := f.userBrowser("seller@example.com")
	buyer := f.userBrowser("buyer@example.com")
	support := f.staffBrowser("support@example.com", auth.RoleSupport)
	finance := f.staffBrowser("finance@example.com", auth.RoleFinance)

	t.Run("ErrRoles", func(t *testing.T) {
		for _, path := range []string{"/console/deposits", "/console/payouts"} {
			wantStatus(t, "support opens "+path, support.get(path), http.StatusForbidden)
		}
		for _, path := range []string{"/console/reviews", "/console/disputes"} {
			wantStatus(t, "finance opens "+path, finance.get(path), http.StatusForbidden)
		}
		wantRedirect(t, "a user opens the console", seller.get("/console/deposits"), "/console/sign-in")
		home := finance.get("/console")
		wantContains(t, "finance's home", home.body, `href="/console/deposits"`, `href="/console/payouts"`)
		if strings.Contains(home.body, `href="/console/reviews"`) {
			t.Fatal("finance's console links to the review queue")
		}
	})

	// A new seller's deal of 100,000 or more is held for review.
	id := f.createDeal(seller, "title", "Lens", "price", "150000", "currency", "JPY", "fee_payer", "seller", "buyer_email", "buyer@example.com")
	reviews := support.get("/console/reviews")
	wantContains(t, "the review queue", reviews.body, `data-deal="`+id+`"`, ja["review_reason.new_seller_large_amount"], "¥150,000")
	page := buyer.get("/deals/" + id)
	if strings.Contains(page.body, ja["review_reason.new_seller_large_amount"]) || strings.Contains(page.body, ja["action.review_opened"]) {
		t.Fatal("the buyer is shown the fraud review")
	}
	wantRedirect(t, "accept", buyer.post("/deals/"+id+"/accept", form(t, page)), "/deals/"+id+"?notice=done")
	d, err := f.escrow.FindDealByID(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, id)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ErrImport", func(t *testing.T) {
		dep := finance.get("/console/deposits")
		file := statement(t, "ﾔﾏﾀﾞ", 100)
		r := finance.upload("/console/deposits/import", url.Values{"format": {"zengin"}}, "s.txt", file)
		wantStatus(t, "an upload without a token", r, http.StatusForbidden)
		r = finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "s.txt", []byte("not a statement"))
		wantStatus(t, "a file that is no statement", r, http.StatusBadRequest)
		wantContains(t, "deposits page", r.body, strings.SplitN(ja["import.bad_file"], "%", 2)[0])
		r = finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "", nil)
		wantStatus(t, "no file", r, http.StatusBadRequest)
		wantContains(t, "deposits page", r.body, ja["import.no_file"])
		r = finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "big.txt", bytes.Repeat([]byte{'x'}, statementBytesMax+1))
		wantStatus(t, "a file over the bound", r, http.StatusRequestEntityTooLarge)
		wantContains(t, "deposits page", r.body, strings.ReplaceAll(ja["import.too_large"], "%[1]d", "8"))
		r = finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "huge.txt", bytes.Repeat([]byte{'x'}, 2*statementBytesMax))
		wantStatus(t, "a body far over the bound", r, http.StatusRequestEntityTooLarge)
		r = finance.upload("/console/deposits/"+"dep_x"+"/clear", form(t, dep, "note", "x"), "s.txt", file)
		wantStatus(t, "a file to a page that takes none", r, http.StatusBadRequest)
		// Without a console session the file is not even read: refused
		// before the body, however large.
		anon := f.browser()
		r = anon.upload("/console/deposits/import", url.Values{"format": {"zengin"}}, "huge.txt", bytes.Repeat([]byte{'x'}, 2*statementBytesMax))
		wantStatus(t, "an upload without a session", r, http.StatusForbidden)
		if n := len(f.depositsOpen(t)); n != 0 {
			t.Fatalf("refused imports recorded %d deposits", n)
		}
	})

	t.Run("ErrImportStopped", func(t *testing.T) {
		// A camt.053 in euros, which this operator's ledger has no asset
		// for: the first credit cannot be recorded, nothing is.
		camt, err := os.ReadFile("../bankfile/testdata/camt053.001.02-sample.xml")
		if err != nil {
			t.Fatal(err)
		}
		dep := finance.get("/console/deposits")
		r := finance.upload("/console/deposits/import", form(t, dep, "format", "camt053"), "camt.xml", camt)
		wantStatus(t, "a statement in euros", r, http.StatusUnprocessableEntity)
		wantContains(t, "the report", r.body, `id="import-error"`, `asset &#34;EUR&#34; is not configured`)
		if n := len(f.depositsOpen(t)); n != 0 {
			t.Fatalf("the stopped import recorded %d deposits", n)
		}
	})

	dep := finance.get("/console/deposits")
	file := statement(t, d.PaymentRef+" ﾔﾏﾀﾞ ﾊﾅｺ", int(d.AmountDue), "ﾀﾅｶ ｼﾞﾛｳ", 5000)
	r := finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "statement.txt", file)
	wantStatus(t, "import", r, http.StatusOK)
	wantContains(t, "the report", r.body, `data-page="console_import"`, "statement.txt", `data-status="matched"`, `data-status="unmatched"`,
		ja["deposit_status.matched"]+"</dt>\n    <dd>1</dd>", ja["import.withdrawals"]+"</dt>\n    <dd>1</dd>")
	if s := f.dealState(id); s != escrow.StateFunded {
		t.Fatalf("after the import the deal is %s", s)
	}
	r = finance.upload("/console/deposits/import", form(t, dep, "format", "zengin"), "statement.txt", file)
	wantContains(t, "the report again", r.body, ja["import.replayed"]+"</dt>\n    <dd>2</dd>")

	open := f.depositsOpen(t)
	if len(open) != 1 || open[0].Amount != 5000 {
		t.Fatalf("open deposit reviews: %+v", open)
	}
	dep = finance.get("/console/deposits")
	wantContains(t, "the queue", dep.body, `data-deposit="`+open[0].ID+`"`, "¥5,000", "タナカ ジロウ")
	t.Run("ApplyToADeal", func(t *testing.T) {
		// The unmatched credit may be credited to a deal; the funded deal
		// refuses it, saying why, and nothing changes.
		wantContains(t, "the queue", dep.body, `action="/console/deposits/`+open[0].ID+`/apply"`)
		r := finance.post("/console/deposits/"+open[0].ID+"/apply", form(t, dep, "deal", id))
		wantStatus(t, "a funded deal", r, http.StatusConflict)
		wantContains(t, "deposits page", r.body, `id="deposits-error"`)
		// Another unmatched credit, credited by hand to a deal awaiting it.
		other := f.createDeal(seller, "title", "Cap", "price", "5000", "currency", "JPY", "fee_payer", "seller", "buyer_email", "buyer@example.com")
		page := buyer.get("/deals/" + other)
		wantRedirect(t, "accept", buyer.post("/deals/"+other+"/accept", form(t, page)), "/deals/"+other+"?notice=done")
		o, err := f.escrow.FindDealByID(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, other)
		if err != nil {
			t.Fatal(err)
		}
		typo, _, err := f.escrow.RecordDeposit(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, escrow.DepositParams{Source: escrow.SourceAPI,
			BankAccount: "0005-001-1234567", BankRef: "typo-1", Currency: "JPY", Amount: o.AmountDue, ValueDate: time.Now(), PayerName: "ﾀﾅｶ ｼﾞﾛｳ"})
		if err != nil || typo.Status != escrow.DepositUnmatched {
			t.Fatalf("an unmatched credit: %+v, %v", typo, err)
		}
		q := finance.get("/console/deposits")
		wantRedirect(t, "apply", finance.post("/console/deposits/"+typo.ID+"/apply", form(t, q, "deal", other)), "/console/deposits?notice=deposit-applied")
		if s := f.dealState(other); s != escrow.StateFunded {
			t.Fatalf("the deal credited by hand is %s", s)
		}
	})
	t.Run("ReturnToThePayer", func(t *testing.T) {
		stray, _, err := f.escrow.RecordDeposit(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, escrow.DepositParams{Source: escrow.SourceAPI,
			BankAccount: "0005-001-1234567", BankRef: "stray-1", Currency: "JPY", Amount: 777, ValueDate: time.Now(), PayerName: "ｽｽﾞｷ"})
		if err != nil {
			t.Fatal(err)
		}
		q := finance.get("/console/deposits")
		wantContains(t, "the queue", q.body, `action="/console/deposits/`+stray.ID+`/return"`)
		wantRedirect(t, "return", finance.post("/console/deposits/"+stray.ID+"/return", form(t, q, "note", "sent back")), "/console/deposits?notice=deposit-returned")
		r := finance.post("/console/deposits/"+stray.ID+"/return", form(t, q, "note", "again"))
		wantStatus(t, "a second return", r, http.StatusConflict)
	})
	t.Run("ErrClearWithoutNote", func(t *testing.T) {
		r := finance.post("/console/deposits/"+open[0].ID+"/clear", form(t, dep, "note", " "))
		wantStatus(t, "no note", r, http.StatusBadRequest)
		wantContains(t, "deposits page", r.body, ja["hint.note"])
	})
	wantRedirect(t, "clear", finance.post("/console/deposits/"+open[0].ID+"/clear", form(t, dep, "note", "returned to the payer")),
		"/console/deposits?notice=deposit-closed")
	wantContains(t, "the empty queue", finance.get("/console/deposits").body, `id="no-deposits"`)

	// Held: the buyer's approval is refused, saying why.
	page = seller.get("/deals/" + id)
	wantRedirect(t, "ship", seller.post("/deals/"+id+"/ship", form(t, page, "carrier", "Post", "tracking_number", "P1")), "/deals/"+id+"?notice=done")
	page = buyer.get("/deals/" + id)
	r = buyer.post("/deals/"+id+"/approve", form(t, page))
	wantStatus(t, "approve while held", r, http.StatusConflict)
	wantContains(t, "the deal page", r.body, ja["escrow.refused.review_hold"], `data-state="shipped"`)
	wantRedirect(t, "clear the review", support.post("/console/deals/"+id+"/clear-review", form(t, reviews, "next", "/console/reviews")),
		"/console/reviews?notice=review-cleared")
	wantContains(t, "the empty review queue", support.get("/console/reviews").body, `id="no-reviews"`)
	wantRedirect(t, "approve", buyer.post("/deals/"+id+"/approve", form(t, page)), "/deals/"+id+"?notice=done")

	// Payouts: nothing to pay without a bank account; then one item.
	pay := finance.get("/console/payouts")
	build := form(t, pay, "currency", "JPY", "transfer_date", time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly))
	r = finance.post("/console/payouts", build)
	wantStatus(t, "nothing to pay", r, http.StatusUnprocessableEntity)
	wantContains(t, "payouts page", r.body, strings.ReplaceAll(ja["payouts.nothing"], "%[1]s", "JPY"))
	sp := seller.get("/account/payouts")
	wantRedirect(t, "bank account", seller.post("/account/payouts/bank-account", form(t, sp, "bank_code", "0005", "bank_name", "ﾐﾂﾋﾞｼ",
		"branch_code", "001", "branch_name", "ﾎﾝﾃﾝ", "account_type", "ordinary", "account_number", "7654321", "holder_name", "ﾔﾏﾀﾞ ﾀﾛｳ")), "/account/payouts?notice=saved")
	r = finance.post("/console/payouts", build)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/payouts/pb_") {
		t.Fatalf("build: %d to %q\n%s", r.status, loc, r.body)
	}
	batch := strings.TrimSuffix(strings.TrimPrefix(loc, "/console/payouts/"), "?notice=batch-built")
	// 150,000 less the seller's fee (3%: 4,500).
	bp := finance.get(loc)
	wantContains(t, "the batch", bp.body, `id="batch-total">¥145,500`, "seller@example.com", `id="download-zengin"`, `id="download-pain001"`)
	wantContains(t, "the seller's balance", seller.get("/account/payouts").body, `<td class="num in-payout">¥145,500</td>`)

	z := finance.get("/console/payouts/" + batch + "/export/zengin")
	wantStatus(t, "zengin file", z, http.StatusOK)
	if ct, cd := z.header.Get("Content-Type"), z.header.Get("Content-Disposition"); ct != "text/plain; charset=Shift_JIS" ||
		cd != `attachment; filename=kinko-`+batch+`-zengin.txt` {
		t.Fatalf("zengin file: %s, %s", ct, cd)
	}
	batches, err := bankfile.ParseTransfers([]byte(z.body))
	if err != nil || len(batches) != 1 || len(batches[0].Items) != 1 || batches[0].Items[0].AmountYen != 145_500 ||
		batches[0].Items[0].RecipientName != "ﾔﾏﾀﾞ ﾀﾛｳ" {
		t.Fatalf("the zengin file: %+v, %v", batches, err)
	}
	x := finance.get("/console/payouts/" + batch + "/export/pain001")
	if x.status != http.StatusOK || x.header.Get("Content-Type") != "application/xml" || !strings.Contains(x.body, "<CtrlSum>145500</CtrlSum>") {
		t.Fatalf("pain.001: %d %s\n%s", x.status, x.header.Get("Content-Type"), x.body)
	}
	wantStatus(t, "an unknown format", finance.get("/console/payouts/"+batch+"/export/csv"), http.StatusNotFound)
	wantRedirect(t, "settle", finance.post("/console/payouts/"+batch+"/settle", form(t, bp)), "/console/payouts/"+batch+"?notice=batch-settled")
	r = finance.post("/console/payouts/"+batch+"/settle", form(t, bp))
	wantStatus(t, "settle twice", r, http.StatusConflict)
	wantContains(t, "the batch page", r.body, ja["escrow.refused.conflict"], `data-state="settled"`)
	wantContains(t, "the list", finance.get("/console/payouts").body, `data-batch="`+batch+`"`, ja["payout_state.settled"])
}

func (f *fixture) depositsOpen(t *testing.T) []escrow.Deposit {
	t.Helper()
	list, err := f.escrow.FindDeposits(context.Background(), escrow.Actor{Kind: escrow.ActorSystem}, escrow.DepositFilter{Review: escrow.ReviewOpen, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestEscrowPagesRender opens every escrow page in both languages as the
// people who see them: no missing catalog key, nothing inline that the CSP
// would have to allow.
func TestEscrowPagesRender(t *testing.T) {
	f := newFixture(t, nil)
	seller := f.userBrowser("seller@example.com")
	buyer := f.userBrowser("buyer@example.com")
	admin := f.staffBrowser("admin@example.com", auth.RoleAdmin)
	id := f.createDeal(seller, "title", "Lens", "price", "150000", "currency", "JPY", "fee_payer", "split", "buyer_email", "buyer@example.com")
	page := buyer.get("/deals/" + id)
	wantRedirect(t, "accept", buyer.post("/deals/"+id+"/accept", form(t, page)), "/deals/"+id+"?notice=done")
	f.fund(id)
	wantRedirect(t, "ship", seller.post("/deals/"+id+"/ship", form(t, seller.get("/deals"), "carrier", "Post", "tracking_number", "P1")), "/deals/"+id+"?notice=done")
	wantRedirect(t, "dispute", buyer.post("/deals/"+id+"/dispute", form(t, page, "reason", "broken")), "/deals/"+id+"?notice=done")
	sp := seller.get("/account/payouts")
	wantRedirect(t, "bank account", seller.post("/account/payouts/bank-account", form(t, sp, "bank_code", "0005", "bank_name", "ﾐﾂﾋﾞｼ",
		"branch_code", "001", "branch_name", "ﾎﾝﾃﾝ", "account_type", "ordinary", "account_number", "7654321", "holder_name", "ﾔﾏﾀﾞ ﾀﾛｳ")), "/account/payouts?notice=saved")

	f.wantPagesRender(seller, "/deals", "/deals/new", "/deals/"+id, "/account/payouts", "/account")
	f.wantPagesRender(buyer, "/deals/"+id, "/account/payouts")
	f.wantPagesRender(admin, "/console", "/console/reviews", "/console/disputes", "/console/deals/"+id, "/console/deposits", "/console/payouts")
	wantContains(t, "the English deal page", seller.get("/deals/"+id).body, en["state.disputed"], en["deal.thread"])
}

// wantPagesRender opens each path as b in every locale (the lang cookie,
// left at the last locale): each must answer 200 in that language, with no
// missing catalog key and nothing inline that the CSP would have to allow.
func (f *fixture) wantPagesRender(b *browser, paths ...string) {
	t := f.t
	t.Helper()
	inline := regexp.MustCompile(`(?i)<script|\sstyle=|\son[a-z]+=|<style|javascript:`)
	for _, l := range auth.Locales {
		b.c.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: cookieLang, Value: string(l), Path: "/"}})
		for _, path := range paths {
			r := b.get(path)
			wantStatus(t, string(l)+" GET "+path, r, http.StatusOK)
			if strings.Contains(r.body, "⟦") {
				t.Errorf("%s GET %s: a key is missing from the catalog", l, path)
			}
			if m := inline.FindString(r.body); m != "" {
				t.Errorf("%s GET %s: %q would need an unsafe CSP", l, path, m)
			}
			if !strings.Contains(r.body, `<html lang="`+string(l)+`">`) {
				t.Errorf("%s GET %s: not in %s", l, path, l)
			}
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		cur   string
		scale int
		minor int64
		want  string
	}{
		{"JPY", 0, 51000, "¥51,000"},
		{"JPY", 0, 0, "¥0"},
		{"JPY", 0, 999, "¥999"},
		{"JPY", 0, 1234567, "¥1,234,567"},
		{"JPY", 0, -1000, "-¥1,000"},
		{"USD", 2, 123456, "1,234.56 USD"},
		{"USD", 2, 5, "0.05 USD"},
	} {
		if got := formatMoney(tc.cur, tc.scale, tc.minor); got != tc.want {
			t.Errorf("formatMoney(%s, %d, %d) = %q, want %q", tc.cur, tc.scale, tc.minor, got, tc.want)
		}
	}
}

// TestDealInspectionEnds: once the inspection period is over the dispute
// form is gone, and the timeline says what the deadline did.
func TestDealInspectionEnds(t *testing.T) {
	clock := newClock()
	f := newFixture(t, clock.now)
	seller := f.userBrowser("seller@example.com")
	buyer := f.userBrowser("buyer@example.com")
	id := f.createDeal(seller, "title", "Desk", "price", "20000", "currency", "JPY", "fee_payer", "seller", "buyer_email", "buyer@example.com",
		"inspection_days", "2")
	page := buyer.get("/deals/" + id)
	wantRedirect(t, "accept", buyer.post("/deals/"+id+"/accept", form(t, page)), "/deals/"+id+"?notice=done")
	f.fund(id)
	wantRedirect(t, "ship", seller.post("/deals/"+id+"/ship", form(t, seller.get("/deals"), "carrier", "Post", "tracking_number", "P1")), "/deals/"+id+"?notice=done")
	wantRedirect(t, "receive", buyer.post("/deals/"+id+"/receive", form(t, page)), "/deals/"+id+"?notice=done")
	wantContains(t, "inspecting", buyer.get("/deals/"+id).body, `id="dispute-form"`, ja["deal.due.inspection_ends"], "2026-03-03 18:00 JST")

	clock.advance(2*24*time.Hour + time.Minute)
	// The sessions ended meanwhile (the clock drives them too).
	buyer = f.browser()
	wantRedirect(t, "sign in", buyer.post("/sign-in", form(t, buyer.get("/sign-in"), "email", "buyer@example.com", "password", pw)), "/account")
	wantContains(t, "after the period", buyer.get("/deals/"+id).body, `id="approve"`)
	if strings.Contains(buyer.get("/deals/"+id).body, `id="dispute-form"`) {
		t.Fatal("the dispute form is offered after the inspection period")
	}
	if n, err := f.escrow.FireDueTimers(context.Background()); err != nil || n != 1 {
		t.Fatalf("FireDueTimers = %d, %v", n, err)
	}
	wantContains(t, "released by the deadline", buyer.get("/deals/"+id).body, `data-state="released"`,
		"<strong>"+ja["action.timer_inspection"]+"</strong> → "+ja["state.released"], ja["party.system"])
}

// TestDealCreationIsLimited: each deal mails an invitation to an address
// the seller typed, so a user creates at most dealsPerUserBurst at once;
// the next is 429 with the form kept, and nothing is created or mailed.
func TestDealCreationIsLimited(t *testing.T) {
	f := newFixture(t, nil)
	seller := f.userBrowser("seller@example.com")
	kv := []string{"title", "Camera", "price", "1000", "currency", "JPY", "fee_payer", "buyer", "buyer_email", "someone@example.net"}
	for range dealsPerUserBurst {
		f.createDeal(seller, kv...)
	}
	mailed := len(f.mail.all())
	page := seller.get("/deals/new")
	r := seller.post("/deals", form(t, page, kv...))
	wantStatus(t, "one deal too many", r, http.StatusTooManyRequests)
	wantContains(t, "the form again", r.body, ja["error.rate_limited"], `value="Camera"`)
	if n := len(f.mail.all()); n != mailed {
		t.Fatalf("a refused deal mailed: %d mails, was %d", n, mailed)
	}
}
