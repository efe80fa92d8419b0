package store

import (
	"context"
	"errors"
	"sync"
)

// ErrBatcherClosed answers items submitted after Close.
var ErrBatcherClosed = errors.New("store: closed")

// Batcher gathers items submitted concurrently into batches and hands each
// batch to one commit call, as group commit does: every submitter waits for
// the answer to its own item, given after its batch committed. Adapters use
// it for small writes whose one-transaction-each cost would bound the API.
type Batcher[T any] struct {
	commit   func([]T) []error // one error per item, in order
	batchMax int
	queue    chan batchItem[T]

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

type batchItem[T any] struct {
	v    T
	done chan error
}

// NewBatcher starts workers goroutines that each take up to batchMax queued
// items (whatever is queued, without waiting for more) and pass them to
// commit. At most queueMax items wait; Do blocks beyond that.
func NewBatcher[T any](queueMax, batchMax, workers int, commit func([]T) []error) *Batcher[T] {
	b := &Batcher[T]{commit: commit, batchMax: batchMax, queue: make(chan batchItem[T], queueMax)}
	for range workers {
		b.wg.Add(1)
		go b.run()
	}
	return b
}

// Do submits v to the next batch and returns its error. When ctx ends first
// the item may still commit; the caller learns only ctx's error.
func (b *Batcher[T]) Do(ctx context.Context, v T) error {
	it := batchItem[T]{v: v, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrBatcherClosed
	}
	select {
	case b.queue <- it:
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	b.mu.RUnlock()
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting items, commits those queued and waits for the workers.
func (b *Batcher[T]) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Batcher[T]) run() {
	defer b.wg.Done()
	for first := range b.queue {
		items := []batchItem[T]{first}
	gather:
		for len(items) < b.batchMax {
			select {
			case it, ok := <-b.queue:
				if !ok {
					break gather
				}
				items = append(items, it)
			default:
				break gather
			}
		}
		vs := make([]T, len(items))
		for i, it := range items {
			vs[i] = it.v
		}
		errs := b.commit(vs)
		for i, it := range items {
			it.done <- errs[i]
		}
	}
}
