package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of one Writer.
const (
	WriterAccountsMax  = 64
	WriterTransfersMax = 256
)

// CodeTransferRejected is the apperr code of Rejection: a transfer a product
// asked for was refused by the ledger; the error's message names the result.
const CodeTransferRejected = "transfer_rejected"

// Writer moves money inside a transaction that a product owns, so that the
// product's own rows (a deal's state, a reservation) and the ledger's
// accounts and transfers commit together or not at all (DESIGN.md §2). It
// applies transfers with the same code as the engine's batches, balance
// checks and events included; it only skips the group commit, which suits
// products whose writes are few and carry state of their own.
//
// A Writer holds ids reserved ahead, because reserving may itself write
// (SQLite has one writer connection): make it before opening the
// transaction, call Begin at the top of every attempt of the transaction
// (Transact retries), and use it for one transaction only.
type Writer struct {
	e         *Engine
	accounts  idRange
	transfers idRange
}

// NewWriter reserves ids for up to accounts new accounts and transfers new
// transfers in one transaction.
//
// Errors: invalid (a bound above WriterAccountsMax or WriterTransfersMax).
func (e *Engine) NewWriter(ctx context.Context, accounts, transfers int) (*Writer, error) {
	if accounts < 0 || accounts > WriterAccountsMax || transfers < 0 || transfers > WriterTransfersMax {
		return nil, apperr.Invalid("writer", "a writer takes at most %d accounts and %d transfers", WriterAccountsMax, WriterTransfersMax)
	}
	w := &Writer{e: e}
	var err error
	if accounts > 0 {
		if w.accounts, err = e.accountIDs.reserve(ctx, int64(accounts)); err != nil {
			return nil, err
		}
	}
	if transfers > 0 {
		if w.transfers, err = e.ids.reserve(ctx, int64(transfers)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Begin readies w for one attempt of its transaction: ids handed out by an
// attempt that rolled back are handed out again.
func (w *Writer) Begin() {
	w.accounts.reset()
	w.transfers.reset()
}

// OpenAccounts opens accounts in tx as CreateAccounts does: an account whose
// (Owner, Reference) exists with the same fields is returned as it is.
//
// Errors: invalid, conflict, and the store's.
func (w *Writer) OpenAccounts(ctx context.Context, tx Tx, now time.Time, reqs []AccountRequest) ([]Account, error) {
	for i, r := range reqs {
		if err := validateAccount(r); err != nil {
			err.Param = fmt.Sprintf("accounts[%d].%s", i, err.Param)
			return nil, err
		}
	}
	if int64(len(reqs)) > w.accounts.end-w.accounts.cur {
		return nil, fmt.Errorf("ledger: writer: %d accounts asked for, %d reserved", len(reqs), w.accounts.end-w.accounts.cur)
	}
	out, _, err := openAccounts(ctx, tx, &w.accounts, now.UTC().Truncate(time.Microsecond), reqs, w.e.cfg.Events)
	return out, err
}

// Transfer applies reqs in tx, in order, with the engine's rules, and returns
// one result per request. A rejected request writes nothing of its own; the
// caller decides whether the transaction goes on (Rejection turns the first
// rejection into an error that rolls it back).
//
// Errors: the store's only; rejections are results.
func (w *Writer) Transfer(ctx context.Context, tx Tx, now time.Time, reqs []TransferRequest) ([]TransferResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if int64(len(reqs)) > w.transfers.end-w.transfers.cur {
		return nil, fmt.Errorf("ledger: writer: %d transfers asked for, %d reserved", len(reqs), w.transfers.end-w.transfers.cur)
	}
	// applyBatch hands ids out from the start of the range it is given, so
	// give it the unused rest and advance past what it used.
	rest := idRange{first: w.transfers.cur, cur: w.transfers.cur, end: w.transfers.end}
	s := &submission{reqs: append([]TransferRequest(nil), reqs...)}
	if err := applyBatch(ctx, tx, now.UTC().Truncate(time.Microsecond), &rest, []*submission{s}, w.e.cfg.Events); err != nil {
		return nil, err
	}
	w.transfers.cur = rest.cur
	return s.results, nil
}

// Rejection returns nil when every result is ResultOK (or a replay of one),
// else an error with code CodeTransferRejected naming the first rejected
// request and its result, for a product to return from its transaction.
func Rejection(results []TransferResult) error {
	for i, r := range results {
		if r.Result != ResultOK {
			return &apperr.Error{Code: CodeTransferRejected, Param: fmt.Sprintf("transfers[%d]", i),
				Message: fmt.Sprintf("the ledger refused transfer %d: %s", i, r.Result)}
		}
	}
	return nil
}
