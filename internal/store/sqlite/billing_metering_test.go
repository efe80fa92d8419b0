package sqlite

import (
	"testing"

	"github.com/kinko-pay/kinko/internal/store/storetest"
)

// BenchmarkMeteredSessions measures 1,000 usage reports per op with a
// metered session and with one direct charge per report, and reports the
// ledger transfers each took per 1,000 reports (docs/billing.md).
func BenchmarkMeteredSessions(b *testing.B) { storetest.BenchMeteredSessions(b, harness()) }

func BenchmarkBillingPairs(b *testing.B) { storetest.BenchBillingPairs(b, harness()) }
