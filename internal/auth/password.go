package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for staff passwords: the second of RFC 9106's and
// OWASP's recommended settings for a server that hashes at sign-in (19 MiB,
// 2 passes, 1 lane), about 25 ms on this project's 2-core machine. They are
// stored with each hash (PHC string format), so raising them later leaves
// existing hashes verifiable.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds of a staff password.
const (
	PasswordBytesMin = 12
	PasswordBytesMax = 256 // longer inputs would only cost hashing time
)

// argonSlots bounds the argon2 computations running at once in the
// process: each takes argonMemoryKiB, and sign-up, sign-in and email
// verification hash for anyone who asks, so a flood of them would
// otherwise take memory without bound (80 at once took 1.7 GiB). Callers
// beyond it wait their turn; the CPUs could not run more at once anyway.
var argonSlots = make(chan struct{}, max(2, runtime.NumCPU()))

// argonRunning counts the computations holding a slot, for tests.
var argonRunning atomic.Int32

// idKey is argon2.IDKey run in one of argonSlots.
func idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	argonSlots <- struct{}{}
	argonRunning.Add(1)
	defer func() {
		argonRunning.Add(-1)
		<-argonSlots
	}()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// hashPassword returns the PHC string of password under fresh salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, base64 without padding.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := idKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

var errHashMalformed = errors.New("auth: malformed password hash")

// verifyPassword reports whether password matches the PHC string encoded,
// with the parameters the hash was made with, in constant time.
func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errHashMalformed
	}
	var version int
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errHashMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil || memory == 0 || time == 0 || threads == 0 {
		return false, errHashMalformed
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, errHashMalformed
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errHashMalformed
	}
	got := idKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when no staff or portal user has the email
// given, so that an unknown email costs the same time as a wrong password.
var dummyHash = hashPassword("no staff user has this password")
