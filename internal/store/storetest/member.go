package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
)

// memberStore is what the membership tests need of a store.
type memberStore interface {
	auth.Store
	auth.UserStore
	auth.MemberStore
}

// testOrgMembers checks organization members through auth.MemberService on
// a store of h: only an existing, verified, enabled portal user becomes a
// member; adding twice and removing a non-member change nothing; members
// and memberships list in order and page; one add of two racing nodes
// inserts.
func testOrgMembers(t *testing.T, h Harness) {
	s, ok := h.Open(t).(memberStore)
	if !ok {
		t.Fatal("the store does not implement auth.MemberStore")
	}
	ctx := context.Background()
	clock := NewClock()
	users := auth.NewUserService(s, clock.Now)
	orgs := auth.NewService(s, auth.Config{Clock: clock.Now})
	svc := auth.NewMemberService(s, clock.Now)
	newOrg := func(name string) auth.Organization {
		t.Helper()
		o, err := orgs.CreateOrganization(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	provA, provB := newOrg("Provider A"), newOrg("Provider B")
	alice := verifiedUser(t, users, "alice@example.com")
	bob := verifiedUser(t, users, "bob@example.com")
	if _, _, err := users.SignUp(ctx, auth.SignUpParams{Email: "new@example.com", Password: "correct horse battery", Locale: auth.LocaleJa}); err != nil {
		t.Fatal(err)
	}
	gone := verifiedUser(t, users, "gone@example.com")
	if _, err := users.DisableUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	added := clock.Now().Truncate(time.Microsecond)
	t.Run("OKAdd", func(t *testing.T) {
		m, isNew, err := svc.AddMember(ctx, testActor, provA.ID, "Alice@Example.com")
		want := auth.Member{OrgID: provA.ID, OrgName: "Provider A", UserID: alice.ID, Email: "alice@example.com", CreatedAt: added}
		if err != nil || !isNew || !sameMember(m, want) {
			t.Fatalf("AddMember = %+v, %v, %v; want %+v, true", m, isNew, err, want)
		}
		got, err := svc.FindMembership(ctx, provA.ID, alice.ID)
		if err != nil || !sameMember(got, want) {
			t.Fatalf("FindMembership = %+v, %v", got, err)
		}
	})
	t.Run("OKAddTwiceChangesNothing", func(t *testing.T) {
		clock.Advance(time.Hour)
		m, isNew, err := svc.AddMember(ctx, testActor, provA.ID, "alice@example.com")
		if err != nil || isNew || !m.CreatedAt.Equal(added) {
			t.Fatalf("AddMember again = %+v, %v, %v; want the first membership, not new", m, isNew, err)
		}
	})
	t.Run("ErrRefused", func(t *testing.T) {
		for _, c := range []struct {
			org, email, code string
		}{
			{provA.ID, "nobody@example.com", apperr.CodeNotFound},
			{provA.ID, "not an email", apperr.CodeInvalid},
			{provA.ID, "new@example.com", apperr.CodeInvalid},  // unverified
			{provA.ID, "gone@example.com", apperr.CodeInvalid}, // disabled
			{auth.OrgIDPrefix + "00000000000000000000", "bob@example.com", apperr.CodeNotFound},
			{"nonsense", "bob@example.com", apperr.CodeNotFound},
		} {
			_, _, err := svc.AddMember(ctx, testActor, c.org, c.email)
			wantCode(t, err, c.code, "add "+c.email+" to "+c.org)
		}
		// The store itself refuses a membership of nobody.
		_, err := s.OrgMemberInsert(ctx, auth.OrgMemberInsertParams{OrgID: provA.ID, UserID: auth.UserIDPrefix + "00000000000000000000", CreatedAt: clock.Now()},
			mustNotRecord(t, "the store's insert of an unknown user"))
		wantCode(t, err, apperr.CodeNotFound, "the store's insert of an unknown user")
		if list, err := svc.FindMembers(ctx, provA.ID, "", 10); err != nil || len(list) != 1 {
			t.Fatalf("after the refusals provider A has %+v, %v; want Alice alone", list, err)
		}
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		for _, c := range [][2]string{{provB.ID, alice.ID}, {provA.ID, bob.ID}, {"nonsense", alice.ID}, {provA.ID, "stf_00000000000000000000"}} {
			_, err := svc.FindMembership(ctx, c[0], c[1])
			wantCode(t, err, apperr.CodeNotFound, "membership of "+c[1]+" in "+c[0])
		}
	})
	t.Run("OKListsInOrder", func(t *testing.T) {
		for _, add := range [][2]string{{provA.ID, "bob@example.com"}, {provB.ID, "alice@example.com"}} {
			if _, _, err := svc.AddMember(ctx, testActor, add[0], add[1]); err != nil {
				t.Fatal(err)
			}
		}
		first, err := svc.FindMembers(ctx, provA.ID, "", 1)
		if err != nil || len(first) != 1 {
			t.Fatalf("FindMembers page 1 = %+v, %v", first, err)
		}
		rest, err := svc.FindMembers(ctx, provA.ID, first[0].UserID, 10)
		if err != nil || len(rest) != 1 || rest[0].UserID <= first[0].UserID {
			t.Fatalf("FindMembers page 2 = %+v, %v", rest, err)
		}
		if got := map[string]bool{first[0].Email: true, rest[0].Email: true}; !got["alice@example.com"] || !got["bob@example.com"] {
			t.Fatalf("provider A's members: %+v %+v", first, rest)
		}
		ms, err := svc.FindMemberships(ctx, alice.ID)
		if err != nil || len(ms) != 2 || ms[0].OrgID >= ms[1].OrgID || ms[0].Email != alice.Email {
			t.Fatalf("Alice's memberships = %+v, %v; want both providers in id order", ms, err)
		}
		_, err = svc.FindMembers(ctx, provA.ID, "", auth.MemberPageLimitMax+1)
		wantCode(t, err, apperr.CodeInvalid, "a page too large")
		_, err = svc.FindMembers(ctx, auth.OrgIDPrefix+"00000000000000000000", "", 10)
		wantCode(t, err, apperr.CodeNotFound, "members of no organization")
	})
	t.Run("OKRemove", func(t *testing.T) {
		m, removed, err := svc.RemoveMember(ctx, testActor, provA.ID, "BOB@example.com")
		if err != nil || !removed || m.UserID != bob.ID || m.OrgID != provA.ID {
			t.Fatalf("RemoveMember = %+v, %v, %v", m, removed, err)
		}
		_, err = svc.FindMembership(ctx, provA.ID, bob.ID)
		wantCode(t, err, apperr.CodeNotFound, "a removed member")
		if _, removed, err := svc.RemoveMember(ctx, testActor, provA.ID, "bob@example.com"); err != nil || removed {
			t.Fatalf("removing again = %v, %v; want nothing removed", removed, err)
		}
		_, _, err = svc.RemoveMember(ctx, testActor, provA.ID, "nobody@example.com")
		wantCode(t, err, apperr.CodeNotFound, "remove nobody")
		if ms, err := svc.FindMemberships(ctx, alice.ID); err != nil || len(ms) != 2 {
			t.Fatalf("removing Bob changed Alice's memberships: %+v, %v", ms, err)
		}
	})
	t.Run("OneAddTwoNodes", func(t *testing.T) {
		a, b := h.OpenPair(t)
		nodeOrgs := auth.NewService(a.(auth.Store), auth.Config{})
		org, err := nodeOrgs.CreateOrganization(ctx, "Race")
		if err != nil {
			t.Fatal(err)
		}
		verifiedUser(t, auth.NewUserService(a.(auth.UserStore), nil), "race@example.com")
		nodes := []*auth.MemberService{auth.NewMemberService(a.(auth.MemberStore), nil), auth.NewMemberService(b.(auth.MemberStore), nil)}
		var wg sync.WaitGroup
		news := make([]bool, 8)
		errs := make([]error, len(news))
		for i := range news {
			wg.Go(func() { _, news[i], errs[i] = nodes[i%2].AddMember(ctx, testActor, org.ID, "race@example.com") })
		}
		wg.Wait()
		n := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("add: %v", err)
			}
			if news[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("eight adds of one member were new %d times, want 1", n)
		}
	})
}

// memberAuditStore is what testOrgMembersAudit needs of a store.
type memberAuditStore interface {
	memberStore
	audit.Store
}

// testOrgMembersAudit checks that adding and removing members appends their
// audit entries in the change's own transaction on a store of h: each
// change writes exactly its entry and the chain verifies; adding a member
// again, removing a non-member and a refused change write none; and when
// the audit function fails the membership is left as it was and the error
// comes back.
func testOrgMembersAudit(t *testing.T, h Harness) {
	s, ok := h.Open(t).(memberAuditStore)
	if !ok {
		t.Fatal("the store does not implement auth.MemberStore and audit.Store")
	}
	ctx := context.Background()
	clock := NewClock()
	users := auth.NewUserService(s, clock.Now)
	svc := auth.NewMemberService(s, clock.Now)
	prov, err := auth.NewService(s, auth.Config{Clock: clock.Now}).CreateOrganization(ctx, "Provider")
	if err != nil {
		t.Fatal(err)
	}
	alice := verifiedUser(t, users, "alice@example.com")
	bob := verifiedUser(t, users, "bob@example.com")
	if _, _, err := users.SignUp(ctx, auth.SignUpParams{Email: "new@example.com", Password: "correct horse battery", Locale: auth.LocaleJa}); err != nil {
		t.Fatal(err)
	}
	var want []audit.Entry
	entry := func(action string, u auth.User) audit.Entry {
		return audit.Entry{Seq: int64(len(want) + 1), At: clock.Now().Truncate(time.Microsecond), Actor: testActor, Action: action,
			Subject: audit.Subject{Type: "user", ID: u.ID}, OrgID: prov.ID, Data: json.RawMessage(fmt.Sprintf(`{"email":%q,"org":%q}`, u.Email, prov.ID))}
	}
	wantMember := func(t *testing.T, u auth.User, member bool, what string) {
		t.Helper()
		_, err := svc.FindMembership(ctx, prov.ID, u.ID)
		if member && err != nil {
			t.Fatalf("%s: %s is not a member: %v", what, u.Email, err)
		}
		if !member {
			wantCode(t, err, apperr.CodeNotFound, what+": the membership of "+u.Email)
		}
	}

	t.Run("OKEachChangeItsEntry", func(t *testing.T) {
		for _, c := range []struct {
			change func(context.Context, audit.Actor, string, string) (auth.Member, bool, error)
			action string
		}{{svc.AddMember, "org.member_added"}, {svc.RemoveMember, "org.member_removed"}, {svc.AddMember, "org.member_added"}} {
			clock.Advance(time.Second)
			if _, changed, err := c.change(ctx, testActor, prov.ID, "Alice@Example.com"); err != nil || !changed {
				t.Fatalf("%s: %v, %v", c.action, changed, err)
			}
			want = append(want, entry(c.action, alice))
		}
		wantMember(t, alice, true, "after add, remove, add")
		wantAuditEntries(t, s, want)
	})

	t.Run("OKNoOpRecordsNothing", func(t *testing.T) {
		clock.Advance(time.Second)
		if _, added, err := svc.AddMember(ctx, testActor, prov.ID, "alice@example.com"); err != nil || added {
			t.Fatalf("adding a member again = %v, %v; want nothing added", added, err)
		}
		if _, removed, err := svc.RemoveMember(ctx, testActor, prov.ID, "bob@example.com"); err != nil || removed {
			t.Fatalf("removing a non-member = %v, %v; want nothing removed", removed, err)
		}
		added, err := s.OrgMemberInsert(ctx, auth.OrgMemberInsertParams{OrgID: prov.ID, UserID: alice.ID, CreatedAt: clock.Now()},
			mustNotRecord(t, "the store's insert of a member"))
		if err != nil || added {
			t.Fatalf("the store's insert of a member = %v, %v", added, err)
		}
		removed, err := s.OrgMemberDelete(ctx, auth.OrgMemberDeleteParams{OrgID: prov.ID, UserID: bob.ID}, mustNotRecord(t, "the store's delete of a non-member"))
		if err != nil || removed {
			t.Fatalf("the store's delete of a non-member = %v, %v", removed, err)
		}
		wantAuditEntries(t, s, want)
	})

	t.Run("ErrAuditFailsUndoesTheChange", func(t *testing.T) {
		clock.Advance(time.Second)
		added, err := s.OrgMemberInsert(ctx, auth.OrgMemberInsertParams{OrgID: prov.ID, UserID: bob.ID, CreatedAt: clock.Now()}, failRecord)
		wantRefused(t, err, "the store's insert")
		if added {
			t.Error("the store's insert whose audit failed reports a member added")
		}
		wantMember(t, bob, false, "after the store's insert whose audit failed")
		removed, err := s.OrgMemberDelete(ctx, auth.OrgMemberDeleteParams{OrgID: prov.ID, UserID: alice.ID}, appendThenFail(clock.Now()))
		wantRefused(t, err, "the store's delete")
		if removed {
			t.Error("the store's delete whose audit failed reports a member removed")
		}
		wantMember(t, alice, true, "after the store's delete whose audit failed")

		// Through the service: an actor the audit log refuses undoes the change too.
		_, _, err = svc.AddMember(ctx, badActor, prov.ID, "bob@example.com")
		wantCode(t, err, apperr.CodeInvalid, "add by an invalid actor")
		wantMember(t, bob, false, "after an add by an invalid actor")
		_, _, err = svc.RemoveMember(ctx, badActor, prov.ID, "alice@example.com")
		wantCode(t, err, apperr.CodeInvalid, "remove by an invalid actor")
		wantMember(t, alice, true, "after a remove by an invalid actor")
		wantAuditEntries(t, s, want)
	})

	t.Run("ErrRefusedRecordsNothing", func(t *testing.T) {
		for _, c := range []struct{ org, email, code string }{
			{prov.ID, "nobody@example.com", apperr.CodeNotFound},
			{prov.ID, "new@example.com", apperr.CodeInvalid}, // unverified
			{auth.OrgIDPrefix + "00000000000000000000", "bob@example.com", apperr.CodeNotFound},
		} {
			_, _, err := svc.AddMember(ctx, testActor, c.org, c.email)
			wantCode(t, err, c.code, "add "+c.email+" to "+c.org)
			_, _, err = svc.RemoveMember(ctx, testActor, c.org, c.email)
			if c.code == apperr.CodeNotFound {
				wantCode(t, err, c.code, "remove "+c.email+" from "+c.org)
			}
		}
		for _, p := range []auth.OrgMemberInsertParams{
			{OrgID: prov.ID, UserID: auth.UserIDPrefix + "00000000000000000000", CreatedAt: clock.Now()},
			{OrgID: auth.OrgIDPrefix + "00000000000000000000", UserID: bob.ID, CreatedAt: clock.Now()},
		} {
			_, err := s.OrgMemberInsert(ctx, p, mustNotRecord(t, "the store's insert of "+p.UserID+" to "+p.OrgID))
			wantCode(t, err, apperr.CodeNotFound, "the store's insert of "+p.UserID+" to "+p.OrgID)
		}
		wantAuditEntries(t, s, want)
	})
}

// verifiedUser signs a portal user up and verifies their email.
func verifiedUser(t *testing.T, users *auth.UserService, email string) auth.User {
	t.Helper()
	ctx := context.Background()
	_, token, err := users.SignUp(ctx, auth.SignUpParams{Email: email, Password: "correct horse battery", Locale: auth.LocaleJa})
	if err != nil {
		t.Fatal(err)
	}
	u, err := users.VerifyEmail(ctx, token, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// sameMember compares memberships field by field, times by instant.
func sameMember(a, b auth.Member) bool {
	return a.OrgID == b.OrgID && a.OrgName == b.OrgName && a.UserID == b.UserID && a.Email == b.Email && a.CreatedAt.Equal(b.CreatedAt)
}
