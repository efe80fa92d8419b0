package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kinko-pay/kinko/internal/billing"
)

// Shape of BenchBillingPairs: the shape of `kinko bench billing` without
// HTTP, so that the store's share of a pair can be told from the API's.
const (
	benchPairsClients   = 64
	benchPairsCustomers = 100
)

// BenchBillingPairs measures reserve + final charge pairs from 64
// goroutines spread over 100 postpaid customers of one provider, straight
// through the billing service.
func BenchBillingPairs(b *testing.B, h Harness) {
	f := newBillingFixture(b, h)
	cus := make([]billing.Customer, benchPairsCustomers)
	for i := range cus {
		cus[i] = f.customer(fmt.Sprintf("bench-%d", i), billing.Postpaid, billing.CreditLimitMax)
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	for range benchPairsClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				ref := fmt.Sprintf("p%d", i)
				r, err := f.svc.Reserve(f.ctx, provA, billing.ReserveParams{CustomerID: cus[i%benchPairsCustomers].ID, Amount: 1 + i%1000, Reference: ref})
				if err == nil {
					_, _, err = f.svc.Charge(f.ctx, provA, r.AuthNumber, billing.ChargeParams{Amount: r.Reserved, Reference: ref, Final: true})
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
