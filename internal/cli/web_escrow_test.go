package cli

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// Escrow in a real browser: the portal's deal and payout pages and the
// console's deposit, dispute and payout pages, driven in headless Chromium
// against serve on a fresh SQLite store, one browser context (one set of
// cookies) per person. Each walk ends by checking the books: the ledger's
// invariants, every deal against its holding account, the audit chain.

// escrowBrowserWaitMax bounds one escrow walk; it turns a hang into a
// failure and measures nothing.
const escrowBrowserWaitMax = 4 * time.Minute

// Staff of the escrow walks.
const (
	financeEmail = "finance@example.com"
	supportEmail = "support@example.com"
)

// escrowSetup runs before the server starts, on its store, with the
// ledger engine and escrow service serve would build.
type escrowSetup func(ctx context.Context, st adapter, deals *escrow.Service)

// startEscrowServe makes a fresh SQLite store with JPY, a finance and a
// support staff user, runs setup on it, and starts serve on it.
func startEscrowServe(t *testing.T, setup escrowSetup) (*runningServer, *mailRecorder, string) {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "kinko.db")
	st, _, err := openStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	engine := ledger.NewEngine(st, engineConfig(st.Kind()))
	if err := engine.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	staff := auth.NewStaffService(st, nil)
	for _, p := range []auth.StaffUserParams{
		{Email: financeEmail, Name: "Fumi Finance", Role: auth.RoleFinance, Password: staffPassword},
		{Email: supportEmail, Name: "Sora Support", Role: auth.RoleSupport, Password: staffPassword},
	} {
		if _, err := staff.CreateStaffUser(ctx, cliActor, p); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(ctx, st, escrow.NewService(escrow.Config{Store: st, Ledger: engine, PayTo: EscrowPayToDefault}))
	}
	engine.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	mail := &mailRecorder{}
	return startServeConfig(t, serveConfig{DB: db, Mail: mail}), mail, db
}

// checkBooks stops the server and verifies the store: ledger invariants,
// every deal against its holding account, the audit log's chain.
func checkBooks(t *testing.T, srv *runningServer, db string) *escrow.Service {
	t.Helper()
	st := checkLedgerAndAudit(t, srv, db)
	deals := escrow.NewService(escrow.Config{Store: st})
	erep, err := deals.Verify(context.Background(), nil)
	if err != nil || len(erep.Violations) > 0 || erep.Deals == 0 {
		t.Fatalf("escrow Verify: %d deals, %v %v", erep.Deals, err, erep.Violations)
	}
	return deals
}

// checkLedgerAndAudit stops the server, opens its store (closed when the
// test ends) and checks the ledger's invariants and the audit log's chain.
func checkLedgerAndAudit(t *testing.T, srv *runningServer, db string) adapter {
	t.Helper()
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	ctx := context.Background()
	st, _, err := openStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lrep, err := ledger.Verify(ctx, st, nil)
	if err != nil || len(lrep.Violations) > 0 {
		t.Fatalf("ledger.Verify: %v %+v", err, lrep.Violations)
	}
	arep, err := audit.NewService(st, nil).Verify(ctx)
	if err != nil || !arep.OK() || arep.Checked == 0 {
		t.Fatalf("audit Verify: %v %+v", err, arep)
	}
	return st
}

// person opens a tab in a browser context of its own, so that each person
// has their own cookies (sessions) in the one browser.
func person(t *testing.T, browserCtx context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, base: base}
	b.do("open a tab", chromedp.Navigate("about:blank"))
	return b
}

var verifyLink = regexp.MustCompile(`http://\S+/verify\?token=[0-9A-Za-z]+`)

// signUp signs a person up in the browser, opens the link mailed to them,
// confirms it and signs in: they are on the account page.
func (b *tab) signUp(mail *mailRecorder, email string) {
	b.t.Helper()
	b.open("/sign-up", "sign_up")
	b.fill("#email", email, "#password", userPassword)
	b.click(`form[action="/sign-up"] button[type=submit]`, `body[data-page="check_mail"]`)
	link := ""
	for _, m := range mail.all() {
		if m.To == email {
			link = verifyLink.FindString(m.Text)
		}
	}
	if link == "" {
		b.t.Fatalf("no verification link mailed to %s", email)
	}
	b.do("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`body[data-page="verify"] form[action="/verify"] button`)))
	b.fill("#password", userPassword)
	b.click(`form[action="/verify"] button[type=submit]`, `body[data-page="sign_in"] p.notice`)
	b.signIn(email)
}

// signIn signs a verified person in to the portal.
func (b *tab) signIn(email string) {
	b.t.Helper()
	b.open("/sign-in", "sign_in")
	b.fill("#email", email, "#password", userPassword)
	b.click(`form[action="/sign-in"] button[type=submit]`, `body[data-page="account"]`)
}

// staffSignIn signs a staff user in to the console.
func (b *tab) staffSignIn(email string) {
	b.t.Helper()
	b.open("/console/sign-in", "console_sign_in")
	b.fill("#email", email, "#password", staffPassword)
	b.click(`form[action="/console/sign-in"] button[type=submit]`, `body[data-page="console_home"]`)
}

// typeIn types into empty fields (alternating selector and text); fill
// clears first, which an empty textarea does not allow.
func (b *tab) typeIn(fields ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		b.do("type in "+fields[i], chromedp.SendKeys(chromedp.CSS(fields[i]), fields[i+1]))
	}
}

// state is the deal page's state badge.
func (b *tab) state() string {
	b.t.Helper()
	a, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("#deal-state"), "data-state"))
	if err != nil {
		b.t.Fatal(err)
	}
	return a.Value
}

// shotFull saves a screenshot of the whole page, as shot does.
func (b *tab) shotFull(name string) {
	b.t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// cookies returns the tab's cookies for the server, session cookies too.
func (b *tab) cookies() []*http.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	if err != nil {
		b.t.Fatal(err)
	}
	var out []*http.Cookie
	for _, c := range res.Cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// download clicks a link that downloads a file and returns the file.
func (b *tab) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	progress := chromedp.Events(b.ctx, browser.DownloadProgress)
	b.do("download "+sel,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
				BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
			})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			b.t.Fatalf("download %s canceled", sel)
		}
	}
	b.t.Fatalf("download %s: no progress", sel)
	return nil
}

// zenginStatement is a 入出金取引明細 file of one day of the operator's
// account: a credit per (remitter name, yen) pair, and a fee withdrawn.
func zenginStatement(t *testing.T, credits ...any) string {
	t.Helper()
	d := bankfile.DateOf(time.Now())
	st := bankfile.Statement{Created: d, PeriodFrom: d, PeriodTo: d, BankCode: "0001", BankName: "ｷﾝｺｷﾞﾝｺｳ", BranchCode: "100",
		BranchName: "ﾎﾝﾃﾝ", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", AccountName: "ｷﾝｺ ｴｽｸﾛ-"}
	for i := 0; i+1 < len(credits); i += 2 {
		st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: "0000010" + string(rune('0'+i/2)), Date: d, ValueDate: d,
			Kind: bankfile.Deposit, TransactionCode: bankfile.TxTransfer, RemitterName: credits[i].(string), AmountYen: credits[i+1].(int64)})
	}
	st.Entries = append(st.Entries, bankfile.Entry{InquiryNumber: "00000199", Date: d, ValueDate: d, Kind: bankfile.Withdrawal,
		TransactionCode: bankfile.TxOther, AmountYen: 440, Description: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"})
	data, err := bankfile.WriteStatements([]bankfile.Statement{st}, bankfile.EraReiwa, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nyushukkin.txt")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserEscrow is the happy path: two people sign up, one sells the
// other a camera through escrow; finance imports the bank statement that
// funds it, the seller ships, the buyer approves, the seller registers a
// bank account and finance pays them out.
func TestBrowserEscrow(t *testing.T) {
	root := startChromium(t, escrowBrowserWaitMax)
	srv, mail, db := startEscrowServe(t, nil)
	base := "http://" + srv.addr
	ja := catalog(t, auth.LocaleJa)
	const sellerEmail, buyerEmail = "seller@example.com", "buyer@example.com"

	seller, buyer, finance := person(t, root, base), person(t, root, base), person(t, root, base)
	seller.signUp(mail, sellerEmail)
	buyer.signUp(mail, buyerEmail)

	// The seller registers the deal; the fee (3%: ¥1,530) is the buyer's.
	seller.click(`nav a[href="/deals"]`, `body[data-page="deals"]`)
	seller.click("#new-deal", `body[data-page="deal_new"]`)
	seller.fill("#title", "Camera X100", "#price", "51000", "#shipping_fee", "800", "#buyer_email", buyerEmail)
	seller.typeIn("#description", "Boxed, with its strap.")
	seller.click(`input[name="fee_payer"][value="buyer"]`, `input[name="fee_payer"][value="buyer"]:checked`)
	seller.click(`#deal-form button[type=submit]`, `body[data-page="deal"] p.notice`)
	id := seller.text("#deal-id")
	if got := seller.text("#deal-amount-due"); got != "¥53,330" {
		t.Fatalf("the amount due is %q, want ¥53,330 (51,000 + 800 + 1,530)", got)
	}
	if got := seller.text("#deal-fee"); !strings.HasPrefix(got, "¥1,530") {
		t.Fatalf("the fee reads %q", got)
	}

	// The buyer finds it in My deals, accepts and is told how to pay.
	buyer.click(`nav a[href="/deals"]`, `tr[data-deal="`+id+`"]`)
	buyer.click(`tr[data-deal="`+id+`"] a`, `body[data-page="deal"] #accept`)
	buyer.click("#accept", "#payment")
	ref := buyer.text("#payment-ref")
	if !escrow.ValidPaymentRef(ref) || buyer.text("#pay-amount") != "¥53,330" || buyer.text("#pay-to") != EscrowPayToDefault {
		t.Fatalf("payment instructions: ref %q, amount %q, to %q", ref, buyer.text("#pay-amount"), buyer.text("#pay-to"))
	}
	buyer.shotFull("escrow-deal-payment")

	// Finance imports the day's statement: the buyer's transfer, with the
	// reference before the name, and a credit nobody can match.
	finance.staffSignIn(financeEmail)
	finance.click(`nav a[href="/console/deposits"]`, `body[data-page="console_deposits"]`)
	file := zenginStatement(t, ref+" ﾔﾏﾀﾞ ﾊﾅｺ", int64(53_330), "ﾀﾅｶ ｼﾞﾛｳ", int64(12_000))
	finance.do("choose the statement", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}))
	finance.click("#import", `body[data-page="console_import"]`)
	finance.shotFull("escrow-console-import")
	if got := finance.text(`#imported tr[data-status="matched"] a`); got != id {
		t.Fatalf("the matched credit links to %q, want %s", got, id)
	}
	finance.do("the unmatched credit", chromedp.WaitVisible(chromedp.CSS(`#imported tr[data-status="unmatched"]`)))
	finance.click(`nav a[href="/console/deposits"]`, `body[data-page="console_deposits"]`)
	if got := finance.text("#deposits tbody"); !strings.Contains(got, "¥12,000") || !strings.Contains(got, "タナカ ジロウ") {
		t.Fatalf("the deposits queue shows %q, want the unknown credit", got)
	}

	// The seller sees the deal funded and ships.
	seller.open("/deals/"+id, "deal")
	if s := seller.state(); s != string(escrow.StateFunded) {
		t.Fatalf("after the import the seller sees %s", s)
	}
	seller.fill("#carrier", "ヤマト運輸", "#tracking_number", "4700-1234-5678")
	seller.click("#ship", `#deal-state[data-state="shipped"]`)

	// The buyer confirms receipt, then approves.
	buyer.open("/deals/"+id, "deal")
	if got := buyer.text("#deal-shipment"); got != "ヤマト運輸 4700-1234-5678" {
		t.Fatalf("the buyer sees the shipment as %q", got)
	}
	buyer.click("#receive", `#deal-state[data-state="received"]`)
	buyer.click("#approve", `#deal-state[data-state="released"]`)
	buyer.shotFull("escrow-deal-released")
	en := catalog(t, auth.LocaleEn)
	buyer.click(`form[action="/lang"] button[value="en"]`, `html[lang="en"] body[data-page="deal"]`)
	if got := buyer.text("#deal-state"); got != en["state.released"] || buyer.location().Path != "/deals/"+id {
		t.Fatalf("in English the deal reads %q at %s", got, buyer.location())
	}
	buyer.shotFull("escrow-deal-released-en")
	buyer.click(`form[action="/lang"] button[value="ja"]`, `html[lang="ja"] body[data-page="deal"]`)

	// The seller's balance, and their bank account in katakana, kept in the
	// half-width form the bank file needs.
	seller.click(`nav a[href="/account/payouts"]`, `body[data-page="payouts"]`)
	if got := seller.text(`#balances tr[data-currency="JPY"] .available`); got != "¥51,800" {
		t.Fatalf("the seller's available balance is %q, want ¥51,800", got)
	}
	seller.fill("#bank_code", "0005", "#bank_name", "ミツビシユーエフジェイ", "#branch_code", "001", "#branch_name", "ほんてん",
		"#account_number", "7654321", "#holder_name", "山田 タロウ")
	seller.click("#save-account", "#bank-error")
	if got, want := seller.text("#bank-error"), strings.NewReplacer("%[1]s", ja["payouts.field.holder_name"], "%[2]s", "山").Replace(ja["hint.bad_char"]); got != want {
		t.Fatalf("a kanji name says %q, want %q", got, want)
	}
	// As an IME leaves it: full-width katakana with a full-width space
	// (which key events cannot type, so the value is set).
	seller.do("the holder's name", chromedp.SetValue(chromedp.CSS("#holder_name"), "ヤマダ　タロウ"))
	seller.click("#save-account", "#account-holder")
	if got := seller.text("#account-holder"); got != "ﾔﾏﾀﾞ ﾀﾛｳ" {
		t.Fatalf("the saved holder name is %q, want ﾔﾏﾀﾞ ﾀﾛｳ", got)
	}
	seller.shotFull("escrow-payouts")

	// Finance builds a batch, downloads the Zengin file and settles it.
	finance.click(`nav a[href="/console/payouts"]`, `body[data-page="console_payouts"]`)
	finance.click("#build", `body[data-page="console_payout"]`)
	if got := finance.text("#batch-total"); got != "¥51,800" {
		t.Fatalf("the batch totals %q", got)
	}
	finance.shotFull("escrow-console-payout")
	data := finance.download("#download-zengin")
	batches, err := bankfile.ParseTransfers(data)
	if err != nil {
		t.Fatalf("the downloaded Zengin file: %v", err)
	}
	if len(batches) != 1 || len(batches[0].Items) != 1 {
		t.Fatalf("the Zengin file holds %+v", batches)
	}
	if it := batches[0].Items[0]; it.AmountYen != 51_800 || it.RecipientName != "ﾔﾏﾀﾞ ﾀﾛｳ" || it.AccountNumber != "7654321" || it.BankCode != "0005" {
		t.Fatalf("the Zengin transfer is %+v", it)
	}
	finance.click("#settle", `#batch-state[data-state="settled"]`)
	seller.open("/account/payouts", "payouts")
	if got := seller.text(`#balances tr[data-currency="JPY"]`); strings.Count(got, "¥0") != 2 {
		t.Fatalf("after the payout the seller's balance row reads %q", got)
	}

	deals := checkBooks(t, srv, db)
	sys := escrow.Actor{Kind: escrow.ActorSystem, ID: "test"}
	ctx := context.Background()
	d, err := deals.FindDealByID(ctx, sys, id)
	if err != nil || d.State != escrow.StateReleased || d.Released != 51_800 || d.FeeTaken != 1_530 {
		t.Fatalf("the deal at the end: %+v, %v", d, err)
	}
	open, err := deals.FindDeposits(ctx, sys, escrow.DepositFilter{Review: escrow.ReviewOpen, Limit: 10})
	if err != nil || len(open) != 1 || open[0].Amount != 12_000 {
		t.Fatalf("open deposit reviews: %+v, %v", open, err)
	}
}

// TestBrowserDispute: a shipped deal (set up through the service), the
// buyer disputes it in the browser, the seller answers, support answers and
// splits the money; both parties see the outcome and the whole thread.
func TestBrowserDispute(t *testing.T) {
	root := startChromium(t, escrowBrowserWaitMax)
	const sellerEmail, buyerEmail = "seller@example.com", "buyer@example.com"
	var id string
	srv, _, db := startEscrowServe(t, func(ctx context.Context, st adapter, deals *escrow.Service) {
		users := auth.NewUserService(st, nil)
		actors := map[string]escrow.Actor{}
		for _, email := range []string{sellerEmail, buyerEmail} {
			u, token, err := users.SignUp(ctx, auth.SignUpParams{Email: email, Password: userPassword, Locale: auth.LocaleJa})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := users.VerifyEmail(ctx, token, userPassword); err != nil {
				t.Fatal(err)
			}
			actors[email] = escrow.Actor{Kind: escrow.ActorUser, ID: u.ID, Email: email, Locale: "ja"}
		}
		d, err := deals.CreateDeal(ctx, actors[sellerEmail], escrow.DealParams{Title: "Vintage lens", Currency: "JPY", Price: 30_000,
			ShippingFee: 1_000, FeePayer: escrow.FeeSeller, BuyerEmail: buyerEmail})
		if err != nil {
			t.Fatal(err)
		}
		id = d.ID
		if _, err := deals.AcceptDeal(ctx, actors[buyerEmail], id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := deals.RecordDeposit(ctx, escrow.Actor{Kind: escrow.ActorSystem, ID: "test"}, escrow.DepositParams{Source: escrow.SourceAPI,
			BankAccount: "test", BankRef: "t1", Currency: "JPY", Amount: d.AmountDue, ValueDate: time.Now(), PaymentRef: d.PaymentRef}); err != nil {
			t.Fatal(err)
		}
		if _, err := deals.MarkShipped(ctx, actors[sellerEmail], id, escrow.ShipParams{Carrier: "Sagawa", TrackingNumber: "S-1"}); err != nil {
			t.Fatal(err)
		}
	})
	base := "http://" + srv.addr
	ja := catalog(t, auth.LocaleJa)
	seller, buyer, support := person(t, root, base), person(t, root, base), person(t, root, base)

	buyer.signIn(buyerEmail)
	buyer.open("/deals/"+id, "deal")
	buyer.typeIn("#reason", "The lens has a scratch the listing did not show.")
	buyer.click("#dispute", `#deal-state[data-state="disputed"]`)

	seller.signIn(sellerEmail)
	seller.open("/deals/"+id, "deal")
	if got := seller.text("#dispute-reason"); got != "The lens has a scratch the listing did not show." {
		t.Fatalf("the seller sees the reason %q", got)
	}
	seller.typeIn("#body", "It was in the photos; I can take it back.")
	seller.click("#post", `p.notice[data-notice="notice.posted"]`)

	support.staffSignIn(supportEmail)
	support.click(`nav a[href="/console/disputes"]`, `tr[data-deal="`+id+`"]`)
	support.click(`tr[data-deal="`+id+`"] a`, `body[data-page="console_deal"] #resolve-form`)
	if got := support.text("#thread"); !strings.Contains(got, "It was in the photos") {
		t.Fatalf("support sees the thread as %q", got)
	}
	support.typeIn("#body", "We will refund ¥10,000 and pay the rest to the seller.")
	support.click("#post", `p.notice[data-notice="notice.posted"]`)
	support.click("#resolution-split", "#resolution-split:checked")
	support.fill("#buyer_amount", "10,000")
	support.typeIn("#note", "scratch visible in the photos; partial refund")
	support.click("#resolve-submit", `#deal-state[data-state="resolved"]`)
	support.shotFull("escrow-console-dispute")

	// Both parties see the outcome and every message, staff's labelled.
	for _, p := range []*tab{buyer, seller} {
		p.open("/deals/"+id, "deal")
		if p.state() != string(escrow.StateResolved) || p.text("#deal-resolution") != ja["resolution.split"] || p.text("#deal-refunded") != "¥10,000" {
			t.Fatalf("a party sees %s, %q, refunded %q", p.state(), p.text("#deal-resolution"), p.text("#deal-refunded"))
		}
		thread := p.text("#thread")
		for _, want := range []string{"It was in the photos", "We will refund ¥10,000", ja["party.staff"]} {
			if !strings.Contains(thread, want) {
				t.Fatalf("a party's thread lacks %q:\n%s", want, thread)
			}
		}
		if got := p.text("#thread li.staff .party"); got != ja["party.staff"] {
			t.Fatalf("the staff message is labelled %q", got)
		}
	}
	buyer.shotFull("escrow-deal-resolved")
	// The seller gets the rest less the fee: 31,000 − 10,000 − 900.
	seller.open("/account/payouts", "payouts")
	if got := seller.text(`#balances tr[data-currency="JPY"] .available`); got != "¥20,100" {
		t.Fatalf("the seller's balance is %q, want ¥20,100", got)
	}
	buyer.open("/account/payouts", "payouts")
	if got := buyer.text(`#balances tr[data-currency="JPY"] .available`); got != "¥10,000" {
		t.Fatalf("the buyer's balance is %q, want ¥10,000", got)
	}

	deals := checkBooks(t, srv, db)
	ctx := context.Background()
	sys := escrow.Actor{Kind: escrow.ActorSystem, ID: "test"}
	for email, want := range map[string]int64{sellerEmail: 20_100, buyerEmail: 10_000} {
		avail, inPayout, err := deals.Payable(ctx, sys, email, "JPY")
		if err != nil || avail != want || inPayout != 0 {
			t.Fatalf("%s's payable balance: %d (+%d in payout), %v; want %d", email, avail, inPayout, err, want)
		}
	}
	msgs, err := deals.FindMessages(ctx, sys, id)
	if err != nil || len(msgs) != 2 || msgs[0].Party != "seller" || msgs[1].Party != "staff" {
		t.Fatalf("the thread: %+v, %v", msgs, err)
	}
}

// TestBrowserRefusals: a refused action says why on the deal's page and
// changes nothing; a form without the CSRF token is refused.
func TestBrowserRefusals(t *testing.T) {
	root := startChromium(t, escrowBrowserWaitMax)
	srv, mail, db := startEscrowServe(t, nil)
	base := "http://" + srv.addr
	ja := catalog(t, auth.LocaleJa)
	const sellerEmail, buyerEmail = "seller@example.com", "buyer@example.com"
	seller, buyer := person(t, root, base), person(t, root, base)
	seller.signUp(mail, sellerEmail)
	buyer.signUp(mail, buyerEmail)

	seller.open("/deals/new", "deal_new")
	seller.fill("#title", "Desk", "#price", "12000", "#buyer_email", buyerEmail)
	seller.click(`#deal-form button[type=submit]`, `body[data-page="deal"] p.notice`)
	id := seller.text("#deal-id")

	t.Run("ErrSellerAccepts", func(t *testing.T) {
		// The seller's page has no accept button; a form of theirs sent to
		// the accept address (a crafted or mixed-up form) is what a seller
		// trying to accept looks like to the server.
		seller.do("aim the cancel form at accept",
			chromedp.SetAttributeValue(chromedp.CSS(`form[action="/deals/`+id+`/cancel"]`), "action", "/deals/"+id+"/accept"))
		seller.click("#cancel", "#deal-error")
		if got := seller.text("#deal-error"); got != ja["escrow.refused.not_party"] {
			t.Fatalf("the seller accepting sees %q", got)
		}
		if s := seller.state(); s != string(escrow.StatePendingAcceptance) {
			t.Fatalf("after the refused accept the deal is %s", s)
		}
		seller.shotFull("escrow-refused-not-party")
	})

	t.Run("ErrStalePage", func(t *testing.T) {
		// The buyer's page offers accept; meanwhile the seller withdraws.
		buyer.open("/deals/"+id, "deal")
		seller.open("/deals/"+id, "deal")
		seller.click("#cancel", `#deal-state[data-state="canceled"]`)
		buyer.click("#accept", "#deal-error")
		if got := buyer.text("#deal-error"); got != ja["escrow.refused.state"] {
			t.Fatalf("accepting a withdrawn deal says %q", got)
		}
		if s := buyer.state(); s != string(escrow.StateCanceled) {
			t.Fatalf("after the refused accept the deal is %s", s)
		}
	})

	t.Run("ErrNoCSRFToken", func(t *testing.T) {
		// The buyer's own session cookie, a same-origin POST, no token.
		seller.open("/deals/new", "deal_new")
		seller.fill("#title", "Chair", "#price", "3000", "#buyer_email", buyerEmail)
		seller.click(`#deal-form button[type=submit]`, `body[data-page="deal"] p.notice`)
		id2 := seller.text("#deal-id")
		req, _ := http.NewRequest("POST", base+"/deals/"+id2+"/accept", strings.NewReader(url.Values{}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for _, c := range buyer.cookies() {
			req.AddCookie(c)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("an accept without the token = %d, want 403", res.StatusCode)
		}
		buyer.open("/deals/"+id2, "deal")
		if s := buyer.state(); s != string(escrow.StatePendingAcceptance) {
			t.Fatalf("after the refused POST the deal is %s", s)
		}
		// The same browser, with the token, may.
		buyer.click("#accept", "#payment")
	})

	checkBooks(t, srv, db)
}
