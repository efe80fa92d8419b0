package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestBatcherAnswersEachItem(t *testing.T) {
	var mu sync.Mutex
	var seen []int
	b := NewBatcher(16, 4, 2, func(vs []int) []error {
		mu.Lock()
		defer mu.Unlock()
		if len(vs) > 4 {
			t.Errorf("batch of %d, bound is 4", len(vs))
		}
		errs := make([]error, len(vs))
		for i, v := range vs {
			seen = append(seen, v)
			if v%3 == 0 {
				errs[i] = errors.New("refused")
			}
		}
		return errs
	})
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range 30 {
		wg.Go(func() { errs[i] = b.Do(context.Background(), i) })
	}
	wg.Wait()
	b.Close()
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Errorf("item %d: %v", i, err)
		}
	}
	if len(seen) != 30 {
		t.Fatalf("committed %d items, want 30", len(seen))
	}
	if err := b.Do(context.Background(), 1); !errors.Is(err, ErrBatcherClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
