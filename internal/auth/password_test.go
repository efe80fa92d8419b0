package auth

import (
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if h2 := hashPassword("correct horse battery"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	// Parameters travel with the hash: a hash made with others (as an older
	// release might have) still verifies.
	salt := []byte("somesalt")
	other := "$argon2id$v=19$m=8,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("password"), salt, 1, 8, 1, 16))
	tests := []struct {
		name, hash, password string
		ok                   bool
		malformed            bool
	}{
		{"OK", h, "correct horse battery", true, false},
		{"ErrWrongPassword", h, "correct horse batterY", false, false},
		{"ErrEmpty", h, "", false, false},
		{"OKOtherParameters", other, "password", true, false},
		{"ErrOtherParametersWrongPassword", other, "Password", false, false},
		{"ErrMalformed", "$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHQ$LVDPpd1Kc3aj7T3GdCwk7A", "password", false, true},
		{"ErrBadParams", "$argon2id$v=19$m=0,t=1,p=1$c29tZXNhbHQ$LVDPpd1Kc3aj7T3GdCwk7A", "password", false, true},
		{"ErrBadBase64", "$argon2id$v=19$m=8,t=1,p=1$!!$LVDPpd1Kc3aj7T3GdCwk7A", "password", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := verifyPassword(tt.hash, tt.password)
			if ok != tt.ok || (err != nil) != tt.malformed {
				t.Fatalf("verifyPassword = %v, %v; want %v, malformed %v", ok, err, tt.ok, tt.malformed)
			}
		})
	}
}

// TestPasswordHashingIsBounded: however many requests hash at once, at most
// cap(argonSlots) argon2 computations (19 MiB each) run together.
func TestPasswordHashingIsBounded(t *testing.T) {
	n := 4 * cap(argonSlots)
	var peak atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := argonRunning.Load(); r > peak.Load() {
				peak.Store(r)
			}
			runtime.Gosched()
		}
	}()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if ok, err := verifyPassword(hashPassword(fmt.Sprint("password-", i)), fmt.Sprint("password-", i)); !ok || err != nil {
				t.Errorf("hash %d does not verify: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	if p := peak.Load(); p > int32(cap(argonSlots)) {
		t.Fatalf("%d argon2 computations ran at once, want at most %d", p, cap(argonSlots))
	}
}
