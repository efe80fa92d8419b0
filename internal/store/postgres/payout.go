package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
)

const (
	bankAccountCols = "email, bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder_name, invalid, updated_at, registered_by"
	payoutBatchCols = "id, currency, transfer_date, state, total, count, created_by, created_at, settled_at"
	payoutItemCols  = "id, batch_id, seq, account, amount, transfer_id, state, reason, updated_at"
)

func scanBankAccount(r pgx.Row) (escrow.BankAccount, error) {
	var b escrow.BankAccount
	var typ string
	err := r.Scan(&b.Email, &b.BankCode, &b.BankName, &b.BranchCode, &b.BranchName, &typ, &b.AccountNumber, &b.HolderName, &b.Invalid, &b.UpdatedAt, &b.RegisteredBy)
	b.AccountType, b.UpdatedAt = escrow.AccountType(typ), b.UpdatedAt.UTC()
	return b, err
}

func scanPayoutBatch(r pgx.Row) (escrow.PayoutBatch, error) {
	var b escrow.PayoutBatch
	var state string
	var settled pgtype.Timestamptz
	err := r.Scan(&b.ID, &b.Currency, &b.TransferDate, &state, &b.Total, &b.Count, &b.CreatedBy, &b.CreatedAt, &settled)
	b.State, b.TransferDate, b.CreatedAt, b.SettledAt = escrow.PayoutState(state), b.TransferDate.UTC(), b.CreatedAt.UTC(), timePtrOf(settled)
	return b, err
}

func scanPayoutItem(r pgx.Row) (escrow.PayoutItem, error) {
	var it escrow.PayoutItem
	var account []byte
	var state string
	if err := r.Scan(&it.ID, &it.BatchID, &it.Seq, &account, &it.Amount, &it.TransferID, &state, &it.Reason, &it.UpdatedAt); err != nil {
		return it, err
	}
	it.State, it.UpdatedAt = escrow.PayoutState(state), it.UpdatedAt.UTC()
	return it, json.Unmarshal(account, &it.Account)
}

// PartyStats implements escrow.Tx.
func (t *txn) PartyStats(ctx context.Context, email string, since time.Time) (escrow.PartyStats, error) {
	var st escrow.PartyStats
	var first pgtype.Timestamptz
	err := t.queryRow(ctx, `SELECT
		(SELECT count(*) FROM escrow_deals WHERE (seller_email = $1 OR buyer_email = $1) AND created_at >= $2),
		(SELECT min(created_at) FROM escrow_deals WHERE seller_email = $1 OR buyer_email = $1),
		(SELECT count(*) FROM escrow_bank_accounts o, escrow_bank_accounts b
			WHERE b.email = $1 AND o.fingerprint = b.fingerprint AND o.email <> b.email)`,
		[]any{email, since}, &st.DealsSince, &first, &st.SharedSeller)
	if err != nil {
		return st, fmt.Errorf("postgres: party stats: %w", err)
	}
	st.FirstDealAt = fromNullTime(first)
	return st, nil
}

// OrgHasParty implements escrow.Tx.
func (t *txn) OrgHasParty(ctx context.Context, orgID, email string) (bool, error) {
	var ok bool
	if err := t.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM escrow_deals WHERE seller_email = $1 AND org_id = $2) "+
		"OR EXISTS (SELECT 1 FROM escrow_deals WHERE buyer_email = $1 AND org_id = $2)", []any{email, orgID}, &ok); err != nil {
		return false, fmt.Errorf("postgres: org has party: %w", err)
	}
	return ok, nil
}

// OtherOrgHasParty implements escrow.Tx.
func (t *txn) OtherOrgHasParty(ctx context.Context, orgID, email string) (bool, error) {
	var ok bool
	if err := t.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM escrow_deals WHERE seller_email = $1 AND org_id <> $2 AND released > 0) "+
		"OR EXISTS (SELECT 1 FROM escrow_deals WHERE buyer_email = $1 AND org_id <> $2 AND refunded > 0)", []any{email, orgID}, &ok); err != nil {
		return false, fmt.Errorf("postgres: other org has party: %w", err)
	}
	return ok, nil
}

// BankAccountUpsert implements escrow.Tx.
func (t *txn) BankAccountUpsert(_ context.Context, b escrow.BankAccount) error {
	t.queue("INSERT INTO escrow_bank_accounts ("+bankAccountCols+", fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "+
		"ON CONFLICT (email) DO UPDATE SET bank_code = excluded.bank_code, bank_name = excluded.bank_name, branch_code = excluded.branch_code, "+
		"branch_name = excluded.branch_name, account_type = excluded.account_type, account_number = excluded.account_number, "+
		"holder_name = excluded.holder_name, invalid = excluded.invalid, updated_at = excluded.updated_at, fingerprint = excluded.fingerprint, "+
		"registered_by = excluded.registered_by",
		b.Email, b.BankCode, b.BankName, b.BranchCode, b.BranchName, string(b.AccountType), b.AccountNumber, b.HolderName, b.Invalid,
		b.UpdatedAt, b.RegisteredBy, b.Fingerprint())
	return nil
}

// BankAccountForUpdate implements escrow.Tx: the row stays locked until the
// transaction ends. Errors: not_found.
func (t *txn) BankAccountForUpdate(ctx context.Context, email string) (escrow.BankAccount, error) {
	var b escrow.BankAccount
	found := false
	err := t.query(ctx, "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE email = $1 FOR UPDATE", []any{email}, func(rows pgx.Rows) error {
		var err error
		b, err = scanBankAccount(rows)
		found = true
		return err
	})
	if err != nil {
		return b, fmt.Errorf("postgres: bank account for update: %w", err)
	}
	if !found {
		return b, apperr.NotFound("bank account")
	}
	return b, nil
}

// BankAccountInvalidate implements escrow.Tx.
func (t *txn) BankAccountInvalidate(_ context.Context, email, fingerprint string, at time.Time) error {
	t.queue("UPDATE escrow_bank_accounts SET invalid = true, updated_at = $1 WHERE email = $2 AND fingerprint = $3", at, email, fingerprint)
	return nil
}

// BankAccountsForPayout implements escrow.Tx: the accounts are locked, so
// two batches built at once do not pay one payee twice.
func (t *txn) BankAccountsForPayout(ctx context.Context, after *escrow.BankAccount, limit int) ([]escrow.BankAccount, error) {
	var out []escrow.BankAccount
	q, args := "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE NOT invalid", []any{limit}
	if after != nil {
		q += " AND (updated_at, email) > ($2, $3)"
		args = append(args, after.UpdatedAt, after.Email)
	}
	err := t.query(ctx, q+" ORDER BY updated_at, email LIMIT $1 FOR UPDATE",
		args, func(rows pgx.Rows) error {
			b, err := scanBankAccount(rows)
			out = append(out, b)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("postgres: bank accounts for payout: %w", err)
	}
	return out, nil
}

// BankAccountByEmail implements escrow.Store. Errors: not_found.
func (db *DB) BankAccountByEmail(ctx context.Context, email string) (escrow.BankAccount, error) {
	b, err := scanBankAccount(db.pool.QueryRow(ctx, "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE email = $1", email))
	if err != nil {
		return b, notFound(err, "bank account")
	}
	return b, nil
}

// AccountByReference implements escrow.Store. Errors: not_found.
func (db *DB) AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error) {
	a, err := scanAccount(db.pool.QueryRow(ctx, "SELECT "+selectList("", accountCols)+" FROM accounts WHERE owner = $1 AND reference = $2", owner, reference))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// PayoutBatchInsert implements escrow.Tx.
func (t *txn) PayoutBatchInsert(_ context.Context, b escrow.PayoutBatch) error {
	t.queue("INSERT INTO escrow_payout_batches ("+payoutBatchCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		b.ID, b.Currency, b.TransferDate, string(b.State), b.Total, b.Count, b.CreatedBy, b.CreatedAt, timePtrArg(b.SettledAt))
	for _, it := range b.Items {
		account, err := json.Marshal(it.Account)
		if err != nil {
			return err
		}
		t.queue("INSERT INTO escrow_payout_items ("+payoutItemCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			it.ID, it.BatchID, it.Seq, string(account), it.Amount, it.TransferID, string(it.State), it.Reason, it.UpdatedAt)
	}
	return nil
}

// PayoutBatchForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) PayoutBatchForUpdate(ctx context.Context, id string) (escrow.PayoutBatch, error) {
	b, err := readRow(ctx, t, "payout batch", "SELECT "+payoutBatchCols+" FROM escrow_payout_batches WHERE id = $1 FOR UPDATE", []any{id}, scanPayoutBatch)
	if err != nil {
		return b, err
	}
	err = t.query(ctx, "SELECT "+payoutItemCols+" FROM escrow_payout_items WHERE batch_id = $1 ORDER BY seq", []any{id}, func(rows pgx.Rows) error {
		it, err := scanPayoutItem(rows)
		b.Items = append(b.Items, it)
		return err
	})
	return b, err
}

// PayoutBatchByID implements escrow.Store. Errors: not_found.
func (db *DB) PayoutBatchByID(ctx context.Context, id string) (escrow.PayoutBatch, error) {
	b, err := scanPayoutBatch(db.pool.QueryRow(ctx, "SELECT "+payoutBatchCols+" FROM escrow_payout_batches WHERE id = $1", id))
	if err != nil {
		return b, notFound(err, "payout batch")
	}
	rows, err := db.pool.Query(ctx, "SELECT "+payoutItemCols+" FROM escrow_payout_items WHERE batch_id = $1 ORDER BY seq", id)
	if err != nil {
		return b, fmt.Errorf("postgres: payout items: %w", err)
	}
	b.Items, err = collect(rows, scanPayoutItem)
	return b, err
}

// PayoutBatchList implements escrow.Store.
func (db *DB) PayoutBatchList(ctx context.Context, afterID string, limit int) ([]escrow.PayoutBatch, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+payoutBatchCols+" FROM escrow_payout_batches WHERE ($1 = '' OR id < $1) ORDER BY id DESC LIMIT $2", afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list payout batches: %w", err)
	}
	return collect(rows, scanPayoutBatch)
}

// PayoutBatchUpdate implements escrow.Tx.
func (t *txn) PayoutBatchUpdate(_ context.Context, b escrow.PayoutBatch) error {
	t.queue("UPDATE escrow_payout_batches SET state = $1, total = $2, settled_at = $3 WHERE id = $4", string(b.State), b.Total, timePtrArg(b.SettledAt), b.ID)
	return nil
}

// PayoutItemUpdate implements escrow.Tx.
func (t *txn) PayoutItemUpdate(_ context.Context, it escrow.PayoutItem) error {
	t.queue("UPDATE escrow_payout_items SET state = $1, reason = $2, updated_at = $3 WHERE id = $4", string(it.State), it.Reason, it.UpdatedAt, it.ID)
	return nil
}
