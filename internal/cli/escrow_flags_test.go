package cli

import (
	"testing"

	"github.com/kinko-pay/kinko/internal/escrow"
)

func TestParseFraudRules(t *testing.T) {
	got, err := parseFraudRules("amount_min=500000, deals_per_day=3,sellers_per_bank_account=1")
	want := escrow.FraudRules{AmountMin: 500000, DealsPerDayMax: 3, SellersPerBankAccountMax: 1}
	if err != nil || got != want {
		t.Fatalf("parseFraudRules = %+v, %v; want %+v", got, err, want)
	}
	if got, err := parseFraudRules(""); err != nil || got != (escrow.FraudRules{}) {
		t.Fatalf("empty: %+v, %v", got, err)
	}
	for _, bad := range []string{"amount_min", "amount_min=-1", "amount_min=x", "colour=3"} {
		if _, err := parseFraudRules(bad); err == nil {
			t.Errorf("parseFraudRules(%q) accepted", bad)
		}
	}
}
