package apperr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCodeOf(t *testing.T) {
	wrapped := fmt.Errorf("op: %w", NotFound("account"))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("boom"), CodeInternal},
		{wrapped, CodeNotFound},
		{Invalid("amount", "must be positive"), CodeInvalid},
	} {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if !Is(wrapped, CodeNotFound) {
		t.Error("Is(wrapped, not_found) = false")
	}
}

func TestSweepKeepsTheFirstFailuresAndCountsTheRest(t *testing.T) {
	var s Sweep
	if err := s.Err(); err != nil {
		t.Fatalf("empty sweep: %v", err)
	}
	s.Add(nil)
	first := errors.New("first")
	s.Add(first)
	for i := range 14 {
		s.Add(fmt.Errorf("failure %d", i))
	}
	err := s.Err()
	if !errors.Is(err, first) {
		t.Errorf("%v does not wrap the first failure", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "failure 8") || strings.Contains(msg, "failure 9") || !strings.HasSuffix(msg, "and 5 more failures") {
		t.Errorf("joined error = %q, want the first 10 failures and a count of 5 more", msg)
	}
}
