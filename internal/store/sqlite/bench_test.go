package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// benchAccounts is the number of accounts the engine benchmarks spread over.
const benchAccounts = 10000

// newBenchEngine opens a fresh file with benchAccounts accounts, each with a
// balance rule it never reaches, and returns the engine and the account ids.
func newBenchEngine(b *testing.B, cfg ledger.Config) (*ledger.Engine, []int64) {
	b.Helper()
	ctx := context.Background()
	db := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
	e := ledger.NewEngine(db, cfg)
	b.Cleanup(e.Close)
	if err := e.CreateAsset(ctx, money.Asset{Code: "JPY"}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]ledger.AccountRequest, benchAccounts)
	for i := range reqs {
		reqs[i] = ledger.AccountRequest{Owner: "bench", Reference: fmt.Sprint(i), Asset: "JPY", DebitsMustNotExceedCredits: true, Limit: 1 << 50}
	}
	accts, err := e.CreateAccounts(ctx, reqs)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	return e, ids
}

// randomPair picks two distinct indexes below n.
func randomPair(rng *rand.Rand, n int) (int, int) {
	d, c := rng.IntN(n), rng.IntN(n-1)
	if c >= d {
		c++
	}
	return d, c
}

// BenchmarkEngineTransfers measures single-transfer submissions from 64
// concurrent clients between 10,000 accounts, the shape of `kinko bench ledger`.
func BenchmarkEngineTransfers(b *testing.B) { benchEngineTransfers(b, nil) }

// BenchmarkEngineTransfersWithEvents is BenchmarkEngineTransfers with an
// event written for every transfer, as a server writes them: the cost of the
// outbox on the ledger's hot path.
func BenchmarkEngineTransfersWithEvents(b *testing.B) { benchEngineTransfers(b, benchEvents{}) }

// benchEvents renders a small event object, so the benchmark measures the
// store's cost of an event rather than an encoder's.
type benchEvents struct{}

func (benchEvents) TransferEventData(t ledger.Transfer) []byte {
	buf := append(make([]byte, 0, 96), `{"object":"transfer","id":`...)
	buf = strconv.AppendInt(buf, t.ID, 10)
	buf = append(buf, `,"amount":`...)
	buf = strconv.AppendInt(buf, t.Amount, 10)
	return append(buf, '}')
}

func (benchEvents) AccountEventData(a ledger.Account) []byte {
	buf := strconv.AppendInt(append(make([]byte, 0, 48), `{"object":"account","id":`...), a.ID, 10)
	return append(buf, '}')
}

func benchEngineTransfers(b *testing.B, events ledger.EventEncoder) {
	ctx := context.Background()
	var batches, requests atomic.Int64
	var commitNs atomic.Int64
	e, ids := newBenchEngine(b, ledger.Config{Workers: 1, Events: events, Observe: func(s ledger.BatchStats) {
		batches.Add(1)
		requests.Add(int64(s.Requests))
		commitNs.Add(int64(s.Commit))
	}})
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
				d, c := randomPair(rng, len(ids))
				res, err := e.CreateTransfer(ctx, ledger.TransferRequest{Owner: "bench", Reference: fmt.Sprint(seq.Add(1)),
					DebitAccountID: ids[d], CreditAccountID: ids[c], Amount: 1 + rng.Int64N(1000)})
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
func BenchmarkCommitBatch64(b *testing.B) { benchCommitBatch64(b, nil) }

// BenchmarkCommitBatch64WithEvents is BenchmarkCommitBatch64 with an event
// written for every transfer.
func BenchmarkCommitBatch64WithEvents(b *testing.B) { benchCommitBatch64(b, benchEvents{}) }

func benchCommitBatch64(b *testing.B, events ledger.EventEncoder) {
	ctx := context.Background()
	e, ids := newBenchEngine(b, ledger.Config{Workers: 1, Events: events})
	rng := rand.New(rand.NewPCG(1, 1))
	seq := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		batch := make([][]ledger.TransferRequest, 64)
		for i := range batch {
			d, c := randomPair(rng, len(ids))
			seq++
			batch[i] = []ledger.TransferRequest{{Owner: "bench", Reference: fmt.Sprint(seq),
				DebitAccountID: ids[d], CreditAccountID: ids[c], Amount: 1 + rng.Int64N(1000)}}
		}
		if _, err := e.CommitBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*64), "cpu-µs/transfer")
}
