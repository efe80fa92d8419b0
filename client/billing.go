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
	Kind      string    `json:"kind"` // reserve, increment, charge, cancel, expire, release
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

// ChargeQuery selects a page of a customer's charges, oldest first.
type ChargeQuery struct {
	ListParams
	CreatedFrom, CreatedBefore time.Time // zero: no bound
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

// BillingSession is a metered session: usage reports drawn from one
// reservation (its quota), charged to the ledger only now and then.
// Used = Settled + Unsettled ≤ Quota; Remaining = Quota − Used.
type BillingSession struct {
	ID               string    `json:"id"`
	Customer         string    `json:"customer"`
	Reservation      string    `json:"reservation"`
	AuthNumber       string    `json:"auth_number"` // the reservation's
	Reference        string    `json:"reference"`
	State            string    `json:"state"` // SessionActive, SessionEnded, SessionExpired
	Quota            Money     `json:"quota"`
	ThresholdPercent int       `json:"threshold_percent"`
	Used             Money     `json:"used"`
	Settled          Money     `json:"settled"`
	Unsettled        Money     `json:"unsettled"`
	Remaining        Money     `json:"remaining"`
	LastSeq          int64     `json:"last_seq"`
	Reports          int64     `json:"reports"`
	Settlements      int       `json:"settlements"`
	ExpiresAt        time.Time `json:"expires_at"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Session states (BillingSession.State).
const (
	SessionActive  = "active"
	SessionEnded   = "ended"
	SessionExpired = "expired"
)

// SessionParams starts a metered session; ThresholdPercent 0 takes the
// server's default (50), ExpiresInSeconds 0 a day.
type SessionParams struct {
	Customer         string `json:"customer"`
	Quota            Money  `json:"quota"`
	Reference        string `json:"reference"`
	ThresholdPercent int    `json:"threshold_percent,omitempty"`
	ExpiresInSeconds int64  `json:"expires_in_seconds,omitempty"`
}

// UsageReport is an accepted usage report as it was first answered, with
// the session as it is now.
type UsageReport struct {
	Seq       int64          `json:"seq"`
	Amount    Money          `json:"amount"`
	Used      Money          `json:"used"`
	Unsettled Money          `json:"unsettled"`
	Remaining Money          `json:"remaining"`
	Settled   Money          `json:"settled"`  // what this report charged to the ledger
	Transfer  *string        `json:"transfer"` // that charge's post; nil when it charged nothing
	At        time.Time      `json:"at"`
	Session   BillingSession `json:"session"`
}

// StatementQuery names a statement's period: From and To, or Period
// ("2026-11", a calendar month in UTC).
type StatementQuery struct {
	From, To time.Time
	Period   string
}

func (q StatementQuery) values() url.Values {
	if q.Period != "" {
		return url.Values{"period": {q.Period}}
	}
	return url.Values{"from": {q.From.UTC().Format(time.RFC3339Nano)}, "to": {q.To.UTC().Format(time.RFC3339Nano)}}
}

// BillingStatement is a customer's account over [From, To): every ledger
// transfer with the running totals after it.
type BillingStatement struct {
	Customer        string         `json:"customer"`
	Currency        string         `json:"currency"`
	From            time.Time      `json:"from"`
	To              time.Time      `json:"to"`
	OpeningBalance  Money          `json:"opening_balance"`
	OpeningReserved Money          `json:"opening_reserved"`
	ClosingBalance  Money          `json:"closing_balance"`
	ClosingReserved Money          `json:"closing_reserved"`
	Rows            []StatementRow `json:"rows"`
}

// StatementRow is one ledger transfer of a customer's account.
type StatementRow struct {
	Transfer    string    `json:"transfer"`
	At          time.Time `json:"at"`
	Kind        string    `json:"kind"` // charge, hold, release, top_up
	Amount      Money     `json:"amount"`
	Balance     Money     `json:"balance"`
	Reserved    Money     `json:"reserved"`
	Released    Money     `json:"released"`
	Reservation *string   `json:"reservation"`
	AuthNumber  *string   `json:"auth_number"`
	Charge      *string   `json:"charge"`
	Reference   string    `json:"reference"`
	Description string    `json:"description"`
}

// BillingInvoice is a postpaid customer's closed month.
type BillingInvoice struct {
	ID          string    `json:"id"`
	Customer    string    `json:"customer"`
	Period      string    `json:"period"`
	Total       Money     `json:"total"`
	ChargeCount int64     `json:"charge_count"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	ClosedAt    time.Time `json:"closed_at"`
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

// BillingSession decodes the event's object as a metered session
// (billing.session.*).
func (e Event) BillingSession() (BillingSession, error) {
	var v BillingSession
	err := decodeObject(e, "billing_session", &v)
	return v, err
}

func billingCustomerPath(id string, rest ...string) string {
	return objectPath("/v1/billing/customers", id, rest...)
}

func reservationPath(authNumber string, rest ...string) string {
	return objectPath("/v1/billing/reservations", authNumber, rest...)
}

func sessionPath(id string, rest ...string) string {
	return objectPath("/v1/billing/sessions", id, rest...)
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

// StartSession starts a metered session: it reserves the quota. The same
// Reference and fields again return the first session.
func (c *Client) StartSession(ctx context.Context, p SessionParams, opts ...CallOption) (BillingSession, Response, error) {
	var out BillingSession
	res, err := c.do(ctx, http.MethodPost, "/v1/billing/sessions", nil, p, &out, opts...)
	return out, res, err
}

// ListSessions lists one customer's sessions, newest first; state "" for
// every state.
func (c *Client) ListSessions(ctx context.Context, customer, state string, q ListParams) (Page[BillingSession], error) {
	v := q.query()
	v.Set("customer", customer)
	if state != "" {
		v.Set("state", state)
	}
	var out Page[BillingSession]
	_, err := c.do(ctx, http.MethodGet, "/v1/billing/sessions", v, nil, &out)
	return out, err
}

// GetSession reads one session.
func (c *Client) GetSession(ctx context.Context, id string) (BillingSession, error) {
	var out BillingSession
	_, err := c.do(ctx, http.MethodGet, sessionPath(id), nil, nil, &out)
	return out, err
}

// ReportUsage adds usage to a session; the same seq and amount again
// return the first answer and change nothing.
func (c *Client) ReportUsage(ctx context.Context, id string, seq int64, amount Money, opts ...CallOption) (UsageReport, Response, error) {
	var out UsageReport
	body := struct {
		Seq    int64 `json:"seq"`
		Amount Money `json:"amount"`
	}{seq, amount}
	res, err := c.do(ctx, http.MethodPost, sessionPath(id, "usage"), nil, body, &out, opts...)
	return out, res, err
}

// TopUpSession adds to a session's quota; a retry with the same reference
// changes nothing.
func (c *Client) TopUpSession(ctx context.Context, id string, amount Money, reference string, opts ...CallOption) (BillingSession, error) {
	var out BillingSession
	body := struct {
		Amount    Money  `json:"amount"`
		Reference string `json:"reference"`
	}{amount, reference}
	_, err := c.do(ctx, http.MethodPost, sessionPath(id, "top_ups"), nil, body, &out, opts...)
	return out, err
}

// EndSession charges the session's unsettled usage and releases the rest
// of its quota; ending again returns it unchanged.
func (c *Client) EndSession(ctx context.Context, id string, opts ...CallOption) (BillingSession, error) {
	var out BillingSession
	_, err := c.do(ctx, http.MethodPost, sessionPath(id, "end"), nil, struct{}{}, &out, opts...)
	return out, err
}

// GetStatement reads a customer's statement for a period.
func (c *Client) GetStatement(ctx context.Context, customer string, q StatementQuery) (BillingStatement, error) {
	var out BillingStatement
	_, err := c.do(ctx, http.MethodGet, billingCustomerPath(customer, "statement"), q.values(), nil, &out)
	return out, err
}

// GetStatementCSV reads the same statement as CSV (RFC 4180, a header row
// first), as the server wrote it.
func (c *Client) GetStatementCSV(ctx context.Context, customer string, q StatementQuery) ([]byte, error) {
	v := q.values()
	v.Set("format", "csv")
	var rb rawBody
	if _, err := c.do(ctx, http.MethodGet, billingCustomerPath(customer, "statement"), v, nil, &rb); err != nil {
		return nil, err
	}
	return rb.data, nil
}

// CloseInvoicePeriod closes a postpaid customer's month ("2026-11") into
// its invoice, once the month has ended; closing again returns the same
// invoice.
func (c *Client) CloseInvoicePeriod(ctx context.Context, customer, period string, opts ...CallOption) (BillingInvoice, Response, error) {
	var out BillingInvoice
	body := struct {
		Period string `json:"period"`
	}{period}
	res, err := c.do(ctx, http.MethodPost, billingCustomerPath(customer, "invoices"), nil, body, &out, opts...)
	return out, res, err
}

// ListBillingCharges lists a customer's charges, oldest first; a charge's
// Reservation is nil in the list (its AuthNumber names it).
func (c *Client) ListBillingCharges(ctx context.Context, customer string, q ChargeQuery) (Page[BillingCharge], error) {
	v := q.ListParams.query()
	if !q.CreatedFrom.IsZero() {
		v.Set("created_gte", q.CreatedFrom.Format(time.RFC3339Nano))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("created_lt", q.CreatedBefore.Format(time.RFC3339Nano))
	}
	var out Page[BillingCharge]
	_, err := c.do(ctx, http.MethodGet, billingCustomerPath(customer, "charges"), v, nil, &out)
	return out, err
}

// ListInvoices reads one page of a customer's invoices, newest period
// first; StartingAfter is the last invoice of the previous page.
func (c *Client) ListInvoices(ctx context.Context, customer string, q ListParams) (Page[BillingInvoice], error) {
	var out Page[BillingInvoice]
	_, err := c.do(ctx, http.MethodGet, billingCustomerPath(customer, "invoices"), q.query(), nil, &out)
	return out, err
}
