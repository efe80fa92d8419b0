// Package client is the Go client of Kinko's HTTP API (/v1). The kinko CLI
// and the end-to-end tests use it; so can any Go program.
//
// Every POST carries an Idempotency-Key: the caller's, or a random one made
// for the call. A call that fails in transit or with a 5xx or 409 (still
// in progress) is retried up to RetryMax times with the same key, so a retry
// never acts twice. This package must never import Kinko's internal packages:
// its types are the API's contract as a client sees it.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RetryMax bounds the attempts of one call.
const RetryMax = 4

// Client talks to one Kinko server with one API key.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a client for the server at baseURL (e.g. http://127.0.0.1:8080)
// using the API key secret. hc nil means a client with a 30 s timeout.
func New(baseURL, key string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: key, http: hc}
}

// Error is a problem the API answered with (RFC 9457 plus Kinko's code).
type Error struct {
	Status    int    `json:"status"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Param     string `json:"param"`
	RequestID string `json:"request_id"`
	ErrorID   string `json:"error_id"`
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("kinko: %d %s: %s", e.Status, e.Code, e.Detail)
	if e.Param != "" {
		msg += " (" + e.Param + ")"
	}
	return msg + " [request " + e.RequestID + "]"
}

// CodeOf returns the API error code of err, or "" when err is not an *Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// CallOption adjusts one call.
type CallOption func(*call)

type call struct {
	idempotencyKey string
	noKey          bool
}

// WithIdempotencyKey sets the key a POST is sent with; retrying the call
// later with the same key and arguments returns the first answer.
func WithIdempotencyKey(key string) CallOption { return func(c *call) { c.idempotencyKey = key } }

// WithoutIdempotencyKey sends a POST with no Idempotency-Key. The call is
// then not retried after a failure in transit, since a retry could act twice
// (transfers stay safe by their reference; other calls may not).
func WithoutIdempotencyKey() CallOption { return func(c *call) { c.noKey = true } }

// Response is what a call learned besides its result.
type Response struct {
	Status    int
	RequestID string
	Replayed  bool // the server answered from an earlier call with the same Idempotency-Key
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "cli_" + hex.EncodeToString(b[:])
}

// do sends one request, retrying transient failures, and decodes a 2xx
// body into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, opts ...CallOption) (Response, error) {
	var cl call
	for _, o := range opts {
		o(&cl)
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return Response{}, fmt.Errorf("kinko: encode request: %w", err)
		}
	}
	if method == http.MethodPost && cl.idempotencyKey == "" && !cl.noKey {
		cl.idempotencyKey = newKey()
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var lastErr error
	for attempt := range RetryMax {
		if attempt > 0 {
			wait := time.Duration(100<<attempt) * time.Millisecond
			select {
			case <-ctx.Done():
				return Response{}, errors.Join(ctx.Err(), lastErr)
			case <-time.After(wait):
			}
		}
		res, retry, err := c.once(ctx, method, u, body, cl, out)
		if method == http.MethodPost && cl.noKey {
			retry = false
		}
		if err == nil || !retry {
			return res, err
		}
		lastErr = err
	}
	return Response{}, fmt.Errorf("kinko: gave up after %d attempts: %w", RetryMax, lastErr)
}

func (c *Client) once(ctx context.Context, method, u string, body []byte, cl call, out any) (Response, bool, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Response{}, false, fmt.Errorf("kinko: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if _, ok := out.(*rawBody); ok {
		req.Header.Set("Accept", "*/*")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", cl.idempotencyKey)
	}
	hres, err := c.http.Do(req)
	if err != nil {
		// In transit: the server may or may not have acted; the same key makes a retry safe.
		return Response{}, ctx.Err() == nil, fmt.Errorf("kinko: %s %s: %w", method, u, err)
	}
	defer hres.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hres.Body, 32<<20))
	if err != nil {
		return Response{}, true, fmt.Errorf("kinko: read response: %w", err)
	}
	res := Response{Status: hres.StatusCode, RequestID: hres.Header.Get("X-Request-Id"), Replayed: hres.Header.Get("Idempotent-Replayed") == "true"}
	if hres.StatusCode >= 300 {
		e := &Error{Status: hres.StatusCode, RequestID: res.RequestID}
		if jerr := json.Unmarshal(raw, e); jerr != nil || e.Code == "" {
			e.Code, e.Detail = "http_"+fmt.Sprint(hres.StatusCode), strings.TrimSpace(string(raw))
		}
		retry := hres.StatusCode >= 500 || e.Code == "idempotency_key_in_use" || hres.StatusCode == http.StatusTooManyRequests
		return res, retry, e
	}
	if rb, ok := out.(*rawBody); ok {
		rb.data, rb.header = raw, hres.Header
		return res, false, nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return res, false, fmt.Errorf("kinko: decode %s %s response: %w", method, u, err)
		}
	}
	return res, false, nil
}

// objectPath is the path of one object of a collection ("/v1/deals"),
// its id escaped, and of the steps or sub-collections under it (rest).
func objectPath(collection, id string, rest ...string) string {
	p := collection + "/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// rawBody, passed to do as out, takes a 2xx body as it is (a file), with
// the response's headers, instead of decoding JSON.
type rawBody struct {
	data   []byte
	header http.Header
}
