package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store"
)

var _ ledger.Store = (*DB)(nil)

const (
	accountCols  = "id, owner, reference, asset, code, flags, limit_amount, debits_posted, credits_posted, debits_pending, credits_pending, created_at"
	transferCols = "id, owner, reference, kind, debit_account_id, credit_account_id, amount, asset, code, pending_id, timeout_at, metadata, created_at"
	holdCols     = "transfer_id, owner, debit_account_id, credit_account_id, amount, asset, code, timeout_at, state, resolved_at"
)

// insertChunk is the rows of one multi-row transfer INSERT (13 columns each
// stays far below SQLite's bound of 32766 variables); a batch inserts full
// chunks with it and the remainder row by row.
const insertChunk = 64

// statements are prepared once on the write connection, before any
// transaction begins (the pool has one connection, so preparing inside a
// transaction would wait for itself), and bound to each transaction with
// tx.StmtContext so no batch parses SQL again.
type statements struct {
	accountByRef, accountInsert, accountByID, accountUpdate *sql.Stmt
	transferByRef, transferInsert, transferInsertChunk      *sql.Stmt
	holdByID, holdInsert, holdUpdate                        *sql.Stmt
}

func (db *DB) prepare(ctx context.Context) (*statements, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if db.stmts != nil {
		return db.stmts, nil
	}
	st := &statements{}
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&st.accountByRef, "SELECT " + accountCols + " FROM accounts WHERE owner = ? AND reference = ?"},
		{&st.accountInsert, "INSERT INTO accounts (" + accountCols + ") VALUES " + placeholders(1, 12)},
		{&st.accountByID, "SELECT " + accountCols + " FROM accounts WHERE id = ?"},
		{&st.accountUpdate, "UPDATE accounts SET debits_posted = ?, credits_posted = ?, debits_pending = ?, credits_pending = ? WHERE id = ?"},
		{&st.transferByRef, "SELECT " + transferCols + " FROM transfers WHERE owner = ? AND reference = ?"},
		{&st.transferInsert, "INSERT INTO transfers (" + transferCols + ") VALUES " + placeholders(1, 13)},
		{&st.transferInsertChunk, "INSERT INTO transfers (" + transferCols + ") VALUES " + placeholders(insertChunk, 13)},
		{&st.holdByID, "SELECT " + holdCols + " FROM holds WHERE transfer_id = ?"},
		{&st.holdInsert, "INSERT INTO holds (" + holdCols + ") VALUES " + placeholders(1, 10)},
		{&st.holdUpdate, "UPDATE holds SET state = ?, resolved_at = ? WHERE transfer_id = ?"},
	} {
		s, err := db.write.PrepareContext(ctx, p.query)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("sqlite: prepare (has the store been migrated?): %w", err)
		}
		*p.dst = s
	}
	db.stmts = st
	return st, nil
}

func (st *statements) close() {
	for _, s := range []*sql.Stmt{st.accountByRef, st.accountInsert, st.accountByID, st.accountUpdate,
		st.transferByRef, st.transferInsert, st.transferInsertChunk, st.holdByID, st.holdInsert, st.holdUpdate} {
		if s != nil {
			s.Close()
		}
	}
}

// Transact implements ledger.Store.
func (db *DB) Transact(ctx context.Context, fn func(ledger.Tx) error) error {
	st, err := db.prepare(ctx)
	if err != nil {
		return err
	}
	return store.Retry(ctx, retryable, func() error {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: begin: %w", err)
		}
		defer tx.Rollback()
		if err := fn(&txn{st: st, tx: tx}); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: commit: %w", err)
		}
		return nil
	})
}

// IDBlockReserve implements ledger.Store.
func (db *DB) IDBlockReserve(ctx context.Context, sequence string, n int64) (int64, error) {
	var first int64
	err := store.Retry(ctx, retryable, func() error {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "INSERT INTO id_sequences (name, next_id) VALUES (?, 1) ON CONFLICT (name) DO NOTHING", sequence); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "UPDATE id_sequences SET next_id = next_id + ? WHERE name = ? RETURNING next_id - ?", n, sequence, n).Scan(&first); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: reserve ids: %w", err)
	}
	return first, nil
}

// AssetUpsert implements ledger.Store.
func (db *DB) AssetUpsert(ctx context.Context, a money.Asset) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	var scale int
	err = tx.QueryRowContext(ctx, "SELECT scale FROM assets WHERE code = ?", a.Code).Scan(&scale)
	switch {
	case err == sql.ErrNoRows:
		if _, err := tx.ExecContext(ctx, "INSERT INTO assets (code, scale) VALUES (?, ?)", a.Code, a.Scale); err != nil {
			return fmt.Errorf("sqlite: insert asset: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlite: read asset: %w", err)
	case scale != a.Scale:
		return &apperr.Error{Code: apperr.CodeConflict, Param: "scale", Message: fmt.Sprintf("asset %s exists with scale %d", a.Code, scale)}
	}
	return tx.Commit()
}

// AssetList implements ledger.Store.
func (db *DB) AssetList(ctx context.Context) ([]money.Asset, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT code, scale FROM assets ORDER BY code")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list assets: %w", err)
	}
	defer rows.Close()
	var out []money.Asset
	for rows.Next() {
		var a money.Asset
		if err := rows.Scan(&a.Code, &a.Scale); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanAccount(s scanner) (ledger.Account, error) {
	var a ledger.Account
	var flags, created int64
	err := s.Scan(&a.ID, &a.Owner, &a.Reference, &a.Asset, &a.Code, &flags, &a.Limit,
		&a.DebitsPosted, &a.CreditsPosted, &a.DebitsPending, &a.CreditsPending, &created)
	a.SetFlagBits(flags)
	a.CreatedAt = fromMicros(created)
	return a, err
}

func scanTransfer(s scanner) (ledger.Transfer, error) {
	var t ledger.Transfer
	var ref, meta sql.NullString
	var pending, timeout sql.NullInt64
	var created int64
	err := s.Scan(&t.ID, &t.Owner, &ref, &t.Kind, &t.DebitAccountID, &t.CreditAccountID, &t.Amount,
		&t.Asset, &t.Code, &pending, &timeout, &meta, &created)
	if err != nil {
		return t, err
	}
	t.Reference = ref.String
	t.PendingID = pending.Int64
	t.TimeoutAt = fromNullMicros(timeout)
	t.CreatedAt = fromMicros(created)
	if meta.Valid && meta.String != "" {
		if err := json.Unmarshal([]byte(meta.String), &t.Metadata); err != nil {
			return t, fmt.Errorf("sqlite: transfer %d metadata: %w", t.ID, err)
		}
	}
	return t, nil
}

func scanHold(s scanner) (ledger.Hold, error) {
	var h ledger.Hold
	var timeout, resolved sql.NullInt64
	err := s.Scan(&h.TransferID, &h.Owner, &h.DebitAccountID, &h.CreditAccountID, &h.Amount, &h.Asset, &h.Code,
		&timeout, &h.State, &resolved)
	h.TimeoutAt = fromNullMicros(timeout)
	h.ResolvedAt = fromNullMicros(resolved)
	return h, err
}

func encodeMetadata(m map[string]string) (sql.NullString, error) {
	if len(m) == 0 {
		return sql.NullString{}, nil
	}
	buf, err := json.Marshal(m)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(buf), Valid: true}, nil
}

// AccountByID implements ledger.Store.
func (db *DB) AccountByID(ctx context.Context, id int64) (ledger.Account, error) {
	a, err := scanAccount(db.read.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// AccountList implements ledger.Store.
func (db *DB) AccountList(ctx context.Context, f ledger.AccountFilter) ([]ledger.Account, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
		f.Owner, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	var out []ledger.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan account: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// TransferByID implements ledger.Store.
func (db *DB) TransferByID(ctx context.Context, id int64) (ledger.Transfer, error) {
	t, err := scanTransfer(db.read.QueryRowContext(ctx, "SELECT "+transferCols+" FROM transfers WHERE id = ?", id))
	if err != nil {
		return t, notFound(err, "transfer")
	}
	return t, nil
}

// TransferListByAccount implements ledger.Store.
func (db *DB) TransferListByAccount(ctx context.Context, f ledger.TransferFilter) ([]ledger.Transfer, error) {
	q := "SELECT " + transferCols + " FROM (" +
		"SELECT * FROM transfers WHERE debit_account_id = ?1 AND id > ?2 " +
		"UNION ALL SELECT * FROM transfers WHERE credit_account_id = ?1 AND id > ?2) ORDER BY id LIMIT ?3"
	rows, err := db.read.QueryContext(ctx, q, f.AccountID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list transfers: %w", err)
	}
	defer rows.Close()
	var out []ledger.Transfer
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scan transfer: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// HoldByID implements ledger.Store.
func (db *DB) HoldByID(ctx context.Context, id int64) (ledger.Hold, error) {
	h, err := scanHold(db.read.QueryRowContext(ctx, "SELECT "+holdCols+" FROM holds WHERE transfer_id = ?", id))
	if err != nil {
		return h, notFound(err, "hold")
	}
	return h, nil
}

// BalanceAt implements ledger.Store. It reads in one transaction so the four
// sums come from one snapshot.
func (db *DB) BalanceAt(ctx context.Context, accountID int64, at time.Time) (ledger.Balance, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ledger.Balance{}, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	b := ledger.Balance{AccountID: accountID, At: at}
	if err := tx.QueryRowContext(ctx, "SELECT asset FROM accounts WHERE id = ?", accountID).Scan(&b.Asset); err != nil {
		return b, notFound(err, "account")
	}
	t := micros(at)
	const posted = "SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE %s = ? AND kind IN ('immediate', 'post') AND created_at <= ?"
	const pending = "SELECT COALESCE(SUM(p.amount), 0) FROM transfers p JOIN holds h ON h.transfer_id = p.id " +
		"WHERE p.%s = ? AND p.kind = 'pending' AND p.created_at <= ?2 " +
		"AND (h.resolved_at IS NULL OR h.resolved_at > ?2) AND (h.timeout_at IS NULL OR h.timeout_at > ?2)"
	for _, q := range []struct {
		sql string
		dst *int64
	}{
		{fmt.Sprintf(posted, "debit_account_id"), &b.DebitsPosted},
		{fmt.Sprintf(posted, "credit_account_id"), &b.CreditsPosted},
		{fmt.Sprintf(pending, "debit_account_id"), &b.DebitsPending},
		{fmt.Sprintf(pending, "credit_account_id"), &b.CreditsPending},
	} {
		if err := tx.QueryRowContext(ctx, q.sql, accountID, t).Scan(q.dst); err != nil {
			return b, fmt.Errorf("sqlite: balance at: %w", err)
		}
	}
	return b, nil
}

// HoldListDue implements ledger.Store.
func (db *DB) HoldListDue(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := db.read.QueryContext(ctx,
		"SELECT transfer_id FROM holds WHERE state = 'pending' AND timeout_at IS NOT NULL AND timeout_at <= ? ORDER BY timeout_at LIMIT ?",
		micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due holds: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// VerifyScan implements ledger.Store. The sums come from the transfers
// alone (and the hold state for pending ones), never from stored balances.
func (db *DB) VerifyScan(ctx context.Context, fn func(ledger.AccountSums) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, verifyScanSQL)
	if err != nil {
		return fmt.Errorf("sqlite: verify scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x ledger.AccountSums
		var flags, created int64
		a := &x.Account
		if err := rows.Scan(&a.ID, &a.Owner, &a.Reference, &a.Asset, &a.Code, &flags, &a.Limit,
			&a.DebitsPosted, &a.CreditsPosted, &a.DebitsPending, &a.CreditsPending, &created,
			&x.DebitsPosted, &x.CreditsPosted, &x.DebitsPending, &x.CreditsPending, &x.AssetMismatchTransfers); err != nil {
			return fmt.Errorf("sqlite: verify scan: %w", err)
		}
		a.SetFlagBits(flags)
		a.CreatedAt = fromMicros(created)
		if err := fn(x); err != nil {
			return err
		}
	}
	return rows.Err()
}

const verifyScanSQL = `
WITH d AS (
	SELECT t.debit_account_id AS id,
		SUM(CASE WHEN t.kind IN ('immediate', 'post') THEN t.amount ELSE 0 END) AS posted,
		SUM(CASE WHEN t.kind = 'pending' AND h.state = 'pending' THEN t.amount ELSE 0 END) AS pending,
		SUM(CASE WHEN t.asset <> a.asset THEN 1 ELSE 0 END) AS mismatched
	FROM transfers t JOIN accounts a ON a.id = t.debit_account_id
	LEFT JOIN holds h ON h.transfer_id = t.id
	GROUP BY t.debit_account_id
), c AS (
	SELECT t.credit_account_id AS id,
		SUM(CASE WHEN t.kind IN ('immediate', 'post') THEN t.amount ELSE 0 END) AS posted,
		SUM(CASE WHEN t.kind = 'pending' AND h.state = 'pending' THEN t.amount ELSE 0 END) AS pending,
		SUM(CASE WHEN t.asset <> a.asset THEN 1 ELSE 0 END) AS mismatched
	FROM transfers t JOIN accounts a ON a.id = t.credit_account_id
	LEFT JOIN holds h ON h.transfer_id = t.id
	GROUP BY t.credit_account_id
)
SELECT a.id, a.owner, a.reference, a.asset, a.code, a.flags, a.limit_amount,
	a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.created_at,
	COALESCE(d.posted, 0), COALESCE(c.posted, 0), COALESCE(d.pending, 0), COALESCE(c.pending, 0),
	COALESCE(d.mismatched, 0) + COALESCE(c.mismatched, 0)
FROM accounts a LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id
ORDER BY a.id`

// VerifyTransferChecks implements ledger.Store.
func (db *DB) VerifyTransferChecks(ctx context.Context) (ledger.TransferChecks, error) {
	var c ledger.TransferChecks
	for _, q := range []struct {
		sql string
		dst *int64
	}{
		{"SELECT count(*) FROM transfers WHERE amount <= 0", &c.NonPositiveAmount},
		{"SELECT count(*) FROM transfers t JOIN transfers p ON p.id = t.pending_id WHERE t.kind = 'post' AND t.amount > p.amount", &c.PostExceedsPending},
		{`SELECT count(*) FROM holds h
			LEFT JOIN transfers p ON p.id = h.transfer_id AND p.kind = 'pending' AND p.amount = h.amount
				AND p.debit_account_id = h.debit_account_id AND p.credit_account_id = h.credit_account_id
			WHERE p.id IS NULL
			OR (h.state = 'pending') <> ((SELECT count(*) FROM transfers r WHERE r.pending_id = h.transfer_id) = 0)
			OR (SELECT count(*) FROM transfers r WHERE r.pending_id = h.transfer_id) > 1`, &c.HoldWithoutTransfer},
		{"SELECT count(*) FROM transfers t LEFT JOIN holds h ON h.transfer_id = t.id WHERE t.kind = 'pending' AND h.transfer_id IS NULL", &c.PendingWithoutHold},
	} {
		if err := db.read.QueryRowContext(ctx, q.sql).Scan(q.dst); err != nil {
			return c, fmt.Errorf("sqlite: verify transfers: %w", err)
		}
	}
	return c, nil
}

// txn implements ledger.Tx on one write transaction.
type txn struct {
	st *statements
	tx *sql.Tx
}

func (t *txn) stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt { return t.tx.StmtContext(ctx, s) }

func (t *txn) AssetByCode(ctx context.Context, code string) (money.Asset, error) {
	a := money.Asset{Code: code}
	err := t.tx.QueryRowContext(ctx, "SELECT scale FROM assets WHERE code = ?", code).Scan(&a.Scale)
	if err != nil {
		return a, notFound(err, "asset")
	}
	return a, nil
}

func (t *txn) AccountsByReference(ctx context.Context, keys []ledger.RefKey) ([]ledger.Account, error) {
	st := t.stmt(ctx, t.st.accountByRef)
	var out []ledger.Account
	for _, k := range keys {
		a, err := scanAccount(st.QueryRowContext(ctx, k.Owner, k.Reference))
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: account by reference: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (t *txn) AccountsInsert(ctx context.Context, accounts []ledger.Account) error {
	st := t.stmt(ctx, t.st.accountInsert)
	for _, a := range accounts {
		if _, err := st.ExecContext(ctx, a.ID, a.Owner, a.Reference, a.Asset, a.Code, a.FlagBits(), a.Limit,
			a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending, micros(a.CreatedAt)); err != nil {
			return fmt.Errorf("sqlite: insert account: %w", err)
		}
	}
	return nil
}

// AccountsForUpdate reads accounts; the transaction's BEGIN IMMEDIATE write
// lock already excludes every other writer.
func (t *txn) AccountsForUpdate(ctx context.Context, ids []int64) ([]ledger.Account, error) {
	st := t.stmt(ctx, t.st.accountByID)
	out := make([]ledger.Account, 0, len(ids))
	for _, id := range ids {
		a, err := scanAccount(st.QueryRowContext(ctx, id))
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: read account: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (t *txn) AccountsUpdateBalances(ctx context.Context, accounts []ledger.Account) error {
	st := t.stmt(ctx, t.st.accountUpdate)
	for _, a := range accounts {
		if _, err := st.ExecContext(ctx, a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending, a.ID); err != nil {
			return fmt.Errorf("sqlite: update account: %w", err)
		}
	}
	return nil
}

func (t *txn) TransfersByReference(ctx context.Context, keys []ledger.RefKey) ([]ledger.Transfer, error) {
	st := t.stmt(ctx, t.st.transferByRef)
	var out []ledger.Transfer
	for _, k := range keys {
		tr, err := scanTransfer(st.QueryRowContext(ctx, k.Owner, k.Reference))
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: transfer by reference: %w", err)
		}
		out = append(out, tr)
	}
	return out, nil
}

func (t *txn) TransfersInsert(ctx context.Context, transfers []ledger.Transfer) error {
	chunk, one := t.stmt(ctx, t.st.transferInsertChunk), t.stmt(ctx, t.st.transferInsert)
	args := make([]any, 0, insertChunk*13)
	for len(transfers) > 0 {
		n := 1
		st := one
		if len(transfers) >= insertChunk {
			n, st = insertChunk, chunk
		}
		args = args[:0]
		for _, tr := range transfers[:n] {
			meta, err := encodeMetadata(tr.Metadata)
			if err != nil {
				return fmt.Errorf("sqlite: encode metadata: %w", err)
			}
			var ref sql.NullString
			if tr.Reference != "" {
				ref = sql.NullString{String: tr.Reference, Valid: true}
			}
			var pending sql.NullInt64
			if tr.PendingID != 0 {
				pending = sql.NullInt64{Int64: tr.PendingID, Valid: true}
			}
			args = append(args, tr.ID, tr.Owner, ref, string(tr.Kind), tr.DebitAccountID, tr.CreditAccountID, tr.Amount,
				tr.Asset, tr.Code, pending, nullMicros(tr.TimeoutAt), meta, micros(tr.CreatedAt))
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: insert transfers: %w", err)
		}
		transfers = transfers[n:]
	}
	return nil
}

func (t *txn) HoldsForUpdate(ctx context.Context, ids []int64) ([]ledger.Hold, error) {
	st := t.stmt(ctx, t.st.holdByID)
	var out []ledger.Hold
	for _, id := range ids {
		h, err := scanHold(st.QueryRowContext(ctx, id))
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: read hold: %w", err)
		}
		out = append(out, h)
	}
	return out, nil
}

func (t *txn) HoldsInsert(ctx context.Context, holds []ledger.Hold) error {
	st := t.stmt(ctx, t.st.holdInsert)
	for _, h := range holds {
		if _, err := st.ExecContext(ctx, h.TransferID, h.Owner, h.DebitAccountID, h.CreditAccountID, h.Amount, h.Asset, h.Code,
			nullMicros(h.TimeoutAt), string(h.State), nullMicros(h.ResolvedAt)); err != nil {
			return fmt.Errorf("sqlite: insert hold: %w", err)
		}
	}
	return nil
}

func (t *txn) HoldsUpdate(ctx context.Context, holds []ledger.Hold) error {
	st := t.stmt(ctx, t.st.holdUpdate)
	for _, h := range holds {
		if _, err := st.ExecContext(ctx, string(h.State), nullMicros(h.ResolvedAt), h.TransferID); err != nil {
			return fmt.Errorf("sqlite: update hold: %w", err)
		}
	}
	return nil
}

func placeholders(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}
