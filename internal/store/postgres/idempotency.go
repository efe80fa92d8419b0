package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

// sqlIdempotencyClaim inserts the claim, or takes over a stale one, and in
// the same statement reads the row as it stood before: when the claim was
// not taken, that row is the one to answer from.
const sqlIdempotencyClaim = `
WITH claim AS (
	INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
	ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at
	WHERE idempotency_keys.done = false AND idempotency_keys.created_at < $5
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claim), k.request_hash, k.done, k.status, k.content_type, k.body, k.created_at
FROM (SELECT 1) AS one LEFT JOIN idempotency_keys k ON k.org_id = $1 AND k.key = $2`

// IdempotencyClaim implements idempotency.Store in the next group write.
func (db *DB) IdempotencyClaim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	// A row that another transaction inserted after this statement's
	// snapshot reads as absent; three rounds bound that race.
	for range 3 {
		var got idempotency.Record
		var claimed, found bool
		err := db.group.Do(ctx, &groupOp{sql: sqlIdempotencyClaim,
			args: []any{rec.OrgID, rec.Key, rec.RequestHash, rec.CreatedAt, staleBefore},
			scan: func(rows pgx.Rows) error {
				// Runs again if its batch falls back to one statement at a time.
				claimed, found, got = false, false, idempotency.Record{}
				for rows.Next() {
					var hash []byte
					var done *bool
					var status *int32
					var ctype *string
					var body []byte
					var created *time.Time
					if err := rows.Scan(&claimed, &hash, &done, &status, &ctype, &body, &created); err != nil {
						return err
					}
					if done == nil {
						continue
					}
					found = true
					got = idempotency.Record{OrgID: rec.OrgID, Key: rec.Key, RequestHash: hash, Done: *done, Body: body, CreatedAt: created.UTC()}
					if status != nil {
						got.Status = int(*status)
					}
					if ctype != nil {
						got.ContentType = *ctype
					}
				}
				return rows.Err()
			}})
		switch {
		case err != nil:
			return rec, false, fmt.Errorf("postgres: claim idempotency key: %w", err)
		case claimed:
			return rec, true, nil
		case found:
			return got, false, nil
		}
	}
	return rec, false, fmt.Errorf("postgres: claim idempotency key: the key changed hands repeatedly while claiming")
}

// IdempotencyComplete implements idempotency.Store in the next group write.
func (db *DB) IdempotencyComplete(ctx context.Context, rec idempotency.Record) error {
	err := db.group.Do(ctx, &groupOp{
		sql: `UPDATE idempotency_keys SET done = true, status = $1, content_type = $2, body = $3
			WHERE org_id = $4 AND key = $5 AND request_hash = $6 AND done = false`,
		args: []any{rec.Status, rec.ContentType, rec.Body, rec.OrgID, rec.Key, rec.RequestHash},
		check: func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != 1 {
				return errors.New("the claim was lost")
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("postgres: complete idempotency key: %w", err)
	}
	return nil
}

// IdempotencyRelease implements idempotency.Store in the next group write.
func (db *DB) IdempotencyRelease(ctx context.Context, orgID, key string) error {
	err := db.group.Do(ctx, &groupOp{sql: "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND done = false", args: []any{orgID, key}})
	if err != nil {
		return fmt.Errorf("postgres: release idempotency key: %w", err)
	}
	return nil
}

// IdempotencyPurge implements idempotency.Store.
func (db *DB) IdempotencyPurge(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE (org_id, key) IN (
		SELECT org_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
