package ledger

import (
	"context"
	"fmt"
	"sync"
)

// idBlockSize is how many ids one reservation takes from the store. Larger
// blocks mean fewer round trips and bigger gaps after a restart; ids need only
// be unique, not dense.
const idBlockSize = 16384

// idAllocator hands out ids from blocks reserved in the store, so that engines
// on many nodes never collide and never coordinate per transfer.
type idAllocator struct {
	store    Store
	sequence string
	mu       sync.Mutex
	next     int64
	end      int64 // exclusive
}

// reserve returns n fresh ids, fetching a new block when the current one runs out.
func (a *idAllocator) reserve(ctx context.Context, n int64) (idRange, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.end-a.next < n {
		size := max(n, idBlockSize)
		first, err := a.store.IDBlockReserve(ctx, a.sequence, size)
		if err != nil {
			return idRange{}, fmt.Errorf("ledger: reserve ids: %w", err)
		}
		a.next, a.end = first, first+size
	}
	r := idRange{first: a.next, end: a.next + n}
	r.cur = r.first
	a.next += n
	return r, nil
}

// release gives back the ids of r that its batch, now committed, did not use
// (a rejected transfer or a replayed key takes none), when no range was
// reserved after r: ids stay dense, and the same requests get the same ids
// whether or not a batch also carried replays.
func (a *idAllocator) release(r idRange) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == r.end {
		a.next = r.cur
	}
}

// idRange is the ids one batch may use; a retried attempt reuses them.
type idRange struct {
	first, cur, end int64
}

func (r *idRange) next() int64 {
	if r.cur >= r.end {
		panic("ledger: id range exhausted: a batch used more ids than it has requests")
	}
	id := r.cur
	r.cur++
	return id
}

func (r *idRange) reset() { r.cur = r.first }
