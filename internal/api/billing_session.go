package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// sessionJSON is a metered session as every read shows it.
// used = settled + unsettled ≤ quota; remaining = quota − used.
type sessionJSON struct {
	Object           string               `json:"object"` // "billing_session"
	ID               string               `json:"id"`
	Customer         string               `json:"customer"`
	Reservation      string               `json:"reservation"` // the reservation that holds the quota
	AuthNumber       string               `json:"auth_number"` // its authorization number
	Reference        string               `json:"reference"`
	State            billing.SessionState `json:"state"`
	Quota            moneyJSON            `json:"quota"`
	ThresholdPercent int                  `json:"threshold_percent"`
	Used             moneyJSON            `json:"used"`
	Settled          moneyJSON            `json:"settled"`
	Unsettled        moneyJSON            `json:"unsettled"`
	Remaining        moneyJSON            `json:"remaining"`
	LastSeq          int64                `json:"last_seq"` // 0 before the first report
	Reports          int64                `json:"reports"`
	Settlements      int                  `json:"settlements"`
	ExpiresAt        time.Time            `json:"expires_at"`
	CreatedAt        time.Time            `json:"created_at"`
	UpdatedAt        time.Time            `json:"updated_at"`
}

func toSession(s billing.Session) sessionJSON {
	m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: s.Currency} }
	return sessionJSON{Object: "billing_session", ID: s.ID, Customer: s.CustomerID, Reservation: s.ReservationID, AuthNumber: s.AuthNumber,
		Reference: s.Reference, State: s.State, Quota: m(s.Quota), ThresholdPercent: s.ThresholdPercent, Used: m(s.Used),
		Settled: m(s.Settled), Unsettled: m(s.Unsettled), Remaining: m(s.Remaining()), LastSeq: s.LastSeq, Reports: s.Reports,
		Settlements: s.Settlements, ExpiresAt: s.ExpiresAt.UTC(), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
}

// SessionEventData renders a session for billing.session.* events, as GET
// /v1/billing/sessions/{id} shows it (billing.EventEncoder).
func (EventEncoder) SessionEventData(ses billing.Session) []byte { return eventData(toSession(ses)) }

// usageReportJSON is one accepted usage report as it was first answered,
// with the session as it is now.
type usageReportJSON struct {
	Object    string      `json:"object"` // "billing_usage_report"
	Seq       int64       `json:"seq"`
	Amount    moneyJSON   `json:"amount"`
	Used      moneyJSON   `json:"used"`      // the session's, after this report
	Unsettled moneyJSON   `json:"unsettled"` // after this report (0 when it settled)
	Remaining moneyJSON   `json:"remaining"` // of the quota, after this report
	Settled   moneyJSON   `json:"settled"`   // what this report charged to the ledger (0: nothing)
	Transfer  *string     `json:"transfer"`  // that charge's ledger post; null when it charged nothing
	At        time.Time   `json:"at"`
	Session   sessionJSON `json:"session"`
}

func toUsageReport(u billing.UsageReport, ses billing.Session) usageReportJSON {
	m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: ses.Currency} }
	out := usageReportJSON{Object: "billing_usage_report", Seq: u.Seq, Amount: m(u.Amount), Used: m(u.Used), Unsettled: m(u.Unsettled),
		Remaining: m(u.Remaining), Settled: m(u.Settled), At: u.At.UTC(), Session: toSession(ses)}
	if u.TransferID != 0 {
		tr := formatID(prefixTransfer, u.TransferID)
		out.Transfer = &tr
	}
	return out
}

// sessionCreate is the body of POST /v1/billing/sessions.
type sessionCreate struct {
	Customer         string     `json:"customer"`
	Quota            *moneyJSON `json:"quota"`
	Reference        string     `json:"reference"`
	ThresholdPercent int        `json:"threshold_percent"`
	ExpiresInSeconds int64      `json:"expires_in_seconds"`
}

// usageCreate is the body of POST /v1/billing/sessions/{id}/usage.
type usageCreate struct {
	Seq    int64      `json:"seq"`
	Amount *moneyJSON `json:"amount"`
}

func (b *usageCreate) money() *moneyJSON { return b.Amount }
func (b *topUpCreate) money() *moneyJSON { return b.Amount }

// startSession reserves a session's quota for a customer; the customer is
// read first for its currency.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, true)
	if err != nil {
		return err
	}
	var in sessionCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	c, quota, err := customerAmount(r.Context(), svc, p, in.Customer, in.Quota, "quota")
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Session, error) {
		ses, err := svc.StartSession(ctx, billingActor(p), billing.StartSessionParams{CustomerID: c.ID, Quota: quota, Reference: in.Reference,
			ThresholdPercent: in.ThresholdPercent, ExpiresInSeconds: in.ExpiresInSeconds})
		return ses, renameParam(err, map[string]string{"customer_id": "customer"})
	}, rendered(http.StatusCreated, toSession))
}

// pathSessionID reads {id}; an id of another kind names no session.
func pathSessionID(r *http.Request) (string, error) {
	return pathTextID(prefixSession, "session", r.PathValue("id"))
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, false)
	if err != nil {
		return err
	}
	id, err := pathSessionID(r)
	if err != nil {
		return err
	}
	ses, err := svc.FindSession(r.Context(), billingActor(p), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSession(ses))
}

// onSession is every session step: scope, path, body, and the body's
// amount in the session's currency (read first).
func (s *Server) onSession(r *http.Request, p auth.Principal, body any) (svc *billing.Service, id string, amount int64, err error) {
	return s.onBillingStep(r, p, body, pathSessionID, func(ctx context.Context, svc *billing.Service, a billing.Actor, id string) (string, error) {
		ses, err := svc.FindSession(ctx, a, id)
		return ses.Currency, err
	})
}

// reportUsage adds usage to a session, idempotently by seq.
func (s *Server) reportUsage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in usageCreate
	svc, id, amount, err := s.onSession(r, p, &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.UsageResult, error) {
		u, ses, err := svc.ReportUsage(ctx, billingActor(p), id, billing.UsageParams{Seq: in.Seq, Amount: amount})
		return billing.UsageResult{Report: u, Session: ses}, err
	}, func(w http.ResponseWriter, res billing.UsageResult) error {
		return writeJSON(w, http.StatusCreated, toUsageReport(res.Report, res.Session))
	})
}

// topUpSession adds to a session's quota (an increment of its reservation).
func (s *Server) topUpSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in topUpCreate
	svc, id, amount, err := s.onSession(r, p, &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Session, error) {
		return svc.TopUpSession(ctx, billingActor(p), id, billing.TopUpSessionParams{Amount: amount, Reference: in.Reference})
	}, rendered(http.StatusOK, toSession))
}

// endSession charges the unsettled usage and releases the rest of the quota.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, _, err := s.onSession(r, p, &billingAction{})
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Session, error) {
		return svc.EndSession(ctx, billingActor(p), id)
	}, rendered(http.StatusOK, toSession))
}

// listSessions lists one customer's metered sessions (customer is
// required), newest first, optionally in one state.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, false)
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixSession)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := billing.SessionFilter{State: billing.SessionState(q.Get("state"))}
	v := q.Get("customer")
	if v == "" {
		return invalid("customer", "sessions are listed by customer: give customer")
	}
	if f.CustomerID, err = parseTextID(prefixCustomer, v, "customer"); err != nil {
		return err
	}
	ss, err := fetchPage(limit, after, func(x billing.Session) string { return x.ID }, func(after string, n int) ([]billing.Session, error) {
		f.AfterID, f.Limit = after, n
		return svc.FindSessions(r.Context(), billingActor(p), f)
	})
	if err != nil {
		return renameParam(err, map[string]string{"customer_id": "customer"})
	}
	out := make([]sessionJSON, len(ss))
	for i, x := range ss {
		out[i] = toSession(x)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}
