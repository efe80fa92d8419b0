package jobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// recordTimeout bounds writing a job's outcomes, which happens even when
// the job's context has ended: requests already sent must be recorded.
const recordTimeout = 30 * time.Second

// drainBytesMax bounds how much of a response is read past the snippet so
// the connection can be reused; a longer body closes the connection.
const drainBytesMax = 64 << 10

// userAgent names Kinko to receivers.
const userAgent = "Kinko-Webhooks/1"

// deliverWorker sends a DeliverArgs job's pending deliveries.
type deliverWorker struct {
	river.WorkerDefaults[webhook.DeliverArgs]
	cfg Config
}

// Work sends every delivery of the job that is still pending, at most
// SendConcurrency at a time, and records each attempt and outcome in one
// transaction. It returns an error (so River retries the job after
// NextRetry) while any delivery is still pending; deliveries recorded as
// succeeded are not sent again by a retry; on the last try, those a
// cancelled context left unsent are given up (failed, no attempt counted).
// A disabled endpoint cancels the
// job: its deliveries wait for a replay. A deleted (missing) one cancels it
// too, and gives its pending deliveries up (failed), as the delete did
// those it saw: a dispatch or replay that raced the delete made these.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[webhook.DeliverArgs]) error {
	ep, err := w.cfg.Store.WebhookEndpointByID(ctx, job.Args.EndpointID)
	if apperr.Is(err, apperr.CodeNotFound) {
		if err := w.cfg.Store.WebhookGiveUp(ctx, job.Args.EndpointID, job.Args.EventIDs, w.now()); err != nil {
			return err
		}
		return river.JobCancel(fmt.Errorf("webhook endpoint %d does not exist", job.Args.EndpointID))
	}
	if err != nil {
		return err
	}
	if ep.Disabled {
		return river.JobCancel(fmt.Errorf("webhook endpoint %d is disabled; replay its events once enabled", ep.ID))
	}
	events, deliveries, err := w.cfg.Store.WebhookPendingEvents(ctx, ep.ID, job.Args.EventIDs)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	attempts := make([]webhook.Attempt, len(events))
	sem := make(chan struct{}, w.cfg.SendConcurrency)
	var wg sync.WaitGroup
	sent := 0
	for i := range events {
		sem <- struct{}{}
		if ctx.Err() != nil {
			// Shutting down or out of time: what was not sent is not an
			// attempt; it stays pending for the job's retry.
			<-sem
			break
		}
		sent++
		wg.Go(func() {
			defer func() { <-sem }()
			attempts[i] = w.send(ctx, ep, w.cfg.Render(events[i]), events[i].ID)
		})
	}
	wg.Wait()
	unsent := len(deliveries) - sent
	lastTry := job.Attempt >= job.MaxAttempts
	now := w.now()
	// On the last try nothing retries what was not sent: give it up (a
	// replay sends it again) rather than leave it pending for ever.
	var gaveUp []webhook.Delivery
	if lastTry {
		for _, d := range deliveries[sent:] {
			d.State, d.UpdatedAt = webhook.DeliveryFailed, now
			gaveUp = append(gaveUp, d)
		}
	}
	// Capped, so that appending gaveUp below copies rather than writes
	// over the unsent deliveries gaveUp was read from.
	attempts, deliveries = attempts[:sent], deliveries[:sent:sent]

	pending := 0
	for i := range deliveries {
		d, a := &deliveries[i], &attempts[i]
		d.Attempts++
		a.Number = d.Attempts
		a.OrgID = ep.OrgID
		d.LastStatus = a.StatusCode
		d.UpdatedAt = now
		outcome := "succeeded"
		switch {
		case a.Succeeded:
			d.State = webhook.DeliverySucceeded
		case lastTry || now.Sub(d.CreatedAt) >= webhook.RetryWindow:
			d.State = webhook.DeliveryFailed
			outcome = "gave_up"
		default:
			d.State = webhook.DeliveryPending
			outcome = "failed"
			pending++
		}
		if w.cfg.ObserveAttempt != nil {
			w.cfg.ObserveAttempt(outcome, time.Duration(a.LatencyMicros)*time.Microsecond)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := w.cfg.Store.WebhookRecord(rctx, attempts, append(deliveries, gaveUp...)); err != nil {
		return fmt.Errorf("record webhook attempts: %w", err)
	}
	if len(gaveUp) > 0 {
		return fmt.Errorf("the last try of %d webhook deliveries to endpoint %d ended with %d not sent; given up, replay to send them", len(deliveries)+unsent, ep.ID, unsent)
	}
	if pending+unsent > 0 {
		return fmt.Errorf("%d of %d webhook deliveries to endpoint %d failed and %d were not sent; retrying", pending, sent, ep.ID, unsent)
	}
	return nil
}

// NextRetry spaces a failing job's retries by webhook.Backoff, but not past
// webhook.RetryWindow after the job was queued: the last retry runs at the
// window's end (and gives up whatever still fails) rather than up to one
// backoff step after it.
func (w *deliverWorker) NextRetry(job *river.Job[webhook.DeliverArgs]) time.Time {
	now := w.cfg.Clock()
	next := now.Add(webhook.Backoff(w.cfg.BackoffBase, job.Attempt))
	if end := job.CreatedAt.Add(webhook.RetryWindow); next.After(end) && now.Before(end) {
		return end
	}
	return next
}

// Timeout bounds one run of the job.
func (w *deliverWorker) Timeout(*river.Job[webhook.DeliverArgs]) time.Duration { return JobTimeout }

func (w *deliverWorker) now() time.Time { return w.cfg.Clock().UTC().Truncate(time.Microsecond) }

// send POSTs one event's body to the endpoint, signed, and describes the attempt.
func (w *deliverWorker) send(ctx context.Context, ep webhook.Endpoint, body []byte, eventID int64) webhook.Attempt {
	a := webhook.Attempt{EndpointID: ep.ID, EventID: eventID, At: w.now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = truncate(err.Error(), webhook.AttemptErrorLenMax)
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(webhook.EventIDHeader, "evt_"+strconv.FormatInt(eventID, 10))
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(ep.Secret, w.cfg.Clock(), body))
	start := time.Now()
	res, err := w.cfg.HTTPClient.Do(req)
	if err != nil {
		a.LatencyMicros = time.Since(start).Microseconds()
		a.Error = attemptError(err)
		w.cfg.Logger.Debug("webhook attempt failed", "endpoint", ep.ID, "event", eventID, "err", err)
		return a
	}
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, webhook.ResponseSnippetMax))
	io.Copy(io.Discard, io.LimitReader(res.Body, drainBytesMax))
	res.Body.Close()
	a.LatencyMicros = time.Since(start).Microseconds()
	a.StatusCode = res.StatusCode
	a.Succeeded = res.StatusCode >= 200 && res.StatusCode < 300
	a.ResponseSnippet = truncate(string(snippet), webhook.ResponseSnippetMax)
	return a
}

// attemptError says why a request got no response, for the organization's
// attempt log: the kind of failure only. The transport's own message names
// the addresses a host name resolved to and the operator's DNS resolver,
// which would let an organization map the operator's network by
// registering internal names (the server's debug log keeps it).
func attemptError(err error) string {
	var dns *net.DNSError
	var ne net.Error
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	switch {
	case errors.Is(err, errPrivateAddress):
		return "refused: the host's address is not public"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "DNS: no such host"
	case errors.As(err, &dns):
		return "DNS: lookup failed"
	case errors.Is(err, context.Canceled):
		return "canceled: the server stopped the attempt"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout: no response within %s", webhook.RequestTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	case errors.As(err, &cert):
		return "TLS: the certificate was not accepted: " + truncate(cert.Err.Error(), webhook.AttemptErrorLenMax-40)
	case errors.As(err, &rec):
		return "TLS: the server did not answer TLS"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	}
	return "request failed"
}

// truncate makes s fit a text column: invalid UTF-8 and NUL bytes (which
// PostgreSQL refuses) become U+FFFD, so one bad byte in a receiver's answer
// cannot fail the record; then it is cut to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
