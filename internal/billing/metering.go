package billing

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/event"
)

// sessionAgrees says whether session s and r, its quota's reservation,
// agree: what was used is what was settled plus what was not, within the
// quota; the quota is what r authorized and what was settled is what r
// charged; while s is active r holds the rest of the quota, and once s has
// ended nothing is left unsettled and r holds nothing.
func sessionAgrees(s Session, r Reservation) bool {
	return r.ID == s.ReservationID && s.Used == s.Settled+s.Unsettled && s.Used <= s.Quota &&
		s.Unsettled >= 0 && s.Quota == r.Authorized && s.Settled == r.Charged &&
		(s.State == SessionActive) == (r.State == StateActive) &&
		(s.State != SessionActive || r.Reserved == s.Quota-s.Settled) &&
		(s.State == SessionActive || s.Unsettled == 0)
}

// commitSession writes c's session and its new reports, after checking
// that the session and its reservation agree.
func (c *change) commitSession() error {
	ses := c.ses
	if ses == nil {
		return nil
	}
	r := c.rsv
	if r == nil || !sessionAgrees(*ses, *r) {
		return fmt.Errorf("billing: session %+v with reservation %+v: invariant broken", *ses, r)
	}
	ses.Reports += int64(len(c.reports))
	if c.sesNew {
		ses.Version = 1
		if err := c.tx.SessionInsert(c.ctx, *ses); err != nil {
			return err
		}
	} else {
		ses.Version++
		ses.UpdatedAt = c.now
		if err := c.tx.SessionUpdate(c.ctx, *ses); err != nil {
			return err
		}
	}
	for _, u := range c.reports {
		if err := c.tx.UsageReportInsert(c.ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// settle charges the session's unsettled usage against its reservation
// (final: closing it and releasing the rest) and returns the charge's post
// transfer, or 0 when there was nothing to charge.
func (c *change) settle(final bool) (int64, error) {
	ses := c.ses
	if ses.Unsettled == 0 {
		return 0, nil
	}
	amount := ses.Unsettled
	ref := SettlementReferencePrefix + ses.ID + ":" + strconv.Itoa(ses.Settlements+1)
	if _, err := c.capture(amount, final, ref); err != nil {
		return 0, err
	}
	ses.Settled += amount
	ses.Unsettled = 0
	ses.Settlements++
	return c.charge.TransferID, nil
}

// notInSession refuses to move c's reservation outside its session.
func (c *change) notInSession() error {
	ses, err := c.tx.SessionByReservationForUpdate(c.ctx, c.rsv.ID)
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		return nil
	case err != nil:
		return err
	}
	return apperr.New(CodeReservationInSession, "reservation %s is the quota of metered session %s; use the session", c.rsv.AuthNumber, ses.ID)
}

// onSession runs rule on session id with its customer, its reservation and
// itself locked, in that order, in one transaction.
func (s *Service) onSession(ctx context.Context, actor Actor, id, action string, rule func(c *change) error) (*change, error) {
	if !actor.isOrg() {
		return nil, forbidden()
	}
	s0, err := s.cfg.Store.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if s0.OrgID != actor.ID {
		return nil, apperr.NotFound("session")
	}
	return s.run(ctx, actor, action, func(c *change) error {
		var err error
		if c.cus, err = c.tx.CustomerForUpdate(c.ctx, s0.CustomerID); err != nil {
			return err
		}
		c.now = s.now() // see lockedNow
		r, err := c.tx.ReservationForUpdate(c.ctx, s0.ReservationID)
		if err != nil {
			return err
		}
		ses, err := c.tx.SessionForUpdate(c.ctx, s0.ID)
		if err != nil {
			return err
		}
		c.rsv, c.ses = &r, &ses
		c.subject = audit.Subject{Type: "billing_session", ID: ses.ID}
		return rule(c)
	})
}

// StartSession starts a metered session: it reserves the quota (a
// reservation with its authorization number, checked against the
// customer's limit) and returns the session. A repeat with the same
// Reference and fields returns the first session.
//
// Errors: forbidden, invalid, not_found, limit_exceeded, conflict
// (Reference used with other fields; Param names the field).
func (s *Service) StartSession(ctx context.Context, actor Actor, p StartSessionParams) (Session, error) {
	if err := p.validate(); err != nil {
		return Session{}, err
	}
	c, err := s.onCustomer(ctx, actor, p.CustomerID, "billing.session.started", func(c *change) error {
		c.result = func() any { return *c.ses }
		old, err := c.tx.SessionByReference(c.ctx, actor.ID, p.Reference)
		switch {
		case err == nil:
			field := ""
			switch {
			case old.CustomerID != p.CustomerID:
				field = "customer_id"
			case old.ThresholdPercent != p.ThresholdPercent:
				field = "threshold_percent"
			case int64(old.ExpiresAt.Sub(old.CreatedAt).Seconds()) != p.ExpiresInSeconds:
				field = "expires_in_seconds"
			}
			if field == "" {
				// The first quota is the reservation's Amount.
				r, err := c.tx.ReservationForUpdate(c.ctx, old.ReservationID)
				if err != nil {
					return err
				}
				if r.Amount != p.Quota {
					field = "quota"
				}
			}
			if field != "" {
				return &apperr.Error{Code: apperr.CodeConflict, Param: field,
					Message: fmt.Sprintf("session %s has reference %q with a different %s", old.ID, p.Reference, field)}
			}
			c.ses, c.noop = &old, true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if err := c.reserveNew(p.Quota, "", p.ExpiresInSeconds); err != nil {
			return err
		}
		r := c.rsv
		c.ses = &Session{ID: newID("ses_"), OrgID: r.OrgID, CustomerID: r.CustomerID, ReservationID: r.ID, AuthNumber: r.AuthNumber,
			Reference: p.Reference, Currency: r.Currency, Quota: p.Quota, ThresholdPercent: p.ThresholdPercent, State: SessionActive,
			ExpiresAt: r.ExpiresAt, CreatedAt: c.now, UpdatedAt: c.now}
		c.sesNew = true
		c.eventType = event.TypeBillingSessionStarted
		c.subject = audit.Subject{Type: "billing_session", ID: c.ses.ID}
		c.data["customer"], c.data["quota"], c.data["auth_number"], c.data["reference"] = c.cus.ID, p.Quota, r.AuthNumber, p.Reference
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("billing: start session for customer %s: %w", p.CustomerID, err)
	}
	return *c.ses, nil
}

// ReportUsage adds usage to an active session, idempotently by sequence
// number: the same seq and amount again returns the first answer and
// changes nothing. Any seq not reported before is new usage, in whatever
// order reports arrive (gaps are allowed; a late one counts), so a report
// refused for the quota can be sent again under its own seq after a top-up
// even if later ones were accepted meanwhile. The usage is settled against
// the quota in the session's row; the ledger is written only when the
// unsettled usage reaches the session's threshold (one designated charge
// of all of it). Usage beyond the quota is refused and nothing changes: top
// the session up and report the same seq again.
//
// Errors: forbidden, invalid, not_found, conflict (the seq was reported
// with another amount; Param "amount"), quota_exceeded, session_ended,
// reservation_expired.
func (s *Service) ReportUsage(ctx context.Context, actor Actor, sessionID string, p UsageParams) (UsageReport, Session, error) {
	if err := p.validate(); err != nil {
		return UsageReport{}, Session{}, err
	}
	var out UsageReport
	c, err := s.onSession(ctx, actor, sessionID, "billing.session.settled", func(c *change) error {
		c.result = func() any { return UsageResult{Report: out, Session: *c.ses} }
		ses := c.ses
		if p.Seq <= ses.LastSeq {
			// Above LastSeq nothing was reported; at or below it, look.
			old, err := c.tx.UsageReportBySeq(c.ctx, ses.ID, p.Seq)
			switch {
			case err == nil:
				if old.Amount != p.Amount {
					return &apperr.Error{Code: apperr.CodeConflict, Param: "amount",
						Message: fmt.Sprintf("seq %d of session %s was reported with amount %d", p.Seq, ses.ID, old.Amount)}
				}
				out, c.noop = old, true
				return nil
			case !apperr.Is(err, apperr.CodeNotFound):
				return err
			}
		}
		if err := sessionUsable(c); err != nil {
			return err
		}
		if ses.Reports >= ReportsPerSessionMax {
			return apperr.New(apperr.CodeConflict, "session %s has the most reports it may hold (%d); end it and start another", ses.ID, ReportsPerSessionMax)
		}
		if p.Amount > ses.Remaining() {
			return &apperr.Error{Code: CodeQuotaExceeded, Param: "amount",
				Message: fmt.Sprintf("session %s has %d of its quota left; %d reported; top it up", ses.ID, ses.Remaining(), p.Amount)}
		}
		ses.Used += p.Amount
		ses.Unsettled += p.Amount
		ses.LastSeq = max(ses.LastSeq, p.Seq)
		out = UsageReport{SessionID: ses.ID, Seq: p.Seq, Amount: p.Amount, At: c.now}
		if ses.Unsettled >= ses.ThresholdAmount() {
			out.Settled = ses.Unsettled
			tid, err := c.settle(false)
			if err != nil {
				return err
			}
			out.TransferID = tid
			c.data["seq"], c.data["settled"], c.data["used"] = p.Seq, out.Settled, ses.Used
		} else {
			c.noAudit = true
		}
		out.Used, out.Unsettled, out.Remaining = ses.Used, ses.Unsettled, ses.Remaining()
		c.reports = append(c.reports, out)
		return nil
	})
	if err != nil {
		return UsageReport{}, Session{}, fmt.Errorf("billing: report usage of session %s: %w", sessionID, err)
	}
	return out, *c.ses, nil
}

// sessionUsable refuses to add usage or quota to an ended session, or one
// whose reservation has expired.
func sessionUsable(c *change) error {
	if c.ses.State != SessionActive {
		return apperr.New(CodeSessionEnded, "session %s is %s", c.ses.ID, c.ses.State)
	}
	return usable(c.rsv, c.now)
}

// TopUpSession adds amount to an active session's quota: it increments
// the session's reservation, if the customer's available amount covers
// it. A retry with the same Reference changes nothing.
//
// Errors: forbidden, invalid, not_found, limit_exceeded, session_ended,
// reservation_expired, conflict (Reference used for another amount).
func (s *Service) TopUpSession(ctx context.Context, actor Actor, sessionID string, p TopUpSessionParams) (Session, error) {
	if err := validAmount("amount", p.Amount); err != nil {
		return Session{}, err
	}
	if err := validCallerReference("reference", p.Reference); err != nil {
		return Session{}, err
	}
	c, err := s.onSession(ctx, actor, sessionID, "billing.session.topped_up", func(c *change) error {
		c.result = func() any { return *c.ses }
		old, err := c.tx.ReservationEventByReference(c.ctx, c.rsv.ID, p.Reference)
		switch {
		case err == nil:
			if old.Kind != EventIncrement || old.Amount != p.Amount {
				return &apperr.Error{Code: apperr.CodeConflict, Param: "amount", Message: fmt.Sprintf("reference %q was used for another %s", p.Reference, old.Kind)}
			}
			c.noop = true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if err := sessionUsable(c); err != nil {
			return err
		}
		if err := c.increment(p.Amount, p.Reference); err != nil {
			return err
		}
		c.ses.Quota += p.Amount
		c.eventType = event.TypeBillingSessionToppedUp
		c.data["amount"], c.data["reference"], c.data["quota"] = p.Amount, p.Reference, c.ses.Quota
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("billing: top up session %s: %w", sessionID, err)
	}
	return *c.ses, nil
}

// EndSession ends a session: it charges exactly the unsettled usage as a
// final charge on the session's reservation, releasing the rest of the
// quota (or, with nothing unsettled, releases what the reservation still
// holds). Usage accepted before the reservation's expiry is charged even
// if the expiry has passed since. Ending an ended session returns it
// unchanged.
//
// Errors: forbidden, not_found.
func (s *Service) EndSession(ctx context.Context, actor Actor, sessionID string) (Session, error) {
	c, err := s.onSession(ctx, actor, sessionID, "billing.session.ended", func(c *change) error {
		c.result = func() any { return *c.ses }
		if c.ses.State != SessionActive {
			c.noop = true
			return nil
		}
		c.data["settled"] = c.ses.Unsettled
		return c.finish(SessionEnded, StateClosed, EventRelease)
	})
	if err != nil {
		return Session{}, fmt.Errorf("billing: end session %s: %w", sessionID, err)
	}
	return *c.ses, nil
}

// finish ends c's active session in state st: a final charge of the
// unsettled usage, or, with none, the release of what the reservation
// holds (the reservation moving to rst).
func (c *change) finish(st SessionState, rst State, kind EventKind) error {
	if c.ses.Unsettled > 0 {
		if _, err := c.settle(true); err != nil {
			return err
		}
		// The final settlement closed the reservation; an expired session
		// leaves it expired, as its state filters and lookups expect.
		c.rsv.State = rst
	} else if err := c.end(rst, kind); err != nil {
		return err
	}
	c.ses.State = st
	// One change, one event: the session's, not its final charge's.
	c.eventType = event.TypeBillingSessionEnded
	if st == SessionExpired {
		c.eventType = event.TypeBillingSessionExpired
	}
	return nil
}

// FindSession returns one of the acting organization's sessions.
//
// Errors: forbidden, not_found.
func (s *Service) FindSession(ctx context.Context, actor Actor, id string) (Session, error) {
	if !actor.isOrg() {
		return Session{}, forbidden()
	}
	ses, err := s.cfg.Store.SessionByID(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if ses.OrgID != actor.ID {
		return Session{}, apperr.NotFound("session")
	}
	return ses, nil
}

// FindSessions returns a page of the sessions of one of the acting
// organization's customers, newest first, optionally in one state.
//
// Errors: forbidden, invalid (customer, state, limit).
func (s *Service) FindSessions(ctx context.Context, actor Actor, f SessionFilter) ([]Session, error) {
	if !actor.isOrg() {
		return nil, forbidden()
	}
	switch {
	case f.CustomerID == "":
		return nil, apperr.Invalid("customer_id", "sessions are listed by customer")
	case f.State != "" && f.State != SessionActive && f.State != SessionEnded && f.State != SessionExpired:
		return nil, apperr.Invalid("state", "unknown state %q", f.State)
	case f.Limit < 1 || f.Limit > PageLimitMax:
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	f.OrgID = actor.ID
	return s.cfg.Store.SessionList(ctx, f)
}
