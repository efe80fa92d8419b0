package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

// IdempotencyClaim implements idempotency.Store: one statement inserts the
// claim or takes over a stale one; when it did neither, the row is read.
func (db *DB) IdempotencyClaim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	// A claim released between the insert and the read is claimed again;
	// three rounds bound that race.
	for range 3 {
		got, claimed, err := db.idempotencyClaimOnce(ctx, rec, staleBefore)
		if !errors.Is(err, pgx.ErrNoRows) {
			return got, claimed, err
		}
	}
	return rec, false, fmt.Errorf("postgres: claim idempotency key: released repeatedly while claiming")
}

func (db *DB) idempotencyClaimOnce(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO idempotency_keys (org_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, created_at = excluded.created_at
		WHERE idempotency_keys.done = false AND idempotency_keys.created_at < $5`,
		rec.OrgID, rec.Key, rec.RequestHash, rec.CreatedAt, staleBefore)
	if err != nil {
		return rec, false, fmt.Errorf("postgres: claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return rec, true, nil
	}
	var got idempotency.Record
	var status *int32
	var ctype *string
	err = db.pool.QueryRow(ctx, `SELECT org_id, key, request_hash, done, status, content_type, body, created_at
		FROM idempotency_keys WHERE org_id = $1 AND key = $2`, rec.OrgID, rec.Key).
		Scan(&got.OrgID, &got.Key, &got.RequestHash, &got.Done, &status, &ctype, &got.Body, &got.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, false, err
	}
	if err != nil {
		return rec, false, fmt.Errorf("postgres: read idempotency key: %w", err)
	}
	if status != nil {
		got.Status = int(*status)
	}
	if ctype != nil {
		got.ContentType = *ctype
	}
	got.CreatedAt = got.CreatedAt.UTC()
	return got, false, nil
}

// IdempotencyComplete implements idempotency.Store.
func (db *DB) IdempotencyComplete(ctx context.Context, rec idempotency.Record) error {
	tag, err := db.pool.Exec(ctx, `UPDATE idempotency_keys SET done = true, status = $1, content_type = $2, body = $3
		WHERE org_id = $4 AND key = $5 AND request_hash = $6 AND done = false`,
		rec.Status, rec.ContentType, rec.Body, rec.OrgID, rec.Key, rec.RequestHash)
	if err != nil {
		return fmt.Errorf("postgres: complete idempotency key: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: complete idempotency key: the claim was lost")
	}
	return nil
}

// IdempotencyRelease implements idempotency.Store.
func (db *DB) IdempotencyRelease(ctx context.Context, orgID, key string) error {
	if _, err := db.pool.Exec(ctx, "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND done = false", orgID, key); err != nil {
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
