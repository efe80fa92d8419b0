package api

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// errorLog keeps the messages a server logs at level error.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

// newBillingKeyHarness serves billing on a fresh SQLite database; when
// generic is set, the keyedInTx routes keep keys on the generic path
// (serveIdempotent) as every other route does.
func newBillingKeyHarness(t *testing.T, generic bool, log *errorLog) *harness {
	t.Helper()
	db, e := openLedger(t, ledger.Config{})
	clk := &clock.Offset{}
	s := New(Config{Ledger: e, Idempotency: idempotency.NewService(db, nil), Logger: slog.New(log),
		Billing: billing.NewService(billing.Config{Store: db, Ledger: e, Events: EventEncoder{}, Clock: clk.Now}), Auth: keys{
			"b1":  {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"billing:write"}},
			"bro": {OrgID: "org_1", KeyID: "key_2", Scopes: []auth.Scope{"billing:read"}},
		}})
	if generic {
		s.keyedInTx = nil
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, db: db, clock: clk}
}

// keyedStep is what a client can tell of one answer: its status, whether
// it was a replay, its problem code, its content type and caching, and its
// bytes.
type keyedStep struct {
	name         string
	status       int
	replayed     bool
	code         string
	ctype, cache string
	raw          string
}

// billingKeyScript drives every billing route in keyedInTx with Idempotency-Keys:
// first requests, replays, a key reused with another body, refusals kept
// and replayed, a malformed body, a key without the scope, and concurrent
// duplicates. It returns each answer, and the routes it reached.
func billingKeyScript(t *testing.T, h *harness) ([]keyedStep, []string) {
	s := &keyScript{t: t, h: h}
	post := s.post
	id := s.id
	jpy := func(n string) string { return `{"amount":` + n + `,"currency":"JPY"}` }

	cus := id(post("Customer", "", "/v1/billing/customers", "b1", "i-cus",
		`{"reference":"c1","mode":"postpaid","currency":"JPY","credit_limit":`+jpy("1000")+`}`), "id")
	const reserve = "POST /v1/billing/reservations"
	rsv := post("Reserve", reserve, "/v1/billing/reservations", "b1", "i-r1", `{"customer":"`+cus+`","amount":`+jpy("600")+`}`)
	post("ReserveReplay", reserve, "/v1/billing/reservations", "b1", "i-r1", `{"customer":"`+cus+`","amount":`+jpy("600")+`}`)
	post("ReserveOtherBody", reserve, "/v1/billing/reservations", "b1", "i-r1", `{"customer":"`+cus+`","amount":`+jpy("601")+`}`)
	post("OverLimit", reserve, "/v1/billing/reservations", "b1", "i-r2", `{"customer":"`+cus+`","amount":`+jpy("600")+`}`)
	post("OverLimitReplay", reserve, "/v1/billing/reservations", "b1", "i-r2", `{"customer":"`+cus+`","amount":`+jpy("600")+`}`)
	post("Malformed", reserve, "/v1/billing/reservations", "b1", "i-bad", `{"customer":"`+cus+`","amount":`+jpy("1.5")+`}`)
	post("MalformedReplay", reserve, "/v1/billing/reservations", "b1", "i-bad", `{"customer":"`+cus+`","amount":`+jpy("1.5")+`}`)
	post("NoScope", reserve, "/v1/billing/reservations", "bro", "i-ro", `{"customer":"`+cus+`","amount":`+jpy("10")+`}`)
	small := post("AfterNoScope", reserve, "/v1/billing/reservations", "b1", "i-ro", `{"customer":"`+cus+`","amount":`+jpy("10")+`}`)

	auth := id(rsv, "auth_number")
	const charge = "POST /v1/billing/reservations/{auth_number}/charges"
	post("Charge", charge, "/v1/billing/reservations/"+auth+"/charges", "b1", "i-c1", `{"amount":`+jpy("200")+`,"reference":"ch-1"}`)
	post("ChargeReplay", charge, "/v1/billing/reservations/"+auth+"/charges", "b1", "i-c1", `{"amount":`+jpy("200")+`,"reference":"ch-1"}`)
	post("ChargeTooMuch", charge, "/v1/billing/reservations/"+auth+"/charges", "b1", "i-c2", `{"amount":`+jpy("500")+`,"reference":"ch-2"}`)
	post("ChargeTooMuchReplay", charge, "/v1/billing/reservations/"+auth+"/charges", "b1", "i-c2", `{"amount":`+jpy("500")+`,"reference":"ch-2"}`)
	const increment = "POST /v1/billing/reservations/{auth_number}/increment"
	post("Increment", increment, "/v1/billing/reservations/"+auth+"/increment", "b1", "i-i1", `{"amount":`+jpy("100")+`,"reference":"inc-1"}`)
	post("IncrementReplay", increment, "/v1/billing/reservations/"+auth+"/increment", "b1", "i-i1", `{"amount":`+jpy("100")+`,"reference":"inc-1"}`)
	const direct = "POST /v1/billing/charges"
	post("Direct", direct, "/v1/billing/charges", "b1", "i-d1", `{"customer":"`+cus+`","amount":`+jpy("50")+`,"reference":"d-1"}`)
	post("DirectReplay", direct, "/v1/billing/charges", "b1", "i-d1", `{"customer":"`+cus+`","amount":`+jpy("50")+`,"reference":"d-1"}`)
	const cancel = "POST /v1/billing/reservations/{auth_number}/cancel"
	post("Cancel", cancel, "/v1/billing/reservations/"+id(small, "auth_number")+"/cancel", "b1", "i-x1", `{}`)
	post("CancelReplay", cancel, "/v1/billing/reservations/"+id(small, "auth_number")+"/cancel", "b1", "i-x1", `{}`)

	ses := id(post("Session", "", "/v1/billing/sessions", "b1", "i-s1", `{"customer":"`+cus+`","quota":`+jpy("40")+`,"reference":"s-1"}`), "id")
	const usage = "POST /v1/billing/sessions/{id}/usage"
	post("Usage", usage, "/v1/billing/sessions/"+ses+"/usage", "b1", "i-u1", `{"seq":1,"amount":`+jpy("30")+`}`)
	post("UsageReplay", usage, "/v1/billing/sessions/"+ses+"/usage", "b1", "i-u1", `{"seq":1,"amount":`+jpy("30")+`}`)
	post("UsageOverQuota", usage, "/v1/billing/sessions/"+ses+"/usage", "b1", "i-u2", `{"seq":2,"amount":`+jpy("30")+`}`)

	// Concurrent duplicates: one reservation is made, and every answer
	// is it (or, on the generic path, 409 while the first still runs).
	var wg sync.WaitGroup
	dups := make([]response, 8)
	for i := range dups {
		wg.Go(func() {
			dups[i] = h.do("POST", "/v1/billing/reservations", "b1", `{"customer":"`+cus+`","amount":`+jpy("5")+`}`, "Idempotency-Key", "i-dup")
		})
	}
	wg.Wait()
	sameFirstAnswer(t, dups)
	bal := h.want(h.do("GET", "/v1/billing/customers/"+cus+"/balance", "b1", ""), 200, "")
	s.steps = append(s.steps, keyedStep{name: "Balance", status: bal.status, raw: bal.raw})

	// The customer's and session's own steps, on a customer of their own.
	const customers = "POST /v1/billing/customers"
	cus2Body := `{"reference":"c2","mode":"postpaid","currency":"JPY","credit_limit":` + jpy("1000") + `}`
	cus2 := id(post("Customer2", customers, "/v1/billing/customers", "b1", "i-cus2", cus2Body), "id")
	post("Customer2Replay", customers, "/v1/billing/customers", "b1", "i-cus2", cus2Body)
	post("Customer2OtherBody", customers, "/v1/billing/customers", "b1", "i-cus2", `{"reference":"c2b","mode":"postpaid","currency":"JPY"}`)
	post("CustomerNoCurrency", customers, "/v1/billing/customers", "b1", "i-cus-bad", `{"reference":"c9","mode":"postpaid","currency":"XXX"}`)
	post("CustomerNoCurrencyReplay", customers, "/v1/billing/customers", "b1", "i-cus-bad", `{"reference":"c9","mode":"postpaid","currency":"XXX"}`)
	const limit = "POST /v1/billing/customers/{id}/credit_limit"
	post("Limit", limit, "/v1/billing/customers/"+cus2+"/credit_limit", "b1", "i-l1", `{"credit_limit":`+jpy("2000")+`}`)
	post("LimitReplay", limit, "/v1/billing/customers/"+cus2+"/credit_limit", "b1", "i-l1", `{"credit_limit":`+jpy("2000")+`}`)
	pre := id(post("Prepaid", customers, "/v1/billing/customers", "b1", "i-cus3", `{"reference":"c3","mode":"prepaid","currency":"JPY"}`), "id")
	const topUp = "POST /v1/billing/customers/{id}/top_ups"
	post("TopUp", topUp, "/v1/billing/customers/"+pre+"/top_ups", "b1", "i-t1", `{"amount":`+jpy("300")+`,"reference":"t-1"}`)
	post("TopUpReplay", topUp, "/v1/billing/customers/"+pre+"/top_ups", "b1", "i-t1", `{"amount":`+jpy("300")+`,"reference":"t-1"}`)
	post("TopUpPostpaid", topUp, "/v1/billing/customers/"+cus2+"/top_ups", "b1", "i-t2", `{"amount":`+jpy("300")+`,"reference":"t-2"}`)
	post("TopUpPostpaidReplay", topUp, "/v1/billing/customers/"+cus2+"/top_ups", "b1", "i-t2", `{"amount":`+jpy("300")+`,"reference":"t-2"}`)
	const sessions = "POST /v1/billing/sessions"
	sesBody := `{"customer":"` + cus2 + `","quota":` + jpy("100") + `,"reference":"s-2"}`
	ses2 := id(post("Session2", sessions, "/v1/billing/sessions", "b1", "i-s2", sesBody), "id")
	post("Session2Replay", sessions, "/v1/billing/sessions", "b1", "i-s2", sesBody)
	post("Usage2", usage, "/v1/billing/sessions/"+ses2+"/usage", "b1", "i-u3", `{"seq":1,"amount":`+jpy("20")+`}`)
	const sesTopUp = "POST /v1/billing/sessions/{id}/top_ups"
	post("SessionTopUp", sesTopUp, "/v1/billing/sessions/"+ses2+"/top_ups", "b1", "i-st1", `{"amount":`+jpy("50")+`,"reference":"st-1"}`)
	post("SessionTopUpReplay", sesTopUp, "/v1/billing/sessions/"+ses2+"/top_ups", "b1", "i-st1", `{"amount":`+jpy("50")+`,"reference":"st-1"}`)
	post("SessionTopUpTooMuch", sesTopUp, "/v1/billing/sessions/"+ses2+"/top_ups", "b1", "i-st2", `{"amount":`+jpy("5000")+`,"reference":"st-2"}`)
	post("SessionTopUpTooMuchReplay", sesTopUp, "/v1/billing/sessions/"+ses2+"/top_ups", "b1", "i-st2", `{"amount":`+jpy("5000")+`,"reference":"st-2"}`)
	const end = "POST /v1/billing/sessions/{id}/end"
	post("End", end, "/v1/billing/sessions/"+ses2+"/end", "b1", "i-e1", `{}`)
	post("EndReplay", end, "/v1/billing/sessions/"+ses2+"/end", "b1", "i-e1", `{}`)
	post("EndAgain", end, "/v1/billing/sessions/"+ses2+"/end", "b1", "i-e2", `{}`)

	// A month closes once it has ended: refused before, an invoice after.
	const invoices = "POST /v1/billing/customers/{id}/invoices"
	now := h.clock.Now()
	period := now.Format("2006-01")
	post("CloseOpen", invoices, "/v1/billing/customers/"+cus2+"/invoices", "b1", "i-v1", `{"period":"`+period+`"}`)
	post("CloseOpenReplay", invoices, "/v1/billing/customers/"+cus2+"/invoices", "b1", "i-v1", `{"period":"`+period+`"}`)
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := h.clock.Advance(next.Sub(now) + billing.MonthCloseDelay + time.Hour); err != nil {
		t.Fatal(err)
	}
	post("Close", invoices, "/v1/billing/customers/"+cus2+"/invoices", "b1", "i-v2", `{"period":"`+period+`"}`)
	post("CloseReplay", invoices, "/v1/billing/customers/"+cus2+"/invoices", "b1", "i-v2", `{"period":"`+period+`"}`)
	post("CloseAgain", invoices, "/v1/billing/customers/"+cus2+"/invoices", "b1", "i-v3", `{"period":"`+period+`"}`)
	return s.steps, s.routes
}

// TestKeyedBillingAnswersAsTheGenericPath: the billing routes that keep
// their Idempotency-Key in the change's transaction answer every request
// of billingKeyScript as the generic path does (status, replay, problem
// code; replays byte for byte), reach every such route, and never fall
// back to keeping the key afterwards.
func TestKeyedBillingAnswersAsTheGenericPath(t *testing.T) {
	var log errorLog
	keyed, routes := billingKeyScript(t, newBillingKeyHarness(t, false, &log))
	generic, _ := billingKeyScript(t, newBillingKeyHarness(t, true, &errorLog{}))
	byName := sameAsGeneric(t, keyed, generic, routes, billingKeyedInTx, &log)
	for _, tc := range []struct {
		first, replay string
		status        int
	}{
		{"Reserve", "ReserveReplay", 201}, {"OverLimit", "OverLimitReplay", 422}, {"Malformed", "MalformedReplay", 400},
		{"Charge", "ChargeReplay", 201}, {"ChargeTooMuch", "ChargeTooMuchReplay", 422}, {"Increment", "IncrementReplay", 200},
		{"Direct", "DirectReplay", 201}, {"Cancel", "CancelReplay", 200}, {"Usage", "UsageReplay", 201},
		{"Customer2", "Customer2Replay", 201}, {"CustomerNoCurrency", "CustomerNoCurrencyReplay", 400}, {"Limit", "LimitReplay", 200},
		{"TopUp", "TopUpReplay", 201}, {"TopUpPostpaid", "TopUpPostpaidReplay", 400}, {"Session2", "Session2Replay", 201},
		{"SessionTopUp", "SessionTopUpReplay", 200}, {"SessionTopUpTooMuch", "SessionTopUpTooMuchReplay", 422},
		{"End", "EndReplay", 200}, {"CloseOpen", "CloseOpenReplay", 409}, {"Close", "CloseReplay", 201},
	} {
		first, replay := byName[tc.first], byName[tc.replay]
		if first.status != tc.status || first.replayed || !replay.replayed || replay.raw != first.raw {
			t.Errorf("%s then %s: %d (replayed %v) then replayed %v, same bytes %v; want %d then its replay",
				tc.first, tc.replay, first.status, first.replayed, replay.replayed, replay.raw == first.raw, tc.status)
		}
	}
	for _, name := range []string{"ReserveOtherBody", "Customer2OtherBody"} {
		if s := byName[name]; s.status != 422 || s.code != idempotency.CodeKeyReused {
			t.Errorf("%s: a key reused with another body: %d %s", name, s.status, s.raw)
		}
	}
	// A second end and a second close under new keys answer what the
	// first did: ending and closing are idempotent by themselves.
	if a, b := byName["EndAgain"], byName["End"]; a.status != 200 || a.replayed || a.raw != b.raw {
		t.Errorf("the session ended again: %d %s, want %s", a.status, a.raw, b.raw)
	}
	if a := byName["CloseAgain"]; a.status != 201 || a.replayed || !strings.Contains(a.raw, `"total":`+jpy2(20)) {
		t.Errorf("the month closed again: %d %s, want its invoice of 20", a.status, a.raw)
	}
	if s := byName["ReserveOtherBody"]; s.status != 422 || s.code != idempotency.CodeKeyReused {
		t.Errorf("a key reused with another body: %d %s", s.status, s.raw)
	}
	if s := byName["NoScope"]; s.status != 403 || byName["AfterNoScope"].status != 201 {
		t.Errorf("a key without the scope: %d, then with it: %d", s.status, byName["AfterNoScope"].status)
	}
	// 600 reserved, 200 charged of it, 100 more reserved on it; 10 reserved
	// and canceled; 50 charged directly; 40 for the session, 30 used and
	// settled (past its threshold of half the quota); 5 for the
	// duplicates, once: 280 used, 500 + 10 + 5 reserved.
	if bal := byName["Balance"].raw; !strings.Contains(bal, `"used":`+jpy2(280)) || !strings.Contains(bal, `"reserved":`+jpy2(515)) {
		t.Errorf("balance %s; want 280 used and 515 reserved", bal)
	}
}

func jpy2(n int) string { return `{"amount":` + strconv.Itoa(n) + `,"currency":"JPY"}` }

// TestKeyedBillingClaims: a keyed billing request whose key holds a claim of
// the generic path is answered as the generic path answers it: 409 while
// the claim is live, with nothing reserved, and the request run when the
// claim is abandoned, whatever request it was for.
func TestKeyedBillingClaims(t *testing.T) {
	h := newBillingKeyHarness(t, false, &errorLog{})
	ctx := context.Background()
	cus := h.want(h.do("POST", "/v1/billing/customers", "b1",
		`{"reference":"c1","mode":"postpaid","currency":"JPY","credit_limit":{"amount":1000,"currency":"JPY"}}`), 201, "").body["id"].(string)
	body := `{"customer":"` + cus + `","amount":{"amount":100,"currency":"JPY"}}`

	live := idempotency.NewService(h.db, nil)
	if rec, err := live.Begin(ctx, "org_1", "i-live", idempotency.Hash("POST", "/v1/billing/reservations", []byte(body))); err != nil || rec != nil {
		t.Fatal(rec, err)
	}
	h.want(h.do("POST", "/v1/billing/reservations", "b1", body, "Idempotency-Key", "i-live"), 409, idempotency.CodeKeyInUse)
	bal := h.want(h.do("GET", "/v1/billing/customers/"+cus+"/balance", "b1", ""), 200, "")
	if !strings.Contains(bal.raw, `"reserved":`+jpy2(0)) {
		t.Fatalf("a request refused for its key's live claim reserved something: %s", bal.raw)
	}

	old := idempotency.NewService(h.db, func() time.Time { return time.Now().Add(-idempotency.ClaimTimeout - time.Minute) })
	if rec, err := old.Begin(ctx, "org_1", "i-old", []byte("a request that crashed")); err != nil || rec != nil {
		t.Fatal(rec, err)
	}
	r := h.want(h.do("POST", "/v1/billing/reservations", "b1", body, "Idempotency-Key", "i-old"), 201, "")
	again := h.want(h.do("POST", "/v1/billing/reservations", "b1", body, "Idempotency-Key", "i-old"), 201, "")
	if again.raw != r.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay after taking the claim over: %s, want %s", again.raw, r.raw)
	}
	bal = h.want(h.do("GET", "/v1/billing/customers/"+cus+"/balance", "b1", ""), 200, "")
	if !strings.Contains(bal.raw, `"reserved":`+jpy2(100)) {
		t.Fatalf("balance %s, want 100 reserved once", bal.raw)
	}
}
