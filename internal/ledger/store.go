package ledger

import (
	"context"
	"time"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/money"
)

// RefKey identifies a transfer or account by its owner's reference.
type RefKey struct {
	Owner     string
	Reference string
}

// Store is what the ledger needs of a database. Adapters in internal/store
// implement it; store/storetest checks that they all behave alike.
//
// Lookups of a single row return an error with apperr code not_found when the
// row does not exist.
type Store interface {
	// Transact runs fn in one write transaction and commits it. It retries fn,
	// a bounded number of times, when the database reports a conflict that a
	// retry can resolve (serialization failure, deadlock, a concurrent insert of
	// the same reference); fn must therefore rebuild all its state on each call.
	Transact(ctx context.Context, fn func(Tx) error) error

	// IDBlockReserve reserves n consecutive ids for the named sequence and
	// returns the first. Blocks never overlap, across processes and nodes.
	IDBlockReserve(ctx context.Context, sequence string, n int64) (int64, error)

	AssetUpsert(ctx context.Context, a money.Asset) error
	AssetList(ctx context.Context) ([]money.Asset, error)

	AccountByID(ctx context.Context, id int64) (Account, error)
	AccountList(ctx context.Context, f AccountFilter) ([]Account, error)
	TransferByID(ctx context.Context, id int64) (Transfer, error)
	TransferListByAccount(ctx context.Context, f TransferFilter) ([]Transfer, error)
	TransferList(ctx context.Context, q TransferQuery) ([]Transfer, error)
	HoldByID(ctx context.Context, transferID int64) (Hold, error)

	// BalanceAt recomputes an account's balance at an instant from its
	// transfers: a pending transfer counts as pending at `at` when it was
	// created at or before `at`, was not resolved by then and had not timed out.
	BalanceAt(ctx context.Context, accountID int64, at time.Time) (Balance, error)

	// HoldListDue returns up to limit pending holds whose timeout is at or
	// before now and after the cursor, in (TimeoutAt, TransferID) order.
	HoldListDue(ctx context.Context, now time.Time, after HoldCursor, limit int) ([]HoldCursor, error)

	// VerifyScan streams every account with the totals recomputed from its
	// transfers, for Verify.
	VerifyScan(ctx context.Context, fn func(AccountSums) error) error
	// VerifyTransferChecks returns counts of transfers that break structural
	// rules (see TransferChecks).
	VerifyTransferChecks(ctx context.Context) (TransferChecks, error)

	Ping(ctx context.Context) error
	Close() error
}

// Tx is one write transaction of the ledger. Methods that read "for update"
// lock the rows they return until the transaction ends, so that concurrent
// engines, in this process or another node, serialise on the accounts and
// holds they share. Callers lock holds before accounts, each in ascending id
// order, which keeps every writer's lock order the same.
type Tx interface {
	AccountsByReference(ctx context.Context, keys []RefKey) ([]Account, error)
	AccountsInsert(ctx context.Context, accounts []Account) error
	// AccountsForUpdate locks and reads the accounts with the given ids and
	// then, with those locks held, reads the transfers with the given
	// references. The order is the contract: a reference looked up only after
	// the locks sees a transfer another writer committed while this one
	// waited, so the request is answered as a replay rather than evaluated
	// again. One call lets an adapter send both in one round trip.
	AccountsForUpdate(ctx context.Context, ids []int64, refs []RefKey) ([]Account, []Transfer, error)
	AccountsUpdateBalances(ctx context.Context, accounts []Account) error

	TransfersInsert(ctx context.Context, transfers []Transfer) error

	HoldsForUpdate(ctx context.Context, ids []int64) ([]Hold, error)
	HoldsInsert(ctx context.Context, holds []Hold) error
	HoldsUpdate(ctx context.Context, holds []Hold) error

	AssetByCode(ctx context.Context, code string) (money.Asset, error)

	// EventsInsert records events (the outbox) in this transaction; the store
	// assigns their ids.
	EventsInsert(ctx context.Context, events []event.Event) error

	// IdempotencyByKeys reads the Idempotency-Key records of keys, finished or
	// not; missing keys are absent. Called after the locks, like the
	// reference lookup of AccountsForUpdate, so it sees what another writer
	// committed while this one waited.
	IdempotencyByKeys(ctx context.Context, keys []idempotency.OrgKey) ([]idempotency.Record, error)
	// IdempotencyInsert records completed Idempotency-Key records. A key that
	// another transaction inserted first fails the transaction with a
	// conflict that Transact retries, as for a transfer's reference.
	IdempotencyInsert(ctx context.Context, recs []idempotency.Record) error
}

// AccountSums pairs an account as stored with the totals its transfers add up to.
type AccountSums struct {
	Account                Account
	DebitsPosted           int64
	CreditsPosted          int64
	DebitsPending          int64
	CreditsPending         int64
	AssetMismatchTransfers int64 // transfers touching the account in another asset
}

// TransferChecks counts transfers that break structural rules. All zero on a
// healthy ledger.
type TransferChecks struct {
	NonPositiveAmount   int64 // amount <= 0
	PostExceedsPending  int64 // a post larger than its pending transfer
	HoldWithoutTransfer int64 // a hold row with no pending transfer, or resolved without a resolving transfer
	PendingWithoutHold  int64 // a pending transfer with no hold row
	OrphanTransfers     int64 // a transfer whose account, or whose pending transfer's hold, does not exist
	// ResolutionMismatch: a post, void or expiry that does not match the
	// hold it resolves: its kind is not the hold's state, its accounts or
	// asset differ, or a void or expiry is not for the hold's amount.
	ResolutionMismatch int64
	// MalformedTransfers: an unknown kind, a pending transfer id on a kind
	// that resolves nothing (or none on one that does), or the same
	// account debited and credited.
	MalformedTransfers int64
}
