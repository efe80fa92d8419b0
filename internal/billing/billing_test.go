package billing

import (
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
)

func TestAuthNumber(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		n := newAuthNumber()
		if len(n) != AuthNumberLen || strings.ContainsAny(n, "ILOU") || !ValidAuthNumber(n) {
			t.Fatalf("bad number %q", n)
		}
		if seen[n] {
			t.Fatalf("duplicate %q in 2000 draws", n)
		}
		seen[n] = true
	}
}

func TestAuthNumberCatchesSingleErrors(t *testing.T) {
	for range 200 {
		n := newAuthNumber()
		for i := range AuthNumberLen {
			for _, c := range []byte(crockford) {
				if c == n[i] {
					continue
				}
				typo := n[:i] + string(c) + n[i+1:]
				if _, ok := NormalizeAuthNumber(typo); ok {
					t.Fatalf("%q accepted for %q", typo, n)
				}
			}
		}
	}
}

func TestAuthNumberCatchesMostSwaps(t *testing.T) {
	missed, total := 0, 0
	for range 500 {
		n := newAuthNumber()
		for i := range AuthNumberLen - 1 {
			if n[i] == n[i+1] {
				continue
			}
			total++
			b := []byte(n)
			b[i], b[i+1] = b[i+1], b[i]
			if _, ok := NormalizeAuthNumber(string(b)); ok {
				missed++
			}
		}
	}
	// Luhn mod 32 misses only swaps of one pair of values (like 0↔9 in
	// base 10): about one in 500.
	if missed*100 > total {
		t.Fatalf("%d of %d adjacent swaps accepted", missed, total)
	}
}

func TestNormalizeAuthNumber(t *testing.T) {
	n := newAuthNumber()
	typed := strings.ToLower(n[:5]) + "-" + n[5:]
	typed = strings.NewReplacer("1", "l", "0", "o").Replace(typed)
	if got, ok := NormalizeAuthNumber(typed); !ok || got != n {
		t.Fatalf("NormalizeAuthNumber(%q) = %q, %v; want %q", typed, got, ok, n)
	}
	for _, bad := range []string{"", "U" + n[1:], n + "0", n[:9], strings.Repeat("-", 30)} {
		if _, ok := NormalizeAuthNumber(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		param string
	}{
		{"OK", CustomerParams{Reference: "c1", Currency: "JPY", Mode: Postpaid, CreditLimit: 100}.validate(), ""},
		{"ErrNoReference", CustomerParams{Currency: "JPY", Mode: Prepaid}.validate(), "reference"},
		{"ErrReferenceControl", CustomerParams{Reference: "a\nb", Currency: "JPY", Mode: Prepaid}.validate(), "reference"},
		{"ErrReferenceLong", CustomerParams{Reference: strings.Repeat("x", ReferenceLenMax+1), Currency: "JPY", Mode: Prepaid}.validate(), "reference"},
		{"ErrMode", CustomerParams{Reference: "c", Currency: "JPY", Mode: "credit"}.validate(), "mode"},
		{"ErrPrepaidLimit", CustomerParams{Reference: "c", Currency: "JPY", Mode: Prepaid, CreditLimit: 1}.validate(), "credit_limit"},
		{"ErrNegativeLimit", CustomerParams{Reference: "c", Currency: "JPY", Mode: Postpaid, CreditLimit: -1}.validate(), "credit_limit"},
		{"ErrLimitMax", CustomerParams{Reference: "c", Currency: "JPY", Mode: Postpaid, CreditLimit: CreditLimitMax + 1}.validate(), "credit_limit"},
		{"ErrAmountZero", (&ReserveParams{Amount: 0}).validate(), "amount"},
		{"ErrAmountMax", (&ReserveParams{Amount: AmountMax + 1}).validate(), "amount"},
		{"ErrExpiry", (&ReserveParams{Amount: 1, ExpiresInSeconds: ExpiresInSecondsMax + 1}).validate(), "expires_in_seconds"},
		{"ErrExpiryNegative", (&ReserveParams{Amount: 1, ExpiresInSeconds: -1}).validate(), "expires_in_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.param == "" {
				if tc.err != nil {
					t.Fatal(tc.err)
				}
				return
			}
			var ae *apperr.Error
			if tc.err == nil || !asApp(tc.err, &ae) || ae.Code != apperr.CodeInvalid || ae.Param != tc.param {
				t.Fatalf("error %v, want invalid %s", tc.err, tc.param)
			}
		})
	}
	p := ReserveParams{Amount: 1}
	if err := p.validate(); err != nil || p.ExpiresInSeconds != ExpiresInSecondsDefault {
		t.Fatalf("default expiry: %d, %v", p.ExpiresInSeconds, err)
	}
}

func asApp(err error, out **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	*out = e
	return ok
}

func TestBalanceOf(t *testing.T) {
	post := Customer{Mode: Postpaid, CreditLimit: 1000}
	b := balanceOf(post, ledger.Account{DebitsPosted: 300, CreditsPosted: 100, DebitsPending: 500}, 250)
	if b.Used != 200 || b.Reserved != 500 || b.Available != 300 || b.RemainingAfter != 50 || b.WouldBeRefused {
		t.Fatalf("postpaid %+v", b)
	}
	pre := Customer{Mode: Prepaid}
	b = balanceOf(pre, ledger.Account{DebitsPosted: 300, CreditsPosted: 1000, DebitsPending: 500}, 250)
	if b.Balance != 700 || b.Used != 300 || b.Available != 200 || b.RemainingAfter != -50 || !b.WouldBeRefused {
		t.Fatalf("prepaid %+v", b)
	}
}
