package billing

// The calls that run an idempotency.Keep (idempotency.WithKeep), and the
// result they give it: a Customer (CreateCustomer, SetCreditLimit), a TopUp
// (TopUp), an Invoice (ClosePeriod), a Reservation (Reserve,
// IncrementReservation, CancelReservation), a ChargeResult (Charge), a
// Charge (ChargeDirect), a Session (StartSession, TopUpSession,
// EndSession), a UsageResult (ReportUsage). The Keep runs after the call's
// change is written, before its audit entry; a repeat that writes nothing
// runs it too.

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
