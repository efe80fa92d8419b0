package billing

import "context"

// A Keep runs inside the transaction of a call whose context carries it
// (WithKeep), after the call's change is written and before it commits,
// with what the call returns: a Reservation (Reserve,
// IncrementReservation, CancelReservation), a ChargeResult (Charge), a
// Charge (ChargeDirect) or a UsageResult (ReportUsage). What it writes
// through tx commits with the change, and an error from it undoes the
// change and is the call's error. The API keeps an Idempotency-Key's
// response this way, in the one commit of the change. A store may run a
// transaction more than once; the Keep then runs again, with that run's
// result. Calls not listed here do not run it.
type Keep func(ctx context.Context, tx Tx, result any) error

type keepKey struct{}

// WithKeep returns ctx carrying k for the billing call made with it.
func WithKeep(ctx context.Context, k Keep) context.Context {
	return context.WithValue(ctx, keepKey{}, k)
}

func keepOf(ctx context.Context) Keep {
	k, _ := ctx.Value(keepKey{}).(Keep)
	return k
}

// ChargeResult is what Charge returns: the charge and its reservation
// after it.
type ChargeResult struct {
	Charge      Charge
	Reservation Reservation
}

// UsageResult is what ReportUsage returns: the report and its session
// after it.
type UsageResult struct {
	Report  UsageReport
	Session Session
}
