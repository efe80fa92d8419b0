package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/ledger"
)

var (
	_ audit.Store = (*DB)(nil)
	// A product's transaction interface embeds both: one value serves both.
	_ interface {
		ledger.Tx
		audit.Tx
	} = (*txn)(nil)
)

const (
	auditCols = "seq, at, actor_type, actor_id, action, subject_type, subject_id, org_id, data, prev_hash, hash"

	// sqlAuditHeadForUpdate locks the one head row: every appender on every
	// node waits here, so the chain never forks. At READ COMMITTED the row
	// read after the wait is the one the previous appender committed.
	sqlAuditHeadForUpdate = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
	sqlAuditHead          = "SELECT seq, hash FROM audit_head WHERE id = 1"
	sqlAuditInsert        = "INSERT INTO audit_entries (" + auditCols + ") SELECT * FROM unnest(" +
		"$1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], " +
		"$9::text[], $10::bytea[], $11::bytea[])"
	// sqlAuditHeadMove moves the head only from where the first new entry
	// expects it; a head that moved (it cannot, under the lock) touches no
	// row and fails the transaction.
	sqlAuditHeadMove = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3"
	sqlAuditScan     = "SELECT " + auditCols + " FROM audit_entries WHERE seq > $1 ORDER BY seq"
)

// AuditTransact implements audit.Store on the ledger's transaction type, so
// the audit.Tx it passes is a ledger.Tx too; retried like Transact.
func (db *DB) AuditTransact(ctx context.Context, fn func(audit.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// AuditHeadForUpdate implements audit.Tx; it sends the queued writes with it.
func (t *txn) AuditHeadForUpdate(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := t.queryRow(ctx, sqlAuditHeadForUpdate, nil, &seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, errors.New("postgres: the audit head row is missing (has the store been migrated?)")
	}
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: lock audit head: %w", err)
	}
	return seq, nonNil(hash), nil
}

// errAuditHeadMoved reports a head that was not where the entries expected.
var errAuditHeadMoved = errors.New("postgres: move audit head: the head is not where the entries expect it")

// AuditInsert implements audit.Tx: one insert for all entries and the head's
// move, queued and sent with the next statement of the transaction.
func (t *txn) AuditInsert(_ context.Context, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	n := len(entries)
	seqs, ats := make([]int64, n), make([]time.Time, n)
	actorTypes, actorIDs, actions := make([]string, n), make([]string, n), make([]string, n)
	subjectTypes, subjectIDs, orgIDs, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prevs, hashes := make([][]byte, n), make([][]byte, n)
	for i, e := range entries {
		seqs[i], ats[i] = e.Seq, e.At
		actorTypes[i], actorIDs[i], actions[i] = string(e.Actor.Type), e.Actor.ID, e.Action
		subjectTypes[i], subjectIDs[i], orgIDs[i], data[i] = e.Subject.Type, e.Subject.ID, e.OrgID, string(e.Data)
		prevs[i], hashes[i] = nonNil(e.PrevHash), nonNil(e.Hash)
	}
	t.queue(sqlAuditInsert, seqs, ats, actorTypes, actorIDs, actions, subjectTypes, subjectIDs, orgIDs, data, prevs, hashes)
	last := entries[n-1]
	t.batch().Queue(sqlAuditHeadMove, last.Seq, last.Hash, entries[0].Seq-1).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return errAuditHeadMoved
		}
		return nil
	})
	return nil
}

// AuditList implements audit.Store. A subject filter walks
// audit_entries_subject, an organization filter audit_entries_org, and no
// filter the primary key, each from the cursor.
func (db *DB) AuditList(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	before := f.BeforeSeq
	if before == 0 {
		before = math.MaxInt64
	}
	q := "SELECT " + auditCols + " FROM audit_entries WHERE seq > $1 AND seq < $2"
	args := []any{f.AfterSeq, before}
	add := func(cond, v string) {
		args = append(args, v)
		q += fmt.Sprintf(" AND %s = $%d", cond, len(args))
	}
	if f.SubjectType != "" {
		add("subject_type", f.SubjectType)
	}
	if f.SubjectID != "" {
		add("subject_id", f.SubjectID)
	}
	if f.OrgID != "" {
		add("org_id", f.OrgID)
	}
	order := "seq"
	if f.Newest {
		order = "seq DESC"
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY %s LIMIT $%d", order, len(args))
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit entries: %w", err)
	}
	out, err := collect(rows, scanAuditEntry)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit entries: %w", err)
	}
	return out, nil
}

// AuditScan implements audit.Store: one statement, so one snapshot, whose
// rows stream as fn consumes them.
func (db *DB) AuditScan(ctx context.Context, afterSeq int64, fn func(audit.Entry) error) error {
	rows, err := db.pool.Query(ctx, sqlAuditScan, afterSeq)
	if err != nil {
		return fmt.Errorf("postgres: scan audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAuditEntry(rows)
		if err != nil {
			return fmt.Errorf("postgres: scan audit entry: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan audit entries: %w", err)
	}
	return nil
}

// AuditHead implements audit.Store.
func (db *DB) AuditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	if err := db.pool.QueryRow(ctx, sqlAuditHead).Scan(&seq, &hash); err != nil {
		return 0, nil, fmt.Errorf("postgres: read audit head: %w", err)
	}
	return seq, nonNil(hash), nil
}

func scanAuditEntry(r pgx.Row) (audit.Entry, error) {
	var e audit.Entry
	var actorType, data string
	if err := r.Scan(&e.Seq, &e.At, &actorType, &e.Actor.ID, &e.Action, &e.Subject.Type, &e.Subject.ID, &e.OrgID, &data, &e.PrevHash, &e.Hash); err != nil {
		return audit.Entry{}, err
	}
	e.At, e.Actor.Type, e.Data = e.At.UTC(), audit.ActorType(actorType), []byte(data)
	e.PrevHash, e.Hash = nonNil(e.PrevHash), nonNil(e.Hash)
	return e, nil
}

// nonNil returns b, or an empty slice for nil: an empty hash is stored as an
// empty bytea, never NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
