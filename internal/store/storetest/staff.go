package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

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
	u, err := svc.CreateStaffUser(ctx, auth.StaffUserParams{Email: "Ops@Example.com", Name: "Aiko Ops", Role: auth.RoleFinance, Password: pw})
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
		_, err := svc.CreateStaffUser(ctx, auth.StaffUserParams{Email: "ops@EXAMPLE.com", Name: "Other", Role: auth.RoleSupport, Password: pw})
		wantCode(t, err, apperr.CodeConflict, "a second user with the email")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, p := range []auth.StaffUserParams{
			{Email: "Aiko <a@example.com>", Name: "A", Role: auth.RoleAdmin, Password: pw},
			{Email: "b@example.com", Name: "", Role: auth.RoleAdmin, Password: pw},
			{Email: "b@example.com", Name: "B", Role: "owner", Password: pw},
			{Email: "b@example.com", Name: "B", Role: auth.RoleAdmin, Password: "short"},
		} {
			_, err := svc.CreateStaffUser(ctx, p)
			wantCode(t, err, apperr.CodeInvalid, "create "+p.Email)
		}
	})
	t.Run("OKRoleAndPassword", func(t *testing.T) {
		if got, err := svc.SetStaffRole(ctx, "ops@example.com", auth.RoleAdmin); err != nil || got.Role != auth.RoleAdmin {
			t.Fatalf("SetStaffRole = %+v, %v", got, err)
		}
		if err := svc.SetStaffPassword(ctx, "ops@example.com", "another long password"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AuthenticateStaff(ctx, "ops@example.com", pw); apperr.CodeOf(err) != auth.CodeStaffUnauthenticated {
			t.Fatalf("the old password still signs in: %v", err)
		}
		if got, err := svc.AuthenticateStaff(ctx, "ops@example.com", "another long password"); err != nil || got.Role != auth.RoleAdmin {
			t.Fatalf("sign-in with the new password = %+v, %v", got, err)
		}
		_, err := svc.SetStaffRole(ctx, "nobody@example.com", auth.RoleAdmin)
		wantCode(t, err, apperr.CodeNotFound, "role of an unknown user")
	})
	t.Run("OKDisabled", func(t *testing.T) {
		clock.Advance(time.Minute)
		got, err := svc.DisableStaffUser(ctx, "ops@example.com")
		if err != nil || got.DisabledAt.IsZero() {
			t.Fatalf("DisableStaffUser = %+v, %v", got, err)
		}
		clock.Advance(time.Minute)
		again, err := svc.DisableStaffUser(ctx, "ops@example.com")
		if err != nil || !again.DisabledAt.Equal(got.DisabledAt) {
			t.Fatalf("disabling twice moved the time: %+v, %v", again, err)
		}
		_, err = svc.AuthenticateStaff(ctx, "ops@example.com", "another long password")
		wantCode(t, err, auth.CodeStaffUnauthenticated, "sign-in of a disabled user")
	})
	t.Run("OKList", func(t *testing.T) {
		if _, err := svc.CreateStaffUser(ctx, auth.StaffUserParams{Email: "help@example.com", Name: "Help", Role: auth.RoleSupport, Password: pw}); err != nil {
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
				_, errs[i] = nodes[i%2].CreateStaffUser(ctx, auth.StaffUserParams{Email: "race@example.com", Name: "Race", Role: auth.RoleSupport, Password: pw})
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
