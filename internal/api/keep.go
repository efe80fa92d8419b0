package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// keyedInTx lists the routes whose Idempotency-Key the product's service
// checks and keeps in the transaction of the change (serveKeyedInTx): their
// handlers call the service through keepInTx. The response is kept in the
// change's own commit, so no crash can leave the change done and its key
// without a response: a retry replays it instead of running the request
// again (the generic path, serveIdempotent, has that window between its
// three commits: a claim, the change, the completion). It is also one
// commit per keyed request instead of three, each of which a request
// waits for in turn. Each product lists its routes beside its handlers.
var keyedInTx = routeSet(billingKeyedInTx, escrowKeyedInTx, accountKeyedInTx, webhookKeyedInTx)

// keyedAfter lists the POST routes that keep their Idempotency-Key on the
// generic path, and why a crash between their change and its completion
// is harmless. TestEveryPostRouteKeepsItsKey makes every POST route be in
// keyedInLedger, keyedInTx or here.
var keyedAfter = map[string]string{
	// Each line of the file is its own transaction, keyed by its bank
	// reference: a rerun records nothing twice, and its report counts
	// those lines as replays.
	"POST /v1/deposits/imports": "a bank file is recorded line by line, each line idempotent by its bank reference",
	// The offset lives in the node's memory: a crash loses it with the
	// response.
	"POST /v1/test_clock/advance": "the test clock's offset is the node's memory, which a crash resets",
	// The fields are set to what the body gives: a rerun sets them again.
	"POST /v1/webhook_endpoints/{id}": "an update sets the fields its body gives; a rerun sets the same values",
	// Deliveries are at least once, and receivers drop an event id they
	// have seen: a rerun queues one more delivery of the same event.
	"POST /v1/events/{id}/replay": "a replay queues a delivery that receivers recognise by the event's id; a rerun queues one more",
	// An asset is an upsert by its code.
	"POST /v1/assets": "an asset is written by its code; a rerun writes the same asset and answers the same",
}

// billingKeyedInTx are billing's routes in keyedInTx.
var billingKeyedInTx = []string{
	"POST /v1/billing/reservations",
	"POST /v1/billing/reservations/{auth_number}/increment",
	"POST /v1/billing/reservations/{auth_number}/cancel",
	"POST /v1/billing/reservations/{auth_number}/charges",
	"POST /v1/billing/charges",
	"POST /v1/billing/sessions/{id}/usage",
	"POST /v1/billing/customers",
	"POST /v1/billing/customers/{id}/credit_limit",
	"POST /v1/billing/customers/{id}/top_ups",
	"POST /v1/billing/customers/{id}/invoices",
	"POST /v1/billing/sessions",
	"POST /v1/billing/sessions/{id}/top_ups",
	"POST /v1/billing/sessions/{id}/end",
}

// routeSet is the set of the routes in lists.
func routeSet(lists ...[]string) map[string]bool {
	set := map[string]bool{}
	for _, l := range lists {
		for _, r := range l {
			set[r] = true
		}
	}
	return set
}

// txKey is an Idempotency-Key that serveKeyedInTx hands to keepInTx
// through the request's context, and what became of it there.
type txKey struct {
	orgID, key string
	hash       []byte

	called   bool                 // the handler called the service
	kept     bool                 // the service's transaction rendered the response (the last run's)
	response idempotency.Response // that rendering
	existing *idempotency.Record  // the key had a record: the change was undone, answer from it
}

const txKeyKey ctxKey = 2

// errKeyTaken undoes a change whose key turned out to have a record (see
// txKey.existing).
var errKeyTaken = errors.New("api: the Idempotency-Key has a record already")

// serveKeyedInTx answers a keyed POST of a keyedInTx route as
// serveIdempotent would, byte for byte: a read-only lookup answers retries
// (replay, 422, 409); otherwise the handler's service call checks the key
// again inside its transaction and keeps the rendered response there. A
// request whose key holds a claim (an abandoned one before, or a live one
// found in the transaction) takes the generic path, which answers or takes
// it over. A request that changed nothing (it stopped before the service,
// with a malformed body, say, or the service refused it) keeps its answer
// in one commit of its own (keepAfter). No path leaves a claim behind.
//
// Unlike the transfer routes, these keep the lookup: without it a retry
// would run the whole change before the record in its transaction undid it,
// on the one writer, which is what a burst of retries finds busy already;
// and leaving it out measured no faster (docs/benchmarks.md).
func (s *Server) serveKeyedInTx(w http.ResponseWriter, r *http.Request, p auth.Principal, key string, h handler) error {
	body, hash, generic, done, err := s.lookupKeyed(w, r, p, key, h)
	if done || err != nil {
		return err
	}
	ctx := r.Context()
	tk := &txKey{orgID: p.OrgID, key: key, hash: hash}
	buf, err := runKeyed(r, txKeyKey, tk, body, p, h)
	switch {
	case !tk.called:
		// Nothing was applied: the handler stopped before its service
		// call (a malformed body, say). Its answer is kept in one commit.
		if err != nil {
			buf = &bufferedResponse{header: http.Header{}, status: http.StatusOK}
			s.writeError(buf, r, err)
		}
		return s.keepAfter(w, r, tk.orgID, tk.key, tk.hash, buf)
	case tk.existing != nil && !tk.existing.Done && errors.Is(err, errKeyTaken):
		return generic() // a claim: nothing was applied
	case tk.existing != nil && errors.Is(err, errKeyTaken):
		// Only when the keep's own refusal is the outcome: on SQLite it may
		// have read another request's record that a failed group commit
		// then undid, or come from an earlier run of a retried group.
		return answerKept(w, *tk.existing, hash)
	case err == nil && tk.kept:
		return writeKept(w, tk.response, false)
	case err == nil:
		// The service did not run the keep: a route listed in keyedInTx
		// whose call does not keep (TestKeyedBillingAnswersAsTheGenericPath
		// fails on it). The change
		// stands; its response is kept afterwards, as the generic path would.
		s.log.ErrorContext(ctx, "a keyed route's service call did not keep its response in its transaction", "request_id", RequestID(ctx), "route", r.Pattern)
		return s.keepAfter(w, r, tk.orgID, tk.key, tk.hash, buf)
	}
	// The service refused or failed: its transaction, the key check in it
	// included, was undone. The answer is kept as the generic path keeps it.
	buf = &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	s.writeError(buf, r, err)
	return s.keepAfter(w, r, tk.orgID, tk.key, tk.hash, buf)
}

// keepAfter keeps buf, the answer to a request that changed nothing, as
// the response to key in one commit of its own (idempotency.Keep:
// no claim is left for a crash to strand), unless the key has a record
// already (another request's, which then answers, or a live claim: 409),
// and writes it. A 5xx or a 403 is not kept.
func (s *Server) keepAfter(w http.ResponseWriter, r *http.Request, orgID, key string, hash []byte, buf *bufferedResponse) error {
	ctx := context.WithoutCancel(r.Context())
	rec, err := s.cfg.Idempotency.Keep(ctx, orgID, key, hash,
		idempotency.Response{Status: buf.status, ContentType: buf.header.Get("Content-Type"), Body: buf.body.Bytes()})
	if err != nil {
		return err
	}
	if rec != nil {
		return writeKept(w, idempotency.Response{Status: rec.Status, ContentType: rec.ContentType, Body: rec.Body}, true)
	}
	return buf.send(w)
}

// rendered is a write for keepInTx: the result shown as to renders it,
// with status.
func rendered[T, J any](status int, to func(T) J) func(http.ResponseWriter, T) error {
	return func(w http.ResponseWriter, v T) error { return writeJSON(w, status, to(v)) }
}

// keepInTx makes a service call whose result write renders. When
// serveKeyedInTx left a key in the request's context, the call carries an
// idempotency.Keep that, inside the call's transaction, reads the key's record
// (one there undoes the change: the record answers) and otherwise keeps
// write's rendering of the result as the key's completed record; the
// response is then that rendering. Without a key, the result is simply
// written.
func keepInTx[T any](s *Server, w http.ResponseWriter, r *http.Request, call func(context.Context) (T, error),
	write func(http.ResponseWriter, T) error) error {
	ctx := r.Context()
	tk, _ := ctx.Value(txKeyKey).(*txKey)
	if tk == nil {
		res, err := call(ctx)
		if err != nil {
			return err
		}
		return write(w, res)
	}
	tk.called = true
	keep := func(ctx context.Context, tx idempotency.Tx, result any) error {
		tk.kept, tk.existing = false, nil
		res, ok := result.(T)
		if !ok {
			return fmt.Errorf("api: a service call kept a %T, its handler renders a %T", result, res)
		}
		recs, err := tx.IdempotencyByKeys(ctx, []idempotency.OrgKey{{OrgID: tk.orgID, Key: tk.key}})
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			tk.existing = &recs[0]
			return errKeyTaken
		}
		buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		if err := write(buf, res); err != nil {
			s.writeError(buf, r, err)
		}
		resp := idempotency.Response{Status: buf.status, ContentType: buf.header.Get("Content-Type"), Body: buf.body.Bytes()}
		if idempotency.Keeps(resp.Status) {
			if err := tx.IdempotencyInsert(ctx, []idempotency.Record{s.cfg.Idempotency.Completed(tk.orgID, tk.key, tk.hash, resp)}); err != nil {
				return err
			}
		}
		tk.kept, tk.response = true, resp
		return nil
	}
	res, err := call(idempotency.WithKeep(ctx, keep))
	if err != nil || tk.kept {
		return err
	}
	return write(w, res) // the call did not keep: serveKeyedInTx keeps this afterwards
}
