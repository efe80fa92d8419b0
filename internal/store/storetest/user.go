package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// testUsers checks portal users through auth.UserService on a store of h:
// sign-up, email verification (single use, expiry, resend replacing the
// token), sign-in, locale, disabling, and one verification per token even
// when two nodes race.
func testUsers(t *testing.T, h Harness) {
	s, ok := h.Open(t).(auth.UserStore)
	if !ok {
		t.Fatal("the store does not implement auth.UserStore")
	}
	ctx := context.Background()
	clock := NewClock()
	svc := auth.NewUserService(s, clock.Now)
	const pw = "correct horse battery"
	u, token, err := svc.SignUp(ctx, auth.SignUpParams{Email: "Buyer@Example.com", Password: pw, Locale: auth.LocaleEn})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "buyer@example.com" || u.Locale != auth.LocaleEn || u.Verified() || u.Disabled ||
		!u.CreatedAt.Equal(clock.Now().Truncate(time.Microsecond)) || len(token) != auth.VerificationTokenLen {
		t.Fatalf("signed up %+v with token %q", u, token)
	}

	t.Run("ErrUnverifiedSignIn", func(t *testing.T) {
		_, err := svc.AuthenticateUser(ctx, "buyer@example.com", pw)
		wantCode(t, err, auth.CodeEmailUnverified, "sign-in before verifying")
		_, err = svc.AuthenticateUser(ctx, "buyer@example.com", pw+"!")
		wantCode(t, err, auth.CodeUserUnauthenticated, "a wrong password before verifying")
	})
	t.Run("ErrEmailTaken", func(t *testing.T) {
		_, _, err := svc.SignUp(ctx, auth.SignUpParams{Email: "BUYER@example.com", Password: pw, Locale: auth.LocaleJa})
		wantCode(t, err, apperr.CodeConflict, "a second user with the email")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, p := range []auth.SignUpParams{
			{Email: "Aiko <a@example.com>", Password: pw, Locale: auth.LocaleJa},
			{Email: "b@example.com", Password: "short", Locale: auth.LocaleJa},
			{Email: "b@example.com", Password: pw, Locale: "fr"},
		} {
			_, _, err := svc.SignUp(ctx, p)
			wantCode(t, err, apperr.CodeInvalid, "sign up "+p.Email)
		}
	})
	t.Run("ErrResendTooSoon", func(t *testing.T) {
		_, _, err := svc.ResendVerification(ctx, "buyer@example.com")
		wantCode(t, err, auth.CodeTooSoon, "resend right after sign-up")
	})
	t.Run("OKResendReplaces", func(t *testing.T) {
		clock.Advance(auth.VerificationResendIntervalMin)
		got, fresh, err := svc.ResendVerification(ctx, "Buyer@example.com")
		if err != nil || got.ID != u.ID || fresh == token {
			t.Fatalf("ResendVerification = %+v, %q, %v", got, fresh, err)
		}
		_, err = svc.VerifyEmail(ctx, token, pw)
		wantCode(t, err, apperr.CodeNotFound, "the replaced token")
		token = fresh
	})
	t.Run("ErrVerifyMalformed", func(t *testing.T) {
		for _, bad := range []string{"", "x", token[:len(token)-1] + "!", token + "0", strings.Repeat("A", auth.VerificationTokenLen)} {
			_, err := svc.VerifyEmail(ctx, bad, pw)
			wantCode(t, err, apperr.CodeNotFound, "verify "+bad)
		}
	})
	t.Run("ErrVerifyShortPassword", func(t *testing.T) {
		_, err := svc.VerifyEmail(ctx, token, "short")
		wantCode(t, err, apperr.CodeInvalid, "verify with a short password")
		// The token still works.
	})
	t.Run("OKVerifyOnce", func(t *testing.T) {
		clock.Advance(time.Minute)
		got, err := svc.VerifyEmail(ctx, token, pw)
		if err != nil || got.ID != u.ID || !got.EmailVerifiedAt.Equal(clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("VerifyEmail = %+v, %v", got, err)
		}
		_, err = svc.VerifyEmail(ctx, token, pw)
		wantCode(t, err, apperr.CodeNotFound, "a used token")
		_, _, err = svc.ResendVerification(ctx, "buyer@example.com")
		wantCode(t, err, apperr.CodeNotFound, "resend to a verified user")
	})
	t.Run("OKSignIn", func(t *testing.T) {
		got, err := svc.AuthenticateUser(ctx, "BUYER@example.com", pw)
		if err != nil || got.ID != u.ID || !got.Verified() {
			t.Fatalf("AuthenticateUser = %+v, %v", got, err)
		}
	})
	t.Run("ErrSignIn", func(t *testing.T) {
		for _, c := range []struct{ email, pw string }{{"buyer@example.com", pw + "!"}, {"nobody@example.com", pw}, {"not an email", pw}, {"buyer@example.com", ""}} {
			_, err := svc.AuthenticateUser(ctx, c.email, c.pw)
			wantCode(t, err, auth.CodeUserUnauthenticated, "sign-in as "+c.email)
		}
	})
	t.Run("ErrResendUnknown", func(t *testing.T) {
		_, _, err := svc.ResendVerification(ctx, "nobody@example.com")
		wantCode(t, err, apperr.CodeNotFound, "resend to nobody")
		_, _, err = svc.ResendVerification(ctx, "not an email")
		wantCode(t, err, apperr.CodeInvalid, "resend to a malformed address")
	})
	t.Run("ErrVerifyExpired", func(t *testing.T) {
		_, late, err := svc.SignUp(ctx, auth.SignUpParams{Email: "late@example.com", Password: pw, Locale: auth.LocaleJa})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(auth.VerificationTokenTTL)
		_, err = svc.VerifyEmail(ctx, late, pw)
		wantCode(t, err, apperr.CodeNotFound, "an expired token")
		n, err := svc.PurgeExpiredVerifications(ctx)
		if err != nil || n != 1 {
			t.Fatalf("PurgeExpiredVerifications = %d, %v, want 1", n, err)
		}
		// A new link works after the old one expired and was purged.
		_, fresh, err := svc.ResendVerification(ctx, "late@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := svc.VerifyEmail(ctx, fresh, pw); err != nil || !got.Verified() || got.Locale != auth.LocaleJa {
			t.Fatalf("VerifyEmail after expiry = %+v, %v", got, err)
		}
	})
	t.Run("OKVerifierChoosesThePassword", func(t *testing.T) {
		// Someone signs up first with another's address and a password of
		// their own. The owner asks for a link and verifies with theirs:
		// the first password opens nothing.
		const theirs, owners = "attacker's own password", "the owner's password"
		if _, _, err := svc.SignUp(ctx, auth.SignUpParams{Email: "victim@example.com", Password: theirs, Locale: auth.LocaleJa}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(auth.VerificationResendIntervalMin)
		_, link, err := svc.ResendVerification(ctx, "victim@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VerifyEmail(ctx, link, owners); err != nil {
			t.Fatal(err)
		}
		_, err = svc.AuthenticateUser(ctx, "victim@example.com", theirs)
		wantCode(t, err, auth.CodeUserUnauthenticated, "sign in with the earlier sign-up's password")
		if got, err := svc.AuthenticateUser(ctx, "victim@example.com", owners); err != nil || !got.Verified() {
			t.Fatalf("sign in with the password chosen on verifying: %+v, %v", got, err)
		}
	})
	t.Run("OKLocale", func(t *testing.T) {
		got, err := svc.SetUserLocale(ctx, u.ID, auth.LocaleJa)
		if err != nil || got.Locale != auth.LocaleJa {
			t.Fatalf("SetUserLocale = %+v, %v", got, err)
		}
		if got, err := svc.FindUserByID(ctx, u.ID); err != nil || got.Locale != auth.LocaleJa || got.Email != u.Email {
			t.Fatalf("FindUserByID = %+v, %v", got, err)
		}
		_, err = svc.SetUserLocale(ctx, u.ID, "de")
		wantCode(t, err, apperr.CodeInvalid, "an unknown locale")
		_, err = svc.SetUserLocale(ctx, auth.UserIDPrefix+"00000000000000000000", auth.LocaleJa)
		wantCode(t, err, apperr.CodeNotFound, "the locale of nobody")
		_, err = svc.FindUserByID(ctx, "stf_00000000000000000000")
		wantCode(t, err, apperr.CodeNotFound, "a staff id as a user id")
	})
	t.Run("OKDisabled", func(t *testing.T) {
		got, err := svc.DisableUser(ctx, u.ID)
		if err != nil || !got.Disabled {
			t.Fatalf("DisableUser = %+v, %v", got, err)
		}
		if _, err := svc.DisableUser(ctx, u.ID); err != nil {
			t.Fatalf("disabling twice: %v", err)
		}
		_, err = svc.AuthenticateUser(ctx, "buyer@example.com", pw)
		wantCode(t, err, auth.CodeUserUnauthenticated, "sign-in of a disabled user")
	})
	t.Run("OneVerificationTwoNodes", func(t *testing.T) {
		a, b := h.OpenPair(t)
		nodes := []*auth.UserService{auth.NewUserService(a.(auth.UserStore), nil), auth.NewUserService(b.(auth.UserStore), nil)}
		_, race, err := nodes[0].SignUp(ctx, auth.SignUpParams{Email: "race@example.com", Password: pw, Locale: auth.LocaleJa})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { _, errs[i] = nodes[i%2].VerifyEmail(ctx, race, pw) })
		}
		wg.Wait()
		verified := 0
		for _, err := range errs {
			switch apperr.CodeOf(err) {
			case "":
				verified++
			case apperr.CodeNotFound:
			default:
				t.Fatalf("verify: %v", err)
			}
		}
		if verified != 1 {
			t.Fatalf("one token verified %d times, want 1", verified)
		}
	})
}

// testSessions checks web sessions through auth.SessionService on a store
// of h: tokens open only their own kind, the idle timeout moves with use,
// the absolute lifetime does not, sign-out revokes, and purging deletes
// only expired sessions.
func testSessions(t *testing.T, h Harness) {
	s, ok := h.Open(t).(auth.SessionStore)
	if !ok {
		t.Fatal("the store does not implement auth.SessionStore")
	}
	ctx := context.Background()
	clock := NewClock()
	svc := auth.NewSessionService(s, clock.Now)
	create := func(kind auth.SessionKind, subject string) (auth.Session, string) {
		t.Helper()
		sess, token, err := svc.CreateSession(ctx, kind, subject)
		if err != nil {
			t.Fatal(err)
		}
		return sess, token
	}

	t.Run("OKFind", func(t *testing.T) {
		sess, token := create(auth.SessionUser, "usr_a")
		got, err := svc.FindSession(ctx, auth.SessionUser, token)
		if err != nil || got.ID != sess.ID || got.SubjectID != "usr_a" || got.CSRFToken != sess.CSRFToken ||
			!got.ExpiresAt.Equal(sess.CreatedAt.Add(auth.UserSessionLifetime)) {
			t.Fatalf("FindSession = %+v, %v; created %+v", got, err, sess)
		}
		if !got.CheckCSRF(sess.CSRFToken) || got.CheckCSRF("") || got.CheckCSRF(token) {
			t.Fatal("CheckCSRF accepts the wrong token or refuses the right one")
		}
	})
	t.Run("ErrOtherKind", func(t *testing.T) {
		_, token := create(auth.SessionStaff, "stf_a")
		_, err := svc.FindSession(ctx, auth.SessionUser, token)
		wantCode(t, err, apperr.CodeNotFound, "a staff token as a user session")
		other := []byte(token)
		other[0] ^= 1 // another token of the same length
		_, err = svc.FindSession(ctx, auth.SessionStaff, string(other))
		wantCode(t, err, apperr.CodeNotFound, "an unknown token")
		_, err = svc.FindSession(ctx, auth.SessionStaff, "short")
		wantCode(t, err, apperr.CodeNotFound, "a malformed token")
		_, _, err = svc.CreateSession(ctx, "robot", "x")
		wantCode(t, err, apperr.CodeInvalid, "an unknown kind")
	})
	t.Run("OKIdleMovesWithUse", func(t *testing.T) {
		_, token := create(auth.SessionStaff, "stf_b")
		// Used every 20 minutes, a staff session outlives its 30-minute
		// idle timeout until its absolute lifetime ends.
		step := 20 * time.Minute
		for lived := step; lived < auth.StaffSessionLifetime; lived += step {
			clock.Advance(step)
			if _, err := svc.FindSession(ctx, auth.SessionStaff, token); err != nil {
				t.Fatalf("after %s of use: %v", lived, err)
			}
		}
		clock.Advance(step)
		_, err := svc.FindSession(ctx, auth.SessionStaff, token)
		wantCode(t, err, apperr.CodeNotFound, "a session past its lifetime")
	})
	t.Run("ErrIdle", func(t *testing.T) {
		_, token := create(auth.SessionUser, "usr_c")
		clock.Advance(auth.UserSessionIdleTimeout)
		_, err := svc.FindSession(ctx, auth.SessionUser, token)
		wantCode(t, err, apperr.CodeNotFound, "an idle session")
	})
	t.Run("OKRevoke", func(t *testing.T) {
		sess, token := create(auth.SessionUser, "usr_d")
		if err := svc.RevokeSession(ctx, sess.ID); err != nil {
			t.Fatal(err)
		}
		if err := svc.RevokeSession(ctx, sess.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		_, err := svc.FindSession(ctx, auth.SessionUser, token)
		wantCode(t, err, apperr.CodeNotFound, "a revoked session")
	})
	t.Run("OKPurge", func(t *testing.T) {
		for {
			n, err := svc.PurgeExpiredSessions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		_, live := create(auth.SessionUser, "usr_e")
		_, old := create(auth.SessionStaff, "stf_e")
		clock.Advance(auth.StaffSessionIdleTimeout)
		n, err := svc.PurgeExpiredSessions(ctx)
		if err != nil || n != 1 {
			t.Fatalf("PurgeExpiredSessions = %d, %v, want 1 (the idle staff session)", n, err)
		}
		if _, err := svc.FindSession(ctx, auth.SessionUser, live); err != nil {
			t.Fatalf("the live session after a purge: %v", err)
		}
		_, err = svc.FindSession(ctx, auth.SessionStaff, old)
		wantCode(t, err, apperr.CodeNotFound, "a purged session")
	})
}
