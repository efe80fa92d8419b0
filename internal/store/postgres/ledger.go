package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/store"
)

var _ ledger.Store = (*DB)(nil)

var (
	accountCols  = []string{"id", "owner", "reference", "asset", "code", "flags", "limit_amount", "debits_posted", "credits_posted", "debits_pending", "credits_pending", "created_at"}
	transferCols = []string{"id", "owner", "reference", "kind", "debit_account_id", "credit_account_id", "amount", "asset", "code", "pending_id", "timeout_at", "metadata", "created_at"}
	holdCols     = []string{"transfer_id", "owner", "debit_account_id", "credit_account_id", "amount", "asset", "code", "timeout_at", "state", "resolved_at"}
)

// selectList returns cols qualified by alias (when set).
func selectList(alias string, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		if alias != "" {
			c = alias + "." + c
		}
		parts[i] = c
	}
	return strings.Join(parts, ", ")
}

// Statements of the ledger, fixed at start-up: pgx prepares each once per
// connection and caches it (the cache bound is pgx's statement cache capacity,
// far above this set).
var (
	sqlAccountByID  = "SELECT " + selectList("", accountCols) + " FROM accounts WHERE id = $1"
	sqlAccountsByID = "SELECT " + selectList("", accountCols) + " FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id"
	sqlAccountList  = "SELECT " + selectList("", accountCols) + " FROM accounts WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3"
	sqlTransferByID = "SELECT " + selectList("", transferCols) + " FROM transfers WHERE id = $1"
	// Each branch is an index range scan on (account, id) that stops after
	// limit rows; a transfer never debits and credits one account, so the
	// branches do not overlap.
	sqlTransferListByAccount = "SELECT " + selectList("", transferCols) + " FROM (" +
		"(SELECT * FROM transfers WHERE debit_account_id = $1 AND id > $2 ORDER BY id LIMIT $3) " +
		"UNION ALL (SELECT * FROM transfers WHERE credit_account_id = $1 AND id > $2 ORDER BY id LIMIT $3)) t " +
		"ORDER BY id LIMIT $3"
	sqlHoldByID = "SELECT " + selectList("", holdCols) + " FROM holds WHERE transfer_id = $1"

	// Lookups by reference are a loop of unique-index probes whatever the
	// statistics say: LIMIT 1 keeps the planner from flattening the lateral
	// subquery, so a plan made while the table was empty (pgx caches prepared
	// statements, and PostgreSQL then reuses a generic plan) cannot become a
	// sequential scan per batch as the table grows.
	sqlAccountsByReference = "SELECT " + selectList("a", accountCols) +
		" FROM unnest($1::text[], $2::text[]) AS k(owner, reference)" +
		" CROSS JOIN LATERAL (SELECT * FROM accounts WHERE owner = k.owner AND reference = k.reference LIMIT 1) a"
	sqlAccountsForUpdate = "SELECT " + selectList("", accountCols) +
		" FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
	sqlAccountsInsert = "INSERT INTO accounts (" + strings.Join(accountCols, ", ") + ") SELECT * FROM unnest(" +
		"$1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::bigint[], " +
		"$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::timestamptz[])"
	sqlAccountsUpdateBalances = "UPDATE accounts a SET debits_posted = u.debits_posted, credits_posted = u.credits_posted, " +
		"debits_pending = u.debits_pending, credits_pending = u.credits_pending " +
		"FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) " +
		"AS u(id, debits_posted, credits_posted, debits_pending, credits_pending) WHERE a.id = u.id"

	sqlTransfersByReference = "SELECT " + selectList("t", transferCols) +
		" FROM unnest($1::text[], $2::text[]) AS k(owner, reference)" +
		" CROSS JOIN LATERAL (SELECT * FROM transfers WHERE owner = k.owner AND reference = k.reference LIMIT 1) t"
	// Empty strings and zero ids arrive as "none": reference, pending_id and
	// metadata are NULL then.
	sqlTransfersInsert = "INSERT INTO transfers (" + strings.Join(transferCols, ", ") + ") " +
		"SELECT id, owner, NULLIF(reference, ''), kind, debit_account_id, credit_account_id, amount, asset, code, " +
		"NULLIF(pending_id, 0), timeout_at, NULLIF(metadata, ''), created_at FROM unnest(" +
		"$1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], " +
		"$8::text[], $9::text[], $10::bigint[], $11::timestamptz[], $12::text[], $13::timestamptz[]) " +
		"AS u(" + strings.Join(transferCols, ", ") + ")"

	sqlHoldsForUpdate = "SELECT " + selectList("", holdCols) +
		" FROM holds WHERE transfer_id = ANY($1::bigint[]) ORDER BY transfer_id FOR UPDATE"
	sqlHoldsInsert = "INSERT INTO holds (" + strings.Join(holdCols, ", ") + ") SELECT * FROM unnest(" +
		"$1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], " +
		"$8::timestamptz[], $9::text[], $10::timestamptz[])"
	sqlHoldsUpdate = "UPDATE holds h SET state = u.state, resolved_at = u.resolved_at " +
		"FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS u(transfer_id, state, resolved_at) " +
		"WHERE h.transfer_id = u.transfer_id"
)

// sqlBegin opens every ledger transaction. The isolation level is explicit so
// that a server default of SERIALIZABLE does not change the retry behaviour.
const sqlBegin = "BEGIN ISOLATION LEVEL READ COMMITTED"

// Transact implements ledger.Store: one READ COMMITTED transaction per
// attempt, retried by store.Retry on serialization failures, deadlocks and
// unique violations.
func (db *DB) Transact(ctx context.Context, fn func(ledger.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// transact runs fn in one READ COMMITTED transaction per attempt, retried on
// conflicts. Every product's write transaction is one of these, so the
// ledger's and the product's rows commit together.
func (db *DB) transact(ctx context.Context, fn func(*txn) error) error {
	return store.Retry(ctx, retryable, func() error {
		return db.attempt(ctx, fn)
	})
}

// attempt runs fn once in a transaction on one pooled connection.
func (db *DB) attempt(ctx context.Context, fn func(*txn) error) error {
	return db.attemptCommitting(ctx, ctx, fn)
}

// attemptCommitting is attempt whose COMMIT, with the statements still
// waiting to be sent with it, runs under commitCtx instead of ctx.
func (db *DB) attemptCommitting(ctx, commitCtx context.Context, fn func(*txn) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire connection: %w", err)
	}
	defer c.Release()
	t := &txn{conn: c.Conn(), jobs: db.jobs}
	defer t.rollbackIfOpen(ctx)
	if err := fn(t); err != nil {
		return err
	}
	return t.commit(commitCtx)
}

// IDBlockReserve implements ledger.Store in its own short transaction.
func (db *DB) IDBlockReserve(ctx context.Context, sequence string, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("postgres: reserve ids: block size %d must be positive", n)
	}
	var first int64
	err := store.Retry(ctx, retryable, func() error {
		return db.attempt(ctx, func(t *txn) error {
			t.queue("INSERT INTO id_sequences (name, next_id) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING", sequence)
			return t.queryRow(ctx, "UPDATE id_sequences SET next_id = next_id + $2 WHERE name = $1 RETURNING next_id - $2",
				[]any{sequence, n}, &first)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: reserve ids: %w", err)
	}
	return first, nil
}

// AssetUpsert implements ledger.Store. Errors: conflict (param "scale") when
// the code exists with another scale.
func (db *DB) AssetUpsert(ctx context.Context, a money.Asset) error {
	tag, err := db.pool.Exec(ctx, "INSERT INTO assets (code, scale) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING", a.Code, a.Scale)
	if err != nil {
		return fmt.Errorf("postgres: insert asset: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// The code existed (perhaps inserted a moment ago by another node, whose
	// row this later statement sees).
	var scale int
	if err := db.pool.QueryRow(ctx, "SELECT scale FROM assets WHERE code = $1", a.Code).Scan(&scale); err != nil {
		return fmt.Errorf("postgres: read asset: %w", err)
	}
	if scale != a.Scale {
		return &apperr.Error{Code: apperr.CodeConflict, Param: "scale", Message: fmt.Sprintf("asset %s exists with scale %d", a.Code, scale)}
	}
	return nil
}

// AssetList implements ledger.Store.
func (db *DB) AssetList(ctx context.Context) ([]money.Asset, error) {
	rows, err := db.pool.Query(ctx, "SELECT code, scale FROM assets ORDER BY code")
	if err != nil {
		return nil, fmt.Errorf("postgres: list assets: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (money.Asset, error) {
		var a money.Asset
		err := r.Scan(&a.Code, &a.Scale)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list assets: %w", err)
	}
	return out, nil
}

// AccountByID implements ledger.Store. Errors: not_found.
func (r reads) AccountByID(ctx context.Context, id int64) (ledger.Account, error) {
	a, err := scanAccount(r.q.QueryRow(ctx, sqlAccountByID, id))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// AccountByReference implements billing.SnapshotReader.
func (r reads) AccountByReference(ctx context.Context, owner, reference string) (ledger.Account, error) {
	a, err := scanAccount(r.q.QueryRow(ctx, "SELECT "+selectList("", accountCols)+" FROM accounts WHERE owner = $1 AND reference = $2", owner, reference))
	if err != nil {
		return a, notFound(err, "account")
	}
	return a, nil
}

// AccountsByID implements billing.Store with one statement.
func (db *DB) AccountsByID(ctx context.Context, ids []int64) ([]ledger.Account, error) {
	rows, err := db.pool.Query(ctx, sqlAccountsByID, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts by id: %w", err)
	}
	out, err := collect(rows, scanAccount)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts by id: %w", err)
	}
	return out, nil
}

// AccountList implements ledger.Store.
func (db *DB) AccountList(ctx context.Context, f ledger.AccountFilter) ([]ledger.Account, error) {
	rows, err := db.pool.Query(ctx, sqlAccountList, f.Owner, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	out, err := collect(rows, scanAccount)
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	return out, nil
}

// TransferByID implements ledger.Store. Errors: not_found.
func (r reads) TransferByID(ctx context.Context, id int64) (ledger.Transfer, error) {
	t, err := scanTransfer(r.q.QueryRow(ctx, sqlTransferByID, id))
	if err != nil {
		return t, notFound(err, "transfer")
	}
	return t, nil
}

// TransferListByAccount implements ledger.Store.
func (db *DB) TransferListByAccount(ctx context.Context, f ledger.TransferFilter) ([]ledger.Transfer, error) {
	rows, err := db.pool.Query(ctx, sqlTransferListByAccount, f.AccountID, f.AfterID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list transfers: %w", err)
	}
	out, err := collect(rows, scanTransfer)
	if err != nil {
		return nil, fmt.Errorf("postgres: list transfers: %w", err)
	}
	return out, nil
}

// HoldByID implements ledger.Store. Errors: not_found.
func (db *DB) HoldByID(ctx context.Context, id int64) (ledger.Hold, error) {
	h, err := scanHold(db.pool.QueryRow(ctx, sqlHoldByID, id))
	if err != nil {
		return h, notFound(err, "hold")
	}
	return h, nil
}

// sqlBalanceAt computes the four sums in one statement, so they come from one
// snapshot. Posted: immediate and post transfers created by $2. Pending: a
// pending transfer created by $2 that was not resolved and had not timed out by $2.
const sqlBalanceAt = `
SELECT a.asset,
	(SELECT COALESCE(SUM(amount), 0)::bigint FROM transfers
		WHERE debit_account_id = a.id AND kind IN ('immediate', 'post') AND created_at <= $2),
	(SELECT COALESCE(SUM(amount), 0)::bigint FROM transfers
		WHERE credit_account_id = a.id AND kind IN ('immediate', 'post') AND created_at <= $2),
	(SELECT COALESCE(SUM(p.amount), 0)::bigint FROM transfers p JOIN holds h ON h.transfer_id = p.id
		WHERE p.debit_account_id = a.id AND p.kind = 'pending' AND p.created_at <= $2
		AND (h.resolved_at IS NULL OR h.resolved_at > $2) AND (h.timeout_at IS NULL OR h.timeout_at > $2)),
	(SELECT COALESCE(SUM(p.amount), 0)::bigint FROM transfers p JOIN holds h ON h.transfer_id = p.id
		WHERE p.credit_account_id = a.id AND p.kind = 'pending' AND p.created_at <= $2
		AND (h.resolved_at IS NULL OR h.resolved_at > $2) AND (h.timeout_at IS NULL OR h.timeout_at > $2))
FROM accounts a WHERE a.id = $1`

// BalanceAt implements ledger.Store. Errors: not_found.
func (db *DB) BalanceAt(ctx context.Context, accountID int64, at time.Time) (ledger.Balance, error) {
	b := ledger.Balance{AccountID: accountID, At: at}
	err := db.pool.QueryRow(ctx, sqlBalanceAt, accountID, at).
		Scan(&b.Asset, &b.DebitsPosted, &b.CreditsPosted, &b.DebitsPending, &b.CreditsPending)
	if err != nil {
		return b, notFound(err, "account")
	}
	return b, nil
}

// HoldListDue implements ledger.Store.
func (db *DB) HoldListDue(ctx context.Context, now time.Time, after ledger.HoldCursor, limit int) ([]ledger.HoldCursor, error) {
	rows, err := db.pool.Query(ctx,
		"SELECT timeout_at, transfer_id FROM holds WHERE state = 'pending' AND timeout_at IS NOT NULL AND timeout_at <= $1 "+
			"AND timeout_at >= $2 AND (timeout_at > $2 OR transfer_id > $3) ORDER BY timeout_at, transfer_id LIMIT $4",
		now, after.TimeoutAt, after.TransferID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list due holds: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (ledger.HoldCursor, error) {
		var c ledger.HoldCursor
		err := r.Scan(&c.TimeoutAt, &c.TransferID)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list due holds: %w", err)
	}
	return out, nil
}

// VerifyScan implements ledger.Store. The sums come from the transfers
// alone (and the hold state for pending ones), never from stored balances.
// Rows stream in account id order from one statement, so one snapshot.
func (db *DB) VerifyScan(ctx context.Context, fn func(ledger.AccountSums) error) error {
	rows, err := db.pool.Query(ctx, sqlVerifyScan)
	if err != nil {
		return fmt.Errorf("postgres: verify scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x ledger.AccountSums
		var flags int64
		var created time.Time
		a := &x.Account
		if err := rows.Scan(&a.ID, &a.Owner, &a.Reference, &a.Asset, &a.Code, &flags, &a.Limit,
			&a.DebitsPosted, &a.CreditsPosted, &a.DebitsPending, &a.CreditsPending, &created,
			&x.DebitsPosted, &x.CreditsPosted, &x.DebitsPending, &x.CreditsPending, &x.AssetMismatchTransfers); err != nil {
			return fmt.Errorf("postgres: verify scan: %w", err)
		}
		a.SetFlagBits(flags)
		a.CreatedAt = created.UTC()
		if err := fn(x); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: verify scan: %w", err)
	}
	return nil
}

// sqlVerifyScan is store/sqlite's verify query. SUM of bigint is numeric in
// PostgreSQL; the casts back to bigint fail the scan, rather than wrap, if a
// total ever leaves int64.
const sqlVerifyScan = `
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
	COALESCE(d.posted, 0)::bigint, COALESCE(c.posted, 0)::bigint,
	COALESCE(d.pending, 0)::bigint, COALESCE(c.pending, 0)::bigint,
	(COALESCE(d.mismatched, 0) + COALESCE(c.mismatched, 0))::bigint
FROM accounts a LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id
ORDER BY a.id`

// sqlVerifyTransferChecks is store/sqlite's five checks as one statement, so
// one round trip and one snapshot.
const sqlVerifyTransferChecks = `
SELECT
	(SELECT count(*) FROM transfers WHERE amount <= 0),
	(SELECT count(*) FROM transfers t JOIN transfers p ON p.id = t.pending_id WHERE t.kind = 'post' AND t.amount > p.amount),
	(SELECT count(*) FROM holds h
		LEFT JOIN transfers p ON p.id = h.transfer_id AND p.kind = 'pending' AND p.amount = h.amount
			AND p.debit_account_id = h.debit_account_id AND p.credit_account_id = h.credit_account_id
		WHERE p.id IS NULL
		OR (h.state = 'pending') <> ((SELECT count(*) FROM transfers r WHERE r.pending_id = h.transfer_id) = 0)
		OR (SELECT count(*) FROM transfers r WHERE r.pending_id = h.transfer_id) > 1),
	(SELECT count(*) FROM transfers t LEFT JOIN holds h ON h.transfer_id = t.id WHERE t.kind = 'pending' AND h.transfer_id IS NULL),
	(SELECT count(*) FROM transfers t
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.debit_account_id)
		OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.credit_account_id)
		OR (t.pending_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.transfer_id = t.pending_id))),
	(SELECT count(*) FROM transfers r JOIN holds h ON h.transfer_id = r.pending_id
			WHERE NOT ((r.kind = 'post' AND h.state = 'posted') OR (r.kind = 'void' AND h.state = 'voided') OR (r.kind = 'expire' AND h.state = 'expired'))
			OR r.debit_account_id <> h.debit_account_id OR r.credit_account_id <> h.credit_account_id OR r.asset <> h.asset
			OR (r.kind IN ('void', 'expire') AND r.amount <> h.amount)),
	(SELECT count(*) FROM transfers
			WHERE kind NOT IN ('immediate', 'pending', 'post', 'void', 'expire')
			OR (pending_id IS NULL) <> (kind IN ('immediate', 'pending'))
			OR debit_account_id = credit_account_id)`

// VerifyTransferChecks implements ledger.Store.
func (db *DB) VerifyTransferChecks(ctx context.Context) (ledger.TransferChecks, error) {
	var c ledger.TransferChecks
	err := db.pool.QueryRow(ctx, sqlVerifyTransferChecks).
		Scan(&c.NonPositiveAmount, &c.PostExceedsPending, &c.HoldWithoutTransfer, &c.PendingWithoutHold, &c.OrphanTransfers,
			&c.ResolutionMismatch, &c.MalformedTransfers)
	if err != nil {
		return c, fmt.Errorf("postgres: verify transfers: %w", err)
	}
	return c, nil
}

// txn implements ledger.Tx on one connection, sending statements in
// pipelines to save round trips:
//
//   - BEGIN is not sent on its own; it goes with the first statement.
//   - Writes (inserts and updates) return nothing the ledger needs, so they
//     are queued and sent, in order, with the next read or with COMMIT. Their
//     errors therefore surface from that read or from Transact; either way
//     the transaction fails as a whole and nothing is committed.
//
// Statement order on the server is exactly the order of the calls, so reads
// see the transaction's own earlier writes.
type txn struct {
	conn    *pgx.Conn
	pending *pgx.Batch // BEGIN (until sent) and queued writes; nil when empty
	begun   bool       // BEGIN has been sent

	jobs *river.Client[pgx.Tx] // inserts River jobs in this transaction (MailsEnqueue)
}

// batch returns the statements waiting to be sent, starting with BEGIN when
// the transaction has not begun.
func (t *txn) batch() *pgx.Batch {
	if t.pending == nil {
		t.pending = &pgx.Batch{}
		if !t.begun {
			t.pending.Queue(sqlBegin)
		}
	}
	return t.pending
}

// queue adds a write to the next pipeline.
func (t *txn) queue(sql string, args ...any) {
	t.batch().Queue(sql, args...)
}

// send sends the waiting statements as one pipeline and runs their callbacks.
func (t *txn) send(ctx context.Context) error {
	b := t.pending
	t.pending = nil
	if b == nil {
		return nil
	}
	t.begun = true
	return t.conn.SendBatch(ctx, b).Close()
}

// query sends the waiting statements followed by one read, calling scan for
// each row it returns.
func (t *txn) query(ctx context.Context, sql string, args []any, scan func(pgx.Rows) error) error {
	t.batch().Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return t.send(ctx)
}

// queryRow is query for a statement that returns exactly one row.
func (t *txn) queryRow(ctx context.Context, sql string, args []any, dst ...any) error {
	t.batch().Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(dst...) })
	return t.send(ctx)
}

// errCommitRolledBack reports a COMMIT that the server answered with
// ROLLBACK: the transaction had already failed.
var errCommitRolledBack = errors.New("postgres: commit: the transaction had failed and was rolled back")

// commit sends the queued writes and COMMIT in one pipeline.
func (t *txn) commit(ctx context.Context) error {
	if !t.begun && t.pending == nil {
		return nil // fn did nothing
	}
	t.batch().Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errCommitRolledBack
		}
		return nil
	})
	if err := t.send(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// rollbackIfOpen ends a transaction that did not commit. It runs even when
// ctx has ended; if it fails, the pool discards the connection on release.
func (t *txn) rollbackIfOpen(ctx context.Context) {
	if t.conn.PgConn().TxStatus() == 'I' || t.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_, _ = t.conn.Exec(ctx, "ROLLBACK")
}

// AssetByCode implements ledger.Tx. Errors: not_found.
func (t *txn) AssetByCode(ctx context.Context, code string) (money.Asset, error) {
	a := money.Asset{Code: code}
	if err := t.queryRow(ctx, "SELECT scale FROM assets WHERE code = $1", []any{code}, &a.Scale); err != nil {
		return a, notFound(err, "asset")
	}
	return a, nil
}

// AccountsByReference implements ledger.Tx with one statement: missing keys
// are absent from the result.
func (t *txn) AccountsByReference(ctx context.Context, keys []ledger.RefKey) ([]ledger.Account, error) {
	owners, refs := splitKeys(keys)
	out := make([]ledger.Account, 0, len(keys))
	err := t.query(ctx, sqlAccountsByReference, []any{owners, refs}, func(rows pgx.Rows) error {
		a, err := scanAccount(rows)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts by reference: %w", err)
	}
	return out, nil
}

// AccountsInsert implements ledger.Tx; the insert is sent with the next
// statement of the transaction.
func (t *txn) AccountsInsert(_ context.Context, accounts []ledger.Account) error {
	n := len(accounts)
	ids, flags, limits := make([]int64, n), make([]int64, n), make([]int64, n)
	owners, refs, assets, codes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	dp, cp, dpn, cpn := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	created := make([]time.Time, n)
	for i, a := range accounts {
		ids[i], owners[i], refs[i], assets[i], codes[i] = a.ID, a.Owner, a.Reference, a.Asset, a.Code
		flags[i], limits[i] = a.FlagBits(), a.Limit
		dp[i], cp[i], dpn[i], cpn[i] = a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending
		created[i] = a.CreatedAt
	}
	t.queue(sqlAccountsInsert, ids, owners, refs, assets, codes, flags, limits, dp, cp, dpn, cpn, created)
	return nil
}

// AccountsForUpdate implements ledger.Tx: the rows are locked FOR UPDATE, in
// ascending id order, until the transaction ends. Missing ids are absent.
// AccountsForUpdate sends the account locks and the reference lookup in one
// round trip; PostgreSQL runs them in order on this connection, so the lookup
// (a fresh READ COMMITTED snapshot) starts only after the locks are granted.
func (t *txn) AccountsForUpdate(ctx context.Context, ids []int64, refs []ledger.RefKey) ([]ledger.Account, []ledger.Transfer, error) {
	accounts := make([]ledger.Account, 0, len(ids))
	var transfers []ledger.Transfer
	b := t.batch()
	if len(ids) > 0 {
		b.Queue(sqlAccountsForUpdate, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				a, err := scanAccount(rows)
				if err != nil {
					return err
				}
				accounts = append(accounts, a)
			}
			return rows.Err()
		})
	}
	if len(refs) > 0 {
		owners, references := splitKeys(refs)
		b.Queue(sqlTransfersByReference, owners, references).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				tr, err := scanTransfer(rows)
				if err != nil {
					return err
				}
				transfers = append(transfers, tr)
			}
			return rows.Err()
		})
	}
	if err := t.send(ctx); err != nil {
		return nil, nil, fmt.Errorf("postgres: lock accounts and load references: %w", err)
	}
	return accounts, transfers, nil
}

// AccountsUpdateBalances implements ledger.Tx; the update is sent with the
// next statement of the transaction.
func (t *txn) AccountsUpdateBalances(_ context.Context, accounts []ledger.Account) error {
	n := len(accounts)
	ids, dp, cp, dpn, cpn := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, a := range accounts {
		ids[i], dp[i], cp[i], dpn[i], cpn[i] = a.ID, a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending
	}
	t.queue(sqlAccountsUpdateBalances, ids, dp, cp, dpn, cpn)
	return nil
}

// TransfersByReference implements ledger.Tx with one statement: missing keys
// are absent from the result.

// TransfersInsert implements ledger.Tx; the insert is sent with the next
// statement of the transaction. A (owner, reference) that another
// transaction inserted first fails the transaction with a unique violation,
// which Transact retries.
func (t *txn) TransfersInsert(_ context.Context, transfers []ledger.Transfer) error {
	n := len(transfers)
	ids, drs, crs, amounts, pendings := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	owners, refs, kinds, assets, codes, metas := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	timeouts, created := make([]pgtype.Timestamptz, n), make([]time.Time, n)
	for i, tr := range transfers {
		meta, err := encodeMetadata(tr.Metadata)
		if err != nil {
			return fmt.Errorf("postgres: transfer %d metadata: %w", tr.ID, err)
		}
		ids[i], owners[i], refs[i], kinds[i] = tr.ID, tr.Owner, tr.Reference, string(tr.Kind)
		drs[i], crs[i], amounts[i], assets[i], codes[i] = tr.DebitAccountID, tr.CreditAccountID, tr.Amount, tr.Asset, tr.Code
		pendings[i], timeouts[i], metas[i], created[i] = tr.PendingID, nullTime(tr.TimeoutAt), meta, tr.CreatedAt
	}
	t.queue(sqlTransfersInsert, ids, owners, refs, kinds, drs, crs, amounts, assets, codes, pendings, timeouts, metas, created)
	return nil
}

// HoldsForUpdate implements ledger.Tx: the rows are locked FOR UPDATE, in
// ascending id order, until the transaction ends. Missing ids are absent.
func (t *txn) HoldsForUpdate(ctx context.Context, ids []int64) ([]ledger.Hold, error) {
	out := make([]ledger.Hold, 0, len(ids))
	err := t.query(ctx, sqlHoldsForUpdate, []any{ids}, func(rows pgx.Rows) error {
		h, err := scanHold(rows)
		out = append(out, h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: lock holds: %w", err)
	}
	return out, nil
}

// HoldsInsert implements ledger.Tx; the insert is sent with the next
// statement of the transaction.
func (t *txn) HoldsInsert(_ context.Context, holds []ledger.Hold) error {
	n := len(holds)
	ids, drs, crs, amounts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	owners, assets, codes, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	timeouts, resolved := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, h := range holds {
		ids[i], owners[i], drs[i], crs[i], amounts[i] = h.TransferID, h.Owner, h.DebitAccountID, h.CreditAccountID, h.Amount
		assets[i], codes[i], states[i] = h.Asset, h.Code, string(h.State)
		timeouts[i], resolved[i] = nullTime(h.TimeoutAt), nullTime(h.ResolvedAt)
	}
	t.queue(sqlHoldsInsert, ids, owners, drs, crs, amounts, assets, codes, timeouts, states, resolved)
	return nil
}

// HoldsUpdate implements ledger.Tx; the update is sent with the next
// statement of the transaction.
func (t *txn) HoldsUpdate(_ context.Context, holds []ledger.Hold) error {
	n := len(holds)
	ids, states, resolved := make([]int64, n), make([]string, n), make([]pgtype.Timestamptz, n)
	for i, h := range holds {
		ids[i], states[i], resolved[i] = h.TransferID, string(h.State), nullTime(h.ResolvedAt)
	}
	t.queue(sqlHoldsUpdate, ids, states, resolved)
	return nil
}

// splitKeys returns the keys as two columns, leaving out keys that
// PostgreSQL text cannot hold (a NUL byte or invalid UTF-8): no row can have
// them, and sending them would fail the whole statement, and with it every
// other request of the batch.
func splitKeys(keys []ledger.RefKey) (owners, refs []string) {
	owners, refs = make([]string, 0, len(keys)), make([]string, 0, len(keys))
	for _, k := range keys {
		if storable(k.Owner) && storable(k.Reference) {
			owners, refs = append(owners, k.Owner), append(refs, k.Reference)
		}
	}
	return owners, refs
}

// storable reports whether s fits a PostgreSQL text value.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// collect scans every row with scan; no rows is a nil slice.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanOne[T any](r pgx.Row) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

func scanAccount(r pgx.Row) (ledger.Account, error) {
	var a ledger.Account
	var flags int64
	err := r.Scan(&a.ID, &a.Owner, &a.Reference, &a.Asset, &a.Code, &flags, &a.Limit,
		&a.DebitsPosted, &a.CreditsPosted, &a.DebitsPending, &a.CreditsPending, &a.CreatedAt)
	a.SetFlagBits(flags)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

func scanTransfer(r pgx.Row) (ledger.Transfer, error) {
	var t ledger.Transfer
	var ref, meta *string
	var pending *int64
	var timeout pgtype.Timestamptz
	err := r.Scan(&t.ID, &t.Owner, &ref, &t.Kind, &t.DebitAccountID, &t.CreditAccountID, &t.Amount,
		&t.Asset, &t.Code, &pending, &timeout, &meta, &t.CreatedAt)
	if err != nil {
		return t, err
	}
	if ref != nil {
		t.Reference = *ref
	}
	if pending != nil {
		t.PendingID = *pending
	}
	t.TimeoutAt = fromNullTime(timeout)
	t.CreatedAt = t.CreatedAt.UTC()
	if meta != nil && *meta != "" {
		if err := json.Unmarshal([]byte(*meta), &t.Metadata); err != nil {
			return t, fmt.Errorf("postgres: transfer %d metadata: %w", t.ID, err)
		}
	}
	return t, nil
}

func scanHold(r pgx.Row) (ledger.Hold, error) {
	var h ledger.Hold
	var timeout, resolved pgtype.Timestamptz
	err := r.Scan(&h.TransferID, &h.Owner, &h.DebitAccountID, &h.CreditAccountID, &h.Amount, &h.Asset, &h.Code,
		&timeout, &h.State, &resolved)
	h.TimeoutAt = fromNullTime(timeout)
	h.ResolvedAt = fromNullTime(resolved)
	return h, err
}

// encodeMetadata returns the JSON text of m, or "" (stored as NULL) when m is empty.
func encodeMetadata(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	buf, err := json.Marshal(m)
	return string(buf), err
}

// nullTime maps the zero time to NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromNullTime maps NULL to the zero time, and any time to UTC.
func fromNullTime(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// TransferList implements ledger.Store.
func (db *DB) TransferList(ctx context.Context, q ledger.TransferQuery) ([]ledger.Transfer, error) {
	where := []string{"owner = $1", "id > $2"}
	args := []any{q.Owner, q.AfterID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if q.AccountID != 0 {
		add("(debit_account_id = $? OR credit_account_id = $?)", q.AccountID)
	}
	if q.Kind != "" {
		add("kind = $?", string(q.Kind))
	}
	if !q.CreatedFrom.IsZero() {
		add("created_at >= $?", q.CreatedFrom)
	}
	if !q.CreatedBefore.IsZero() {
		add("created_at < $?", q.CreatedBefore)
	}
	args = append(args, q.Limit)
	sql := "SELECT " + selectList("", transferCols) + " FROM transfers WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY id LIMIT $%d", len(args))
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list transfers: %w", err)
	}
	out, err := collect(rows, scanTransfer)
	if err != nil {
		return nil, fmt.Errorf("postgres: list transfers: %w", err)
	}
	return out, nil
}
