package api

import (
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/clock"
)

// The test clock exists only on a server started with `kinko serve
// --test-clock`: it lets a black-box test move escrow's time forward and
// see deadlines fire, without waiting days. Only the operator's admin key
// may read or move it.

// Bounds of the test clock.
const (
	// testClockSecondsMax is the largest single advance (clock.AdvanceMax).
	testClockSecondsMax = int64(clock.AdvanceMax / time.Second)
	// testClockSweepsMax bounds the escrow sweeps one advance runs; each
	// fires every timer due then, and the next finds those a firing made
	// due.
	testClockSweepsMax = 1000
)

type testClockJSON struct {
	Object        string    `json:"object"` // "test_clock"
	Now           time.Time `json:"now"`
	OffsetSeconds int64     `json:"offset_seconds"`
	// DealsChanged answers an advance: how many deals its deadlines
	// changed. GET leaves it out.
	DealsChanged *int `json:"deals_changed,omitempty"`
	// ReservationsExpired answers an advance: how many billing
	// reservations it expired (null on a server without billing).
	ReservationsExpired *int `json:"reservations_expired,omitempty"`
	// InvoicesClosed answers an advance: how many invoices billing's
	// month-end close wrote (null on a server without billing).
	InvoicesClosed *int `json:"invoices_closed,omitempty"`
	// MoreDue is true when an advance stopped after testClockSweepsMax
	// sweeps with deadlines still due; advance again (by 1) to go on.
	MoreDue bool `json:"more_due,omitempty"`
}

type testClockAdvance struct {
	Seconds int64 `json:"seconds"`
}

func (s *Server) testClockRoutes() []Route {
	return []Route{
		{"GET", "/v1/test_clock", s.getTestClock},
		{"POST", "/v1/test_clock/advance", s.advanceTestClock},
	}
}

func (s *Server) testClockNow() testClockJSON {
	c := s.cfg.TestClock
	return testClockJSON{Object: "test_clock", Now: c.Now(), OffsetSeconds: int64(c.Offset() / time.Second)}
}

func (s *Server) getTestClock(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "read the test clock"); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.testClockNow())
}

// advanceTestClock moves the clock forward by the body's seconds, then fires
// every escrow deadline that has passed, sweep after sweep until one changes
// nothing (at most testClockSweepsMax sweeps), likewise expires the
// billing reservations whose expiry has passed, and then runs billing's
// month-end close.
func (s *Server) advanceTestClock(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "move the test clock"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in testClockAdvance
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Seconds < 1 || in.Seconds > testClockSecondsMax {
		return invalid("seconds", "seconds is an integer from 1 to %d", testClockSecondsMax)
	}
	if _, err := s.cfg.TestClock.Advance(time.Duration(in.Seconds) * time.Second); err != nil {
		return invalid("seconds", "%s", err.Error())
	}
	changed, more := 0, true
	for range testClockSweepsMax {
		n, err := svc.FireDueTimers(r.Context())
		changed += n
		if err != nil {
			return err
		}
		if n == 0 {
			more = false
			break
		}
	}
	out := s.testClockNow()
	out.DealsChanged, out.MoreDue = &changed, more
	if s.cfg.Billing != nil {
		expired, err := s.cfg.Billing.ExpireDue(r.Context())
		if err != nil {
			return err
		}
		out.ReservationsExpired = &expired
		closed, err := s.cfg.Billing.CloseEndedMonth(r.Context())
		if err != nil {
			return err
		}
		out.InvoicesClosed = &closed
	}
	return writeJSON(w, http.StatusOK, out)
}
