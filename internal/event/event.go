// Package event is Kinko's outbox: every state change that an organization
// may want to hear about is recorded as an Event in the same database
// transaction as the change itself, so an event exists exactly when its change
// committed. Polling clients list events (GET /v1/events); package webhook
// delivers them to the organization's endpoints.
//
// An event is immutable. Its Data is the changed object as the API shows it,
// rendered when the change commits.
//
// Events are listed in Seq order, which the dispatcher assigns (package
// webhook): dispatches run one at a time and number the events they claim
// after the last number given, so an event becomes listable only with a
// number greater than every number already visible. A poller paging with a
// cursor therefore never skips an event, even on PostgreSQL with several
// writers, where ids are taken before commit and committed out of order. This package never imports net/http, a SQL
// driver or the job queue; store adapters implement Store.
package event

import (
	"context"
	"slices"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Types of event. A new type is added here, to the OpenAPI document and to docs/webhooks.md.
const (
	TypeAccountCreated  = "account.created"
	TypeTransferCreated = "transfer.created" // an immediate or pending transfer
	TypeTransferPosted  = "transfer.posted"  // a post of a pending transfer (its data is the post transfer)
	TypeTransferVoided  = "transfer.voided"  // a void of a pending transfer
	TypeTransferExpired = "transfer.expired" // the ledger voided a pending transfer at its timeout

	// Escrow deals: the data is the deal.
	TypeDealCreated           = "deal.created"
	TypeDealAccepted          = "deal.accepted"
	TypeDealCanceled          = "deal.canceled"         // declined, canceled by a party, or not paid in time
	TypeDealPaymentReceived   = "deal.payment_received" // part of the amount due arrived
	TypeDealFunded            = "deal.funded"
	TypeDealShipped           = "deal.shipped"
	TypeDealReceived          = "deal.received"
	TypeDealMilestoneReleased = "deal.milestone_released"
	TypeDealReleased          = "deal.released"
	TypeDealDisputed          = "deal.disputed"
	TypeDealResolved          = "deal.resolved"
	TypeDealRefunded          = "deal.refunded" // not shipped in time

	TypeBillingCustomerCreated        = "billing.customer.created"
	TypeBillingCustomerLimitChanged   = "billing.customer.limit_changed" // a postpaid credit limit changed (its data is the customer after it)
	TypeBillingTopUpCreated           = "billing.top_up.created"         // a prepaid customer was topped up (its data is the top-up)
	TypeBillingReservationCreated     = "billing.reservation.created"
	TypeBillingReservationIncremented = "billing.reservation.incremented" // more was reserved on it (its data is the reservation after it)
	TypeBillingReservationCharged     = "billing.reservation.charged"     // a charge against it (its data is the reservation after it)
	TypeBillingReservationCanceled    = "billing.reservation.canceled"    // the caller released what it held
	TypeBillingReservationExpired     = "billing.reservation.expired"     // its expiry passed; what it held was released
	TypeBillingChargeCreated          = "billing.charge.created"          // a direct charge, without a reservation (its data is the charge)
	TypeBillingInvoiceCreated         = "billing.invoice.created"         // a postpaid customer's month was closed (its data is the invoice)
	TypeBillingSessionStarted         = "billing.session.started"         // a metered session reserved its quota (its data is the session)
	TypeBillingSessionToppedUp        = "billing.session.topped_up"       // its quota grew
	TypeBillingSessionEnded           = "billing.session.ended"           // its unsettled usage was charged and the rest released
	TypeBillingSessionExpired         = "billing.session.expired"         // its reservation expired first; unsettled usage was charged
)

// Types lists every event type, in the order the documentation gives them.
var Types = []string{TypeAccountCreated, TypeTransferCreated, TypeTransferPosted, TypeTransferVoided, TypeTransferExpired,
	TypeDealCreated, TypeDealAccepted, TypeDealCanceled, TypeDealPaymentReceived, TypeDealFunded, TypeDealShipped,
	TypeDealReceived, TypeDealMilestoneReleased, TypeDealReleased, TypeDealDisputed, TypeDealResolved, TypeDealRefunded,
	TypeBillingCustomerCreated, TypeBillingCustomerLimitChanged, TypeBillingTopUpCreated, TypeBillingReservationCreated,
	TypeBillingReservationIncremented, TypeBillingReservationCharged, TypeBillingReservationCanceled, TypeBillingReservationExpired,
	TypeBillingChargeCreated, TypeBillingInvoiceCreated, TypeBillingSessionStarted, TypeBillingSessionToppedUp,
	TypeBillingSessionEnded, TypeBillingSessionExpired}

// KnownType reports whether t is one of Types.
func KnownType(t string) bool { return slices.Contains(Types, t) }

// Bounds.
const (
	PageLimitMax = 100
	DataLenMax   = 64 << 10 // bytes of one event's data; a larger object is a bug in its encoder
)

// Event is one recorded state change of an organization's data.
type Event struct {
	ID        int64 // assigned by the store when the change is written
	Seq       int64 // listing order, assigned by the dispatcher; 0 until dispatched
	OrgID     string
	Type      string
	Data      []byte // a JSON object: the changed object as the API shows it
	CreatedAt time.Time
}

// Filter selects one page of an organization's listed (dispatched) events,
// in Seq order.
type Filter struct {
	OrgID    string
	Type     string // "" for every type
	AfterSeq int64  // cursor: only events with a greater Seq
	Limit    int    // 1..PageLimitMax
}

// Query is what a caller asks FindEvents for: the cursor is an event id.
type Query struct {
	OrgID   string
	Type    string // "" for every type
	AfterID int64  // cursor: the last event of the previous page; 0 for the first
	Limit   int    // 1..PageLimitMax
}

// Store is what events need of a database. Events are written by the
// producers of changes, inside their own transactions (see ledger.Tx); this
// is the read side.
type Store interface {
	// EventByID returns one event. Errors: not_found.
	EventByID(ctx context.Context, id int64) (Event, error)
	// EventList returns one page of the dispatched events matching f, by
	// ascending Seq.
	EventList(ctx context.Context, f Filter) ([]Event, error)
}

// Service reads events for an organization.
type Service struct{ store Store }

// NewService returns a Service on store.
func NewService(store Store) *Service { return &Service{store: store} }

// FindEventByID returns one of org's events. Another organization's event is
// not found, as one that does not exist.
//
// Errors: not_found.
func (s *Service) FindEventByID(ctx context.Context, orgID string, id int64) (Event, error) {
	e, err := s.store.EventByID(ctx, id)
	if err != nil {
		return Event{}, err
	}
	if e.OrgID != orgID {
		return Event{}, apperr.NotFound("event")
	}
	return e, nil
}

// FindEvents returns one page of an organization's listed events, in the
// order they became listable (see the package comment). An event is listed
// once dispatched, a moment after its change commits.
//
// Errors: invalid (limit, type, starting_after: another organization's
// event, or one not listed yet).
func (s *Service) FindEvents(ctx context.Context, q Query) ([]Event, error) {
	if q.Limit < 1 || q.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", PageLimitMax)
	}
	if q.Type != "" && !KnownType(q.Type) {
		return nil, apperr.Invalid("type", "unknown event type %q", q.Type)
	}
	f := Filter{OrgID: q.OrgID, Type: q.Type, Limit: q.Limit}
	if q.AfterID > 0 {
		after, err := s.FindEventByID(ctx, q.OrgID, q.AfterID)
		if apperr.Is(err, apperr.CodeNotFound) {
			return nil, apperr.Invalid("starting_after", "starting_after names no event of yours")
		}
		if err != nil {
			return nil, err
		}
		if after.Seq == 0 {
			return nil, apperr.Invalid("starting_after", "that event is not listed yet; retry in a moment")
		}
		f.AfterSeq = after.Seq
	}
	return s.store.EventList(ctx, f)
}
