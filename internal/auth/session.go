package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// SessionKind says who a web session signs in: a portal user or a staff
// user. The two kinds live in separate cookies; a token of one kind never
// opens a session of the other.
type SessionKind string

const (
	SessionUser  SessionKind = "user"
	SessionStaff SessionKind = "staff"
)

// Bounds of web sessions. A session ends at whichever comes first: its
// idle timeout after the last request that touched it, or its absolute
// lifetime after sign-in. The console's are shorter: staff can move money.
const (
	UserSessionIdleTimeout  = time.Hour
	UserSessionLifetime     = 24 * time.Hour
	StaffSessionIdleTimeout = 30 * time.Minute
	StaffSessionLifetime    = 12 * time.Hour
	// SessionTouchResolution: a session's idle deadline is moved at most
	// once per this interval, so a busy session costs one write a minute,
	// not one per page. The idle timeout is thus exact to within it.
	SessionTouchResolution = time.Minute
	// SessionPurgeBatchMax bounds one PurgeExpiredSessions call.
	SessionPurgeBatchMax = 1000
	// SessionTokenBytes is the randomness of a session's cookie token and
	// of its CSRF token.
	SessionTokenBytes = 32
)

// SessionIDPrefix starts every session's id, which names the session in
// logs; the token that opens it is never logged or stored.
const SessionIDPrefix = "ses_"

// bounds returns the idle timeout and lifetime of sessions of kind k.
func (k SessionKind) bounds() (idle, lifetime time.Duration, ok bool) {
	switch k {
	case SessionUser:
		return UserSessionIdleTimeout, UserSessionLifetime, true
	case SessionStaff:
		return StaffSessionIdleTimeout, StaffSessionLifetime, true
	}
	return 0, 0, false
}

// Session is a signed-in browser. Only the SHA-256 hash of its cookie
// token is stored; its CSRF token, which every form of the session carries
// and every POST must echo, is stored as it is.
type Session struct {
	ID            string
	Kind          SessionKind
	SubjectID     string // a User's id or a StaffUser's id
	CSRFToken     string
	CreatedAt     time.Time
	IdleExpiresAt time.Time // moved forward by use, never past ExpiresAt
	ExpiresAt     time.Time // CreatedAt + the kind's lifetime
}

// CheckCSRF reports, in constant time, whether token is the session's
// CSRF token.
func (s Session) CheckCSRF(token string) bool {
	return s.CSRFToken != "" && equalTokens(s.CSRFToken, token)
}

// SessionStore is what web sessions need of a database.
type SessionStore interface {
	// SessionInsert inserts a session with the hash of its token.
	// Errors: conflict (the id or the token hash exists).
	SessionInsert(ctx context.Context, p SessionInsertParams) error
	// SessionByTokenHash returns the session whose token hashes to hash,
	// expired or not. Errors: not_found.
	SessionByTokenHash(ctx context.Context, hash []byte) (Session, error)
	// SessionTouch sets a session's idle deadline to p.IdleExpiresAt when
	// it is at or before p.Cutoff, and does nothing otherwise (nor for an
	// unknown session).
	SessionTouch(ctx context.Context, p SessionTouchParams) error
	// SessionDelete deletes a session; deleting a deleted one is no error.
	SessionDelete(ctx context.Context, id string) error
	// SessionPurge deletes up to p.Limit sessions whose idle deadline is at
	// or before p.Before (the idle deadline never passes the absolute one)
	// and returns how many it deleted.
	SessionPurge(ctx context.Context, p PurgeParams) (int, error)
}

// SessionInsertParams is a new session and the SHA-256 hash of its token.
type SessionInsertParams struct {
	Session   Session
	TokenHash []byte
}

// SessionTouchParams moves a session's idle deadline to IdleExpiresAt
// unless it was moved after Cutoff.
type SessionTouchParams struct {
	ID            string
	IdleExpiresAt time.Time
	Cutoff        time.Time
}

// SessionService creates, finds and revokes web sessions. It is safe for
// concurrent use.
type SessionService struct {
	store SessionStore
	clock func() time.Time
}

// NewSessionService returns a SessionService; clock nil means time.Now.
func NewSessionService(s SessionStore, clock func() time.Time) *SessionService {
	if clock == nil {
		clock = time.Now
	}
	return &SessionService{store: s, clock: clock}
}

func (s *SessionService) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// newSessionToken returns SessionTokenBytes random bytes, base64url (43
// characters).
func newSessionToken() string {
	b := make([]byte, SessionTokenBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionTokenLen is the length of every session token.
var sessionTokenLen = base64.RawURLEncoding.EncodedLen(SessionTokenBytes)

// NewCSRFToken returns a fresh random token for a form, of the same shape
// as a session's CSRF token. The web edge gives one to browsers that have
// no session yet.
func NewCSRFToken() string { return newSessionToken() }

// CreateSession signs subjectID in as a session of kind and returns the
// session and the token for its cookie, which is not kept anywhere. Callers
// revoke the browser's previous session first (rotation on sign-in), so that
// a token planted before sign-in never opens a signed-in session.
//
// Errors: invalid (param "kind").
func (s *SessionService) CreateSession(ctx context.Context, kind SessionKind, subjectID string) (Session, string, error) {
	idle, lifetime, ok := kind.bounds()
	if !ok {
		return Session{}, "", apperr.Invalid("kind", "unknown session kind %q", kind)
	}
	now := s.now()
	var err error
	for range insertAttemptsMax {
		token := newSessionToken()
		sess := Session{
			ID: SessionIDPrefix + randomBase62(idRandomLen), Kind: kind, SubjectID: subjectID, CSRFToken: newSessionToken(),
			CreatedAt: now, IdleExpiresAt: now.Add(idle), ExpiresAt: now.Add(lifetime),
		}
		err = s.store.SessionInsert(ctx, SessionInsertParams{Session: sess, TokenHash: hashSecret(token)})
		if err == nil {
			return sess, token, nil
		}
		if !apperr.Is(err, apperr.CodeConflict) {
			break
		}
	}
	return Session{}, "", fmt.Errorf("auth: create session: %w", err)
}

// FindSession returns the live session of kind that token opens and moves
// its idle deadline (at most once per SessionTouchResolution). Callers
// still load the session's subject and refuse a disabled one.
//
// Errors: not_found (a malformed, unknown, revoked or expired token, or one
// of the other kind: all alike).
func (s *SessionService) FindSession(ctx context.Context, kind SessionKind, token string) (Session, error) {
	idle, _, ok := kind.bounds()
	if !ok || len(token) != sessionTokenLen {
		return Session{}, apperr.NotFound("session")
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashSecret(token))
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	if sess.Kind != kind || !now.Before(sess.IdleExpiresAt) || !now.Before(sess.ExpiresAt) {
		return Session{}, apperr.NotFound("session")
	}
	next := now.Add(idle)
	if next.After(sess.ExpiresAt) {
		next = sess.ExpiresAt
	}
	if cutoff := next.Add(-SessionTouchResolution); !sess.IdleExpiresAt.After(cutoff) {
		if err := s.store.SessionTouch(ctx, SessionTouchParams{ID: sess.ID, IdleExpiresAt: next, Cutoff: cutoff}); err != nil {
			return Session{}, fmt.Errorf("auth: touch session %s: %w", sess.ID, err)
		}
		sess.IdleExpiresAt = next
	}
	return sess, nil
}

// RevokeSession ends a session (sign-out); revoking twice is no error.
func (s *SessionService) RevokeSession(ctx context.Context, id string) error {
	if err := s.store.SessionDelete(ctx, id); err != nil {
		return fmt.Errorf("auth: revoke session %s: %w", id, err)
	}
	return nil
}

// PurgeExpiredSessions deletes up to SessionPurgeBatchMax expired sessions
// and returns how many it deleted. Expired sessions open nothing anyway;
// this only keeps the table small.
func (s *SessionService) PurgeExpiredSessions(ctx context.Context) (int, error) {
	return s.store.SessionPurge(ctx, PurgeParams{Before: s.now(), Limit: SessionPurgeBatchMax})
}
