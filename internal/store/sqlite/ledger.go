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

// statements are prepared once on the write connection, before any
// transaction begins (the pool has one connection, so preparing inside a
// transaction would wait for itself), and bound to each transaction with
// tx.StmtContext. Each takes all its rows as one JSON array read with
// json_each, so a batch costs one statement per table, not one per row.
type statements struct {
	accountsByRef, accountsInsert, accountsByID, accountsUpdate *sql.Stmt
	transfersByRef, transfersInsert                             *sql.Stmt
	holdsByID, holdsInsert, holdsUpdate                         *sql.Stmt
	eventsInsert                                                *sql.Stmt
	webhookAttemptsInsert, webhookDeliveriesUpdate              *sql.Stmt
	idempotencyByKey, idempotencyInsert                         *sql.Stmt
}

// jsonCols renders "value ->> 0, value ->> 1, …" for n columns of a json_each row.
func jsonCols(n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf("value ->> %d", i)
	}
	return strings.Join(cols, ", ")
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
		{&st.accountsByRef, "SELECT " + accountCols + " FROM accounts WHERE (owner, reference) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"},
		{&st.accountsInsert, "INSERT INTO accounts (" + accountCols + ") SELECT " + jsonCols(12) + " FROM json_each(?)"},
		{&st.accountsByID, "SELECT " + accountCols + " FROM accounts WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"},
		{&st.accountsUpdate, "UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, debits_pending = v.dpe, credits_pending = v.cpe " +
			"FROM (SELECT value ->> 0 AS id, value ->> 1 AS dp, value ->> 2 AS cp, value ->> 3 AS dpe, value ->> 4 AS cpe FROM json_each(?)) AS v " +
			"WHERE accounts.id = v.id"},
		{&st.transfersByRef, "SELECT " + transferCols + " FROM transfers WHERE (owner, reference) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"},
		{&st.transfersInsert, "INSERT INTO transfers (" + transferCols + ") SELECT " + jsonCols(13) + " FROM json_each(?)"},
		{&st.holdsByID, "SELECT " + holdCols + " FROM holds WHERE transfer_id IN (SELECT value FROM json_each(?)) ORDER BY transfer_id"},
		{&st.holdsInsert, "INSERT INTO holds (" + holdCols + ") SELECT " + jsonCols(10) + " FROM json_each(?)"},
		{&st.holdsUpdate, "UPDATE holds SET state = v.state, resolved_at = v.resolved_at " +
			"FROM (SELECT value ->> 0 AS id, value ->> 1 AS state, value ->> 2 AS resolved_at FROM json_each(?)) AS v " +
			"WHERE holds.transfer_id = v.id"},
		{&st.eventsInsert, eventsInsertSQL},
		{&st.webhookAttemptsInsert, webhookAttemptsInsertSQL},
		{&st.webhookDeliveriesUpdate, webhookDeliveriesUpdateSQL},
		{&st.idempotencyByKey, idempotencyByKeySQL},
		{&st.idempotencyInsert, idempotencyInsertSQL},
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
	for _, s := range []*sql.Stmt{st.accountsByRef, st.accountsInsert, st.accountsByID, st.accountsUpdate,
		st.transfersByRef, st.transfersInsert, st.holdsByID, st.holdsInsert, st.holdsUpdate,
		st.eventsInsert, st.webhookAttemptsInsert, st.webhookDeliveriesUpdate, st.idempotencyByKey, st.idempotencyInsert} {
		if s != nil {
			s.Close()
		}
	}
}

// Transact implements ledger.Store.
func (db *DB) Transact(ctx context.Context, fn func(ledger.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// transact runs fn in one IMMEDIATE write transaction per attempt, retried
// while the file is busy. Every product's write transaction is one of these,
// so the ledger's and the product's rows commit together.
func (db *DB) transact(ctx context.Context, fn func(*txn) error) error {
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
		if err := fn(&txn{st: st, tx: tx, db: db}); err != nil {
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
	return collect(rows, func(s scanner) (money.Asset, error) {
		var a money.Asset
		return a, s.Scan(&a.Code, &a.Scale)
	}, "sqlite: scan asset")
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
func (r reads) AccountByID(ctx context.Context, id int64) (ledger.Account, error) {
	a, err := scanAccount(r.q.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// AccountByReference implements billing.SnapshotReader.
func (r reads) AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error) {
	a, err := scanAccount(r.q.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE owner = ? AND reference = ?", owner, reference))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// AccountsByID implements billing.Store with one statement: the ids go
// as one JSON array, read with json_each.
func (db *DB) AccountsByID(ctx context.Context, ids []int64) ([]ledger.Account, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", idsJSON(ids))
	if err != nil {
		return nil, fmt.Errorf("sqlite: accounts by id: %w", err)
	}
	return collect(rows, scanAccount, "sqlite: scan account")
}

// AccountList implements ledger.Store.
func (db *DB) AccountList(ctx context.Context, f ledger.AccountFilter) ([]ledger.Account, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
		f.Owner, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return collect(rows, scanAccount, "sqlite: scan account")
}

// TransferByID implements ledger.Store.
func (r reads) TransferByID(ctx context.Context, id int64) (ledger.Transfer, error) {
	t, err := scanTransfer(r.q.QueryRowContext(ctx, "SELECT "+transferCols+" FROM transfers WHERE id = ?", id))
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
	return collect(rows, scanTransfer, "sqlite: scan transfer")
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
func (db *DB) HoldListDue(ctx context.Context, now time.Time, after ledger.HoldCursor, limit int) ([]ledger.HoldCursor, error) {
	rows, err := db.read.QueryContext(ctx,
		"SELECT timeout_at, transfer_id FROM holds WHERE state = 'pending' AND timeout_at IS NOT NULL AND timeout_at <= ? "+
			"AND timeout_at >= ? AND (timeout_at > ? OR transfer_id > ?) ORDER BY timeout_at, transfer_id LIMIT ?",
		micros(now), micros(after.TimeoutAt), micros(after.TimeoutAt), after.TransferID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due holds: %w", err)
	}
	return collect(rows, func(s scanner) (ledger.HoldCursor, error) {
		var c ledger.HoldCursor
		var at int64
		err := s.Scan(&at, &c.TransferID)
		c.TimeoutAt = fromMicros(at)
		return c, err
	}, "sqlite: scan due hold")
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
		{`SELECT count(*) FROM transfers t
			WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.debit_account_id)
			OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.credit_account_id)
			OR (t.pending_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.transfer_id = t.pending_id))`, &c.OrphanTransfers},
		{`SELECT count(*) FROM transfers r JOIN holds h ON h.transfer_id = r.pending_id
			WHERE NOT ((r.kind = 'post' AND h.state = 'posted') OR (r.kind = 'void' AND h.state = 'voided') OR (r.kind = 'expire' AND h.state = 'expired'))
			OR r.debit_account_id <> h.debit_account_id OR r.credit_account_id <> h.credit_account_id OR r.asset <> h.asset
			OR (r.kind IN ('void', 'expire') AND r.amount <> h.amount)`, &c.ResolutionMismatch},
		{`SELECT count(*) FROM transfers
			WHERE kind NOT IN ('immediate', 'pending', 'post', 'void', 'expire')
			OR (pending_id IS NULL) <> (kind IN ('immediate', 'pending'))
			OR debit_account_id = credit_account_id`, &c.MalformedTransfers},
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
	db *DB // for its job insert client (MailsEnqueue)
}

func (t *txn) stmt(ctx context.Context, s *sql.Stmt) *sql.Stmt { return t.tx.StmtContext(ctx, s) }

// exec runs one of the prepared statements in the transaction with its one
// JSON argument. The driver runs a statement whose context can end on a
// goroutine of its own, so that it can interrupt it, and waits for it: a
// goroutine and two switches per statement on the writer's path, which
// waits behind the HTTP handlers for a core when the machine is busy. These
// statements run after BEGIN IMMEDIATE has taken the write lock, so none
// waits for a lock and there is nothing to interrupt; the context's end
// still ends the transaction, as database/sql checks it before each
// statement and rolls back when it ends.
func (t *txn) exec(ctx context.Context, s *sql.Stmt, arg string) (sql.Result, error) {
	return t.stmt(ctx, s).ExecContext(context.WithoutCancel(ctx), arg)
}

func (t *txn) AssetByCode(ctx context.Context, code string) (money.Asset, error) {
	a := money.Asset{Code: code}
	err := t.tx.QueryRowContext(ctx, "SELECT scale FROM assets WHERE code = ?", code).Scan(&a.Scale)
	if err != nil {
		return a, notFound(err, "asset")
	}
	return a, nil
}

func (t *txn) AccountsByReference(ctx context.Context, keys []ledger.RefKey) ([]ledger.Account, error) {
	var j jsonRows
	for _, k := range keys {
		j.row().str(k.Owner).str(k.Reference)
	}
	return t.queryAccounts(ctx, t.st.accountsByRef, j.String())
}

func (t *txn) AccountsInsert(ctx context.Context, accounts []ledger.Account) error {
	var j jsonRows
	for _, a := range accounts {
		j.row().int(a.ID).str(a.Owner).str(a.Reference).str(a.Asset).str(a.Code).int(a.FlagBits()).int(a.Limit).
			int(a.DebitsPosted).int(a.CreditsPosted).int(a.DebitsPending).int(a.CreditsPending).int(micros(a.CreatedAt))
	}
	if _, err := t.exec(ctx, t.st.accountsInsert, j.String()); err != nil {
		return fmt.Errorf("sqlite: insert accounts: %w", err)
	}
	return nil
}

// AccountsForUpdate reads accounts, then transfers by reference; the
// transaction's BEGIN IMMEDIATE write lock already excludes every other
// writer, so both reads see the latest commit.
func (t *txn) AccountsForUpdate(ctx context.Context, ids []int64, refs []ledger.RefKey) ([]ledger.Account, []ledger.Transfer, error) {
	var accounts []ledger.Account
	if len(ids) > 0 {
		var err error
		if accounts, err = t.queryAccounts(ctx, t.st.accountsByID, idsJSON(ids)); err != nil {
			return nil, nil, err
		}
	}
	if len(refs) == 0 {
		return accounts, nil, nil
	}
	transfers, err := t.transfersByReference(ctx, refs)
	return accounts, transfers, err
}

func (t *txn) queryAccounts(ctx context.Context, st *sql.Stmt, arg string) ([]ledger.Account, error) {
	rows, err := t.stmt(ctx, st).QueryContext(ctx, arg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read accounts: %w", err)
	}
	return collect(rows, scanAccount, "sqlite: scan account")
}

func (t *txn) AccountsUpdateBalances(ctx context.Context, accounts []ledger.Account) error {
	var j jsonRows
	for _, a := range accounts {
		j.row().int(a.ID).int(a.DebitsPosted).int(a.CreditsPosted).int(a.DebitsPending).int(a.CreditsPending)
	}
	res, err := t.exec(ctx, t.st.accountsUpdate, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: update balances: %w", err)
	}
	return expectRows(res, len(accounts), "update balances")
}

func (t *txn) transfersByReference(ctx context.Context, keys []ledger.RefKey) ([]ledger.Transfer, error) {
	var j jsonRows
	for _, k := range keys {
		j.row().str(k.Owner).str(k.Reference)
	}
	rows, err := t.stmt(ctx, t.st.transfersByRef).QueryContext(ctx, j.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: transfers by reference: %w", err)
	}
	return collect(rows, scanTransfer, "sqlite: scan transfer")
}

func (t *txn) TransfersInsert(ctx context.Context, transfers []ledger.Transfer) error {
	var j jsonRows
	for _, tr := range transfers {
		j.row().int(tr.ID).str(tr.Owner)
		if tr.Reference == "" {
			j.null()
		} else {
			j.str(tr.Reference)
		}
		j.str(string(tr.Kind)).int(tr.DebitAccountID).int(tr.CreditAccountID).int(tr.Amount).str(tr.Asset).str(tr.Code)
		if tr.PendingID == 0 {
			j.null()
		} else {
			j.int(tr.PendingID)
		}
		j.time(tr.TimeoutAt)
		meta, err := encodeMetadata(tr.Metadata)
		if err != nil {
			return fmt.Errorf("sqlite: encode metadata: %w", err)
		}
		if meta.Valid {
			j.str(meta.String)
		} else {
			j.null()
		}
		j.int(micros(tr.CreatedAt))
	}
	res, err := t.exec(ctx, t.st.transfersInsert, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: insert transfers: %w", err)
	}
	return expectRows(res, len(transfers), "insert transfers")
}

func (t *txn) HoldsForUpdate(ctx context.Context, ids []int64) ([]ledger.Hold, error) {
	rows, err := t.stmt(ctx, t.st.holdsByID).QueryContext(ctx, idsJSON(ids))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read holds: %w", err)
	}
	return collect(rows, scanHold, "sqlite: scan hold")
}

func (t *txn) HoldsInsert(ctx context.Context, holds []ledger.Hold) error {
	var j jsonRows
	for _, h := range holds {
		j.row().int(h.TransferID).str(h.Owner).int(h.DebitAccountID).int(h.CreditAccountID).int(h.Amount).str(h.Asset).str(h.Code).
			time(h.TimeoutAt).str(string(h.State)).time(h.ResolvedAt)
	}
	res, err := t.exec(ctx, t.st.holdsInsert, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: insert holds: %w", err)
	}
	return expectRows(res, len(holds), "insert holds")
}

func (t *txn) HoldsUpdate(ctx context.Context, holds []ledger.Hold) error {
	var j jsonRows
	for _, h := range holds {
		j.row().int(h.TransferID).str(string(h.State)).time(h.ResolvedAt)
	}
	res, err := t.exec(ctx, t.st.holdsUpdate, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: update holds: %w", err)
	}
	return expectRows(res, len(holds), "update holds")
}

// expectRows turns a statement that touched the wrong number of rows into an
// error: the batch must not commit a partial write.
func expectRows(res sql.Result, want int, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n != int64(want) {
		return fmt.Errorf("sqlite: %s: %d rows affected, want %d", op, n, want)
	}
	return nil
}

// TransferList implements ledger.Store.
func (db *DB) TransferList(ctx context.Context, q ledger.TransferQuery) ([]ledger.Transfer, error) {
	where := []string{"owner = ?", "id > ?"}
	args := []any{q.Owner, q.AfterID}
	if q.AccountID != 0 {
		where = append(where, "(debit_account_id = ? OR credit_account_id = ?)")
		args = append(args, q.AccountID, q.AccountID)
	}
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, string(q.Kind))
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, micros(q.CreatedFrom))
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, micros(q.CreatedBefore))
	}
	args = append(args, q.Limit)
	rows, err := db.read.QueryContext(ctx, "SELECT "+transferCols+" FROM transfers WHERE "+strings.Join(where, " AND ")+" ORDER BY id LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list transfers: %w", err)
	}
	return collect(rows, scanTransfer, "sqlite: scan transfer")
}

// collect scans every row with scan and closes rows; a scan error is
// wrapped with what, as "sqlite: scan account".
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
