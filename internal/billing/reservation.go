package billing

import (
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// State is a reservation's life.
type State string

const (
	StateActive   State = "active"   // holds Reserved; may be charged, incremented, canceled
	StateClosed   State = "closed"   // a final charge released the rest
	StateCanceled State = "canceled" // the caller released everything left
	StateExpired  State = "expired"  // its expiry passed: what was left was released
)

// DueCursor is where a sweep over due items stopped: after the item due at
// At with ID. The zero DueCursor is before every item.
type DueCursor struct {
	At time.Time
	ID string
}

// Reservation is money held for a customer's use, named by an
// authorization number. Authorized = Reserved + Charged + Released always.
type Reservation struct {
	ID         string // "rsv_" + time-ordered id
	AuthNumber string // see AuthNumberLen
	OrgID      string
	CustomerID string
	Reference  string // the caller's own, unique per provider; "" when not given
	Currency   string
	Amount     int64 // what the first reservation asked for
	Authorized int64 // Amount plus every increment
	Reserved   int64 // held now: the amount of the hold
	Charged    int64
	Released   int64
	State      State
	ExpiresAt  time.Time
	// HoldTransferID is the ledger's pending transfer that holds Reserved;
	// 0 when nothing is held.
	HoldTransferID int64
	Events         int // history entries so far (the last seq)
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int
	// RequestKey is ReserveParams.RequestKey of the request that made it
	// (internal: never shown); "" when none.
	RequestKey string
}

// ExpiredAt reports whether the reservation's expiry has passed at now.
func (r Reservation) ExpiredAt(now time.Time) bool { return !now.Before(r.ExpiresAt) }

// EventKind names an entry of a reservation's history.
type EventKind string

const (
	EventReserve   EventKind = "reserve"
	EventIncrement EventKind = "increment"
	EventCharge    EventKind = "charge"
	EventCancel    EventKind = "cancel"
	EventExpire    EventKind = "expire"
	// EventRelease: a metered session ended with nothing left to charge;
	// what its reservation held was released.
	EventRelease EventKind = "release"
)

// ReservationEvent is one entry of a reservation's history.
type ReservationEvent struct {
	ReservationID string
	Seq           int // 1, 2, … per reservation
	At            time.Time
	Kind          EventKind
	// Amount: reserved (reserve, increment), charged (charge) or released
	// (cancel, expire, and the rest a final charge let go, in Released).
	Amount   int64
	Released int64 // what this entry released
	// Reference is the caller's reference of an increment or a charge.
	Reference string
	// TransferID is the ledger transfer of the entry: the new hold
	// (reserve, increment), the post (charge) or the void (cancel, expire).
	TransferID int64
}

// Charge is money taken from a customer: against a reservation or directly.
type Charge struct {
	ID            string // "chg_" + time-ordered id
	OrgID         string
	CustomerID    string
	ReservationID string // "" for a direct charge
	AuthNumber    string // "" for a direct charge
	Reference     string // the caller's, unique per provider
	Amount        int64
	Final         bool
	TransferID    int64 // the post (designated) or immediate (direct) transfer
	CreatedAt     time.Time
}

// ReserveParams asks for a reservation.
type ReserveParams struct {
	CustomerID string
	Amount     int64
	// Reference is the caller's own id of the reservation: a repeat with
	// the same fields returns the first reservation.
	Reference        string
	ExpiresInSeconds int64 // 0: ExpiresInSecondsDefault
	// RequestKey is the Idempotency-Key of the request that asks, if any.
	// Without a Reference, a repeat with the same key and fields within
	// RequestKeyRetention returns the first reservation, as a Reference
	// would: a retry whose idempotency record was lost (a crash between
	// the reservation's commit and the record) then holds nothing more.
	// Ignored when Reference is set.
	RequestKey string
}

func (p *ReserveParams) validate() error {
	if err := validAmount("amount", p.Amount); err != nil {
		return err
	}
	if err := validReference("reference", p.Reference, false); err != nil {
		return err
	}
	if p.Reference != "" {
		p.RequestKey = ""
	}
	if p.ExpiresInSeconds == 0 {
		p.ExpiresInSeconds = ExpiresInSecondsDefault
	}
	if p.ExpiresInSeconds < 1 || p.ExpiresInSeconds > ExpiresInSecondsMax {
		return apperr.Invalid("expires_in_seconds", "from 1 to %d seconds", ExpiresInSecondsMax)
	}
	return nil
}

// RequestKeyRetention is how long a reservation answers for the
// Idempotency-Key it was made under (ReserveParams.RequestKey): as long as
// the API keeps the key's record (idempotency.Retention), and no longer, so
// that a key the API has forgotten makes a new reservation.
const RequestKeyRetention = 24 * time.Hour

// IncrementParams asks to reserve more on a reservation.
type IncrementParams struct {
	Amount int64
	// Reference identifies the increment for retries: a repeat with the
	// same amount changes nothing.
	Reference string
}

// ChargeParams charges against a reservation.
type ChargeParams struct {
	Amount    int64
	Reference string // required: a retry with the same reference returns the first charge
	// Final closes the reservation and releases what is left.
	Final bool
	// ReserveDifference lets a charge above what remains reserved reserve
	// the difference first, if the limit allows.
	ReserveDifference bool
}

// DirectChargeParams charges a customer without a reservation.
type DirectChargeParams struct {
	CustomerID string
	Amount     int64
	Reference  string // required, as for ChargeParams
}

// TopUpParams adds to a prepaid customer's balance.
type TopUpParams struct {
	CustomerID string
	Amount     int64
	Reference  string // required: a retry with the same reference changes nothing
}

// TopUp is a top-up as the ledger recorded it.
type TopUp struct {
	CustomerID string
	Reference  string
	Amount     int64
	TransferID int64
	CreatedAt  time.Time
}

// ReservationLookup finds a reservation by one of its names.
type ReservationLookup struct {
	AuthNumber string
	Reference  string // the caller's reservation reference
}

// ReservationStatus is what an external system asks of a reservation.
type ReservationStatus struct {
	Reservation
	History []ReservationEvent
}

// ReservationFilter selects one page of a provider's reservations, newest
// first.
type ReservationFilter struct {
	OrgID      string // set by the service
	CustomerID string
	State      State
	AfterID    string
	Limit      int
}

// ChargeFilter selects one page of a customer's charges, oldest first.
type ChargeFilter struct {
	CustomerID    string
	CreatedFrom   time.Time // at or after; zero: no bound
	CreatedBefore time.Time // before; zero: no bound
	AfterID       string    // cursor: ids sort by creation
	Limit         int
}
