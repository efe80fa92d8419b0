package ledger

// Result is the outcome of one transfer request. ResultOK is the only success;
// every other code names exactly why the request was rejected and nothing it
// asked for was written.
type Result string

const (
	ResultOK Result = "ok"

	// Malformed requests.
	ResultOwnerRequired        Result = "owner_required"
	ResultOwnerTooLong         Result = "owner_too_long"
	ResultReferenceRequired    Result = "reference_required"
	ResultReferenceTooLong     Result = "reference_too_long"
	ResultCodeTooLong          Result = "code_too_long"
	ResultTextInvalid          Result = "text_invalid" // owner, reference, code or metadata is not valid UTF-8 or holds a NUL
	ResultMetadataTooLarge     Result = "metadata_too_large"
	ResultKindInvalid          Result = "kind_invalid"
	ResultAmountMustBePositive Result = "amount_must_be_positive"
	ResultAmountMustBeZero     Result = "amount_must_be_zero"
	ResultAccountsMustDiffer   Result = "accounts_must_be_different"
	ResultAccountsNotAllowed   Result = "accounts_not_allowed"
	ResultPendingIDRequired    Result = "pending_id_required"
	ResultPendingIDNotAllowed  Result = "pending_id_not_allowed"
	ResultTimeoutNotAllowed    Result = "timeout_reserved_for_pending"
	ResultTimeoutInvalid       Result = "timeout_invalid"

	// Requests that do not fit the ledger's state.
	ResultDebitAccountNotFound     Result = "debit_account_not_found"
	ResultCreditAccountNotFound    Result = "credit_account_not_found"
	ResultAssetMismatch            Result = "asset_mismatch"
	ResultPendingNotFound          Result = "pending_transfer_not_found"
	ResultPendingAlreadyPosted     Result = "pending_transfer_already_posted"
	ResultPendingAlreadyVoided     Result = "pending_transfer_already_voided"
	ResultPendingExpired           Result = "pending_transfer_expired"
	ResultPendingNotExpired        Result = "pending_transfer_not_expired"
	ResultPostAmountExceedsPending Result = "post_amount_exceeds_pending"
	ResultInsufficientFunds        Result = "insufficient_funds" // debit account: debits would exceed credits
	ResultExceedsDebits            Result = "exceeds_debits"     // credit account: credits would exceed debits
	ResultLimitExceeded            Result = "limit_exceeded"     // either rule, on an account with a limit
	ResultOverflow                 Result = "overflow"
	// ResultAccountManaged: an account a product keeps (an escrow deal's
	// holding account, a billing customer's account) moves only through
	// that product, never by a transfer submitted directly.
	ResultAccountManaged Result = "account_managed_by_product"

	// Linked sets.
	ResultLinkedEventFailed    Result = "linked_event_failed"     // another transfer of the chain failed
	ResultLinkedEventChainOpen Result = "linked_event_chain_open" // the submission ended inside a chain

	// Retries of an existing (Owner, Reference) whose fields differ. The code
	// names the first differing field.
	ResultExistsWithDifferentKind            Result = "exists_with_different_kind"
	ResultExistsWithDifferentDebitAccountID  Result = "exists_with_different_debit_account_id"
	ResultExistsWithDifferentCreditAccountID Result = "exists_with_different_credit_account_id"
	ResultExistsWithDifferentAmount          Result = "exists_with_different_amount"
	ResultExistsWithDifferentAsset           Result = "exists_with_different_asset"
	ResultExistsWithDifferentCode            Result = "exists_with_different_code"
	ResultExistsWithDifferentPendingID       Result = "exists_with_different_pending_id"
	ResultExistsWithDifferentTimeout         Result = "exists_with_different_timeout"
	ResultExistsWithDifferentMetadata        Result = "exists_with_different_metadata"
)

// TransferResult answers one TransferRequest. On ResultOK, Transfer is the
// committed transfer; Replayed says it was committed by an earlier request with
// the same (Owner, Reference) and identical fields. Rejections are not stored:
// a rejected request may be retried and succeed later.
type TransferResult struct {
	Result   Result
	Transfer Transfer
	Replayed bool
}
