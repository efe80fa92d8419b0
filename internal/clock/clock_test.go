package clock

import (
	"sync"
	"testing"
	"time"
)

func TestOffset(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("JST", 9*3600))
	c := &Offset{now: func() time.Time { return base }}
	if got := c.Now(); !got.Equal(base) || got.Location() != time.UTC {
		t.Fatalf("Now = %v, want %v in UTC", got, base)
	}
	got, err := c.Advance(90 * time.Second)
	if err != nil || !got.Equal(base.Add(90*time.Second)) || !c.Now().Equal(got) || c.Offset() != 90*time.Second {
		t.Fatalf("Advance = %v, %v; Now %v; Offset %v", got, err, c.Now(), c.Offset())
	}
	for _, d := range []time.Duration{0, -time.Second, AdvanceMax + 1} {
		if _, err := c.Advance(d); err == nil {
			t.Errorf("Advance(%v) = nil error", d)
		}
	}
	if c.Offset() != 90*time.Second {
		t.Fatalf("a refused advance moved the clock to %v", c.Offset())
	}
	t.Run("ErrOverflow", func(t *testing.T) {
		c := &Offset{offset: maxDuration - time.Second}
		if _, err := c.Advance(2 * time.Second); err == nil {
			t.Fatal("no error past the largest offset")
		}
	})
}

func TestZeroValueIsRealTime(t *testing.T) {
	var c Offset
	before := time.Now()
	got := c.Now()
	if got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Fatalf("Now = %v, real time %v", got, before)
	}
}

func TestConcurrentAdvance(t *testing.T) {
	var c Offset
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := c.Advance(time.Second); err != nil {
					t.Error(err)
				}
				c.Now()
			}
		})
	}
	wg.Wait()
	if c.Offset() != 800*time.Second {
		t.Fatalf("Offset = %v, want 800s", c.Offset())
	}
}
