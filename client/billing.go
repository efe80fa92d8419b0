package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// BillingCustomer is one of a provider's billing customers, as the API
// shows it (and as billing.customer.* events carry it).
type BillingCustomer struct {
	ID          string    `json:"id"`
	Reference   string    `json:"reference"`
	Mode        string    `json:"mode"` // BillingPrepaid or BillingPostpaid
	Currency    string    `json:"currency"`
	CreditLimit Money     `json:"credit_limit"` // 0 for prepaid
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Billing modes (BillingCustomer.Mode).
const (
	BillingPrepaid  = "prepaid"
	BillingPostpaid = "postpaid"
)

// BillingCustomerParams registers a customer; CreditLimit for postpaid only.
type BillingCustomerParams struct {
	Reference   string `json:"reference"`
	Mode        string `json:"mode"`
	Currency    string `json:"currency"`
	CreditLimit *Money `json:"credit_limit,omitempty"`
}

// BillingTopUp is a prepaid top-up as the ledger recorded it.
type BillingTopUp struct {
	Customer  string    `json:"customer"`
	Reference string    `json:"reference"`
	Amount    Money     `json:"amount"`
	Transfer  string    `json:"transfer"`
	CreatedAt time.Time `json:"created_at"`
}

// BillingInvoice is a postpaid customer's closed calendar month (UTC): the
// count and total of its charges. Invoices are read from
// billing.invoice.created events.
type BillingInvoice struct {
	ID          string    `json:"id"`
	Customer    string    `json:"customer"`
	Period      string    `json:"period"` // "2026-01"
	Total       Money     `json:"total"`
	Count       int64     `json:"count"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"` // exclusive: the next month's first instant
	ClosedAt    time.Time `json:"closed_at"`
}

// BillingBalance answers a balance inquiry.
type BillingBalance struct {
	Customer       string `json:"customer"`
	Mode           string `json:"mode"`
	Limit          Money  `json:"limit"`
	Balance        Money  `json:"balance"`
	Used           Money  `json:"used"`
	Reserved       Money  `json:"reserved"`
	Available      Money  `json:"available"`
	Proposed       *Money `json:"proposed"`        // nil without a proposed amount
	RemainingAfter *Money `json:"remaining_after"` // nil without a proposed amount
	WouldBeRefused bool   `json:"would_be_refused"`
}

// Reservation is money held for a customer's use, named by its
// authorization number. History is filled by status lookups only.
type Reservation struct {
	ID         string             `json:"id"`
	AuthNumber string             `json:"auth_number"`
	Customer   string             `json:"customer"`
	Reference  string             `json:"reference"`
	State      string             `json:"state"` // ReservationActive, …
	Amount     Money              `json:"amount"`
	Authorized Money              `json:"authorized"`
	Reserved   Money              `json:"reserved"`
	Charged    Money              `json:"charged"`
	Released   Money              `json:"released"`
	ExpiresAt  time.Time          `json:"expires_at"`
	CreatedAt  time.Time          `json:"created_at"`
	UpdatedAt  time.Time          `json:"updated_at"`
	History    []ReservationEvent `json:"history"`
}

// Reservation states (Reservation.State).
const (
	ReservationActive   = "active"
	ReservationClosed   = "closed"
	ReservationCanceled = "canceled"
	ReservationExpired  = "expired"
)

// ReservationEvent is one entry of a reservation's history.
type ReservationEvent struct {
	Seq       int       `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // reserve, increment, charge, cancel, expire
	Amount    Money     `json:"amount"`
	Released  Money     `json:"released"`
	Reference string    `json:"reference"`
	Transfer  *string   `json:"transfer"`
}

// ReservationParams asks for a reservation; ExpiresInSeconds 0 takes the
// server's default (a day).
type ReservationParams struct {
	Customer         string `json:"customer"`
	Amount           Money  `json:"amount"`
	Reference        string `json:"reference,omitempty"`
	ExpiresInSeconds int64  `json:"expires_in_seconds,omitempty"`
}

// ReservationQuery filters ListReservations.
type ReservationQuery struct {
	ListParams
	Customer string
	State    string
}

// ChargeParams charges against a reservation.
type ChargeParams struct {
	Amount            Money  `json:"amount"`
	Reference         string `json:"reference"`
	Final             bool   `json:"final,omitempty"`
	ReserveDifference bool   `json:"reserve_difference,omitempty"`
}

// DirectChargeParams charges a customer without a reservation.
type DirectChargeParams struct {
	Customer  string `json:"customer"`
	Amount    Money  `json:"amount"`
	Reference string `json:"reference"`
}

// BillingCharge is money taken from a customer; Reservation is the
// reservation after a designated charge (nil for a direct one).
type BillingCharge struct {
	ID          string       `json:"id"`
	Customer    string       `json:"customer"`
	AuthNumber  string       `json:"auth_number"` // "" for a direct charge
	Reference   string       `json:"reference"`
	Amount      Money        `json:"amount"`
	Final       bool         `json:"final"`
	Transfer    string       `json:"transfer"`
	CreatedAt   time.Time    `json:"created_at"`
	Reservation *Reservation `json:"reservation"`
}

// BillingCustomer decodes the event's object as a customer (billing.customer.*).
func (e Event) BillingCustomer() (BillingCustomer, error) {
	var c BillingCustomer
	err := decodeObject(e, "billing_customer", &c)
	return c, err
}

// Reservation decodes the event's object as a reservation (billing.reservation.*).
func (e Event) Reservation() (Reservation, error) {
	var r Reservation
	err := decodeObject(e, "billing_reservation", &r)
	return r, err
}

// BillingTopUp decodes the event's object as a top-up (billing.top_up.created).
func (e Event) BillingTopUp() (BillingTopUp, error) {
	var t BillingTopUp
	err := decodeObject(e, "billing_top_up", &t)
	return t, err
}

// BillingCharge decodes the event's object as a direct charge
// (billing.charge.created).
func (e Event) BillingCharge() (BillingCharge, error) {
	var c BillingCharge
	err := decodeObject(e, "billing_charge", &c)
	return c, err
}

// BillingInvoice decodes the event's object as an invoice
// (billing.invoice.created).
func (e Event) BillingInvoice() (BillingInvoice, error) {
	var v BillingInvoice
	err := decodeObject(e, "billing_invoice", &v)
	return v, err
}

func billingCustomerPath(id string, rest ...string) string {
	p := "/v1/billing/customers/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func reservationPath(authNumber string, rest ...string) string {
	p := "/v1/billing/reservations/" + url.PathEscape(authNumber)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// CreateBillingCustomer registers a customer (billing:write). The same
// Reference and fields again return the first customer.
func (c *Client) CreateBillingCustomer(ctx context.Context, p BillingCustomerParams, opts ...CallOption) (BillingCustomer, Response, error) {
	var out BillingCustomer
	res, err := c.do(ctx, http.MethodPost, "/v1/billing/customers", nil, p, &out, opts...)
	return out, res, err
}

// GetBillingCustomer reads one customer.
func (c *Client) GetBillingCustomer(ctx context.Context, id string) (BillingCustomer, error) {
	var out BillingCustomer
	_, err := c.do(ctx, http.MethodGet, billingCustomerPath(id), nil, nil, &out)
	return out, err
}

// ListBillingCustomers reads one page of the organization's customers, newest first.
func (c *Client) ListBillingCustomers(ctx context.Context, q ListParams) (Page[BillingCustomer], error) {
	var out Page[BillingCustomer]
	_, err := c.do(ctx, http.MethodGet, "/v1/billing/customers", q.query(), nil, &out)
	return out, err
}

// SetCreditLimit changes a postpaid customer's credit limit.
func (c *Client) SetCreditLimit(ctx context.Context, id string, limit Money, opts ...CallOption) (BillingCustomer, error) {
	var out BillingCustomer
	_, err := c.do(ctx, http.MethodPost, billingCustomerPath(id, "credit_limit"), nil, map[string]Money{"credit_limit": limit}, &out, opts...)
	return out, err
}

// TopUp adds to a prepaid customer's balance; a retry with the same
// reference changes nothing.
func (c *Client) TopUp(ctx context.Context, id string, amount Money, reference string, opts ...CallOption) (BillingTopUp, error) {
	var out BillingTopUp
	body := struct {
		Amount    Money  `json:"amount"`
		Reference string `json:"reference"`
	}{amount, reference}
	_, err := c.do(ctx, http.MethodPost, billingCustomerPath(id, "top_ups"), nil, body, &out, opts...)
	return out, err
}

// GetBillingBalance is a balance inquiry; proposed > 0 asks what would
// remain after a charge of that many minor units.
func (c *Client) GetBillingBalance(ctx context.Context, id string, proposed int64) (BillingBalance, error) {
	var q url.Values
	if proposed > 0 {
		q = url.Values{"proposed_amount": {strconv.FormatInt(proposed, 10)}}
	}
	var out BillingBalance
	_, err := c.do(ctx, http.MethodGet, billingCustomerPath(id, "balance"), q, nil, &out)
	return out, err
}

// Reserve holds an amount for a customer and returns the reservation with
// its authorization number.
func (c *Client) Reserve(ctx context.Context, p ReservationParams, opts ...CallOption) (Reservation, Response, error) {
	var out Reservation
	res, err := c.do(ctx, http.MethodPost, "/v1/billing/reservations", nil, p, &out, opts...)
	return out, res, err
}

// GetReservation is the status lookup by authorization number, with history.
func (c *Client) GetReservation(ctx context.Context, authNumber string) (Reservation, error) {
	var out Reservation
	_, err := c.do(ctx, http.MethodGet, reservationPath(authNumber), nil, nil, &out)
	return out, err
}

// FindReservationByReference is the status lookup by the caller's own
// reference, with history; found is false when no reservation has it.
func (c *Client) FindReservationByReference(ctx context.Context, reference string) (r Reservation, found bool, err error) {
	var out Page[Reservation]
	_, err = c.do(ctx, http.MethodGet, "/v1/billing/reservations", url.Values{"reference": {reference}}, nil, &out)
	if err != nil || len(out.Data) == 0 {
		return Reservation{}, false, err
	}
	return out.Data[0], true, nil
}

// ListReservations reads one page of the organization's reservations, newest first.
func (c *Client) ListReservations(ctx context.Context, q ReservationQuery) (Page[Reservation], error) {
	v := q.ListParams.query()
	if q.Customer != "" {
		v.Set("customer", q.Customer)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	var out Page[Reservation]
	_, err := c.do(ctx, http.MethodGet, "/v1/billing/reservations", v, nil, &out)
	return out, err
}

// IncrementReservation reserves more; a retry with the same reference
// changes nothing.
func (c *Client) IncrementReservation(ctx context.Context, authNumber string, amount Money, reference string, opts ...CallOption) (Reservation, error) {
	var out Reservation
	body := struct {
		Amount    Money  `json:"amount"`
		Reference string `json:"reference"`
	}{amount, reference}
	_, err := c.do(ctx, http.MethodPost, reservationPath(authNumber, "increment"), nil, body, &out, opts...)
	return out, err
}

// CancelReservation releases everything the reservation holds.
func (c *Client) CancelReservation(ctx context.Context, authNumber string, opts ...CallOption) (Reservation, error) {
	var out Reservation
	_, err := c.do(ctx, http.MethodPost, reservationPath(authNumber, "cancel"), nil, struct{}{}, &out, opts...)
	return out, err
}

// Charge charges against a reservation (a designated charge).
func (c *Client) Charge(ctx context.Context, authNumber string, p ChargeParams, opts ...CallOption) (BillingCharge, Response, error) {
	var out BillingCharge
	res, err := c.do(ctx, http.MethodPost, reservationPath(authNumber, "charges"), nil, p, &out, opts...)
	return out, res, err
}

// ChargeDirect charges a customer without a reservation.
func (c *Client) ChargeDirect(ctx context.Context, p DirectChargeParams, opts ...CallOption) (BillingCharge, Response, error) {
	var out BillingCharge
	res, err := c.do(ctx, http.MethodPost, "/v1/billing/charges", nil, p, &out, opts...)
	return out, res, err
}
