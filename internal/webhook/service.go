package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// Service manages endpoints, dispatches events and replays them.
type Service struct {
	store  Store
	events *event.Service
	clock  func() time.Time
}

// NewService returns a Service; clock nil means time.Now.
func NewService(store Store, events event.Store, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{store: store, events: event.NewService(events), clock: clock}
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// EndpointParams are the fields a caller sets on an endpoint. On update, nil
// fields are left as they are.
type EndpointParams struct {
	URL         *string
	Description *string
	EventTypes  []string // nil: unchanged (update) or required (create)
	Disabled    *bool
}

// CreateEndpoint registers an endpoint for org and returns it with its new
// secret, which is shown only now. It runs the idempotency.Keep its context
// carries, if any, in its transaction, with the Endpoint: the secret is
// then kept with the key's response, which alone can show it again.
//
// Errors: invalid (url, description, event_types), conflict (too many endpoints).
func (s *Service) CreateEndpoint(ctx context.Context, orgID string, p EndpointParams) (Endpoint, error) {
	if p.URL == nil {
		return Endpoint{}, apperr.Invalid("url", "url is required")
	}
	if p.EventTypes == nil {
		return Endpoint{}, apperr.Invalid("event_types", `event_types is required: a list of event types, or ["*"] for all`)
	}
	now := s.now()
	e := Endpoint{OrgID: orgID, Secret: NewSecret(), CreatedAt: now, UpdatedAt: now}
	if err := apply(&e, p); err != nil {
		return Endpoint{}, err
	}
	keep := idempotency.KeepOf(ctx)
	return s.store.WebhookEndpointInsert(ctx, e, func(tx idempotency.Tx, e Endpoint) error {
		return idempotency.RunKeep(ctx, keep, tx, e)
	})
}

// UpdateEndpoint changes the fields p sets. Disabling an endpoint stops new
// deliveries to it; deliveries already pending wait and are sent once it is
// enabled again and they are replayed (or their job retries).
//
// It changes only those fields: an update that read the endpoint before a
// concurrent one wrote it reads it again and applies p to what that one
// left, so two updates of different fields (a disable and a new
// description) both hold.
//
// Errors: not_found, invalid, conflict (the endpoint kept changing).
func (s *Service) UpdateEndpoint(ctx context.Context, orgID string, id int64, p EndpointParams) (Endpoint, error) {
	for range endpointUpdateTries {
		e, err := s.FindEndpointByID(ctx, orgID, id)
		if err != nil {
			return Endpoint{}, err
		}
		read := e.UpdatedAt
		if err := apply(&e, p); err != nil {
			return Endpoint{}, err
		}
		// Later than what was read, so the next update's check sees it.
		e.UpdatedAt = s.now()
		if !e.UpdatedAt.After(read) {
			e.UpdatedAt = read.Add(time.Microsecond)
		}
		err = s.store.WebhookEndpointUpdate(ctx, e, read)
		if apperr.Is(err, apperr.CodeNotFound) {
			continue // deleted (the next read says so) or changed since read
		}
		if err != nil {
			return Endpoint{}, err
		}
		return e, nil
	}
	return Endpoint{}, apperr.New(apperr.CodeConflict, "webhook endpoint %d changed %d times while this update was applied; try again", id, endpointUpdateTries)
}

// endpointUpdateTries bounds how often UpdateEndpoint reads an endpoint
// again because another update wrote it in between.
const endpointUpdateTries = 10

// DeleteEndpoint deletes one of org's endpoints: it gets no more events,
// its pending deliveries are given up (failed; nothing sends them), and it
// no longer counts against EndpointsPerOrgMax. Its secret is forgotten. The
// deliveries of events to it stay in their events' delivery lists; its
// attempt log goes with it.
//
// Errors: not_found (none, another organization's, or deleted already).
func (s *Service) DeleteEndpoint(ctx context.Context, orgID string, id int64) error {
	return s.store.WebhookEndpointDelete(ctx, orgID, id, s.now())
}

func apply(e *Endpoint, p EndpointParams) error {
	if p.URL != nil {
		if err := validateURL(*p.URL); err != nil {
			return err
		}
		e.URL = *p.URL
	}
	if p.Description != nil {
		d := *p.Description
		if len(d) > DescriptionLenMax || !utf8.ValidString(d) || strings.ContainsRune(d, 0) {
			return apperr.Invalid("description", "description must be UTF-8 text without NUL of at most %d bytes", DescriptionLenMax)
		}
		e.Description = d
	}
	if p.EventTypes != nil {
		if err := validateEventTypes(p.EventTypes); err != nil {
			return err
		}
		e.EventTypes = slices.Clone(p.EventTypes)
	}
	if p.Disabled != nil {
		e.Disabled = *p.Disabled
	}
	return nil
}

// validateURL accepts absolute http and https URLs with a host. Plain http
// is allowed for receivers on private networks and in development.
func validateURL(raw string) error {
	if raw == "" || len(raw) > URLLenMax {
		return apperr.Invalid("url", "url must be 1 to %d bytes", URLLenMax)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return apperr.Invalid("url", "url must be an absolute http or https URL with a host, no user info and no fragment")
	}
	return nil
}

func validateEventTypes(types []string) error {
	if len(types) == 0 || len(types) > EventTypesMax {
		return apperr.Invalid("event_types", `event_types must list 1 to %d event types, or be ["*"]`, EventTypesMax)
	}
	for i, t := range types {
		if t == WildcardEventType {
			if len(types) != 1 {
				return apperr.Invalid(fmt.Sprintf("event_types[%d]", i), `"*" stands alone: it already means every type`)
			}
			continue
		}
		if !event.KnownType(t) {
			return apperr.Invalid(fmt.Sprintf("event_types[%d]", i), "unknown event type %q", t)
		}
		if slices.Contains(types[:i], t) {
			return apperr.Invalid(fmt.Sprintf("event_types[%d]", i), "event type %q is listed twice", t)
		}
	}
	return nil
}

// NewSecret returns a fresh signing secret: SecretPrefix and 32 random bytes in hex.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + hex.EncodeToString(b[:])
}

// FindEndpointByID returns one of org's endpoints; another organization's is not found.
//
// Errors: not_found.
func (s *Service) FindEndpointByID(ctx context.Context, orgID string, id int64) (Endpoint, error) {
	e, err := s.store.WebhookEndpointByID(ctx, id)
	if err != nil {
		return Endpoint{}, err
	}
	if e.OrgID != orgID {
		return Endpoint{}, apperr.NotFound("webhook endpoint")
	}
	return e, nil
}

// FindEndpoints returns one page of an organization's endpoints.
//
// Errors: invalid (limit).
func (s *Service) FindEndpoints(ctx context.Context, f EndpointFilter) ([]Endpoint, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", PageLimitMax)
	}
	return s.store.WebhookEndpointList(ctx, f)
}

// FindAttempts returns one page of an organization's delivery attempts.
//
// Errors: invalid (limit).
func (s *Service) FindAttempts(ctx context.Context, f AttemptFilter) ([]Attempt, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", PageLimitMax)
	}
	return s.store.WebhookAttemptList(ctx, f)
}

// FindDeliveries returns the deliveries of one of org's events.
//
// Errors: not_found.
func (s *Service) FindDeliveries(ctx context.Context, orgID string, eventID int64) ([]Delivery, error) {
	if _, err := s.events.FindEventByID(ctx, orgID, eventID); err != nil {
		return nil, err
	}
	return s.store.WebhookDeliveryList(ctx, eventID)
}

// Replay sends one of org's events again: to the given endpoint (endpointID
// > 0), which must belong to org and be enabled, or else to every enabled
// endpoint of org that subscribes to the event's type. A delivery already
// succeeded is sent again; its attempt count carries on. It returns the
// endpoints the event will be sent to.
//
// Errors: not_found (event, endpoint), conflict (the endpoint is disabled).
func (s *Service) Replay(ctx context.Context, orgID string, eventID, endpointID int64) ([]Endpoint, error) {
	ev, err := s.events.FindEventByID(ctx, orgID, eventID)
	if err != nil {
		return nil, err
	}
	var targets []Endpoint
	if endpointID > 0 {
		e, err := s.FindEndpointByID(ctx, orgID, endpointID)
		if err != nil {
			return nil, err
		}
		if e.Disabled {
			return nil, &apperr.Error{Code: apperr.CodeConflict, Param: "webhook_endpoint", Message: "the webhook endpoint is disabled; enable it first"}
		}
		targets = []Endpoint{e}
	} else {
		for after := int64(0); ; {
			page, err := s.store.WebhookEndpointList(ctx, EndpointFilter{OrgID: orgID, AfterID: after, Limit: PageLimitMax})
			if err != nil {
				return nil, err
			}
			for _, e := range page {
				if !e.Disabled && e.Wants(ev.Type) {
					targets = append(targets, e)
				}
			}
			if len(page) < PageLimitMax {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	now := s.now()
	for _, e := range targets {
		d := Delivery{EndpointID: e.ID, EventID: ev.ID, OrgID: orgID, State: DeliveryPending, CreatedAt: now, UpdatedAt: now}
		if err := s.store.WebhookReplay(ctx, []Delivery{d}, DeliverArgs{EndpointID: e.ID, EventIDs: []int64{ev.ID}}); err != nil {
			return nil, fmt.Errorf("webhook: replay event %d to endpoint %d: %w", ev.ID, e.ID, err)
		}
	}
	return targets, nil
}

// Dispatch claims up to DispatchBatchMax undispatched events and plans
// their deliveries (see Store.WebhookDispatch). It returns how many events
// it claimed; the dispatcher calls it again at once while that is a full batch.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	return s.store.WebhookDispatch(ctx, s.now(), DispatchBatchMax, Plan)
}

// Plan is the DispatchPlan: each event goes to every enabled endpoint of its
// organization that subscribes to its type, as one pending delivery, and each
// endpoint's deliveries are sent by jobs of up to DeliverBatchMax events, in
// event order.
func Plan(events []event.Event, endpoints []Endpoint, now time.Time) ([]Delivery, []DeliverArgs) {
	byOrg := map[string][]Endpoint{}
	for _, e := range endpoints {
		if !e.Disabled {
			byOrg[e.OrgID] = append(byOrg[e.OrgID], e)
		}
	}
	var deliveries []Delivery
	perEndpoint := map[int64][]int64{}
	var order []int64
	for _, ev := range events {
		for _, e := range byOrg[ev.OrgID] {
			if !e.Wants(ev.Type) {
				continue
			}
			deliveries = append(deliveries, Delivery{EndpointID: e.ID, EventID: ev.ID, OrgID: ev.OrgID, State: DeliveryPending, CreatedAt: now, UpdatedAt: now})
			if _, ok := perEndpoint[e.ID]; !ok {
				order = append(order, e.ID)
			}
			perEndpoint[e.ID] = append(perEndpoint[e.ID], ev.ID)
		}
	}
	var jobs []DeliverArgs
	for _, id := range order {
		ids := perEndpoint[id]
		for start := 0; start < len(ids); start += DeliverBatchMax {
			jobs = append(jobs, DeliverArgs{EndpointID: id, EventIDs: ids[start:min(start+DeliverBatchMax, len(ids))]})
		}
	}
	return deliveries, jobs
}

// Backoff is the wait before retry n (1 for the first retry) of a job whose
// deliveries failed: base doubling per retry, capped at BackoffCap, with up
// to 10% jitter so that many failing endpoints do not retry in step.
func Backoff(base time.Duration, n int) time.Duration {
	if base <= 0 {
		base = BackoffBaseDefault
	}
	d := base
	for i := 1; i < n && d < BackoffCap; i++ {
		d *= 2
	}
	d = min(d, BackoffCap)
	return d + time.Duration(mrand.Int64N(int64(d/10)+1))
}
