package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// newEscrowKeyHarness serves escrow on a fresh SQLite database, its
// service on store (nil: the database itself) and its keys on a clock
// skewed by skew (nil: none); when generic is set, the keyedInTx routes
// keep keys on the generic path (serveIdempotent) as every other route
// does.
func newEscrowKeyHarness(t *testing.T, generic bool, log *errorLog, store func(*sqlite.DB) escrow.Store, skew *atomic.Int64) *harness {
	t.Helper()
	db, e := openLedger(t, ledger.Config{Managed: escrow.ManagesAccount})
	st := escrow.Store(db)
	if store != nil {
		st = store(db)
	}
	keyClock := func() time.Time {
		if skew == nil {
			return time.Now()
		}
		return time.Now().Add(time.Duration(skew.Load()))
	}
	tc := &clock.Offset{}
	deals := escrow.NewService(escrow.Config{Store: st, Ledger: e, Clock: tc.Now, PayTo: harnessPayTo, Events: EventEncoder{EscrowPayTo: harnessPayTo}})
	s := New(Config{Ledger: e, Idempotency: idempotency.NewService(db, keyClock), Logger: slog.New(log),
		Escrow: deals, EscrowPayTo: harnessPayTo, Auth: keys{
			"k1":    {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"escrow:write"}},
			"ro":    {OrgID: "org_1", KeyID: "key_2", Scopes: []auth.Scope{"escrow:read"}},
			"admin": {OrgID: "org_operator", KeyID: "key_0", Scopes: []auth.Scope{auth.ScopeAdmin}},
		}})
	if generic {
		s.keyedInTx = nil
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, db: db, clock: tc}
}

// milestoneDealBody is dealBody paid in two milestones of 25,000.
func milestoneDealBody(ref string) string {
	return strings.Replace(dealBody(ref), `"fee_payer"`, `"milestones":[{"title":"body","amount":{"amount":25000,"currency":"JPY"}},`+
		`{"title":"lens","amount":{"amount":25000,"currency":"JPY"}}],"fee_payer"`, 1)
}

// depositBody is a credit of amount under bankRef quoting the payment
// reference pay ("" quotes none).
func depositBody(bankRef, pay string, amount int) string {
	return `{"bank_account":"MUFG-001","bank_ref":"` + bankRef + `","amount":{"amount":` + strconv.Itoa(amount) +
		`,"currency":"JPY"},"value_date":"2026-01-03","payer_name":"ﾔﾏﾀﾞ ﾀﾛｳ","payment_reference":"` + pay + `"}`
}

// escrowKeyScript drives every escrow route in keyedInTx with
// Idempotency-Keys: first requests, replays, a key reused with another
// body, refusals kept and replayed (by the service, and by a handler's own
// check inside its call), a malformed body, a key without the scope, a
// repeat that changes nothing (an external_ref, a bank reference), and
// concurrent duplicates. It returns each answer, and the routes it reached.
func escrowKeyScript(t *testing.T, h *harness) ([]keyedStep, []string) {
	s := &keyScript{t: t, h: h}
	post := s.post
	// twice posts a request, then its retry.
	twice := func(name, route, path, key, idem, body string) keyedStep {
		t.Helper()
		st := post(name, route, path, key, idem, body)
		post(name+"Replay", route, path, key, idem, body)
		return st
	}
	id := s.id
	deal := func(id string) string { return "/v1/deals/" + id }
	step := func(name, stepName, dealID, key, idem, body string) keyedStep {
		t.Helper()
		return twice(name, "POST /v1/deals/{id}/"+stepName, deal(dealID)+"/"+stepName, key, idem, body)
	}

	const create = "POST /v1/deals"
	d1 := twice("Create", create, "/v1/deals", "k1", "i-d1", dealBody("r1"))
	post("CreateOtherBody", create, "/v1/deals", "k1", "i-d1", dealBody("r1-other"))
	twice("CreateSameRef", create, "/v1/deals", "k1", "i-d1-same", dealBody("r1"))
	twice("CreateRefConflict", create, "/v1/deals", "k1", "i-d1-conflict", strings.Replace(dealBody("r1"), `"Camera"`, `"Lens"`, 1))
	twice("CreateNoRef", create, "/v1/deals", "k1", "i-d2", dealBody(""))
	twice("CreateRefused", create, "/v1/deals", "k1", "i-eur", strings.ReplaceAll(strings.Replace(dealBody(""), `,"shipping_fee":{"amount":1000,"currency":"JPY"}`, "", 1), "JPY", "EUR"))
	twice("Malformed", create, "/v1/deals", "k1", "i-bad", `{"title":`)
	post("NoScope", create, "/v1/deals", "ro", "i-ro", dealBody(""))
	d3 := post("AfterNoScope", create, "/v1/deals", "k1", "i-ro", dealBody(""))

	// d1: accept, pay, ship, receive, dispute, talk, review, resolve.
	id1 := id(d1, "id")
	step("Accept", "accept", id1, "k1", "i-acc", `{}`)
	step("AcceptAgain", "accept", id1, "k1", "i-acc-2", `{}`)
	const deposits = "POST /v1/deposits"
	twice("Deposit", deposits, "/v1/deposits", "admin", "i-dep", depositBody("b-1", id(d1, "payment_reference"), amountDue))
	post("DepositOtherBody", deposits, "/v1/deposits", "admin", "i-dep", depositBody("b-1x", id(d1, "payment_reference"), amountDue))
	twice("DepositAgain", deposits, "/v1/deposits", "admin", "i-dep-2", depositBody("b-1", id(d1, "payment_reference"), amountDue))
	twice("DepositConflict", deposits, "/v1/deposits", "admin", "i-dep-3", depositBody("b-1", id(d1, "payment_reference"), 1))
	step("Ship", "ship", id1, "k1", "i-ship", `{"carrier":"Yamato","tracking_number":"4512"}`)
	step("ShipInvalid", "ship", id1, "k1", "i-ship-bad", `{"carrier":"","tracking_number":"4512"}`)
	step("Receive", "confirm_receipt", id1, "k1", "i-rcv", `{}`)
	step("Dispute", "dispute", id1, "k1", "i-dsp", `{"reason":"cracked lens"}`)
	step("Message", "messages", id1, "k1", "i-msg", `{"body":"photos sent"}`)
	step("StaffMessage", "messages", id1, "admin", "i-msg-2", `{"body":"looking"}`)
	step("Review", "review", id1, "admin", "i-rev", `{"hold":true,"reasons":["new seller"]}`)
	step("ReviewInvalid", "review", id1, "admin", "i-rev-bad", `{"hold":false,"reasons":["x"]}`)
	split := `{"resolution":"split","buyer_amount":{"amount":20000,"currency":"JPY"},"note":"half"}`
	step("ResolveHeld", "resolve", id1, "admin", "i-res-held", split)
	step("ReviewCleared", "review", id1, "admin", "i-rev-clr", `{"hold":false}`)
	step("ResolveInvalid", "resolve", id1, "admin", "i-res-bad", `{"resolution":"refund","buyer_amount":{"amount":1,"currency":"JPY"}}`)
	step("Resolve", "resolve", id1, "admin", "i-res", split)

	// d3: declined; a second deal canceled while payment is awaited.
	step("Decline", "decline", id(d3, "id"), "k1", "i-dcl", `{}`)
	d4 := post("CreateToCancel", create, "/v1/deals", "k1", "i-d4", dealBody(""))
	step("AcceptToCancel", "accept", id(d4, "id"), "k1", "i-acc-4", `{}`)
	step("Cancel", "cancel", id(d4, "id"), "k1", "i-cnl", `{}`)

	// d5, in milestones: one released, then the rest approved.
	d5 := post("CreateMilestones", create, "/v1/deals", "k1", "i-d5", milestoneDealBody(""))
	id5 := id(d5, "id")
	step("AcceptMilestones", "accept", id5, "k1", "i-acc-5", `{}`)
	post("DepositMilestones", deposits, "/v1/deposits", "admin", "i-dep-5", depositBody("b-5", id(d5, "payment_reference"), amountDue))
	step("ReleaseMilestone", "release_milestone", id5, "k1", "i-rm", `{}`)
	step("ShipMilestones", "ship", id5, "k1", "i-ship-5", `{"carrier":"Yamato","tracking_number":"4513"}`)
	step("Approve", "approve", id5, "k1", "i-apr", `{}`)

	// Credits no deal took: one applied by hand, one cleared, one returned.
	d6 := post("CreateToApply", create, "/v1/deals", "k1", "i-d6", dealBody(""))
	step("AcceptToApply", "accept", id(d6, "id"), "k1", "i-acc-6", `{}`)
	const apply, clear, ret = "POST /v1/deposits/{id}/apply", "POST /v1/deposits/{id}/clear", "POST /v1/deposits/{id}/return"
	u1 := post("Unmatched1", deposits, "/v1/deposits", "admin", "i-u1", depositBody("b-u1", "", amountDue))
	u2 := post("Unmatched2", deposits, "/v1/deposits", "admin", "i-u2", depositBody("b-u2", "", 300))
	u3 := post("Unmatched3", deposits, "/v1/deposits", "admin", "i-u3", depositBody("b-u3", "", 400))
	onDeposit := func(st keyedStep, what string) string { return "/v1/deposits/" + id(st, "id") + "/" + what }
	twice("Apply", apply, onDeposit(u1, "apply"), "admin", "i-apl", `{"deal":"`+id(d6, "id")+`"}`)
	twice("ApplyAgain", apply, onDeposit(u1, "apply"), "admin", "i-apl-2", `{"deal":"`+id(d6, "id")+`"}`)
	twice("ApplyBadDeal", apply, onDeposit(u2, "apply"), "admin", "i-apl-bad", `{"deal":"pb_1"}`)
	twice("Clear", clear, onDeposit(u2, "clear"), "admin", "i-clr", `{"note":"the payer's bank recalled it"}`)
	twice("ClearAgain", clear, onDeposit(u2, "clear"), "admin", "i-clr-2", `{"note":"again"}`)
	twice("Return", ret, onDeposit(u3, "return"), "admin", "i-ret", `{"note":"sent back"}`)
	twice("ReturnAgain", ret, onDeposit(u3, "return"), "admin", "i-ret-2", `{"note":"again"}`)

	// The seller's bank account, and a payout batch of what d1 and d5 owe
	// them: one item returned, then the batch settled.
	const bank = "POST /v1/bank_accounts"
	twice("BankAccount", bank, "/v1/bank_accounts", "k1", "i-ba", bankAccountBody)
	post("BankAccountOtherBody", bank, "/v1/bank_accounts", "k1", "i-ba", strings.Replace(bankAccountBody, "7654321", "7654320", 1))
	twice("BankAccountNobody", bank, "/v1/bank_accounts", "k1", "i-ba-2", strings.Replace(bankAccountBody, "Seller@", "nobody@", 1))
	const batches = "POST /v1/payout_batches"
	build := `{"currency":"JPY","transfer_date":"` + h.clock.Now().UTC().AddDate(0, 0, 6).Format(time.DateOnly) + `"}`
	b := twice("Build", batches, "/v1/payout_batches", "admin", "i-pb", build)
	twice("BuildNothing", batches, "/v1/payout_batches", "admin", "i-pb-2", build)
	batch := "/v1/payout_batches/" + id(b, "id")
	const itemReturn, settle = "POST /v1/payout_batches/{id}/items/{item_id}/return", "POST /v1/payout_batches/{id}/settle"
	var built payoutBatchJSON
	if err := json.Unmarshal([]byte(b.raw), &built); err != nil || len(built.Items) == 0 {
		t.Fatalf("batch %s: %v", b.raw, err)
	}
	item := batch + "/items/" + built.Items[0].ID + "/return"
	twice("ItemReturn", itemReturn, item, "admin", "i-pir", `{"reason":"account closed"}`)
	twice("ItemReturnAgain", itemReturn, item, "admin", "i-pir-2", `{"reason":"again"}`)
	twice("Settle", settle, batch+"/settle", "admin", "i-stl", `{}`)
	twice("SettleAgain", settle, batch+"/settle", "admin", "i-stl-2", `{}`)

	// Concurrent duplicates of a deal without external_ref: one deal is
	// made, and every answer is it (or, on the generic path, 409 while the
	// first still runs).
	var wg sync.WaitGroup
	dups := make([]response, 8)
	for i := range dups {
		wg.Go(func() { dups[i] = h.do("POST", "/v1/deals", "k1", dealBody(""), "Idempotency-Key", "i-dup") })
	}
	wg.Wait()
	sameFirstAnswer(t, dups)
	list := h.want(h.do("GET", "/v1/deals?limit=100", "k1", ""), 200, "")
	s.steps = append(s.steps, keyedStep{name: "Deals", status: list.status, raw: strconv.Itoa(len(list.body["data"].([]any)))})
	return s.steps, s.routes
}

// TestKeyedEscrowAnswersAsTheGenericPath: the escrow routes that keep
// their Idempotency-Key in the change's transaction answer every request
// of escrowKeyScript as the generic path does (status, replay, problem
// code, content type, caching; replays byte for byte), reach every such
// route, never fall back to keeping the key afterwards, and make as many
// deals.
func TestKeyedEscrowAnswersAsTheGenericPath(t *testing.T) {
	var log errorLog
	keyed, routes := escrowKeyScript(t, newEscrowKeyHarness(t, false, &log, nil, nil))
	generic, _ := escrowKeyScript(t, newEscrowKeyHarness(t, true, &errorLog{}, nil, nil))
	byName := sameAsGeneric(t, keyed, generic, routes, escrowKeyedInTx, &log)
	for _, tc := range []struct {
		first  string
		status int
		code   string
	}{
		{"Create", 201, ""}, {"CreateSameRef", 201, ""}, {"CreateRefConflict", 409, "conflict"}, {"CreateNoRef", 201, ""},
		{"CreateRefused", 400, "invalid"}, {"Malformed", 400, "invalid"},
		{"Accept", 200, ""}, {"AcceptAgain", 409, "deal_state_conflict"},
		{"Deposit", 201, ""}, {"DepositAgain", 200, ""}, {"DepositConflict", 409, "conflict"},
		{"Ship", 200, ""}, {"ShipInvalid", 400, "invalid"}, {"Receive", 200, ""}, {"Dispute", 200, ""},
		{"Message", 201, ""}, {"StaffMessage", 201, ""}, {"Review", 200, ""}, {"ReviewInvalid", 400, "invalid"},
		{"ResolveHeld", 409, "review_hold"}, {"ReviewCleared", 200, ""}, {"ResolveInvalid", 400, "invalid"}, {"Resolve", 200, ""},
		{"Decline", 200, ""}, {"AcceptToCancel", 200, ""}, {"Cancel", 200, ""},
		{"AcceptMilestones", 200, ""}, {"ReleaseMilestone", 200, ""}, {"ShipMilestones", 200, ""}, {"Approve", 200, ""},
		{"Apply", 200, ""}, {"ApplyAgain", 409, "conflict"}, {"ApplyBadDeal", 400, "invalid"},
		{"Clear", 200, ""}, {"ClearAgain", 409, "conflict"}, {"Return", 200, ""}, {"ReturnAgain", 409, "conflict"},
		{"BankAccount", 200, ""}, {"BankAccountNobody", 404, "not_found"},
		{"Build", 201, ""}, {"BuildNothing", 404, "nothing_to_pay"},
		{"ItemReturn", 200, ""}, {"ItemReturnAgain", 409, "conflict"}, {"Settle", 200, ""}, {"SettleAgain", 409, "conflict"},
	} {
		first, replay := byName[tc.first], byName[tc.first+"Replay"]
		if first.status != tc.status || first.code != tc.code || first.replayed || !replay.replayed || replay.raw != first.raw {
			t.Errorf("%s then its retry: %d %q (replayed %v) then replayed %v, same bytes %v; want %d %q then its replay\n%s\n%s",
				tc.first, first.status, first.code, first.replayed, replay.replayed, replay.raw == first.raw, tc.status, tc.code, first.raw, replay.raw)
		}
	}
	for _, name := range []string{"CreateOtherBody", "DepositOtherBody", "BankAccountOtherBody"} {
		if s := byName[name]; s.status != 422 || s.code != idempotency.CodeKeyReused {
			t.Errorf("%s, a key reused with another body: %d %s", name, s.status, s.raw)
		}
	}
	if s := byName["NoScope"]; s.status != 403 || byName["AfterNoScope"].status != 201 {
		t.Errorf("a key without the scope: %d, then with it: %d", s.status, byName["AfterNoScope"].status)
	}
	if same, first := byName["CreateSameRef"], byName["Create"]; same.raw != first.raw {
		t.Errorf("the external_ref repeated answers another deal:\n%s\n%s", same.raw, first.raw)
	}
	// d1, d2 (no external_ref), d3, d4, d5, d6 and the duplicates' one.
	if n := byName["Deals"].raw; n != "7" {
		t.Errorf("%s deals, want 7", n)
	}
}

// errAfterCommit is a node's failure after its transaction committed.
var errAfterCommit = errors.New("simulated: the node failed after COMMIT, before answering")

// crashAfterCommit is an escrow store whose next transaction, once armed,
// commits and then fails: with an error (the request answers 5xx), or by
// aborting the request (the node died: the client gets no answer and
// nothing after the commit runs).
type crashAfterCommit struct {
	*sqlite.DB
	armed atomic.Bool
	abort bool
}

func (s *crashAfterCommit) EscrowTransact(ctx context.Context, fn func(escrow.Tx) error) error {
	if err := s.DB.EscrowTransact(ctx, fn); err != nil || !s.armed.CompareAndSwap(true, false) {
		return err
	}
	if s.abort {
		panic(http.ErrAbortHandler)
	}
	return errAfterCommit
}

// TestKeyedEscrowCrashAfterCommit: a request whose change committed but
// whose node failed before answering is retried with its key. Kept in the
// change's transaction, the retry replays the change's answer and nothing
// runs twice: one deal, and the step's own 200. On the generic path
// (keyedInTx nil) the retry runs the request again: a second deal (at
// once after a 5xx, which gives the claim back; after
// idempotency.ClaimTimeout when the node died holding it), and
// deal_state_conflict for the step.
func TestKeyedEscrowCrashAfterCommit(t *testing.T) {
	for _, abort := range []bool{false, true} {
		for _, generic := range []bool{false, true} {
			name := map[bool]string{false: "Keyed", true: "Generic"}[generic] + map[bool]string{false: "ErrorAfterCommit", true: "DiedAfterCommit"}[abort]
			t.Run(name, func(t *testing.T) { crashAfterCommitCase(t, generic, abort) })
		}
	}
}

func crashAfterCommitCase(t *testing.T, generic, abort bool) {
	var st *crashAfterCommit
	skew := &atomic.Int64{}
	h := newEscrowKeyHarness(t, generic, &errorLog{}, func(db *sqlite.DB) escrow.Store {
		st = &crashAfterCommit{DB: db, abort: abort}
		return st
	}, skew)
	// crashed sends a request whose transaction fails after its commit and
	// returns its answer, if there is one.
	crashed := func(path, idem, body string) *response {
		t.Helper()
		st.armed.Store(true)
		req, err := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer k1")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", idem)
		// A connection of its own: Go's client sends a request with an
		// Idempotency-Key again by itself when a reused connection breaks.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := client.Do(req)
		if err != nil {
			if !abort {
				t.Fatal(err)
			}
			return nil // no answer: the node died
		}
		res.Body.Close()
		if abort {
			t.Fatalf("a request whose node died answered %d", res.StatusCode)
		}
		return &response{status: res.StatusCode, header: res.Header}
	}
	// retry sends the request again as its client would, after the claim
	// of a node that died is taken over if it has to be.
	retry := func(path, idem, body string) response {
		t.Helper()
		r := h.do("POST", path, "k1", body, "Idempotency-Key", idem)
		if r.status == 409 && r.body["code"] == idempotency.CodeKeyInUse && generic && abort {
			skew.Store(int64(idempotency.ClaimTimeout + time.Minute))
			defer skew.Store(0)
			r = h.do("POST", path, "k1", body, "Idempotency-Key", idem)
		}
		return r
	}
	deals := func() int {
		t.Helper()
		return len(h.want(h.do("GET", "/v1/deals", "k1", ""), 200, "").body["data"].([]any))
	}

	first := crashed("/v1/deals", "k-create", dealBody(""))
	again := retry("/v1/deals", "k-create", dealBody(""))
	n := deals()
	switch {
	case generic:
		if first != nil && first.status != 500 {
			t.Errorf("the failed request answered %d, want 500", first.status)
		}
		if again.status != 201 || again.header.Get("Idempotent-Replayed") != "" || n != 2 {
			t.Fatalf("generic retry: %d (replayed %q), %d deals; want the request run again, 2 deals: %s",
				again.status, again.header.Get("Idempotent-Replayed"), n, again.raw)
		}
	default:
		// Keeping the 500 afterwards finds the record kept with the change:
		// even the failed request answers the deal it made.
		if first != nil && (first.status != 201 || first.header.Get("Idempotent-Replayed") != "true") {
			t.Errorf("the failed request answered %d (replayed %q), want the kept 201", first.status, first.header.Get("Idempotent-Replayed"))
		}
		if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || n != 1 {
			t.Fatalf("keyed retry: %d (replayed %q), %d deals; want the kept 201 replayed, 1 deal: %s",
				again.status, again.header.Get("Idempotent-Replayed"), n, again.raw)
		}
	}

	accept := "/v1/deals/" + again.body["id"].(string) + "/accept"
	crashed(accept, "k-accept", `{}`)
	again = retry(accept, "k-accept", `{}`)
	want, replayed, code := 200, "true", ""
	if generic {
		want, replayed, code = 409, "", "deal_state_conflict"
	}
	if c, _ := again.body["code"].(string); again.status != want || again.header.Get("Idempotent-Replayed") != replayed || c != code {
		t.Errorf("the step's retry: %d %q (replayed %q), want %d %q (replayed %q): %s", again.status, c,
			again.header.Get("Idempotent-Replayed"), want, code, replayed, again.raw)
	}
	if !generic && again.body["state"] != string(escrow.StateAwaitingPayment) {
		t.Errorf("the step's replay: %s", again.raw)
	}
}
