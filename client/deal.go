package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Deal is a trade held in escrow, as the API shows it (and as deal.* events
// carry it). Amounts are in the deal's currency.
type Deal struct {
	ID                  string               `json:"id"`
	ExternalRef         string               `json:"external_ref"`
	Title               string               `json:"title"`
	Description         string               `json:"description"`
	State               string               `json:"state"` // DealPendingAcceptance, …
	Price               Money                `json:"price"`
	ShippingFee         Money                `json:"shipping_fee"`
	Fee                 Money                `json:"fee"`
	FeePayer            string               `json:"fee_payer"` // buyer, seller or split
	BuyerFee            Money                `json:"buyer_fee"`
	AmountDue           Money                `json:"amount_due"`
	AmountPaid          Money                `json:"amount_paid"`
	Released            Money                `json:"released"`
	Refunded            Money                `json:"refunded"`
	FeeTaken            Money                `json:"fee_taken"`
	Held                Money                `json:"held"` // what the holding account holds
	PaymentMethod       string               `json:"payment_method"`
	PaymentReference    string               `json:"payment_reference"`
	PaymentInstructions *PaymentInstructions `json:"payment_instructions"` // nil unless awaiting payment
	Seller              DealParty            `json:"seller"`
	Buyer               DealParty            `json:"buyer"`
	Deadlines           DealDeadlines        `json:"deadlines"`
	Carrier             string               `json:"carrier"`
	TrackingNumber      string               `json:"tracking_number"`
	Milestones          []Milestone          `json:"milestones"`
	Resolution          string               `json:"resolution"` // "" unless resolved: release, refund or split
	ReviewHold          bool                 `json:"review_hold"`
	ReviewReasons       []string             `json:"review_reasons"`
	DisputeReason       string               `json:"dispute_reason"`
	HoldingAccount      string               `json:"holding_account"` // the operator's ledger account acc_…
	CreatedAt           time.Time            `json:"created_at"`
	UpdatedAt           time.Time            `json:"updated_at"`
	AcceptedAt          *time.Time           `json:"accepted_at"`
	FundedAt            *time.Time           `json:"funded_at"`
	ShippedAt           *time.Time           `json:"shipped_at"`
	ReceivedAt          *time.Time           `json:"received_at"`
	ClosedAt            *time.Time           `json:"closed_at"`
}

// Deal states (Deal.State).
const (
	DealPendingAcceptance = "pending_acceptance"
	DealAwaitingPayment   = "awaiting_payment"
	DealFunded            = "funded"
	DealShipped           = "shipped"
	DealReceived          = "received"
	DealReleased          = "released"
	DealCanceled          = "canceled"
	DealDisputed          = "disputed"
	DealResolved          = "resolved"
	DealRefunded          = "refunded"
)

// PaymentInstructions tell the buyer how to pay what is still owed.
type PaymentInstructions struct {
	PayTo     string    `json:"pay_to"`
	Reference string    `json:"reference"`
	Amount    Money     `json:"amount"`
	DueAt     time.Time `json:"due_at"`
}

// DealParty is one side of a deal.
type DealParty struct {
	Email  string `json:"email"`
	Locale string `json:"locale"`
}

// DealDeadlines are a deal's deadlines in days, and the one running now.
type DealDeadlines struct {
	PayWithinDays  int        `json:"pay_within_days"`
	ShipWithinDays int        `json:"ship_within_days"`
	InspectionDays int        `json:"inspection_days"`
	DueAt          *time.Time `json:"due_at"`
}

// Milestone is a part of a deal's price released on its own.
type Milestone struct {
	Title      string     `json:"title"`
	Amount     Money      `json:"amount"`
	Gross      Money      `json:"gross"` // what its release takes from the holding account
	Fee        Money      `json:"fee"`   // the part of Gross that is fee
	ReleasedAt *time.Time `json:"released_at"`
}

// DealParams registers a deal. Title, Price, FeePayer and both parties'
// emails are required.
type DealParams struct {
	ExternalRef   string               `json:"external_ref,omitempty"`
	Title         string               `json:"title"`
	Description   string               `json:"description,omitempty"`
	Price         Money                `json:"price"`
	ShippingFee   *Money               `json:"shipping_fee,omitempty"`
	FeePayer      string               `json:"fee_payer"`
	PaymentMethod string               `json:"payment_method,omitempty"`
	Seller        DealParty            `json:"seller"`
	Buyer         DealParty            `json:"buyer"`
	Deadlines     *DealDeadlinesParams `json:"deadlines,omitempty"`
	Milestones    []MilestoneParams    `json:"milestones,omitempty"`
}

// MarshalJSON leaves out empty locales, which the server reads as "ja".
func (p DealParty) MarshalJSON() ([]byte, error) {
	type party struct {
		Email  string `json:"email"`
		Locale string `json:"locale,omitempty"`
	}
	return json.Marshal(party(p))
}

// DealDeadlinesParams sets a new deal's deadlines in days; 0 takes the default.
type DealDeadlinesParams struct {
	PayWithinDays  int `json:"pay_within_days,omitempty"`
	ShipWithinDays int `json:"ship_within_days,omitempty"`
	InspectionDays int `json:"inspection_days,omitempty"`
}

// MilestoneParams is one milestone of a new deal.
type MilestoneParams struct {
	Title  string `json:"title"`
	Amount Money  `json:"amount"`
}

// DealQuery filters ListDeals; State "" lists every state; ReviewHold lists
// only the deals a fraud review holds.
type DealQuery struct {
	ListParams
	State      string
	ReviewHold bool
}

// DealTimelineEntry is one thing that happened to a deal.
type DealTimelineEntry struct {
	Deal      string          `json:"deal"`
	Seq       int             `json:"seq"`
	At        time.Time       `json:"at"`
	ActorKind string          `json:"actor_kind"`
	ActorID   string          `json:"actor_id"`
	Action    string          `json:"action"`
	FromState string          `json:"from_state"` // "" for "created"
	ToState   string          `json:"to_state"`
	Data      json.RawMessage `json:"data"`
}

// DealMessage is a post in a disputed deal's thread.
type DealMessage struct {
	ID        string    `json:"id"`
	Deal      string    `json:"deal"`
	At        time.Time `json:"at"`
	Party     string    `json:"party"` // buyer, seller, site or staff
	ActorKind string    `json:"actor_kind"`
	Body      string    `json:"body"`
}

// DealResolveParams settles a dispute: Resolution release, refund or split;
// BuyerAmount for a split only.
type DealResolveParams struct {
	Resolution  string `json:"resolution"`
	BuyerAmount *Money `json:"buyer_amount,omitempty"`
	Note        string `json:"note,omitempty"`
}

// Deposit is a credit to the operator's bank account and what matching did
// with it.
type Deposit struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	BankAccount string    `json:"bank_account"`
	BankRef     string    `json:"bank_ref"`
	Amount      Money     `json:"amount"`
	ValueDate   string    `json:"value_date"` // YYYY-MM-DD
	PayerName   string    `json:"payer_name"`
	Remittance  string    `json:"remittance"`
	Deal        string    `json:"deal"`   // "" when unmatched
	Status      string    `json:"status"` // matched, partial, overpaid, unmatched, late, returned or duplicate
	Applied     Money     `json:"applied"`
	Review      string    `json:"review"` // "", open or cleared
	Note        string    `json:"note"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// DepositParams records one credit. ValueDate is YYYY-MM-DD.
type DepositParams struct {
	BankAccount      string `json:"bank_account"`
	BankRef          string `json:"bank_ref"`
	Amount           Money  `json:"amount"`
	ValueDate        string `json:"value_date"`
	PayerName        string `json:"payer_name,omitempty"`
	Remittance       string `json:"remittance,omitempty"`
	PaymentReference string `json:"payment_reference,omitempty"`
}

// DepositQuery filters ListDeposits: Review "", "open" or "cleared"; Deal a
// deal id or "".
type DepositQuery struct {
	ListParams
	Review string
	Deal   string
}

// TestClock is the escrow clock of a server started with --test-clock.
type TestClock struct {
	Now           time.Time `json:"now"`
	OffsetSeconds int64     `json:"offset_seconds"`
	DealsChanged  int       `json:"deals_changed"` // AdvanceTestClock only
	MoreDue       bool      `json:"more_due"`      // AdvanceTestClock only
	// ReservationsExpired: AdvanceTestClock only, the billing reservations it expired.
	ReservationsExpired int `json:"reservations_expired"`
	// InvoicesClosed: AdvanceTestClock only, the invoices billing's
	// month-end close wrote.
	InvoicesClosed int `json:"invoices_closed"`
}

// Deal decodes the event's object as a deal (deal.*).
func (e Event) Deal() (Deal, error) {
	var d Deal
	err := decodeObject(e, "deal", &d)
	return d, err
}

func dealPath(id string, rest ...string) string {
	return objectPath("/v1/deals", id, rest...)
}

// CreateDeal registers a deal for one of the site's sellers (escrow:write).
// The same ExternalRef again returns the deal the first call made.
func (c *Client) CreateDeal(ctx context.Context, p DealParams, opts ...CallOption) (Deal, Response, error) {
	var out Deal
	res, err := c.do(ctx, http.MethodPost, "/v1/deals", nil, p, &out, opts...)
	return out, res, err
}

// GetDeal reads one deal.
func (c *Client) GetDeal(ctx context.Context, id string) (Deal, error) {
	var out Deal
	_, err := c.do(ctx, http.MethodGet, dealPath(id), nil, nil, &out)
	return out, err
}

// ListDeals reads one page of the deals the key may see.
func (c *Client) ListDeals(ctx context.Context, q DealQuery) (Page[Deal], error) {
	v := q.ListParams.query()
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.ReviewHold {
		v.Set("review_hold", "true")
	}
	var out Page[Deal]
	_, err := c.do(ctx, http.MethodGet, "/v1/deals", v, nil, &out)
	return out, err
}

// GetDealTimeline reads a deal's whole history, oldest first.
func (c *Client) GetDealTimeline(ctx context.Context, id string) ([]DealTimelineEntry, error) {
	var out Page[DealTimelineEntry]
	_, err := c.do(ctx, http.MethodGet, dealPath(id, "timeline"), nil, nil, &out)
	return out.Data, err
}

// step posts {} to one of a deal's steps and decodes the deal.
func (c *Client) step(ctx context.Context, id, step string, body any, opts []CallOption) (Deal, error) {
	if body == nil {
		body = struct{}{}
	}
	var out Deal
	_, err := c.do(ctx, http.MethodPost, dealPath(id, step), nil, body, &out, opts...)
	return out, err
}

// AcceptDeal is the buyer accepting the deal.
func (c *Client) AcceptDeal(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "accept", nil, opts)
}

// DeclineDeal is the buyer refusing the deal.
func (c *Client) DeclineDeal(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "decline", nil, opts)
}

// CancelDeal ends a deal before it is funded.
func (c *Client) CancelDeal(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "cancel", nil, opts)
}

// ShipDeal is the seller reporting the goods sent.
func (c *Client) ShipDeal(ctx context.Context, id, carrier, trackingNumber string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "ship", map[string]string{"carrier": carrier, "tracking_number": trackingNumber}, opts)
}

// ConfirmReceipt is the buyer saying the goods arrived: inspection starts.
func (c *Client) ConfirmReceipt(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "confirm_receipt", nil, opts)
}

// ApproveDeal is the buyer accepting the goods: the seller is paid.
func (c *Client) ApproveDeal(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "approve", nil, opts)
}

// ReleaseMilestone is the buyer releasing the next milestone.
func (c *Client) ReleaseMilestone(ctx context.Context, id string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "release_milestone", nil, opts)
}

// DisputeDeal is the buyer contesting the goods.
func (c *Client) DisputeDeal(ctx context.Context, id, reason string, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "dispute", map[string]string{"reason": reason}, opts)
}

// ResolveDeal settles a dispute (the operator's admin key).
func (c *Client) ResolveDeal(ctx context.Context, id string, p DealResolveParams, opts ...CallOption) (Deal, error) {
	return c.step(ctx, id, "resolve", p, opts)
}

// ReviewDeal opens (hold true, with reasons) or clears a fraud review (the
// operator's admin key).
func (c *Client) ReviewDeal(ctx context.Context, id string, hold bool, reasons []string, opts ...CallOption) (Deal, error) {
	body := struct {
		Hold    bool     `json:"hold"`
		Reasons []string `json:"reasons,omitempty"`
	}{hold, reasons}
	return c.step(ctx, id, "review", body, opts)
}

// ListDealMessages reads a deal's dispute thread, oldest first.
func (c *Client) ListDealMessages(ctx context.Context, id string) ([]DealMessage, error) {
	var out Page[DealMessage]
	_, err := c.do(ctx, http.MethodGet, dealPath(id, "messages"), nil, nil, &out)
	return out.Data, err
}

// PostDealMessage adds to a disputed deal's thread.
func (c *Client) PostDealMessage(ctx context.Context, id, body string, opts ...CallOption) (DealMessage, error) {
	var out DealMessage
	_, err := c.do(ctx, http.MethodPost, dealPath(id, "messages"), nil, map[string]string{"body": body}, &out, opts...)
	return out, err
}

// RecordDeposit records one credit to the operator's bank account (the
// operator's admin key). A credit recorded before (same BankAccount and
// BankRef) answers the first record with Response.Status 200.
func (c *Client) RecordDeposit(ctx context.Context, p DepositParams, opts ...CallOption) (Deposit, Response, error) {
	var out Deposit
	res, err := c.do(ctx, http.MethodPost, "/v1/deposits", nil, p, &out, opts...)
	return out, res, err
}

// ListDeposits reads one page of deposits, newest first (the operator's
// admin key).
func (c *Client) ListDeposits(ctx context.Context, q DepositQuery) (Page[Deposit], error) {
	v := q.ListParams.query()
	if q.Review != "" {
		v.Set("review", q.Review)
	}
	if q.Deal != "" {
		v.Set("deal", q.Deal)
	}
	var out Page[Deposit]
	_, err := c.do(ctx, http.MethodGet, "/v1/deposits", v, nil, &out)
	return out, err
}

// ClearDeposit closes a deposit's review with a note (the operator's admin key).
func (c *Client) ClearDeposit(ctx context.Context, id, note string, opts ...CallOption) (Deposit, error) {
	var out Deposit
	_, err := c.do(ctx, http.MethodPost, "/v1/deposits/"+url.PathEscape(id)+"/clear", nil, map[string]string{"note": note}, &out, opts...)
	return out, err
}

// GetTestClock reads the test clock of a server started with --test-clock.
func (c *Client) GetTestClock(ctx context.Context) (TestClock, error) {
	var out TestClock
	_, err := c.do(ctx, http.MethodGet, "/v1/test_clock", nil, nil, &out)
	return out, err
}

// AdvanceTestClock moves a test server's escrow clock forward and fires the
// deadlines it passes.
func (c *Client) AdvanceTestClock(ctx context.Context, d time.Duration, opts ...CallOption) (TestClock, error) {
	var out TestClock
	body := map[string]int64{"seconds": int64(d / time.Second)}
	_, err := c.do(ctx, http.MethodPost, "/v1/test_clock/advance", nil, body, &out, opts...)
	return out, err
}
