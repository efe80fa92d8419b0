package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// dealBody registers a 50,000 JPY item with 1,000 shipping, the fee split:
// fee 1,500, the buyer's half 750, 51,750 due.
func dealBody(ref string) string {
	return `{"external_ref":"` + ref + `","title":"Camera","price":{"amount":50000,"currency":"JPY"},` +
		`"shipping_fee":{"amount":1000,"currency":"JPY"},"fee_payer":"split",` +
		`"seller":{"email":"seller@example.com"},"buyer":{"email":"buyer@example.com","locale":"en"}}`
}

const amountDue = 51750

// newDeal registers a deal with key and returns it.
func (h *harness) newDeal(key, ref string) response {
	h.t.Helper()
	return h.want(h.do("POST", "/v1/deals", key, dealBody(ref)), 201, "")
}

func (h *harness) step(key, id, step string, status int, code string) response {
	h.t.Helper()
	return h.want(h.do("POST", "/v1/deals/"+id+"/"+step, key, `{}`), status, code)
}

// deposit records a credit of amount quoting ref in the payer's name.
func (h *harness) deposit(bankRef, ref string, amount int64, status int) response {
	h.t.Helper()
	body := fmt.Sprintf(`{"bank_account":"MUFG-001","bank_ref":%q,"amount":{"amount":%d,"currency":"JPY"},"value_date":"2026-01-03","payer_name":"%s ﾔﾏﾀﾞ ﾀﾛｳ"}`, bankRef, amount, ref)
	return h.want(h.do("POST", "/v1/deposits", "admin", body), status, "")
}

// money reads a {"amount", "currency"} field of a response as its amount.
func amountOf(t *testing.T, v any) int64 {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || m["currency"] != "JPY" {
		t.Fatalf("%v is not JPY money", v)
	}
	return int64(m["amount"].(float64))
}

func TestDealCreateDecoding(t *testing.T) {
	h := newHarness(t)
	ok := dealBody("x")
	set := func(old, new string) string {
		if !strings.Contains(ok, old) {
			t.Fatalf("%q not in the body", old)
		}
		return strings.Replace(ok, old, new, 1)
	}
	ms := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `{"title":"m","amount":{"amount":1,"currency":"JPY"}}`
		}
		return strings.Replace(ok, `"fee_payer"`, `"milestones":[`+strings.Join(parts, ",")+`],"fee_payer"`, 1)
	}
	for _, tc := range []struct {
		name, body, param string
	}{
		{"ErrEmpty", `{}`, "price"},
		{"ErrPriceWithoutCurrency", set(`"price":{"amount":50000,"currency":"JPY"}`, `"price":{"amount":50000}`), "price.currency"},
		{"ErrPriceAmountType", set(`"price":{"amount":50000,`, `"price":{"amount":"50000",`), "price.amount"},
		{"ErrPriceNotObject", set(`"price":{"amount":50000,"currency":"JPY"}`, `"price":50000`), "price"},
		{"ErrUnknownCurrency", set(`"price":{"amount":50000,"currency":"JPY"},"shipping_fee":{"amount":1000,"currency":"JPY"}`, `"price":{"amount":50000,"currency":"EUR"}`), "price.currency"},
		{"ErrShippingCurrency", set(`"shipping_fee":{"amount":1000,"currency":"JPY"}`, `"shipping_fee":{"amount":1000,"currency":"USD"}`), "shipping_fee.currency"},
		{"ErrMilestoneAmountMissing", strings.Replace(ok, `"fee_payer"`, `"milestones":[{"title":"a"}],"fee_payer"`, 1), "milestones[0].amount"},
		{"ErrMilestoneCurrency", strings.Replace(ok, `"fee_payer"`, `"milestones":[{"title":"a","amount":{"amount":25000,"currency":"JPY"}},{"title":"b","amount":{"amount":25000,"currency":"USD"}}],"fee_payer"`, 1), "milestones[1].amount.currency"},
		{"ErrMilestonesSum", strings.Replace(ok, `"fee_payer"`, `"milestones":[{"title":"a","amount":{"amount":25000,"currency":"JPY"}}],"fee_payer"`, 1), "milestones"},
		{"ErrTooManyMilestones", ms(escrow.MilestonesMax + 1), "milestones"},
		{"ErrUnknownField", set(`"title":"Camera"`, `"title":"Camera","colour":"red"`), "colour"},
		{"ErrSellerEmail", set(`"seller":{"email":"seller@example.com"}`, `"seller":{"email":"Seller <seller@example.com>"}`), "seller.email"},
		{"ErrNoBuyer", set(`,"buyer":{"email":"buyer@example.com","locale":"en"}`, ``), "buyer.email"},
		{"ErrSamePerson", set(`"buyer":{"email":"buyer@example.com"`, `"buyer":{"email":"SELLER@example.com"`), "buyer.email"},
		{"ErrLocale", set(`"locale":"en"`, `"locale":"fr"`), "buyer.locale"},
		{"ErrPartyUnknownField", set(`"locale":"en"`, `"locale":"en","name":"B"`), "buyer.name"},
		{"ErrDeadline", set(`"fee_payer"`, `"deadlines":{"pay_within_days":61},"fee_payer"`), "deadlines.pay_within_days"},
		{"ErrFeePayer", set(`"fee_payer":"split"`, `"fee_payer":"nobody"`), "fee_payer"},
		{"ErrPaymentMethod", set(`"fee_payer"`, `"payment_method":"card","fee_payer"`), "payment_method"},
		{"ErrTitleTwoLines", set(`"title":"Camera"`, `"title":"Camera\nBody"`), "title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.want(h.do("POST", "/v1/deals", "k1", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Fatalf("param %v, want %s: %s", r.body["param"], tc.param, r.raw)
			}
		})
	}
	t.Run("ErrTrailingData", func(t *testing.T) {
		h.want(h.do("POST", "/v1/deals", "k1", ok+`{}`), 400, "invalid")
	})
	if r := h.want(h.do("GET", "/v1/deals", "k1", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
		t.Fatalf("a refused request made a deal: %s", r.raw)
	}
}

func TestDealAccessAndIsolation(t *testing.T) {
	h := newHarness(t)
	d := h.newDeal("k1", "iso-1")
	id := d.body["id"].(string)
	t.Run("OtherOrgLooksLikeMissing", func(t *testing.T) {
		theirs := h.want(h.do("GET", "/v1/deals/"+id, "k2", ""), 404, "not_found")
		none := h.want(h.do("GET", "/v1/deals/dl_00000000000000nothing", "k2", ""), 404, "not_found")
		if theirs.body["detail"] != none.body["detail"] {
			t.Fatalf("details differ: %v vs %v", theirs.body["detail"], none.body["detail"])
		}
		h.step("k2", id, "accept", 404, "not_found")
		h.want(h.do("GET", "/v1/deals/"+id+"/timeline", "k2", ""), 404, "not_found")
		h.want(h.do("GET", "/v1/deals/"+id+"/messages", "k2", ""), 404, "not_found")
		if r := h.want(h.do("GET", "/v1/deals", "k2", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Fatalf("org 2 lists %s", r.raw)
		}
	})
	t.Run("MalformedIDIsNotFound", func(t *testing.T) {
		missing := h.want(h.do("GET", "/v1/deals/dl_00000000000000nothing", "k1", ""), 404, "not_found")
		for _, bad := range []string{"acc_1", "dl_", "dl_a-b", "dl_" + strings.Repeat("a", textIDLenMax+1)} {
			r := h.want(h.do("GET", "/v1/deals/"+bad, "k1", ""), 404, "not_found")
			if r.body["detail"] != missing.body["detail"] {
				t.Errorf("%s: detail %v, a missing deal's %v", bad, r.body["detail"], missing.body["detail"])
			}
		}
	})
	t.Run("Scopes", func(t *testing.T) {
		h.want(h.do("GET", "/v1/deals/"+id, "dealread", ""), 200, "")
		h.step("dealread", id, "accept", 403, "forbidden")
		h.want(h.do("POST", "/v1/deals", "dealread", dealBody("r")), 403, "forbidden")
		h.want(h.do("GET", "/v1/deals/"+id, "readonly", ""), 403, "forbidden")
		h.want(h.do("GET", "/v1/deals", "ledger", ""), 403, "forbidden")
	})
	t.Run("OperatorOnly", func(t *testing.T) {
		h.want(h.do("POST", "/v1/deals/"+id+"/resolve", "k1", `{"resolution":"refund"}`), 403, "forbidden")
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "k1", `{"hold":true}`), 403, "forbidden")
		h.want(h.do("POST", "/v1/deposits", "k1", `{}`), 403, "forbidden")
		h.want(h.do("GET", "/v1/deposits", "k1", ""), 403, "forbidden")
		h.want(h.do("POST", "/v1/deposits/dep_1/clear", "k1", `{"note":"x"}`), 403, "forbidden")
		h.want(h.do("GET", "/v1/test_clock", "k1", ""), 403, "forbidden")
		h.want(h.do("POST", "/v1/test_clock/advance", "k1", `{"seconds":1}`), 403, "forbidden")
	})
	t.Run("OperatorIsNoParty", func(t *testing.T) {
		h.want(h.do("GET", "/v1/deals/"+id, "admin", ""), 200, "")
		h.step("admin", id, "accept", 403, "not_party")
		h.want(h.do("POST", "/v1/deals", "admin", dealBody("op")), 403, "forbidden")
		if r := h.want(h.do("GET", "/v1/deals", "admin", ""), 200, ""); len(r.body["data"].([]any)) != 1 {
			t.Fatalf("the operator lists %s", r.raw)
		}
	})
	t.Run("ExternalRefAgainIsTheSameDeal", func(t *testing.T) {
		again := h.want(h.do("POST", "/v1/deals", "k1", dealBody("iso-1")), 201, "")
		if again.body["id"] != id {
			t.Fatalf("a second deal %v for external_ref iso-1", again.body["id"])
		}
		other := h.newDeal("k2", "iso-1")
		if other.body["id"] == id {
			t.Fatal("another org's external_ref named org 1's deal")
		}
	})
}

func TestDealShapeAndEvents(t *testing.T) {
	h := newHarness(t)
	created := h.newDeal("k1", "shape-1")
	b := created.body
	id := b["id"].(string)
	if b["object"] != "deal" || b["state"] != "pending_acceptance" || amountOf(t, b["amount_due"]) != amountDue ||
		amountOf(t, b["fee"]) != 1500 || amountOf(t, b["buyer_fee"]) != 750 || amountOf(t, b["held"]) != 0 ||
		b["payment_instructions"] != nil || b["resolution"] != nil || b["accepted_at"] != nil ||
		!strings.HasPrefix(b["holding_account"].(string), prefixAccount) || !escrow.ValidPaymentRef(b["payment_reference"].(string)) {
		t.Fatalf("new deal %s", created.raw)
	}
	if ms := b["milestones"].([]any); len(ms) != 1 || amountOf(t, ms[0].(map[string]any)["gross"]) != amountDue {
		t.Fatalf("milestones %v", b["milestones"])
	}
	accepted := h.step("k1", id, "accept", 200, "")
	pi, _ := accepted.body["payment_instructions"].(map[string]any)
	due := accepted.body["deadlines"].(map[string]any)["due_at"]
	if pi == nil || pi["pay_to"] != harnessPayTo || pi["reference"] != b["payment_reference"] || amountOf(t, pi["amount"]) != amountDue || pi["due_at"] != due {
		t.Fatalf("payment instructions %v, due %v", pi, due)
	}
	h.deposit("s-1", b["payment_reference"].(string), 50000, 201)
	partly := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "")
	if pi := partly.body["payment_instructions"].(map[string]any); amountOf(t, pi["amount"]) != amountDue-50000 {
		t.Fatalf("after a part payment, instructions %v", pi)
	}

	t.Run("EventsCarryTheDealAsGETShowsIt", func(t *testing.T) {
		h.dispatch()
		r := h.want(h.do("GET", "/v1/events?type=deal.payment_received", "k1", ""), 200, "")
		evs := r.body["data"].([]any)
		if len(evs) != 1 {
			t.Fatalf("events %s", r.raw)
		}
		evID := evs[0].(map[string]any)["id"].(string)
		ev := h.want(h.do("GET", "/v1/events/"+evID, "k1", ""), 200, "")
		var got struct {
			Data struct {
				Object json.RawMessage `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.raw), &got); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(partly.raw)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data.Object, want.Bytes()) {
			t.Fatalf("event data\n%s\nGET /v1/deals/{id}\n%s", got.Data.Object, want.Bytes())
		}
		for _, typ := range []string{"deal.created", "deal.accepted"} {
			if r := h.want(h.do("GET", "/v1/events?type="+typ, "k1", ""), 200, ""); len(r.body["data"].([]any)) != 1 {
				t.Errorf("%s events: %s", typ, r.raw)
			}
		}
		if r := h.want(h.do("GET", "/v1/events?type=deal.created", "k2", ""), 200, ""); len(r.body["data"].([]any)) != 0 {
			t.Errorf("org 2 sees org 1's deal events: %s", r.raw)
		}
	})
	t.Run("Timeline", func(t *testing.T) {
		r := h.want(h.do("GET", "/v1/deals/"+id+"/timeline", "k1", ""), 200, "")
		es := r.body["data"].([]any)
		if len(es) != 3 || r.body["has_more"] != false {
			t.Fatalf("timeline %s", r.raw)
		}
		first, last := es[0].(map[string]any), es[2].(map[string]any)
		if first["action"] != "created" || first["from_state"] != nil || first["actor_kind"] != "org" || first["actor_id"] != "org_1" ||
			last["action"] != "payment_received" || last["actor_kind"] != "system" || last["seq"] != 3.0 {
			t.Fatalf("timeline %s", r.raw)
		}
		if data := last["data"].(map[string]any); data["status"] != "partial" || data["amount"] != 50000.0 {
			t.Fatalf("payment data %v", data)
		}
	})
}

func TestDealPaths(t *testing.T) {
	h := newHarness(t)
	fund := func(ref string) (string, string) {
		t.Helper()
		d := h.newDeal("k1", ref)
		id, pay := d.body["id"].(string), d.body["payment_reference"].(string)
		h.step("k1", id, "accept", 200, "")
		dep := h.deposit("fund-"+ref, pay, amountDue, 201)
		if dep.body["status"] != "matched" || dep.body["deal"] != id || dep.body["review"] != nil {
			t.Fatalf("deposit %s", dep.raw)
		}
		return id, pay
	}
	t.Run("ReleaseWithReviewHold", func(t *testing.T) {
		id, _ := fund("rel")
		h.step("k1", id, "confirm_receipt", 409, "deal_state_conflict")
		h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"","tracking_number":"1"}`), 400, "invalid")
		h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"Yamato","tracking_number":"4512"}`), 200, "")
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"reasons":["x"]}`), 400, "invalid")
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":false,"reasons":["x"]}`), 400, "invalid")
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":true,"reasons":[""]}`), 400, "invalid")
		held := h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":true,"reasons":["new seller"]}`), 200, "")
		if held.body["review_hold"] != true || held.body["review_reasons"].([]any)[0] != "new seller" {
			t.Fatalf("held %s", held.raw)
		}
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":true}`), 409, "deal_state_conflict")
		if r := h.want(h.do("GET", "/v1/deals?review_hold=true", "admin", ""), 200, ""); len(r.body["data"].([]any)) != 1 {
			t.Fatalf("review queue %s", r.raw)
		}
		h.want(h.do("GET", "/v1/deals?review_hold=false", "admin", ""), 400, "invalid")
		h.step("k1", id, "confirm_receipt", 200, "")
		h.step("k1", id, "approve", 409, "review_hold")
		h.step("k1", id, "release_milestone", 409, "review_hold")
		h.want(h.do("POST", "/v1/deals/"+id+"/review", "admin", `{"hold":false}`), 200, "")
		rel := h.step("k1", id, "approve", 200, "")
		if rel.body["state"] != "released" || amountOf(t, rel.body["released"]) != amountDue-1500 || amountOf(t, rel.body["fee_taken"]) != 1500 ||
			amountOf(t, rel.body["held"]) != 0 || rel.body["closed_at"] == nil {
			t.Fatalf("released %s", rel.raw)
		}
		h.step("k1", id, "approve", 409, "deal_state_conflict")
	})
	t.Run("DisputeSplit", func(t *testing.T) {
		id, _ := fund("split")
		h.want(h.do("POST", "/v1/deals/"+id+"/messages", "k1", `{"body":"early"}`), 409, "deal_state_conflict")
		h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"Yamato","tracking_number":"4512"}`), 200, "")
		h.want(h.do("POST", "/v1/deals/"+id+"/dispute", "k1", `{"reason":" "}`), 400, "invalid")
		d := h.want(h.do("POST", "/v1/deals/"+id+"/dispute", "k1", `{"reason":"cracked lens"}`), 200, "")
		if d.body["state"] != "disputed" || d.body["dispute_reason"] != "cracked lens" {
			t.Fatalf("disputed %s", d.raw)
		}
		h.want(h.do("POST", "/v1/deals/"+id+"/messages", "k1", `{"body":""}`), 400, "invalid")
		site := h.want(h.do("POST", "/v1/deals/"+id+"/messages", "k1", `{"body":"photos sent"}`), 201, "")
		staff := h.want(h.do("POST", "/v1/deals/"+id+"/messages", "admin", `{"body":"looking"}`), 201, "")
		if site.body["party"] != "site" || staff.body["party"] != "staff" || !strings.HasPrefix(site.body["id"].(string), "dm_") {
			t.Fatalf("messages %s %s", site.raw, staff.raw)
		}
		if r := h.want(h.do("GET", "/v1/deals/"+id+"/messages", "k1", ""), 200, ""); len(r.body["data"].([]any)) != 2 {
			t.Fatalf("thread %s", r.raw)
		}
		for _, tc := range []struct{ body, param string }{
			{`{"resolution":"halve"}`, "resolution"},
			{`{"resolution":"refund","buyer_amount":{"amount":1,"currency":"JPY"}}`, "buyer_amount"},
			{`{"resolution":"split"}`, "buyer_amount"},
			{`{"resolution":"split","buyer_amount":{"amount":1,"currency":"USD"}}`, "buyer_amount.currency"},
			{fmt.Sprintf(`{"resolution":"split","buyer_amount":{"amount":%d,"currency":"JPY"}}`, amountDue), "buyer_amount"},
		} {
			r := h.want(h.do("POST", "/v1/deals/"+id+"/resolve", "admin", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Errorf("%s: param %v, want %s", tc.body, r.body["param"], tc.param)
			}
		}
		res := h.want(h.do("POST", "/v1/deals/"+id+"/resolve", "admin", `{"resolution":"split","buyer_amount":{"amount":40000,"currency":"JPY"},"note":"half"}`), 200, "")
		b := res.body
		if b["state"] != "resolved" || b["resolution"] != "split" || amountOf(t, b["refunded"]) != 40000 || amountOf(t, b["fee_taken"]) != 1500 ||
			amountOf(t, b["released"]) != amountDue-40000-1500 || amountOf(t, b["held"]) != 0 {
			t.Fatalf("resolved %s", res.raw)
		}
	})
	t.Run("CancelAndDecline", func(t *testing.T) {
		a := h.newDeal("k1", "decl").body["id"].(string)
		if r := h.step("k1", a, "decline", 200, ""); r.body["state"] != "canceled" {
			t.Fatalf("declined %s", r.raw)
		}
		b := h.newDeal("k1", "canc")
		id := b.body["id"].(string)
		h.step("k1", id, "accept", 200, "")
		h.deposit("part-canc", b.body["payment_reference"].(string), 1000, 201)
		r := h.step("k1", id, "cancel", 200, "")
		if r.body["state"] != "canceled" || amountOf(t, r.body["refunded"]) != 1000 || amountOf(t, r.body["held"]) != 0 {
			t.Fatalf("canceled %s", r.raw)
		}
		h.want(h.do("POST", "/v1/deals/"+id+"/accept", "k1", `{"x":1}`), 400, "invalid")
		h.want(h.do("POST", "/v1/deals/"+id+"/accept", "k1", ``, "Content-Type", "application/json"), 400, "invalid")
	})
	t.Run("List", func(t *testing.T) {
		all := h.want(h.do("GET", "/v1/deals?limit=2", "k1", ""), 200, "")
		data := all.body["data"].([]any)
		if len(data) != 2 || all.body["has_more"] != true {
			t.Fatalf("page %s", all.raw)
		}
		last := data[1].(map[string]any)["id"].(string)
		next := h.want(h.do("GET", "/v1/deals?limit=100&starting_after="+last, "k1", ""), 200, "")
		if n := len(next.body["data"].([]any)); n != 2 || next.body["has_more"] != false {
			t.Fatalf("next page %s", next.raw)
		}
		for _, v := range next.body["data"].([]any) {
			if v.(map[string]any)["id"] == last || v.(map[string]any)["id"] == data[0].(map[string]any)["id"] {
				t.Fatalf("the next page repeats %v", v)
			}
		}
		if r := h.want(h.do("GET", "/v1/deals?state=resolved", "k1", ""), 200, ""); len(r.body["data"].([]any)) != 1 {
			t.Fatalf("resolved %s", r.raw)
		}
		for _, q := range []string{"state=paid", "starting_after=acc_1", "limit=0", "limit=101"} {
			h.want(h.do("GET", "/v1/deals?"+q, "k1", ""), 400, "invalid")
		}
	})
}

func TestDeposits(t *testing.T) {
	h := newHarness(t)
	d := h.newDeal("k1", "dep")
	id, pay := d.body["id"].(string), d.body["payment_reference"].(string)
	h.step("k1", id, "accept", 200, "")
	for _, tc := range []struct{ name, body, param string }{
		{"ErrNoAmount", `{"bank_account":"A","bank_ref":"1","value_date":"2026-01-03"}`, "amount"},
		{"ErrNoCurrency", `{"bank_account":"A","bank_ref":"1","amount":{"amount":1},"value_date":"2026-01-03"}`, "amount.currency"},
		{"ErrValueDate", `{"bank_account":"A","bank_ref":"1","amount":{"amount":1,"currency":"JPY"},"value_date":"2026-01-03T00:00:00Z"}`, "value_date"},
		{"ErrNoBankRef", `{"bank_account":"A","amount":{"amount":1,"currency":"JPY"},"value_date":"2026-01-03"}`, "bank_ref"},
		{"ErrAmount", `{"bank_account":"A","bank_ref":"1","amount":{"amount":0,"currency":"JPY"},"value_date":"2026-01-03"}`, "amount"},
		{"ErrPaymentReference", `{"bank_account":"A","bank_ref":"1","amount":{"amount":1,"currency":"JPY"},"value_date":"2026-01-03","payment_reference":"1234567890"}`, "payment_reference"},
		{"ErrSource", `{"source":"zengin","bank_account":"A","bank_ref":"1","amount":{"amount":1,"currency":"JPY"},"value_date":"2026-01-03"}`, "source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.want(h.do("POST", "/v1/deposits", "admin", tc.body), 400, "invalid")
			if r.body["param"] != tc.param {
				t.Fatalf("param %v, want %s", r.body["param"], tc.param)
			}
		})
	}
	part := h.deposit("b-1", pay, 50000, 201)
	if part.body["status"] != "partial" || part.body["review"] != "open" || amountOf(t, part.body["applied"]) != 50000 ||
		part.body["value_date"] != "2026-01-03" || part.body["source"] != "api" {
		t.Fatalf("part payment %s", part.raw)
	}
	again := h.deposit("b-1", pay, 50000, 200)
	if again.raw != part.raw {
		t.Fatalf("recording again answered\n%s\nnot\n%s", again.raw, part.raw)
	}
	over := h.deposit("b-2", pay, 5000, 201)
	if over.body["status"] != "overpaid" || amountOf(t, over.body["applied"]) != amountDue-50000 {
		t.Fatalf("the rest, and more: %s", over.raw)
	}
	lost := h.want(h.do("POST", "/v1/deposits", "admin", `{"bank_account":"MUFG-001","bank_ref":"b-3","amount":{"amount":700,"currency":"JPY"},"value_date":"2026-01-03","payer_name":"NO REF"}`), 201, "")
	if lost.body["status"] != "unmatched" || lost.body["deal"] != nil {
		t.Fatalf("unmatched %s", lost.raw)
	}
	open := h.want(h.do("GET", "/v1/deposits?review=open", "admin", ""), 200, "")
	if n := len(open.body["data"].([]any)); n != 3 {
		t.Fatalf("open reviews %s", open.raw)
	}
	if r := h.want(h.do("GET", "/v1/deposits?deal="+id, "admin", ""), 200, ""); len(r.body["data"].([]any)) != 2 {
		t.Fatalf("the deal's deposits %s", r.raw)
	}
	if r := h.want(h.do("GET", "/v1/deposits?limit=1", "admin", ""), 200, ""); len(r.body["data"].([]any)) != 1 || r.body["has_more"] != true {
		t.Fatalf("a page of one %s", r.raw)
	}
	for _, q := range []string{"review=none", "deal=acc_1", "starting_after=dl_1"} {
		h.want(h.do("GET", "/v1/deposits?"+q, "admin", ""), 400, "invalid")
	}
	depID := part.body["id"].(string)
	h.want(h.do("POST", "/v1/deposits/"+depID+"/clear", "admin", `{"note":""}`), 400, "invalid")
	cleared := h.want(h.do("POST", "/v1/deposits/"+depID+"/clear", "admin", `{"note":"rest arrived"}`), 200, "")
	if cleared.body["review"] != "cleared" || cleared.body["note"] != "rest arrived" {
		t.Fatalf("cleared %s", cleared.raw)
	}
	h.want(h.do("POST", "/v1/deposits/"+depID+"/clear", "admin", `{"note":"again"}`), 409, "conflict")
	h.want(h.do("POST", "/v1/deposits/dep_nothing/clear", "admin", `{"note":"x"}`), 404, "not_found")
	h.want(h.do("POST", "/v1/deposits/dl_1/clear", "admin", `{"note":"x"}`), 404, "not_found")
}

func TestDealIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	id := h.newDeal("k1", "idem").body["id"].(string)
	first := h.want(h.do("POST", "/v1/deals/"+id+"/accept", "k1", `{}`, "Idempotency-Key", "acc-1"), 200, "")
	again := h.want(h.do("POST", "/v1/deals/"+id+"/accept", "k1", `{}`, "Idempotency-Key", "acc-1"), 200, "")
	if again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %s (%v), first %s", again.raw, again.header, first.raw)
	}
	h.want(h.do("POST", "/v1/deals/"+id+"/accept", "k1", `{}`, "Idempotency-Key", "acc-2"), 409, "deal_state_conflict")
	h.want(h.do("POST", "/v1/deals/"+id+"/decline", "k1", `{}`, "Idempotency-Key", "acc-1"), 422, "idempotency_key_reused")
}

func TestTestClock(t *testing.T) {
	h := newHarness(t)
	unpaid := h.newDeal("k1", "clock-1").body["id"].(string)
	h.step("k1", unpaid, "accept", 200, "")
	for _, body := range []string{`{"seconds":0}`, `{"seconds":-1}`, fmt.Sprintf(`{"seconds":%d}`, testClockSecondsMax+1), `{}`, `{"seconds":1.5}`} {
		h.want(h.do("POST", "/v1/test_clock/advance", "admin", body), 400, "invalid")
	}
	if r := h.want(h.do("GET", "/v1/test_clock", "admin", ""), 200, ""); r.body["offset_seconds"] != 0.0 || r.body["deals_changed"] != nil {
		t.Fatalf("clock %s", r.raw)
	}
	r := h.want(h.do("POST", "/v1/test_clock/advance", "admin", `{"seconds":691200}`), 200, "")
	if r.body["offset_seconds"] != 691200.0 || r.body["deals_changed"] != 1.0 || r.body["more_due"] != nil {
		t.Fatalf("advance %s", r.raw)
	}
	now, _ := time.Parse(time.RFC3339Nano, r.body["now"].(string))
	if now.Before(time.Now().Add(8*24*time.Hour - time.Minute)) {
		t.Fatalf("now %v is not 8 days ahead", now)
	}
	if d := h.want(h.do("GET", "/v1/deals/"+unpaid, "k1", ""), 200, ""); d.body["state"] != "canceled" {
		t.Fatalf("unpaid deal after its deadline: %s", d.raw)
	}
	t.Run("DeadlinePassed", func(t *testing.T) {
		d := h.newDeal("k1", "clock-2")
		id := d.body["id"].(string)
		h.step("k1", id, "accept", 200, "")
		h.deposit("clock-2", d.body["payment_reference"].(string), amountDue, 201)
		h.want(h.do("POST", "/v1/deals/"+id+"/ship", "k1", `{"carrier":"Yamato","tracking_number":"1"}`), 200, "")
		h.step("k1", id, "confirm_receipt", 200, "")
		// Past the inspection period, before any sweep fires it.
		if _, err := h.clock.Advance(4 * 24 * time.Hour); err != nil {
			t.Fatal(err)
		}
		h.want(h.do("POST", "/v1/deals/"+id+"/dispute", "k1", `{"reason":"late"}`), 409, "deadline_passed")
		r := h.want(h.do("POST", "/v1/test_clock/advance", "admin", `{"seconds":1}`), 200, "")
		if r.body["deals_changed"] != 1.0 {
			t.Fatalf("advance %s", r.raw)
		}
		if d := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, ""); d.body["state"] != "released" {
			t.Fatalf("after inspection: %s", d.raw)
		}
	})
	t.Run("OnlyWithATestClock", func(t *testing.T) {
		srv := httptest.NewServer(New(Config{Auth: keys{"admin": {OrgID: auth.OperatorOrgID, KeyID: "key_0", Scopes: []auth.Scope{auth.ScopeAdmin}}}}))
		defer srv.Close()
		plain := &harness{t: t, srv: srv}
		plain.want(plain.do("GET", "/v1/test_clock", "admin", ""), 404, "route_not_found")
		plain.want(plain.do("POST", "/v1/test_clock/advance", "admin", `{"seconds":1}`), 404, "route_not_found")
		// And a server without escrow says so.
		plain.want(plain.do("GET", "/v1/deals", "admin", ""), 503, "unavailable")
	})
}

func TestTransferRejectedIsInternal(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{Auth: keys{}, Logger: newTestLogger(&logs)})
	rec := httptest.NewRecorder()
	err := fmt.Errorf("escrow: release deal dl_1: %w", &apperr.Error{Code: ledger.CodeTransferRejected, Message: "the ledger refused transfer 0: insufficient_funds"})
	s.writeError(rec, httptest.NewRequest("POST", "/v1/deals/dl_1/approve", nil), err)
	var p problem
	json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != 500 || p.Code != apperr.CodeInternal || p.ErrorID == "" || strings.Contains(rec.Body.String(), "insufficient") {
		t.Fatalf("response %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "insufficient_funds") {
		t.Fatalf("log lacks the cause: %s", logs.String())
	}
}

// FuzzEscrowBodies feeds arbitrary bodies to the escrow decoders: decoding
// and turning a body into the domain's parameters never panics, and a
// body accepted names amounts only in the price's currency.
func FuzzEscrowBodies(f *testing.F) {
	f.Add([]byte(dealBody("seed")))
	f.Add([]byte(`{"price":{"amount":1,"currency":"JPY"},"milestones":[{"title":"a","amount":{"amount":1,"currency":"USD"}}]}`))
	f.Add([]byte(`{"bank_account":"A","bank_ref":"1","amount":{"amount":1,"currency":"JPY"},"value_date":"2026-01-03"}`))
	f.Add([]byte(`{"resolution":"split","buyer_amount":{"amount":1,"currency":"JPY"}}`))
	f.Add([]byte(`{"hold":true,"reasons":["x"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := func() *http.Request {
			return httptest.NewRequest("POST", "/v1/deals", bytes.NewReader(body))
		}
		var dc dealCreate
		if decode(req(), &dc) == nil {
			if p, err := dc.params(); err == nil {
				if p.Currency == "" || len(p.Milestones) > escrow.MilestonesMax {
					t.Fatalf("accepted %s as %+v", body, p)
				}
				if dc.ShippingFee != nil && dc.ShippingFee.Currency != p.Currency {
					t.Fatalf("accepted a shipping fee in another currency: %s", body)
				}
			}
		}
		var dep depositCreate
		if decode(req(), &dep) == nil {
			if p, err := dep.params(); err == nil && (p.Source != escrow.SourceAPI || p.ValueDate.IsZero()) {
				t.Fatalf("accepted %s as %+v", body, p)
			}
		}
		for _, dst := range []any{&resolveDispute{}, &reviewBody{}, &shipBody{}, &disputeBody{}, &messageCreate{}, &depositClear{}, &testClockAdvance{}, &dealAction{}} {
			decode(req(), dst)
		}
	})
}

// TestEscrowAccountsRefuseTheLedgerAPI: a deal's holding account belongs to
// the operator, whose admin key reads it, but no key moves it (or opens an
// account under escrow's references) through the ledger API: that would
// change the money behind a deal without the deal.
func TestEscrowAccountsRefuseTheLedgerAPI(t *testing.T) {
	h := newHarness(t)
	deal := h.newDeal("k1", "kept-1").body
	id, holding := deal["id"].(string), deal["holding_account"].(string)
	h.step("k1", id, "accept", 200, "")
	h.deposit("kept-s-1", deal["payment_reference"].(string), amountDue, 201)
	h.want(h.do("GET", "/v1/accounts/"+holding, "admin", ""), 200, "")
	own := h.want(h.do("POST", "/v1/accounts", "admin", `{"reference":"ops-float","currency":"JPY"}`), 201, "").body["id"].(string)

	body := fmt.Sprintf(`{"reference":"take-1","debit_account":%q,"credit_account":%q,"amount":{"amount":%d,"currency":"JPY"}}`, holding, own, amountDue)
	h.want(h.do("POST", "/v1/transfers", "admin", body), 403, "account_managed_by_product")
	h.want(h.do("POST", "/v1/transfers", "admin", body, "Idempotency-Key", "kept-take-1"), 403, "account_managed_by_product")
	batch := h.want(h.do("POST", "/v1/transfers/batch", "admin", `{"transfers":[`+body+`]}`), 200, "").raw
	if !strings.Contains(batch, `"code":"account_managed_by_product"`) {
		t.Errorf("batch answer %s", batch)
	}
	h.want(h.do("POST", "/v1/accounts", "admin", `{"reference":"escrow:bank:JPY","currency":"JPY"}`), 400, "invalid")

	got := h.want(h.do("GET", "/v1/deals/"+id, "k1", ""), 200, "").body
	if got["state"] != "funded" || amountOf(t, got["held"]) != amountDue {
		t.Fatalf("after the refused transfers the deal is %v holding %v", got["state"], got["held"])
	}
}
