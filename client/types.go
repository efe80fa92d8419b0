package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Money is an amount in minor units of a currency: JPY 1000 is {1000, "JPY"}.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Asset is a currency or unit the ledger holds.
type Asset struct {
	Code  string `json:"code"`
	Scale int    `json:"scale"`
}

// Balance is an account's four totals, in minor units.
type Balance struct {
	Account        string    `json:"account"`
	Currency       string    `json:"currency"`
	DebitsPosted   int64     `json:"debits_posted"`
	CreditsPosted  int64     `json:"credits_posted"`
	DebitsPending  int64     `json:"debits_pending"`
	CreditsPending int64     `json:"credits_pending"`
	At             time.Time `json:"at"`
}

// Account is a ledger account of the caller's organization.
type Account struct {
	ID                         string    `json:"id"`
	Reference                  string    `json:"reference"`
	Currency                   string    `json:"currency"`
	Code                       string    `json:"code"`
	DebitsMustNotExceedCredits bool      `json:"debits_must_not_exceed_credits"`
	CreditsMustNotExceedDebits bool      `json:"credits_must_not_exceed_debits"`
	Limit                      int64     `json:"limit"`
	Balance                    Balance   `json:"balance"`
	CreatedAt                  time.Time `json:"created_at"`
}

// AccountParams opens an account.
type AccountParams struct {
	Reference                  string `json:"reference"`
	Currency                   string `json:"currency"`
	Code                       string `json:"code,omitempty"`
	DebitsMustNotExceedCredits bool   `json:"debits_must_not_exceed_credits,omitempty"`
	CreditsMustNotExceedDebits bool   `json:"credits_must_not_exceed_debits,omitempty"`
	Limit                      int64  `json:"limit,omitempty"`
}

// Transfer is an immutable movement of value.
type Transfer struct {
	ID              string            `json:"id"`
	Reference       string            `json:"reference"`
	Kind            string            `json:"kind"` // immediate, pending, post, void, expire
	DebitAccount    string            `json:"debit_account"`
	CreditAccount   string            `json:"credit_account"`
	Amount          Money             `json:"amount"`
	Code            string            `json:"code"`
	PendingTransfer string            `json:"pending_transfer"`
	TimeoutAt       *time.Time        `json:"timeout_at"`
	Metadata        map[string]string `json:"metadata"`
	CreatedAt       time.Time         `json:"created_at"`
}

// TransferParams creates an immediate or pending transfer.
type TransferParams struct {
	Reference      string            `json:"reference"`
	Kind           string            `json:"kind,omitempty"` // "" or "immediate", or "pending"
	DebitAccount   string            `json:"debit_account"`
	CreditAccount  string            `json:"credit_account"`
	Amount         Money             `json:"amount"`
	Code           string            `json:"code,omitempty"`
	TimeoutSeconds int64             `json:"timeout_seconds,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Linked         bool              `json:"linked,omitempty"` // batches only
}

// ResolveParams posts or voids a pending transfer. Amount nil posts it all.
type ResolveParams struct {
	Reference string            `json:"reference"`
	Amount    *Money            `json:"amount,omitempty"`
	Code      string            `json:"code,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// BatchResult answers one item of a batch: Transfer, or Error.
type BatchResult struct {
	Status   int       `json:"status"`
	Transfer *Transfer `json:"transfer"`
	Error    *Error    `json:"error"`
}

// ListParams pages through a list: Limit 1..100 (0: the server's default),
// StartingAfter the last id of the previous page.
type ListParams struct {
	Limit         int
	StartingAfter string
}

// Page is one page of a list.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// Event types (Event.Type). New types may be added; ignore unknown ones.
const (
	EventAccountCreated  = "account.created"  // Data.Object is the Account
	EventTransferCreated = "transfer.created" // an immediate or pending Transfer
	EventTransferPosted  = "transfer.posted"  // the post Transfer of a hold
	EventTransferVoided  = "transfer.voided"  // the void Transfer of a hold
	EventTransferExpired = "transfer.expired" // the expire Transfer the ledger wrote at a hold's timeout

	// Escrow: Data.Object is the Deal after the change (Event.Deal).
	EventDealCreated           = "deal.created"
	EventDealAccepted          = "deal.accepted"
	EventDealCanceled          = "deal.canceled" // declined, canceled by a party, or not paid in time
	EventDealPaymentReceived   = "deal.payment_received"
	EventDealFunded            = "deal.funded"
	EventDealShipped           = "deal.shipped"
	EventDealReceived          = "deal.received"
	EventDealMilestoneReleased = "deal.milestone_released"
	EventDealReleased          = "deal.released"
	EventDealDisputed          = "deal.disputed"
	EventDealResolved          = "deal.resolved"
	EventDealRefunded          = "deal.refunded" // not shipped in time

	// Billing: Data.Object is the customer or the reservation after the
	// change (Event.BillingCustomer, Event.Reservation), or the new top-up,
	// direct charge or invoice (Event.BillingTopUp, Event.BillingCharge,
	// Event.BillingInvoice).
	EventBillingCustomerCreated        = "billing.customer.created"
	EventBillingCustomerLimitChanged   = "billing.customer.limit_changed"
	EventBillingTopUpCreated           = "billing.top_up.created"
	EventBillingReservationCreated     = "billing.reservation.created"
	EventBillingReservationIncremented = "billing.reservation.incremented"
	EventBillingReservationCharged     = "billing.reservation.charged"
	EventBillingReservationCanceled    = "billing.reservation.canceled"
	EventBillingReservationExpired     = "billing.reservation.expired"
	EventBillingChargeCreated          = "billing.charge.created" // a direct charge, without a reservation
	EventBillingInvoiceCreated         = "billing.invoice.created"
	EventBillingSessionStarted         = "billing.session.started"
	EventBillingSessionToppedUp        = "billing.session.topped_up"
	EventBillingSessionEnded           = "billing.session.ended"
	EventBillingSessionExpired         = "billing.session.expired"
)

// Event is a recorded change to the organization's data: the body of GET
// /v1/events/{id} and of every webhook delivery of it.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      EventData `json:"data"`
}

// EventData holds the changed object as the API showed it when the change
// committed: an Account for account.created, a Transfer for transfer.*, a
// Deal for deal.*.
type EventData struct {
	Object json.RawMessage `json:"object"`
}

// Account decodes the event's object as an account (account.created).
func (e Event) Account() (Account, error) {
	var a Account
	err := decodeObject(e, "account", &a)
	return a, err
}

// Transfer decodes the event's object as a transfer (transfer.*).
func (e Event) Transfer() (Transfer, error) {
	var t Transfer
	err := decodeObject(e, "transfer", &t)
	return t, err
}

func decodeObject(e Event, want string, dst any) error {
	var head struct {
		Object string `json:"object"`
	}
	if err := json.Unmarshal(e.Data.Object, &head); err != nil {
		return fmt.Errorf("kinko: event %s: decode data: %w", e.ID, err)
	}
	if head.Object != want {
		return fmt.Errorf("kinko: event %s (%s) holds a %q, not a %s", e.ID, e.Type, head.Object, want)
	}
	if err := json.Unmarshal(e.Data.Object, dst); err != nil {
		return fmt.Errorf("kinko: event %s: decode %s: %w", e.ID, want, err)
	}
	return nil
}

// EventQuery filters ListEvents; Type "" lists every type.
type EventQuery struct {
	ListParams
	Type string
}

// EventReplay answers ReplayEvent: the endpoints the event will be sent to.
type EventReplay struct {
	Event            string   `json:"event"`
	WebhookEndpoints []string `json:"webhook_endpoints"`
}

// WebhookEndpoint is a URL the organization's events are POSTed to, signed.
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EventTypes  []string  `json:"event_types"` // event types, or just "*" for all
	Disabled    bool      `json:"disabled"`
	Secret      string    `json:"secret"` // only from CreateWebhookEndpoint: no read shows it again
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// WebhookEndpointParams registers an endpoint: URL and EventTypes are required.
type WebhookEndpointParams struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"` // e.g. {EventTransferCreated}, or {"*"}
	Description string   `json:"description,omitempty"`
}

// WebhookEndpointUpdate changes an endpoint; nil fields stay as they are.
type WebhookEndpointUpdate struct {
	URL         *string  `json:"url,omitempty"`
	EventTypes  []string `json:"event_types,omitempty"`
	Description *string  `json:"description,omitempty"`
	Disabled    *bool    `json:"disabled,omitempty"`
}

// WebhookAttempt is one POST of an event to an endpoint, as logged.
type WebhookAttempt struct {
	ID              string    `json:"id"`
	WebhookEndpoint string    `json:"webhook_endpoint"`
	Event           string    `json:"event"`
	Number          int       `json:"number"` // 1 for the first attempt of this event to this endpoint
	At              time.Time `json:"at"`
	Succeeded       bool      `json:"succeeded"`
	StatusCode      int       `json:"status_code"` // 0 when no response arrived (see Error)
	LatencyMs       float64   `json:"latency_ms"`
	Error           string    `json:"error"`
	ResponseSnippet string    `json:"response_snippet"` // the first 1024 bytes of the response body
}

// WebhookAttemptQuery filters ListWebhookAttempts; Event "" lists every event's.
type WebhookAttemptQuery struct {
	ListParams
	Event string
}

// WebhookDelivery is the state of one event's delivery to one endpoint.
type WebhookDelivery struct {
	WebhookEndpoint string    `json:"webhook_endpoint"`
	Event           string    `json:"event"`
	State           string    `json:"state"` // pending, succeeded or failed
	Attempts        int       `json:"attempts"`
	LastStatus      int       `json:"last_status"` // 0 before the first attempt, or when no response arrived
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}
