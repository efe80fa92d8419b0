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
	// ChargeEventData renders a direct charge; currency is its customer's.
	ChargeEventData(c Charge, currency string) []byte
	// TopUpEventData renders a top-up; currency is its customer's.
	TopUpEventData(t TopUp, currency string) []byte
	// SessionEventData renders a metered session (billing.session.*).
	SessionEventData(Session) []byte
	// InvoiceEventData renders an invoice (billing.invoice.created).
	InvoiceEventData(Invoice) []byte
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
	// ReservationByRequestKey reads a provider's reservation by the
	// Idempotency-Key it was made under (Reservation.RequestKey), without
	// locking it. Errors: not_found.
	ReservationByRequestKey(ctx context.Context, orgID, key string) (Reservation, error)
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
	// ChargeTotals counts and sums a customer's charges created in
	// [from, before).
	ChargeTotals(ctx context.Context, customerID string, from, before time.Time) (count, total int64, err error)

	// SessionInsert adds s. Errors: conflict (its reference is taken).
	SessionInsert(ctx context.Context, s Session) error
	// SessionForUpdate reads and locks a session. Errors: not_found.
	SessionForUpdate(ctx context.Context, id string) (Session, error)
	// SessionByReservationForUpdate reads and locks the session whose
	// quota reservationID is. Errors: not_found (not a session's).
	SessionByReservationForUpdate(ctx context.Context, reservationID string) (Session, error)
	// SessionByReference finds a provider's session by the caller's
	// reference. Errors: not_found.
	SessionByReference(ctx context.Context, orgID, ref string) (Session, error)
	// SessionUpdate writes s if its stored Version is s.Version-1.
	// Errors: conflict.
	SessionUpdate(ctx context.Context, s Session) error
	// UsageReportInsert adds r. Errors: conflict (its seq is taken).
	UsageReportInsert(ctx context.Context, r UsageReport) error
	// UsageReportBySeq finds a session's report. Errors: not_found.
	UsageReportBySeq(ctx context.Context, sessionID string, seq int64) (UsageReport, error)

	// InvoiceInsert adds inv. Errors: conflict (customer and period taken).
	InvoiceInsert(ctx context.Context, inv Invoice) error
	// InvoiceByPeriod finds a customer's invoice of a period ("2026-01").
	// Errors: not_found.
	InvoiceByPeriod(ctx context.Context, customerID, period string) (Invoice, error)
}

// SnapshotReader reads from one consistent snapshot of the database
// (Store.BillingSnapshot): what Verify compares must not change between
// its reads.
type SnapshotReader interface {
	// AccountByID reads a ledger account. Errors: not_found.
	AccountByID(ctx context.Context, id int64) (ledger.Account, error)
	// TransferByID reads a ledger transfer. Errors: not_found.
	TransferByID(ctx context.Context, id int64) (ledger.Transfer, error)
	// ReservationByID reads a reservation. Errors: not_found.
	ReservationByID(ctx context.Context, id string) (Reservation, error)
	// ReservationList returns a page of f.OrgID's reservations, newest first.
	ReservationList(ctx context.Context, f ReservationFilter) ([]Reservation, error)
	// ChargeList returns a page of a customer's charges, oldest first.
	ChargeList(ctx context.Context, f ChargeFilter) ([]Charge, error)
	// InvoiceList returns one page of a customer's invoices, newest
	// period first (see InvoiceFilter).
	InvoiceList(ctx context.Context, f InvoiceFilter) ([]Invoice, error)
	// CustomerList returns a page of customers, newest first: f.OrgID's,
	// or every organization's when it is empty (Verify).
	CustomerList(ctx context.Context, f CustomerFilter) ([]Customer, error)
	// SessionList returns a page of f.OrgID's sessions of f.CustomerID,
	// newest first.
	SessionList(ctx context.Context, f SessionFilter) ([]Session, error)
	// UsageReportTotals counts and sums the usage reports a session
	// accepted.
	UsageReportTotals(ctx context.Context, sessionID string) (count, total int64, err error)
	// AccountByReference reads a ledger account by its owner and
	// reference. Errors: not_found.
	AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error)
	// CustomerAccountTotals sums the balances of organization org's
	// customers' ledger accounts, per currency, in currency order.
	CustomerAccountTotals(ctx context.Context, org string) ([]AccountTotals, error)
}

// AccountTotals are the sums of the balances of some ledger accounts in
// one currency.
type AccountTotals struct {
	Currency                                                   string
	DebitsPosted, DebitsPending, CreditsPosted, CreditsPending int64
}

// Store is what billing needs of a database.
type Store interface {
	SnapshotReader
	// BillingSnapshot runs fn with a reader whose reads all see one
	// snapshot of the database, as of its first read; it writes nothing.
	BillingSnapshot(ctx context.Context, fn func(SnapshotReader) error) error
	// BillingTransact runs fn in one write transaction, retrying it a
	// bounded number of times on conflicts a retry resolves. fn's
	// statements use the context it is given, not ctx: a store may run fn
	// inside a transaction it shares with other callers' fns (each in a
	// savepoint of its own, so a failing fn undoes only itself), where one
	// caller's cancellation must not interrupt a statement of the others.
	// fn may therefore run more than once, and must return its results
	// only through variables each run sets anew. If ctx ends before fn
	// runs, fn does not run; if it ends while fn runs, the store either
	// lets fn finish and commit, or undoes it; either way the error says
	// what happened: nil only if fn's writes committed, and a commit is
	// never cut off by ctx and then reported as failed.
	BillingTransact(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	CustomerByID(ctx context.Context, id string) (Customer, error)
	// AccountsByID reads the ledger accounts with the given ids (a page
	// of customers' accounts: at most PageLimitMax) in one statement, in
	// id order; missing ids are absent.
	AccountsByID(ctx context.Context, ids []int64) ([]ledger.Account, error)
	// ReservationByAuthNumber and ReservationByReference are the Tx's
	// lookups outside a transaction. Errors: not_found.
	ReservationByAuthNumber(ctx context.Context, authNumber string) (Reservation, error)
	ReservationByReference(ctx context.Context, orgID, ref string) (Reservation, error)
	// ReservationListDue returns up to limit active reservations whose
	// expiry is at or before now and after the cursor, in (ExpiresAt, ID)
	// order.
	ReservationListDue(ctx context.Context, now time.Time, after DueCursor, limit int) ([]Reservation, error)
	// ReservationEventList returns a reservation's history, oldest first.
	ReservationEventList(ctx context.Context, reservationID string) ([]ReservationEvent, error)

	// SessionByID reads a session. Errors: not_found.
	SessionByID(ctx context.Context, id string) (Session, error)
	// CustomerListUninvoiced returns up to f.Limit postpaid customers
	// with ids after f.AfterID, in id order, created before
	// f.CreatedBefore, that have no invoice for f.Period: one batch of
	// the month-end close.
	CustomerListUninvoiced(ctx context.Context, f UninvoicedFilter) ([]Customer, error)
	// The ledger's reads a statement is made of (ledger.Store's).
	TransferList(ctx context.Context, q ledger.TransferQuery) ([]ledger.Transfer, error)
	BalanceAt(ctx context.Context, accountID int64, at time.Time) (ledger.Balance, error)
}
