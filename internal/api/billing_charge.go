package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// billingChargeJSON is money taken from a customer: against a reservation
// (designated, with the reservation as it is after the charge) or directly.
type billingChargeJSON struct {
	Object      string           `json:"object"` // "billing_charge"
	ID          string           `json:"id"`
	Customer    string           `json:"customer"`
	AuthNumber  *string          `json:"auth_number"` // null for a direct charge
	Reference   string           `json:"reference"`
	Amount      moneyJSON        `json:"amount"`
	Final       bool             `json:"final"`
	Transfer    string           `json:"transfer"`
	CreatedAt   time.Time        `json:"created_at"`
	Reservation *reservationJSON `json:"reservation"` // null for a direct charge
}

func toBillingCharge(c billing.Charge, currency string, rsv *billing.Reservation) billingChargeJSON {
	out := billingChargeJSON{Object: "billing_charge", ID: c.ID, Customer: c.CustomerID, Reference: c.Reference,
		Amount: moneyJSON{Amount: c.Amount, Currency: currency}, Final: c.Final, Transfer: formatID(prefixTransfer, c.TransferID), CreatedAt: c.CreatedAt.UTC()}
	if c.AuthNumber != "" {
		a := c.AuthNumber
		out.AuthNumber = &a
	}
	if rsv != nil {
		r := toReservation(*rsv)
		out.Reservation = &r
	}
	return out
}

// ChargeEventData renders a direct charge as POST /v1/billing/charges
// answers it, for its event (billing.Config.Events).
func (EventEncoder) ChargeEventData(c billing.Charge, currency string) []byte {
	return eventData(toBillingCharge(c, currency, nil))
}

// chargeCreate is the body of POST /v1/billing/reservations/{auth_number}/charges.
type chargeCreate struct {
	Amount            *moneyJSON `json:"amount"`
	Reference         string     `json:"reference"`
	Final             bool       `json:"final"`
	ReserveDifference bool       `json:"reserve_difference"`
}

// directChargeCreate is the body of POST /v1/billing/charges.
type directChargeCreate struct {
	Customer  string     `json:"customer"`
	Amount    *moneyJSON `json:"amount"`
	Reference string     `json:"reference"`
}

// chargeReservation is a designated charge against an authorization number.
func (s *Server) chargeReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in chargeCreate
	svc, auth, amount, err := s.onReservation(r, p, &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.ChargeResult, error) {
		c, rsv, err := svc.Charge(ctx, billingActor(p), auth, billing.ChargeParams{Amount: amount, Reference: in.Reference,
			Final: in.Final, ReserveDifference: in.ReserveDifference})
		return billing.ChargeResult{Charge: c, Reservation: rsv}, err
	}, func(w http.ResponseWriter, res billing.ChargeResult) error {
		return writeJSON(w, http.StatusCreated, toBillingCharge(res.Charge, res.Reservation.Currency, &res.Reservation))
	})
}

// createBillingCharge is a direct charge, checked against the customer's
// available amount; the customer is read first for its currency.
func (s *Server) createBillingCharge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, true)
	if err != nil {
		return err
	}
	var in directChargeCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	cus, amount, err := customerAmount(r.Context(), svc, p, in.Customer, in.Amount, "amount")
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Charge, error) {
		c, err := svc.ChargeDirect(ctx, billingActor(p), billing.DirectChargeParams{CustomerID: cus.ID, Amount: amount, Reference: in.Reference})
		return c, renameParam(err, map[string]string{"customer_id": "customer"})
	}, func(w http.ResponseWriter, c billing.Charge) error {
		return writeJSON(w, http.StatusCreated, toBillingCharge(c, cus.Currency, nil))
	})
}

// listBillingCharges lists a customer's charges, oldest first (as a
// statement reads), optionally created in [created_gte, created_lt), the
// bounds GET /v1/transfers takes.
// In the list a charge's reservation is not expanded (null): auth_number
// names it.
func (s *Server) listBillingCharges(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, false)
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixCharge)
	if err != nil {
		return err
	}
	f := billing.ChargeFilter{CustomerID: id}
	if err := queryTimes(r, queryTime{"created_gte", &f.CreatedFrom}, queryTime{"created_lt", &f.CreatedBefore}); err != nil {
		return err
	}
	var cus billing.Customer // read with each page: the currency of its amounts
	cs, err := fetchPage(limit, after, func(c billing.Charge) string { return c.ID }, func(after string, n int) (cs []billing.Charge, err error) {
		f.AfterID, f.Limit = after, n
		cus, cs, err = svc.FindCharges(r.Context(), billingActor(p), f)
		return cs, err
	})
	if err != nil {
		return err
	}
	out := make([]billingChargeJSON, len(cs))
	for i, c := range cs {
		out[i] = toBillingCharge(c, cus.Currency, nil)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}
