package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/audit"
)

// AuditFunc appends the audit entries of a change to tx, the database
// transaction of the change itself, so an entry exists exactly when its
// change committed (docs/audit.md). A store calls it inside that transaction
// after the change, and only when the change changed something; an error
// from it rolls the change back and is returned.
type AuditFunc func(ctx context.Context, tx audit.Tx) error

// recordChange returns the AuditFunc that appends e at now, with data as its
// JSON object. Its errors name the action; the service calling the store
// adds its own name.
func recordChange(now time.Time, e audit.Entry, data map[string]any) AuditFunc {
	return func(ctx context.Context, tx audit.Tx) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode the audit data of %s: %w", e.Action, err)
		}
		e.Data = raw
		if _, err := audit.Append(ctx, tx, now, e); err != nil {
			return fmt.Errorf("record %s: %w", e.Action, err)
		}
		return nil
	}
}
