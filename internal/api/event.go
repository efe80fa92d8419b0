package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// EventEncoder renders the ledger's new accounts and transfers, and escrow's
// deals, as event data: exactly the compact JSON that GET
// /v1/accounts/{id}, GET /v1/transfers/{id} and GET /v1/deals/{id} answer
// for the object (without the trailing newline), so that an event shows the
// object as the API does. The server passes it as ledger.Config.Events and
// escrow.Config.Events; it runs inside the commit, so it does no more than
// one json.Marshal of the API's own struct.
type EventEncoder struct {
	// EscrowPayTo is Config.EscrowPayTo, for the payment instructions of
	// deals; the ledger's objects do not use it.
	EscrowPayTo string
}

var _ ledger.EventEncoder = EventEncoder{}

// TransferEventData returns t as GET /v1/transfers/{id} shows it.
func (EventEncoder) TransferEventData(t ledger.Transfer) []byte { return eventData(toTransfer(t)) }

// AccountEventData returns a as GET /v1/accounts/{id} shows it, with the
// balance as it stood when a was created.
func (EventEncoder) AccountEventData(a ledger.Account) []byte { return eventData(toAccount(a)) }

// eventData marshals one of the API's structs. Their fields are strings,
// integers, booleans, string maps and times, so json.Marshal fails only for a
// time outside the years 0 to 9999, which the ledger never writes; then the
// data is nil, which ledger.EventEncoder gives no way to report otherwise.
func eventData(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// eventJSON is an event as GET /v1/events lists it. RenderEvent writes the
// same document for one event.
type eventJSON struct {
	Object    string        `json:"object"` // "event"
	ID        string        `json:"id"`
	Type      string        `json:"type"`
	CreatedAt time.Time     `json:"created_at"`
	Data      eventDataJSON `json:"data"`
}

// eventDataJSON holds the changed object as it was when the event was recorded.
type eventDataJSON struct {
	Object json.RawMessage `json:"object"`
}

func toEvent(e event.Event) eventJSON {
	return eventJSON{Object: "event", ID: formatID(prefixEvent, e.ID), Type: e.Type, CreatedAt: e.CreatedAt.UTC(),
		Data: eventDataJSON{Object: json.RawMessage(e.Data)}}
}

// RenderEvent returns the event as compact JSON: the body of GET
// /v1/events/{id}, and byte for byte the body the webhook worker POSTs, so a
// receiver and a poller see the same document. The stored data is embedded
// as it is, never re-encoded. For data as EventEncoder makes it (compact,
// HTML-escaped), this is json.Marshal(toEvent(e)); event_test.go proves it.
func RenderEvent(e event.Event) []byte {
	typ, _ := json.Marshal(e.Type) // a string always encodes
	b := make([]byte, 0, len(e.Data)+len(typ)+len(prefixEvent)+96)
	b = append(b, `{"object":"event","id":"`+prefixEvent...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `","type":`...)
	b = append(b, typ...)
	b = append(b, `,"created_at":"`...)
	b = e.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":{"object":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...) // as json.Marshal renders a nil json.RawMessage
	}
	b = append(b, e.Data...)
	return append(b, "}}"...)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("events", false); err != nil {
		return err
	}
	id, err := pathID(prefixEvent, r.PathValue("id"))
	if err != nil {
		return err
	}
	e, err := s.cfg.Events.FindEventByID(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	return writeRawJSON(w, http.StatusOK, RenderEvent(e))
}

// listEvents pages through the organization's events in the order they
// became listable (event.Service.FindEvents), optionally of one ?type=.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("events", false); err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixEvent)
	if err != nil {
		return err
	}
	typ := r.URL.Query().Get("type")
	evs, err := fetchPage(limit, after, func(e event.Event) int64 { return e.ID }, func(after int64, n int) ([]event.Event, error) {
		return s.cfg.Events.FindEvents(r.Context(), event.Query{OrgID: p.OrgID, Type: typ, AfterID: after, Limit: n})
	})
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = toEvent(e)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}
