package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// billingFixture is a billing service on a fresh store, on the fixture's
// engine and clock.
type billingFixture struct {
	*fixture
	bs  billing.Store
	svc *billing.Service
}

var (
	provA = billing.OrgActor("org_provA")
	provB = billing.OrgActor("org_provB")
)

// billingEvents renders billing objects as small JSON objects, standing in
// for the API's encoder.
type billingEvents struct{}

func (billingEvents) CustomerEventData(c billing.Customer) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"id": c.ID}})
	return b
}

func (billingEvents) ReservationEventData(r billing.Reservation) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"id": r.ID, "state": r.State, "reserved": r.Reserved}})
	return b
}

func (billingEvents) ChargeEventData(c billing.Charge, currency string) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"id": c.ID, "amount": c.Amount, "currency": currency}})
	return b
}

func (billingEvents) InvoiceEventData(v billing.Invoice) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"id": v.ID, "period": v.Period, "total": v.Total}})
	return b
}

func (billingEvents) SessionEventData(ses billing.Session) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"id": ses.ID, "state": ses.State, "used": ses.Used}})
	return b
}

func (billingEvents) TopUpEventData(t billing.TopUp, currency string) []byte {
	b, _ := json.Marshal(map[string]any{"object": map[string]any{"reference": t.Reference, "amount": t.Amount, "currency": currency}})
	return b
}

func newBillingFixture(t testing.TB, h Harness) *billingFixture {
	t.Helper()
	return newBillingFixtureOn(t, newFixture(t, h))
}

func newBillingFixtureOn(t testing.TB, f *fixture) *billingFixture {
	t.Helper()
	bs, ok := f.store.(billing.Store)
	if !ok {
		t.Fatalf("%T does not implement billing.Store", f.store)
	}
	bf := &billingFixture{fixture: f, bs: bs}
	bf.svc = bf.node()
	return bf
}

// node returns another billing service on f's store and clock: a node
// that remembers nothing of f.svc's work.
func (f *billingFixture) node() *billing.Service {
	return billing.NewService(billing.Config{Store: f.bs, Ledger: f.engine, Clock: f.clock.Now, Events: billingEvents{}})
}

// newBillingPair returns billing fixtures on two handles of one fresh
// database, as two nodes would have; billing on both reads the first one's
// clock. Without Harness.OpenPair it skips the test.
func newBillingPair(t *testing.T, h Harness) (*billingFixture, *billingFixture) {
	t.Helper()
	if h.OpenPair == nil {
		t.Skip("no OpenPair")
	}
	s1, s2 := h.OpenPair(t)
	f1 := newBillingFixtureOn(t, newFixtureOn(t, s1, h.Workers))
	f2 := newBillingFixtureOn(t, newFixtureOn(t, s2, h.Workers))
	f2.clock = f1.clock
	f2.svc = f2.node()
	return f1, f2
}

func (f *billingFixture) customer(ref string, mode billing.Mode, limit int64) billing.Customer {
	f.t.Helper()
	c, err := f.svc.CreateCustomer(f.ctx, provA, billing.CustomerParams{Reference: ref, Currency: "JPY", Mode: mode, CreditLimit: limit})
	if err != nil {
		f.t.Fatalf("create customer: %v", err)
	}
	return c
}

func (f *billingFixture) reserve(c billing.Customer, amount int64) billing.Reservation {
	f.t.Helper()
	r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: amount})
	if err != nil {
		f.t.Fatalf("reserve %d: %v", amount, err)
	}
	return r
}

func (f *billingFixture) balance(c billing.Customer) billing.Balance {
	f.t.Helper()
	b, err := f.svc.FindBalance(f.ctx, provA, c.ID, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// wantBilling checks a customer's used and reserved amounts.
func (f *billingFixture) wantBilling(c billing.Customer, used, reserved int64) {
	f.t.Helper()
	if b := f.balance(c); b.Used != used || b.Reserved != reserved {
		f.t.Fatalf("customer %s: used %d reserved %d, want %d and %d", c.Reference, b.Used, b.Reserved, used, reserved)
	}
}

func (f *billingFixture) status(r billing.Reservation) billing.ReservationStatus {
	f.t.Helper()
	st, err := f.svc.FindReservation(f.ctx, provA, billing.ReservationLookup{AuthNumber: r.AuthNumber})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// eventsOf returns provider A's events of a type, once dispatched, in order.
func (f *billingFixture) eventsOf(t testing.TB, typ string) []event.Event {
	t.Helper()
	ef := &eventFixture{fixture: f.fixture, store: eventStore(t, f.store)}
	return ef.events(provA.ID, typ, 100)
}

// events counts provider A's events of a type, once dispatched.
func (f *billingFixture) events(t testing.TB, typ string) int {
	t.Helper()
	return len(f.eventsOf(t, typ))
}

// wantEvents fails unless provider A has n events of typ, and returns the
// object of the last one's data (as billingEvents renders it).
func (f *billingFixture) wantEvents(t testing.TB, typ string, n int) map[string]any {
	t.Helper()
	evs := f.eventsOf(t, typ)
	if len(evs) != n {
		t.Fatalf("%d %s events, want %d", len(evs), typ, n)
	}
	if n == 0 {
		return nil
	}
	var data struct {
		Object map[string]any `json:"object"`
	}
	if err := json.Unmarshal(evs[n-1].Data, &data); err != nil {
		t.Fatalf("%s event data %s: %v", typ, evs[n-1].Data, err)
	}
	return data.Object
}

func historyKinds(st billing.ReservationStatus) string {
	var ks []string
	for _, e := range st.History {
		ks = append(ks, string(e.Kind))
	}
	return strings.Join(ks, " ")
}

// unchanged fails unless r is as it was (same version) and the customer's
// balance is b.
func (f *billingFixture) unchanged(r billing.Reservation, c billing.Customer, b billing.Balance) {
	f.t.Helper()
	// Read from the store: a status lookup ends an expired reservation.
	st, err := f.bs.ReservationByAuthNumber(f.ctx, r.AuthNumber)
	if err != nil {
		f.t.Fatal(err)
	}
	if st.Version != r.Version || st.Reserved != r.Reserved || st.Charged != r.Charged || st.State != r.State {
		f.t.Fatalf("reservation changed by a refused call: %+v, was %+v", st, r)
	}
	if got := f.balance(c); got != b {
		f.t.Fatalf("balance changed by a refused call: %+v, was %+v", got, b)
	}
}

func testBilling(t *testing.T, h Harness) {
	t.Run("Customers", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("cust-1", billing.Postpaid, 10000)
		// An organization actor without an id acts for nobody: the store
		// reads an empty organization id as every organization.
		if cs, err := f.svc.FindCustomers(f.ctx, billing.OrgActor(""), billing.CustomerFilter{Limit: 10}); !apperr.Is(err, apperr.CodeForbidden) || len(cs) != 0 {
			t.Fatalf("customers of an organization without an id: %v, %v", cs, err)
		}
		if !strings.HasPrefix(c.ID, "cus_") || c.Version != 1 || c.AccountID == 0 || c.OrgID != provA.ID {
			t.Fatalf("created %+v", c)
		}
		if again := f.customer("cust-1", billing.Postpaid, 10000); again.ID != c.ID {
			t.Fatalf("repeat made another customer %s", again.ID)
		}
		_, err := f.svc.CreateCustomer(f.ctx, provA, billing.CustomerParams{Reference: "cust-1", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 5})
		wantErrParam(t, err, apperr.CodeConflict, "credit_limit")
		_, err = f.svc.CreateCustomer(f.ctx, provA, billing.CustomerParams{Reference: "cust-1", Currency: "JPY", Mode: billing.Prepaid})
		wantErrParam(t, err, apperr.CodeConflict, "mode")
		_, err = f.svc.CreateCustomer(f.ctx, provA, billing.CustomerParams{Reference: "cust-2", Currency: "EUR", Mode: billing.Prepaid})
		wantErrParam(t, err, apperr.CodeInvalid, "currency")
		_, err = f.svc.CreateCustomer(f.ctx, billing.Actor{Kind: billing.ActorSystem, ID: "x"}, billing.CustomerParams{Reference: "c", Currency: "JPY", Mode: billing.Prepaid})
		wantErrCode(t, err, apperr.CodeForbidden)
		// Another provider's reference space is its own; it cannot see A's customer.
		other, err := f.svc.CreateCustomer(f.ctx, provB, billing.CustomerParams{Reference: "cust-1", Currency: "USD", Mode: billing.Prepaid})
		if err != nil || other.ID == c.ID {
			t.Fatalf("provider B's cust-1: %+v, %v", other, err)
		}
		_, err = f.svc.FindCustomerByID(f.ctx, provB, c.ID)
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.SetCreditLimit(f.ctx, provB, c.ID, 1)
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.Reserve(f.ctx, provB, billing.ReserveParams{CustomerID: c.ID, Amount: 1})
		wantErrCode(t, err, apperr.CodeNotFound)
		list, err := f.svc.FindCustomers(f.ctx, provA, billing.CustomerFilter{Limit: 10})
		if err != nil || len(list) != 1 || list[0].ID != c.ID {
			t.Fatalf("list %+v, %v", list, err)
		}
		_, err = f.svc.FindCustomers(f.ctx, provA, billing.CustomerFilter{Limit: billing.PageLimitMax + 1})
		wantErrCode(t, err, apperr.CodeInvalid)
		c2, err := f.svc.SetCreditLimit(f.ctx, provA, c.ID, 20000)
		if err != nil || c2.CreditLimit != 20000 || c2.Version != 2 {
			t.Fatalf("set limit %+v, %v", c2, err)
		}
		if again, err := f.svc.SetCreditLimit(f.ctx, provA, c.ID, 20000); err != nil || again.Version != 2 {
			t.Fatalf("setting the same limit again: %+v, %v", again, err)
		}
		_, err = f.svc.SetCreditLimit(f.ctx, provA, c.ID, -1)
		wantErrCode(t, err, apperr.CodeInvalid)
		_, err = f.svc.SetCreditLimit(f.ctx, provB, other.ID, 5)
		wantErrParam(t, err, apperr.CodeInvalid, "credit_limit")
		// One event for the change; none for the repeat or the refusals.
		if data := f.wantEvents(t, "billing.customer.limit_changed", 1); data["id"] != c.ID {
			t.Fatalf("limit event data %v", data)
		}
		entries, err := f.store.(audit.Store).AuditList(f.ctx, audit.Filter{SubjectType: "billing_customer", SubjectID: c.ID, Limit: 10})
		if err != nil || len(entries) != 2 || entries[0].Action != "billing.customer.created" || entries[1].Action != "billing.customer.limit_changed" {
			t.Fatalf("audit %+v, %v", entries, err)
		}
		f.verifyClean()
	})

	t.Run("PrepaidTopUp", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("pre", billing.Prepaid, 0)
		_, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 1})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		tu, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: c.ID, Amount: 5000, Reference: "tu-1"})
		if err != nil || tu.TransferID == 0 {
			t.Fatalf("top up %+v, %v", tu, err)
		}
		again, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: c.ID, Amount: 5000, Reference: "tu-1"})
		if err != nil || again.TransferID != tu.TransferID {
			t.Fatalf("retried top up %+v, %v", again, err)
		}
		_, err = f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: c.ID, Amount: 6000, Reference: "tu-1"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		other := f.customer("pre-2", billing.Prepaid, 0)
		_, err = f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: other.ID, Amount: 5000, Reference: "tu-1"})
		wantErrParam(t, err, apperr.CodeConflict, "customer_id")
		post := f.customer("post", billing.Postpaid, 100)
		_, err = f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: post.ID, Amount: 5, Reference: "tu-2"})
		wantErrCode(t, err, apperr.CodeInvalid)
		// One event for the top-up; none for the retry or the refusals.
		if data := f.wantEvents(t, "billing.top_up.created", 1); data["reference"] != "tu-1" || data["amount"] != 5000.0 || data["currency"] != "JPY" {
			t.Fatalf("top-up event data %v", data)
		}
		b := f.balance(c)
		if b.Balance != 5000 || b.Available != 5000 || b.Used != 0 {
			t.Fatalf("after top-up %+v", b)
		}
		r := f.reserve(c, 3000)
		_, err = f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 2001})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		if _, _, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1200, Reference: "ch-1", Final: true}); err != nil {
			t.Fatal(err)
		}
		b = f.balance(c)
		if b.Balance != 3800 || b.Used != 1200 || b.Reserved != 0 || b.Available != 3800 {
			t.Fatalf("after charge %+v", b)
		}
		if q, err := f.svc.FindBalance(f.ctx, provA, c.ID, 4000); err != nil || q.RemainingAfter != -200 || !q.WouldBeRefused {
			t.Fatalf("inquiry for 4000: %+v, %v", q, err)
		}
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 3801, Reference: "d-1"}); apperr.CodeOf(err) != billing.CodeLimitExceeded {
			t.Fatalf("direct charge above the balance: %v", err)
		}
		f.verifyClean()
	})

	t.Run("MultiCapture", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 6000)
		if !billing.ValidAuthNumber(r.AuthNumber) || r.State != billing.StateActive || r.Reserved != 6000 || r.HoldTransferID == 0 ||
			!r.ExpiresAt.Equal(r.CreatedAt.Add(billing.ExpiresInSecondsDefault*time.Second)) {
			t.Fatalf("reserved %+v", r)
		}
		f.wantBilling(c, 0, 6000)
		ch, r2, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1000, Reference: "c1"})
		if err != nil || ch.Amount != 1000 || r2.Reserved != 5000 || r2.Charged != 1000 || r2.State != billing.StateActive || r2.HoldTransferID == r.HoldTransferID {
			t.Fatalf("first capture %+v %+v, %v", ch, r2, err)
		}
		f.wantBilling(c, 1000, 5000)
		b := f.balance(c)
		// A retry returns the first charge and changes nothing.
		again, r3, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1000, Reference: "c1"})
		if err != nil || again.ID != ch.ID || r3.Version != r2.Version {
			t.Fatalf("retry %+v %+v, %v", again, r3, err)
		}
		f.unchanged(r2, c, b)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1001, Reference: "c1"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 5001, Reference: "c2"})
		wantErrCode(t, err, billing.CodeReservationExceeded)
		_, _, err = f.svc.Charge(f.ctx, provA, "0000000001", billing.ChargeParams{Amount: 1, Reference: "c2"})
		wantErrCode(t, err, apperr.CodeInvalid)
		_, _, err = f.svc.Charge(f.ctx, provB, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "c2"})
		wantErrCode(t, err, apperr.CodeNotFound)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1})
		wantErrParam(t, err, apperr.CodeInvalid, "reference")
		f.unchanged(r2, c, b)
		if _, r2, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1500, Reference: "c2"}); err != nil || r2.Reserved != 3500 {
			t.Fatalf("second capture %+v, %v", r2, err)
		}
		_, r2, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 500, Reference: "c3", Final: true})
		if err != nil || r2.State != billing.StateClosed || r2.Charged != 3000 || r2.Released != 3000 || r2.Reserved != 0 || r2.HoldTransferID != 0 {
			t.Fatalf("final capture %+v, %v", r2, err)
		}
		f.wantBilling(c, 3000, 0)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "c4"})
		wantErrCode(t, err, billing.CodeReservationClosed)
		// A retry of the final charge after closing still answers.
		if again, _, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 500, Reference: "c3", Final: true}); err != nil || !again.Final {
			t.Fatalf("retry of the final charge: %+v, %v", again, err)
		}
		st := f.status(r)
		if historyKinds(st) != "reserve charge charge charge" || st.History[3].Released != 3000 || st.History[1].Reference != "c1" {
			t.Fatalf("history %+v", st.History)
		}
		for i, e := range st.History {
			if e.Seq != i+1 || e.TransferID == 0 {
				t.Errorf("history entry %d: %+v", i, e)
			}
		}
		entries, err := f.store.(audit.Store).AuditList(f.ctx, audit.Filter{SubjectType: "billing_reservation", SubjectID: r.ID, Limit: 10})
		if err != nil || len(entries) != 4 {
			t.Fatalf("audit %d entries, %v", len(entries), err)
		}
		f.verifyClean()
	})

	t.Run("ReserveByRequestKey", func(t *testing.T) {
		// A reservation without a reference, retried under the same
		// Idempotency-Key after its record was lost, holds nothing more.
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		p := billing.ReserveParams{CustomerID: c.ID, Amount: 700, RequestKey: "key-1"}
		r1, err := f.svc.Reserve(f.ctx, provA, p)
		if err != nil {
			t.Fatal(err)
		}
		f.wantEvents(t, "billing.reservation.created", 1)
		r2, err := f.svc.Reserve(f.ctx, provA, p)
		if err != nil || r2.ID != r1.ID || r2.AuthNumber != r1.AuthNumber {
			t.Fatalf("retry under the same key: %+v, %v; first %s", r2, err, r1.ID)
		}
		f.wantBilling(c, 0, 700)
		f.wantEvents(t, "billing.reservation.created", 1)
		_, err = f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 701, RequestKey: "key-1"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		// Another key, another provider's same key, or a reference: new holds.
		if _, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 700, RequestKey: "key-2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 700, Reference: "ref", RequestKey: "key-1"}); err != nil {
			t.Fatal(err)
		}
		other, err := f.svc.CreateCustomer(f.ctx, provB, billing.CustomerParams{Reference: "b", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := f.svc.Reserve(f.ctx, provB, billing.ReserveParams{CustomerID: other.ID, Amount: 700, RequestKey: "key-1"}); err != nil || r.ID == r1.ID {
			t.Fatalf("another provider's key: %+v, %v", r, err)
		}
		f.wantBilling(c, 0, 2100)
		// Past the key's retention, the key makes a new reservation.
		f.clock.Advance(billing.RequestKeyRetention + time.Second)
		r3, err := f.svc.Reserve(f.ctx, provA, p)
		if err != nil || r3.ID == r1.ID {
			t.Fatalf("the same key after its retention: %+v, %v", r3, err)
		}
	})

	t.Run("ReserveDifference", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 3000)
		ch, r2, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 5000, Reference: "c1", ReserveDifference: true})
		if err != nil || ch.Amount != 5000 || r2.Charged != 5000 || r2.Reserved != 0 || r2.Authorized != 5000 || r2.State != billing.StateActive {
			t.Fatalf("charge above the reservation %+v %+v, %v", ch, r2, err)
		}
		f.wantBilling(c, 5000, 0)
		if k := historyKinds(f.status(r)); k != "reserve increment charge" {
			t.Fatalf("history %s", k)
		}
		// One change, one event: the increment in it writes none of its own.
		f.wantEvents(t, "billing.reservation.charged", 1)
		f.wantEvents(t, "billing.reservation.incremented", 0)
		b := f.balance(c)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 5001, Reference: "c2", ReserveDifference: true})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		f.unchanged(r2, c, b)
		if _, r2, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 5000, Reference: "c2", ReserveDifference: true, Final: true}); err != nil || r2.State != billing.StateClosed {
			t.Fatalf("charge of the rest of the limit: %+v, %v", r2, err)
		}
		f.wantBilling(c, 10000, 0)
		f.verifyClean()
	})

	t.Run("Increment", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 2000)
		r := f.reserve(c, 1000)
		r2, err := f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 500, Reference: "i1"})
		if err != nil || r2.Reserved != 1500 || r2.Authorized != 1500 || r2.HoldTransferID == r.HoldTransferID {
			t.Fatalf("increment %+v, %v", r2, err)
		}
		f.wantBilling(c, 0, 1500)
		b := f.balance(c)
		if again, err := f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 500, Reference: "i1"}); err != nil || again.Version != r2.Version {
			t.Fatalf("retried increment %+v, %v", again, err)
		}
		_, err = f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 600, Reference: "i1"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		_, err = f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 501, Reference: "i2"})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		f.unchanged(r2, c, b)
		// One event for the increment; none for the retry or the refusals.
		if data := f.wantEvents(t, "billing.reservation.incremented", 1); data["id"] != r.ID || data["reserved"] != 1500.0 || data["state"] != "active" {
			t.Fatalf("increment event data %v", data)
		}
		f.verifyClean()
	})

	t.Run("HistoryKeepsRoomToEnd", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 1_000_000)
		r := f.reserve(c, 10)
		// The reservation entry and increments fill all but the last two.
		for i := 2; i < billing.EventsPerReservationMax-1; i++ {
			if _, err := f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 1, Reference: fmt.Sprintf("i%d", i)}); err != nil {
				t.Fatalf("increment for entry %d: %v", i, err)
			}
		}
		_, err := f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 1, Reference: "one-too-many"})
		wantErrCode(t, err, apperr.CodeConflict)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "partial"})
		wantErrCode(t, err, apperr.CodeConflict)
		// Its end always has room, even a final charge that re-reserves
		// first: entries 999 and 1,000.
		held := f.status(r).Reserved
		if _, _, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: held + 5, Reference: "last", Final: true, ReserveDifference: true}); err != nil {
			t.Fatalf("a final charge with a re-reservation on a full history: %v", err)
		}
		if st := f.status(r); st.State != billing.StateClosed || len(st.History) != billing.EventsPerReservationMax {
			t.Fatalf("after the final charge: state %s, %d entries", st.State, len(st.History))
		}
		f.wantBilling(c, held+5, 0)
		f.verifyClean()
	})

	t.Run("ErrSettlementReferences", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 100)
		ses, err := f.svc.StartSession(f.ctx, provA, billing.StartSessionParams{CustomerID: c.ID, Quota: 100, Reference: "s"})
		if err != nil {
			t.Fatal(err)
		}
		ref := billing.SettlementReferencePrefix + ses.ID + ":1"
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: ref})
		wantErrParam(t, err, apperr.CodeInvalid, "reference")
		_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 1, Reference: ref})
		wantErrParam(t, err, apperr.CodeInvalid, "reference")
		_, err = f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 1, Reference: ref})
		wantErrParam(t, err, apperr.CodeInvalid, "reference")
		_, err = f.svc.TopUpSession(f.ctx, provA, ses.ID, billing.TopUpSessionParams{Amount: 1, Reference: ref})
		wantErrParam(t, err, apperr.CodeInvalid, "reference")
		// The session settles and ends under its own references.
		if _, _, err := f.svc.ReportUsage(f.ctx, provA, ses.ID, billing.UsageParams{Seq: 1, Amount: 60}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.EndSession(f.ctx, provA, ses.ID); err != nil {
			t.Fatalf("end the session: %v", err)
		}
		f.verifyClean()
	})

	t.Run("ErrChargeReferenceOfAnIncrement", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 100)
		if _, err := f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 50, Reference: "x"}); err != nil {
			t.Fatal(err)
		}
		b := f.balance(c)
		before := f.status(r)
		_, _, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 10, Reference: "x"})
		wantErrParam(t, err, apperr.CodeConflict, "reference")
		if after := f.status(r); after.Charged != before.Charged || after.Reserved != before.Reserved || len(after.History) != len(before.History) {
			t.Fatalf("a refused charge changed the reservation: %+v, was %+v", after, before)
		}
		if got := f.balance(c); got != b {
			t.Fatalf("a refused charge changed the balance: %+v, was %+v", got, b)
		}
		f.verifyClean()
	})

	t.Run("LoweredLimit", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 8000)
		if _, err := f.svc.SetCreditLimit(f.ctx, provA, c.ID, 5000); err != nil {
			t.Fatal(err)
		}
		b := f.balance(c)
		if b.Available != -3000 || b.Limit != 5000 || b.WouldBeRefused {
			t.Fatalf("after lowering %+v (nothing was proposed: nothing would be refused)", b)
		}
		_, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 1})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		if !strings.Contains(err.Error(), "has -3000 available") {
			t.Errorf("the refusal says %q; want the available amount the inquiry gives, -3000", err)
		}
		_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 1, Reference: "d"})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		_, err = f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 1, Reference: "i"})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		f.unchanged(r, c, b)
		if _, r2, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 6000, Reference: "c1"}); err != nil || r2.Reserved != 2000 {
			t.Fatalf("charging an existing reservation under a lowered limit: %+v, %v", r2, err)
		}
		if _, r2, err := f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 2000, Reference: "c2", Final: true}); err != nil || r2.State != billing.StateClosed {
			t.Fatalf("final charge: %+v, %v", r2, err)
		}
		f.wantBilling(c, 8000, 0)
		f.verifyClean()
	})

	t.Run("Cancel", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r := f.reserve(c, 4000)
		f.must2(f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1000, Reference: "c1"}))
		r2, err := f.svc.CancelReservation(f.ctx, provA, r.AuthNumber)
		if err != nil || r2.State != billing.StateCanceled || r2.Released != 3000 || r2.Reserved != 0 {
			t.Fatalf("cancel %+v, %v", r2, err)
		}
		f.wantBilling(c, 1000, 0)
		if again, err := f.svc.CancelReservation(f.ctx, provA, r.AuthNumber); err != nil || again.Version != r2.Version {
			t.Fatalf("cancel again %+v, %v", again, err)
		}
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "c2"})
		wantErrCode(t, err, billing.CodeReservationClosed)
		_, err = f.svc.CancelReservation(f.ctx, provB, r.AuthNumber)
		wantErrCode(t, err, apperr.CodeNotFound)
		if k := historyKinds(f.status(r)); k != "reserve charge cancel" {
			t.Fatalf("history %s", k)
		}
		f.verifyClean()
	})

	t.Run("Expiry", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 4000, ExpiresInSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		long := f.reserve(c, 1000)
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 0 {
			t.Fatalf("nothing due: %d, %v", n, err)
		}
		f.clock.Advance(60 * time.Second)
		b := f.balance(c)
		// Past the expiry, before the sweep: refused, and nothing changes.
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "late"})
		wantErrCode(t, err, billing.CodeReservationExpired)
		_, err = f.svc.IncrementReservation(f.ctx, provA, r.AuthNumber, billing.IncrementParams{Amount: 1, Reference: "late"})
		wantErrCode(t, err, billing.CodeReservationExpired)
		// Nor is it canceled: it expired, and the sweep ends it so.
		_, err = f.svc.CancelReservation(f.ctx, provA, r.AuthNumber)
		wantErrCode(t, err, billing.CodeReservationExpired)
		f.unchanged(r, c, b)
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 1 {
			t.Fatalf("sweep: %d, %v", n, err)
		}
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
		st := f.status(r)
		if st.State != billing.StateExpired || st.Released != 4000 || historyKinds(st) != "reserve expire" {
			t.Fatalf("expired %+v", st)
		}
		f.wantBilling(c, 0, 1000)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 1, Reference: "late"})
		wantErrCode(t, err, billing.CodeReservationExpired)
		_, err = f.svc.CancelReservation(f.ctx, provA, r.AuthNumber)
		wantErrCode(t, err, billing.CodeReservationExpired)
		if st := f.status(long); st.State != billing.StateActive {
			t.Fatalf("the unexpired reservation is %s", st.State)
		}
		f.verifyClean()
	})

	t.Run("StatusLookupEndsAnExpiredReservation", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 4000, ExpiresInSeconds: 60, Reference: "order-1"})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(60 * time.Second)
		// Before the sweep: what an external system asks before it serves
		// says expired, as a charge would, by number and by reference.
		for _, q := range []billing.ReservationLookup{{Reference: "order-1"}, {AuthNumber: r.AuthNumber}} {
			st, err := f.svc.FindReservation(f.ctx, provA, q)
			if err != nil || st.State != billing.StateExpired || st.Reserved != 0 || st.Released != 4000 || historyKinds(st) != "reserve expire" {
				t.Fatalf("lookup %+v after the expiry: %+v, %v", q, st, err)
			}
		}
		f.wantBilling(c, 0, 0)
		if n, err := f.svc.ExpireDue(f.ctx); err != nil || n != 0 {
			t.Fatalf("the sweep after the lookup ended %d, %v", n, err)
		}
		f.verifyClean()
	})

	t.Run("ExpirySweepPassesOverFailures", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 1_000_000)
		// More reservations that cannot be ended than one page of the
		// sweep holds, all due before three that can.
		stuck := map[string]bool{}
		for i := range billing.ExpireSweepBatchMax + 5 {
			r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 10, ExpiresInSeconds: 60})
			if err != nil {
				t.Fatalf("reserve %d: %v", i, err)
			}
			stuck[r.ID] = true
		}
		f.clock.Advance(time.Second)
		var later []billing.Reservation
		for range 3 {
			r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 100, ExpiresInSeconds: 60})
			if err != nil {
				t.Fatal(err)
			}
			later = append(later, r)
		}
		f.clock.Advance(time.Minute)
		broken := billing.NewService(billing.Config{Store: failingExpiry{f.bs, stuck}, Ledger: f.engine, Clock: f.clock.Now, Events: billingEvents{}})
		n, err := broken.ExpireDue(f.ctx)
		if n != len(later) || !errors.Is(err, errInjected) {
			t.Fatalf("sweep past %d failing reservations = %d, %v; want %d and the failures", len(stuck), n, err, len(later))
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("and %d more failures", len(stuck)-10)) {
			t.Errorf("the sweep's error does not count the failures it left out: %.300s", msg)
		}
		for _, r := range later {
			if st := f.status(r); st.State != billing.StateExpired || st.Released != 100 {
				t.Fatalf("reservation due after the failing ones: %+v", st)
			}
		}
		f.wantBilling(c, 0, int64(10*len(stuck)))
		// Once they can be ended, the next sweep ends them.
		if n, err := f.svc.ExpireDue(f.ctx); n != len(stuck) || err != nil {
			t.Fatalf("sweep after the failures = %d, %v; want %d", n, err, len(stuck))
		}
		f.wantBilling(c, 0, 0)
		f.verifyClean()
	})

	t.Run("StatusLookup", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 10000)
		r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 700, Reference: "order-9"})
		if err != nil {
			t.Fatal(err)
		}
		if again, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 700, Reference: "order-9"}); err != nil || again.ID != r.ID {
			t.Fatalf("repeated reservation %+v, %v", again, err)
		}
		f.wantBilling(c, 0, 700)
		_, err = f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: c.ID, Amount: 701, Reference: "order-9"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		typed := strings.ToLower(r.AuthNumber[:5]) + "-" + strings.ToLower(r.AuthNumber[5:])
		for _, q := range []billing.ReservationLookup{{AuthNumber: typed}, {Reference: "order-9"}} {
			st, err := f.svc.FindReservation(f.ctx, provA, q)
			if err != nil || st.ID != r.ID || len(st.History) != 1 || st.Reserved != 700 {
				t.Fatalf("lookup %+v: %+v, %v", q, st, err)
			}
		}
		_, err = f.svc.FindReservation(f.ctx, provB, billing.ReservationLookup{AuthNumber: r.AuthNumber})
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.FindReservation(f.ctx, provB, billing.ReservationLookup{Reference: "order-9"})
		wantErrCode(t, err, apperr.CodeNotFound)
		_, err = f.svc.FindReservation(f.ctx, provA, billing.ReservationLookup{})
		wantErrCode(t, err, apperr.CodeInvalid)
		bad := []byte(r.AuthNumber)
		bad[3] = map[bool]byte{true: 'A', false: 'B'}[bad[3] != 'A']
		_, err = f.svc.FindReservation(f.ctx, provA, billing.ReservationLookup{AuthNumber: string(bad)})
		wantErrCode(t, err, apperr.CodeInvalid)
		list, err := f.svc.FindReservations(f.ctx, provA, billing.ReservationFilter{CustomerID: c.ID, State: billing.StateActive, Limit: 10})
		if err != nil || len(list) != 1 {
			t.Fatalf("list %+v, %v", list, err)
		}
	})

	t.Run("DirectCharge", func(t *testing.T) {
		f := newBillingFixture(t, h)
		c := f.customer("c", billing.Postpaid, 1000)
		ch, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 600, Reference: "d1"})
		if err != nil || ch.TransferID == 0 || ch.ReservationID != "" {
			t.Fatalf("direct %+v, %v", ch, err)
		}
		if again, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 600, Reference: "d1"}); err != nil || again.ID != ch.ID {
			t.Fatalf("retry %+v, %v", again, err)
		}
		_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 601, Reference: "d1"})
		wantErrParam(t, err, apperr.CodeConflict, "amount")
		_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: c.ID, Amount: 401, Reference: "d2"})
		wantErrCode(t, err, billing.CodeLimitExceeded)
		r := f.reserve(c, 400)
		_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 100, Reference: "d1"})
		wantErrParam(t, err, apperr.CodeConflict, "auth_number")
		f.wantBilling(c, 600, 400)
		// One event for the direct charge; none for the retry or the
		// refusals; a charge against a reservation is not one.
		f.must2(f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 100, Reference: "d3"}))
		if data := f.wantEvents(t, "billing.charge.created", 1); data["id"] != ch.ID || data["amount"] != 600.0 || data["currency"] != "JPY" {
			t.Fatalf("charge event data %v", data)
		}
		f.verifyClean()
	})

	t.Run("Balances", func(t *testing.T) {
		f := newBillingFixture(t, h)
		post := f.customer("post", billing.Postpaid, 10000)
		pre := f.customer("pre", billing.Prepaid, 0)
		idle := f.customer("idle", billing.Postpaid, 500)
		f.must2(f.svc.Charge(f.ctx, provA, f.reserve(post, 3000).AuthNumber, billing.ChargeParams{Amount: 1200, Reference: "ch-1"}))
		if _, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: pre.ID, Amount: 5000, Reference: "tu-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: pre.ID, Amount: 700, Reference: "d-1"}); err != nil {
			t.Fatal(err)
		}
		f.reserve(pre, 300)
		list, err := f.svc.FindCustomers(f.ctx, provA, billing.CustomerFilter{Limit: 10})
		if err != nil || len(list) != 3 {
			t.Fatalf("list %+v, %v", list, err)
		}
		listed, got, err := f.svc.FindCustomerBalances(f.ctx, provA, billing.CustomerFilter{Limit: 10})
		if err != nil || len(listed) != len(list) || len(got) != len(list) {
			t.Fatalf("customers %+v with balances %+v, %v", listed, got, err)
		}
		for i, c := range list {
			if listed[i].ID != c.ID {
				t.Fatalf("customer %d is %s, want %s (FindCustomers)", i, listed[i].ID, c.ID)
			}
			if want := f.balance(c); got[i] != want {
				t.Fatalf("balance of %s: %+v, want %+v (FindBalance)", c.Reference, got[i], want)
			}
		}
		// The store reads the accounts that exist, in id order, and skips
		// the rest.
		accts, err := f.bs.AccountsByID(f.ctx, []int64{idle.AccountID, 1 << 40, post.AccountID})
		if err != nil || len(accts) != 2 || accts[0].ID != min(post.AccountID, idle.AccountID) || accts[1].ID != max(post.AccountID, idle.AccountID) {
			t.Fatalf("accounts by id: %+v, %v", accts, err)
		}

		// Another organization sees its own customers only.
		other, err := f.svc.CreateCustomer(f.ctx, provB, billing.CustomerParams{Reference: "post", Currency: "JPY", Mode: billing.Postpaid, CreditLimit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if listed, got, err := f.svc.FindCustomerBalances(f.ctx, provB, billing.CustomerFilter{Limit: 10}); err != nil ||
			len(listed) != 1 || listed[0].ID != other.ID || len(got) != 1 || got[0].Available != 1 {
			t.Fatalf("provider B's customers %+v with balances %+v, %v", listed, got, err)
		}
		for _, tc := range []struct {
			name  string
			actor billing.Actor
			limit int
			code  string
		}{
			{"ErrForbiddenNoOrg", billing.OrgActor(""), 10, apperr.CodeForbidden},
			{"ErrForbiddenSystem", billing.Actor{Kind: billing.ActorSystem, ID: "x"}, 10, apperr.CodeForbidden},
			{"ErrInvalidLimit", provA, billing.PageLimitMax + 1, apperr.CodeInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cs, bs, err := f.svc.FindCustomerBalances(f.ctx, tc.actor, billing.CustomerFilter{Limit: tc.limit})
				wantErrCode(t, err, tc.code)
				if cs != nil || bs != nil {
					t.Fatalf("refused, yet returned %+v and %+v", cs, bs)
				}
			})
		}
		t.Run("ErrAccountMissing", func(t *testing.T) {
			h.Exec(t, f.store, fmt.Sprintf("UPDATE billing_customers SET account_id = %d WHERE id = '%s'", int64(1<<40), idle.ID))
			_, _, err := f.svc.FindCustomerBalances(f.ctx, provA, billing.CustomerFilter{Limit: 10})
			if !apperr.Is(err, apperr.CodeInternal) || !strings.Contains(err.Error(), idle.ID) {
				t.Fatalf("a customer whose account is missing: %v", err)
			}
		})
	})

	t.Run("ConcurrentReservations", func(t *testing.T) {
		for _, mode := range []billing.Mode{billing.Postpaid, billing.Prepaid} {
			t.Run(string(mode), func(t *testing.T) {
				f := newBillingFixture(t, h)
				testConcurrentReservations(t, f, mode, f.svc, f.svc)
			})
		}
	})

	t.Run("TwoNodes", func(t *testing.T) {
		f1, f2 := newBillingPair(t, h)
		testConcurrentReservations(t, f1, billing.Postpaid, f1.svc, f2.svc)
	})

	t.Run("StatementInTimeOrderAcrossNodes", func(t *testing.T) {
		// Each node hands out transfer ids from its own block, so the
		// second node's ids are larger whenever it acts: the statement
		// still lists what happened in the order it happened.
		f1, f2 := newBillingPair(t, h)
		c := f1.customer("c", billing.Postpaid, 100000)
		from := f1.clock.Now()
		r := f1.reserve(c, 1000)
		f1.clock.Advance(time.Second)
		f1.must2(f2.svc.Charge(f1.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 300, Reference: "on-node-2"}))
		f1.clock.Advance(time.Second)
		f1.must2(f1.svc.Charge(f1.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: 200, Reference: "on-node-1", Final: true}))
		st, err := f1.svc.FindStatement(f1.ctx, provA, billing.StatementParams{CustomerID: c.ID, From: from, To: f1.clock.Now().Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, row := range st.Rows {
			got = append(got, fmt.Sprintf("%s %d → balance %d reserved %d", row.Kind, row.Amount, row.Balance, row.Reserved))
		}
		// A charge posts its hold and holds what is left again; the final
		// one releases the rest.
		want := []string{"hold 1000 → balance 0 reserved 1000", "charge 300 → balance -300 reserved 0",
			"hold 700 → balance -300 reserved 700", "charge 200 → balance -500 reserved 0"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("statement rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("Model", func(t *testing.T) { testBillingModel(t, h) })
	t.Run("Metering", func(t *testing.T) { testBillingMetering(t, h) })
	t.Run("MonthClose", func(t *testing.T) { testBillingMonthClose(t, h) })
	t.Run("Verify", func(t *testing.T) { testBillingVerify(t, h) })
}

func (f *billingFixture) must2(_ billing.Charge, r billing.Reservation, err error) billing.Reservation {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func wantErrParam(t testing.TB, err error, code, param string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != code || ae.Param != param {
		t.Fatalf("error %v: want %s naming %s", err, code, param)
	}
}

// testConcurrentReservations reserves from many goroutines, half through
// svcA and half through svcB (two nodes when they differ), against one
// customer, and checks the holds never exceed the limit.
func testConcurrentReservations(t *testing.T, f *billingFixture, mode billing.Mode, svcA, svcB *billing.Service) {
	const limit, amount, workers, each = 10000, 700, 8, 5
	var limitArg int64 = limit
	if mode == billing.Prepaid {
		limitArg = 0
	}
	c := f.customer("hot", mode, limitArg)
	if mode == billing.Prepaid {
		if _, err := f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: c.ID, Amount: limit, Reference: "fund"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused int
	var held int64
	for w := range workers {
		svc := svcA
		if w%2 == 1 {
			svc = svcB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				r, err := svc.Reserve(context.Background(), provA, billing.ReserveParams{CustomerID: c.ID, Amount: amount})
				mu.Lock()
				switch {
				case err == nil:
					ok++
					held += r.Reserved
				case apperr.CodeOf(err) == billing.CodeLimitExceeded:
					refused++
				default:
					t.Errorf("reserve: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if held > limit || ok != limit/amount || ok+refused != workers*each {
		t.Fatalf("%d reservations holding %d (limit %d), %d refused", ok, held, limit, refused)
	}
	if b := f.balance(c); b.Reserved != held || b.Available != limit-held {
		t.Fatalf("balance %+v, held %d", b, held)
	}
	f.verifyClean()
}

// testBillingModel drives random operations on a few customers and checks
// after each that every customer's used and reserved amounts equal a
// simple model's, and at the end that the ledger verifies.
func testBillingModel(t *testing.T, h Harness) {
	f := newBillingFixture(t, h)
	rng := rand.New(rand.NewPCG(5, 9))
	type mcus struct {
		c              billing.Customer
		used, reserved int64
		funds          int64 // prepaid: topped up
	}
	type mrsv struct {
		r        billing.Reservation
		cus      *mcus
		reserved int64
		live     bool
	}
	var custs []*mcus
	var rsvs []*mrsv
	for i := range 4 {
		mode, limit := billing.Postpaid, int64(20000+rng.IntN(20000))
		if i%2 == 1 {
			mode, limit = billing.Prepaid, 0
		}
		custs = append(custs, &mcus{c: f.customer(fmt.Sprintf("m-%d", i), mode, limit)})
	}
	available := func(m *mcus) int64 {
		if m.c.Mode == billing.Prepaid {
			return m.funds - m.used - m.reserved
		}
		return m.c.CreditLimit - m.used - m.reserved
	}
	steps := 200
	if testing.Short() {
		steps = 60
	}
	ref := 0
	nextRef := func() string { ref++; return fmt.Sprintf("ref-%d", ref) }
	for step := range steps {
		m := custs[rng.IntN(len(custs))]
		var live []*mrsv
		for _, r := range rsvs {
			if r.live && r.cus == m {
				live = append(live, r)
			}
		}
		amount := 1 + rng.Int64N(6000)
		var err error
		op := rng.IntN(9)
		if len(live) == 0 && op >= 1 && op <= 5 {
			op = 0
		}
		switch op {
		case 0: // reserve
			var r billing.Reservation
			r, err = f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: m.c.ID, Amount: amount, ExpiresInSeconds: int64(60 + rng.IntN(600))})
			if want := amount <= available(m); want != (err == nil) {
				t.Fatalf("step %d: reserve %d with %d available: %v", step, amount, available(m), err)
			}
			if err == nil {
				m.reserved += amount
				rsvs = append(rsvs, &mrsv{r: r, cus: m, reserved: amount, live: true})
			}
		case 1: // increment
			x := live[rng.IntN(len(live))]
			_, err = f.svc.IncrementReservation(f.ctx, provA, x.r.AuthNumber, billing.IncrementParams{Amount: amount, Reference: nextRef()})
			expired := !f.clock.Now().Before(x.r.ExpiresAt)
			if want := !expired && amount <= available(m); want != (err == nil) {
				t.Fatalf("step %d: increment %d with %d available (expired %v): %v", step, amount, available(m), expired, err)
			}
			if err == nil {
				x.reserved += amount
				m.reserved += amount
			}
		case 2, 3: // charge
			x := live[rng.IntN(len(live))]
			amount = 1 + rng.Int64N(max(x.reserved+x.reserved/2, 1))
			final, diff := rng.IntN(3) == 0, rng.IntN(2) == 0
			_, _, err = f.svc.Charge(f.ctx, provA, x.r.AuthNumber, billing.ChargeParams{Amount: amount, Reference: nextRef(), Final: final, ReserveDifference: diff})
			expired := !f.clock.Now().Before(x.r.ExpiresAt)
			over := amount > x.reserved
			want := !expired && (!over || (diff && amount-x.reserved <= available(m)))
			if want != (err == nil) {
				t.Fatalf("step %d: charge %d of %d reserved (diff %v, %d available, expired %v): %v", step, amount, x.reserved, diff, available(m), expired, err)
			}
			if err == nil {
				if over {
					m.reserved += amount - x.reserved
					x.reserved = amount
				}
				m.used += amount
				m.reserved -= amount
				x.reserved -= amount
				if final {
					m.reserved -= x.reserved
					x.reserved, x.live = 0, false
				}
			}
		case 4: // cancel
			x := live[rng.IntN(len(live))]
			_, err = f.svc.CancelReservation(f.ctx, provA, x.r.AuthNumber)
			if err != nil {
				t.Fatalf("step %d: cancel: %v", step, err)
			}
			m.reserved -= x.reserved
			x.reserved, x.live = 0, false
		case 5: // time passes; the sweep runs
			f.clock.Advance(time.Duration(rng.IntN(300)) * time.Second)
			if _, err := f.svc.ExpireDue(f.ctx); err != nil {
				t.Fatalf("step %d: expire: %v", step, err)
			}
			now := f.clock.Now()
			for _, x := range rsvs {
				if x.live && !now.Before(x.r.ExpiresAt) {
					x.cus.reserved -= x.reserved
					x.reserved, x.live = 0, false
				}
			}
		case 6: // direct charge
			_, err = f.svc.ChargeDirect(f.ctx, provA, billing.DirectChargeParams{CustomerID: m.c.ID, Amount: amount, Reference: nextRef()})
			if want := amount <= available(m); want != (err == nil) {
				t.Fatalf("step %d: direct %d with %d available: %v", step, amount, available(m), err)
			}
			if err == nil {
				m.used += amount
			}
		case 7: // top up
			_, err = f.svc.TopUp(f.ctx, provA, billing.TopUpParams{CustomerID: m.c.ID, Amount: amount, Reference: nextRef()})
			if (m.c.Mode == billing.Prepaid) != (err == nil) {
				t.Fatalf("step %d: top up a %s customer: %v", step, m.c.Mode, err)
			}
			if err == nil {
				m.funds += amount
			}
		case 8: // change a postpaid limit
			if m.c.Mode == billing.Postpaid {
				m.c, err = f.svc.SetCreditLimit(f.ctx, provA, m.c.ID, int64(rng.IntN(40000)))
				if err != nil {
					t.Fatalf("step %d: set limit: %v", step, err)
				}
			}
		}
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code == apperr.CodeInternal || ae.Code == ledger.CodeTransferRejected {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		for _, c := range custs {
			b := f.balance(c.c)
			used := b.Used
			if c.c.Mode == billing.Prepaid && b.Balance != c.funds-c.used {
				t.Fatalf("step %d: prepaid %s balance %d, model %d", step, c.c.Reference, b.Balance, c.funds-c.used)
			}
			if used != c.used || b.Reserved != c.reserved {
				t.Fatalf("step %d: customer %s used %d reserved %d, model %d and %d", step, c.c.Reference, used, b.Reserved, c.used, c.reserved)
			}
		}
		for _, x := range rsvs {
			st := f.status(x.r)
			if st.Reserved != x.reserved || (st.State == billing.StateActive) != x.live {
				t.Fatalf("step %d: reservation %s %s reserved %d, model %d live %v", step, x.r.AuthNumber, st.State, st.Reserved, x.reserved, x.live)
			}
		}
	}
	f.verifyClean()
	f.billingVerifyClean()
}

// errInjected is the failure failingExpiry injects.
var errInjected = errors.New("injected failure")

// failingExpiry is a billing store on which the given reservations cannot
// be expired: reading their metered session, which only the expiry does
// for a reservation without one, fails.
type failingExpiry struct {
	billing.Store
	fail map[string]bool // reservation ids
}

func (s failingExpiry) BillingTransact(ctx context.Context, fn func(context.Context, billing.Tx) error) error {
	return s.Store.BillingTransact(ctx, func(ctx context.Context, tx billing.Tx) error {
		return fn(ctx, failingExpiryTx{tx, s.fail})
	})
}

type failingExpiryTx struct {
	billing.Tx
	fail map[string]bool
}

func (t failingExpiryTx) SessionByReservationForUpdate(ctx context.Context, id string) (billing.Session, error) {
	if t.fail[id] {
		return billing.Session{}, errInjected
	}
	return t.Tx.SessionByReservationForUpdate(ctx, id)
}
