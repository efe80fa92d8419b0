// Package money holds assets and amounts in integer minor units with
// overflow-checked arithmetic.
//
// An amount is an int64 count of an asset's minor unit (yen, cents, points).
// This package must never use floating point for an amount, and never lets an
// arithmetic result wrap around: every operation that could overflow returns
// ErrOverflow instead.
package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrOverflow is returned when a result does not fit in an int64.
var ErrOverflow = errors.New("money: arithmetic overflow")

// MaxScale bounds an asset's scale: 10^18 is the largest power of ten in an int64.
const MaxScale = 18

// Asset is a unit of value: a code such as "JPY" and a scale, the number of
// decimal digits of its minor unit (JPY 0, USD 2).
type Asset struct {
	Code  string
	Scale int
}

// Validate reports whether the asset's code and scale are usable.
// Codes are 1 to 16 characters of A-Z, 0-9 and '_' and start with a letter.
func (a Asset) Validate() error {
	if err := ValidateCode(a.Code); err != nil {
		return err
	}
	if a.Scale < 0 || a.Scale > MaxScale {
		return fmt.Errorf("money: asset %s: scale %d out of range 0..%d", a.Code, a.Scale, MaxScale)
	}
	return nil
}

// ValidateCode reports whether code is a well-formed asset code.
func ValidateCode(code string) error {
	if len(code) == 0 || len(code) > 16 {
		return fmt.Errorf("money: asset code %q must be 1 to 16 characters", code)
	}
	for i, r := range code {
		switch {
		case r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return fmt.Errorf("money: asset code %q must be upper-case letters, digits and '_', starting with a letter", code)
		}
	}
	return nil
}

// Add returns a+b, or ErrOverflow.
func Add(a, b int64) (int64, error) {
	s := a + b
	// Overflow happened iff both operands have the same sign and the sum's sign differs.
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, ErrOverflow
	}
	return s, nil
}

// Sub returns a-b, or ErrOverflow.
func Sub(a, b int64) (int64, error) {
	if b == math.MinInt64 {
		if a >= 0 {
			return 0, ErrOverflow
		}
		return a - b, nil
	}
	return Add(a, -b)
}

// Mul returns a*b, or ErrOverflow.
func Mul(a, b int64) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, ErrOverflow
	}
	return p, nil
}

// Format renders minor units as a decimal string in the asset's scale:
// Format(12345, USD) is "123.45", Format(1000, JPY) is "1000".
func (a Asset) Format(minor int64) string {
	neg := minor < 0
	var digits string
	if minor == math.MinInt64 {
		digits = "9223372036854775808"
	} else {
		if neg {
			minor = -minor
		}
		digits = strconv.FormatInt(minor, 10)
	}
	if a.Scale > 0 {
		if len(digits) <= a.Scale {
			digits = strings.Repeat("0", a.Scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-a.Scale] + "." + digits[len(digits)-a.Scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// Parse reads a decimal string in the asset's scale into minor units.
// It refuses more fractional digits than the scale allows rather than round.
func (a Asset) Parse(s string) (int64, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("money: %q is not a decimal amount", orig)
	}
	if len(frac) > a.Scale {
		return 0, fmt.Errorf("money: %q has more than %d decimal places for %s", orig, a.Scale, a.Code)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("money: %q is not a decimal amount", orig)
			}
		}
	}
	digits := whole + frac + strings.Repeat("0", a.Scale-len(frac))
	if neg {
		digits = "-" + digits
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("money: %q: %w", orig, ErrOverflow)
	}
	return v, nil
}

// AddSaturating returns a+b, clamped to the int64 range instead of failing.
// It suits bounds ("credits plus limit"), never amounts that get stored.
func AddSaturating(a, b int64) int64 {
	s, err := Add(a, b)
	if err == nil {
		return s
	}
	if a > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}
