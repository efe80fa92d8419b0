package billing

import (
	"crypto/rand"
	"strings"
)

// An authorization number is AuthNumberLen characters of Crockford's base32
// alphabet (digits and upper-case letters without I, L, O and U): nine
// random ones (45 bits) and a check character (Luhn mod 32), so a number
// read over the phone or typed by hand with one character wrong, or two
// neighbours swapped, is refused rather than taken for another.
const AuthNumberLen = 10

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func crockfordValue(c byte) int {
	return strings.IndexByte(crockford, c)
}

// authCheck returns the Luhn mod 32 check character of body.
func authCheck(body string) byte {
	const n = 32
	factor, sum := 2, 0
	for i := len(body) - 1; i >= 0; i-- {
		addend := factor * crockfordValue(body[i])
		factor = 3 - factor
		sum += addend/n + addend%n
	}
	return crockford[(n-sum%n)%n]
}

// newAuthNumber draws a fresh authorization number.
func newAuthNumber() string {
	var b [AuthNumberLen]byte
	var r [AuthNumberLen - 1]byte
	rand.Read(r[:])
	for i := range r {
		b[i] = crockford[r[i]%32] // 256 is a multiple of 32: no bias
	}
	b[AuthNumberLen-1] = authCheck(string(b[:AuthNumberLen-1]))
	return string(b[:])
}

// NormalizeAuthNumber reads an authorization number as a person may type
// it: lower case, hyphens and spaces, and the letters Crockford reads as
// digits (I and L as 1, O as 0). It returns the canonical form and whether
// it is a well-formed number with a correct check character.
func NormalizeAuthNumber(s string) (string, bool) {
	if len(s) > 2*AuthNumberLen {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'I', 'L':
			c = '1'
		case 'O':
			c = '0'
		}
		if crockfordValue(c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	n := b.String()
	if len(n) != AuthNumberLen || authCheck(n[:AuthNumberLen-1]) != n[AuthNumberLen-1] {
		return "", false
	}
	return n, true
}

// ValidAuthNumber reports whether s is a canonical authorization number.
func ValidAuthNumber(s string) bool {
	n, ok := NormalizeAuthNumber(s)
	return ok && n == s
}
