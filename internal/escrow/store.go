package escrow

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/notify"
)

// TimelineEntry is one thing that happened to a deal, in order. The
// timeline is what both parties and staff see as the deal's history.
type TimelineEntry struct {
	DealID    string
	Seq       int // 1, 2, … per deal
	At        time.Time
	ActorKind ActorKind
	ActorID   string
	Action    string // "created", "accepted", "funded", "timer.pay_by", …
	FromState State  // "" for created
	ToState   State
	Data      json.RawMessage // small JSON object with the action's details; may be nil
}

// Message is one post in a deal's dispute thread.
type Message struct {
	ID        string // "dm_…"
	DealID    string
	At        time.Time
	ActorKind ActorKind
	ActorID   string
	Party     string // "buyer", "seller" or "staff": how the thread labels it
	Body      string
}

// TimerKind names a deal's deadline.
type TimerKind string

const (
	TimerPayBy      TimerKind = "pay_by"     // awaiting_payment: cancel
	TimerShipBy     TimerKind = "ship_by"    // funded: refund the buyer
	TimerInspection TimerKind = "inspection" // received: release
)

// TimerKindJob names the durable job that fires a deal's timer.
const TimerKindJob = "escrow_timer"

// TimerArgs is the durable job that fires one deadline of one deal. It is
// inserted, scheduled at At, in the transaction that set the deadline;
// firing is idempotent (FireTimer checks the deal's state and DueAt), so a
// job run twice, late, or after the deal moved on changes nothing.
type TimerArgs struct {
	DealID string    `json:"deal_id"`
	Timer  TimerKind `json:"timer"`
	At     time.Time `json:"at"`
}

// Kind implements River's JobArgs.
func (TimerArgs) Kind() string { return TimerKindJob }

// DealFilter selects one page of deals, newest first by id. Zero fields do
// not filter, except that one of OrgID and Email is set by the service from
// the actor (staff may leave both empty).
type DealFilter struct {
	OrgID string
	Email string // deals where this address is buyer or seller
	State State
	// ReviewHold lists only deals held for fraud review, and not closed.
	ReviewHold bool
	AfterID    string // cursor: ids sort by creation
	Limit      int
}

// EventEncoder renders a deal as its event's data: the deal as the API shows
// it. The API provides it.
type EventEncoder interface {
	DealEventData(Deal) []byte
}

// Tx is one escrow write transaction: the ledger's, plus escrow's own rows
// and the jobs and mail that go with them.
type Tx interface {
	ledger.Tx
	audit.Tx

	DealInsert(ctx context.Context, d Deal) error
	// DealForUpdate reads a deal and locks it until the transaction ends.
	// Errors: not_found.
	DealForUpdate(ctx context.Context, id string) (Deal, error)
	// DealByPaymentRefForUpdate is DealForUpdate by payment reference.
	DealByPaymentRefForUpdate(ctx context.Context, ref string) (Deal, error)
	// DealByExternalRef finds a site's deal by its own id. Errors: not_found.
	DealByExternalRef(ctx context.Context, orgID, ref string) (Deal, error)
	// DealUpdate writes d if its stored Version is d.Version-1.
	// Errors: conflict when it is not.
	DealUpdate(ctx context.Context, d Deal) error
	TimelineInsert(ctx context.Context, entries []TimelineEntry) error
	// PartyStats reads what the fraud rules need of the party with email:
	// their deals created at or after since, their first deal's time, and
	// how many other sellers share their payout bank account.
	PartyStats(ctx context.Context, email string, since time.Time) (PartyStats, error)
	MessageInsert(ctx context.Context, m Message) error
	MessageCount(ctx context.Context, dealID string) (int, error)

	DepositInsert(ctx context.Context, d Deposit) (inserted bool, err error)
	// DepositsAlike returns up to DepositsAlikeMax deposits of d's
	// currency, amount and value date other than d itself.
	DepositsAlike(ctx context.Context, d Deposit) ([]Deposit, error)
	DepositForUpdate(ctx context.Context, id string) (Deposit, error)
	DepositUpdate(ctx context.Context, d Deposit) error

	// OrgHasParty reports whether the organization has a deal whose
	// seller or buyer is email.
	OrgHasParty(ctx context.Context, orgID, email string) (bool, error)
	// OtherOrgHasParty reports whether a deal of an organization other
	// than orgID has paid email anything: released to them as seller, or
	// refunded to them as buyer (a deal that paid nothing, such as one
	// merely registered, does not count, or any site could freeze any
	// payee's payouts).
	OtherOrgHasParty(ctx context.Context, orgID, email string) (bool, error)
	BankAccountUpsert(ctx context.Context, b BankAccount) error
	// BankAccountForUpdate reads email's account, locked until the
	// transaction ends. Errors: not_found.
	BankAccountForUpdate(ctx context.Context, email string) (BankAccount, error)
	// BankAccountInvalidate marks email's account invalid if it is still
	// the one with fingerprint (the payee may have replaced it meanwhile).
	BankAccountInvalidate(ctx context.Context, email, fingerprint string, at time.Time) error
	// BankAccountsForPayout returns up to limit valid accounts, oldest
	// update first (then by email), after the account after (nil: from the
	// first). PostgreSQL locks them until the transaction ends.
	BankAccountsForPayout(ctx context.Context, after *BankAccount, limit int) ([]BankAccount, error)
	PayoutBatchInsert(ctx context.Context, b PayoutBatch) error
	// PayoutBatchForUpdate reads a batch with its items, locked.
	PayoutBatchForUpdate(ctx context.Context, id string) (PayoutBatch, error)
	PayoutBatchUpdate(ctx context.Context, b PayoutBatch) error
	PayoutItemUpdate(ctx context.Context, it PayoutItem) error

	// TimersSchedule inserts timer jobs, each scheduled at its At.
	TimersSchedule(ctx context.Context, timers []TimerArgs) error
	// MailsEnqueue queues mail to send once the transaction commits.
	MailsEnqueue(ctx context.Context, mails []notify.Mail) error
}

// Store is what escrow needs of a database.
type Store interface {
	// EscrowTransact runs fn in one write transaction, retrying it a
	// bounded number of times on conflicts a retry resolves.
	EscrowTransact(ctx context.Context, fn func(Tx) error) error

	DealByID(ctx context.Context, id string) (Deal, error)
	DealList(ctx context.Context, f DealFilter) ([]Deal, error)
	// DealListDue returns up to limit deals whose DueAt is at or before now
	// and after the cursor, in (DueAt, ID) order.
	DealListDue(ctx context.Context, now time.Time, after DueCursor, limit int) ([]Deal, error)
	TimelineList(ctx context.Context, dealID string) ([]TimelineEntry, error)
	MessageList(ctx context.Context, dealID string) ([]Message, error)
	DepositList(ctx context.Context, f DepositFilter) ([]Deposit, error)
	BankAccountByEmail(ctx context.Context, email string) (BankAccount, error)
	PayoutBatchByID(ctx context.Context, id string) (PayoutBatch, error)
	PayoutBatchList(ctx context.Context, afterID string, limit int) ([]PayoutBatch, error)
	// AccountByReference reads a ledger account. Errors: not_found.
	AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error)
	// DepositByBankRef finds a recorded credit. Errors: not_found.
	DepositByBankRef(ctx context.Context, bankAccount, bankRef string) (Deposit, error)
}
