package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
)

// testActor is who the suite's staff and membership changes are by.
var testActor = audit.Actor{Type: audit.ActorStaff, ID: "stf_SuiteAdmin000000000"}

// badActor is an actor the audit log refuses (invalid actor.type).
var badActor = audit.Actor{Type: "robot", ID: "r2"}

// testStaff checks staff users through auth.StaffService on a store of h:
// creation, sign-in, roles, disabling, passwords, and one email per user
// even when two nodes race.
func testStaff(t *testing.T, h Harness) {
	s, ok := h.Open(t).(auth.StaffStore)
	if !ok {
		t.Fatal("the store does not implement auth.StaffStore")
	}
	ctx := context.Background()
	clock := NewClock()
	svc := auth.NewStaffService(s, clock.Now)
	const pw = "correct horse battery"
	u, err := svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "Ops@Example.com", Name: "Aiko Ops", Role: auth.RoleFinance, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ops@example.com" || u.Role != auth.RoleFinance || !u.CreatedAt.Equal(clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("created %+v", u)
	}

	t.Run("OKSignIn", func(t *testing.T) {
		got, err := svc.AuthenticateStaff(ctx, "OPS@example.com", pw)
		if err != nil || got.ID != u.ID || got.Name != "Aiko Ops" || got.Role != auth.RoleFinance || !got.DisabledAt.IsZero() {
			t.Fatalf("AuthenticateStaff = %+v, %v", got, err)
		}
		if got, err := svc.FindStaffUserByID(ctx, u.ID); err != nil || got.Email != u.Email || got.Role != auth.RoleFinance {
			t.Fatalf("FindStaffUserByID = %+v, %v", got, err)
		}
		_, err = svc.FindStaffUserByID(ctx, auth.StaffIDPrefix+"00000000000000000000")
		wantCode(t, err, apperr.CodeNotFound, "an unknown staff id")
	})
	t.Run("ErrSignIn", func(t *testing.T) {
		for _, c := range []struct{ email, pw string }{{"ops@example.com", pw + "!"}, {"nobody@example.com", pw}, {"not an email", pw}, {"ops@example.com", ""}} {
			_, err := svc.AuthenticateStaff(ctx, c.email, c.pw)
			wantCode(t, err, auth.CodeStaffUnauthenticated, "sign-in as "+c.email)
		}
	})
	t.Run("ErrEmailTaken", func(t *testing.T) {
		_, err := svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "ops@EXAMPLE.com", Name: "Other", Role: auth.RoleSupport, Password: pw})
		wantCode(t, err, apperr.CodeConflict, "a second user with the email")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, p := range []auth.StaffUserParams{
			{Email: "Aiko <a@example.com>", Name: "A", Role: auth.RoleAdmin, Password: pw},
			{Email: "b@example.com", Name: "", Role: auth.RoleAdmin, Password: pw},
			{Email: "b@example.com", Name: "B", Role: "owner", Password: pw},
			{Email: "b@example.com", Name: "B", Role: auth.RoleAdmin, Password: "short"},
		} {
			_, err := svc.CreateStaffUser(ctx, testActor, p)
			wantCode(t, err, apperr.CodeInvalid, "create "+p.Email)
		}
	})
	t.Run("OKRoleAndPassword", func(t *testing.T) {
		if got, err := svc.SetStaffRole(ctx, testActor, "ops@example.com", auth.RoleAdmin); err != nil || got.Role != auth.RoleAdmin {
			t.Fatalf("SetStaffRole = %+v, %v", got, err)
		}
		sessions := auth.NewSessionService(s.(auth.SessionStore), clock.Now)
		_, token, err := sessions.CreateSession(ctx, auth.SessionStaff, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SetStaffPassword(ctx, testActor, auth.StaffPasswordParams{Email: "ops@example.com", Password: "another long password"}); err != nil {
			t.Fatal(err)
		}
		// A new password signs the user out everywhere.
		_, err = sessions.FindSession(ctx, auth.SessionStaff, token)
		wantCode(t, err, apperr.CodeNotFound, "a console session after a password change")
		if _, err := svc.AuthenticateStaff(ctx, "ops@example.com", pw); apperr.CodeOf(err) != auth.CodeStaffUnauthenticated {
			t.Fatalf("the old password still signs in: %v", err)
		}
		if got, err := svc.AuthenticateStaff(ctx, "ops@example.com", "another long password"); err != nil || got.Role != auth.RoleAdmin {
			t.Fatalf("sign-in with the new password = %+v, %v", got, err)
		}
		_, err = svc.SetStaffRole(ctx, testActor, "nobody@example.com", auth.RoleAdmin)
		wantCode(t, err, apperr.CodeNotFound, "role of an unknown user")
	})
	t.Run("OKDisabled", func(t *testing.T) {
		clock.Advance(time.Minute)
		got, err := svc.DisableStaffUser(ctx, testActor, "ops@example.com")
		if err != nil || got.DisabledAt.IsZero() {
			t.Fatalf("DisableStaffUser = %+v, %v", got, err)
		}
		clock.Advance(time.Minute)
		again, err := svc.DisableStaffUser(ctx, testActor, "ops@example.com")
		if err != nil || !again.DisabledAt.Equal(got.DisabledAt) {
			t.Fatalf("disabling twice moved the time: %+v, %v", again, err)
		}
		_, err = svc.AuthenticateStaff(ctx, "ops@example.com", "another long password")
		wantCode(t, err, auth.CodeStaffUnauthenticated, "sign-in of a disabled user")
	})
	t.Run("OKList", func(t *testing.T) {
		if _, err := svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "help@example.com", Name: "Help", Role: auth.RoleSupport, Password: pw}); err != nil {
			t.Fatal(err)
		}
		first, err := svc.FindStaffUsers(ctx, "", 1)
		if err != nil || len(first) != 1 {
			t.Fatalf("first page %+v, %v", first, err)
		}
		rest, err := svc.FindStaffUsers(ctx, first[0].ID, 10)
		if err != nil || len(rest) != 1 || rest[0].ID == first[0].ID {
			t.Fatalf("second page %+v, %v", rest, err)
		}
	})
	t.Run("OneEmailTwoNodes", func(t *testing.T) {
		a, b := h.OpenPair(t)
		nodes := []*auth.StaffService{auth.NewStaffService(a.(auth.StaffStore), nil), auth.NewStaffService(b.(auth.StaffStore), nil)}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = nodes[i%2].CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "race@example.com", Name: "Race", Role: auth.RoleSupport, Password: pw})
			})
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch apperr.CodeOf(err) {
			case "":
				created++
			case apperr.CodeConflict:
			default:
				t.Fatalf("create: %v", err)
			}
		}
		if created != 1 {
			t.Fatalf("%d users created with one email, want 1", created)
		}
	})
}

// staffAuditStore is what testStaffAudit needs of a store.
type staffAuditStore interface {
	auth.StaffStore
	audit.Store
}

// testStaffAudit checks that every staff change appends its audit entry in
// its own transaction on a store of h: each change writes exactly its entry
// and the chain verifies; a change that changes nothing, and one the store
// refuses, write none; and when the audit function fails the change is not
// made and its error comes back.
func testStaffAudit(t *testing.T, h Harness) {
	s, ok := h.Open(t).(staffAuditStore)
	if !ok {
		t.Fatal("the store does not implement auth.StaffStore and audit.Store")
	}
	ctx := context.Background()
	clock := NewClock()
	svc := auth.NewStaffService(s, clock.Now)
	const pw = "correct horse battery"
	var want []audit.Entry
	entry := func(action string, u auth.StaffUser, data string) audit.Entry {
		return audit.Entry{Seq: int64(len(want) + 1), At: clock.Now().Truncate(time.Microsecond), Actor: testActor, Action: action,
			Subject: audit.Subject{Type: "staff_user", ID: u.ID}, Data: json.RawMessage(data)}
	}
	var ops auth.StaffUser

	t.Run("OKEachChangeItsEntry", func(t *testing.T) {
		var err error
		ops, err = svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "Ops@Example.com", Name: "Aiko Ops", Role: auth.RoleFinance, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, entry("staff.created", ops, `{"email":"ops@example.com","name":"Aiko Ops","role":"finance"}`))
		clock.Advance(time.Second)
		if _, err := svc.SetStaffRole(ctx, testActor, "ops@example.com", auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		want = append(want, entry("staff.role_changed", ops, `{"email":"ops@example.com","previous_role":"finance","role":"admin"}`))
		for _, generated := range []bool{true, false} {
			clock.Advance(time.Second)
			if err := svc.SetStaffPassword(ctx, testActor, auth.StaffPasswordParams{Email: "ops@example.com", Password: "another long password", Generated: generated}); err != nil {
				t.Fatal(err)
			}
			want = append(want, entry("staff.password_changed", ops, fmt.Sprintf(`{"email":"ops@example.com","generated":%t}`, generated)))
		}
		clock.Advance(time.Second)
		disabled, err := svc.DisableStaffUser(ctx, testActor, "ops@example.com")
		if err != nil || !disabled.DisabledAt.Equal(clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("DisableStaffUser = %+v, %v", disabled, err)
		}
		want = append(want, entry("staff.disabled", ops,
			fmt.Sprintf(`{"disabled_at":%q,"email":"ops@example.com"}`, disabled.DisabledAt.Format(time.RFC3339Nano))))
		wantAuditEntries(t, s, want)
	})
	if ops.ID == "" {
		t.FailNow() // the subtests below change the user OKEachChangeItsEntry made
	}

	t.Run("OKNoOpRecordsNothing", func(t *testing.T) {
		clock.Advance(time.Second)
		if got, err := svc.SetStaffRole(ctx, testActor, "ops@example.com", auth.RoleAdmin); err != nil || got.Role != auth.RoleAdmin {
			t.Fatalf("SetStaffRole to the role the user has = %+v, %v", got, err)
		}
		first, err := svc.FindStaffUserByID(ctx, ops.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := svc.DisableStaffUser(ctx, testActor, "ops@example.com"); err != nil || !got.DisabledAt.Equal(first.DisabledAt) {
			t.Fatalf("DisableStaffUser again = %+v, %v; want the first time kept", got, err)
		}
		if err := s.StaffUserSetRole(ctx, ops.ID, auth.RoleAdmin, mustNotRecordRole(t, "the store's role change to the same role")); err != nil {
			t.Fatal(err)
		}
		if err := s.StaffUserDisable(ctx, ops.ID, clock.Now(), mustNotRecord(t, "the store's second disable")); err != nil {
			t.Fatal(err)
		}
		wantAuditEntries(t, s, want)
	})

	t.Run("ErrAuditFailsUndoesTheChange", func(t *testing.T) {
		clock.Advance(time.Second)
		help, err := svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "help@example.com", Name: "Help", Role: auth.RoleSupport, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, entry("staff.created", help, `{"email":"help@example.com","name":"Help","role":"support"}`))
		_, hashBefore, err := s.StaffUserByEmail(ctx, "help@example.com")
		if err != nil {
			t.Fatal(err)
		}

		undone := auth.StaffUser{ID: auth.StaffIDPrefix + "Undone00000000000000", Email: "undone@example.com", Name: "Undone", Role: auth.RoleSupport, CreatedAt: clock.Now()}
		wantRefused(t, s.StaffUserInsert(ctx, undone, hashBefore, failRecord), "the store's insert")
		_, err = s.StaffUserByID(ctx, undone.ID)
		wantCode(t, err, apperr.CodeNotFound, "the user whose insert was not recorded")

		err = s.StaffUserSetRole(ctx, help.ID, auth.RoleAdmin, func(_ context.Context, _ audit.Tx, previous auth.Role) error {
			if previous != auth.RoleSupport {
				t.Errorf("the store passed the previous role %q, want support", previous)
			}
			return errAuditRefused
		})
		wantRefused(t, err, "the store's role change")
		wantRefused(t, s.StaffUserDisable(ctx, help.ID, clock.Now(), appendThenFail(clock.Now())), "the store's disable")
		wantRefused(t, s.StaffUserSetPassword(ctx, help.ID, "$argon2id$another", failRecord), "the store's password change")

		// Through the service: an actor the audit log refuses undoes the change too.
		_, err = svc.CreateStaffUser(ctx, badActor, auth.StaffUserParams{Email: "bad@example.com", Name: "Bad", Role: auth.RoleAdmin, Password: pw})
		wantCode(t, err, apperr.CodeInvalid, "create by an invalid actor")
		_, err = svc.FindStaffUserByEmail(ctx, "bad@example.com")
		wantCode(t, err, apperr.CodeNotFound, "the user created by an invalid actor")
		_, err = svc.SetStaffRole(ctx, badActor, "help@example.com", auth.RoleAdmin)
		wantCode(t, err, apperr.CodeInvalid, "role change by an invalid actor")
		err = svc.SetStaffPassword(ctx, badActor, auth.StaffPasswordParams{Email: "help@example.com", Password: "a password never set"})
		wantCode(t, err, apperr.CodeInvalid, "password change by an invalid actor")
		_, err = svc.DisableStaffUser(ctx, badActor, "help@example.com")
		wantCode(t, err, apperr.CodeInvalid, "disable by an invalid actor")

		got, hashAfter, err := s.StaffUserByEmail(ctx, "help@example.com")
		if err != nil || got.Role != auth.RoleSupport || !got.DisabledAt.IsZero() || hashAfter != hashBefore {
			t.Fatalf("after the unrecorded changes help@example.com is %+v (password changed: %t), %v; want support, enabled, the same password",
				got, hashAfter != hashBefore, err)
		}
		if _, err := svc.AuthenticateStaff(ctx, "help@example.com", pw); err != nil {
			t.Fatalf("the password whose change was not recorded no longer signs in: %v", err)
		}
		wantAuditEntries(t, s, want)
	})

	t.Run("ErrRefusedRecordsNothing", func(t *testing.T) {
		_, err := svc.CreateStaffUser(ctx, testActor, auth.StaffUserParams{Email: "OPS@example.com", Name: "Twin", Role: auth.RoleSupport, Password: pw})
		wantCode(t, err, apperr.CodeConflict, "create with a taken email")
		twin := auth.StaffUser{ID: auth.StaffIDPrefix + "Twin0000000000000000", Email: "ops@example.com", Name: "Twin", Role: auth.RoleSupport, CreatedAt: clock.Now()}
		err = s.StaffUserInsert(ctx, twin, "$argon2id$twin", mustNotRecord(t, "the store's insert with a taken email"))
		wantCode(t, err, apperr.CodeConflict, "the store's insert with a taken email")

		nobody := auth.StaffIDPrefix + "00000000000000000000"
		err = s.StaffUserSetRole(ctx, nobody, auth.RoleAdmin, mustNotRecordRole(t, "the store's role change of nobody"))
		wantCode(t, err, apperr.CodeNotFound, "the store's role change of nobody")
		err = s.StaffUserDisable(ctx, nobody, clock.Now(), mustNotRecord(t, "the store's disable of nobody"))
		wantCode(t, err, apperr.CodeNotFound, "the store's disable of nobody")
		err = s.StaffUserSetPassword(ctx, nobody, "$argon2id$nobody", mustNotRecord(t, "the store's password change of nobody"))
		wantCode(t, err, apperr.CodeNotFound, "the store's password change of nobody")

		_, err = svc.SetStaffRole(ctx, testActor, "nobody@example.com", auth.RoleAdmin)
		wantCode(t, err, apperr.CodeNotFound, "role change of nobody")
		_, err = svc.DisableStaffUser(ctx, testActor, "nobody@example.com")
		wantCode(t, err, apperr.CodeNotFound, "disable of nobody")
		err = svc.SetStaffPassword(ctx, testActor, auth.StaffPasswordParams{Email: "nobody@example.com", Password: "another long password"})
		wantCode(t, err, apperr.CodeNotFound, "password change of nobody")
		_, err = svc.SetStaffRole(ctx, testActor, "ops@example.com", "owner")
		wantCode(t, err, apperr.CodeInvalid, "an unknown role")
		wantAuditEntries(t, s, want)
	})
}

// errAuditRefused is the error of the suite's failing audit functions.
var errAuditRefused = errors.New("storetest: the audit log refused the entry")

// failRecord is an audit function that fails.
func failRecord(context.Context, audit.Tx) error { return errAuditRefused }

// appendThenFail returns an audit function that appends an entry and then
// fails, so the entry must roll back with the change.
func appendThenFail(now time.Time) auth.AuditFunc {
	return func(ctx context.Context, tx audit.Tx) error {
		e := audit.Entry{Actor: testActor, Action: "storetest.half_recorded", Subject: audit.Subject{Type: "storetest", ID: "1"}}
		if _, err := audit.Append(ctx, tx, now, e); err != nil {
			return err
		}
		return errAuditRefused
	}
}

// mustNotRecord returns an audit function that fails the test if a store
// calls it: what did not change the data records nothing.
func mustNotRecord(t *testing.T, what string) auth.AuditFunc {
	return func(context.Context, audit.Tx) error {
		t.Errorf("%s: the store called the audit function", what)
		return nil
	}
}

// mustNotRecordRole is mustNotRecord for StaffUserSetRole.
func mustNotRecordRole(t *testing.T, what string) func(context.Context, audit.Tx, auth.Role) error {
	record := mustNotRecord(t, what)
	return func(ctx context.Context, tx audit.Tx, _ auth.Role) error { return record(ctx, tx) }
}

// wantRefused fails unless err is the failing audit function's.
func wantRefused(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, errAuditRefused) {
		t.Fatalf("%s with a failing audit function: error %v, want the function's", what, err)
	}
}

// wantAuditEntries fails unless the log of s holds exactly want, oldest
// first (each compared but for its hashes), and its chain verifies.
func wantAuditEntries(t *testing.T, s audit.Store, want []audit.Entry) {
	t.Helper()
	svc := audit.NewService(s, nil)
	got, err := svc.FindEntries(context.Background(), audit.Filter{Limit: audit.PageLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("entry %d is missing: want %s", i+1, entryLine(want[i]))
		case i >= len(want):
			t.Errorf("entry %d is extra: %s", i+1, entryLine(got[i]))
		default:
			g, w := got[i], want[i]
			if g.Seq != w.Seq || !g.At.Equal(w.At) || g.Actor != w.Actor || g.Action != w.Action || g.Subject != w.Subject ||
				g.OrgID != w.OrgID || !bytes.Equal(g.Data, w.Data) {
				t.Errorf("entry %d is\n\t%s\nwant\n\t%s", i+1, entryLine(g), entryLine(w))
			}
		}
	}
	wantAuditClean(t, svc, int64(len(want)))
}

// entryLine is an entry's fields but its hashes, on one line.
func entryLine(e audit.Entry) string {
	return fmt.Sprintf("seq %d at %s by %s:%s %s %s:%s org %q data %s", e.Seq, e.At.UTC().Format(time.RFC3339Nano),
		e.Actor.Type, e.Actor.ID, e.Action, e.Subject.Type, e.Subject.ID, e.OrgID, e.Data)
}
