// Package clock is a settable clock for black-box tests of deadlines: the
// real time plus an offset that only moves forward. `kinko serve
// --test-clock` gives one to the products whose timers should be testable
// from outside, and the API moves it.
//
// It knows nothing of any product, and it must never be wired into a
// production server: a clock that someone can move is a clock that someone
// can use to expire other people's deadlines.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// AdvanceMax bounds one move: about three years, far beyond every deadline
// Kinko sets, and small enough that the offset never overflows.
const AdvanceMax = 100_000_000 * time.Second

// Offset is the real time plus an offset. The zero value reads the real
// time. It is safe for concurrent use.
type Offset struct {
	mu     sync.Mutex
	offset time.Duration
	now    func() time.Time // nil: time.Now; tests replace it
}

// Now returns the real time plus the offset, in UTC.
func (c *Offset) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read()
}

func (c *Offset) read() time.Time {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return now().Add(c.offset).UTC()
}

// Offset returns how far the clock is ahead of the real time.
func (c *Offset) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Advance moves the clock forward by d, which must be positive and at most
// AdvanceMax, and returns the new time. The total offset is bounded only by
// the number of calls; time.Duration holds about 292 years of them.
func (c *Offset) Advance(d time.Duration) (time.Time, error) {
	if d <= 0 || d > AdvanceMax {
		return time.Time{}, fmt.Errorf("clock: advance by %v: want more than 0 and at most %v", d, AdvanceMax)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offset > maxDuration-d {
		return time.Time{}, fmt.Errorf("clock: advance by %v: the offset would overflow", d)
	}
	c.offset += d
	return c.read(), nil
}

const maxDuration = time.Duration(1<<63 - 1)
