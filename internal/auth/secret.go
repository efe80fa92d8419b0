package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Shapes of ids and secrets. Every random part is base62 from crypto/rand.
const (
	// OrgIDPrefix and KeyIDPrefix start every generated id; idRandomLen
	// base62 characters follow (119 bits).
	OrgIDPrefix = "org_"
	KeyIDPrefix = "key_"
	idRandomLen = 20

	// SecretPrefix starts every secret. A secret is
	// SecretPrefix + secretPrefixLen base62 + "_" + secretRandomLen base62,
	// e.g. "kinko_sk_Ab12Cd34Ef56_…". Its first SecretPrefixLen characters
	// are the key's Prefix, stored in clear and unique, which finds the key;
	// the rest (256 bits) is known only to its holder.
	SecretPrefix    = "kinko_sk_"
	secretPrefixLen = 12
	secretRandomLen = 43 // 43 × log2(62) ≈ 256.03 bits
	// SecretPrefixLen is the length of a key's stored Prefix.
	SecretPrefixLen = len(SecretPrefix) + secretPrefixLen
	// SecretLen is the length of every secret.
	SecretLen = SecretPrefixLen + 1 + secretRandomLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62. Bytes of 248
// and above are rejected (248 = 4 × 62), so no character is likelier than
// another.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never returns an error; crashes the program on failure
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func newOrgID() string { return OrgIDPrefix + randomBase62(idRandomLen) }
func newKeyID() string { return KeyIDPrefix + randomBase62(idRandomLen) }

// validID reports whether id has the shape of a generated id with prefix.
func validID(id, prefix string) bool {
	return len(id) == len(prefix)+idRandomLen && strings.HasPrefix(id, prefix) && isBase62(id[len(prefix):])
}

// validOrgID reports whether id can name an organization: a generated id or
// the operator's.
func validOrgID(id string) bool { return id == OperatorOrgID || validID(id, OrgIDPrefix) }

// newSecret returns a fresh secret, its prefix and its hash.
func newSecret() (secret, prefix string, hash []byte) {
	secret = SecretPrefix + randomBase62(secretPrefixLen) + "_" + randomBase62(secretRandomLen)
	return secret, secret[:SecretPrefixLen], hashSecret(secret)
}

// ParseSecret returns the prefix of a well-formed secret, and false for
// anything that is not one. It checks only the shape: whether the key
// exists and the secret is right is Authenticate's business.
func ParseSecret(secret string) (prefix string, ok bool) {
	if len(secret) != SecretLen || !strings.HasPrefix(secret, SecretPrefix) || secret[SecretPrefixLen] != '_' ||
		!isBase62(secret[len(SecretPrefix):SecretPrefixLen]) || !isBase62(secret[SecretPrefixLen+1:]) {
		return "", false
	}
	return secret[:SecretPrefixLen], true
}

// hashSecret is what the store keeps of a secret.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
