package cli

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinko-pay/kinko/client"
)

// loadStats is what one closed-loop load run against a server measured.
type loadStats struct {
	Calls         int64
	Elapsed       time.Duration
	P50, P99, Max time.Duration
	Rejected      int64 // refused by the server with a code
	Errors        int64 // failed otherwise (network, timeouts)
	FirstError    string
}

// runLoad calls op from concurrency clients, each one call at a time, until
// d has passed, and measures each call's latency. op gets a sequence
// number unique in the run. Progress is reported every progressEvery calls,
// counting unit.
func runLoad(ctx context.Context, concurrency int, d time.Duration, prog *progress, unit string, progressEvery int64,
	op func(ctx context.Context, i int64) error) loadStats {
	var seq, done, rejected, errs atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	runCtx, stop := context.WithTimeout(ctx, d)
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for runCtx.Err() == nil {
				t0 := time.Now()
				err := op(ctx, seq.Add(1))
				lat = append(lat, time.Since(t0))
				done.Add(1)
				if err != nil {
					if client.CodeOf(err) != "" {
						rejected.Add(1)
					} else {
						errs.Add(1)
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				if n := done.Load(); n%progressEvery == 0 {
					prog.Update("bench: %d %s (%.0f/s)", n, unit, float64(n)/time.Since(start).Seconds())
				}
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	st := loadStats{Calls: done.Load(), Elapsed: time.Since(start), Rejected: rejected.Load(), Errors: errs.Load()}
	prog.Done("bench: %d %s (%.0f/s)", st.Calls, unit, float64(st.Calls)/st.Elapsed.Seconds())
	slices.Sort(latencies)
	st.P50, st.P99, st.Max = percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 1)
	if firstErr != nil {
		st.FirstError = firstErr.Error()
	}
	return st
}
