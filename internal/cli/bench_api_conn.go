package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// Bounds of one benchConn request, as the client package's: the response
// read at most, and the time one attempt may take.
const (
	benchConnBodyMax = 32 << 20
	benchConnTimeout = 30 * time.Second
)

// apiTransfer is one POST /v1/transfers of kinko bench api: the fields
// client.TransferParams sends for it, and its Idempotency-Key (none when "").
type apiTransfer struct {
	Reference, DebitAccount, CreditAccount string
	Amount                                 int64
	Currency                               string
	IdempotencyKey                         string
}

// benchConn sends bench api's transfers over one keep-alive HTTP/1.1
// connection, with the buffers of one request and one response reused from
// call to call, so that the load generator costs little next to the server
// it shares the machine with. Each call is still a whole HTTP request (its
// own body and Idempotency-Key) whose response is read in full and checked:
// a 201 or 200 carrying the transfer as JSON, or a problem, which becomes a
// *client.Error as client.CreateTransfer returns it. Failures are retried
// as the client package retries them (RetryMax attempts, the same backoff,
// the same key). A benchConn is used by one goroutine at a time.
type benchConn struct {
	addr    string // host:port to dial
	host    string // Host header
	uri     string // request target of POST /v1/transfers
	display string // the URL, for errors
	auth    string // "Bearer " + key

	conn   net.Conn
	br     *bufio.Reader
	reused bool // conn has answered a request already
	hdr    benchResponse

	body []byte // request body, reused
	req  []byte // request head and body, reused
	resp []byte // response body, reused
}

// newBenchConn returns a connection to the server at base, an http://
// URL, dialed on first use. ok is false for other URLs (https), which bench
// api sends through the client package instead.
func newBenchConn(base, key string) (*benchConn, bool) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, false
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &benchConn{addr: addr, host: u.Host, uri: u.EscapedPath() + "/v1/transfers", display: u.String() + "/v1/transfers",
		auth: "Bearer " + key}, true
}

// clone returns another connection to the same server, not yet dialed.
func (c *benchConn) clone() *benchConn {
	return &benchConn{addr: c.addr, host: c.host, uri: c.uri, display: c.display, auth: c.auth}
}

// Close closes the connection, if any.
func (c *benchConn) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br, c.reused = nil, nil, false
	}
}

// CreateTransfer sends t and checks the answer, retrying as client.do does:
// a failure in transit, a 5xx, a 429 or idempotency_key_in_use is tried
// again with the same key, at most client.RetryMax times; without a key,
// nothing is retried.
func (c *benchConn) CreateTransfer(ctx context.Context, t apiTransfer) error {
	c.encodeBody(t)
	var lastErr error
	for attempt := range client.RetryMax {
		if attempt > 0 {
			wait := time.Duration(100<<attempt) * time.Millisecond
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), lastErr)
			case <-time.After(wait):
			}
		}
		retry, err := c.once(ctx, t)
		if t.IdempotencyKey == "" {
			retry = false
		}
		if err == nil || !retry {
			return err
		}
		lastErr = err
	}
	return fmt.Errorf("kinko: gave up after %d attempts: %w", client.RetryMax, lastErr)
}

// encodeBody writes t's body into c.body: the bytes json.Marshal makes of
// the client.TransferParams client.CreateTransfer would send.
func (c *benchConn) encodeBody(t apiTransfer) {
	if !jsonPlain(t.Reference) || !jsonPlain(t.DebitAccount) || !jsonPlain(t.CreditAccount) || !jsonPlain(t.Currency) {
		c.body, _ = json.Marshal(client.TransferParams{Reference: t.Reference, DebitAccount: t.DebitAccount, CreditAccount: t.CreditAccount,
			Amount: client.Money{Amount: t.Amount, Currency: t.Currency}})
		return
	}
	b := append(c.body[:0], `{"reference":"`...)
	b = append(b, t.Reference...)
	b = append(b, `","debit_account":"`...)
	b = append(b, t.DebitAccount...)
	b = append(b, `","credit_account":"`...)
	b = append(b, t.CreditAccount...)
	b = append(b, `","amount":{"amount":`...)
	b = strconv.AppendInt(b, t.Amount, 10)
	b = append(b, `,"currency":"`...)
	b = append(b, t.Currency...)
	c.body = append(b, `"}}`...)
}

// jsonPlain says whether json.Marshal writes s as it is between quotes:
// printable ASCII other than the characters it escapes.
func jsonPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch < 0x20 || ch >= 0x7f, ch == '"', ch == '\\', ch == '<', ch == '>', ch == '&':
			return false
		}
	}
	return true
}

// once sends the request once. retry says whether a failure may be tried
// again with the same key, as client.once says it.
func (c *benchConn) once(ctx context.Context, t apiTransfer) (retry bool, err error) {
	r := append(c.req[:0], "POST "...)
	r = append(r, c.uri...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.host...)
	r = append(r, "\r\nUser-Agent: kinko-bench\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(c.body)), 10)
	r = append(r, "\r\nAccept: application/json\r\nAuthorization: "...)
	r = append(r, c.auth...)
	r = append(r, "\r\nContent-Type: application/json\r\n"...)
	if t.IdempotencyKey != "" {
		r = append(r, "Idempotency-Key: "...)
		r = append(r, t.IdempotencyKey...)
		r = append(r, "\r\n"...)
	}
	r = append(r, "\r\n"...)
	c.req = append(r, c.body...)

	// A kept-alive connection the server has closed fails before any
	// answer; as net/http does, try such a request once more on a new
	// connection at once (it carries its Idempotency-Key, or is safe by
	// its reference).
	for fresh := false; ; fresh = true {
		if c.conn == nil {
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, benchConnTimeout)
			conn, err := d.DialContext(dctx, "tcp", c.addr)
			cancel()
			if err != nil {
				return ctx.Err() == nil, fmt.Errorf("kinko: POST %s: %w", c.display, err)
			}
			c.conn, c.br, c.reused = conn, bufio.NewReaderSize(conn, 8<<10), false
		}
		reused := c.reused
		c.conn.SetDeadline(time.Now().Add(benchConnTimeout))
		status, err := c.roundTrip()
		if err != nil {
			c.Close()
			if reused && !fresh && status == 0 {
				continue
			}
			return ctx.Err() == nil, fmt.Errorf("kinko: POST %s: %w", c.display, err)
		}
		c.reused = true
		return c.check(status, t)
	}
}

// benchResponse is what roundTrip read besides the body (in c.resp).
type benchResponse struct {
	requestID, contentType string
}

// roundTrip writes c.req and reads the response: its status (0 when no
// status line was read) and its body into c.resp. It leaves the
// connection ready for the next request, or closes it when the server
// said it would.
func (c *benchConn) roundTrip() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 201 Created
	proto, rest, ok1 := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	status, err := strconv.Atoi(string(code))
	if !ok1 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || err != nil || status < 100 || status > 999 {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked, closeAfter := int64(-1), false, false
	c.hdr = benchResponse{}
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, fmt.Errorf("read response header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return status, fmt.Errorf("malformed Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("X-Request-Id")):
			c.hdr.requestID = string(value)
		case bytes.EqualFold(name, []byte("Content-Type")):
			c.hdr.contentType = string(value)
		}
	}
	switch {
	case status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
		c.resp = c.resp[:0]
	case chunked:
		c.resp, err = readAllInto(c.resp[:0], io.LimitReader(httputil.NewChunkedReader(c.br), benchConnBodyMax))
		if err == nil {
			// The trailer ends at an empty line.
			for {
				line, rerr := c.br.ReadSlice('\n')
				if rerr != nil {
					err = rerr
					break
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					break
				}
			}
		}
	case length >= 0:
		if length > benchConnBodyMax {
			return status, fmt.Errorf("response body of %d bytes", length)
		}
		if int64(cap(c.resp)) < length {
			c.resp = make([]byte, length)
		}
		c.resp = c.resp[:length]
		_, err = io.ReadFull(c.br, c.resp)
	default: // the body ends when the server closes the connection
		c.resp, err = readAllInto(c.resp[:0], io.LimitReader(c.br, benchConnBodyMax))
		closeAfter = true
	}
	if err != nil {
		return status, fmt.Errorf("read response: %w", err)
	}
	if closeAfter {
		c.Close()
	}
	return status, nil
}

func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// check turns an answer into bench api's outcome: nil for a 201 or 200
// whose body is a JSON transfer with t's reference; the API's problem as a
// *client.Error; an error for anything else. retry is as client.once says.
func (c *benchConn) check(status int, t apiTransfer) (retry bool, err error) {
	if status >= 300 {
		e := &client.Error{Status: status, RequestID: c.hdr.requestID}
		if jerr := json.Unmarshal(c.resp, e); jerr != nil || e.Code == "" {
			e.Code, e.Detail = "http_"+strconv.Itoa(status), strings.TrimSpace(string(c.resp))
		}
		return status >= 500 || e.Code == "idempotency_key_in_use" || status == http.StatusTooManyRequests, e
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return false, fmt.Errorf("kinko: POST %s: status %d, want 201 or 200", c.display, status)
	}
	if !isTransferJSON(c.resp, t.Reference) || !strings.HasPrefix(c.hdr.contentType, "application/json") {
		body := c.resp
		if len(body) > 200 {
			body = body[:200]
		}
		return false, fmt.Errorf("kinko: decode POST %s response: not the transfer %s (%s): %q", c.display, t.Reference, c.hdr.contentType, body)
	}
	return false, nil
}

// isTransferJSON says whether body is one JSON object, a transfer as the
// API renders it ({"object":"transfer","id":…}), with the given reference.
func isTransferJSON(body []byte, reference string) bool {
	if !bytes.HasPrefix(body, []byte(`{"object":"transfer","id":"`)) || !json.Valid(body) {
		return false
	}
	if !jsonPlain(reference) {
		ref, _ := json.Marshal(reference)
		return bytes.Contains(body, append([]byte(`"reference":`), ref...))
	}
	i := bytes.Index(body, []byte(`"reference":"`))
	if i < 0 {
		return false
	}
	rest := body[i+len(`"reference":"`):]
	return len(rest) > len(reference) && string(rest[:len(reference)]) == reference && rest[len(reference)] == '"'
}
