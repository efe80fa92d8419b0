package idempotency

import "context"

// Tx is what a Keep needs of the transaction it runs in: the stores' write
// transactions of every product have it.
type Tx interface {
	// IdempotencyByKeys reads the records of keys, finished or not.
	IdempotencyByKeys(ctx context.Context, keys []OrgKey) ([]Record, error)
	// IdempotencyInsert inserts completed records. Errors: conflict when a
	// key has a record already.
	IdempotencyInsert(ctx context.Context, recs []Record) error
}

// A Keep runs inside the transaction of a service call whose context
// carries it (WithKeep), after the call's change is written and before it
// commits, with what the call returns. What it writes through tx commits
// with the change, and an error from it undoes the change and is the
// call's error. The API keeps an Idempotency-Key's response this way, in
// the one commit of the change, so that no crash can leave a change
// without its response (or a response without its change). A store may
// run a transaction more than once; the Keep then runs again, with that
// run's result.
//
// Each service documents which of its calls run the Keep and with what
// result; a call that does not, ignores it.
type Keep func(ctx context.Context, tx Tx, result any) error

type keepKey struct{}

// WithKeep returns ctx carrying k for the service call made with it.
func WithKeep(ctx context.Context, k Keep) context.Context {
	return context.WithValue(ctx, keepKey{}, k)
}

// KeepOf returns the Keep ctx carries, or nil. A service reads it before
// it starts its transaction and hands it on with RunKeep: the context a
// store passes into the transaction carries it too.
func KeepOf(ctx context.Context) Keep {
	k, _ := ctx.Value(keepKey{}).(Keep)
	return k
}

// RunKeep runs k, if there is one, with result, in tx.
func RunKeep(ctx context.Context, k Keep, tx Tx, result any) error {
	if k == nil {
		return nil
	}
	return k(ctx, tx, result)
}
