package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/webhook"
)

var (
	testTransfer = ledger.Transfer{ID: 81921, Owner: "org_1", Reference: "order-1001 <payment> & more", Kind: ledger.KindPending,
		DebitAccountID: 65537, CreditAccountID: 65538, Amount: 1000, Asset: "JPY", Code: "purchase",
		TimeoutAt: time.Date(2026, 1, 2, 4, 4, 6, 750000000, time.UTC), Metadata: map[string]string{"order_id": "1001", "note": "café"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 6, 750000000, time.UTC)}
	testAccount = ledger.Account{ID: 65537, Owner: "org_1", Reference: "wallet-42", Asset: "JPY", Code: "customer_wallet",
		DebitsMustNotExceedCredits: true, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}
)

// getBody is what writeJSON answers for v, less its final newline: the body
// of GET /v1/transfers/{id} or GET /v1/accounts/{id}.
func getBody(t *testing.T, v any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := writeJSON(rec, 200, v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(rec.Body.Bytes(), []byte("\n"))
}

func TestEventEncoderIsTheAPIShape(t *testing.T) {
	for name, tc := range map[string]struct{ got, want []byte }{
		"Transfer":           {EventEncoder{}.TransferEventData(testTransfer), getBody(t, toTransfer(testTransfer))},
		"TransferNoMetadata": {EventEncoder{}.TransferEventData(ledger.Transfer{ID: 1, Kind: ledger.KindImmediate}), getBody(t, toTransfer(ledger.Transfer{ID: 1, Kind: ledger.KindImmediate}))},
		"Account":            {EventEncoder{}.AccountEventData(testAccount), getBody(t, toAccount(testAccount))},
	} {
		t.Run(name, func(t *testing.T) {
			if !bytes.Equal(tc.got, tc.want) {
				t.Fatalf("event data\n%s\nwant the API's\n%s", tc.got, tc.want)
			}
			if !json.Valid(tc.got) || len(tc.got) > event.DataLenMax {
				t.Fatalf("event data %s is not a JSON object within event.DataLenMax", tc.got)
			}
		})
	}
}

// TestRenderEventIsTheListShape: GET /v1/events/{id} (RenderEvent) and the
// items of GET /v1/events (json of toEvent) are the same bytes.
func TestRenderEventIsTheListShape(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 6, 750000000, time.FixedZone("JST", 9*3600))
	for name, e := range map[string]event.Event{
		"Transfer":  {ID: 3, OrgID: "org_1", Type: event.TypeTransferCreated, Data: EventEncoder{}.TransferEventData(testTransfer), CreatedAt: at},
		"Account":   {ID: 1, OrgID: "org_1", Type: event.TypeAccountCreated, Data: EventEncoder{}.AccountEventData(testAccount), CreatedAt: at.Truncate(time.Second)},
		"NoData":    {ID: 9, Type: event.TypeTransferExpired},
		"OddType":   {ID: 10, Type: "a\"<b>\\", Data: []byte(`{}`), CreatedAt: at},
		"LargestID": {ID: 1<<63 - 1, Type: event.TypeTransferVoided, Data: []byte(`{"object":"transfer"}`), CreatedAt: at},
	} {
		t.Run(name, func(t *testing.T) {
			got := RenderEvent(e)
			want, err := json.Marshal(toEvent(e))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("RenderEvent\n%s\nwant\n%s", got, want)
			}
			var back eventJSON
			if err := decodeStrict(json.RawMessage(got), &back); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if len(e.Data) > 0 && !bytes.Equal(back.Data.Object, e.Data) {
				t.Fatalf("data %s, want the stored %s byte for byte", back.Data.Object, e.Data)
			}
		})
	}
}

// BenchmarkEventEncoder measures the work the ledger's commit does per new
// transfer or account.
func BenchmarkEventEncoder(b *testing.B) {
	b.Run("Transfer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EventEncoder{}.TransferEventData(testTransfer)
		}
	})
	b.Run("Account", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EventEncoder{}.AccountEventData(testAccount)
		}
	})
}

func BenchmarkRenderEvent(b *testing.B) {
	e := event.Event{ID: 3, Type: event.TypeTransferCreated, Data: EventEncoder{}.TransferEventData(testTransfer), CreatedAt: testTransfer.CreatedAt}
	b.ReportAllocs()
	for b.Loop() {
		RenderEvent(e)
	}
}

// rawList returns the items of a list body byte for byte.
func rawList(t *testing.T, r response) (items []json.RawMessage, hasMore bool) {
	t.Helper()
	var l struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
	}
	if err := json.Unmarshal([]byte(r.raw), &l); err != nil {
		t.Fatalf("list %s: %v", r.raw, err)
	}
	return l.Data, l.HasMore
}

// eventObject returns an event's data.object byte for byte.
func eventObject(t *testing.T, raw []byte) (typ string, object []byte) {
	t.Helper()
	var e struct {
		Type string `json:"type"`
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	return e.Type, e.Data.Object
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	created := func(r response) string { return strings.TrimSuffix(r.raw, "\n") }
	srcCreated := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"src","currency":"JPY"}`), 201, "")
	dstCreated := h.want(h.do("POST", "/v1/accounts", "k1", `{"reference":"dst","currency":"JPY"}`), 201, "")
	src, dst := srcCreated.body["id"].(string), dstCreated.body["id"].(string)
	transfer := func(path, body string) string {
		t.Helper()
		return h.want(h.do("POST", path, "k1", body), 201, "").body["id"].(string)
	}
	move := func(ref, kind string) string {
		return `{"reference":"` + ref + `","kind":"` + kind + `","debit_account":"` + src + `","credit_account":"` + dst + `","amount":{"amount":5,"currency":"JPY"},"metadata":{"note":"<&>"}}`
	}
	pay := transfer("/v1/transfers", move("pay", "immediate"))
	hold1 := transfer("/v1/transfers", move("hold-1", "pending"))
	post := transfer("/v1/transfers/"+hold1+"/post", `{"reference":"capture"}`)
	hold2 := transfer("/v1/transfers", move("hold-2", "pending"))
	void := transfer("/v1/transfers/"+hold2+"/void", `{"reference":"cancel"}`)

	// Nothing is listed before the dispatcher has numbered it.
	if r := h.want(h.do("GET", "/v1/events", "k1", ""), 200, ""); !strings.Contains(r.raw, `"data":[]`) {
		t.Fatalf("events listed before dispatch: %s", r.raw)
	}
	h.dispatch()
	all := h.want(h.do("GET", "/v1/events", "k1", ""), 200, "")
	items, more := rawList(t, all)
	want := []struct{ typ, object string }{
		{event.TypeAccountCreated, created(srcCreated)}, {event.TypeAccountCreated, created(dstCreated)},
		{event.TypeTransferCreated, pay}, {event.TypeTransferCreated, hold1}, {event.TypeTransferPosted, post},
		{event.TypeTransferCreated, hold2}, {event.TypeTransferVoided, void},
	}
	if len(items) != len(want) || more {
		t.Fatalf("events %s, want %d", all.raw, len(want))
	}
	var ids []string
	for i, item := range items {
		typ, object := eventObject(t, item)
		if typ != want[i].typ {
			t.Errorf("event %d: type %s, want %s", i, typ, want[i].typ)
		}
		// The data is the object as the API shows it: for an account, as
		// created; for a transfer, which never changes, as GET shows it now.
		wantObject := want[i].object
		if strings.HasPrefix(wantObject, "tr_") {
			wantObject = created(h.want(h.do("GET", "/v1/transfers/"+wantObject, "k1", ""), 200, ""))
		}
		if string(object) != wantObject {
			t.Errorf("event %d data.object\n%s\nwant\n%s", i, object, wantObject)
		}
		var e eventJSON
		json.Unmarshal(item, &e)
		ids = append(ids, e.ID)
		t.Run("GetIsTheListItem"+strconv.Itoa(i), func(t *testing.T) {
			r := h.want(h.do("GET", "/v1/events/"+e.ID, "k1", ""), 200, "")
			if r.raw != string(item) || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s = %s (%s)\nwant the list's\n%s", e.ID, r.raw, r.header.Get("Content-Type"), item)
			}
		})
	}

	t.Run("Pagination", func(t *testing.T) {
		var seen []string
		after := ""
		for pages := 0; ; pages++ {
			r := h.want(h.do("GET", "/v1/events?limit=3"+after, "k1", ""), 200, "")
			for _, e := range r.body["data"].([]any) {
				seen = append(seen, e.(map[string]any)["id"].(string))
			}
			if r.body["has_more"] != true {
				break
			}
			after = "&starting_after=" + seen[len(seen)-1]
		}
		if strings.Join(seen, ",") != strings.Join(ids, ",") {
			t.Fatalf("paged %v, want %v", seen, ids)
		}
		h.want(h.do("GET", "/v1/events?limit=101", "k1", ""), 400, "invalid")
		if r := h.want(h.do("GET", "/v1/events?starting_after=tr_1", "k1", ""), 400, "invalid"); r.body["param"] != "starting_after" {
			t.Fatalf("param %v", r.body["param"])
		}
		if r := h.want(h.do("GET", "/v1/events?limit=100", "k1", ""), 200, ""); len(r.body["data"].([]any)) != len(ids) || r.body["has_more"] != false {
			t.Fatalf("limit=100: %s", r.raw)
		}
	})
	t.Run("TypeFilter", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/events?type=transfer.created&limit=2", "k1", ""), 200, "")
		data := r.body["data"].([]any)
		if len(data) != 2 || r.body["has_more"] != true {
			t.Fatalf("transfer.created events %s", r.raw)
		}
		r = h.want(h.do("GET", "/v1/events?type=transfer.created&starting_after="+data[1].(map[string]any)["id"].(string), "k1", ""), 200, "")
		if data := r.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["type"] != "transfer.created" || r.body["has_more"] != false {
			t.Fatalf("second page %s", r.raw)
		}
		if r := h.want(h.do("GET", "/v1/events?type=transfer.exploded", "k1", ""), 400, "invalid"); r.body["param"] != "type" {
			t.Fatalf("param %v", r.body["param"])
		}
	})
	t.Run("OtherOrgLooksLikeMissing", func(t *testing.T) {
		if r := h.want(h.do("GET", "/v1/events", "k2", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("org_2 lists org_1's events: %s", r.raw)
		}
		mine := h.want(h.do("GET", "/v1/events/"+ids[0], "k2", ""), 404, "not_found")
		none := h.want(h.do("GET", "/v1/events/evt_999999999", "k2", ""), 404, "not_found")
		if mine.body["detail"] != none.body["detail"] {
			t.Fatalf("details differ: %v vs %v", mine.body["detail"], none.body["detail"])
		}
		h.want(h.do("GET", "/v1/events/"+pay, "k1", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/events/evt_01", "k1", ""), 404, "not_found")
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		h.want(h.do("GET", "/v1/events", "ledger", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/events/"+ids[0], "ledger", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/events", "readonly", ""), 200, "")
	})
}

// TestFetchPageAtTheServiceBound: the services take at most PageLimitMax
// objects, so a full page of PageLimitMax learns has_more by one more read.
func TestFetchPageAtTheServiceBound(t *testing.T) {
	for _, tc := range []struct {
		name         string
		total, limit int
		more         bool
	}{
		{"OKShort", 5, 20, false},
		{"OKMore", 25, 20, true},
		{"OKExactlyFull", 20, 20, false},
		{"OKMaxExactlyFull", PageLimitMax, PageLimitMax, false},
		{"OKMaxMore", PageLimitMax + 1, PageLimitMax, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			find := func(after int64, n int) ([]int64, error) {
				calls++
				if n < 1 || n > PageLimitMax {
					t.Fatalf("asked for %d", n)
				}
				var out []int64
				for id := after + 1; id <= int64(tc.total) && len(out) < n; id++ {
					out = append(out, id)
				}
				return out, nil
			}
			items, err := fetchPage(tc.limit, 0, func(id int64) int64 { return id }, find)
			if err != nil {
				t.Fatal(err)
			}
			l := newList(items, tc.limit)
			if l.HasMore != tc.more || len(l.Data) != min(tc.total, tc.limit) || l.Data[0] != 1 {
				t.Fatalf("%d items, has_more %v; want %d, %v", len(l.Data), l.HasMore, min(tc.total, tc.limit), tc.more)
			}
			if calls > 2 {
				t.Fatalf("%d reads", calls)
			}
		})
	}
}

// dispatch lists every event written so far, as the server's dispatcher does.
func (h *harness) dispatch() {
	h.t.Helper()
	svc := webhook.NewService(h.db, h.db, nil)
	for {
		n, err := svc.Dispatch(context.Background())
		if err != nil {
			h.t.Fatalf("dispatch: %v", err)
		}
		if n == 0 {
			return
		}
	}
}
