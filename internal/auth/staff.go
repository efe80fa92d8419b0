package auth

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
)

// Role is what a staff user of the operator may do in the console. Every
// action a staff user takes is attributed to them (the audit log).
type Role string

const (
	RoleAdmin      Role = "admin"      // everything, including staff and keys
	RoleSupport    Role = "support"    // users, deals, disputes; reads the ledger
	RoleFinance    Role = "finance"    // deposits, payouts, ledger corrections; reads the rest
	RoleMonitoring Role = "monitoring" // probes, alerts and incident notices; reads the rest
)

// Roles lists every role, for help texts and validation.
var Roles = []Role{RoleAdmin, RoleSupport, RoleFinance, RoleMonitoring}

// Validate reports whether r is one of Roles. Errors: invalid (param "role").
func (r Role) Validate() error {
	if slices.Contains(Roles, r) {
		return nil
	}
	return apperr.Invalid("role", "unknown role %q: want one of admin, support, finance, monitoring", r)
}

// StaffIDPrefix starts every staff user's id.
const StaffIDPrefix = "stf_"

// StaffPageLimitMax bounds one FindStaffUsers page.
const StaffPageLimitMax = 1000

// EmailBytesMax bounds a staff user's email (RFC 5321's path limit).
const EmailBytesMax = 254

// CodeStaffUnauthenticated answers every sign-in that fails, whatever failed.
const CodeStaffUnauthenticated = "unauthenticated"

// Audit actions of staff changes (docs/audit.md), about the subject
// {StaffAuditSubject, the user's id}. Each is recorded in the transaction of
// its change; a change that changes nothing records nothing.
const (
	StaffAuditSubject         = "staff_user"
	AuditStaffCreated         = "staff.created"          // data: email, name, role
	AuditStaffRoleChanged     = "staff.role_changed"     // data: email, role, previous_role
	AuditStaffPasswordChanged = "staff.password_changed" // data: email, generated; never the password
	AuditStaffDisabled        = "staff.disabled"         // data: email, disabled_at
)

// StaffUser is a person of the operator who signs in to the console. The
// password is kept only as an argon2id hash.
type StaffUser struct {
	ID         string
	Email      string // lower case; unique
	Name       string
	Role       Role
	CreatedAt  time.Time
	DisabledAt time.Time // zero while the user may sign in
}

// StaffStore is what staff users need of a database. Each change runs in one
// write transaction with its AuditFunc, called after the change and only when
// it changed something; the function's error rolls the change back and is
// returned as it is.
type StaffStore interface {
	// StaffUserInsert inserts a user with the PHC string of their password,
	// then calls record.
	// Errors: conflict (param "email": a user has that email, or the id exists).
	StaffUserInsert(ctx context.Context, u StaffUser, passwordHash string, record AuditFunc) error
	// StaffUserByEmail returns a user and their password hash.
	// Errors: not_found.
	StaffUserByEmail(ctx context.Context, email string) (StaffUser, string, error)
	// StaffUserByID returns a user. Errors: not_found.
	StaffUserByID(ctx context.Context, id string) (StaffUser, error)
	// StaffUserList returns up to limit users with ids above afterID, by id.
	StaffUserList(ctx context.Context, afterID string, limit int) ([]StaffUser, error)
	// StaffUserSetRole changes only the role of the user with id, so a
	// concurrent disable is never undone, and then calls record with the
	// role the user had, read in the same transaction. A user who has the
	// role already is left as they are and record is not called.
	// Errors: not_found.
	StaffUserSetRole(ctx context.Context, id string, role Role, record func(ctx context.Context, tx audit.Tx, previous Role) error) error
	// StaffUserDisable sets the disabled time of the user with id to at and
	// calls record, unless the time is set already: disabling twice keeps
	// the first time and records nothing. Errors: not_found.
	StaffUserDisable(ctx context.Context, id string, at time.Time, record AuditFunc) error
	// StaffUserSetPassword stores a new password hash for the user with id,
	// ends every session of theirs (a password is changed after a
	// compromise: a stolen session must not outlive it), then calls
	// record. Errors: not_found.
	StaffUserSetPassword(ctx context.Context, id, passwordHash string, record AuditFunc) error
}

// StaffService manages the operator's staff users.
type StaffService struct {
	store StaffStore
	clock func() time.Time
}

// NewStaffService returns a StaffService; clock nil means time.Now.
func NewStaffService(s StaffStore, clock func() time.Time) *StaffService {
	if clock == nil {
		clock = time.Now
	}
	return &StaffService{store: s, clock: clock}
}

func (s *StaffService) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// StaffUserParams are the fields of a new staff user.
type StaffUserParams struct {
	Email    string
	Name     string
	Role     Role
	Password string // PasswordBytesMin..PasswordBytesMax bytes
}

// staffEntry is an audit entry by actor about the staff user u.
func staffEntry(actor audit.Actor, action string, u StaffUser) audit.Entry {
	return audit.Entry{Actor: actor, Action: action, Subject: audit.Subject{Type: StaffAuditSubject, ID: u.ID}}
}

// CreateStaffUser adds a staff user and records AuditStaffCreated by actor
// in the same transaction.
//
// Errors: invalid (email, name, role, password; actor), conflict (email
// taken), or the audit log's; on any error no user is added.
func (s *StaffService) CreateStaffUser(ctx context.Context, actor audit.Actor, p StaffUserParams) (StaffUser, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return StaffUser{}, err
	}
	if err := checkName("name", p.Name, 1); err != nil {
		return StaffUser{}, err
	}
	if err := p.Role.Validate(); err != nil {
		return StaffUser{}, err
	}
	if err := checkPassword(p.Password); err != nil {
		return StaffUser{}, err
	}
	u := StaffUser{ID: StaffIDPrefix + randomBase62(idRandomLen), Email: email, Name: p.Name, Role: p.Role, CreatedAt: s.now()}
	record := recordChange(u.CreatedAt, staffEntry(actor, AuditStaffCreated, u), map[string]any{"email": u.Email, "name": u.Name, "role": u.Role})
	if err := s.store.StaffUserInsert(ctx, u, hashPassword(p.Password), record); err != nil {
		return StaffUser{}, fmt.Errorf("auth: create staff user: %w", err)
	}
	return u, nil
}

// AuthenticateStaff checks an email and password. An unknown email, a wrong
// password and a disabled user get the same error, in about the same time.
//
// Errors: unauthenticated.
func (s *StaffService) AuthenticateStaff(ctx context.Context, email, password string) (StaffUser, error) {
	fail := &apperr.Error{Code: CodeStaffUnauthenticated, Message: "wrong email or password"}
	if len(password) > PasswordBytesMax {
		return StaffUser{}, fail
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		verifyPassword(dummyHash, password)
		return StaffUser{}, fail
	}
	u, hash, err := s.store.StaffUserByEmail(ctx, addr)
	if apperr.Is(err, apperr.CodeNotFound) {
		verifyPassword(dummyHash, password)
		return StaffUser{}, fail
	}
	if err != nil {
		return StaffUser{}, err
	}
	ok, err := verifyPassword(hash, password)
	if err != nil {
		return StaffUser{}, fmt.Errorf("auth: staff user %s: %w", u.ID, err)
	}
	if !ok || !u.DisabledAt.IsZero() {
		return StaffUser{}, fail
	}
	return u, nil
}

// FindStaffUserByEmail returns one staff user. Errors: not_found.
func (s *StaffService) FindStaffUserByEmail(ctx context.Context, email string) (StaffUser, error) {
	addr, err := normalizeEmail(email)
	if err != nil {
		return StaffUser{}, apperr.NotFound("staff user")
	}
	u, _, err := s.store.StaffUserByEmail(ctx, addr)
	return u, err
}

// FindStaffUserByID returns one staff user; a console session loads its
// user by id on every request, so a role change or a disable takes effect
// at once. Errors: not_found.
func (s *StaffService) FindStaffUserByID(ctx context.Context, id string) (StaffUser, error) {
	if !validID(id, StaffIDPrefix) {
		return StaffUser{}, apperr.NotFound("staff user")
	}
	return s.store.StaffUserByID(ctx, id)
}

// FindStaffUsers returns one page of staff users by id. Errors: invalid (limit).
func (s *StaffService) FindStaffUsers(ctx context.Context, afterID string, limit int) ([]StaffUser, error) {
	if limit < 1 || limit > StaffPageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be between 1 and %d", StaffPageLimitMax)
	}
	return s.store.StaffUserList(ctx, afterID, limit)
}

// SetStaffRole changes a staff user's role and records
// AuditStaffRoleChanged by actor, with the role they had, in the same
// transaction. Setting the role a user has changes and records nothing.
//
// Errors: not_found, invalid (role; actor), or the audit log's; on any error
// the role is unchanged.
func (s *StaffService) SetStaffRole(ctx context.Context, actor audit.Actor, email string, role Role) (StaffUser, error) {
	if err := role.Validate(); err != nil {
		return StaffUser{}, err
	}
	u, err := s.FindStaffUserByEmail(ctx, email)
	if err != nil {
		return StaffUser{}, err
	}
	now := s.now()
	err = s.store.StaffUserSetRole(ctx, u.ID, role, func(ctx context.Context, tx audit.Tx, previous Role) error {
		data := map[string]any{"email": u.Email, "role": role, "previous_role": previous}
		return recordChange(now, staffEntry(actor, AuditStaffRoleChanged, u), data)(ctx, tx)
	})
	if err != nil {
		return StaffUser{}, fmt.Errorf("auth: set staff role: %w", err)
	}
	return s.FindStaffUserByEmail(ctx, email)
}

// DisableStaffUser stops a staff user from signing in and records
// AuditStaffDisabled by actor in the same transaction. Disabling twice keeps
// the first time and records nothing the second time.
//
// Errors: not_found, invalid (actor), or the audit log's; on any error the
// user is not disabled by this call.
func (s *StaffService) DisableStaffUser(ctx context.Context, actor audit.Actor, email string) (StaffUser, error) {
	u, err := s.FindStaffUserByEmail(ctx, email)
	if err != nil {
		return StaffUser{}, err
	}
	at := s.now()
	record := recordChange(at, staffEntry(actor, AuditStaffDisabled, u), map[string]any{"email": u.Email, "disabled_at": at})
	if err := s.store.StaffUserDisable(ctx, u.ID, at, record); err != nil {
		return StaffUser{}, fmt.Errorf("auth: disable staff user: %w", err)
	}
	return s.FindStaffUserByEmail(ctx, email)
}

// StaffPasswordParams is a new password for the staff user with Email.
type StaffPasswordParams struct {
	Email     string
	Password  string // PasswordBytesMin..PasswordBytesMax bytes
	Generated bool   // Kinko generated it (NewPassword); the audit entry says so
}

// SetStaffPassword replaces a staff user's password, signs them out
// everywhere (their console sessions end), and records
// AuditStaffPasswordChanged by actor in the same transaction. Every call
// changes the stored hash, so every call records.
//
// Errors: not_found, invalid (password; actor), or the audit log's; on any
// error the old password stays.
func (s *StaffService) SetStaffPassword(ctx context.Context, actor audit.Actor, p StaffPasswordParams) error {
	if err := checkPassword(p.Password); err != nil {
		return err
	}
	u, err := s.FindStaffUserByEmail(ctx, p.Email)
	if err != nil {
		return err
	}
	record := recordChange(s.now(), staffEntry(actor, AuditStaffPasswordChanged, u), map[string]any{"email": u.Email, "generated": p.Generated})
	if err := s.store.StaffUserSetPassword(ctx, u.ID, hashPassword(p.Password), record); err != nil {
		return fmt.Errorf("auth: set staff password: %w", err)
	}
	return nil
}

// normalizeEmail returns a bare address in lower case.
// Errors: invalid (param "email").
func normalizeEmail(email string) (string, error) {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != strings.TrimSpace(email) || len(a.Address) > EmailBytesMax {
		return "", apperr.Invalid("email", "email must be a bare address such as ops@example.com, at most %d bytes", EmailBytesMax)
	}
	return strings.ToLower(a.Address), nil
}

func checkPassword(p string) error {
	if len(p) < PasswordBytesMin || len(p) > PasswordBytesMax || !utf8.ValidString(p) {
		return apperr.Invalid("password", "password must be UTF-8 of %d to %d bytes", PasswordBytesMin, PasswordBytesMax)
	}
	return nil
}

// NewPassword returns a random password for a staff user to change: 20
// base62 characters (119 bits).
func NewPassword() string { return randomBase62(20) }
