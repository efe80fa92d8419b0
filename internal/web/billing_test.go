package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// The provider portal over HTTP, on the fixture's store with a real billing
// service and a fixed clock (2026-03-01 09:00 UTC): who may open the pages,
// that one organization's member never sees another's customers, and the
// figures of the customer list, a customer's page, its statement and the
// statement's CSV.

// billingWorld is two providers' billing on the fixture: A has a postpaid
// customer with a direct charge, a live reservation partly charged and a
// canceled one, and a prepaid customer; B has one customer. memberA and
// memberB are members of A and B; stranger of neither.
type billingWorld struct {
	*fixture
	clock                     *testClock
	orgA, orgB                auth.Organization
	acme, prepaid, secret     billing.Customer
	live, canceled            billing.Reservation
	memberA, memberB, strange *browser
}

func newBillingWorld(t *testing.T) *billingWorld {
	t.Helper()
	// The customers are registered in February, so that February, closed
	// below with nothing charged in it, is a month they have an invoice for.
	clock := newClock()
	march := clock.now()
	clock.t = march.AddDate(0, 0, -2)
	w := &billingWorld{fixture: newFixture(t, clock.now), clock: clock}
	ctx := context.Background()
	var err error
	if w.orgA, err = w.orgs.CreateOrganization(ctx, "Provider A"); err != nil {
		t.Fatal(err)
	}
	if w.orgB, err = w.orgs.CreateOrganization(ctx, "Provider B"); err != nil {
		t.Fatal(err)
	}
	a, b := billing.OrgActor(w.orgA.ID), billing.OrgActor(w.orgB.ID)
	w.acme = w.customer(a, billing.CustomerParams{Reference: "acme-42", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 100_000})
	w.prepaid = w.customer(a, billing.CustomerParams{Reference: "pre-1", Currency: "USD", Mode: billing.Prepaid})
	w.secret = w.customer(b, billing.CustomerParams{Reference: "b-secret", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 7_777})
	clock.advance(march.Sub(clock.now()))
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		clock.advance(time.Minute)
	}
	_, err = w.billing.ChargeDirect(ctx, a, billing.DirectChargeParams{CustomerID: w.acme.ID, Amount: 12_000, Reference: "call-1"})
	step("direct charge", err)
	w.live, err = w.billing.Reserve(ctx, a, billing.ReserveParams{CustomerID: w.acme.ID, Amount: 30_000, Reference: "order-1"})
	step("reserve", err)
	_, _, err = w.billing.Charge(ctx, a, w.live.AuthNumber, billing.ChargeParams{Amount: 5_000, Reference: "use-1"})
	step("charge", err)
	w.canceled, err = w.billing.Reserve(ctx, a, billing.ReserveParams{CustomerID: w.acme.ID, Amount: 4_000, Reference: "order-2"})
	step("reserve again", err)
	_, err = w.billing.CancelReservation(ctx, a, w.canceled.AuthNumber)
	step("cancel", err)
	_, err = w.billing.TopUp(ctx, a, billing.TopUpParams{CustomerID: w.prepaid.ID, Amount: 5_000, Reference: "tu-1"})
	step("top up", err)
	_, err = w.billing.Reserve(ctx, a, billing.ReserveParams{CustomerID: w.prepaid.ID, Amount: 1_250})
	step("reserve prepaid", err)
	_, err = w.billing.ClosePeriod(ctx, a, w.acme.ID, "2026-02")
	step("close February", err)
	_, err = w.billing.Reserve(ctx, b, billing.ReserveParams{CustomerID: w.secret.ID, Amount: 777})
	step("reserve for B", err)

	w.memberA, w.memberB, w.strange = w.userBrowser("a@example.com"), w.userBrowser("b@example.com"), w.userBrowser("stranger@example.com")
	w.addMember(w.orgA, "a@example.com")
	w.addMember(w.orgB, "b@example.com")
	return w
}

func (w *billingWorld) customer(a billing.Actor, p billing.CustomerParams) billing.Customer {
	w.t.Helper()
	c, err := w.billing.CreateCustomer(context.Background(), a, p)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *billingWorld) addMember(org auth.Organization, email string) {
	w.t.Helper()
	if _, _, err := w.members.AddMember(context.Background(), testActor, org.ID, email); err != nil {
		w.t.Fatal(err)
	}
}

func (w *billingWorld) customerPath(org auth.Organization, c billing.Customer) string {
	return "/billing/" + org.ID + "/customers/" + c.ID
}

// row returns the table row of a page that carries attr="value", or fails.
func row(t *testing.T, body, attr, value string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr ` + regexp.QuoteMeta(attr+`="`+value+`"`) + `.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no row %s=%q in the page:\n%s", attr, value, body)
	}
	return m
}

func TestBillingMembership(t *testing.T) {
	w := newBillingWorld(t)
	home := "/billing/" + w.orgA.ID

	t.Run("ErrSignedOut", func(t *testing.T) {
		wantRedirect(t, "a visitor", w.browser().get(home), "/sign-in?next=%2Fbilling%2F"+w.orgA.ID)
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		if body := w.strange.get("/account").body; strings.Contains(body, `href="/billing"`) {
			t.Fatal("a non-member's navigation links to billing")
		}
		for _, path := range []string{"/billing", home, w.customerPath(w.orgA, w.acme), w.customerPath(w.orgA, w.acme) + "/statement",
			w.customerPath(w.orgA, w.acme) + "/statement.csv"} {
			r := w.strange.get(path)
			wantStatus(t, "a stranger GET "+path, r, http.StatusNotFound)
			wantContains(t, "a stranger GET "+path, r.body, ja["error.not_found"])
		}
	})
	t.Run("OKOneOrganization", func(t *testing.T) {
		wantContains(t, "a member's navigation", w.memberA.get("/account").body, `href="/billing"`)
		wantRedirect(t, "a member of one organization", w.memberA.get("/billing"), home)
	})
	t.Run("OKSeveralOrganizations", func(t *testing.T) {
		w.addMember(w.orgA, "b@example.com")
		r := w.memberB.get("/billing")
		wantStatus(t, "a member of two", r, http.StatusOK)
		wantContains(t, "the organizations", r.body, `data-org="`+w.orgA.ID+`"`, `data-org="`+w.orgB.ID+`"`, "Provider A", "Provider B")
		if _, _, err := w.members.RemoveMember(context.Background(), testActor, w.orgA.ID, "b@example.com"); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, "removed from A", w.memberB.get("/billing"), "/billing/"+w.orgB.ID)
		wantStatus(t, "removed from A, A's page", w.memberB.get(home), http.StatusNotFound)
	})
}

// TestBillingIsolation: a member of A never sees B's customers, whichever
// path they try, and "not yours" looks like "not found".
func TestBillingIsolation(t *testing.T) {
	w := newBillingWorld(t)
	list := w.memberA.get("/billing/" + w.orgA.ID)
	wantStatus(t, "A's customers", list, http.StatusOK)
	if strings.Contains(list.body, "b-secret") || strings.Contains(list.body, w.secret.ID) {
		t.Fatal("A's list shows B's customer")
	}
	notFound := w.memberA.get(w.customerPath(w.orgA, billing.Customer{ID: "cus_nothing"}))
	wantStatus(t, "no such customer", notFound, http.StatusNotFound)
	for _, c := range []struct {
		b    *browser
		path string
	}{
		{w.memberA, "/billing/" + w.orgB.ID},                             // B's home
		{w.memberA, w.customerPath(w.orgA, w.secret)},                    // B's customer under A
		{w.memberA, w.customerPath(w.orgB, w.secret)},                    // B's customer under B
		{w.memberA, w.customerPath(w.orgA, w.secret) + "/statement"},     // its statement
		{w.memberA, w.customerPath(w.orgA, w.secret) + "/statement.csv"}, // its CSV
		{w.memberB, w.customerPath(w.orgB, w.acme)},                      // A's customer under B
		{w.memberB, w.customerPath(w.orgB, w.acme) + "/statement.csv"},
		{w.memberA, "/billing/org_nothing"},
	} {
		r := c.b.get(c.path)
		wantStatus(t, "GET "+c.path, r, http.StatusNotFound)
		if strings.Contains(r.body, "b-secret") || strings.Contains(r.body, "acme-42") || strings.Contains(r.body, "7,777") {
			t.Fatalf("GET %s: the 404 page tells something of the customer:\n%s", c.path, r.body)
		}
		if got, want := errorPageText(r.body), errorPageText(notFound.body); got != want {
			t.Fatalf("GET %s: the page differs from a missing customer's:\n%s\nvs\n%s", c.path, got, want)
		}
	}
	wantContains(t, "B's own customer", w.memberB.get(w.customerPath(w.orgB, w.secret)).body, "b-secret", "¥7,777")
}

// errorPageText is an error page without what differs between two
// requests (the path the language switch returns to, the CSRF token).
func errorPageText(body string) string {
	body = regexp.MustCompile(`name="next" value="[^"]*"`).ReplaceAllString(body, "")
	return csrfPattern.ReplaceAllString(body, "")
}

func TestBillingPages(t *testing.T) {
	w := newBillingWorld(t)
	list := w.memberA.get("/billing/" + w.orgA.ID)
	wantStatus(t, "A's customers", list, http.StatusOK)
	wantContains(t, "A's customers", list.body, `data-page="billing_customers"`, "Provider A")
	// 100,000 − 17,000 used − 25,000 reserved.
	wantContains(t, "acme-42's row", row(t, list.body, "data-customer", w.acme.ID), "acme-42", ja["billing.mode.postpaid"],
		`limit">¥100,000<`, `used">¥17,000<`, `reserved">¥25,000<`, `available">¥58,000<`)
	wantContains(t, "pre-1's row", row(t, list.body, "data-customer", w.prepaid.ID), ja["billing.mode.prepaid"],
		`used">0.00 USD<`, `reserved">12.50 USD<`, `available">37.50 USD<`)

	page := w.memberA.get(w.customerPath(w.orgA, w.acme))
	wantStatus(t, "acme-42's page", page, http.StatusOK)
	wantContains(t, "acme-42's balance", page.body, `id="balance-limit">¥100,000<`, `id="balance-used">¥17,000<`,
		`id="balance-reserved">¥25,000<`, `id="balance-available">¥58,000<`)
	wantContains(t, "the live reservation", row(t, page.body, "data-auth", w.live.AuthNumber), "order-1",
		`authorized">¥30,000<`, `reserved">¥25,000<`, `charged">¥5,000<`, `<time datetime="2026-03-02T09:01:00Z">2026-03-02 18:01 JST</time>`)
	if strings.Contains(page.body, w.canceled.AuthNumber) {
		t.Fatal("the canceled reservation is listed as live")
	}
	wantContains(t, "February's invoice", page.body, `href="`+w.customerPath(w.orgA, w.acme)+`/statement?month=2026-02"`,
		`href="`+w.customerPath(w.orgA, w.acme)+`/statement"`)

	st := w.memberA.get(w.customerPath(w.orgA, w.acme) + "/statement")
	wantStatus(t, "the statement", st, http.StatusOK)
	wantContains(t, "the statement", st.body, `id="statement-month">2026-03<`, `value="2026-03"`, `?month=2026-02" id="prev-month"`,
		`?month=2026-04" id="next-month"`, `id="opening-balance">¥0<`, `id="closing-balance">-¥17,000<`, `id="closing-reserved">¥25,000<`,
		`href="`+w.customerPath(w.orgA, w.acme)+`/statement.csv?month=2026-03"`)
	kinds := regexp.MustCompile(`data-kind="([a-z_]+)"`).FindAllStringSubmatch(st.body, -1)
	var got []string
	for _, k := range kinds {
		got = append(got, k[1])
	}
	if want := []string{"charge", "hold", "charge", "hold", "hold", "release"}; !slices.Equal(got, want) {
		t.Fatalf("statement rows %v, want %v", got, want)
	}
	charge := regexp.MustCompile(`(?s)<tr data-transfer="\d+" data-kind="charge">.*?</tr>`).FindAllString(st.body, -1)
	if len(charge) != 2 {
		t.Fatalf("charge rows: %q", charge)
	}
	wantContains(t, "the direct charge", charge[0], "call-1", `amount">¥12,000<`, `balance">-¥12,000<`, `reserved">¥0<`)
	wantContains(t, "the charge against the reservation", charge[1], w.live.AuthNumber, "use-1", `amount">¥5,000<`,
		`released">¥25,000<`, `balance">-¥17,000<`)

	t.Run("OKOtherMonths", func(t *testing.T) {
		feb := w.memberA.get(w.customerPath(w.orgA, w.acme) + "/statement?month=2026-02")
		wantStatus(t, "February", feb, http.StatusOK)
		wantContains(t, "February", feb.body, `id="no-rows"`, `id="closing-balance">¥0<`)
		apr := w.memberA.get(w.customerPath(w.orgA, w.acme) + "/statement?month=2026-04")
		wantContains(t, "April: opens with March's close", apr.body, `id="opening-balance">-¥17,000<`, `id="opening-reserved">¥25,000<`)
	})
	t.Run("ErrBadMonth", func(t *testing.T) {
		for _, m := range []string{"2026-13", "March", "1999-12", "2026-3"} {
			wantStatus(t, "month "+m, w.memberA.get(w.customerPath(w.orgA, w.acme)+"/statement?month="+m), http.StatusBadRequest)
			wantStatus(t, "CSV of month "+m, w.memberA.get(w.customerPath(w.orgA, w.acme)+"/statement.csv?month="+m), http.StatusBadRequest)
		}
	})
	t.Run("OKPaged", func(t *testing.T) {
		ctx := context.Background()
		org, err := w.orgs.CreateOrganization(ctx, "Provider C")
		if err != nil {
			t.Fatal(err)
		}
		for i := range dealsPageSize + 1 {
			w.customer(billing.OrgActor(org.ID), billing.CustomerParams{Reference: "c-" + string(rune('a'+i)), Currency: "JPY", Mode: billing.Postpaid})
		}
		w.addMember(org, "a@example.com")
		first := w.memberA.get("/billing/" + org.ID)
		if n := strings.Count(first.body, "data-customer="); n != dealsPageSize {
			t.Fatalf("the first page lists %d customers, want %d", n, dealsPageSize)
		}
		next := regexp.MustCompile(`href="(/billing/` + org.ID + `\?after=cus_[0-9A-Za-z]+)" rel="next"`).FindStringSubmatch(first.body)
		if next == nil {
			t.Fatalf("no link to the next page:\n%s", first.body)
		}
		second := w.memberA.get(next[1])
		if n := strings.Count(second.body, "data-customer="); n != 1 || !strings.Contains(second.body, "c-a") || strings.Contains(second.body, `rel="next"`) {
			t.Fatalf("the second page lists %d customers:\n%s", n, second.body)
		}
	})
}

func TestBillingStatementCSV(t *testing.T) {
	w := newBillingWorld(t)
	r := w.memberA.get(w.customerPath(w.orgA, w.acme) + "/statement.csv?month=2026-03")
	wantStatus(t, "the CSV", r, http.StatusOK)
	if ct, cd := r.header.Get("Content-Type"), r.header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		cd != `attachment; filename=kinko-statement-`+w.acme.ID+`-2026-03.csv` {
		t.Fatalf("Content-Type %q, Content-Disposition %q", ct, cd)
	}
	wantSecurityHeaders(t, "the CSV", r.header)
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || !slices.Equal(recs[0], billing.StatementCSVHeader) {
		t.Fatalf("CSV:\n%s", r.body)
	}
	last := recs[len(recs)-1]
	if last[2] != "release" || last[3] != "4000" || last[4] != "JPY" || last[5] != "-17000" || last[6] != "25000" || last[9] != w.canceled.AuthNumber {
		t.Fatalf("the last row %q", last)
	}
	if first := recs[1]; first[2] != "charge" || first[3] != "12000" || first[11] != "call-1" || first[1] != "2026-03-01T09:00:00Z" {
		t.Fatalf("the first row %q", first)
	}
	if !strings.Contains(r.body, "\r\n") {
		t.Fatal("the CSV's lines do not end in CRLF")
	}
	// The page and the file agree, and the default month is the clock's.
	wantContains(t, "the page of the default month", w.memberA.get(w.customerPath(w.orgA, w.acme)+"/statement").body,
		`statement.csv?month=2026-03"`)
}

// TestBillingPagesRender opens every billing page in both languages as a
// member: no missing catalog key, nothing inline that the CSP would have
// to allow.
func TestBillingPagesRender(t *testing.T) {
	w := newBillingWorld(t)
	w.addMember(w.orgB, "a@example.com")
	w.wantPagesRender(w.memberA, "/billing", "/billing/"+w.orgA.ID, w.customerPath(w.orgA, w.acme), w.customerPath(w.orgA, w.prepaid),
		w.customerPath(w.orgA, w.acme)+"/statement", w.customerPath(w.orgA, w.prepaid)+"/statement",
		w.customerPath(w.orgA, w.acme)+"/statement?month=2026-01", "/billing/"+w.orgB.ID)
	wantContains(t, "the English statement", w.memberA.get(w.customerPath(w.orgA, w.acme)+"/statement").body,
		en["billing.statement.title"], en["billing.kind.release"], en["billing.statement.closing"])
}
