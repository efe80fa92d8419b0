package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

const idempotencyCols = "org_id, key, request_hash, done, status, content_type, body, created_at"

// The ledger's statements on idempotency_keys, prepared with the others
// (statements). Hashes and bodies travel as hex, since JSON carries no bytes,
// and are stored as the same BLOBs the group writes store.
const (
	idempotencyByKeySQL = "SELECT " + idempotencyCols + " FROM idempotency_keys " +
		"WHERE (org_id, key) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))"
	idempotencyInsertSQL = "INSERT INTO idempotency_keys (" + idempotencyCols + ") " +
		"SELECT value ->> 0, value ->> 1, unhex(value ->> 2), 1, value ->> 3, value ->> 4, unhex(value ->> 5), value ->> 6 FROM json_each(?)"
)

func scanIdempotency(s scanner) (idempotency.Record, error) {
	var rec idempotency.Record
	var done int
	var status sql.NullInt64
	var ctype sql.NullString
	var created int64
	err := s.Scan(&rec.OrgID, &rec.Key, &rec.RequestHash, &done, &status, &ctype, &rec.Body, &created)
	rec.Done, rec.Status, rec.ContentType, rec.CreatedAt = done == 1, int(status.Int64), ctype.String, fromMicros(created)
	return rec, err
}

// IdempotencyByKey implements idempotency.Store on the read pool. Errors: not_found.
func (db *DB) IdempotencyByKey(ctx context.Context, orgID, key string) (idempotency.Record, error) {
	rec, err := scanIdempotency(db.read.QueryRowContext(ctx,
		"SELECT "+idempotencyCols+" FROM idempotency_keys WHERE org_id = ? AND key = ?", orgID, key))
	if err != nil {
		return rec, notFound(err, "idempotency key")
	}
	return rec, nil
}

// IdempotencyByKeys implements ledger.Tx: the records of keys, in the
// transaction that will write a batch's own.
func (t *txn) IdempotencyByKeys(ctx context.Context, keys []idempotency.OrgKey) ([]idempotency.Record, error) {
	var j jsonRows
	for _, k := range keys {
		j.row().str(k.OrgID).str(k.Key)
	}
	rows, err := t.stmt(ctx, t.st.idempotencyByKey).QueryContext(ctx, j.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency keys by key: %w", err)
	}
	return collect(rows, scanIdempotency, "sqlite: scan idempotency key")
}

// IdempotencyInsert implements ledger.Tx: completed records, in one statement.
func (t *txn) IdempotencyInsert(ctx context.Context, recs []idempotency.Record) error {
	var j jsonRows
	for _, r := range recs {
		j.row().str(r.OrgID).str(r.Key).hex(r.RequestHash).int(int64(r.Status)).str(r.ContentType).
			hex(r.Body).int(micros(r.CreatedAt))
	}
	res, err := t.exec(ctx, t.st.idempotencyInsert, j.String())
	if err != nil {
		return fmt.Errorf("sqlite: insert idempotency keys: %w", err)
	}
	return expectRows(res, len(recs), "insert idempotency keys")
}

// IdempotencyClaim implements idempotency.Store: insert the claim, or take
// over a stale one, or read what is there, in the next group write.
func (db *DB) IdempotencyClaim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	return db.idempotencyInsert(ctx, rec, "claim", `INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at
		WHERE idempotency_keys.done = 0 AND idempotency_keys.created_at < ?`,
		rec.OrgID, rec.Key, rec.RequestHash, micros(rec.CreatedAt), micros(staleBefore))
}

// IdempotencyKeep implements idempotency.Store: insert the completed
// record, or take over a stale claim with it, or read what is there, in
// the next group write.
func (db *DB) IdempotencyKeep(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	return db.idempotencyInsert(ctx, rec, "keep", `INSERT INTO idempotency_keys (`+idempotencyCols+`) VALUES (?, ?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, done = 1, status = excluded.status,
			content_type = excluded.content_type, body = excluded.body, created_at = excluded.created_at
		WHERE idempotency_keys.done = 0 AND idempotency_keys.created_at < ?`,
		rec.OrgID, rec.Key, rec.RequestHash, rec.Status, rec.ContentType, rec.Body, micros(rec.CreatedAt), micros(staleBefore))
}

// idempotencyInsert runs insert, which writes rec unless its key has a
// record it may not take over, and returns rec and true, or the record
// that stands and false.
func (db *DB) idempotencyInsert(ctx context.Context, rec idempotency.Record, what, insert string, args ...any) (idempotency.Record, bool, error) {
	var got idempotency.Record
	var claimed bool
	err := db.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insert, args...)
		if err != nil {
			return fmt.Errorf("sqlite: %s idempotency key: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			got, claimed = rec, true
			return nil
		}
		claimed = false
		got, err = scanIdempotency(tx.QueryRowContext(ctx, "SELECT "+idempotencyCols+" FROM idempotency_keys WHERE org_id = ? AND key = ?", rec.OrgID, rec.Key))
		if err != nil {
			return fmt.Errorf("sqlite: read idempotency key: %w", err)
		}
		return nil
	})
	return got, claimed, err
}

// IdempotencyComplete implements idempotency.Store in the next group write.
func (db *DB) IdempotencyComplete(ctx context.Context, rec idempotency.Record) error {
	return db.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET done = 1, status = ?, content_type = ?, body = ?
			WHERE org_id = ? AND key = ? AND request_hash = ? AND done = 0`,
			rec.Status, rec.ContentType, rec.Body, rec.OrgID, rec.Key, rec.RequestHash)
		if err != nil {
			return fmt.Errorf("sqlite: complete idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("sqlite: complete idempotency key: the claim was lost")
		}
		return nil
	})
}

// IdempotencyDropClaim implements idempotency.Store in the next group write.
func (db *DB) IdempotencyDropClaim(ctx context.Context, orgID, key string, createdAt time.Time) error {
	return db.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE org_id = ? AND key = ? AND done = 0 AND created_at = ?",
			orgID, key, micros(createdAt)); err != nil {
			return fmt.Errorf("sqlite: drop idempotency claim: %w", err)
		}
		return nil
	})
}

// IdempotencyRelease implements idempotency.Store in the next group write.
func (db *DB) IdempotencyRelease(ctx context.Context, orgID, key string) error {
	return db.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE org_id = ? AND key = ? AND done = 0", orgID, key); err != nil {
			return fmt.Errorf("sqlite: release idempotency key: %w", err)
		}
		return nil
	})
}

// IdempotencyPurge implements idempotency.Store.
func (db *DB) IdempotencyPurge(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (org_id, key) IN (
		SELECT org_id, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)`, micros(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge idempotency keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
