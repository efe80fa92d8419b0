package cli

import (
	"context"
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kinko-pay/kinko/internal/api"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// billingWorld is what the billing walk's store holds before the server
// starts: a provider with a postpaid customer that has a direct charge and
// a live reservation partly charged, and another provider's customer.
type billingWorld struct {
	org, other   auth.Organization
	line, secret billing.Customer
	live         billing.Reservation
}

// setUpBilling writes the walk's providers and customers to db through the
// services serve builds.
func setUpBilling(t *testing.T, db string) billingWorld {
	t.Helper()
	ctx := context.Background()
	st, _, err := openStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	engine := ledger.NewEngine(st, engineConfig(st.Kind()))
	defer engine.Close()
	if err := engine.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	var w billingWorld
	orgs := auth.NewService(st, auth.Config{})
	if w.org, err = orgs.CreateOrganization(ctx, "Example Telecom"); err == nil {
		w.other, err = orgs.CreateOrganization(ctx, "Other Provider")
	}
	if err != nil {
		t.Fatal(err)
	}
	bill := billing.NewService(billing.Config{Store: st, Ledger: engine, Events: api.EventEncoder{}})
	a := billing.OrgActor(w.org.ID)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	w.line, err = bill.CreateCustomer(ctx, a, billing.CustomerParams{Reference: "line-0042", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 50_000})
	must("create customer", err)
	w.secret, err = bill.CreateCustomer(ctx, billing.OrgActor(w.other.ID), billing.CustomerParams{Reference: "other-secret", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 9_999})
	must("create the other provider's customer", err)
	_, err = bill.ChargeDirect(ctx, a, billing.DirectChargeParams{CustomerID: w.line.ID, Amount: 3_000, Reference: "call-1"})
	must("direct charge", err)
	w.live, err = bill.Reserve(ctx, a, billing.ReserveParams{CustomerID: w.line.ID, Amount: 20_000, Reference: "session-1"})
	must("reserve", err)
	_, _, err = bill.Charge(ctx, a, w.live.AuthNumber, billing.ChargeParams{Amount: 4_500, Reference: "use-1"})
	must("charge", err)
	return w
}

// TestBrowserBilling walks the provider portal in Chromium: a person signs
// up, is refused the billing pages, is made a member of the provider with
// kinko orgs members add on the running server's store, and then reads the
// provider's customers, a customer's balance and live reservation, and its
// statement, downloads the statement's CSV, and is refused the other
// provider's customer.
func TestBrowserBilling(t *testing.T) {
	root := startChromium(t, escrowBrowserWaitMax)
	db := filepath.Join(t.TempDir(), "kinko.db")
	w := setUpBilling(t, db)
	mail := &mailRecorder{}
	srv := startServeConfig(t, serveConfig{DB: db, Mail: mail})
	base := "http://" + srv.addr
	ja, en := catalog(t, auth.LocaleJa), catalog(t, auth.LocaleEn)
	const email = "ops@telecom.example"

	b := person(t, root, base)
	b.signUp(mail, email)
	b.open("/billing", "error")
	if got := b.text("main h1"); !strings.Contains(got, "404") {
		t.Fatalf("a non-member's /billing says %q, want the 404 page", got)
	}

	if r := runCLI(t, nil, "orgs", "members", "add", "--db", db, "--org", w.org.ID, "--email", email); r.code != exitOK {
		t.Fatalf("orgs members add: exit %d: %s", r.code, r.stderr)
	}

	// The billing link appears; one organization leads straight to its customers.
	b.open("/account", "account")
	b.click(`nav a[href="/billing"]`, `body[data-page="billing_customers"]`)
	b.shotFull("billing-customers")
	if got := b.text("#org-name"); got != "Example Telecom" {
		t.Fatalf("the customers page names %q", got)
	}
	row := `tr[data-customer="` + w.line.ID + `"] `
	// 50,000 − 7,500 used (3,000 + 4,500) − 15,500 still reserved.
	for sel, want := range map[string]string{"td.limit": "¥50,000", "td.used": "¥7,500", "td.reserved": "¥15,500", "td.available": "¥27,000"} {
		if got := b.text(row + sel); got != want {
			t.Errorf("line-0042's %s reads %q, want %q", sel, got, want)
		}
	}
	if got := b.text("#customers"); strings.Contains(got, "other-secret") {
		t.Fatalf("the list shows the other provider's customer: %q", got)
	}

	b.click(row+"a", `body[data-page="billing_customer"]`)
	b.shotFull("billing-customer")
	rsv := `tr[data-auth="` + w.live.AuthNumber + `"] `
	for sel, want := range map[string]string{"#balance-limit": "¥50,000", "#balance-used": "¥7,500", "#balance-reserved": "¥15,500",
		"#balance-available": "¥27,000", rsv + "td.authorized": "¥20,000", rsv + "td.reserved": "¥15,500", rsv + "td.charged": "¥4,500"} {
		if got := b.text(sel); got != want {
			t.Errorf("the customer page's %s reads %q, want %q", sel, got, want)
		}
	}
	if got := b.text(rsv + "td.expires"); !strings.HasSuffix(got, "JST") {
		t.Errorf("the reservation's expiry reads %q", got)
	}

	b.click("#statement-link", `body[data-page="billing_statement"]`)
	b.shotFull("billing-statement")
	for sel, want := range map[string]string{"#opening-balance": "¥0", "#closing-balance": "-¥7,500", "#closing-reserved": "¥15,500"} {
		if got := b.text(sel); got != want {
			t.Errorf("the statement's %s reads %q, want %q", sel, got, want)
		}
	}
	kinds, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#statement-rows tbody tr")].map(tr => tr.dataset.kind)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"charge", "hold", "charge", "hold"}; !slices.Equal(kinds, want) {
		t.Fatalf("the statement's rows are %v, want %v", kinds, want)
	}
	if got := b.text(`#statement-rows tbody tr:nth-child(3) td.released`); got != "¥15,500" {
		t.Errorf("the charge against the reservation released %q of its hold, want ¥15,500", got)
	}

	data := b.download("#statement-csv")
	recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatalf("the downloaded CSV: %v\n%s", err, data)
	}
	if len(recs) != 5 || !slices.Equal(recs[0], billing.StatementCSVHeader) {
		t.Fatalf("the downloaded CSV:\n%s", data)
	}
	if last := recs[4]; last[2] != "hold" || last[3] != "15500" || last[5] != "-7500" || last[6] != "15500" || last[9] != w.live.AuthNumber {
		t.Fatalf("the CSV's last row %q", last)
	}

	// The month before: nothing moved; its closing is this month's opening.
	b.click("#prev-month", "#no-rows")
	if got := b.text("#closing-balance"); got != "¥0" {
		t.Errorf("last month closes at %q", got)
	}
	b.click("#next-month", "#statement-rows")
	b.click(`form[action="/lang"] button[value="en"]`, `html[lang="en"] body[data-page="billing_statement"]`)
	if got := b.text("h1"); !strings.HasPrefix(got, en["billing.statement.title"]) {
		t.Fatalf("in English the statement's heading is %q", got)
	}
	b.click(`form[action="/lang"] button[value="ja"]`, `html[lang="ja"] body[data-page="billing_statement"]`)
	if got := b.text("h1"); !strings.HasPrefix(got, ja["billing.statement.title"]) {
		t.Fatalf("back in Japanese the statement's heading is %q", got)
	}

	// Another provider's customer, under either organization, is the 404 page.
	for _, path := range []string{"/billing/" + w.org.ID + "/customers/" + w.secret.ID, "/billing/" + w.other.ID + "/customers/" + w.secret.ID,
		"/billing/" + w.other.ID} {
		b.open(path, "error")
		if got := b.text("main"); strings.Contains(got, "other-secret") || strings.Contains(got, "9,999") {
			t.Fatalf("GET %s shows the other provider's customer: %q", path, got)
		}
	}

	// The pages only read: the books are as the setup left them, and the
	// membership is in the audit chain.
	checkLedgerAndAudit(t, srv, db)
}
