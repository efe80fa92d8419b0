package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

var _ auth.MemberStore = (*DB)(nil)

// memberSelect reads memberships with their organization's name and their
// user's email.
const memberSelect = `SELECT m.org_id, o.name, m.user_id, u.email, m.created_at FROM org_members m
	JOIN organizations o ON o.id = m.org_id JOIN users u ON u.id = m.user_id`

func scanMember(s scanner) (auth.Member, error) {
	var m auth.Member
	var created int64
	err := s.Scan(&m.OrgID, &m.OrgName, &m.UserID, &m.Email, &created)
	m.CreatedAt = fromMicros(created)
	return m, err
}

// OrgMemberInsert implements auth.MemberStore: a membership that exists is
// left as it is. Errors: not_found.
func (db *DB) OrgMemberInsert(ctx context.Context, p auth.OrgMemberInsertParams) (bool, error) {
	n, err := db.writeExec(ctx, "INSERT INTO org_members (org_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT (org_id, user_id) DO NOTHING",
		p.OrgID, p.UserID, micros(p.CreatedAt))
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey {
		return false, apperr.NotFound("organization or user")
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: insert org member: %w", err)
	}
	return n == 1, nil
}

// OrgMemberDelete implements auth.MemberStore.
func (db *DB) OrgMemberDelete(ctx context.Context, p auth.OrgMemberDeleteParams) (bool, error) {
	n, err := db.writeExec(ctx, "DELETE FROM org_members WHERE org_id = ? AND user_id = ?", p.OrgID, p.UserID)
	if err != nil {
		return false, fmt.Errorf("sqlite: delete org member: %w", err)
	}
	return n == 1, nil
}

// OrgMemberByID implements auth.MemberStore. Errors: not_found.
func (db *DB) OrgMemberByID(ctx context.Context, orgID, userID string) (auth.Member, error) {
	m, err := scanMember(db.read.QueryRowContext(ctx, memberSelect+" WHERE m.org_id = ? AND m.user_id = ?", orgID, userID))
	if err != nil {
		return auth.Member{}, notFound(err, "membership")
	}
	return m, nil
}

// OrgMemberList implements auth.MemberStore.
func (db *DB) OrgMemberList(ctx context.Context, f auth.OrgMemberFilter) ([]auth.Member, error) {
	rows, err := db.read.QueryContext(ctx, memberSelect+" WHERE m.org_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?",
		f.OrgID, f.AfterUserID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list org members: %w", err)
	}
	return collect(rows, scanMember, "sqlite: scan org member")
}

// OrgMembershipList implements auth.MemberStore.
func (db *DB) OrgMembershipList(ctx context.Context, userID string, limit int) ([]auth.Member, error) {
	rows, err := db.read.QueryContext(ctx, memberSelect+" WHERE m.user_id = ? ORDER BY m.org_id LIMIT ?", userID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list memberships: %w", err)
	}
	return collect(rows, scanMember, "sqlite: scan membership")
}
