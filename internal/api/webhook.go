package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// webhookEndpointJSON is an endpoint as every read shows it: never its secret.
type webhookEndpointJSON struct {
	Object      string    `json:"object"` // "webhook_endpoint"
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	EventTypes  []string  `json:"event_types"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// newWebhookEndpointJSON answers the endpoint's creation, the one response
// that carries its signing secret.
type newWebhookEndpointJSON struct {
	webhookEndpointJSON
	Secret string `json:"secret"`
}

func toWebhookEndpoint(e webhook.Endpoint) webhookEndpointJSON {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	return webhookEndpointJSON{Object: "webhook_endpoint", ID: formatID(prefixWebhookEndpoint, e.ID), URL: e.URL, Description: e.Description,
		EventTypes: types, Disabled: e.Disabled, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// webhookEndpointCreate is the body of POST /v1/webhook_endpoints.
type webhookEndpointCreate struct {
	URL         *string  `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description *string  `json:"description"`
}

// webhookEndpointUpdate is the body of POST /v1/webhook_endpoints/{id}:
// absent (or null) fields stay as they are.
type webhookEndpointUpdate struct {
	URL         *string  `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description *string  `json:"description"`
	Disabled    *bool    `json:"disabled"`
}

// webhookAttemptJSON is one logged POST of an event to an endpoint.
type webhookAttemptJSON struct {
	Object          string    `json:"object"` // "webhook_attempt"
	ID              string    `json:"id"`
	WebhookEndpoint string    `json:"webhook_endpoint"`
	Event           string    `json:"event"`
	Number          int       `json:"number"`
	At              time.Time `json:"at"`
	Succeeded       bool      `json:"succeeded"`
	StatusCode      *int      `json:"status_code"` // null: no response arrived
	LatencyMs       float64   `json:"latency_ms"`
	Error           string    `json:"error"`
	ResponseSnippet string    `json:"response_snippet"`
}

func toWebhookAttempt(a webhook.Attempt) webhookAttemptJSON {
	out := webhookAttemptJSON{Object: "webhook_attempt", ID: formatID(prefixWebhookAttempt, a.ID),
		WebhookEndpoint: formatID(prefixWebhookEndpoint, a.EndpointID), Event: formatID(prefixEvent, a.EventID),
		Number: a.Number, At: a.At, Succeeded: a.Succeeded, LatencyMs: float64(a.LatencyMicros) / 1000,
		Error: a.Error, ResponseSnippet: a.ResponseSnippet}
	if a.StatusCode != 0 {
		code := a.StatusCode
		out.StatusCode = &code
	}
	return out
}

// webhookDeliveryJSON is the state of one event's delivery to one endpoint.
type webhookDeliveryJSON struct {
	Object          string                `json:"object"` // "webhook_delivery"
	WebhookEndpoint string                `json:"webhook_endpoint"`
	Event           string                `json:"event"`
	State           webhook.DeliveryState `json:"state"`
	Attempts        int                   `json:"attempts"`
	LastStatus      *int                  `json:"last_status"` // null: no attempt yet, or no response
	CreatedAt       time.Time             `json:"created_at"`
	UpdatedAt       time.Time             `json:"updated_at"`
}

func toWebhookDelivery(d webhook.Delivery) webhookDeliveryJSON {
	out := webhookDeliveryJSON{Object: "webhook_delivery", WebhookEndpoint: formatID(prefixWebhookEndpoint, d.EndpointID),
		Event: formatID(prefixEvent, d.EventID), State: d.State, Attempts: d.Attempts, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.LastStatus != 0 {
		st := d.LastStatus
		out.LastStatus = &st
	}
	return out
}

// eventReplay is the body of POST /v1/events/{id}/replay: one endpoint, or
// none for every enabled endpoint that subscribes to the event's type.
type eventReplay struct {
	WebhookEndpoint string `json:"webhook_endpoint"`
}

// eventReplayJSON answers a replay: the endpoints the event will be sent to.
type eventReplayJSON struct {
	Object           string   `json:"object"` // "event_replay"
	Event            string   `json:"event"`
	WebhookEndpoints []string `json:"webhook_endpoints"`
}

// createWebhookEndpoint registers an endpoint and answers it with its
// signing secret, which no other response shows.
func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", true); err != nil {
		return err
	}
	var in webhookEndpointCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (webhook.Endpoint, error) {
		return s.cfg.Webhooks.CreateEndpoint(ctx, p.OrgID, webhook.EndpointParams{URL: in.URL, Description: in.Description, EventTypes: in.EventTypes})
	}, func(w http.ResponseWriter, e webhook.Endpoint) error {
		return writeJSON(w, http.StatusCreated, newWebhookEndpointJSON{webhookEndpointJSON: toWebhookEndpoint(e), Secret: e.Secret})
	})
}

// webhookKeyedInTx is the webhook route in keyedInTx: a rerun would
// register a second endpoint under a secret no one was shown.
var webhookKeyedInTx = []string{"POST /v1/webhook_endpoints"}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", false); err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixWebhookEndpoint)
	if err != nil {
		return err
	}
	es, err := fetchPage(limit, after, func(e webhook.Endpoint) int64 { return e.ID }, func(after int64, n int) ([]webhook.Endpoint, error) {
		return s.cfg.Webhooks.FindEndpoints(r.Context(), webhook.EndpointFilter{OrgID: p.OrgID, AfterID: after, Limit: n})
	})
	if err != nil {
		return err
	}
	out := make([]webhookEndpointJSON, len(es))
	for i, e := range es {
		out[i] = toWebhookEndpoint(e)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", false); err != nil {
		return err
	}
	id, err := pathID(prefixWebhookEndpoint, r.PathValue("id"))
	if err != nil {
		return err
	}
	e, err := s.cfg.Webhooks.FindEndpointByID(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWebhookEndpoint(e))
}

// updateWebhookEndpoint changes the fields the body sends; the secret stays.
func (s *Server) updateWebhookEndpoint(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", true); err != nil {
		return err
	}
	id, err := pathID(prefixWebhookEndpoint, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in webhookEndpointUpdate
	if err := decode(r, &in); err != nil {
		return err
	}
	e, err := s.cfg.Webhooks.UpdateEndpoint(r.Context(), p.OrgID, id,
		webhook.EndpointParams{URL: in.URL, Description: in.Description, EventTypes: in.EventTypes, Disabled: in.Disabled})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWebhookEndpoint(e))
}

// deletedJSON answers a DELETE.
type deletedJSON struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// deleteWebhookEndpoint deletes one of the organization's endpoints
// (webhook.Service.DeleteEndpoint).
func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", true); err != nil {
		return err
	}
	id, err := pathID(prefixWebhookEndpoint, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.cfg.Webhooks.DeleteEndpoint(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deletedJSON{Object: "webhook_endpoint", ID: formatID(prefixWebhookEndpoint, id), Deleted: true})
}

// listWebhookAttempts pages through the attempts to deliver to one endpoint,
// oldest first, optionally only those of one ?event=.
func (s *Server) listWebhookAttempts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", false); err != nil {
		return err
	}
	id, err := pathID(prefixWebhookEndpoint, r.PathValue("id"))
	if err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixWebhookAttempt)
	if err != nil {
		return err
	}
	f := webhook.AttemptFilter{OrgID: p.OrgID, EndpointID: id}
	if v := r.URL.Query().Get("event"); v != "" {
		if f.EventID, err = parseID(prefixEvent, v, "event"); err != nil {
			return err
		}
	}
	// Another organization's endpoint is not found, rather than an empty list.
	if _, err := s.cfg.Webhooks.FindEndpointByID(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	as, err := fetchPage(limit, after, func(a webhook.Attempt) int64 { return a.ID }, func(after int64, n int) ([]webhook.Attempt, error) {
		f.AfterID, f.Limit = after, n
		return s.cfg.Webhooks.FindAttempts(r.Context(), f)
	})
	if err != nil {
		return err
	}
	out := make([]webhookAttemptJSON, len(as))
	for i, a := range as {
		out[i] = toWebhookAttempt(a)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

// listEventDeliveries answers the state of an event's delivery to each
// endpoint it was sent to: at most one per endpoint, so at most
// webhook.EndpointsPerOrgMax, in one unpaged list.
func (s *Server) listEventDeliveries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", false); err != nil {
		return err
	}
	id, err := pathID(prefixEvent, r.PathValue("id"))
	if err != nil {
		return err
	}
	ds, err := s.cfg.Webhooks.FindDeliveries(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	out := make([]webhookDeliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = toWebhookDelivery(d)
	}
	return writeJSON(w, http.StatusOK, newList(out, len(out)))
}

// replayEvent sends an event again, to one endpoint or to every enabled
// endpoint that subscribes to its type, by durable job: 202, and the
// deliveries and attempts show the outcome.
func (s *Server) replayEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("webhooks", true); err != nil {
		return err
	}
	id, err := pathID(prefixEvent, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in eventReplay
	if err := decode(r, &in); err != nil {
		return err
	}
	var endpointID int64
	if in.WebhookEndpoint != "" {
		if endpointID, err = parseID(prefixWebhookEndpoint, in.WebhookEndpoint, "webhook_endpoint"); err != nil {
			return err
		}
	}
	targets, err := s.cfg.Webhooks.Replay(r.Context(), p.OrgID, id, endpointID)
	if err != nil {
		return err
	}
	out := eventReplayJSON{Object: "event_replay", Event: formatID(prefixEvent, id), WebhookEndpoints: make([]string, len(targets))}
	for i, e := range targets {
		out.WebhookEndpoints[i] = formatID(prefixWebhookEndpoint, e.ID)
	}
	return writeJSON(w, http.StatusAccepted, out)
}
