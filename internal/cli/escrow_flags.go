package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kinko-pay/kinko/internal/escrow"
)

// parseFraudRules reads "key=value,…" into escrow fraud thresholds; keys
// left out keep their defaults (zero fields). "" is all defaults.
func parseFraudRules(s string) (escrow.FraudRules, error) {
	var r escrow.FraudRules
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if !ok || err != nil || n <= 0 {
			return r, fmt.Errorf("%q is not key=positive number", kv)
		}
		switch strings.TrimSpace(k) {
		case "amount_min":
			r.AmountMin = n
		case "deals_per_day":
			r.DealsPerDayMax = int(min(n, 1<<30))
		case "new_seller_days":
			r.NewPartyDays = int(min(n, 1<<30))
		case "new_seller_amount_min":
			r.NewPartyAmountMin = n
		case "sellers_per_bank_account":
			r.SellersPerBankAccountMax = int(min(n, 1<<30))
		default:
			return r, fmt.Errorf("unknown fraud threshold %q: want amount_min, deals_per_day, new_seller_days, new_seller_amount_min or sellers_per_bank_account", k)
		}
	}
	return r, nil
}
