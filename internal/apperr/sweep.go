package apperr

import (
	"errors"
	"fmt"
)

// sweepErrorsKept bounds the errors a Sweep keeps in full.
const sweepErrorsKept = 10

// Sweep gathers the failures of a pass over many items (a timer sweep, an
// expiry sweep) that goes on past each one: the first few in full and a
// count of the rest, so one bad item is reported without hiding the others
// and ten thousand do not make one ten-thousand-line log entry.
type Sweep struct {
	errs    []error
	dropped int
}

// Add records err, if it is not nil.
func (s *Sweep) Add(err error) {
	switch {
	case err == nil:
	case len(s.errs) < sweepErrorsKept:
		s.errs = append(s.errs, err)
	default:
		s.dropped++
	}
}

// Err joins what was recorded (nil if nothing was).
func (s *Sweep) Err() error {
	if s.dropped > 0 {
		return errors.Join(append(s.errs, fmt.Errorf("and %d more failures", s.dropped))...)
	}
	return errors.Join(s.errs...)
}
