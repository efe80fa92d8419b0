package apperr

import (
	"errors"
	"fmt"
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
