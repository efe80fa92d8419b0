package billing

import (
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// A metered session draws many small usage reports from one reservation
// (its quota) and writes the ledger only now and then: a report is settled
// against the quota in the session's row, and the usage not yet charged
// (Unsettled) becomes a designated charge on the reservation only when it
// reaches the session's settlement threshold, or when the session ends.
// With the default threshold a session of any number of reports that fits
// its quota costs four ledger transfers: the hold, one settlement (a post
// and a hold of the rest) and the final charge.

// Bounds and defaults of sessions.
const (
	// SettleThresholdPercentDefault is the share of the quota that
	// unsettled usage must reach before it is charged to the ledger.
	SettleThresholdPercentDefault = 50
	// SettleThresholdPercentMin and Max bound a session's own threshold:
	// 1% settles at most a hundred times per quota; 100% only when the
	// quota is used up or the session ends.
	SettleThresholdPercentMin = 1
	SettleThresholdPercentMax = 100
	// ReportsPerSessionMax bounds the usage reports one session keeps
	// (each is a row, kept for idempotent retries).
	ReportsPerSessionMax = 1_000_000
	// SeqMax bounds a report's sequence number.
	SeqMax = 1<<53 - 1
)

// Error codes of sessions.
const (
	// CodeQuotaExceeded: a report above what is left of the session's
	// quota; top the session up and report again (with the same seq).
	CodeQuotaExceeded = "quota_exceeded"
	// CodeSessionEnded: the session was ended (or its reservation
	// expired); it takes no more usage or top-ups.
	CodeSessionEnded = "session_ended"
	// CodeReservationInSession: the reservation belongs to a metered
	// session; only the session's calls move it.
	CodeReservationInSession = "reservation_in_session"
)

// SessionState is a session's life.
type SessionState string

const (
	SessionActive  SessionState = "active"
	SessionEnded   SessionState = "ended"   // EndSession charged the exact unsettled total and released the rest
	SessionExpired SessionState = "expired" // its reservation expired: unsettled usage was charged, the rest released
)

// Session is a metered session. Used = Settled + Unsettled ≤ Quota always;
// while it is active its reservation holds Quota − Settled.
type Session struct {
	ID            string // "ses_" + time-ordered id
	OrgID         string
	CustomerID    string
	ReservationID string
	AuthNumber    string // the reservation's
	Reference     string // the caller's, unique per provider
	Currency      string
	// Quota is what the session may use: the first quota plus top-ups
	// (the reservation's Authorized).
	Quota int64
	// ThresholdPercent of the quota is what Unsettled must reach to be
	// charged.
	ThresholdPercent int
	Used             int64
	Settled          int64 // charged to the ledger so far
	Unsettled        int64 // used and not charged yet
	LastSeq          int64 // the highest sequence number accepted
	Reports          int64
	Settlements      int // charges written so far
	State            SessionState
	ExpiresAt        time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Version          int
}

// Remaining is what the session may still use.
func (s Session) Remaining() int64 { return s.Quota - s.Used }

// ThresholdAmount is the unsettled usage at which a report settles:
// ThresholdPercent of the quota, at least 1.
func (s Session) ThresholdAmount() int64 {
	return max(1, s.Quota/100*int64(s.ThresholdPercent)+s.Quota%100*int64(s.ThresholdPercent)/100)
}

// SessionFilter selects one page of a customer's sessions, newest first.
type SessionFilter struct {
	OrgID      string // set by the service from the actor
	CustomerID string // required
	State      SessionState
	AfterID    string // cursor: ids sort by creation
	Limit      int
}

// UsageReport is one accepted report, as it was answered.
type UsageReport struct {
	SessionID string
	Seq       int64
	Amount    int64
	Used      int64 // the session's usage after it
	Unsettled int64 // after it (0 when it settled)
	Remaining int64 // of the quota, after it
	// Settled is what this report charged to the ledger (0: nothing);
	// TransferID is that charge's post.
	Settled    int64
	TransferID int64
	At         time.Time
}

// StartSessionParams starts a session.
type StartSessionParams struct {
	CustomerID string
	Quota      int64
	// Reference is required: a repeat with the same fields returns the
	// first session.
	Reference string
	// ThresholdPercent: 0 means SettleThresholdPercentDefault.
	ThresholdPercent int
	ExpiresInSeconds int64 // 0: ExpiresInSecondsDefault
}

func (p *StartSessionParams) validate() error {
	if err := validAmount("quota", p.Quota); err != nil {
		return err
	}
	if err := validReference("reference", p.Reference, true); err != nil {
		return err
	}
	if p.ThresholdPercent == 0 {
		p.ThresholdPercent = SettleThresholdPercentDefault
	}
	if p.ThresholdPercent < SettleThresholdPercentMin || p.ThresholdPercent > SettleThresholdPercentMax {
		return apperr.Invalid("threshold_percent", "from %d to %d", SettleThresholdPercentMin, SettleThresholdPercentMax)
	}
	if p.ExpiresInSeconds == 0 {
		p.ExpiresInSeconds = ExpiresInSecondsDefault
	}
	if p.ExpiresInSeconds < 1 || p.ExpiresInSeconds > ExpiresInSecondsMax {
		return apperr.Invalid("expires_in_seconds", "from 1 to %d seconds", ExpiresInSecondsMax)
	}
	return nil
}

// UsageParams reports usage.
type UsageParams struct {
	Seq    int64 // 1..SeqMax, increasing per session; gaps are allowed
	Amount int64
}

func (p UsageParams) validate() error {
	if p.Seq < 1 || p.Seq > SeqMax {
		return apperr.Invalid("seq", "a sequence number from 1 to %d", int64(SeqMax))
	}
	return validAmount("amount", p.Amount)
}

// TopUpSessionParams adds to a session's quota.
type TopUpSessionParams struct {
	Amount    int64
	Reference string // required: a retry with the same reference changes nothing
}
