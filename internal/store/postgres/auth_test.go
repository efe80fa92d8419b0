package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// revocationWait bounds how long a test waits for a notification to arrive;
// it is a deadline for a failure, not a measured time.
const revocationWait = 10 * time.Second

// TestKeyRevokedOnOneNodeLeavesAnotherNodesCache revokes a key on one node
// while another node, whose cache would keep the key for an hour, watches
// revocations: the other node refuses the key once the notification
// arrives, and again after its listening connection was cut.
func TestKeyRevokedOnOneNodeLeavesAnotherNodesCache(t *testing.T) {
	ctx := context.Background()
	a, b := mustOpenTwoNodes(t)
	cached := auth.NewService(a, auth.Config{KeyCacheTTL: time.Hour})
	revoker := auth.NewService(b, auth.Config{})
	watchCtx, stop := context.WithCancel(ctx)
	var failures []error
	var mu sync.Mutex
	var watching sync.WaitGroup
	watching.Go(func() {
		a.WatchKeyRevocations(watchCtx, cached.Forget, func(err error) {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		})
	})
	t.Cleanup(func() { stop(); watching.Wait() })

	org, err := revoker.CreateOrganization(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	newKey := func() (auth.APIKey, string) {
		k, secret, err := revoker.CreateKey(ctx, org.ID, "", []auth.Scope{"accounts:read"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cached.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		return k, secret
	}
	refusedSoon := func(secret, what string) {
		t.Helper()
		deadline := time.Now().Add(revocationWait)
		for {
			_, err := cached.Authenticate(ctx, secret)
			if apperr.CodeOf(err) == auth.CodeUnauthenticated {
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the caching node still accepts the key %s after the revocation", what, revocationWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	listening := func() int {
		var n int
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
			"LISTEN "+keyRevokedChannel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitListening := func() {
		t.Helper()
		deadline := time.Now().Add(revocationWait)
		for listening() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the watcher never listened")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("OKNotified", func(t *testing.T) {
		waitListening()
		k, secret := newKey()
		if _, err := revoker.RevokeKey(ctx, org.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		refusedSoon(secret, "revoked on another node")
	})
	t.Run("OKAfterTheConnectionWasCut", func(t *testing.T) {
		waitListening()
		k, secret := newKey()
		if _, err := b.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
			"LISTEN "+keyRevokedChannel); err != nil {
			t.Fatal(err)
		}
		// Revoked while no one may be listening: the watcher forgets every
		// key when it listens again.
		if _, err := revoker.RevokeKey(ctx, org.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		refusedSoon(secret, "revoked while the watcher's connection was cut")
		waitListening()
		mu.Lock()
		defer mu.Unlock()
		if len(failures) == 0 {
			t.Error("the cut connection was not reported")
		}
	})
}
