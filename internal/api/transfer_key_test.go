package api

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// newKeyHarness is newHarness with a fixed clock, so that two servers on two
// fresh databases given the same requests give the same ids and times; when
// generic is set, transfer routes keep keys on the generic path
// (serveIdempotent) as every other route does.
func newKeyHarness(t *testing.T, generic bool) *harness {
	t.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return at }
	db, e := openLedger(t, ledger.Config{Clock: clock})
	s := New(Config{Ledger: e, Idempotency: idempotency.NewService(db, clock), Auth: keys{
		"k1":       {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"accounts:write", "transfers:write"}},
		"readonly": {OrgID: "org_1", KeyID: "key_3", Scopes: []auth.Scope{"accounts:read", "transfers:read"}},
	}})
	if generic {
		s.keyedInLedger = nil
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, db: db}
}

// TestKeyedTransfersAnswerAsTheGenericPath sends one script of keyed and
// unkeyed requests to a server whose transfer routes keep keys in the ledger
// batch and to one that keeps them on the generic path: every response must
// be the same, byte for byte, headers included, so that clients cannot tell
// which path ran.
func TestKeyedTransfersAnswerAsTheGenericPath(t *testing.T) {
	body := func(ref, dr, cr string, amount int, extra string) string {
		return `{"reference":"` + ref + `","debit_account":"` + dr + `","credit_account":"` + cr + `","amount":{"amount":` + strconv.Itoa(amount) + `,"currency":"JPY"}` + extra + `}`
	}
	type step struct {
		name, method, path, key, body, idemKey string
	}
	script := func(src, wallet, shop string) []step {
		return []step{
			{"Fund", "POST", "/v1/transfers", "k1", body("fund", src, wallet, 100, ""), "i-fund"},
			{"FundReplay", "POST", "/v1/transfers", "k1", body("fund", src, wallet, 100, ""), "i-fund"},
			{"FundOtherBody", "POST", "/v1/transfers", "k1", body("fund-2", src, wallet, 100, ""), "i-fund"},
			{"SameReferenceOtherKey", "POST", "/v1/transfers", "k1", body("fund", src, wallet, 100, ""), "i-fund-again"},
			{"ReferenceConflict", "POST", "/v1/transfers", "k1", body("fund", src, wallet, 101, ""), "i-conflict"},
			{"Rejected", "POST", "/v1/transfers", "k1", body("big", wallet, shop, 1000, ""), "i-big"},
			{"TopUp", "POST", "/v1/transfers", "k1", body("top-up", src, wallet, 5000, ""), ""},
			{"RejectedReplayed", "POST", "/v1/transfers", "k1", body("big", wallet, shop, 1000, ""), "i-big"},
			{"Malformed", "POST", "/v1/transfers", "k1", `{"reference":"x","amount":{"amount":1.5,"currency":"JPY"}}`, "i-bad"},
			{"MalformedReplayed", "POST", "/v1/transfers", "k1", `{"reference":"x","amount":{"amount":1.5,"currency":"JPY"}}`, "i-bad"},
			{"Forbidden", "POST", "/v1/transfers", "readonly", body("ro", src, wallet, 1, ""), "i-ro"},
			{"AfterForbidden", "POST", "/v1/transfers", "k1", body("ro", src, wallet, 1, ""), "i-ro"},
			{"Pending", "POST", "/v1/transfers", "k1", body("hold", wallet, shop, 60, `,"kind":"pending","timeout_seconds":3600`), "i-hold"},
			{"Post", "POST", "/v1/transfers/{pending}/post", "k1", `{"reference":"capture","amount":{"amount":50,"currency":"JPY"}}`, "i-post"},
			{"PostReplayed", "POST", "/v1/transfers/{pending}/post", "k1", `{"reference":"capture","amount":{"amount":50,"currency":"JPY"}}`, "i-post"},
			{"VoidAfterPost", "POST", "/v1/transfers/{pending}/void", "k1", `{"reference":"void"}`, "i-void"},
			{"VoidReplayed", "POST", "/v1/transfers/{pending}/void", "k1", `{"reference":"void"}`, "i-void"},
			{"Batch", "POST", "/v1/transfers/batch", "k1", `{"transfers":[` + body("b1", src, shop, 5, `,"linked":true`) + `,` +
				body("b2", wallet, shop, 100000, "") + `,` + body("b3", src, shop, 7, "") + `]}`, "i-batch"},
			{"BatchReplayed", "POST", "/v1/transfers/batch", "k1", `{"transfers":[` + body("b1", src, shop, 5, `,"linked":true`) + `,` +
				body("b2", wallet, shop, 100000, "") + `,` + body("b3", src, shop, 7, "") + `]}`, "i-batch"},
			{"BatchMalformed", "POST", "/v1/transfers/batch", "k1", `{"transfers":[]}`, "i-batch-bad"},
			{"KeyTooLong", "POST", "/v1/transfers", "k1", body("long", src, wallet, 1, ""), strings.Repeat("k", 256)},
		}
	}
	run := func(h *harness) []response {
		src := h.account("k1", "src", "")
		wallet := h.account("k1", "wallet", `,"debits_must_not_exceed_credits":true`)
		shop := h.account("k1", "shop", "")
		var out []response
		pending := ""
		for i, s := range script(src, wallet, shop) {
			hdr := []string{"X-Request-Id", "req-" + strconv.Itoa(i)}
			if s.idemKey != "" {
				hdr = append(hdr, "Idempotency-Key", s.idemKey)
			}
			r := h.do(s.method, strings.Replace(s.path, "{pending}", pending, 1), s.key, s.body, hdr...)
			if s.name == "Pending" {
				pending, _ = r.body["id"].(string)
			}
			out = append(out, r)
		}
		return out
	}
	generic, ledgerPath := run(newKeyHarness(t, true)), run(newKeyHarness(t, false))
	for i, s := range script("", "", "") {
		g, l := generic[i], ledgerPath[i]
		if g.status != l.status || g.raw != l.raw {
			t.Errorf("%s: generic path %d %s, ledger path %d %s", s.name, g.status, g.raw, l.status, l.raw)
		}
		for _, hdr := range []string{"Content-Type", "Cache-Control", "Idempotent-Replayed", "X-Request-Id"} {
			if g.header.Get(hdr) != l.header.Get(hdr) {
				t.Errorf("%s: %s %q on the generic path, %q on the ledger path", s.name, hdr, g.header.Get(hdr), l.header.Get(hdr))
			}
		}
	}
	// The script itself means what it says.
	for i, want := range map[int]int{0: 201, 1: 201, 2: 422, 3: 200, 4: 409, 5: 422, 7: 422, 8: 400, 9: 400, 10: 403, 11: 201, 13: 201, 14: 201, 15: 422, 17: 200, 18: 200, 19: 400, 20: 400} {
		if ledgerPath[i].status != want {
			t.Errorf("step %d: status %d, want %d: %s", i, ledgerPath[i].status, want, ledgerPath[i].raw)
		}
	}
	if ledgerPath[1].header.Get("Idempotent-Replayed") != "true" || ledgerPath[7].header.Get("Idempotent-Replayed") != "true" {
		t.Error("replays are not marked Idempotent-Replayed")
	}
}

// TestKeyedTransferInLedger checks what only the ledger path does: one
// record per key, written with the transfer; a key held by another route's
// unfinished claim is 409 with nothing applied; an abandoned claim is taken
// over through the generic path.
func TestKeyedTransferInLedger(t *testing.T) {
	h := newHarness(t)
	src := h.account("k1", "src", "")
	shop := h.account("k1", "shop", "")
	body := func(ref string) string {
		return `{"reference":"` + ref + `","debit_account":"` + src + `","credit_account":"` + shop + `","amount":{"amount":1,"currency":"JPY"}}`
	}
	svc := idempotency.NewService(h.db, nil)
	t.Run("OKRecordKeptWithTheTransfer", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/transfers", "k1", body("a"), "Idempotency-Key", "ik-a"), 201, "")
		rec, err := svc.Lookup(context.Background(), "org_1", "ik-a")
		if err != nil || rec == nil || !rec.Done || rec.Status != 201 || string(rec.Body) != r.raw || rec.ContentType != "application/json" {
			t.Fatalf("record %+v, %v; want the response %s", rec, err, r.raw)
		}
		again := h.want(h.do("POST", "/v1/transfers", "k1", body("a"), "Idempotency-Key", "ik-a"), 201, "")
		if again.raw != r.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %s (replayed=%q), want %s", again.raw, again.header.Get("Idempotent-Replayed"), r.raw)
		}
	})
	t.Run("ErrInUseAppliesNothing", func(t *testing.T) {
		hash := idempotency.Hash("POST", "/v1/accounts", []byte(`{}`))
		if rec, err := svc.Begin(context.Background(), "org_1", "ik-busy", hash); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		h.want(h.do("POST", "/v1/transfers", "k1", body("busy"), "Idempotency-Key", "ik-busy"), 422, "idempotency_key_reused")
		// The same request as the claim's: in use.
		if rec, err := svc.Begin(context.Background(), "org_1", "ik-busy-2", idempotency.Hash("POST", "/v1/transfers", []byte(body("busy")))); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		h.want(h.do("POST", "/v1/transfers", "k1", body("busy"), "Idempotency-Key", "ik-busy-2"), 409, "idempotency_key_in_use")
		// Nothing was applied: without a key, "busy" is new.
		h.want(h.do("POST", "/v1/transfers", "k1", body("busy")), 201, "")
	})
	t.Run("OKConcurrentDuplicates", func(t *testing.T) {
		// Sent together: one applies (201); each other is 409 in use (it
		// came with the first) or, arriving after the first committed, its
		// replay; one transfer either way.
		const n = 16
		out := make([]response, n)
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				out[i] = h.do("POST", "/v1/transfers", "k1", body("together"), "Idempotency-Key", "ik-together")
			})
		}
		wg.Wait()
		var applied []string
		for _, r := range out {
			if r.status == 201 && r.header.Get("Idempotent-Replayed") == "" {
				applied = append(applied, r.raw)
			}
		}
		if len(applied) != 1 {
			t.Fatalf("%d requests applied the transfer, want 1", len(applied))
		}
		for _, r := range out {
			replay := r.status == 201 && r.header.Get("Idempotent-Replayed") == "true" && r.raw == applied[0]
			if r.raw != applied[0] && !replay && !(r.status == 409 && r.body["code"] == "idempotency_key_in_use") {
				t.Fatalf("a concurrent duplicate got %d %s", r.status, r.raw)
			}
		}
		h.want(h.do("POST", "/v1/transfers", "k1", body("together")), 200, "") // the reference exists once
	})
	t.Run("OKAbandonedClaimTakenOver", func(t *testing.T) {
		old := idempotency.NewService(h.db, func() time.Time { return time.Now().Add(-idempotency.ClaimTimeout - time.Minute) })
		if rec, err := old.Begin(context.Background(), "org_1", "ik-old", []byte("crashed")); err != nil || rec != nil {
			t.Fatal(rec, err)
		}
		r := h.want(h.do("POST", "/v1/transfers", "k1", body("old"), "Idempotency-Key", "ik-old"), 201, "")
		again := h.want(h.do("POST", "/v1/transfers", "k1", body("old"), "Idempotency-Key", "ik-old"), 201, "")
		if again.raw != r.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay after takeover %s, want %s", again.raw, r.raw)
		}
	})
}
