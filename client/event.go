package client

import (
	"context"
	"net/http"
	"net/url"
)

// ListEvents reads one page of the organization's events in the order they
// became listable (not id order). Poll with StartingAfter = the last id
// seen: no event is skipped, whatever order their changes committed in
// (see docs/webhooks.md, Polling).
func (c *Client) ListEvents(ctx context.Context, q EventQuery) (Page[Event], error) {
	v := q.ListParams.query()
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	var out Page[Event]
	_, err := c.do(ctx, http.MethodGet, "/v1/events", v, nil, &out)
	return out, err
}

// GetEvent reads one event.
func (c *Client) GetEvent(ctx context.Context, id string) (Event, error) {
	var out Event
	_, err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// ListEventDeliveries reads the state of an event's delivery to each
// webhook endpoint it was sent to (at most 16; not paged).
func (c *Client) ListEventDeliveries(ctx context.Context, id string) ([]WebhookDelivery, error) {
	var out Page[WebhookDelivery]
	_, err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id)+"/deliveries", nil, nil, &out)
	return out.Data, err
}

// ReplayEvent sends an event again by webhook: to the endpoint with id
// endpoint, or, when endpoint is "", to every enabled endpoint that
// subscribes to its type. Jobs send it; the answer lists the endpoints.
func (c *Client) ReplayEvent(ctx context.Context, id, endpoint string, opts ...CallOption) (EventReplay, error) {
	body := map[string]string{}
	if endpoint != "" {
		body["webhook_endpoint"] = endpoint
	}
	var out EventReplay
	_, err := c.do(ctx, http.MethodPost, "/v1/events/"+url.PathEscape(id)+"/replay", nil, body, &out, opts...)
	return out, err
}
