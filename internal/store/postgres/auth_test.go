package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// revocationWait bounds how long a test waits for a notification or a
// reconnection; it is a deadline for a failure, not a measured time.
const revocationWait = 10 * time.Second

// eventually fails the test unless ok becomes true within revocationWait.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(revocationWait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, revocationWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingKeys counts the API key reads of a store.
type countingKeys struct {
	*DB
	mu    sync.Mutex
	reads int
}

func (c *countingKeys) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, []byte, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.DB.APIKeyByPrefix(ctx, prefix)
}

func (c *countingKeys) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// TestKeyRevokedOnOneNodeLeavesAnotherNodesCache revokes a key on one node
// while another node, whose cache would keep the key for an hour, watches
// revocations: the other node refuses the key once the notification
// arrives. The watcher forgets every key each time it starts listening,
// after a cut connection too, and reports the cut.
func TestKeyRevokedOnOneNodeLeavesAnotherNodesCache(t *testing.T) {
	ctx := context.Background()
	a, b := mustOpenTwoNodes(t)
	counting := &countingKeys{DB: a}
	cached := auth.NewService(counting, auth.Config{KeyCacheTTL: time.Hour})
	revoker := auth.NewService(b, auth.Config{})

	var mu sync.Mutex
	var forgotten []string // what the watcher passed to Forget
	var failures []error
	watchCtx, stop := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() {
		a.WatchKeyRevocations(watchCtx, func(prefix string) {
			mu.Lock()
			forgotten = append(forgotten, prefix)
			mu.Unlock()
			cached.Forget(prefix)
		}, func(err error) {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		})
	})
	t.Cleanup(func() { stop(); watching.Wait() })
	flushes := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range forgotten {
			if p == "" {
				n++
			}
		}
		return n
	}
	eventually(t, "the watcher listens and forgets every key", func() bool { return flushes() == 1 })

	org, err := revoker.CreateOrganization(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := revoker.CreateKey(ctx, org.ID, "", []auth.Scope{"accounts:read"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cached.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.count(); n != 1 {
		t.Fatalf("3 requests read the key %d times, want once: the cache is not in use", n)
	}

	t.Run("OKNotified", func(t *testing.T) {
		if _, err := revoker.RevokeKey(ctx, org.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the caching node hears of the revocation", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(forgotten, k.Prefix)
		})
		_, err := cached.Authenticate(ctx, secret)
		if apperr.CodeOf(err) != auth.CodeUnauthenticated {
			t.Fatalf("after the notification: %v, want unauthenticated", err)
		}
	})
	t.Run("OKForgetsEverythingAfterACut", func(t *testing.T) {
		var pids []int32
		rows, err := b.pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
			"LISTEN "+keyRevokedChannel)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var pid int32
			if err := rows.Scan(&pid); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		if rows.Err() != nil || len(pids) != 1 {
			t.Fatalf("listening backends %v, %v; want one", pids, rows.Err())
		}
		if _, err := b.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pids[0]); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the watcher listens again and forgets every key", func() bool { return flushes() == 2 })
		mu.Lock()
		defer mu.Unlock()
		if len(failures) == 0 {
			t.Error("the cut connection was not reported")
		}
	})
}
