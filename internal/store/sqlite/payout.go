package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/ledger"
)

const bankAccountCols = "email, bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder_name, invalid, updated_at, registered_by"

func scanBankAccount(s scanner) (escrow.BankAccount, error) {
	var b escrow.BankAccount
	var typ string
	var updated int64
	err := s.Scan(&b.Email, &b.BankCode, &b.BankName, &b.BranchCode, &b.BranchName, &typ, &b.AccountNumber, &b.HolderName, &b.Invalid, &updated, &b.RegisteredBy)
	b.AccountType, b.UpdatedAt = escrow.AccountType(typ), fromMicros(updated)
	return b, err
}

// PartyStats implements escrow.Tx.
func (t *txn) PartyStats(ctx context.Context, email string, since time.Time) (escrow.PartyStats, error) {
	var st escrow.PartyStats
	var first sql.NullInt64
	err := t.tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM (SELECT id FROM escrow_deals WHERE seller_email = ?1 AND created_at >= ?2
			UNION SELECT id FROM escrow_deals WHERE buyer_email = ?1 AND created_at >= ?2)),
		(SELECT min(created_at) FROM (SELECT min(created_at) AS created_at FROM escrow_deals WHERE seller_email = ?1
			UNION ALL SELECT min(created_at) FROM escrow_deals WHERE buyer_email = ?1)),
		(SELECT count(*) FROM escrow_bank_accounts o, escrow_bank_accounts b
			WHERE b.email = ?1 AND o.fingerprint = b.fingerprint AND o.email <> b.email)`,
		email, micros(since)).Scan(&st.DealsSince, &first, &st.SharedSeller)
	if err != nil {
		return st, fmt.Errorf("sqlite: party stats: %w", err)
	}
	st.FirstDealAt = fromNullMicros(first)
	return st, nil
}

// OrgHasParty implements escrow.Tx.
func (t *txn) OrgHasParty(ctx context.Context, orgID, email string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM escrow_deals WHERE seller_email = ? AND org_id = ? "+
		"UNION ALL SELECT 1 FROM escrow_deals WHERE buyer_email = ? AND org_id = ? LIMIT 1)", email, orgID, email, orgID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: org has party: %w", err)
	}
	return n > 0, nil
}

// OtherOrgHasParty implements escrow.Tx.
func (t *txn) OtherOrgHasParty(ctx context.Context, orgID, email string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM escrow_deals WHERE seller_email = ? AND org_id <> ? AND released > 0 "+
		"UNION ALL SELECT 1 FROM escrow_deals WHERE buyer_email = ? AND org_id <> ? AND refunded > 0 LIMIT 1)", email, orgID, email, orgID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: other org has party: %w", err)
	}
	return n > 0, nil
}

// BankAccountUpsert implements escrow.Tx.
func (t *txn) BankAccountUpsert(ctx context.Context, b escrow.BankAccount) error {
	_, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_bank_accounts ("+bankAccountCols+", fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (email) DO UPDATE SET bank_code = excluded.bank_code, bank_name = excluded.bank_name, branch_code = excluded.branch_code, "+
		"branch_name = excluded.branch_name, account_type = excluded.account_type, account_number = excluded.account_number, "+
		"holder_name = excluded.holder_name, invalid = excluded.invalid, updated_at = excluded.updated_at, fingerprint = excluded.fingerprint, "+
		"registered_by = excluded.registered_by",
		b.Email, b.BankCode, b.BankName, b.BranchCode, b.BranchName, string(b.AccountType), b.AccountNumber, b.HolderName, b.Invalid,
		micros(b.UpdatedAt), b.RegisteredBy, b.Fingerprint())
	if err != nil {
		return fmt.Errorf("sqlite: upsert bank account: %w", err)
	}
	return nil
}

// BankAccountForUpdate implements escrow.Tx (the write transaction holds
// the file's lock). Errors: not_found.
func (t *txn) BankAccountForUpdate(ctx context.Context, email string) (escrow.BankAccount, error) {
	b, err := scanBankAccount(t.tx.QueryRowContext(ctx, "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE email = ?", email))
	if err != nil {
		return b, notFound(err, "bank account")
	}
	return b, nil
}

// BankAccountInvalidate implements escrow.Tx.
func (t *txn) BankAccountInvalidate(ctx context.Context, email, fingerprint string, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, "UPDATE escrow_bank_accounts SET invalid = 1, updated_at = ? WHERE email = ? AND fingerprint = ?",
		micros(at), email, fingerprint); err != nil {
		return fmt.Errorf("sqlite: invalidate bank account: %w", err)
	}
	return nil
}

// BankAccountsForPayout implements escrow.Tx.
func (t *txn) BankAccountsForPayout(ctx context.Context, after *escrow.BankAccount, limit int) ([]escrow.BankAccount, error) {
	q, args := "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE invalid = 0", []any{}
	if after != nil {
		q += " AND (updated_at, email) > (?, ?)"
		args = append(args, micros(after.UpdatedAt), after.Email)
	}
	rows, err := t.tx.QueryContext(ctx, q+" ORDER BY updated_at, email LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: bank accounts for payout: %w", err)
	}
	return collect(rows, scanBankAccount, "sqlite: scan bank account")
}

// BankAccountByEmail implements escrow.Store. Errors: not_found.
func (db *DB) BankAccountByEmail(ctx context.Context, email string) (escrow.BankAccount, error) {
	b, err := scanBankAccount(db.read.QueryRowContext(ctx, "SELECT "+bankAccountCols+" FROM escrow_bank_accounts WHERE email = ?", email))
	if err != nil {
		return b, notFound(err, "bank account")
	}
	return b, nil
}

// AccountByReference implements escrow.Store. Errors: not_found.
func (db *DB) AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error) {
	a, err := scanAccount(db.read.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE owner = ? AND reference = ?", owner, reference))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

const payoutBatchCols = "id, currency, transfer_date, state, total, count, created_by, created_at, settled_at"
const payoutItemCols = "id, batch_id, seq, account, amount, transfer_id, state, reason, updated_at"

func scanPayoutBatch(s scanner) (escrow.PayoutBatch, error) {
	var b escrow.PayoutBatch
	var state string
	var date, created int64
	var settled sql.NullInt64
	err := s.Scan(&b.ID, &b.Currency, &date, &state, &b.Total, &b.Count, &b.CreatedBy, &created, &settled)
	b.State, b.TransferDate, b.CreatedAt, b.SettledAt = escrow.PayoutState(state), fromMicros(date), fromMicros(created), timePtr(settled)
	return b, err
}

func scanPayoutItem(s scanner) (escrow.PayoutItem, error) {
	var it escrow.PayoutItem
	var account, state string
	var updated int64
	if err := s.Scan(&it.ID, &it.BatchID, &it.Seq, &account, &it.Amount, &it.TransferID, &state, &it.Reason, &updated); err != nil {
		return it, err
	}
	it.State, it.UpdatedAt = escrow.PayoutState(state), fromMicros(updated)
	return it, json.Unmarshal([]byte(account), &it.Account)
}

// PayoutBatchInsert implements escrow.Tx.
func (t *txn) PayoutBatchInsert(ctx context.Context, b escrow.PayoutBatch) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_payout_batches ("+payoutBatchCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		b.ID, b.Currency, micros(b.TransferDate), string(b.State), b.Total, b.Count, b.CreatedBy, micros(b.CreatedAt), nullTime(b.SettledAt)); err != nil {
		return fmt.Errorf("sqlite: insert payout batch: %w", err)
	}
	for _, it := range b.Items {
		account, err := json.Marshal(it.Account)
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_payout_items ("+payoutItemCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			it.ID, it.BatchID, it.Seq, string(account), it.Amount, it.TransferID, string(it.State), it.Reason, micros(it.UpdatedAt)); err != nil {
			return fmt.Errorf("sqlite: insert payout item: %w", err)
		}
	}
	return nil
}

func payoutBatchWithItems(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, id string) (escrow.PayoutBatch, error) {
	b, err := scanPayoutBatch(q.QueryRowContext(ctx, "SELECT "+payoutBatchCols+" FROM escrow_payout_batches WHERE id = ?", id))
	if err != nil {
		return b, notFound(err, "payout batch")
	}
	rows, err := q.QueryContext(ctx, "SELECT "+payoutItemCols+" FROM escrow_payout_items WHERE batch_id = ? ORDER BY seq", id)
	if err != nil {
		return b, fmt.Errorf("sqlite: payout items: %w", err)
	}
	b.Items, err = collect(rows, scanPayoutItem, "sqlite: scan payout item")
	return b, err
}

// PayoutBatchForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) PayoutBatchForUpdate(ctx context.Context, id string) (escrow.PayoutBatch, error) {
	return payoutBatchWithItems(ctx, t.tx, id)
}

// PayoutBatchByID implements escrow.Store. Errors: not_found.
func (db *DB) PayoutBatchByID(ctx context.Context, id string) (escrow.PayoutBatch, error) {
	return payoutBatchWithItems(ctx, db.read, id)
}

// PayoutBatchList implements escrow.Store.
func (db *DB) PayoutBatchList(ctx context.Context, afterID string, limit int) ([]escrow.PayoutBatch, error) {
	q, args := "SELECT "+payoutBatchCols+" FROM escrow_payout_batches", []any{}
	if afterID != "" {
		q, args = q+" WHERE id < ?", append(args, afterID)
	}
	rows, err := db.read.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list payout batches: %w", err)
	}
	return collect(rows, scanPayoutBatch, "sqlite: scan payout batch")
}

// PayoutBatchUpdate implements escrow.Tx.
func (t *txn) PayoutBatchUpdate(ctx context.Context, b escrow.PayoutBatch) error {
	if _, err := t.tx.ExecContext(ctx, "UPDATE escrow_payout_batches SET state = ?, total = ?, settled_at = ? WHERE id = ?",
		string(b.State), b.Total, nullTime(b.SettledAt), b.ID); err != nil {
		return fmt.Errorf("sqlite: update payout batch: %w", err)
	}
	return nil
}

// PayoutItemUpdate implements escrow.Tx.
func (t *txn) PayoutItemUpdate(ctx context.Context, it escrow.PayoutItem) error {
	if _, err := t.tx.ExecContext(ctx, "UPDATE escrow_payout_items SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
		string(it.State), it.Reason, micros(it.UpdatedAt), it.ID); err != nil {
		return fmt.Errorf("sqlite: update payout item: %w", err)
	}
	return nil
}
