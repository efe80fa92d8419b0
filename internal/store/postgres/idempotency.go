package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

var _ idempotency.Store = (*DB)(nil)

const idempotencyCols = "org_id, key, request_hash, done, status, content_type, body, created_at"

// The ledger's statements on idempotency_keys. The lookup is a loop of
// primary-key probes whatever the statistics say (see sqlAccountsByReference).
const (
	sqlIdempotencyByKeys = "SELECT i.org_id, i.key, i.request_hash, i.done, i.status, i.content_type, i.body, i.created_at" +
		" FROM unnest($1::text[], $2::text[]) AS k(org_id, key)" +
		" CROSS JOIN LATERAL (SELECT * FROM idempotency_keys WHERE org_id = k.org_id AND key = k.key LIMIT 1) i"
	sqlIdempotencyInsert = "INSERT INTO idempotency_keys (" + idempotencyCols + ") " +
		"SELECT org_id, key, request_hash, true, status, content_type, body, created_at FROM unnest(" +
		"$1::text[], $2::text[], $3::bytea[], $4::integer[], $5::text[], $6::bytea[], $7::timestamptz[]) " +
		"AS u(org_id, key, request_hash, status, content_type, body, created_at)"
)

func scanIdempotency(r pgx.Row) (idempotency.Record, error) {
	var rec idempotency.Record
	var status *int32
	var ctype *string
	err := r.Scan(&rec.OrgID, &rec.Key, &rec.RequestHash, &rec.Done, &status, &ctype, &rec.Body, &rec.CreatedAt)
	rec.CreatedAt = rec.CreatedAt.UTC()
	if status != nil {
		rec.Status = int(*status)
	}
	if ctype != nil {
		rec.ContentType = *ctype
	}
	return rec, err
}

// IdempotencyByKey implements idempotency.Store with one read. Errors: not_found.
func (db *DB) IdempotencyByKey(ctx context.Context, orgID, key string) (idempotency.Record, error) {
	if !storable(orgID) || !storable(key) {
		return idempotency.Record{}, apperr.NotFound("idempotency key")
	}
	rec, err := scanIdempotency(db.pool.QueryRow(ctx, "SELECT "+idempotencyCols+" FROM idempotency_keys WHERE org_id = $1 AND key = $2", orgID, key))
	if err != nil {
		return rec, notFound(err, "idempotency key")
	}
	return rec, nil
}

// IdempotencyByKeys implements ledger.Tx. Run after the batch's locks, it
// reads a fresh READ COMMITTED snapshot: a key another node committed while
// this one waited is seen. A key another node has inserted but not yet
// committed is not; then this batch's insert waits for it and fails with a
// unique violation, and Transact retries the batch, which then sees it.
func (t *txn) IdempotencyByKeys(ctx context.Context, keys []idempotency.OrgKey) ([]idempotency.Record, error) {
	orgs, ks := make([]string, 0, len(keys)), make([]string, 0, len(keys))
	for _, k := range keys {
		if storable(k.OrgID) && storable(k.Key) {
			orgs, ks = append(orgs, k.OrgID), append(ks, k.Key)
		}
	}
	var out []idempotency.Record
	err := t.query(ctx, sqlIdempotencyByKeys, []any{orgs, ks}, func(rows pgx.Rows) error {
		rec, err := scanIdempotency(rows)
		out = append(out, rec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotency keys by key: %w", err)
	}
	return out, nil
}

// IdempotencyInsert implements ledger.Tx: completed records, sent with the
// next statement of the transaction (see IdempotencyByKeys for a key that
// another node inserted first).
func (t *txn) IdempotencyInsert(_ context.Context, recs []idempotency.Record) error {
	n := len(recs)
	orgs, keys, ctypes := make([]string, n), make([]string, n), make([]string, n)
	hashes, bodies := make([][]byte, n), make([][]byte, n)
	statuses, created := make([]int32, n), make([]time.Time, n)
	for i, r := range recs {
		orgs[i], keys[i], hashes[i], statuses[i] = r.OrgID, r.Key, r.RequestHash, int32(r.Status)
		ctypes[i], bodies[i], created[i] = r.ContentType, r.Body, r.CreatedAt
	}
	t.queue(sqlIdempotencyInsert, orgs, keys, hashes, statuses, ctypes, bodies, created)
	return nil
}

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

// sqlIdempotencyKeep is sqlIdempotencyClaim for a completed record.
const sqlIdempotencyKeep = `
WITH claim AS (
	INSERT INTO idempotency_keys (org_id, key, request_hash, done, status, content_type, body, created_at)
	VALUES ($1, $2, $3, true, $6, $7, $8, $4)
	ON CONFLICT (org_id, key) DO UPDATE SET request_hash = excluded.request_hash, done = true, status = excluded.status,
		content_type = excluded.content_type, body = excluded.body, created_at = excluded.created_at
	WHERE idempotency_keys.done = false AND idempotency_keys.created_at < $5
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claim), k.request_hash, k.done, k.status, k.content_type, k.body, k.created_at
FROM (SELECT 1) AS one LEFT JOIN idempotency_keys k ON k.org_id = $1 AND k.key = $2`

// IdempotencyClaim implements idempotency.Store in the next group write.
func (db *DB) IdempotencyClaim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	return db.idempotencyInsert(ctx, rec, "claim", sqlIdempotencyClaim, rec.OrgID, rec.Key, rec.RequestHash, rec.CreatedAt, staleBefore)
}

// IdempotencyKeep implements idempotency.Store in the next group write.
func (db *DB) IdempotencyKeep(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	return db.idempotencyInsert(ctx, rec, "keep", sqlIdempotencyKeep, rec.OrgID, rec.Key, rec.RequestHash, rec.CreatedAt, staleBefore,
		int32(rec.Status), rec.ContentType, rec.Body)
}

// idempotencyInsert runs insert (sqlIdempotencyClaim or
// sqlIdempotencyKeep), which writes rec unless its key has a record it may
// not take over, and returns rec and true, or the record that stands and
// false.
func (db *DB) idempotencyInsert(ctx context.Context, rec idempotency.Record, what, insert string, args ...any) (idempotency.Record, bool, error) {
	// A row that another transaction inserted after this statement's
	// snapshot reads as absent; three rounds bound that race.
	for range 3 {
		var got idempotency.Record
		var claimed, found bool
		err := db.group.Do(ctx, &groupOp{sql: insert, args: args,
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
			return rec, false, fmt.Errorf("postgres: %s idempotency key: %w", what, err)
		case claimed:
			return rec, true, nil
		case found:
			return got, false, nil
		}
	}
	return rec, false, fmt.Errorf("postgres: %s idempotency key: the key changed hands repeatedly", what)
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

// IdempotencyDropClaim implements idempotency.Store in the next group write.
func (db *DB) IdempotencyDropClaim(ctx context.Context, orgID, key string, createdAt time.Time) error {
	err := db.group.Do(ctx, &groupOp{sql: "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND done = false AND created_at = $3",
		args: []any{orgID, key, createdAt}})
	if err != nil {
		return fmt.Errorf("postgres: drop idempotency claim: %w", err)
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
