package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// authStore asserts that a store of the harness is an auth.Store too.
func authStore(t testing.TB, s ledger.Store) auth.Store {
	t.Helper()
	as, ok := s.(auth.Store)
	if !ok {
		t.Fatalf("%T does not implement auth.Store", s)
	}
	return as
}

// authFixture is an auth.Service on a fresh store with a test clock.
type authFixture struct {
	t       testing.TB
	ctx     context.Context
	store   auth.Store
	svc     *auth.Service
	clock   *Clock
	touches []error // what Config.TouchFailed received
}

func newAuthFixture(t testing.TB, h Harness) *authFixture {
	t.Helper()
	return newAuthFixtureOn(t, authStore(t, h.Open(t)))
}

func newAuthFixtureOn(t testing.TB, s auth.Store) *authFixture {
	f := &authFixture{t: t, ctx: context.Background(), store: s, clock: NewClock()}
	f.svc = auth.NewService(s, auth.Config{Clock: f.clock.Now, TouchFailed: func(_ string, err error) {
		f.touches = append(f.touches, err)
	}})
	return f
}

func (f *authFixture) org(name string) auth.Organization {
	f.t.Helper()
	o, err := f.svc.CreateOrganization(f.ctx, name)
	if err != nil {
		f.t.Fatalf("create organization %q: %v", name, err)
	}
	return o
}

func (f *authFixture) key(orgID string, scopes ...auth.Scope) (auth.APIKey, string) {
	f.t.Helper()
	k, secret, err := f.svc.CreateKey(f.ctx, orgID, "test key", scopes)
	if err != nil {
		f.t.Fatalf("create key for %s: %v", orgID, err)
	}
	return k, secret
}

// keys returns every key of orgID, one page at a time of pageSize.
func (f *authFixture) keys(orgID string, pageSize int) []auth.APIKey {
	f.t.Helper()
	var all []auth.APIKey
	after := ""
	for range 1000 {
		page, err := f.svc.FindKeys(f.ctx, orgID, after, pageSize)
		if err != nil {
			f.t.Fatalf("find keys of %s after %q: %v", orgID, after, err)
		}
		if len(page) > pageSize {
			f.t.Fatalf("find keys: %d keys in a page of %d", len(page), pageSize)
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
		after = page[len(page)-1].ID
	}
	f.t.Fatal("find keys never ended")
	return nil
}

func (f *authFixture) keyByID(orgID, id string) auth.APIKey {
	f.t.Helper()
	for _, k := range f.keys(orgID, auth.KeyPageLimitMax) {
		if k.ID == id {
			return k
		}
	}
	f.t.Fatalf("key %s not listed for %s", id, orgID)
	return auth.APIKey{}
}

func wantCode(t testing.TB, err error, code, what string) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// sameKey compares keys field by field, times by instant.
func sameKey(a, b auth.APIKey) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.Name == b.Name && a.Prefix == b.Prefix &&
		slices.Equal(a.Scopes, b.Scopes) && a.CreatedAt.Equal(b.CreatedAt) &&
		a.RevokedAt.Equal(b.RevokedAt) && a.LastUsedAt.Equal(b.LastUsedAt)
}

func testAuth(t *testing.T, h Harness) {
	t.Run("Organization", func(t *testing.T) {
		f := newAuthFixture(t, h)
		o := f.org("Acme 株式会社")
		if !strings.HasPrefix(o.ID, auth.OrgIDPrefix) || len(o.ID) != len(auth.OrgIDPrefix)+20 {
			t.Errorf("organization id %q", o.ID)
		}
		got, err := f.svc.FindOrganizationByID(f.ctx, o.ID)
		if err != nil || got.ID != o.ID || got.Name != o.Name || !got.CreatedAt.Equal(f.clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("FindOrganizationByID = %+v, %v; want %+v", got, err, o)
		}
		_, err = f.svc.FindOrganizationByID(f.ctx, "org_"+strings.Repeat("x", 20))
		wantCode(t, err, apperr.CodeNotFound, "find a missing organization")
		_, err = f.svc.FindOrganizationByID(f.ctx, "not an id \xff")
		wantCode(t, err, apperr.CodeNotFound, "find by a malformed id")
		for _, bad := range []string{"", strings.Repeat("a", auth.NameBytesMax+1), "\xff", "a\tb"} {
			_, err := f.svc.CreateOrganization(f.ctx, bad)
			wantCode(t, err, apperr.CodeInvalid, fmt.Sprintf("create organization %q", bad))
		}
		err = f.store.OrganizationInsert(f.ctx, auth.OrganizationInsertParams{Organization: o})
		wantCode(t, err, apperr.CodeConflict, "insert an organization id twice")
	})

	t.Run("AuthenticateOK", func(t *testing.T) {
		f := newAuthFixture(t, h)
		o := f.org("Acme")
		k, secret := f.key(o.ID, "accounts:read", "transfers:write")
		if k.OrgID != o.ID || !strings.HasPrefix(secret, k.Prefix+"_") || len(k.Prefix) != auth.SecretPrefixLen {
			t.Fatalf("key %+v with secret of prefix %q", k, secret[:auth.SecretPrefixLen])
		}
		p, err := f.svc.Authenticate(f.ctx, secret)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		want := auth.Principal{OrgID: o.ID, KeyID: k.ID, Scopes: []auth.Scope{"accounts:read", "transfers:write"}}
		if p.OrgID != want.OrgID || p.KeyID != want.KeyID || !slices.Equal(p.Scopes, want.Scopes) {
			t.Fatalf("principal %+v, want %+v", p, want)
		}
		k.LastUsedAt = f.clock.Now().Truncate(time.Microsecond)
		if got := f.keyByID(o.ID, k.ID); !sameKey(got, k) {
			t.Fatalf("listed key %+v, want %+v", got, k)
		}
	})

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		f := newAuthFixture(t, h)
		o := f.org("Acme")
		k, secret := f.key(o.ID, "accounts:read")
		_, other := f.key(o.ID, "accounts:read")
		// The right prefix with another key's random part.
		wrong := secret[:auth.SecretPrefixLen] + other[auth.SecretPrefixLen:]
		unknownPrefix := other[:auth.SecretPrefixLen-1] + flip(other[auth.SecretPrefixLen-1]) + other[auth.SecretPrefixLen:]
		cases := map[string]string{
			"WrongSecret":   wrong,
			"UnknownPrefix": unknownPrefix,
			"Malformed":     secret[:40],
			"Empty":         "",
			"PrefixOnly":    k.Prefix,
		}
		var messages []string
		for name, s := range cases {
			t.Run(name, func(t *testing.T) {
				_, err := f.svc.Authenticate(f.ctx, s)
				wantCode(t, err, auth.CodeUnauthenticated, "authenticate")
				messages = append(messages, err.Error())
			})
		}
		if _, err := f.svc.RevokeKey(f.ctx, o.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(f.ctx, secret)
		wantCode(t, err, auth.CodeUnauthenticated, "authenticate with a revoked key")
		messages = append(messages, err.Error())
		for _, m := range messages {
			if m != messages[0] {
				t.Errorf("failures say different things, which tells a caller what was wrong: %q", messages)
				break
			}
		}
		if _, err := f.svc.Authenticate(f.ctx, other); err != nil {
			t.Errorf("the other key stopped working: %v", err)
		}
	})

	t.Run("CreateKeyErrors", func(t *testing.T) {
		f := newAuthFixture(t, h)
		o := f.org("Acme")
		_, _, err := f.svc.CreateKey(f.ctx, "org_"+strings.Repeat("x", 20), "", []auth.Scope{"accounts:read"})
		wantCode(t, err, apperr.CodeNotFound, "create a key for a missing organization")
		_, _, err = f.svc.CreateKey(f.ctx, "nonsense", "", []auth.Scope{"accounts:read"})
		wantCode(t, err, apperr.CodeNotFound, "create a key for a malformed organization id")
		_, _, err = f.svc.CreateKey(f.ctx, o.ID, "", []auth.Scope{auth.ScopeAdmin})
		wantCode(t, err, apperr.CodeInvalid, "give a merchant the admin scope")
		_, _, err = f.svc.CreateKey(f.ctx, o.ID, "", nil)
		wantCode(t, err, apperr.CodeInvalid, "create a key without scopes")
		_, _, err = f.svc.CreateKey(f.ctx, o.ID, strings.Repeat("n", auth.NameBytesMax+1), []auth.Scope{"accounts:read"})
		wantCode(t, err, apperr.CodeInvalid, "create a key with a long name")

		// The store refuses a second key with a taken prefix.
		k, _ := f.key(o.ID, "accounts:read")
		dup := k
		dup.ID = "key_" + strings.Repeat("d", 20)
		err = f.store.APIKeyInsert(f.ctx, auth.APIKeyInsertParams{Key: dup, SecretHash: make([]byte, 32)})
		wantCode(t, err, apperr.CodeConflict, "insert a taken prefix")
	})

	t.Run("KeyCache", func(t *testing.T) { testAuthKeyCache(t, h) })

	t.Run("LastUsed", func(t *testing.T) {
		f := newAuthFixture(t, h)
		o := f.org("Acme")
		k, secret := f.key(o.ID, "accounts:read")
		if got := f.keyByID(o.ID, k.ID); !got.LastUsedAt.IsZero() {
			t.Fatalf("a new key has last_used_at %v", got.LastUsedAt)
		}
		first := f.clock.Now().Truncate(time.Microsecond)
		authenticate := func() {
			t.Helper()
			if _, err := f.svc.Authenticate(f.ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		authenticate()
		if got := f.keyByID(o.ID, k.ID).LastUsedAt; !got.Equal(first) {
			t.Fatalf("last_used_at after first use = %v, want %v", got, first)
		}
		f.clock.Advance(auth.LastUsedResolution - time.Microsecond)
		authenticate()
		if got := f.keyByID(o.ID, k.ID).LastUsedAt; !got.Equal(first) {
			t.Fatalf("last_used_at rewritten within the resolution: %v, want %v", got, first)
		}
		// A touch that raced with the first (its stored time is newer than its
		// cutoff) writes nothing.
		now := f.clock.Now().Truncate(time.Microsecond)
		if err := f.store.APIKeyTouch(f.ctx, auth.APIKeyTouchParams{KeyID: k.ID, At: now, Cutoff: now.Add(-auth.LastUsedResolution)}); err != nil {
			t.Fatal(err)
		}
		if got := f.keyByID(o.ID, k.ID).LastUsedAt; !got.Equal(first) {
			t.Fatalf("a conditional touch within the resolution wrote %v, want %v", got, first)
		}
		f.clock.Advance(time.Microsecond)
		second := f.clock.Now().Truncate(time.Microsecond)
		authenticate()
		if got := f.keyByID(o.ID, k.ID).LastUsedAt; !got.Equal(second) {
			t.Fatalf("last_used_at after the resolution = %v, want %v", got, second)
		}
		if len(f.touches) != 0 {
			t.Errorf("touches failed: %v", f.touches)
		}
	})

	t.Run("FindKeys", func(t *testing.T) {
		f := newAuthFixture(t, h)
		a, b := f.org("A"), f.org("B")
		var want []auth.APIKey
		for range 7 {
			k, _ := f.key(a.ID, "accounts:read")
			want = append(want, k)
		}
		kb, _ := f.key(b.ID, "events:read")
		slices.SortFunc(want, func(x, y auth.APIKey) int { return strings.Compare(x.ID, y.ID) })
		for _, size := range []int{1, 3, 7, 100} {
			got := f.keys(a.ID, size)
			if !slices.EqualFunc(got, want, sameKey) {
				t.Fatalf("keys of A in pages of %d = %d keys %v, want %d keys in id order", size, len(got), ids(got), len(want))
			}
		}
		if got := f.keys(b.ID, 10); len(got) != 1 || !sameKey(got[0], kb) {
			t.Fatalf("keys of B = %v, want only %s", ids(got), kb.ID)
		}
		_, err := f.svc.FindKeys(f.ctx, a.ID, "", 0)
		wantCode(t, err, apperr.CodeInvalid, "find keys with limit 0")
		_, err = f.svc.FindKeys(f.ctx, a.ID, "", auth.KeyPageLimitMax+1)
		wantCode(t, err, apperr.CodeInvalid, "find keys beyond the page bound")
		_, err = f.svc.FindKeys(f.ctx, a.ID, "'; DROP TABLE api_keys", 10)
		wantCode(t, err, apperr.CodeInvalid, "find keys after a cursor that is no key id")
		_, err = f.svc.FindKeys(f.ctx, "org_"+strings.Repeat("z", 20), "", 10)
		wantCode(t, err, apperr.CodeNotFound, "find keys of a missing organization")
	})

	t.Run("Revoke", func(t *testing.T) {
		f := newAuthFixture(t, h)
		a, b := f.org("A"), f.org("B")
		ka, _ := f.key(a.ID, "accounts:read")
		kb, secretB := f.key(b.ID, "accounts:read")

		_, err := f.svc.RevokeKey(f.ctx, a.ID, kb.ID)
		wantCode(t, err, apperr.CodeNotFound, "revoke another organization's key")
		if _, err := f.svc.Authenticate(f.ctx, secretB); err != nil {
			t.Fatalf("B's key stopped working after A tried to revoke it: %v", err)
		}
		_, err = f.svc.RevokeKey(f.ctx, a.ID, "key_"+strings.Repeat("q", 20))
		wantCode(t, err, apperr.CodeNotFound, "revoke a missing key")
		_, err = f.svc.RevokeKey(f.ctx, a.ID, "nonsense")
		wantCode(t, err, apperr.CodeNotFound, "revoke a malformed key id")

		revokedAt := f.clock.Now().Truncate(time.Microsecond)
		got, err := f.svc.RevokeKey(f.ctx, a.ID, ka.ID)
		if err != nil || !got.RevokedAt.Equal(revokedAt) || got.ID != ka.ID {
			t.Fatalf("RevokeKey = %+v, %v; want revoked at %v", got, err, revokedAt)
		}
		f.clock.Advance(time.Hour)
		again, err := f.svc.RevokeKey(f.ctx, a.ID, ka.ID)
		if err != nil || !again.RevokedAt.Equal(revokedAt) {
			t.Fatalf("second RevokeKey = %+v, %v; want success keeping revoked_at %v", again, err, revokedAt)
		}
		if listed := f.keyByID(a.ID, ka.ID); !listed.RevokedAt.Equal(revokedAt) {
			t.Fatalf("listed revoked_at = %v, want %v", listed.RevokedAt, revokedAt)
		}
	})

	t.Run("Bootstrap", func(t *testing.T) {
		f := newAuthFixture(t, h)
		secret, created, err := f.svc.Bootstrap(f.ctx)
		if err != nil || !created || secret == "" {
			t.Fatalf("first Bootstrap = %q, %v, %v; want a secret, true, nil", secret, created, err)
		}
		p, err := f.svc.Authenticate(f.ctx, secret)
		if err != nil || p.OrgID != auth.OperatorOrgID || !p.IsAdmin() {
			t.Fatalf("bootstrap secret authenticates as %+v, %v; want the operator with admin", p, err)
		}
		again, created, err := f.svc.Bootstrap(f.ctx)
		if err != nil || created || again != "" {
			t.Fatalf("second Bootstrap = %q, %v, %v; want \"\", false, nil", again, created, err)
		}
		if keys := f.keys(auth.OperatorOrgID, 10); len(keys) != 1 || keys[0].Name != auth.BootstrapKeyName {
			t.Fatalf("operator keys = %v, want the one bootstrap key", ids(keys))
		}
	})

	t.Run("BootstrapConcurrent", func(t *testing.T) {
		s1, s2 := h.OpenPair(t)
		nodes := []*authFixture{newAuthFixtureOn(t, authStore(t, s1)), newAuthFixtureOn(t, authStore(t, s2))}
		secrets := make([]string, len(nodes))
		created := make([]bool, len(nodes))
		errs := make([]error, len(nodes))
		var start, wg sync.WaitGroup
		start.Add(1)
		for i, n := range nodes {
			wg.Go(func() {
				start.Wait()
				secrets[i], created[i], errs[i] = n.svc.Bootstrap(n.ctx)
			})
		}
		start.Done()
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Bootstrap: %v", err)
		}
		if created[0] == created[1] {
			t.Fatalf("concurrent Bootstrap created = %v; want exactly one", created)
		}
		winner := 0
		if created[1] {
			winner = 1
		}
		if secrets[1-winner] != "" {
			t.Errorf("the node that did not create got a secret")
		}
		for _, n := range nodes {
			if _, err := n.svc.Authenticate(n.ctx, secrets[winner]); err != nil {
				t.Errorf("the bootstrap secret does not authenticate on both nodes: %v", err)
			}
		}
		if keys := nodes[0].keys(auth.OperatorOrgID, 10); len(keys) != 1 {
			t.Fatalf("operator keys after concurrent Bootstrap = %v, want one", ids(keys))
		}

		// The slower node of a race looked before the faster one inserted:
		// its insert conflicts, and it reports that it created nothing.
		late := newAuthFixtureOn(t, notYetStore{nodes[1].store})
		secret, made, err := late.svc.Bootstrap(late.ctx)
		if err != nil || made || secret != "" {
			t.Fatalf("Bootstrap that loses the race = %q, %v, %v; want \"\", false, nil", secret, made, err)
		}
		if keys := nodes[0].keys(auth.OperatorOrgID, 10); len(keys) != 1 {
			t.Fatalf("operator keys after a lost race = %v, want one", ids(keys))
		}
	})

	t.Run("OperatorKeyBeforeBootstrap", func(t *testing.T) {
		f := newAuthFixture(t, h)
		k, secret := f.key(auth.OperatorOrgID, auth.ScopeAdmin)
		if p, err := f.svc.Authenticate(f.ctx, secret); err != nil || p.OrgID != auth.OperatorOrgID || p.KeyID != k.ID {
			t.Fatalf("operator key authenticates as %+v, %v", p, err)
		}
		if _, err := f.svc.FindOrganizationByID(f.ctx, auth.OperatorOrgID); err != nil {
			t.Fatalf("the operator's organization was not created with its first key: %v", err)
		}
		if secret, created, err := f.svc.Bootstrap(f.ctx); err != nil || created || secret != "" {
			t.Fatalf("Bootstrap after an operator key = %q, %v, %v; want nothing created", secret, created, err)
		}
		f.key(auth.OperatorOrgID, "accounts:read")
		if keys := f.keys(auth.OperatorOrgID, 10); len(keys) != 2 {
			t.Fatalf("operator keys = %v, want two", ids(keys))
		}
	})
}

// notYetStore answers every organization lookup with not_found, as a store
// read just before another node inserted would.
type notYetStore struct{ auth.Store }

func (notYetStore) OrganizationByID(context.Context, string) (auth.Organization, error) {
	return auth.Organization{}, apperr.NotFound("organization")
}

// flip returns another base62 character than c.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func ids(keys []auth.APIKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// countingAuthStore counts the reads and last-use writes of API keys.
type countingAuthStore struct {
	auth.Store
	mu             sync.Mutex
	reads, touches int
}

func (s *countingAuthStore) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, []byte, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.APIKeyByPrefix(ctx, prefix)
}

func (s *countingAuthStore) APIKeyTouch(ctx context.Context, p auth.APIKeyTouchParams) error {
	s.mu.Lock()
	s.touches++
	s.mu.Unlock()
	return s.Store.APIKeyTouch(ctx, p)
}

func (s *countingAuthStore) counts() (reads, touches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.touches
}

// testAuthKeyCache checks auth.Config.KeyCacheTTL: a key is read once per
// TTL, a revocation through the caching Service holds at once, and one made
// elsewhere holds once the entry expires.
func testAuthKeyCache(t *testing.T, h Harness) {
	const ttl = time.Second
	f := newAuthFixture(t, h)
	counting := &countingAuthStore{Store: f.store}
	node := auth.NewService(counting, auth.Config{Clock: f.clock.Now, KeyCacheTTL: ttl})
	o := f.org("Acme")
	k, secret := f.key(o.ID, "accounts:read")
	authenticate := func(svc *auth.Service, secret string) error {
		t.Helper()
		p, err := svc.Authenticate(f.ctx, secret)
		if err == nil && (p.OrgID != o.ID || !strings.HasPrefix(p.KeyID, auth.KeyIDPrefix)) {
			t.Fatalf("authenticated as %+v", p)
		}
		return err
	}

	t.Run("OKOneReadPerTTL", func(t *testing.T) {
		for range 5 {
			if err := authenticate(node, secret); err != nil {
				t.Fatal(err)
			}
		}
		if reads, touches := counting.counts(); reads != 1 || touches != 1 {
			t.Fatalf("5 requests within the TTL: %d reads and %d last-use writes, want 1 and 1", reads, touches)
		}
		if got := f.keyByID(o.ID, k.ID).LastUsedAt; !got.Equal(f.clock.Now().Truncate(time.Microsecond)) {
			t.Fatalf("last_used_at %v, want the first request's time", got)
		}
		f.clock.Advance(ttl)
		if err := authenticate(node, secret); err != nil {
			t.Fatal(err)
		}
		if reads, touches := counting.counts(); reads != 2 || touches != 1 {
			t.Fatalf("after the TTL: %d reads and %d last-use writes, want 2 and 1", reads, touches)
		}
	})
	t.Run("ErrWrongSecretOfACachedKey", func(t *testing.T) {
		wrong := secret[:len(secret)-1] + flip(secret[len(secret)-1])
		wantCode(t, authenticate(node, wrong), auth.CodeUnauthenticated, "a wrong secret with a cached prefix")
	})
	t.Run("ErrRevokedElsewhereAfterTTL", func(t *testing.T) {
		if err := authenticate(node, secret); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RevokeKey(f.ctx, o.ID, k.ID); err != nil { // another node
			t.Fatal(err)
		}
		wantCode(t, authenticate(f.svc, secret), auth.CodeUnauthenticated, "the revoking node, at once")
		// The trade the cache makes: this node learns of it within the TTL.
		if err := authenticate(node, secret); err != nil {
			t.Fatalf("within the TTL of its entry: %v", err)
		}
		f.clock.Advance(ttl)
		wantCode(t, authenticate(node, secret), auth.CodeUnauthenticated, "a key revoked elsewhere, after the TTL")
	})
	t.Run("ErrRevokedHereAtOnce", func(t *testing.T) {
		k2, secret2 := f.key(o.ID, "accounts:read")
		if _, err := node.Authenticate(f.ctx, secret2); err != nil {
			t.Fatal(err)
		}
		if _, err := node.RevokeKey(f.ctx, o.ID, k2.ID); err != nil {
			t.Fatal(err)
		}
		_, err := node.Authenticate(f.ctx, secret2)
		wantCode(t, err, auth.CodeUnauthenticated, "a key revoked through the caching service")
	})
}
