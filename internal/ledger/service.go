package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/money"
)

// AccountsCreateMax bounds one CreateAccounts call.
const AccountsCreateMax = 10000

// CreateAsset records an asset so accounts can be opened in it. Re-creating
// an asset with the same scale changes nothing; another scale is a conflict,
// since amounts already stored would change meaning.
//
// Errors: invalid, conflict.
func (e *Engine) CreateAsset(ctx context.Context, a money.Asset) error {
	if err := a.Validate(); err != nil {
		return apperr.Invalid("asset", "%s", err.Error())
	}
	return e.store.AssetUpsert(ctx, a)
}

// FindAssets lists every asset, by code.
func (e *Engine) FindAssets(ctx context.Context) ([]money.Asset, error) {
	return e.store.AssetList(ctx)
}

// CreateAccounts opens accounts in one transaction: all or none. A request
// whose (Owner, Reference) exists with the same fields returns the existing
// account; with other fields it fails with code conflict naming the field.
//
// Errors: invalid (the param names the request index and field), conflict.
func (e *Engine) CreateAccounts(ctx context.Context, reqs []AccountRequest) ([]Account, error) {
	out, _, err := e.createAccounts(ctx, reqs, nil)
	return out, err
}

// OpenedAccount is what CreateAccount returns: the account, and whether
// this call created it.
type OpenedAccount struct {
	Account Account
	Created bool
}

// CreateAccount opens one account like CreateAccounts and reports whether
// it was created now (false: an identical earlier request created it). It
// runs the idempotency.Keep its context carries, if any, in its
// transaction, with the OpenedAccount.
func (e *Engine) CreateAccount(ctx context.Context, req AccountRequest) (Account, bool, error) {
	keep := idempotency.KeepOf(ctx)
	out, created, err := e.createAccounts(ctx, []AccountRequest{req}, func(tx Tx, out []Account, created []bool) error {
		return idempotency.RunKeep(ctx, keep, tx, OpenedAccount{Account: out[0], Created: created[0]})
	})
	if err != nil {
		return Account{}, false, err
	}
	return out[0], created[0], nil
}

// createAccounts opens reqs in one transaction, running keep, if not nil,
// in it once they are open.
func (e *Engine) createAccounts(ctx context.Context, reqs []AccountRequest, keep func(tx Tx, out []Account, created []bool) error) ([]Account, []bool, error) {
	if len(reqs) > AccountsCreateMax {
		return nil, nil, apperr.Invalid("accounts", "at most %d accounts per call", AccountsCreateMax)
	}
	for i, r := range reqs {
		err := validateAccount(r)
		if err == nil && e.cfg.Managed != nil && e.cfg.Managed(r.Owner, r.Reference) {
			err = apperr.Invalid("reference", "references like %q are kept for the accounts a product (escrow, billing) opens itself", r.Reference)
		}
		if err != nil {
			err.Param = fmt.Sprintf("accounts[%d].%s", i, err.Param)
			return nil, nil, err
		}
	}
	ids, err := e.accountIDs.reserve(ctx, int64(len(reqs)))
	if err != nil {
		return nil, nil, err
	}
	var out []Account
	var created []bool
	err = e.store.Transact(ctx, func(tx Tx) error {
		ids.reset()
		var err error
		out, created, err = openAccounts(ctx, tx, &ids, e.Now(), reqs, e.cfg.Events)
		if err != nil || keep == nil {
			return err
		}
		return keep(tx, out, created)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, created, nil
}

// openAccounts opens reqs (validated) in tx with ids from ids, returning each
// account and whether this call created it.
func openAccounts(ctx context.Context, tx Tx, ids *idRange, now time.Time, reqs []AccountRequest, events EventEncoder) ([]Account, []bool, error) {
	out := make([]Account, len(reqs))
	created := make([]bool, len(reqs))
	keys := make([]RefKey, len(reqs))
	for i, r := range reqs {
		keys[i] = RefKey{r.Owner, r.Reference}
	}
	existing, err := tx.AccountsByReference(ctx, sortedUniqueKeys(append([]RefKey(nil), keys...)))
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: accounts by reference: %w", err)
	}
	byKey := make(map[RefKey]Account, len(existing))
	for _, a := range existing {
		byKey[RefKey{a.Owner, a.Reference}] = a
	}
	assets := map[string]bool{}
	var fresh []Account
	for i, r := range reqs {
		if a, ok := byKey[keys[i]]; ok {
			if field := accountDiff(r, a); field != "" {
				return nil, nil, &apperr.Error{Code: apperr.CodeConflict, Param: fmt.Sprintf("accounts[%d].%s", i, field),
					Message: fmt.Sprintf("account reference %q exists with a different %s", r.Reference, field)}
			}
			out[i] = a
			continue
		}
		if !assets[r.Asset] {
			if _, err := tx.AssetByCode(ctx, r.Asset); err != nil {
				if apperr.Is(err, apperr.CodeNotFound) {
					return nil, nil, apperr.Invalid(fmt.Sprintf("accounts[%d].asset", i), "asset %q is not configured", r.Asset)
				}
				return nil, nil, err
			}
			assets[r.Asset] = true
		}
		a := Account{
			ID: ids.next(), Owner: r.Owner, Reference: r.Reference, Asset: r.Asset, Code: r.Code,
			DebitsMustNotExceedCredits: r.DebitsMustNotExceedCredits,
			CreditsMustNotExceedDebits: r.CreditsMustNotExceedDebits,
			Limit:                      r.Limit,
			CreatedAt:                  now,
		}
		byKey[keys[i]] = a
		out[i] = a
		created[i] = true
		fresh = append(fresh, a)
	}
	if len(fresh) == 0 {
		return out, created, nil
	}
	if err := tx.AccountsInsert(ctx, fresh); err != nil {
		return nil, nil, err
	}
	if events == nil {
		return out, created, nil
	}
	evs := make([]event.Event, len(fresh))
	for i, a := range fresh {
		evs[i] = event.Event{OrgID: a.Owner, Type: event.TypeAccountCreated, Data: events.AccountEventData(a), CreatedAt: now}
	}
	if err := tx.EventsInsert(ctx, evs); err != nil {
		return nil, nil, fmt.Errorf("ledger: insert account events: %w", err)
	}
	return out, created, nil
}

func validateAccount(r AccountRequest) *apperr.Error {
	switch {
	case r.Owner == "":
		return apperr.Invalid("owner", "owner is required")
	case len(r.Owner) > OwnerLenMax:
		return apperr.Invalid("owner", "owner is longer than %d bytes", OwnerLenMax)
	case r.Reference == "":
		return apperr.Invalid("reference", "reference is required")
	case len(r.Reference) > ReferenceLenMax:
		return apperr.Invalid("reference", "reference is longer than %d bytes", ReferenceLenMax)
	case len(r.Code) > CodeLenMax:
		return apperr.Invalid("code", "code is longer than %d bytes", CodeLenMax)
	case !validText(r.Owner) || !validText(r.Reference) || !validText(r.Code):
		return apperr.Invalid("reference", "owner, reference and code must be UTF-8 text without NUL bytes")
	case money.ValidateCode(r.Asset) != nil:
		return apperr.Invalid("asset", "asset code %q is malformed", r.Asset)
	case r.DebitsMustNotExceedCredits && r.CreditsMustNotExceedDebits:
		return apperr.Invalid("flags", "debits_must_not_exceed_credits and credits_must_not_exceed_debits are mutually exclusive")
	case r.Limit < 0:
		return apperr.Invalid("limit", "limit must not be negative")
	case r.Limit > 0 && !r.DebitsMustNotExceedCredits && !r.CreditsMustNotExceedDebits:
		return apperr.Invalid("limit", "a limit needs a balance rule to apply to")
	}
	return nil
}

func accountDiff(r AccountRequest, a Account) string {
	switch {
	case r.Asset != a.Asset:
		return "asset"
	case r.Code != a.Code:
		return "code"
	case r.DebitsMustNotExceedCredits != a.DebitsMustNotExceedCredits:
		return "debits_must_not_exceed_credits"
	case r.CreditsMustNotExceedDebits != a.CreditsMustNotExceedDebits:
		return "credits_must_not_exceed_debits"
	case r.Limit != a.Limit:
		return "limit"
	}
	return ""
}

// FindAccountByID returns one account. Errors: not_found.
func (e *Engine) FindAccountByID(ctx context.Context, id int64) (Account, error) {
	return e.store.AccountByID(ctx, id)
}

// FindAccounts returns one page of an owner's accounts.
func (e *Engine) FindAccounts(ctx context.Context, f AccountFilter) ([]Account, error) {
	if err := checkPage(f.Limit); err != nil {
		return nil, err
	}
	return e.store.AccountList(ctx, f)
}

// FindTransferByID returns one transfer. Errors: not_found.
func (e *Engine) FindTransferByID(ctx context.Context, id int64) (Transfer, error) {
	return e.store.TransferByID(ctx, id)
}

// FindTransfersByAccount returns one page of the transfers that touch an
// account, in id order; pass the last id as AfterID for the next page.
func (e *Engine) FindTransfersByAccount(ctx context.Context, f TransferFilter) ([]Transfer, error) {
	if err := checkPage(f.Limit); err != nil {
		return nil, err
	}
	return e.store.TransferListByAccount(ctx, f)
}

// FindTransfers returns one page of an owner's transfers that match q.
// With an account it reads that account's history indexes; without one it
// walks all transfers by id and keeps the owner's, which is slow for an
// owner with few transfers among many (no per-owner index: see
// docs/benchmarks.md on why).
//
// Errors: invalid (limit, kind).
func (e *Engine) FindTransfers(ctx context.Context, q TransferQuery) ([]Transfer, error) {
	if err := checkPage(q.Limit); err != nil {
		return nil, err
	}
	switch q.Kind {
	case "", KindImmediate, KindPending, KindPost, KindVoid, KindExpire:
	default:
		return nil, apperr.Invalid("kind", "kind must be one of immediate, pending, post, void, expire")
	}
	return e.store.TransferList(ctx, q)
}

// BalanceAt returns an account's balance as it stood at `at`, recomputed
// from its transfers. Errors: not_found.
func (e *Engine) BalanceAt(ctx context.Context, accountID int64, at time.Time) (Balance, error) {
	return e.store.BalanceAt(ctx, accountID, at.UTC().Truncate(time.Microsecond))
}

func checkPage(limit int) error {
	if limit < 1 || limit > PageLimitMax {
		return apperr.Invalid("limit", "limit must be between 1 and %d", PageLimitMax)
	}
	return nil
}

// expireScanMax bounds the holds one sweep step reads and submits.
const expireScanMax = 1000

// ExpireDue voids every pending transfer whose timeout has passed, through the
// same batches as every other transfer, and returns how many it expired. Two
// engines may sweep at once: a hold can expire only once, and the loser's
// attempt is rejected harmlessly.
//
// It reads the due holds in pages of expireScanMax, each after the last one
// read, so a hold whose expiry is rejected is passed over, and the next call
// tries it again.
func (e *Engine) ExpireDue(ctx context.Context) (int, error) {
	now := e.Now()
	var after HoldCursor
	total := 0
	for {
		due, err := e.store.HoldListDue(ctx, now, after, expireScanMax)
		if err != nil {
			return total, fmt.Errorf("ledger: list due holds: %w", err)
		}
		if len(due) == 0 {
			return total, nil
		}
		after = due[len(due)-1]
		reqs := make([]TransferRequest, len(due))
		for i, h := range due {
			reqs[i] = TransferRequest{Kind: KindExpire, PendingID: h.TransferID}
		}
		expired := 0
		for start := 0; start < len(reqs); start += e.cfg.BatchMax {
			end := min(start+e.cfg.BatchMax, len(reqs))
			res, err := e.submit(ctx, reqs[start:end], true)
			if err != nil {
				return total, err
			}
			for _, r := range res {
				if r.Result == ResultOK {
					expired++
				}
			}
		}
		total += expired
		if len(due) < expireScanMax {
			return total, nil
		}
	}
}

// RunExpiry sweeps for due holds every interval until ctx ends.
func (e *Engine) RunExpiry(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.ExpireDue(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
