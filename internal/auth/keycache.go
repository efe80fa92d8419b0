package auth

import (
	"sync"
	"time"
)

// keyCacheMax bounds how many keys a cache holds; a full cache drops an
// arbitrary entry for a new one. Each entry is a few hundred bytes.
const keyCacheMax = 10000

// keyCache keeps the keys Authenticate read, by prefix, for a short time:
// a client sending many requests with one key costs one read of it per ttl,
// not one per request. Entries expire by the Service's clock.
//
// What it trades: a key revoked through this Service is dropped at once,
// and one revoked by another process (`kinko keys revoke`, another node)
// when a RevocationWatcher calls Forget; without one (SQLite, or while the
// watcher cannot listen) the key keeps authenticating here until its entry
// expires, ttl at most.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedKey
	// gen counts drops and clears: a key read before one of them may be
	// the revoked key's old row, so put refuses it.
	gen uint64
}

type cachedKey struct {
	key     APIKey
	hash    []byte
	expires time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	if ttl <= 0 {
		return nil
	}
	return &keyCache{ttl: ttl, m: map[string]cachedKey{}}
}

// get returns the key with prefix and its secret's hash if an unexpired
// entry holds them.
func (c *keyCache) get(prefix string, now time.Time) (APIKey, []byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[prefix]
	if !ok {
		return APIKey{}, nil, false
	}
	if !now.Before(e.expires) {
		delete(c.m, prefix)
		return APIKey{}, nil, false
	}
	return e.key, e.hash, true
}

// generation is what a caller about to read a key from the store passes
// to put afterwards.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps key, read from the store after generation returned gen, until
// ttl from now, unless a key was dropped since: the read may have raced
// with its revocation.
func (c *keyCache) put(key APIKey, hash []byte, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.m[key.Prefix]; !ok && len(c.m) >= keyCacheMax {
		c.evict(now)
	}
	c.m[key.Prefix] = cachedKey{key: key, hash: hash, expires: now.Add(c.ttl)}
}

// evict makes room in a full cache: it drops the expired entries, or an
// arbitrary one if none has expired.
func (c *keyCache) evict(now time.Time) {
	for p, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, p)
		}
	}
	if len(c.m) < keyCacheMax {
		return
	}
	for p := range c.m {
		delete(c.m, p)
		return
	}
}

// touched records that the key with prefix had its last use written at at,
// so that requests served from the entry do not write it again.
func (c *keyCache) touched(prefix string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[prefix]; ok {
		e.key.LastUsedAt = at
		c.m[prefix] = e
	}
}

// drop forgets the key with prefix.
func (c *keyCache) drop(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, prefix)
	c.gen++
}

// clear forgets every key.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.gen++
}
