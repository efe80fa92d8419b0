package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// hookStore runs between, once, after the first StaffUserByEmail returns.
type hookStore struct {
	*sqlite.DB
	between func()
}

func (h *hookStore) StaffUserByEmail(ctx context.Context, email string) (auth.StaffUser, string, error) {
	u, hash, err := h.DB.StaffUserByEmail(ctx, email)
	if f := h.between; f != nil {
		h.between = nil
		f()
	}
	return u, hash, err
}

// actor changes the staff users of these tests.
var actor = audit.Actor{Type: audit.ActorSystem, ID: "test"}

// A role change racing a disable must not re-enable the disabled user.
func TestStaffRoleChangeDoesNotUndoDisable(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	plain := auth.NewStaffService(db, nil)
	if _, err := plain.CreateStaffUser(ctx, actor, auth.StaffUserParams{Email: "eve@example.com", Name: "Eve", Role: auth.RoleSupport, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	hs := &hookStore{DB: db}
	racing := auth.NewStaffService(hs, nil)
	// Admin A changes Eve's role; while A's command runs, admin B disables Eve.
	hs.between = func() {
		if _, err := plain.DisableStaffUser(ctx, actor, "eve@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := racing.SetStaffRole(ctx, actor, "eve@example.com", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	u, err := plain.FindStaffUserByEmail(ctx, "eve@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.DisabledAt.IsZero() {
		if _, err := plain.AuthenticateStaff(ctx, "eve@example.com", "correct horse battery"); err == nil {
			t.Fatalf("disable was undone by a concurrent role change: %+v signs in again, now as %s", u, u.Role)
		}
		t.Fatalf("disable was undone: %+v", u)
	}
}
