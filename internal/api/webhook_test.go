package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// endpoint registers a webhook endpoint for key and returns its id.
func (h *harness) endpoint(key, url, types string) string {
	h.t.Helper()
	r := h.want(h.do("POST", "/v1/webhook_endpoints", key, `{"url":"`+url+`","event_types":`+types+`}`), 201, "")
	return r.body["id"].(string)
}

func numericID(t *testing.T, prefix, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimPrefix(id, prefix), 10, 64)
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	return n
}

func TestWebhookEndpoints(t *testing.T) {
	h := newHarness(t)
	created := h.want(h.do("POST", "/v1/webhook_endpoints", "k1",
		`{"url":"https://shop.example.com/hooks","event_types":["transfer.created","transfer.posted"],"description":"fulfilment"}`), 201, "")
	id, _ := created.body["id"].(string)
	secret, _ := created.body["secret"].(string)
	t.Run("OKCreatedWithSecret", func(t *testing.T) {
		if !strings.HasPrefix(id, "we_") || !strings.HasPrefix(secret, webhook.SecretPrefix) || len(secret) != len(webhook.SecretPrefix)+64 {
			t.Fatalf("created %s", created.raw)
		}
		b := created.body
		if b["object"] != "webhook_endpoint" || b["url"] != "https://shop.example.com/hooks" || b["description"] != "fulfilment" ||
			fmt.Sprint(b["event_types"]) != "[transfer.created transfer.posted]" || b["disabled"] != false || b["created_at"] != b["updated_at"] {
			t.Fatalf("created %s", created.raw)
		}
	})
	t.Run("SecretShownOnce", func(t *testing.T) {
		for _, r := range []response{
			h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "k1", ""), 200, ""),
			h.want(h.do("GET", "/v1/webhook_endpoints", "k1", ""), 200, ""),
			h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", `{"description":"still fulfilment"}`), 200, ""),
		} {
			if strings.Contains(r.raw, "secret") || strings.Contains(r.raw, secret) {
				t.Fatalf("the secret is shown again: %s", r.raw)
			}
		}
		got := h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "k1", ""), 200, "")
		if got.body["id"] != id || got.body["url"] != created.body["url"] || got.body["created_at"] != created.body["created_at"] {
			t.Fatalf("GET %s, created %s", got.raw, created.raw)
		}
	})
	t.Run("ErrInvalidNamesParam", func(t *testing.T) {
		for _, tc := range []struct{ body, param string }{
			{`{"event_types":["*"]}`, "url"},
			{`{"url":"ftp://shop.example.com/hooks","event_types":["*"]}`, "url"},
			{`{"url":"https://user:pw@shop.example.com/","event_types":["*"]}`, "url"},
			{`{"url":"/hooks","event_types":["*"]}`, "url"},
			{`{"url":"https://shop.example.com/"}`, "event_types"},
			{`{"url":"https://shop.example.com/","event_types":[]}`, "event_types"},
			{`{"url":"https://shop.example.com/","event_types":["account.created","transfer.exploded"]}`, "event_types[1]"},
			{`{"url":"https://shop.example.com/","event_types":["account.created","account.created"]}`, "event_types[1]"},
			{`{"url":"https://shop.example.com/","event_types":["*","account.created"]}`, "event_types[0]"},
			{`{"url":"https://shop.example.com/","event_types":"*"}`, "event_types"},
			{`{"url":"https://shop.example.com/","event_types":["*"],"description":"` + strings.Repeat("x", webhook.DescriptionLenMax+1) + `"}`, "description"},
			{`{"url":"https://shop.example.com/","event_types":["*"],"secret":"whsec_mine"}`, "secret"},
		} {
			r := h.want(h.do("POST", "/v1/webhook_endpoints", "k1", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Errorf("%s: param %v, want %s (%s)", tc.body, r.body["param"], tc.param, r.body["detail"])
			}
		}
	})
	t.Run("UpdateChangesOnlyWhatIsSent", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", `{"disabled":true}`), 200, "")
		if r.body["disabled"] != true || r.body["url"] != "https://shop.example.com/hooks" || r.body["description"] != "still fulfilment" ||
			fmt.Sprint(r.body["event_types"]) != "[transfer.created transfer.posted]" || r.body["updated_at"] == created.body["updated_at"] {
			t.Fatalf("disabled %s", r.raw)
		}
		r = h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", `{"url":"https://shop.example.com/v2","event_types":["*"],"description":null}`), 200, "")
		if r.body["disabled"] != true || r.body["url"] != "https://shop.example.com/v2" || fmt.Sprint(r.body["event_types"]) != "[*]" || r.body["description"] != "still fulfilment" {
			t.Fatalf("updated %s", r.raw)
		}
		r = h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", `{"disabled":false}`), 200, "")
		if got := h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "k1", ""), 200, ""); got.raw != r.raw || got.body["disabled"] != false {
			t.Fatalf("GET %s after update %s", got.raw, r.raw)
		}
		for body, param := range map[string]string{
			`{"event_types":[]}`:       "event_types",
			`{"url":""}`:               "url",
			`{"disabled":"yes"}`:       "disabled",
			`{"colour":"red"}`:         "colour",
			`{"url":"https://x/#top"}`: "url",
		} {
			if r := h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", body), 400, "invalid"); r.body["param"] != param {
				t.Errorf("%s: param %v, want %s", body, r.body["param"], param)
			}
		}
		h.want(h.do("POST", "/v1/webhook_endpoints/we_999999", "k1", `{"disabled":true}`), 404, "not_found")
	})
	t.Run("OtherOrgLooksLikeMissing", func(t *testing.T) {
		for _, suffix := range []string{"", "/attempts"} {
			mine := h.want(h.do("GET", "/v1/webhook_endpoints/"+id+suffix, "k2", ""), 404, "not_found")
			none := h.want(h.do("GET", "/v1/webhook_endpoints/we_999999"+suffix, "k2", ""), 404, "not_found")
			if mine.body["detail"] != none.body["detail"] {
				t.Fatalf("%s: details differ: %v vs %v", suffix, mine.body["detail"], none.body["detail"])
			}
		}
		h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k2", `{"disabled":true}`), 404, "not_found")
		if r := h.want(h.do("GET", "/v1/webhook_endpoints", "k2", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("org_2 lists org_1's endpoints: %s", r.raw)
		}
		h.want(h.do("GET", "/v1/webhook_endpoints/acc_1", "k1", ""), 404, "not_found")
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "k1", ""), 200, ""); r.body["disabled"] != false {
			t.Fatalf("org_2 changed org_1's endpoint: %s", r.raw)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		h.want(h.do("POST", "/v1/webhook_endpoints", "readonly", `{"url":"https://x.example/","event_types":["*"]}`), 403, "forbidden")
		h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "readonly", `{"disabled":true}`), 403, "forbidden")
		h.want(h.do("GET", "/v1/webhook_endpoints", "ledger", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/webhook_endpoints/"+id+"/attempts", "ledger", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "readonly", ""), 200, "")
	})
	t.Run("PaginationAndBound", func(t *testing.T) {
		for i := 2; i <= webhook.EndpointsPerOrgMax; i++ {
			h.endpoint("k1", "https://shop.example.com/hooks/"+strconv.Itoa(i), `["account.created"]`)
		}
		var seen []string
		after := ""
		for {
			r := h.want(h.do("GET", "/v1/webhook_endpoints?limit=5"+after, "k1", ""), 200, "")
			for _, e := range r.body["data"].([]any) {
				seen = append(seen, e.(map[string]any)["id"].(string))
			}
			if r.body["has_more"] != true {
				break
			}
			after = "&starting_after=" + seen[len(seen)-1]
		}
		if len(seen) != webhook.EndpointsPerOrgMax || seen[0] != id {
			t.Fatalf("paged %v", seen)
		}
		r := h.want(h.do("POST", "/v1/webhook_endpoints", "k1", `{"url":"https://one.too.many/","event_types":["*"]}`), 409, "conflict")
		if r.body["param"] != "url" {
			t.Fatalf("param %v", r.body["param"])
		}
		h.endpoint("k2", "https://org2.example.com/", `["*"]`) // the bound is per organization
		h.want(h.do("GET", "/v1/webhook_endpoints?starting_after=evt_1", "k1", ""), 400, "invalid")
	})
	t.Run("Delete", func(t *testing.T) {
		// The organization is full (PaginationAndBound): a delete frees a place.
		gone := h.endpoint("k2", "https://org2.example.com/gone", `["*"]`)
		h.want(h.do("DELETE", "/v1/webhook_endpoints/"+gone, "k1", ""), 404, "not_found") // not org_1's
		h.want(h.do("DELETE", "/v1/webhook_endpoints/"+id, "readonly", ""), 403, "forbidden")
		h.want(h.do("DELETE", "/v1/webhook_endpoints/"+id+"?force=true", "k1", ""), 400, "invalid")
		r := h.want(h.do("DELETE", "/v1/webhook_endpoints/"+id, "k1", ""), 200, "")
		if r.body["object"] != "webhook_endpoint" || r.body["id"] != id || r.body["deleted"] != true || len(r.body) != 3 {
			t.Fatalf("deleted: %s", r.raw)
		}
		h.want(h.do("GET", "/v1/webhook_endpoints/"+id, "k1", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/webhook_endpoints/"+id+"/attempts", "k1", ""), 404, "not_found")
		h.want(h.do("POST", "/v1/webhook_endpoints/"+id, "k1", `{"disabled":false}`), 404, "not_found")
		h.want(h.do("DELETE", "/v1/webhook_endpoints/"+id, "k1", ""), 404, "not_found")
		list := h.want(h.do("GET", "/v1/webhook_endpoints?limit=100", "k1", ""), 200, "")
		for _, e := range list.body["data"].([]any) {
			if e.(map[string]any)["id"] == id {
				t.Fatalf("the deleted endpoint is listed: %s", list.raw)
			}
		}
		h.endpoint("k1", "https://shop.example.com/in-its-place", `["*"]`)
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+gone, "k2", ""), 200, ""); r.body["id"] != gone {
			t.Fatalf("org_2's endpoint after org_1's refused delete: %s", r.raw)
		}
	})
}

func TestEventReplayDeliveriesAndAttempts(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	transfers := h.endpoint("k1", "https://a.example/hooks", `["transfer.created"]`)
	every := h.endpoint("k1", "https://b.example/hooks", `["*"]`)
	off := h.endpoint("k1", "https://c.example/hooks", `["*"]`)
	h.want(h.do("POST", "/v1/webhook_endpoints/"+off, "k1", `{"disabled":true}`), 200, "")
	h.account("k1", "wallet", "")
	h.dispatch()
	evs := h.want(h.do("GET", "/v1/events?type=account.created", "k1", ""), 200, "").body["data"].([]any)
	ev := evs[0].(map[string]any)["id"].(string)

	t.Run("OKToEverySubscribedEnabledEndpoint", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/events/"+ev+"/replay", "k1", `{}`), 202, "")
		if r.body["object"] != "event_replay" || r.body["event"] != ev || fmt.Sprint(r.body["webhook_endpoints"]) != "["+every+"]" {
			t.Fatalf("replay %s, want only %s", r.raw, every)
		}
		d := h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "k1", ""), 200, "")
		data := d.body["data"].([]any)
		if len(data) != 1 || d.body["has_more"] != false {
			t.Fatalf("deliveries %s", d.raw)
		}
		got := data[0].(map[string]any)
		if got["object"] != "webhook_delivery" || got["webhook_endpoint"] != every || got["event"] != ev || got["state"] != "pending" ||
			got["attempts"] != 0.0 || got["last_status"] != nil {
			t.Fatalf("delivery %s", d.raw)
		}
	})
	t.Run("OKToOneEndpointWhateverItsTypes", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/events/"+ev+"/replay", "k1", `{"webhook_endpoint":"`+transfers+`"}`), 202, "")
		if fmt.Sprint(r.body["webhook_endpoints"]) != "["+transfers+"]" {
			t.Fatalf("replay %s", r.raw)
		}
		if d := h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "k1", ""), 200, ""); len(d.body["data"].([]any)) != 2 {
			t.Fatalf("deliveries %s", d.raw)
		}
	})
	t.Run("ErrDisabledEndpoint", func(t *testing.T) {
		r := h.want(h.do("POST", "/v1/events/"+ev+"/replay", "k1", `{"webhook_endpoint":"`+off+`"}`), 409, "conflict")
		if r.body["param"] != "webhook_endpoint" {
			t.Fatalf("param %v", r.body["param"])
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for body, param := range map[string]string{`{"webhook_endpoint":"acc_1"}`: "webhook_endpoint", `{"endpoint":"we_1"}`: "endpoint", ``: "body"} {
			if r := h.want(h.do("POST", "/v1/events/"+ev+"/replay", "k1", body, "Content-Type", "application/json"), 400, "invalid"); r.body["param"] != param {
				t.Errorf("%q: param %v, want %s", body, r.body["param"], param)
			}
		}
	})
	t.Run("OtherOrgLooksLikeMissing", func(t *testing.T) {
		h.account("k2", "theirs", "")
		h.dispatch()
		theirs := h.want(h.do("GET", "/v1/events", "k2", ""), 200, "").body["data"].([]any)[0].(map[string]any)["id"].(string)
		h.want(h.do("POST", "/v1/events/"+ev+"/replay", "k2", `{}`), 404, "not_found")
		h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "k2", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/events/evt_999999/deliveries", "k1", ""), 404, "not_found")
		mine := h.want(h.do("POST", "/v1/events/"+theirs+"/replay", "k2", `{"webhook_endpoint":"`+every+`"}`), 404, "not_found")
		none := h.want(h.do("POST", "/v1/events/"+theirs+"/replay", "k2", `{"webhook_endpoint":"we_999999"}`), 404, "not_found")
		if mine.body["detail"] != none.body["detail"] {
			t.Fatalf("details differ: %v vs %v", mine.body["detail"], none.body["detail"])
		}
		if r := h.want(h.do("POST", "/v1/events/"+theirs+"/replay", "k2", `{}`), 202, ""); fmt.Sprint(r.body["webhook_endpoints"]) != "[]" {
			t.Fatalf("org_2's event goes to org_1's endpoints: %s", r.raw)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		h.want(h.do("POST", "/v1/events/"+ev+"/replay", "readonly", `{}`), 403, "forbidden")
		h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "ledger", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "readonly", ""), 200, "")
	})

	t.Run("Attempts", func(t *testing.T) {
		// The worker (package jobs) records attempts; here the store does it
		// directly. A record counts the attempts it gives for each delivery.
		at := time.Date(2026, 1, 2, 3, 4, 7, 500000000, time.UTC)
		epID, evID := numericID(t, prefixWebhookEndpoint, every), numericID(t, prefixEvent, ev)
		err := h.db.WebhookRecord(ctx, []webhook.Attempt{
			{EndpointID: epID, EventID: evID, OrgID: "org_1", Number: 1, At: at, LatencyMicros: 10000412, Error: "context deadline exceeded"},
			{EndpointID: epID, EventID: evID, OrgID: "org_1", Number: 2, At: at.Add(10 * time.Second), Succeeded: true, StatusCode: 200,
				LatencyMicros: 183250, ResponseSnippet: `{"received":true}`},
		}, []webhook.Delivery{{EndpointID: epID, EventID: evID, OrgID: "org_1", State: webhook.DeliverySucceeded, Attempts: 2, LastStatus: 200,
			UpdatedAt: at.Add(10 * time.Second)}})
		if err != nil {
			t.Fatal(err)
		}
		r := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts", "k1", ""), 200, "")
		data := r.body["data"].([]any)
		if len(data) != 2 || r.body["has_more"] != false {
			t.Fatalf("attempts %s", r.raw)
		}
		failed, ok := data[0].(map[string]any), data[1].(map[string]any)
		if failed["object"] != "webhook_attempt" || !strings.HasPrefix(failed["id"].(string), "wha_") || failed["webhook_endpoint"] != every ||
			failed["event"] != ev || failed["number"] != 1.0 || failed["at"] != "2026-01-02T03:04:07.5Z" || failed["succeeded"] != false ||
			failed["status_code"] != nil || failed["latency_ms"] != 10000.412 || failed["error"] != "context deadline exceeded" || failed["response_snippet"] != "" {
			t.Fatalf("failed attempt %v", failed)
		}
		if ok["succeeded"] != true || ok["status_code"] != 200.0 || ok["latency_ms"] != 183.25 || ok["response_snippet"] != `{"received":true}` || ok["error"] != "" {
			t.Fatalf("succeeded attempt %v", ok)
		}
		d := h.want(h.do("GET", "/v1/events/"+ev+"/deliveries", "k1", ""), 200, "")
		if !strings.Contains(d.raw, `"webhook_endpoint":"`+every+`","event":"`+ev+`","state":"succeeded","attempts":2,"last_status":200`) {
			t.Fatalf("deliveries %s", d.raw)
		}

		page := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?limit=1", "k1", ""), 200, "")
		if len(page.body["data"].([]any)) != 1 || page.body["has_more"] != true {
			t.Fatalf("first page %s", page.raw)
		}
		rest := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?starting_after="+failed["id"].(string), "k1", ""), 200, "")
		if data := rest.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != ok["id"] {
			t.Fatalf("second page %s", rest.raw)
		}
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?event=evt_999999", "k1", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("attempts of another event %s", r.raw)
		}
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?event="+ev, "k1", ""), 200, ""); len(r.body["data"].([]any)) != 2 {
			t.Fatalf("attempts of %s: %s", ev, r.raw)
		}
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+transfers+"/attempts", "k1", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("attempts of another endpoint %s", r.raw)
		}
		if r := h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?event=tr_1", "k1", ""), 400, "invalid"); r.body["param"] != "event" {
			t.Fatalf("param %v", r.body["param"])
		}
		h.want(h.do("GET", "/v1/webhook_endpoints/"+every+"/attempts?starting_after=evt_1", "k1", ""), 400, "invalid")
	})
}

// TestKeyedWebhookEndpointCreate: an endpoint created under a key keeps
// its response, secret included, in the endpoint's transaction (the
// fallback that keeps it afterwards logs an error): a retry replays the
// same secret and registers nothing more, and the key with another body
// is refused.
func TestKeyedWebhookEndpointCreate(t *testing.T) {
	db, e := openLedger(t, ledger.Config{})
	var log errorLog
	srv := httptest.NewServer(New(Config{Ledger: e, Idempotency: idempotency.NewService(db, nil), Events: event.NewService(db),
		Webhooks: webhook.NewService(db, db, nil), Logger: slog.New(&log), Auth: keys{
			"k1": {OrgID: "org_1", KeyID: "key_1", Scopes: []auth.Scope{"webhooks:write"}},
		}}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, db: db}
	body := `{"url":"https://hooks.example.com/k","event_types":["*"]}`
	first := h.want(h.do("POST", "/v1/webhook_endpoints", "k1", body, "Idempotency-Key", "w-1"), 201, "")
	again := h.want(h.do("POST", "/v1/webhook_endpoints", "k1", body, "Idempotency-Key", "w-1"), 201, "")
	if again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" || first.body["secret"] == nil {
		t.Fatalf("retry %s, want the first response (with its secret) replayed: %s", again.raw, first.raw)
	}
	h.want(h.do("POST", "/v1/webhook_endpoints", "k1", `{"url":"https://hooks.example.com/other","event_types":["*"]}`,
		"Idempotency-Key", "w-1"), 422, idempotency.CodeKeyReused)
	list := h.want(h.do("GET", "/v1/webhook_endpoints", "k1", ""), 200, "")
	if n := len(list.body["data"].([]any)); n != 1 {
		t.Fatalf("%d endpoints, want 1", n)
	}
	if len(log.msgs) != 0 {
		t.Fatalf("the server logged errors: %q", log.msgs)
	}
}
