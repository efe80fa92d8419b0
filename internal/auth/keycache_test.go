package auth

import (
	"strconv"
	"testing"
	"time"
)

func TestKeyCache(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newKeyCache(time.Second)
	k := APIKey{ID: "key_1", Prefix: "kinko_sk_aaaa"}
	gen := c.generation()
	c.put(k, []byte("h"), now, gen)
	if got, hash, ok := c.get(k.Prefix, now.Add(time.Second-time.Nanosecond)); !ok || got.ID != k.ID || string(hash) != "h" {
		t.Fatalf("get within the TTL = %+v, %q, %v", got, hash, ok)
	}
	if _, _, ok := c.get(k.Prefix, now.Add(time.Second)); ok {
		t.Fatal("an entry outlived its TTL")
	}

	// A read that raced with a revocation is not kept: the row it read may
	// be from before the revocation.
	gen = c.generation()
	c.drop("kinko_sk_other")
	c.put(k, []byte("h"), now, gen)
	if _, _, ok := c.get(k.Prefix, now); ok {
		t.Fatal("kept a key read before a drop")
	}
	gen = c.generation()
	c.clear()
	c.put(k, []byte("h"), now, gen)
	if _, _, ok := c.get(k.Prefix, now); ok {
		t.Fatal("kept a key read before a clear")
	}

	// Full: a new key takes an old one's place.
	c.put(k, []byte("h"), now, c.generation())
	for i := range keyCacheMax {
		c.put(APIKey{Prefix: strconv.Itoa(i)}, nil, now, c.generation())
	}
	if n := len(c.m); n != keyCacheMax {
		t.Fatalf("%d entries, want at most %d", n, keyCacheMax)
	}

	if newKeyCache(0) != nil || newKeyCache(-time.Second) != nil {
		t.Fatal("a TTL of zero or less makes a cache")
	}
}
