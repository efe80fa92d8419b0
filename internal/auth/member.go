package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
)

// Members of an organization are portal users who act for it in its own
// portal pages (a provider's billing pages). They are the organization's
// people, not the operator's: staff users (staff.go) are never members, and
// membership opens nothing in the console. The operator adds and removes
// members (kinko orgs members); a new member is an existing, verified,
// enabled portal user.

// Bounds of memberships.
const (
	// MemberPageLimitMax bounds one FindMembers page.
	MemberPageLimitMax = 1000
	// MembershipsMax bounds the organizations one user belongs to: the
	// portal reads them whole on every page that shows its navigation.
	MembershipsMax = 100
)

// Audit actions of membership changes (docs/audit.md), about the subject
// {MemberAuditSubject, the user's id} in the organization (the entry's
// OrgID). Each is recorded in the transaction of its change; adding a member
// again or removing a non-member records nothing.
const (
	MemberAuditSubject = "user"
	AuditMemberAdded   = "org.member_added"   // data: email, org
	AuditMemberRemoved = "org.member_removed" // data: email, org
)

// Member is a portal user's membership of an organization.
type Member struct {
	OrgID     string
	OrgName   string
	UserID    string
	Email     string // the user's
	CreatedAt time.Time
}

// MemberStore is what memberships need of a database: the organizations
// and portal users they join, and the memberships themselves.
type MemberStore interface {
	// OrganizationByID returns one organization. Errors: not_found.
	OrganizationByID(ctx context.Context, id string) (Organization, error)
	// UserByEmail returns a user and their password hash. Errors: not_found.
	UserByEmail(ctx context.Context, email string) (User, string, error)

	// OrgMemberInsert makes p.UserID a member of p.OrgID unless they are
	// one already, and reports whether it did: adding twice changes
	// nothing. When it inserts, it calls record in the same transaction;
	// an error from record undoes the insert and is returned.
	//
	// Errors: not_found (the organization or the user does not exist).
	OrgMemberInsert(ctx context.Context, p OrgMemberInsertParams, record AuditFunc) (bool, error)
	// OrgMemberDelete ends p.UserID's membership of p.OrgID and reports
	// whether there was one. When it deletes, it calls record in the same
	// transaction; an error from record undoes the delete and is returned.
	OrgMemberDelete(ctx context.Context, p OrgMemberDeleteParams, record AuditFunc) (bool, error)
	// OrgMemberByID returns one membership, with the organization's name
	// and the user's email.
	//
	// Errors: not_found.
	OrgMemberByID(ctx context.Context, orgID, userID string) (Member, error)
	// OrgMemberList returns up to f.Limit members of f.OrgID whose user ids
	// are greater than f.AfterUserID, in user id order.
	OrgMemberList(ctx context.Context, f OrgMemberFilter) ([]Member, error)
	// OrgMembershipList returns up to limit memberships of userID, in
	// organization id order.
	OrgMembershipList(ctx context.Context, userID string, limit int) ([]Member, error)
}

// OrgMemberInsertParams is a new membership.
type OrgMemberInsertParams struct {
	OrgID     string
	UserID    string
	CreatedAt time.Time
}

// OrgMemberDeleteParams names a membership.
type OrgMemberDeleteParams struct {
	OrgID  string
	UserID string
}

// OrgMemberFilter selects one page of an organization's members.
type OrgMemberFilter struct {
	OrgID       string
	AfterUserID string // "" starts at the first member
	Limit       int
}

// MemberService adds, removes and finds the members of organizations. It is
// safe for concurrent use.
type MemberService struct {
	store MemberStore
	clock func() time.Time
}

// NewMemberService returns a MemberService; clock nil means time.Now.
func NewMemberService(s MemberStore, clock func() time.Time) *MemberService {
	if clock == nil {
		clock = time.Now
	}
	return &MemberService{store: s, clock: clock}
}

func (s *MemberService) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// memberEntry returns the AuditFunc that records action by actor at now
// about the membership m.
func memberEntry(now time.Time, actor audit.Actor, action string, m Member) AuditFunc {
	e := audit.Entry{Actor: actor, Action: action, Subject: audit.Subject{Type: MemberAuditSubject, ID: m.UserID}, OrgID: m.OrgID}
	return recordChange(now, e, map[string]any{"email": m.Email, "org": m.OrgID})
}

// AddMember makes the portal user with email a member of the organization
// orgID and returns the membership, and whether it is new: adding a member
// again changes nothing. The user must have confirmed their email and not be
// disabled, and belong to fewer than MembershipsMax organizations. A new
// membership is recorded (AuditMemberAdded, by actor) in the transaction
// that inserts it.
//
// Errors: not_found (the organization; no portal user has the email),
// invalid (email: malformed, unverified, disabled, in too many
// organizations; actor), or the audit log's; on any error the user is not
// added.
func (s *MemberService) AddMember(ctx context.Context, actor audit.Actor, orgID, email string) (Member, bool, error) {
	org, u, err := s.orgAndUser(ctx, orgID, email)
	if err != nil {
		return Member{}, false, err
	}
	switch {
	case !u.Verified():
		return Member{}, false, apperr.Invalid("email", "the portal user %s has not confirmed their email yet", u.Email)
	case u.Disabled:
		return Member{}, false, apperr.Invalid("email", "the portal user %s is disabled", u.Email)
	}
	if m, err := s.store.OrgMemberByID(ctx, org.ID, u.ID); err == nil {
		return m, false, nil
	} else if !apperr.Is(err, apperr.CodeNotFound) {
		return Member{}, false, fmt.Errorf("auth: add member: %w", err)
	}
	orgs, err := s.store.OrgMembershipList(ctx, u.ID, MembershipsMax)
	if err != nil {
		return Member{}, false, fmt.Errorf("auth: add member: %w", err)
	}
	if len(orgs) >= MembershipsMax {
		return Member{}, false, apperr.Invalid("email", "the portal user %s belongs to %d organizations, the most one may", u.Email, MembershipsMax)
	}
	m := Member{OrgID: org.ID, OrgName: org.Name, UserID: u.ID, Email: u.Email, CreatedAt: s.now()}
	added, err := s.store.OrgMemberInsert(ctx, OrgMemberInsertParams{OrgID: m.OrgID, UserID: m.UserID, CreatedAt: m.CreatedAt},
		memberEntry(m.CreatedAt, actor, AuditMemberAdded, m))
	if err != nil {
		return Member{}, false, fmt.Errorf("auth: add member: %w", err)
	}
	if !added {
		// Another call added them between the lookup and the insert.
		m, err = s.store.OrgMemberByID(ctx, org.ID, u.ID)
		if err != nil {
			return Member{}, false, fmt.Errorf("auth: add member: %w", err)
		}
	}
	return m, added, nil
}

// RemoveMember ends the membership of the portal user with email in the
// organization orgID and reports whether there was one: removing a
// non-member changes nothing. The returned Member names the user. A removal
// is recorded (AuditMemberRemoved, by actor) in the transaction that
// deletes the membership.
//
// Errors: not_found (the organization; no portal user has the email),
// invalid (email; actor), or the audit log's; on any error the membership
// stays.
func (s *MemberService) RemoveMember(ctx context.Context, actor audit.Actor, orgID, email string) (Member, bool, error) {
	org, u, err := s.orgAndUser(ctx, orgID, email)
	if err != nil {
		return Member{}, false, err
	}
	m := Member{OrgID: org.ID, OrgName: org.Name, UserID: u.ID, Email: u.Email}
	removed, err := s.store.OrgMemberDelete(ctx, OrgMemberDeleteParams{OrgID: org.ID, UserID: u.ID},
		memberEntry(s.now(), actor, AuditMemberRemoved, m))
	if err != nil {
		return Member{}, false, fmt.Errorf("auth: remove member: %w", err)
	}
	return m, removed, nil
}

// orgAndUser reads the organization orgID and the portal user with email.
func (s *MemberService) orgAndUser(ctx context.Context, orgID, email string) (Organization, User, error) {
	org, err := s.findOrganization(ctx, orgID)
	if err != nil {
		return Organization{}, User{}, err
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		return Organization{}, User{}, err
	}
	u, _, err := s.store.UserByEmail(ctx, addr)
	if apperr.Is(err, apperr.CodeNotFound) {
		return Organization{}, User{}, apperr.NotFound("portal user " + addr)
	}
	if err != nil {
		return Organization{}, User{}, fmt.Errorf("auth: find user: %w", err)
	}
	return org, u, nil
}

func (s *MemberService) findOrganization(ctx context.Context, orgID string) (Organization, error) {
	if !validOrgID(orgID) {
		return Organization{}, apperr.NotFound("organization")
	}
	org, err := s.store.OrganizationByID(ctx, orgID)
	if err != nil {
		return Organization{}, fmt.Errorf("auth: find organization: %w", err)
	}
	return org, nil
}

// FindMembers returns up to limit members of the organization orgID whose
// user ids are greater than afterUserID, in user id order.
//
// Errors: not_found (the organization), invalid (limit).
func (s *MemberService) FindMembers(ctx context.Context, orgID, afterUserID string, limit int) ([]Member, error) {
	if limit < 1 || limit > MemberPageLimitMax {
		return nil, apperr.Invalid("limit", "limit must be 1 to %d", MemberPageLimitMax)
	}
	if _, err := s.findOrganization(ctx, orgID); err != nil {
		return nil, err
	}
	return s.store.OrgMemberList(ctx, OrgMemberFilter{OrgID: orgID, AfterUserID: afterUserID, Limit: limit})
}

// FindMemberships returns the organizations the portal user userID belongs
// to (at most MembershipsMax), in organization id order.
func (s *MemberService) FindMemberships(ctx context.Context, userID string) ([]Member, error) {
	if !validID(userID, UserIDPrefix) {
		return nil, nil
	}
	return s.store.OrgMembershipList(ctx, userID, MembershipsMax)
}

// FindMembership returns the portal user userID's membership of the
// organization orgID. A malformed id, an organization that does not exist
// and one the user does not belong to look the same.
//
// Errors: not_found.
func (s *MemberService) FindMembership(ctx context.Context, orgID, userID string) (Member, error) {
	if !validOrgID(orgID) || !validID(userID, UserIDPrefix) {
		return Member{}, apperr.NotFound("membership")
	}
	return s.store.OrgMemberByID(ctx, orgID, userID)
}
