package billing

import (
	"context"
	"time"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// EventEncoder renders billing objects as their events' data, as the API
// shows them. The API provides it.
type EventEncoder interface {
	CustomerEventData(Customer) []byte
	ReservationEventData(Reservation) []byte
}

// Tx is one billing write transaction: the ledger's, plus billing's rows.
// Rows read "for update" stay locked until the transaction ends; callers
// lock a customer before any of its reservations, and both before any
// ledger account, so the lock order stays the same for every writer.
type Tx interface {
	ledger.Tx
	audit.Tx

	// CustomerInsert adds c. Errors: conflict (its reference is taken).
	CustomerInsert(ctx context.Context, c Customer) error
	// CustomerForUpdate reads and locks a customer. Errors: not_found.
	CustomerForUpdate(ctx context.Context, id string) (Customer, error)
	// CustomerByReference finds a provider's customer by its own id.
	// Errors: not_found.
	CustomerByReference(ctx context.Context, orgID, ref string) (Customer, error)
	// CustomerUpdate writes c if its stored Version is c.Version-1.
	// Errors: conflict.
	CustomerUpdate(ctx context.Context, c Customer) error

	// ReservationInsert adds r. Errors: conflict (auth number or reference taken).
	ReservationInsert(ctx context.Context, r Reservation) error
	// ReservationForUpdate reads and locks a reservation. Errors: not_found.
	ReservationForUpdate(ctx context.Context, id string) (Reservation, error)
	// ReservationByAuthNumber reads a reservation without locking it.
	// Errors: not_found.
	ReservationByAuthNumber(ctx context.Context, authNumber string) (Reservation, error)
	// ReservationByReference reads a provider's reservation by the
	// caller's reference, without locking it. Errors: not_found.
	ReservationByReference(ctx context.Context, orgID, ref string) (Reservation, error)
	// ReservationUpdate writes r if its stored Version is r.Version-1.
	// Errors: conflict.
	ReservationUpdate(ctx context.Context, r Reservation) error
	ReservationEventsInsert(ctx context.Context, events []ReservationEvent) error
	// ReservationEventByReference finds an increment or charge of a
	// reservation by the caller's reference. Errors: not_found.
	ReservationEventByReference(ctx context.Context, reservationID, ref string) (ReservationEvent, error)

	// ChargeInsert adds c. Errors: conflict (its reference is taken).
	ChargeInsert(ctx context.Context, c Charge) error
	// ChargeByReference finds a provider's charge. Errors: not_found.
	ChargeByReference(ctx context.Context, orgID, ref string) (Charge, error)
}

// Store is what billing needs of a database.
type Store interface {
	// BillingTransact runs fn in one write transaction, retrying it a
	// bounded number of times on conflicts a retry resolves.
	BillingTransact(ctx context.Context, fn func(Tx) error) error

	CustomerByID(ctx context.Context, id string) (Customer, error)
	CustomerList(ctx context.Context, f CustomerFilter) ([]Customer, error)
	ReservationByID(ctx context.Context, id string) (Reservation, error)
	// ReservationByAuthNumber and ReservationByReference are the Tx's
	// lookups outside a transaction. Errors: not_found.
	ReservationByAuthNumber(ctx context.Context, authNumber string) (Reservation, error)
	ReservationByReference(ctx context.Context, orgID, ref string) (Reservation, error)
	ReservationList(ctx context.Context, f ReservationFilter) ([]Reservation, error)
	// ReservationListDue returns up to limit active reservations whose
	// expiry is at or before now, earliest first.
	ReservationListDue(ctx context.Context, now time.Time, limit int) ([]Reservation, error)
	// ReservationEventList returns a reservation's history, oldest first.
	ReservationEventList(ctx context.Context, reservationID string) ([]ReservationEvent, error)
	// AccountByID reads a ledger account. Errors: not_found.
	AccountByID(ctx context.Context, id int64) (ledger.Account, error)
}
