package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// BenchmarkEngineTransfers measures single-transfer submissions from 64
// concurrent clients between 10,000 accounts, the shape of `kinko bench ledger`.
func BenchmarkEngineTransfers(b *testing.B) {
	ctx := context.Background()
	db := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
	var batches, requests atomic.Int64
	var commitNs atomic.Int64
	e := ledger.NewEngine(db, ledger.Config{Workers: 1, Observe: func(s ledger.BatchStats) {
		batches.Add(1)
		requests.Add(int64(s.Requests))
		commitNs.Add(int64(s.Commit))
	}})
	defer e.Close()
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		b.Fatal(err)
	}
	const accounts = 10000
	reqs := make([]ledger.AccountRequest, accounts)
	for i := range reqs {
		reqs[i] = ledger.AccountRequest{Owner: "bench", Reference: fmt.Sprint(i), Asset: "JPY", DebitsMustNotExceedCredits: true, Limit: 1 << 50}
	}
	accts, err := e.CreateAccounts(ctx, reqs)
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	cpu0 := cpuTime()
	batches.Store(0)
	requests.Store(0)
	commitNs.Store(0)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range per {
				d, c := rng.IntN(accounts), rng.IntN(accounts-1)
				if c >= d {
					c++
				}
				res, err := e.CreateTransfer(ctx, ledger.TransferRequest{Owner: "bench", Reference: fmt.Sprint(seq.Add(1)),
					DebitAccountID: accts[d].ID, CreditAccountID: accts[c].ID, Amount: 1 + rng.Int64N(1000)})
				if err != nil || res.Result != ledger.ResultOK {
					b.Errorf("%v %v", res.Result, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*64)/b.Elapsed().Seconds(), "transfers/s")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(requests.Load())/float64(n), "transfers/batch")
		b.ReportMetric(float64(commitNs.Load())/float64(n)/1e3, "µs/batch")
	}
	// CPU time per transfer stays meaningful when other work shares the machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(per*64), "cpu-µs/transfer")
}

// cpuTime is this process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCommitBatch64 measures the engine and SQLite alone: one caller
// commits batches of 64 single transfers, with no goroutines or queue.
func BenchmarkCommitBatch64(b *testing.B) {
	ctx := context.Background()
	db := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
	e := ledger.NewEngine(db, ledger.Config{Workers: 1})
	defer e.Close()
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		b.Fatal(err)
	}
	const accounts = 10000
	reqs := make([]ledger.AccountRequest, accounts)
	for i := range reqs {
		reqs[i] = ledger.AccountRequest{Owner: "bench", Reference: fmt.Sprint(i), Asset: "JPY", DebitsMustNotExceedCredits: true, Limit: 1 << 50}
	}
	accts, err := e.CreateAccounts(ctx, reqs)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	seq := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		batch := make([][]ledger.TransferRequest, 64)
		for i := range batch {
			d, c := rng.IntN(accounts), rng.IntN(accounts-1)
			if c >= d {
				c++
			}
			seq++
			batch[i] = []ledger.TransferRequest{{Owner: "bench", Reference: fmt.Sprint(seq),
				DebitAccountID: accts[d].ID, CreditAccountID: accts[c].ID, Amount: 1 + rng.Int64N(1000)}}
		}
		if _, err := e.CommitBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*64), "cpu-µs/transfer")
}
