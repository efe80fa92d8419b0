package ledger

import (
	"context"
	"errors"
	"testing"
)

// blockStore hands out id blocks from a counter.
type blockStore struct {
	Store
	next int64
}

func (s *blockStore) IDBlockReserve(_ context.Context, _ string, n int64) (int64, error) {
	first := s.next
	s.next += n
	return first, nil
}

func TestIDAllocatorReleasesTheUnusedTail(t *testing.T) {
	ctx := context.Background()
	a := &idAllocator{store: &blockStore{next: 1}, sequence: "transfers"}
	take := func(n int64) idRange {
		t.Helper()
		r, err := a.reserve(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := take(4)
	r.next()
	a.release(r) // one of four used: 2, 3, 4 come back
	if got := take(1); got.first != 2 {
		t.Fatalf("after releasing the tail of [1,5) with 1 used: next range starts at %d, want 2", got.first)
	}
	// A range reserved after r keeps r's tail from coming back: the ids
	// after it are taken.
	r = take(3) // [3,6)
	later := take(2)
	a.release(r)
	if got := take(1); got.first != later.end {
		t.Fatalf("released under a later range: next id %d, want %d", got.first, later.end)
	}
	// All used: nothing comes back.
	r = take(2)
	r.next()
	r.next()
	a.release(r)
	if got := take(1); got.first != r.end {
		t.Fatalf("fully used range: next id %d, want %d", got.first, r.end)
	}
}

// failingStore fails every transaction: its outcome is unknown to the
// engine, so the batch's ids must not be handed out again.
type failingStore struct{ blockStore }

func (*failingStore) Transact(context.Context, func(Tx) error) error {
	return errors.New("connection lost during commit")
}

func TestEngineKeepsTheIdsOfAFailedCommit(t *testing.T) {
	ctx := context.Background()
	s := &failingStore{blockStore{next: 1}}
	e := NewEngine(s, Config{})
	defer e.Close()
	reqs := [][]TransferRequest{{{Owner: "o", Reference: "a", DebitAccountID: 1, CreditAccountID: 2, Amount: 1, Asset: "JPY"}},
		{{Owner: "o", Reference: "b", DebitAccountID: 1, CreditAccountID: 2, Amount: 1, Asset: "JPY"}}}
	if _, err := e.CommitBatch(ctx, reqs); err == nil {
		t.Fatal("a failed commit succeeded")
	}
	r, err := e.ids.reserve(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.first != 3 {
		t.Fatalf("after a failed batch of two took ids 1 and 2, the next id is %d, want 3", r.first)
	}
}
