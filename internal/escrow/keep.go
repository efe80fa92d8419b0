package escrow

// The calls that run an idempotency.Keep (idempotency.WithKeep), and the
// result they give it: a Deal (CreateDeal, AcceptDeal, DeclineDeal,
// CancelDeal, MarkShipped, ConfirmReceipt, ApproveDeal, ReleaseMilestone,
// OpenDispute, ResolveDispute, SetReviewHold), a Message (PostMessage), a
// RecordDepositResult (RecordDeposit), an ApplyDepositResult
// (ApplyDeposit), a Deposit (ClearDeposit, ReturnDeposit), a BankAccount
// (SetBankAccount) and a PayoutBatch (BuildPayoutBatch, SettlePayoutBatch,
// ReturnPayoutItem). Each runs it once in the one transaction that makes
// its change, after the change is written and before its audit entry, with
// exactly what the call returns. A repeat that writes nothing runs it too:
// CreateDeal's with an ExternalRef already used runs it with that deal in
// the transaction that read it; RecordDeposit's of a credit already
// recorded, which reads the first record after its transaction, runs it in
// a transaction of its own. A call that is refused never runs it.
//
// FireTimer and ImportStatement run none, whatever ctx carries: a timer
// answers no request, and an import records each credit in its own
// transaction, so it cannot keep one response with all of them.

// RecordDepositResult is what RecordDeposit returns: the deposit, and
// whether it was recorded before (nothing changed).
type RecordDepositResult struct {
	Deposit  Deposit
	Replayed bool
}

// ApplyDepositResult is what ApplyDeposit returns: the deposit and the
// deal it was credited to, after the change.
type ApplyDepositResult struct {
	Deposit Deposit
	Deal    Deal
}
