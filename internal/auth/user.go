package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Portal users are the end users of the operator's products (buyers,
// sellers, later points members and wallet holders) who sign up in the
// portal with an email and a password. Staff users (staff.go) are a
// separate kind of person, with their own table, service and sessions.

// UserIDPrefix starts every portal user's id.
const UserIDPrefix = "usr_"

// Bounds of email verification.
const (
	// VerificationTokenTTL is how long a verification link works.
	VerificationTokenTTL = 24 * time.Hour
	// VerificationResendIntervalMin is how soon after one link another may
	// be sent to the same user, so that the resend form cannot flood an
	// inbox.
	VerificationResendIntervalMin = time.Minute
	// VerificationTokenLen is the length of a verification token: base62,
	// 43 characters (256 bits).
	VerificationTokenLen = 43
	// VerificationPurgeBatchMax bounds one PurgeExpiredVerifications call.
	VerificationPurgeBatchMax = 1000
)

// Error codes of portal users beyond apperr's.
const (
	// CodeUserUnauthenticated answers a sign-in with an unknown email, a
	// wrong password or a disabled user, whichever it was.
	CodeUserUnauthenticated = "unauthenticated"
	// CodeEmailUnverified answers a sign-in with the right password by a
	// user who has not confirmed their email yet.
	CodeEmailUnverified = "email_unverified"
	// CodeTooSoon answers a request to resend a verification link within
	// VerificationResendIntervalMin of the last one.
	CodeTooSoon = "too_soon"
)

// Locale is the language a user reads the portal and their mail in.
type Locale string

const (
	LocaleJa Locale = "ja"
	LocaleEn Locale = "en"
)

// Locales lists every locale; the first is the default.
var Locales = []Locale{LocaleJa, LocaleEn}

// Validate reports whether l is one of Locales. Errors: invalid (param "locale").
func (l Locale) Validate() error {
	if slices.Contains(Locales, l) {
		return nil
	}
	return apperr.Invalid("locale", "unknown locale %q: want ja or en", l)
}

// User is a portal user. The password is kept only as an argon2id hash.
type User struct {
	ID              string
	Email           string    // lower case; unique among portal users
	EmailVerifiedAt time.Time // zero until the user opens the link we mailed
	Locale          Locale
	CreatedAt       time.Time
	Disabled        bool // a disabled user cannot sign in
}

// Verified reports whether u has confirmed their email.
func (u User) Verified() bool { return !u.EmailVerifiedAt.IsZero() }

// UserStore is what portal users need of a database.
type UserStore interface {
	// UserInsert inserts a user with the hash of their password and, in the
	// same transaction, their first verification token.
	// Errors: conflict (param "email": a user has that email, or the id exists).
	UserInsert(ctx context.Context, p UserInsertParams) error
	// UserByEmail returns a user and their password hash. Errors: not_found.
	UserByEmail(ctx context.Context, email string) (User, string, error)
	// UserByID returns a user. Errors: not_found.
	UserByID(ctx context.Context, id string) (User, error)
	// UserSetLocale changes only a user's locale. Errors: not_found.
	UserSetLocale(ctx context.Context, p UserSetLocaleParams) error
	// UserDisable marks a user disabled at p.At unless they are already
	// (disabling twice keeps the first time). Errors: not_found.
	UserDisable(ctx context.Context, p UserDisableParams) error

	// EmailVerificationReplace stores p as the user's one verification
	// token, replacing any earlier one, unless the earlier one was created
	// after p.NotAfter: then it changes nothing and returns code too_soon.
	// Errors: too_soon, not_found (no such user).
	EmailVerificationReplace(ctx context.Context, p EmailVerificationParams) error
	// EmailVerificationConsume deletes the token whose hash is p.TokenHash
	// if it expires after p.At and, in the same transaction, marks its
	// user's email verified at p.At unless it already is; it returns the
	// user as stored afterwards. Of two calls with one token, one succeeds.
	// Errors: not_found (unknown, used or expired token).
	EmailVerificationConsume(ctx context.Context, p EmailVerificationConsumeParams) (User, error)
	// EmailVerificationLive reports whether a token with hash tokenHash
	// exists and expires after at, reading only: VerifyEmail asks before it
	// hashes the new password, so a made-up token costs no hashing.
	EmailVerificationLive(ctx context.Context, tokenHash []byte, at time.Time) (bool, error)
	// EmailVerificationPurge deletes up to p.Limit tokens that expired at
	// or before p.Before and returns how many it deleted.
	EmailVerificationPurge(ctx context.Context, p PurgeParams) (int, error)
}

// UserInsertParams is a new user, their password hash and their first
// verification token.
type UserInsertParams struct {
	User         User
	PasswordHash string
	Verification EmailVerificationParams // UserID is User.ID
}

// UserSetLocaleParams names a user and their new locale.
type UserSetLocaleParams struct {
	ID     string
	Locale Locale
}

// UserDisableParams names a user and when they were disabled.
type UserDisableParams struct {
	ID string
	At time.Time
}

// EmailVerificationParams is a verification token as stored: only the
// SHA-256 hash of the token the user is mailed.
type EmailVerificationParams struct {
	UserID    string
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// NotAfter: an earlier token created after this time is kept and the
	// call returns too_soon. Ignored by UserInsert.
	NotAfter time.Time
}

// EmailVerificationConsumeParams names a token by its hash and the time it
// is used at.
type EmailVerificationConsumeParams struct {
	TokenHash []byte
	At        time.Time
	// PasswordHash, when set, becomes the user's password: the person who
	// proved they read the mailbox chooses it (VerifyEmail).
	PasswordHash string
}

// PurgeParams bounds a purge of expired rows: up to Limit rows that
// expired at or before Before.
type PurgeParams struct {
	Before time.Time
	Limit  int
}

// UserService signs portal users up, verifies their email and signs them
// in. It is safe for concurrent use.
type UserService struct {
	store UserStore
	clock func() time.Time
}

// NewUserService returns a UserService; clock nil means time.Now.
func NewUserService(s UserStore, clock func() time.Time) *UserService {
	if clock == nil {
		clock = time.Now
	}
	return &UserService{store: s, clock: clock}
}

func (s *UserService) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// SignUpParams are what a person enters to sign up.
type SignUpParams struct {
	Email    string
	Password string // PasswordBytesMin..PasswordBytesMax bytes, as for staff
	Locale   Locale // the language the page was shown in; mail goes out in it
}

// SignUp creates an unverified user and returns it with the verification
// token to mail them; the token is not kept anywhere, only its hash. The
// password is hashed before the email is checked for a taken one, so that
// both answers take about the same time; callers should answer a taken
// email as they answer success (and mail the address's owner instead), so
// that the form does not tell who has an account.
//
// Errors: invalid (email, password, locale), conflict (param "email").
func (s *UserService) SignUp(ctx context.Context, p SignUpParams) (User, string, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return User{}, "", err
	}
	if err := checkPassword(p.Password); err != nil {
		return User{}, "", err
	}
	if err := p.Locale.Validate(); err != nil {
		return User{}, "", err
	}
	hash := hashPassword(p.Password)
	now := s.now()
	for range insertAttemptsMax {
		u := User{ID: UserIDPrefix + randomBase62(idRandomLen), Email: email, Locale: p.Locale, CreatedAt: now}
		token := randomBase62(VerificationTokenLen)
		err = s.store.UserInsert(ctx, UserInsertParams{User: u, PasswordHash: hash, Verification: EmailVerificationParams{
			UserID: u.ID, TokenHash: hashSecret(token), CreatedAt: now, ExpiresAt: now.Add(VerificationTokenTTL),
		}})
		if err == nil {
			return u, token, nil
		}
		if !apperr.Is(err, apperr.CodeConflict) {
			break
		}
		// A taken email conflicts again on every attempt; a taken id
		// (119 random bits) does not.
		if _, _, lookErr := s.store.UserByEmail(ctx, email); lookErr == nil {
			break
		}
	}
	return User{}, "", fmt.Errorf("auth: sign up: %w", err)
}

// ResendVerification makes a new verification token for the unverified,
// enabled user with email, replacing the one mailed before, and returns
// the user and the token to mail. Callers answer every outcome but invalid
// alike, so that the form does not tell who has an account.
//
// Errors: invalid (email), not_found (no such user, or verified already, or
// disabled), too_soon (the last token is younger than
// VerificationResendIntervalMin).
func (s *UserService) ResendVerification(ctx context.Context, email string) (User, string, error) {
	addr, err := normalizeEmail(email)
	if err != nil {
		return User{}, "", err
	}
	u, _, err := s.store.UserByEmail(ctx, addr)
	if err != nil {
		return User{}, "", err
	}
	if u.Verified() || u.Disabled {
		return User{}, "", apperr.NotFound("unverified user")
	}
	now := s.now()
	token := randomBase62(VerificationTokenLen)
	err = s.store.EmailVerificationReplace(ctx, EmailVerificationParams{
		UserID: u.ID, TokenHash: hashSecret(token), CreatedAt: now, ExpiresAt: now.Add(VerificationTokenTTL),
		NotAfter: now.Add(-VerificationResendIntervalMin),
	})
	if err != nil {
		return User{}, "", err
	}
	return u, token, nil
}

// VerifyEmail uses a verification token: the user's email is verified,
// their password becomes password, and the token works no more. The
// password is chosen here, by whoever proved they read the mailbox, not
// kept from the sign-up: otherwise someone who signed up first with
// another's address, and a password of their own, would hold the account
// once its owner confirmed the address. Verifying a verified user's email
// again with a newer token keeps the first time.
//
// Errors: invalid (password), not_found (the token: unknown, used,
// replaced or expired).
func (s *UserService) VerifyEmail(ctx context.Context, token, password string) (User, error) {
	if len(token) != VerificationTokenLen || !isBase62(token) {
		return User{}, apperr.NotFound("verification token")
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	// A made-up token is refused before the password is hashed (19 MiB
	// and tens of milliseconds each, for anyone who posts the form).
	if live, err := s.store.EmailVerificationLive(ctx, hashSecret(token), s.now()); err != nil {
		return User{}, err
	} else if !live {
		return User{}, apperr.NotFound("verification token")
	}
	u, err := s.store.EmailVerificationConsume(ctx, EmailVerificationConsumeParams{TokenHash: hashSecret(token), At: s.now(),
		PasswordHash: hashPassword(password)})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// AuthenticateUser checks an email and password. An unknown email, a wrong
// password and a disabled user get the same error, in about the same time
// (an unknown email is checked against a dummy hash). A user who gave the
// right password but has not verified their email gets
// CodeEmailUnverified, so the page can offer to resend the link; that says
// nothing to someone who does not know the password.
//
// Errors: unauthenticated, email_unverified.
func (s *UserService) AuthenticateUser(ctx context.Context, email, password string) (User, error) {
	fail := &apperr.Error{Code: CodeUserUnauthenticated, Message: "wrong email or password"}
	if len(password) > PasswordBytesMax {
		return User{}, fail
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		verifyPassword(dummyHash, password)
		return User{}, fail
	}
	u, hash, err := s.store.UserByEmail(ctx, addr)
	if apperr.Is(err, apperr.CodeNotFound) {
		verifyPassword(dummyHash, password)
		return User{}, fail
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: sign in: %w", err)
	}
	ok, err := verifyPassword(hash, password)
	if err != nil {
		return User{}, fmt.Errorf("auth: user %s: %w", u.ID, err)
	}
	if !ok || u.Disabled {
		return User{}, fail
	}
	if !u.Verified() {
		return User{}, &apperr.Error{Code: CodeEmailUnverified, Message: "confirm your email address first"}
	}
	return u, nil
}

// FindUserByID returns one user. Errors: not_found.
func (s *UserService) FindUserByID(ctx context.Context, id string) (User, error) {
	if !validID(id, UserIDPrefix) {
		return User{}, apperr.NotFound("user")
	}
	return s.store.UserByID(ctx, id)
}

// SetUserLocale changes the language a user's mail is written in.
// Errors: invalid (locale), not_found.
func (s *UserService) SetUserLocale(ctx context.Context, id string, l Locale) (User, error) {
	if err := l.Validate(); err != nil {
		return User{}, err
	}
	if !validID(id, UserIDPrefix) {
		return User{}, apperr.NotFound("user")
	}
	if err := s.store.UserSetLocale(ctx, UserSetLocaleParams{ID: id, Locale: l}); err != nil {
		return User{}, err
	}
	return s.store.UserByID(ctx, id)
}

// DisableUser stops a user from signing in; their sessions stop working
// at their next request, which loads the user. Errors: not_found.
func (s *UserService) DisableUser(ctx context.Context, id string) (User, error) {
	if !validID(id, UserIDPrefix) {
		return User{}, apperr.NotFound("user")
	}
	if err := s.store.UserDisable(ctx, UserDisableParams{ID: id, At: s.now()}); err != nil {
		return User{}, err
	}
	return s.store.UserByID(ctx, id)
}

// DisableUserByEmail disables the portal user with email, as DisableUser
// does: an operator's way to shut an account out (a stolen session ends on
// its next request). Errors: invalid (email), not_found.
func (s *UserService) DisableUserByEmail(ctx context.Context, email string) (User, error) {
	addr, err := normalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	u, _, err := s.store.UserByEmail(ctx, addr)
	if err != nil {
		return User{}, err
	}
	return s.DisableUser(ctx, u.ID)
}

// PurgeExpiredVerifications deletes up to VerificationPurgeBatchMax
// expired verification tokens and returns how many it deleted.
func (s *UserService) PurgeExpiredVerifications(ctx context.Context) (int, error) {
	return s.store.EmailVerificationPurge(ctx, PurgeParams{Before: s.now(), Limit: VerificationPurgeBatchMax})
}

// NormalizeEmail returns email as a bare address in lower case, as every
// user and staff user's email is stored. Errors: invalid (param "email").
func NormalizeEmail(email string) (string, error) { return normalizeEmail(email) }

// equalTokens compares two secrets in constant time.
func equalTokens(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
