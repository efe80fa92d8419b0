package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

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

const auditCols = "seq, at, actor_type, actor_id, action, subject_type, subject_id, org_id, data, prev_hash, hash"

// AuditTransact implements audit.Store on the ledger's write transaction, so
// the audit.Tx it passes is a ledger.Tx too.
func (db *DB) AuditTransact(ctx context.Context, fn func(audit.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// AuditHeadForUpdate implements audit.Tx. The transaction began with BEGIN
// IMMEDIATE, so it already holds the file's write lock: no other writer, in
// this process or another, can move the head before it commits.
func (t *txn) AuditHeadForUpdate(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := t.tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, errors.New("sqlite: the audit head row is missing (has the store been migrated?)")
	}
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: read audit head: %w", err)
	}
	return seq, nonNil(hash), nil
}

// AuditInsert implements audit.Tx: one insert per entry (Append writes at
// most audit.EntriesPerAppend), then the head moves to the last entry only
// if it is still where the first one expects.
func (t *txn) AuditInsert(ctx context.Context, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ins, err := t.tx.PrepareContext(ctx, "INSERT INTO audit_entries ("+auditCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("sqlite: insert audit entries: %w", err)
	}
	defer ins.Close()
	for _, e := range entries {
		if _, err := ins.ExecContext(ctx, e.Seq, micros(e.At), string(e.Actor.Type), e.Actor.ID, e.Action,
			e.Subject.Type, e.Subject.ID, e.OrgID, string(e.Data), nonNil(e.PrevHash), nonNil(e.Hash)); err != nil {
			return fmt.Errorf("sqlite: insert audit entry %d: %w", e.Seq, err)
		}
	}
	last := entries[len(entries)-1]
	res, err := t.tx.ExecContext(ctx, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?",
		last.Seq, last.Hash, entries[0].Seq-1)
	if err != nil {
		return fmt.Errorf("sqlite: move audit head: %w", err)
	}
	return expectRows(res, 1, "move audit head")
}

// AuditList implements audit.Store.
func (db *DB) AuditList(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	before := f.BeforeSeq
	if before == 0 {
		before = math.MaxInt64
	}
	q := "SELECT " + auditCols + " FROM audit_entries WHERE seq > ? AND seq < ?"
	args := []any{f.AfterSeq, before}
	if f.SubjectType != "" {
		q += " AND subject_type = ?"
		args = append(args, f.SubjectType)
	}
	if f.SubjectID != "" {
		q += " AND subject_id = ?"
		args = append(args, f.SubjectID)
	}
	if f.OrgID != "" {
		q += " AND org_id = ?"
		args = append(args, f.OrgID)
	}
	if f.Newest {
		q += " ORDER BY seq DESC LIMIT ?"
	} else {
		q += " ORDER BY seq LIMIT ?"
	}
	rows, err := db.read.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit entries: %w", err)
	}
	return collect(rows, scanAuditEntry, "sqlite: scan audit entry")
}

// AuditScan implements audit.Store in one read transaction, so one snapshot.
func (db *DB) AuditScan(ctx context.Context, afterSeq int64, fn func(audit.Entry) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+auditCols+" FROM audit_entries WHERE seq > ? ORDER BY seq", afterSeq)
	if err != nil {
		return fmt.Errorf("sqlite: scan audit entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAuditEntry(rows)
		if err != nil {
			return fmt.Errorf("sqlite: scan audit entry: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan audit entries: %w", err)
	}
	return nil
}

// AuditHead implements audit.Store.
func (db *DB) AuditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	if err := db.read.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&seq, &hash); err != nil {
		return 0, nil, fmt.Errorf("sqlite: read audit head: %w", err)
	}
	return seq, nonNil(hash), nil
}

func scanAuditEntry(s scanner) (audit.Entry, error) {
	var e audit.Entry
	var at int64
	var actorType, data string
	err := s.Scan(&e.Seq, &at, &actorType, &e.Actor.ID, &e.Action, &e.Subject.Type, &e.Subject.ID, &e.OrgID, &data, &e.PrevHash, &e.Hash)
	e.At, e.Actor.Type, e.Data = fromMicros(at), audit.ActorType(actorType), json.RawMessage(data)
	e.PrevHash, e.Hash = nonNil(e.PrevHash), nonNil(e.Hash)
	return e, err
}

// nonNil returns b, or an empty slice for nil: an empty hash is stored as an
// empty blob, never NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
