package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/clock"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// keys is the HTTP edge's stand-in for auth.Service: secret → principal.
type keys map[string]auth.Principal

func (k keys) Authenticate(_ context.Context, secret string) (auth.Principal, error) {
	if p, ok := k[secret]; ok {
		return p, nil
	}
	return auth.Principal{}, &apperr.Error{Code: auth.CodeUnauthenticated, Message: "unknown key"}
}

type harness struct {
	t     *testing.T
	srv   *httptest.Server
	db    *sqlite.DB    // for what no endpoint writes, such as webhook attempts
	clock *clock.Offset // escrow's test clock, also moved by /v1/test_clock
}

// harnessPayTo is the escrow payment instructions' bank account in tests.
const harnessPayTo = "Kinko Test Bank 001 / 100 / 1234567"

// openLedger opens a fresh SQLite store and a ledger engine with cfg on it
// (events rendered by EventEncoder) and configures the asset JPY; both
// close when the test ends.
func openLedger(t *testing.T, cfg ledger.Config) (*sqlite.DB, *ledger.Engine) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kinko.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Events = EventEncoder{}
	e := ledger.NewEngine(db, cfg)
	t.Cleanup(e.Close)
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	return db, e
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	// As kinko serve does: escrow's accounts move only through escrow.
	db, e := openLedger(t, ledger.Config{Managed: escrow.ManagesAccount})
	all := []auth.Scope{"accounts:write", "transfers:write", "assets:read", "events:read", "webhooks:write", "escrow:write"}
	tc := &clock.Offset{}
	deals := escrow.NewService(escrow.Config{Store: db, Ledger: e, Clock: tc.Now, PayTo: harnessPayTo, Events: EventEncoder{EscrowPayTo: harnessPayTo}})
	srv := httptest.NewServer(New(Config{Ledger: e, Idempotency: idempotency.NewService(db, nil), Events: event.NewService(db), Webhooks: webhook.NewService(db, db, nil),
		Escrow: deals, EscrowPayTo: harnessPayTo, TestClock: tc, Auth: keys{
			"k1":       {OrgID: "org_1", KeyID: "key_1", Scopes: all},
			"k2":       {OrgID: "org_2", KeyID: "key_2", Scopes: all},
			"readonly": {OrgID: "org_1", KeyID: "key_3", Scopes: []auth.Scope{"accounts:read", "transfers:read", "events:read", "webhooks:read"}},
			"admin":    {OrgID: "org_operator", KeyID: "key_0", Scopes: []auth.Scope{auth.ScopeAdmin}},
			"ledger":   {OrgID: "org_1", KeyID: "key_4", Scopes: []auth.Scope{"accounts:write", "transfers:write"}},
			"dealread": {OrgID: "org_1", KeyID: "key_5", Scopes: []auth.Scope{"escrow:read"}},
		}}))
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, db: db, clock: tc}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) do(method, path, key, body string, hdr ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return response{status: res.StatusCode, header: res.Header, body: m, raw: string(raw)}
}

// want fails unless r has the status and, for errors, the problem code.
func (h *harness) want(r response, status int, code string) response {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if code != "" {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			h.t.Fatalf("content type %q, want application/problem+json", ct)
		}
		if r.body["code"] != code || r.body["status"] != float64(status) || r.body["type"] == "" || r.body["title"] == "" || r.body["request_id"] == "" {
			h.t.Fatalf("problem %s, want code %s", r.raw, code)
		}
	}
	return r
}

func (h *harness) account(key, ref string, extra string) string {
	h.t.Helper()
	r := h.want(h.do("POST", "/v1/accounts", key, `{"reference":"`+ref+`","currency":"JPY"`+extra+`}`), 201, "")
	return r.body["id"].(string)
}

func TestAuthAndErrors(t *testing.T) {
	h := newHarness(t)
	t.Run("ErrNoKey", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/accounts", "", ""), 401, "unauthenticated")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate header")
		}
	})
	h.want(h.do("GET", "/v1/accounts", "wrong", ""), 401, "unauthenticated")
	h.want(h.do("GET", "/v1/accounts", "", "", "Authorization", "bearer k1"), 200, "") // the scheme's case does not matter
	h.want(h.do("GET", "/v1/accounts", "", "", "Authorization", "Basic k1"), 401, "unauthenticated")
	t.Run("RequestIDEchoed", func(t *testing.T) {
		r := h.do("GET", "/v1/accounts", "k1", "", "X-Request-Id", "abc-123")
		if r.header.Get("X-Request-Id") != "abc-123" {
			t.Fatalf("X-Request-Id = %q", r.header.Get("X-Request-Id"))
		}
		r = h.do("GET", "/v1/nope", "k1", "", "X-Request-Id", "bad id with spaces")
		if id := r.header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") || r.body["request_id"] != id {
			t.Fatalf("generated id %q, body %s", id, r.raw)
		}
	})
	h.want(h.do("GET", "/v1/nope", "k1", ""), 404, "route_not_found")
	h.want(h.do("POST", "/v1/accounts", "readonly", `{"reference":"r","currency":"JPY"}`), 403, "forbidden")
	t.Run("ErrUnknownFieldNamesParam", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"r","currency":"JPY","colour":"red"}`), 400, "invalid")
		if r.body["param"] != "colour" {
			t.Fatalf("param = %v", r.body["param"])
		}
	})
	t.Run("ErrNotIJSON", func(t *testing.T) {
		// A name twice: refused, naming it, not the last one taken.
		r := h.want(h.do("POST", "/v1/transfers", "k1", `{"reference":"d","debit_account":"acc_1","credit_account":"acc_2","amount":{"amount":1,"currency":"JPY","amount":500000}}`), 400, "invalid")
		if r.body["param"] != "amount.amount" || !strings.Contains(r.body["detail"].(string), "twice") {
			t.Fatalf("a name given twice: %s", r.raw)
		}
		// Text that is not UTF-8 would read as U+FFFD: two references alike.
		r = h.want(h.do("POST", "/v1/accounts", "k1", "{\"reference\":\"\xff\xfe\",\"currency\":\"JPY\"}"), 400, "invalid")
		if !strings.Contains(r.body["detail"].(string), "UTF-8") {
			t.Fatalf("invalid UTF-8: %s", r.raw)
		}
		for _, body := range []string{`null`, `[1]`, `"x"`} {
			r := h.want(h.do("POST", "/v1/accounts", "k1", body), 400, "invalid")
			if !strings.Contains(r.body["detail"].(string), "one JSON object") {
				t.Fatalf("body %s: %s", body, r.raw)
			}
		}
		h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":`), 400, "invalid")
	})
	t.Run("ErrNestedUnknownFieldNamesItsPlace", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/transfers", "k1", `{"reference":"n","debit_account":"acc_1","credit_account":"acc_2","amount":{"amount":1,"currency":"JPY","x":1}}`), 400, "invalid")
		if r.body["param"] != "amount.x" {
			t.Fatalf("param = %v: %s", r.body["param"], r.raw)
		}
	})
	t.Run("ErrWrongTypeNamesParam", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"r","currency":"JPY","limit":"5"}`), 400, "invalid")
		if r.body["param"] != "limit" {
			t.Fatalf("param = %v: %s", r.body["param"], r.raw)
		}
	})
	t.Run("ErrUnknownQueryParamNamesParam", func(t *testing.T) {
		// A misspelled filter is refused, not dropped: the caller would
		// otherwise read every transfer instead of the ones it asked for.
		r := h.want(h.do("GET", "/v1/transfers?limit=2&created_gt=2026-01-01T00:00:00Z", "k1", ""), 400, "invalid")
		if r.body["param"] != "created_gt" || !strings.Contains(r.body["detail"].(string), "created_gte") {
			t.Fatalf("param = %v, detail %v", r.body["param"], r.body["detail"])
		}
		r = h.want(h.do("GET", "/v1/assets?limit=1", "k1", ""), 400, "invalid")
		if r.body["param"] != "limit" || !strings.Contains(r.body["detail"].(string), "takes none") {
			t.Fatalf("param = %v, detail %v", r.body["param"], r.body["detail"])
		}
		h.want(h.do("GET", "/v1/transfers?limit=2&created_gte=2026-01-01T00:00:00Z", "k1", ""), 200, "")
		h.want(h.do("GET", "/v1/nope?x=1", "k1", ""), 404, "route_not_found")
		h.want(h.do("GET", "/v1/openapi.yaml?x=1", "", ""), 400, "invalid")
		// What the query parser would drop unseen is refused too.
		h.want(h.do("GET", "/v1/transfers?created_gte=2026-01-01T00:00:00Z;", "k1", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/transfers?created_gt%zz=1", "k1", ""), 400, "invalid")
	})
	h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"r"} {"x":1}`), 400, "invalid")
	h.want(h.do("POST", "/v1/accounts", "k1", `{`), 400, "invalid")
	h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"`+strings.Repeat("x", BodyBytesMax)+`"}`), 413, "body_too_large")
	t.Run("ErrFormPost", func(t *testing.T) {
		h.want(h.do("POST", "/v1/accounts", "k1", "", "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type")
	})
	h.want(h.do("POST", "/v1/assets", "k1", `{"code":"USD","scale":2}`), 403, "forbidden")
	h.want(h.do("POST", "/v1/assets", "admin", `{"code":"USD","scale":2}`), 200, "")
	h.want(h.do("POST", "/v1/assets", "admin", `{"code":"USD","scale":3}`), 409, "conflict")
	r := h.want(h.do("GET", "/v1/assets", "k1", ""), 200, "")
	if len(r.body["data"].([]any)) != 2 {
		t.Fatalf("assets %s", r.raw)
	}
}

func TestAccountsAndIsolation(t *testing.T) {
	h := newHarness(t)
	id := h.account("k1", "wallet", `,"debits_must_not_exceed_credits":true,"limit":100`)
	t.Run("OKReplay", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"wallet","currency":"JPY","debits_must_not_exceed_credits":true,"limit":100}`), 200, "")
		if r.body["id"] != id {
			t.Fatalf("replay id %v, want %s", r.body["id"], id)
		}
	})
	t.Run("ErrConflictNamesParam", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"wallet","currency":"JPY","debits_must_not_exceed_credits":true,"limit":5}`), 409, "conflict")
		if r.body["param"] != "limit" {
			t.Fatalf("param = %v", r.body["param"])
		}
	})
	t.Run("ErrUnknownCurrency", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"x","currency":"EUR"}`), 400, "invalid")
		if r.body["param"] != "currency" {
			t.Fatalf("param = %v", r.body["param"])
		}
	})
	t.Run("OtherOrgLooksLikeMissing", func(t *testing.T) {
		mine := h.want(h.do("GET", "/v1/accounts/"+id, "k2", ""), 404, "not_found")
		none := h.want(h.do("GET", "/v1/accounts/acc_999999999", "k2", ""), 404, "not_found")
		if mine.body["detail"] != none.body["detail"] {
			t.Fatalf("details differ: %v vs %v", mine.body["detail"], none.body["detail"])
		}
		h.want(h.do("GET", "/v1/accounts/tr_5", "k1", ""), 404, "not_found")
		r := h.want(h.do("GET", "/v1/accounts", "k2", ""), 200, "")
		if len(r.body["data"].([]any)) != 0 {
			t.Fatalf("org_2 lists org_1's accounts: %s", r.raw)
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		for _, ref := range []string{"a", "b", "c", "d"} {
			h.account("k1", ref, "")
		}
		var seen []string
		after := ""
		for {
			r := h.want(h.do("GET", "/v1/accounts?limit=2"+after, "k1", ""), 200, "")
			for _, a := range r.body["data"].([]any) {
				seen = append(seen, a.(map[string]any)["id"].(string))
			}
			if r.body["has_more"] != true {
				break
			}
			after = "&starting_after=" + seen[len(seen)-1]
		}
		if len(seen) != 5 {
			t.Fatalf("paged %v, want 5 accounts", seen)
		}
		h.want(h.do("GET", "/v1/accounts?limit=0", "k1", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/accounts?starting_after=x", "k1", ""), 400, "invalid")
	})
}

func TestTransfers(t *testing.T) {
	h := newHarness(t)
	src := h.account("k1", "src", "")
	wallet := h.account("k1", "wallet", `,"debits_must_not_exceed_credits":true`)
	shop := h.account("k1", "shop", "")
	body := func(ref, dr, cr string, amount int, extra string) string {
		return `{"reference":"` + ref + `","debit_account":"` + dr + `","credit_account":"` + cr + `","amount":{"amount":` + strconv.Itoa(amount) + `,"currency":"JPY"}` + extra + `}`
	}
	fund := h.want(h.do("POST", "/v1/transfers", "k1", body("fund", src, wallet, 100, "")), 201, "")
	if fund.body["kind"] != "immediate" || fund.body["amount"].(map[string]any)["amount"] != 100.0 {
		t.Fatalf("transfer %s", fund.raw)
	}
	t.Run("OKReplayAndConflict", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/transfers", "k1", body("fund", src, wallet, 100, "")), 200, "")
		if r.body["id"] != fund.body["id"] {
			t.Fatalf("replay %s", r.raw)
		}
		r = h.want(h.do("POST", "/v1/transfers", "k1", body("fund", src, wallet, 101, "")), 409, "exists_with_different_amount")
		if r.body["param"] != "amount" || r.body["detail"] == "" {
			t.Fatalf("conflicting retry: %s", r.raw)
		}
	})
	h.want(h.do("POST", "/v1/transfers", "k1", body("too-much", wallet, shop, 101, "")), 422, "insufficient_funds")
	if r := h.want(h.do("POST", "/v1/transfers", "k2", body("theirs", src, wallet, 1, "")), 404, "debit_account_not_found"); r.body["param"] != "debit_account" {
		t.Fatalf("another organization's account: %s", r.raw)
	}
	h.want(h.do("POST", "/v1/transfers", "k1", `{"reference":"x","debit_account":"`+src+`","credit_account":"`+shop+`","amount":{"amount":1.5,"currency":"JPY"}}`), 400, "invalid")
	t.Run("PendingPostVoid", func(t *testing.T) {
		p := h.want(h.do("POST", "/v1/transfers", "k1", body("hold", wallet, shop, 60, `,"kind":"pending","timeout_seconds":3600`)), 201, "")
		if p.body["timeout_at"] == nil {
			t.Fatalf("pending %s", p.raw)
		}
		pid := p.body["id"].(string)
		h.want(h.do("POST", "/v1/transfers", "k1", body("more", wallet, shop, 41, "")), 422, "insufficient_funds")
		// An explicit 0 is refused: "all of it" is an absent amount.
		zero := h.want(h.do("POST", "/v1/transfers/"+pid+"/post", "k1", `{"reference":"capture","amount":{"amount":0,"currency":"JPY"}}`), 422, "amount_must_be_positive")
		if zero.body["param"] != "amount" {
			t.Fatalf("post of 0: %s", zero.raw)
		}
		post := h.want(h.do("POST", "/v1/transfers/"+pid+"/post", "k1", `{"reference":"capture","amount":{"amount":50,"currency":"JPY"}}`), 201, "")
		if post.body["pending_transfer"] != pid || post.body["amount"].(map[string]any)["amount"] != 50.0 {
			t.Fatalf("post %s", post.raw)
		}
		h.want(h.do("POST", "/v1/transfers/"+pid+"/void", "k1", `{"reference":"void"}`), 422, "pending_transfer_already_posted")
		h.want(h.do("POST", "/v1/transfers/"+pid+"/void", "k2", `{"reference":"void"}`), 404, "pending_transfer_not_found")
		bal := h.want(h.do("GET", "/v1/accounts/"+wallet+"/balance", "k1", ""), 200, "")
		if bal.body["debits_posted"] != 50.0 || bal.body["credits_posted"] != 100.0 || bal.body["debits_pending"] != 0.0 {
			t.Fatalf("balance %s", bal.raw)
		}
		past := h.want(h.do("GET", "/v1/accounts/"+wallet+"/balance?at="+fund.body["created_at"].(string), "k1", ""), 200, "")
		if past.body["credits_posted"] != 100.0 || past.body["debits_posted"] != 0.0 {
			t.Fatalf("balance at %s", past.raw)
		}
		for _, at := range []string{"yesterday", "", "2999-01-01T00:00:00Z", "0001-01-01T00:00:00Z", fund.body["created_at"].(string) + "&at=2026-01-01T00:00:00Z"} {
			h.want(h.do("GET", "/v1/accounts/"+wallet+"/balance?at="+at, "k1", ""), 400, "invalid")
		}
	})
	t.Run("Batch", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/transfers/batch", "k1", `{"transfers":[`+
			body("b1", src, shop, 5, `,"linked":true`)+`,`+
			body("b2", wallet, shop, 1000, "")+`,`+
			body("b3", src, shop, 7, "")+`]}`), 200, "")
		data := r.body["data"].([]any)
		st := func(i int) float64 { return data[i].(map[string]any)["status"].(float64) }
		code := func(i int) any { return data[i].(map[string]any)["error"].(map[string]any)["code"] }
		if st(0) != 422 || code(0) != "linked_event_failed" || st(1) != 422 || code(1) != "insufficient_funds" || st(2) != 201 {
			t.Fatalf("batch %s", r.raw)
		}
		r = h.want(h.do("POST", "/v1/transfers/batch", "k1", `{"transfers":[`+body("b4", src, shop, 1, "")+`,`+body("b5", src, "acc_999999", 1, "")+`]}`), 200, "")
		item := r.body["data"].([]any)[1].(map[string]any)["error"].(map[string]any)
		if item["code"] != "credit_account_not_found" || item["param"] != "transfers[1].credit_account" || item["detail"] == nil {
			t.Fatalf("a batch item's problem names no field: %s", r.raw)
		}
		h.want(h.do("POST", "/v1/transfers/batch", "k1", `{"transfers":[{"reference":"x","colour":1}]}`), 400, "invalid")
		h.want(h.do("POST", "/v1/transfers/batch", "k1", `{"transfers":[]}`), 400, "invalid")
	})
	t.Run("ListWithFilters", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/transfers?kind=pending", "k1", ""), 200, "")
		data := r.body["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["kind"] != "pending" {
			t.Fatalf("pending transfers %s", r.raw)
		}
		r = h.want(h.do("GET", "/v1/transfers?account="+shop+"&limit=2", "k1", ""), 200, "")
		if len(r.body["data"].([]any)) != 2 || r.body["has_more"] != true {
			t.Fatalf("shop's transfers %s", r.raw)
		}
		if r := h.want(h.do("GET", "/v1/transfers", "k2", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("org_2 lists org_1's transfers: %s", r.raw)
		}
		h.want(h.do("GET", "/v1/transfers?kind=refund", "k1", ""), 400, "invalid")
		h.want(h.do("GET", "/v1/transfers?created_gte=soon", "k1", ""), 400, "invalid")
	})
	t.Run("History", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/accounts/"+wallet+"/transfers?limit=2", "k1", ""), 200, "")
		if len(r.body["data"].([]any)) != 2 || r.body["has_more"] != true {
			t.Fatalf("history %s", r.raw)
		}
		h.want(h.do("GET", "/v1/transfers/"+fund.body["id"].(string), "k1", ""), 200, "")
		h.want(h.do("GET", "/v1/transfers/"+fund.body["id"].(string), "k2", ""), 404, "not_found")
	})
}

func TestProblemForInternalErrorsHidesDetail(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{Auth: keys{}, Logger: newTestLogger(&logs)})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/accounts", nil)
	s.writeError(rec, req, io.ErrUnexpectedEOF)
	var p problem
	json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != 500 || p.Code != "internal" || p.ErrorID == "" || strings.Contains(rec.Body.String(), "unexpected EOF") {
		t.Fatalf("response %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), p.ErrorID) || !strings.Contains(logs.String(), "unexpected EOF") {
		t.Fatalf("log lacks the error id and cause: %s", logs.String())
	}
}

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	body := `{"reference":"acct-1","currency":"JPY"}`
	first := h.want(h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "idem-1"), 201, "")
	t.Run("OKReplayByteForByte", func(t *testing.T) {
		again := h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "idem-1")
		if again.status != 201 || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %d %q (replayed=%q), want 201 %q", again.status, again.raw, again.header.Get("Idempotent-Replayed"), first.raw)
		}
	})
	t.Run("ErrOtherBody", func(t *testing.T) {
		h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"acct-2","currency":"JPY"}`, "Idempotency-Key", "idem-1"), 422, "idempotency_key_reused")
	})
	t.Run("ErrorsAreKeptToo", func(t *testing.T) {
		bad := `{"reference":"x","currency":"EUR"}`
		r1 := h.want(h.do("POST", "/v1/accounts", "k1", bad, "Idempotency-Key", "idem-2"), 400, "invalid")
		r2 := h.do("POST", "/v1/accounts", "k1", bad, "Idempotency-Key", "idem-2")
		if r2.status != 400 || r2.raw != r1.raw {
			t.Fatalf("replayed error %d %s, want %s", r2.status, r2.raw, r1.raw)
		}
	})
	t.Run("KeysArePerOrganization", func(t *testing.T) {
		h.want(h.do("POST", "/v1/accounts", "k2", body, "Idempotency-Key", "idem-1"), 201, "")
	})
	t.Run("ErrKeyTooLong", func(t *testing.T) {
		h.want(h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", strings.Repeat("k", 256)), 400, "invalid")
	})
}

func TestEdgeRules(t *testing.T) {
	h := newHarness(t)
	id := h.account("k1", "a", "")
	t.Run("OnlyCanonicalIDs", func(t *testing.T) {
		n := strings.TrimPrefix(id, "acc_")
		h.want(h.do("GET", "/v1/accounts/acc_0"+n, "k1", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/accounts/acc_+"+n, "k1", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/accounts/"+id, "k1", ""), 200, "")
	})
	t.Run("ErrNotExactlyJSON", func(t *testing.T) {
		h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"b","currency":"JPY"}`, "Content-Type", "application/jsonx"), 415, "unsupported_media_type")
		h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"b","currency":"JPY"}`, "Content-Type", "application/json; charset=utf-8"), 201, "")
	})
	t.Run("ForbiddenIsNotKeptForTheKey", func(t *testing.T) {
		body := `{"reference":"c","currency":"JPY"}`
		h.want(h.do("POST", "/v1/accounts", "readonly", body, "Idempotency-Key", "idem-f"), 403, "forbidden")
		// Another key of the same organization, allowed to write, may use the key.
		r := h.want(h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "idem-f"), 201, "")
		if r.header.Get("Idempotent-Replayed") != "" {
			t.Fatal("the 403 was replayed")
		}
		again := h.want(h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "idem-f"), 201, "")
		if again.header.Get("Cache-Control") != "no-store" || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay headers %v", again.header)
		}
		// Nor is the kept response replayed to a key without the scope,
		// on the generic path or the ledger's and billing's keyed paths.
		h.want(h.do("POST", "/v1/accounts", "readonly", body, "Idempotency-Key", "idem-f"), 403, "forbidden")
		a, b := h.account("k1", "scope-a", ""), h.account("k1", "scope-b", "")
		tr := fmt.Sprintf(`{"reference":"scope-t","debit_account":%q,"credit_account":%q,"amount":{"amount":3,"currency":"JPY"}}`, a, b)
		h.want(h.do("POST", "/v1/transfers", "k1", tr, "Idempotency-Key", "idem-t"), 201, "")
		h.want(h.do("POST", "/v1/transfers", "readonly", tr, "Idempotency-Key", "idem-t"), 403, "forbidden")
		h.want(h.do("POST", "/v1/billing/reservations", "readonly", `{}`, "Idempotency-Key", "idem-b"), 403, "forbidden")
	})
}

func TestShuttingDownIs503(t *testing.T) {
	s := New(Config{Auth: keys{}})
	rec := httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest("POST", "/v1/transfers", nil), fmt.Errorf("submit: %w", ledger.ErrClosed))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestEveryPostRouteNeedsAScope: each POST route says what a key needs
// before its Idempotency-Key is looked at (postAuthority), so no kept
// response reaches a key that could not have made the request.
func TestEveryPostRouteNeedsAScope(t *testing.T) {
	s := New(Config{TestClock: &clock.Offset{}})
	for _, rt := range append(s.Routes(), s.PublicRoutes()...) {
		if rt.Method != "POST" {
			continue
		}
		if _, ok := postAuthority(rt.Method + " " + rt.Path); !ok {
			t.Errorf("POST %s has no entry in postAuthorities", rt.Path)
		}
	}
}

// completeFails is a store whose IdempotencyComplete fails n times.
type completeFails struct {
	idempotency.Store
	failures *atomic.Int32
}

func (s completeFails) IdempotencyComplete(ctx context.Context, rec idempotency.Record) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("injected: the response could not be stored")
	}
	return s.Store.IdempotencyComplete(ctx, rec)
}

// TestKeyKeptWhenStoringTheResponseFails: the change committed but its
// response could not be stored. A retry with the key must not run the
// change again: storing is tried again, and if it still fails the claim is
// kept (409 until it is taken over), never given back for a second run.
// The account route keeps its key in its transaction; the test takes it
// on the generic path, as the routes in keyedAfter are.
func TestKeyKeptWhenStoringTheResponseFails(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int32
		want     int
	}{{"OKRetriedAndStored", completeKeyTries - 1, 201}, {"ErrClaimKept", completeKeyTries, 409}} {
		t.Run(tc.name, func(t *testing.T) {
			db, e := openLedger(t, ledger.Config{})
			failures := &atomic.Int32{}
			failures.Store(tc.failures)
			s := New(Config{Ledger: e, Idempotency: idempotency.NewService(completeFails{db, failures}, nil),
				Auth: keys{"k1": {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"accounts:write"}}}})
			s.keyedInTx = nil
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			h := &harness{t: t, srv: srv, db: db}
			body := `{"reference":"r","currency":"JPY"}`
			first := h.want(h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "k"), 201, "")
			again := h.do("POST", "/v1/accounts", "k1", body, "Idempotency-Key", "k")
			if again.status != tc.want {
				t.Fatalf("retry: %d %s; want %d", again.status, again.raw, tc.want)
			}
			if tc.want == 201 && (again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true") {
				t.Fatalf("retry %s, want the first response replayed: %s", again.raw, first.raw)
			}
			if tc.want == 409 && again.body["code"] != "idempotency_key_in_use" {
				t.Fatalf("retry %s", again.raw)
			}
		})
	}
}

// TestEveryPostRouteKeepsItsKey: every POST route keeps its
// Idempotency-Key with its change (keyedInLedger, keyedInTx) or is listed
// in keyedAfter with the reason the generic path's window is harmless
// for it; no route is in two of them.
func TestEveryPostRouteKeepsItsKey(t *testing.T) {
	s := New(Config{TestClock: &clock.Offset{}})
	posts := map[string]bool{}
	for _, rt := range s.Routes() {
		if rt.Method != "POST" {
			continue
		}
		route := rt.Method + " " + rt.Path
		posts[route] = true
		n := 0
		for _, in := range []bool{keyedInLedger[route], keyedInTx[route], keyedAfter[route] != ""} {
			if in {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is in %d of keyedInLedger, keyedInTx and keyedAfter; want 1", route, n)
		}
	}
	for _, set := range []map[string]bool{keyedInLedger, keyedInTx} {
		for route := range set {
			if !posts[route] {
				t.Errorf("%s is listed but is not a POST route", route)
			}
		}
	}
	for route := range keyedAfter {
		if !posts[route] {
			t.Errorf("%s is in keyedAfter but is not a POST route", route)
		}
	}
}
