package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// reservationJSON is a reservation as every read shows it, and as
// billing.reservation.* events carry it. History is there only on a status
// lookup (GET by authorization number, or the list by reference).
type reservationJSON struct {
	Object     string                 `json:"object"` // "billing_reservation"
	ID         string                 `json:"id"`
	AuthNumber string                 `json:"auth_number"`
	Customer   string                 `json:"customer"`
	Reference  string                 `json:"reference"` // "" when not given
	State      billing.State          `json:"state"`
	Amount     moneyJSON              `json:"amount"`
	Authorized moneyJSON              `json:"authorized"`
	Reserved   moneyJSON              `json:"reserved"`
	Charged    moneyJSON              `json:"charged"`
	Released   moneyJSON              `json:"released"`
	ExpiresAt  time.Time              `json:"expires_at"`
	CreatedAt  time.Time              `json:"created_at"`
	UpdatedAt  time.Time              `json:"updated_at"`
	History    []reservationEventJSON `json:"history,omitempty"`
}

// reservationEventJSON is one entry of a reservation's history.
type reservationEventJSON struct {
	Seq       int               `json:"seq"`
	At        time.Time         `json:"at"`
	Kind      billing.EventKind `json:"kind"`
	Amount    moneyJSON         `json:"amount"`
	Released  moneyJSON         `json:"released"`
	Reference string            `json:"reference"`
	Transfer  *string           `json:"transfer"` // null when the entry moved no money
}

func toReservation(r billing.Reservation) reservationJSON {
	m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: r.Currency} }
	return reservationJSON{Object: "billing_reservation", ID: r.ID, AuthNumber: r.AuthNumber, Customer: r.CustomerID, Reference: r.Reference,
		State: r.State, Amount: m(r.Amount), Authorized: m(r.Authorized), Reserved: m(r.Reserved), Charged: m(r.Charged), Released: m(r.Released),
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func toReservationStatus(st billing.ReservationStatus) reservationJSON {
	out := toReservation(st.Reservation)
	out.History = make([]reservationEventJSON, len(st.History))
	for i, e := range st.History {
		m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: st.Currency} }
		out.History[i] = reservationEventJSON{Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, Amount: m(e.Amount), Released: m(e.Released), Reference: e.Reference}
		if e.TransferID != 0 {
			tr := formatID(prefixTransfer, e.TransferID)
			out.History[i].Transfer = &tr
		}
	}
	return out
}

// ReservationEventData renders r as GET /v1/billing/reservations/{auth_number}
// shows it, without its history, for its events (billing.Config.Events).
func (EventEncoder) ReservationEventData(r billing.Reservation) []byte {
	return eventData(toReservation(r))
}

// reservationCreate is the body of POST /v1/billing/reservations.
type reservationCreate struct {
	Customer         string     `json:"customer"`
	Amount           *moneyJSON `json:"amount"`
	Reference        string     `json:"reference"`
	ExpiresInSeconds int64      `json:"expires_in_seconds"`
}

type incrementBody struct {
	Amount    *moneyJSON `json:"amount"`
	Reference string     `json:"reference"`
}

var reservationStates = []billing.State{billing.StateActive, billing.StateClosed, billing.StateCanceled, billing.StateExpired}

// createReservation reserves for a customer; the customer is read first
// for its currency.
func (s *Server) createReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, true)
	if err != nil {
		return err
	}
	var in reservationCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	c, amount, err := customerAmount(r.Context(), svc, p, in.Customer, in.Amount, "amount")
	if err != nil {
		return err
	}
	// The key (checked by the idempotency layer) also keys the reservation
	// itself when it has no reference: see billing.ReserveParams.RequestKey.
	var key string
	if s.cfg.Idempotency != nil {
		key = r.Header.Get("Idempotency-Key")
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Reservation, error) {
		rsv, err := svc.Reserve(ctx, billingActor(p), billing.ReserveParams{CustomerID: c.ID, Amount: amount, Reference: in.Reference,
			ExpiresInSeconds: in.ExpiresInSeconds, RequestKey: key})
		return rsv, renameParam(err, map[string]string{"customer_id": "customer"})
	}, rendered(http.StatusCreated, toReservation))
}

// listReservations pages through the organization's reservations, newest
// first, optionally of one ?customer= and ?state=. ?reference= is the status
// lookup by the caller's own reference: a list of that one reservation,
// with its history, or an empty list.
func (s *Server) listReservations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if ref := q.Get("reference"); ref != "" {
		for _, other := range []string{"customer", "state", "starting_after"} {
			if q.Has(other) {
				return invalid(other, "reference looks up one reservation: leave out %s", other)
			}
		}
		if _, err := pageLimit(r); err != nil {
			return err
		}
		st, err := svc.FindReservation(r.Context(), billingActor(p), billing.ReservationLookup{Reference: ref})
		if apperr.Is(err, apperr.CodeNotFound) {
			return writeJSON(w, http.StatusOK, newList([]reservationJSON{}, 1))
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, newList([]reservationJSON{toReservationStatus(st)}, 1))
	}
	limit, after, err := textPageParams(r, prefixReservation)
	if err != nil {
		return err
	}
	f := billing.ReservationFilter{State: billing.State(q.Get("state"))}
	if f.State != "" && !knownReservationState(f.State) {
		return invalid("state", "unknown state %q", f.State)
	}
	if v := q.Get("customer"); v != "" {
		if f.CustomerID, err = parseTextID(prefixCustomer, v, "customer"); err != nil {
			return err
		}
	}
	rs, err := fetchPage(limit, after, func(r billing.Reservation) string { return r.ID }, func(after string, n int) ([]billing.Reservation, error) {
		f.AfterID, f.Limit = after, n
		return svc.FindReservations(r.Context(), billingActor(p), f)
	})
	if err != nil {
		return err
	}
	out := make([]reservationJSON, len(rs))
	for i, rv := range rs {
		out[i] = toReservation(rv)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

func knownReservationState(st billing.State) bool {
	for _, s := range reservationStates {
		if s == st {
			return true
		}
	}
	return false
}

// pathAuthNumber reads {auth_number}: as a person may type it, with the
// check character right; anything else names no reservation.
func pathAuthNumber(r *http.Request) (string, error) {
	n, ok := billing.NormalizeAuthNumber(r.PathValue("auth_number"))
	if !ok {
		return "", apperr.NotFound("reservation")
	}
	return n, nil
}

// getReservation is the status lookup by authorization number: state,
// amounts, expiry and history.
func (s *Server) getReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, false)
	if err != nil {
		return err
	}
	auth, err := pathAuthNumber(r)
	if err != nil {
		return err
	}
	st, err := svc.FindReservation(r.Context(), billingActor(p), billing.ReservationLookup{AuthNumber: auth})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toReservationStatus(st))
}

// onReservation is every reservation step: scope, path, body, and the
// body's amount in the reservation's currency (read first).
func (s *Server) onReservation(r *http.Request, p auth.Principal, body any) (svc *billing.Service, auth string, amount int64, err error) {
	return s.onBillingStep(r, p, body, pathAuthNumber, func(ctx context.Context, svc *billing.Service, a billing.Actor, auth string) (string, error) {
		st, err := svc.FindReservation(ctx, a, billing.ReservationLookup{AuthNumber: auth})
		return st.Currency, err
	})
}

// billingAction is the body of a step that takes no input: {}.
type billingAction struct{}

// amountBody is the body of a step that carries an amount, "amount", in
// the currency of the object it acts on.
type amountBody interface{ money() *moneyJSON }

func (b *incrementBody) money() *moneyJSON { return b.Amount }
func (b *chargeCreate) money() *moneyJSON  { return b.Amount }

// onBillingStep is every step on a reservation or a session: the write
// scope, the object's key from the path (pathKey), the body, and, for an
// amountBody, its amount in the object's currency (read first, by
// currencyOf).
func (s *Server) onBillingStep(r *http.Request, p auth.Principal, body any, pathKey func(*http.Request) (string, error),
	currencyOf func(context.Context, *billing.Service, billing.Actor, string) (string, error)) (svc *billing.Service, key string, amount int64, err error) {
	if svc, err = s.billingService(p, true); err != nil {
		return nil, "", 0, err
	}
	if key, err = pathKey(r); err != nil {
		return nil, "", 0, err
	}
	if err := decode(r, body); err != nil {
		return nil, "", 0, err
	}
	ab, ok := body.(amountBody)
	if !ok {
		return svc, key, 0, nil
	}
	currency, err := currencyOf(r.Context(), svc, billingActor(p), key)
	if err != nil {
		return nil, "", 0, err
	}
	if amount, err = inCurrency(ab.money(), currency, "amount"); err != nil {
		return nil, "", 0, err
	}
	return svc, key, amount, nil
}

func (s *Server) incrementReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in incrementBody
	svc, auth, amount, err := s.onReservation(r, p, &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Reservation, error) {
		return svc.IncrementReservation(ctx, billingActor(p), auth, billing.IncrementParams{Amount: amount, Reference: in.Reference})
	}, rendered(http.StatusOK, toReservation))
}

func (s *Server) cancelReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, auth, _, err := s.onReservation(r, p, &billingAction{})
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Reservation, error) {
		return svc.CancelReservation(ctx, billingActor(p), auth)
	}, rendered(http.StatusOK, toReservation))
}
