package ledger

import (
	"time"
)

// Kind says what a transfer does.
type Kind string

const (
	KindImmediate Kind = "immediate" // posted at once
	KindPending   Kind = "pending"   // a hold: counted as pending until posted, voided or expired
	KindPost      Kind = "post"      // posts a pending transfer, fully or in part; the rest is released
	KindVoid      Kind = "void"      // releases a pending transfer
	KindExpire    Kind = "expire"    // written by the ledger when a pending transfer times out
)

// Bounds on transfers.
const (
	TimeoutSecondsMax = 10 * 366 * 24 * 3600 // ten years
	MetadataLenMax    = 4096                 // bytes of the JSON encoding
)

// Transfer is an immutable movement of value from a debit to a credit account.
type Transfer struct {
	ID              int64
	Owner           string
	Reference       string // empty only for KindExpire, which the ledger writes itself
	Kind            Kind
	DebitAccountID  int64
	CreditAccountID int64
	Amount          int64
	Asset           string
	Code            string
	PendingID       int64     // the pending transfer a post, void or expire resolves
	TimeoutAt       time.Time // pending only; zero when it never times out
	Metadata        map[string]string
	CreatedAt       time.Time
}

// TimeoutSeconds is the timeout the pending transfer was created with, or 0.
func (t Transfer) TimeoutSeconds() int64 {
	if t.TimeoutAt.IsZero() {
		return 0
	}
	return int64(t.TimeoutAt.Sub(t.CreatedAt) / time.Second)
}

// TransferRequest asks for one transfer. Field use by kind:
//
//	immediate, pending: DebitAccountID, CreditAccountID, Amount > 0; pending may set TimeoutSeconds
//	post:               PendingID; Amount 0 posts the full pending amount, less posts part
//	void:               PendingID; Amount must be 0
//
// Owner and Reference are required; (Owner, Reference) identifies the transfer
// for retries. Linked chains this request to the next one in the same
// submission: the chain commits all or none.
type TransferRequest struct {
	Owner           string
	Reference       string
	Kind            Kind // "" means KindImmediate
	DebitAccountID  int64
	CreditAccountID int64
	Amount          int64
	Asset           string // optional; when set it must equal the accounts' asset
	Code            string // for post and void, "" inherits the pending transfer's code
	PendingID       int64
	TimeoutSeconds  int64
	Metadata        map[string]string
	Linked          bool
}

// TransferFilter selects transfers that touch one account, ordered by id.
type TransferFilter struct {
	AccountID int64
	AfterID   int64 // cursor: only transfers with a greater id
	Limit     int   // page size, 1..PageLimitMax
}

// TransferQuery selects an owner's transfers, ordered by id, one page at a
// time. Zero fields do not filter.
type TransferQuery struct {
	Owner         string
	AccountID     int64     // only transfers that touch this account
	Kind          Kind      // only transfers of this kind
	CreatedFrom   time.Time // created at or after
	CreatedBefore time.Time // created before
	AfterID       int64     // cursor: only transfers with a greater id
	Limit         int       // page size, 1..PageLimitMax
}

// HoldState is the life of a pending transfer.
type HoldState string

const (
	HoldPending HoldState = "pending"
	HoldPosted  HoldState = "posted"
	HoldVoided  HoldState = "voided"
	HoldExpired HoldState = "expired"
)

// HoldCursor names a pending transfer by its timeout, for sweeps over due
// holds in timeout order; the zero HoldCursor is before every hold.
type HoldCursor struct {
	TimeoutAt  time.Time
	TransferID int64
}

// Hold is the mutable state of a pending transfer; the transfer row itself never changes.
type Hold struct {
	TransferID      int64
	Owner           string
	DebitAccountID  int64
	CreditAccountID int64
	Amount          int64
	Asset           string
	Code            string
	TimeoutAt       time.Time // zero: never
	State           HoldState
	ResolvedAt      time.Time // zero while pending
}

// expiredAt reports whether the hold has timed out at now. A hold expires at
// the instant of its timeout: from then on it can never be posted or voided.
func (h *Hold) expiredAt(now time.Time) bool {
	return !h.TimeoutAt.IsZero() && !now.Before(h.TimeoutAt)
}
