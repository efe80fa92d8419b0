package bankfile

import (
	"strconv"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// ExponentFunc returns the number of decimal digits of a currency's minor
// unit (ISO 4217 "E": JPY 0, USD 2, KWD 3), and false for a currency it does
// not know.
type ExponentFunc func(currency string) (int, bool)

// currencyExponents holds the ISO 4217 exponents of the currencies Kinko is
// likely to see; every other currency is unknown to CurrencyExponent.
var currencyExponents = map[string]int{
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "PYG": 0, "UGX": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BIF": 0, "DJF": 0, "GNF": 0, "KMF": 0, "RWF": 0, "VUV": 0,
	"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CNY": 2, "HKD": 2, "SGD": 2, "TWD": 2, "THB": 2, "PHP": 2,
	"MYR": 2, "IDR": 2, "INR": 2, "AUD": 2, "NZD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "ZAR": 2, "AED": 2,
	"SAR": 2, "ILS": 2, "TRY": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// CurrencyExponent is the default ExponentFunc: a table of the ISO 4217
// exponents of the common currencies (JPY 0, USD and EUR 2, KWD 3, …). Pass
// an ExponentFunc of your own for others.
func CurrencyExponent(currency string) (int, bool) {
	e, ok := currencyExponents[currency]
	return e, ok
}

// decimalDigitsMax is the most digits an ISO 20022 amount has (totalDigits 18).
const decimalDigitsMax = 18

// exponentOf checks currency's code and looks its exponent up.
func exponentOf(param, currency string, exp ExponentFunc) (int, error) {
	if len(currency) != 3 || strings.Trim(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return 0, apperr.Invalid(param, "currency %q is not three letters A-Z", currency)
	}
	e, ok := exp(currency)
	if !ok {
		return 0, apperr.Invalid(param, "currency %s is unknown", currency)
	}
	if e < 0 || e > 5 {
		return 0, apperr.Invalid(param, "currency %s has exponent %d, outside 0..5", currency, e)
	}
	return e, nil
}

// parseDecimalAmount converts an xs:decimal amount such as "1234.50" to
// minor units of a currency with exponent e. Digits past the exponent must
// be zeros ("1000.00" JPY is 1000; "10.005" EUR is refused). A sign other
// than '+' is refused: ISO 20022 amounts are not negative.
func parseDecimalAmount(param, s string, e int) (int64, error) {
	s = strings.TrimSpace(s)
	v := strings.TrimPrefix(s, "+")
	intPart, frac, _ := strings.Cut(v, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, apperr.Invalid(param, "%q is not a decimal amount", s)
	}
	if len(frac) > e {
		if strings.Trim(frac[e:], "0") != "" {
			return 0, apperr.Invalid(param, "%q has more decimals than the currency's %d", s, e)
		}
		frac = frac[:e]
	}
	digits := strings.TrimLeft(intPart, "0") + frac + strings.Repeat("0", e-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil
	}
	if len(digits) > decimalDigitsMax {
		return 0, apperr.Invalid(param, "%q has more than %d digits", s, decimalDigitsMax)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, apperr.Invalid(param, "%q does not fit", s)
	}
	return n, nil
}

// formatDecimalAmount writes minor units of a currency with exponent e as a
// decimal with exactly e decimals ("1234.50" for 123450 and e = 2).
func formatDecimalAmount(minor int64, e int) string {
	s := strconv.FormatInt(minor, 10)
	if e == 0 {
		return s
	}
	if len(s) <= e {
		s = strings.Repeat("0", e-len(s)+1) + s
	}
	return s[:len(s)-e] + "." + s[len(s)-e:]
}
