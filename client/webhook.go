package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of every webhook request Kinko sends.
const (
	SignatureHeader = "Kinko-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	EventIDHeader   = "Kinko-Event-Id"  // the event's id, to deduplicate by
)

// SignatureTolerance is how far from the receiver's clock a signature's
// timestamp may be; pass it to VerifySignature unless you have a reason not to.
const SignatureTolerance = 5 * time.Minute

// CreateWebhookEndpoint registers an endpoint. The result carries its
// signing Secret, which no other call returns: keep it now.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, p WebhookEndpointParams, opts ...CallOption) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, http.MethodPost, "/v1/webhook_endpoints", nil, p, &out, opts...)
	return out, err
}

// ListWebhookEndpoints reads one page of the organization's endpoints.
func (c *Client) ListWebhookEndpoints(ctx context.Context, p ListParams) (Page[WebhookEndpoint], error) {
	var out Page[WebhookEndpoint]
	_, err := c.do(ctx, http.MethodGet, "/v1/webhook_endpoints", p.query(), nil, &out)
	return out, err
}

// GetWebhookEndpoint reads one endpoint, without its secret.
func (c *Client) GetWebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, http.MethodGet, "/v1/webhook_endpoints/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// UpdateWebhookEndpoint changes the fields p sets and returns the endpoint.
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, id string, p WebhookEndpointUpdate, opts ...CallOption) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, http.MethodPost, "/v1/webhook_endpoints/"+url.PathEscape(id), nil, p, &out, opts...)
	return out, err
}

// DeleteWebhookEndpoint deletes an endpoint: it receives no more events,
// its pending deliveries are given up, and it is not found from then on.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/webhook_endpoints/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// ListWebhookAttempts reads one page of an endpoint's delivery attempts,
// oldest first.
func (c *Client) ListWebhookAttempts(ctx context.Context, endpoint string, q WebhookAttemptQuery) (Page[WebhookAttempt], error) {
	v := q.ListParams.query()
	if q.Event != "" {
		v.Set("event", q.Event)
	}
	var out Page[WebhookAttempt]
	_, err := c.do(ctx, http.MethodGet, "/v1/webhook_endpoints/"+url.PathEscape(endpoint)+"/attempts", v, nil, &out)
	return out, err
}

// Errors of VerifySignature.
var (
	ErrSignatureMalformed = errors.New("kinko: malformed Kinko-Signature header")
	ErrSignatureMismatch  = errors.New("kinko: no v1 signature matches the body")
	ErrSignatureTooOld    = errors.New("kinko: signature timestamp outside the tolerance")
)

// VerifySignature checks a webhook request as its receiver should, before
// trusting or even parsing the body: header is the Kinko-Signature value,
// body the raw bytes received, secret the endpoint's (whsec_…, whole). Some
// v1 signature must be the HMAC-SHA256 of "<t>.<body>" (several may be
// present; one matching is enough), and t must lie within tolerance of now
// (SignatureTolerance), which defeats replays of an old request. It is the
// same check as the server's own (a test proves they agree).
//
// Errors: ErrSignatureMalformed, ErrSignatureTooOld, ErrSignatureMismatch.
func VerifySignature(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return ErrSignatureMalformed
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureTooOld
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
