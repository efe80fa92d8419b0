package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stuckStore is a database that never answers a transaction until its
// context ends. Only the engine's mechanics are under test here; the ledger's
// semantics are tested on real stores in store/storetest.
type stuckStore struct{ Store }

func (stuckStore) IDBlockReserve(context.Context, string, int64) (int64, error) { return 1, nil }

func (stuckStore) Transact(ctx context.Context, _ func(Tx) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestEngineCommitTimeoutFailsCallersAndClose(t *testing.T) {
	e := NewEngine(stuckStore{}, Config{CommitTimeout: 50 * time.Millisecond})
	_, err := e.CreateTransfer(context.Background(), TransferRequest{Owner: "o", Reference: "r", DebitAccountID: 1, CreditAccountID: 2, Amount: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CreateTransfer on a stuck store = %v, want deadline exceeded", err)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("Close did not return")
	}
	if _, err := e.CreateTransfer(context.Background(), TransferRequest{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestEngineRejectsOversizedSubmission(t *testing.T) {
	e := NewEngine(stuckStore{}, Config{BatchMax: 2})
	defer e.Close()
	if _, err := e.Submit(context.Background(), make([]TransferRequest, 3)); err == nil {
		t.Fatal("a submission larger than BatchMax was accepted")
	}
}
