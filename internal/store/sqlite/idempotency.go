package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

// IdempotencyClaim implements idempotency.Store: insert the claim, or take
// over a stale one, or read what is there, in the next group write.
func (db *DB) IdempotencyClaim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	var got idempotency.Record
	var claimed bool
	err := db.group.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at
			WHERE idempotency_keys.done = 0 AND idempotency_keys.created_at < ?`,
			rec.OrgID, rec.Key, rec.RequestHash, micros(rec.CreatedAt), micros(staleBefore))
		if err != nil {
			return fmt.Errorf("sqlite: claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			got, claimed = rec, true
			return nil
		}
		var done int
		var status sql.NullInt64
		var ctype sql.NullString
		var created int64
		got, claimed = idempotency.Record{}, false
		err = tx.QueryRowContext(ctx, `SELECT org_id, key, request_hash, done, status, content_type, body, created_at
			FROM idempotency_keys WHERE org_id = ? AND key = ?`, rec.OrgID, rec.Key).
			Scan(&got.OrgID, &got.Key, &got.RequestHash, &done, &status, &ctype, &got.Body, &created)
		if err != nil {
			return fmt.Errorf("sqlite: read idempotency key: %w", err)
		}
		got.Done, got.Status, got.ContentType, got.CreatedAt = done == 1, int(status.Int64), ctype.String, fromMicros(created)
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
