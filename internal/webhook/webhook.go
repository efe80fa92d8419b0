// Package webhook delivers events to the HTTPS endpoints organizations
// register: each event is POSTed as JSON, signed with HMAC-SHA256 over
// "timestamp.body" with the endpoint's secret (the Kinko-Signature header),
// and retried with exponential backoff for up to RetryWindow. Every attempt is
// logged and readable through the API; endpoints can be disabled, and events
// replayed.
//
// The flow, each step durable:
//
//  1. A change commits with its event (package event: the outbox).
//  2. The dispatcher (Service.Dispatch, run by every node) claims undispatched
//     events and, in one transaction, records a pending Delivery for each
//     (event, matching enabled endpoint), enqueues DeliverArgs jobs (one per
//     endpoint and up to DeliverBatchMax events) and marks the events
//     dispatched. A crash before the commit leaves the events to be claimed
//     again; after it, the jobs exist.
//  3. A job worker (package jobs) POSTs each still-pending delivery of its job
//     and records the attempts and outcomes in one transaction. A delivery
//     that failed stays pending and its job is retried after Backoff; one
//     recorded as succeeded is never sent again by that job or its retries.
//
// Delivery is at least once: a crash after a receiver answered but before the
// outcome was recorded sends that event again. Receivers deduplicate by event
// id (the Kinko-Event-Id header and the body's id).
//
// This package never imports net/http, a SQL driver or the job queue; store
// adapters implement Store and package jobs sends the requests.
package webhook

import (
	"context"
	"time"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// Bounds and timings.
const (
	EndpointsPerOrgMax        = 16
	URLLenMax                 = 2048
	DescriptionLenMax         = 500
	EventTypesMax             = 32
	DeliverBatchMax           = 100            // events in one DeliverArgs job
	DispatchBatchMax          = 1000           // events one Dispatch call claims
	RetryWindow               = 72 * time.Hour // a delivery is retried until this long after it was queued
	BackoffBaseDefault        = 10 * time.Second
	BackoffCap                = time.Hour
	JobAttemptsMax            = 200 // a safety bound above what RetryWindow allows at BackoffCap
	RequestTimeout            = 10 * time.Second
	ResponseSnippetMax        = 1024 // bytes of a receiver's answer kept in the attempt log
	AttemptErrorLenMax        = 512
	PageLimitMax              = 100
	WildcardEventType         = "*"
	SecretPrefix              = "whsec_"
	SignatureHeader           = "Kinko-Signature"
	EventIDHeader             = "Kinko-Event-Id"
	SignatureToleranceDefault = 5 * time.Minute // how old a signed timestamp Verify accepts
)

// Endpoint is where an organization wants its events POSTed.
type Endpoint struct {
	ID          int64
	OrgID       string
	URL         string
	Description string
	EventTypes  []string // event types, or just WildcardEventType for all
	Secret      string   // SecretPrefix + random; signs every request
	Disabled    bool     // a disabled endpoint gets no new deliveries and its pending ones wait
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Wants reports whether the endpoint subscribes to events of type t.
func (e Endpoint) Wants(t string) bool {
	for _, w := range e.EventTypes {
		if w == WildcardEventType || w == t {
			return true
		}
	}
	return false
}

// DeliveryState is the life of one event's delivery to one endpoint.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // not yet answered with 2xx; a job will try it
	DeliverySucceeded DeliveryState = "succeeded" // a 2xx was received
	DeliveryFailed    DeliveryState = "failed"    // given up after RetryWindow; replay to try again
)

// Delivery is one event's delivery to one endpoint: (EndpointID, EventID) is unique.
type Delivery struct {
	EndpointID int64
	EventID    int64
	OrgID      string
	State      DeliveryState
	Attempts   int // attempts made so far, over every job and replay
	LastStatus int // HTTP status of the last attempt; 0 when none or no response
	// CreatedAt is when the delivery was last queued: dispatched, or
	// replayed. RetryWindow runs from it, so a replay of an old event is
	// retried as long as a fresh one.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeliveryKey names a delivery: its endpoint and event.
type DeliveryKey struct{ EndpointID, EventID int64 }

// Key returns the delivery's key.
func (d Delivery) Key() DeliveryKey { return DeliveryKey{d.EndpointID, d.EventID} }

// Tried counts attempts by delivery, for a store's WebhookRecord.
func Tried(attempts []Attempt) map[DeliveryKey]int32 {
	n := make(map[DeliveryKey]int32, len(attempts))
	for _, a := range attempts {
		n[DeliveryKey{a.EndpointID, a.EventID}]++
	}
	return n
}

// Attempt is one POST of an event to an endpoint, as logged.
type Attempt struct {
	ID              int64 // assigned by the store
	EndpointID      int64
	EventID         int64
	OrgID           string
	Number          int // 1 for the first attempt of this delivery
	At              time.Time
	Succeeded       bool
	StatusCode      int    // 0 when no response arrived
	LatencyMicros   int64  // from sending the request to the end of the response, or the failure
	Error           string // why no response arrived (timeout, refused…), at most AttemptErrorLenMax bytes
	ResponseSnippet string // the start of the response body, at most ResponseSnippetMax bytes
}

// DeliverArgs is the job that sends some of an endpoint's pending
// deliveries. Its Kind names it to the job queue; package jobs works it.
type DeliverArgs struct {
	EndpointID int64   `json:"endpoint_id"`
	EventIDs   []int64 `json:"event_ids"`
}

// Kind is the job kind (River's JobArgs).
func (DeliverArgs) Kind() string { return "webhook_deliver" }

// EndpointFilter selects one page of an organization's endpoints.
type EndpointFilter struct {
	OrgID   string
	AfterID int64
	Limit   int // 1..PageLimitMax
}

// AttemptFilter selects one page of attempts, by ascending id. Zero fields do not filter.
type AttemptFilter struct {
	OrgID      string // required
	EndpointID int64
	EventID    int64
	AfterID    int64
	Limit      int // 1..PageLimitMax
}

// DispatchPlan turns claimed events and the enabled endpoints of their
// organizations into deliveries and the jobs that send them. Adapters call
// it inside the dispatch transaction; Plan is the one the service uses.
type DispatchPlan func(events []event.Event, endpoints []Endpoint, now time.Time) ([]Delivery, []DeliverArgs)

// Store is what webhooks need of a database. Adapters enqueue DeliverArgs on
// the job queue (River) in the same transaction as the rows they write.
type Store interface {
	// WebhookEndpointInsert stores e and returns it with its id. It fails with
	// conflict (param "url") when the organization already has
	// EndpointsPerOrgMax endpoints. keep, if not nil, runs in the insert's
	// transaction with the endpoint as stored; an error from it undoes the
	// insert and is returned. It may run more than once, as the
	// transaction is retried.
	WebhookEndpointInsert(ctx context.Context, e Endpoint, keep func(idempotency.Tx, Endpoint) error) (Endpoint, error)
	// WebhookEndpointByID returns one endpoint. Errors: not_found.
	WebhookEndpointByID(ctx context.Context, id int64) (Endpoint, error)
	WebhookEndpointList(ctx context.Context, f EndpointFilter) ([]Endpoint, error)
	// WebhookEndpointUpdate stores the mutable fields of e (URL, Description,
	// EventTypes, Disabled, UpdatedAt) if the stored endpoint's UpdatedAt is
	// still read (the one e was read with). Errors: not_found (none, deleted,
	// or changed since it was read).
	WebhookEndpointUpdate(ctx context.Context, e Endpoint, read time.Time) error
	// WebhookEndpointDelete deletes one of org's endpoints, in one
	// transaction: it is disabled, its secret forgotten, and from then on
	// no read but WebhookDeliveryList sees it (nor counts it against
	// EndpointsPerOrgMax); its pending deliveries become failed. Its
	// deliveries and attempts stay. Errors: not_found (none, another
	// organization's, or deleted already).
	WebhookEndpointDelete(ctx context.Context, orgID string, id int64, at time.Time) error

	// WebhookDispatch claims up to limit events not yet dispatched, oldest
	// first, skipping any another node holds; loads the enabled endpoints of
	// their organizations; calls plan; then, in the same transaction, inserts
	// the deliveries (an existing (endpoint, event) row is left alone),
	// enqueues the jobs and marks the claimed events dispatched. It returns how
	// many events it claimed.
	WebhookDispatch(ctx context.Context, now time.Time, limit int, plan DispatchPlan) (int, error)
	// WebhookReplay sets the given deliveries to pending with their CreatedAt
	// and UpdatedAt (inserting those that do not exist, keeping the attempt
	// count of those that do) and enqueues job, in one transaction.
	WebhookReplay(ctx context.Context, deliveries []Delivery, job DeliverArgs) error

	// WebhookPendingEvents returns the events among eventIDs whose delivery to
	// the endpoint is pending, with those deliveries, in event id order.
	WebhookPendingEvents(ctx context.Context, endpointID int64, eventIDs []int64) ([]event.Event, []Delivery, error)
	// WebhookRecord inserts attempts and stores the outcome of each
	// delivery, in one transaction: Attempts goes up by the attempts given
	// for it (one, or none for a delivery given up unsent), and State,
	// LastStatus and UpdatedAt are set, except that
	//   - a delivery already succeeded stays succeeded, with its status (two
	//     jobs may send the same delivery at once: a replay beside a retry;
	//     the later record must not undo the earlier success);
	//   - a delivery whose stored CreatedAt differs from the one given was
	//     requeued by a replay after the job read it: unless this attempt
	//     succeeded it stays pending, for the replay's job to send.
	WebhookRecord(ctx context.Context, attempts []Attempt, deliveries []Delivery) error
	// WebhookGiveUp marks failed the deliveries among eventIDs to the
	// endpoint that are still pending: a job that finds its endpoint
	// deleted gives them up, as the delete did those it saw.
	WebhookGiveUp(ctx context.Context, endpointID int64, eventIDs []int64, at time.Time) error
	// WebhookAttemptList returns one page of attempts matching f.
	WebhookAttemptList(ctx context.Context, f AttemptFilter) ([]Attempt, error)
	// WebhookDeliveryList returns the deliveries of one event, by endpoint id.
	WebhookDeliveryList(ctx context.Context, eventID int64) ([]Delivery, error)
}
