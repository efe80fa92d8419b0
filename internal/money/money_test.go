package money

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

func TestAddSubMulMatchBigInt(t *testing.T) {
	vals := []int64{0, 1, -1, 2, -2, 1 << 31, -(1 << 31), math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 3037000499, 3037000500, -3037000500}
	fits := func(b *big.Int) bool { return b.IsInt64() }
	for _, a := range vals {
		for _, b := range vals {
			ba, bb := big.NewInt(a), big.NewInt(b)
			for _, tc := range []struct {
				name string
				fn   func(int64, int64) (int64, error)
				want *big.Int
			}{
				{"Add", Add, new(big.Int).Add(ba, bb)},
				{"Sub", Sub, new(big.Int).Sub(ba, bb)},
				{"Mul", Mul, new(big.Int).Mul(ba, bb)},
			} {
				got, err := tc.fn(a, b)
				if fits(tc.want) {
					if err != nil || got != tc.want.Int64() {
						t.Errorf("%s(%d, %d) = %d, %v; want %s", tc.name, a, b, got, err, tc.want)
					}
				} else if !errors.Is(err, ErrOverflow) {
					t.Errorf("%s(%d, %d) = %d, %v; want ErrOverflow", tc.name, a, b, got, err)
				}
			}
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	usd := Asset{Code: "USD", Scale: 2}
	jpy := Asset{Code: "JPY", Scale: 0}
	for _, tc := range []struct {
		asset Asset
		minor int64
		text  string
	}{
		{usd, 12345, "123.45"},
		{usd, 5, "0.05"},
		{usd, -5, "-0.05"},
		{usd, 0, "0.00"},
		{jpy, 1000, "1000"},
		{Asset{"X", 18}, 1, "0.000000000000000001"},
	} {
		if got := tc.asset.Format(tc.minor); got != tc.text {
			t.Errorf("Format(%d) = %q, want %q", tc.minor, got, tc.text)
		}
		got, err := tc.asset.Parse(tc.text)
		if err != nil || got != tc.minor {
			t.Errorf("Parse(%q) = %d, %v, want %d", tc.text, got, err, tc.minor)
		}
	}
}

func TestParseRejects(t *testing.T) {
	usd := Asset{Code: "USD", Scale: 2}
	for _, s := range []string{"", "1.234", "abc", "1.", ".5", "1e3", "99999999999999999999"} {
		if _, err := usd.Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", s)
		}
	}
}

func TestAssetValidate(t *testing.T) {
	for _, tc := range []struct {
		a  Asset
		ok bool
	}{
		{Asset{"JPY", 0}, true},
		{Asset{"POINT_A1", 0}, true},
		{Asset{"jpy", 0}, false},
		{Asset{"", 0}, false},
		{Asset{"1AB", 0}, false},
		{Asset{"USD", -1}, false},
		{Asset{"USD", 19}, false},
	} {
		if err := tc.a.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.a, err, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("123.45", 2)
	f.Add("-0.01", 2)
	f.Add("1000", 0)
	f.Fuzz(func(t *testing.T, s string, scale int) {
		if scale < 0 || scale > MaxScale {
			return
		}
		a := Asset{Code: "T", Scale: scale}
		v, err := a.Parse(s)
		if err != nil {
			return
		}
		back, err := a.Parse(a.Format(v))
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, v, a.Format(v), back, err)
		}
	})
}

func TestAddSaturating(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
	} {
		if got := AddSaturating(tc.a, tc.b); got != tc.want {
			t.Errorf("AddSaturating(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
