package web

// Catalog keys chosen in Go code. Templates name their own keys as string
// constants ({{.T "home.title"}}); the catalog test checks both kinds.
const (
	msgNoticeVerified  msgKey = "notice.verified"
	msgNoticeSaved     msgKey = "notice.saved"
	msgNoticeSignedOut msgKey = "notice.signed_out"

	msgErrorNotFound    msgKey = "error.not_found"
	msgErrorForbidden   msgKey = "error.forbidden"
	msgErrorCrossOrigin msgKey = "error.cross_origin"
	msgErrorCSRF        msgKey = "error.csrf"
	msgErrorBadRequest  msgKey = "error.bad_request"
	msgErrorTooLarge    msgKey = "error.too_large"
	msgErrorRateLimited msgKey = "error.rate_limited"
	msgErrorUnavailable msgKey = "error.unavailable"
	msgErrorInternal    msgKey = "error.internal"

	msgInvalidEmail     msgKey = "form.invalid_email"
	msgInvalidPassword  msgKey = "form.invalid_password" // %[1]d, %[2]d: the password's bounds in bytes
	msgVerifyInvalid    msgKey = "verify.invalid"
	msgSignInWrong      msgKey = "sign_in.wrong"
	msgSignInUnverified msgKey = "sign_in.unverified"

	msgRoleAdmin      msgKey = "role.admin"
	msgRoleSupport    msgKey = "role.support"
	msgRoleFinance    msgKey = "role.finance"
	msgRoleMonitoring msgKey = "role.monitoring"
	msgRoleUnknown    msgKey = "role.unknown" // %[1]s: the role's code

	msgMailVerifySubject msgKey = "mail.verify.subject"
	msgMailVerifyBody    msgKey = "mail.verify.body" // %[1]s link, %[2]d hours it works, %[3]s resend page
	msgMailExistsSubject msgKey = "mail.exists.subject"
	msgMailExistsBody    msgKey = "mail.exists.body" // %[1]s sign-in page, %[2]s resend page

	msgNoticeDealCreated    msgKey = "notice.deal_created"
	msgNoticeDone           msgKey = "notice.done"
	msgNoticePosted         msgKey = "notice.posted"
	msgNoticeReviewCleared  msgKey = "notice.review_cleared"
	msgNoticeResolved       msgKey = "notice.resolved"
	msgNoticeDepositCleared msgKey = "notice.deposit_cleared"
	msgNoticeDepositApplied msgKey = "notice.deposit_applied"
	msgNoticeDepositReturn  msgKey = "notice.deposit_returned"
	msgNoticeBatchBuilt     msgKey = "notice.batch_built"
	msgNoticeBatchSettled   msgKey = "notice.batch_settled"
	msgNoticeItemReturned   msgKey = "notice.item_returned"

	// Why escrow refused an action; nothing changed.
	msgRefusedState      msgKey = "escrow.refused.state"
	msgRefusedNotParty   msgKey = "escrow.refused.not_party"
	msgRefusedReviewHold msgKey = "escrow.refused.review_hold"
	msgRefusedDeadline   msgKey = "escrow.refused.deadline_passed"
	msgRefusedConflict   msgKey = "escrow.refused.conflict"
	msgRefusedForbidden  msgKey = "escrow.refused.forbidden"
	msgThreadFull        msgKey = "escrow.refused.thread_full" // %[1]d messages at most

	// What a valid value of a field is, shown when one was not.
	msgHintTitle           msgKey = "hint.title"       // %[1]d bytes at most
	msgHintDescription     msgKey = "hint.description" // %[1]d bytes at most
	msgHintPrice           msgKey = "hint.price"
	msgHintShippingFee     msgKey = "hint.shipping_fee"
	msgHintCurrency        msgKey = "hint.currency"
	msgHintFeePayer        msgKey = "hint.fee_payer"
	msgHintBuyerEmail      msgKey = "hint.buyer_email"
	msgHintDays            msgKey = "hint.days"             // %[1]s the field, %[2]d days at most
	msgHintMilestones      msgKey = "hint.milestones"       // %[1]d milestones at most
	msgHintMilestoneTitle  msgKey = "hint.milestone_title"  // %[1]d the row
	msgHintMilestoneAmount msgKey = "hint.milestone_amount" // %[1]d the row
	msgHintCarrier         msgKey = "hint.carrier"          // %[1]d bytes at most
	msgHintTracking        msgKey = "hint.tracking_number"  // %[1]d bytes at most
	msgHintReason          msgKey = "hint.reason"
	msgHintBody            msgKey = "hint.body" // %[1]d bytes at most
	msgHintBuyerAmount     msgKey = "hint.buyer_amount"
	msgHintResolution      msgKey = "hint.resolution"
	msgHintNote            msgKey = "hint.note"
	msgHintBankCode        msgKey = "hint.bank_code"
	msgHintBranchCode      msgKey = "hint.branch_code"
	msgHintAccountNumber   msgKey = "hint.account_number"
	msgHintAccountType     msgKey = "hint.account_type"
	msgHintKanaName        msgKey = "hint.kana_name" // %[1]s the field, %[2]d characters at most
	msgHintTransferDate    msgKey = "hint.transfer_date"
	msgHintFormat          msgKey = "hint.format"
	msgHintGeneric         msgKey = "hint.generic"  // %[1]s the field's code
	msgFieldBadChar        msgKey = "hint.bad_char" // %[1]s the field, %[2]s the character

	// Field names that Go code puts in a hint; the forms use them as labels.
	msgFieldPayDays        msgKey = "deal.field.pay_days"
	msgFieldShipDays       msgKey = "deal.field.ship_days"
	msgFieldInspectionDays msgKey = "deal.field.inspection_days"
	msgFieldHolderName     msgKey = "payouts.field.holder_name"
	msgFieldBankName       msgKey = "payouts.field.bank_name"
	msgFieldBranchName     msgKey = "payouts.field.branch_name"

	msgStatePending         msgKey = "state.pending_acceptance"
	msgStateAwaitingPayment msgKey = "state.awaiting_payment"
	msgStateFunded          msgKey = "state.funded"
	msgStateShipped         msgKey = "state.shipped"
	msgStateReceived        msgKey = "state.received"
	msgStateReleased        msgKey = "state.released"
	msgStateCanceled        msgKey = "state.canceled"
	msgStateDisputed        msgKey = "state.disputed"
	msgStateResolved        msgKey = "state.resolved"
	msgStateRefunded        msgKey = "state.refunded"

	msgPartyBuyer  msgKey = "party.buyer"
	msgPartySeller msgKey = "party.seller"
	msgPartyStaff  msgKey = "party.staff"
	msgPartySite   msgKey = "party.site"
	msgActorUser   msgKey = "party.user"
	msgActorSystem msgKey = "party.system"

	msgFeePayerBuyer  msgKey = "fee_payer.buyer"
	msgFeePayerSeller msgKey = "fee_payer.seller"
	msgFeePayerSplit  msgKey = "fee_payer.split"

	msgReasonLargeAmount msgKey = "review_reason.large_amount"
	msgReasonVelocity    msgKey = "review_reason.many_deals_per_day"
	msgReasonNewParty    msgKey = "review_reason.new_seller_large_amount"
	msgReasonSharedBank  msgKey = "review_reason.bank_account_shared_by_sellers"

	msgDepositMatched   msgKey = "deposit_status.matched"
	msgDepositPartial   msgKey = "deposit_status.partial"
	msgDepositOverpaid  msgKey = "deposit_status.overpaid"
	msgDepositUnmatched msgKey = "deposit_status.unmatched"
	msgDepositLate      msgKey = "deposit_status.late"
	msgDepositReturned  msgKey = "deposit_status.returned"
	msgDepositDuplicate msgKey = "deposit_status.duplicate"

	msgPayoutPending  msgKey = "payout_state.pending"
	msgPayoutSettled  msgKey = "payout_state.settled"
	msgPayoutReturned msgKey = "payout_state.returned"

	msgAccountOrdinary msgKey = "account_type.ordinary"
	msgAccountChecking msgKey = "account_type.checking"
	msgAccountSavings  msgKey = "account_type.savings"

	msgResolutionRelease msgKey = "resolution.release"
	msgResolutionRefund  msgKey = "resolution.refund"
	msgResolutionSplit   msgKey = "resolution.split"

	msgActionCreated           msgKey = "action.created"
	msgActionAccepted          msgKey = "action.accepted"
	msgActionDeclined          msgKey = "action.declined"
	msgActionCanceled          msgKey = "action.canceled"
	msgActionPaymentReceived   msgKey = "action.payment_received"
	msgActionPaymentLate       msgKey = "action.payment_late"
	msgActionFunded            msgKey = "action.funded"
	msgActionShipped           msgKey = "action.shipped"
	msgActionReceived          msgKey = "action.received"
	msgActionReleased          msgKey = "action.released"
	msgActionMilestoneReleased msgKey = "action.milestone_released"
	msgActionDisputed          msgKey = "action.disputed"
	msgActionResolved          msgKey = "action.resolved"
	msgActionReviewOpened      msgKey = "action.review_opened"
	msgActionReviewCleared     msgKey = "action.review_cleared"
	msgActionTimerPayBy        msgKey = "action.timer_pay_by"
	msgActionTimerShipBy       msgKey = "action.timer_ship_by"
	msgActionTimerInspection   msgKey = "action.timer_inspection"
	msgUnknownCode             msgKey = "code.unknown" // %[1]s the code

	msgImportNoFile      msgKey = "import.no_file"
	msgImportTooLarge    msgKey = "import.too_large" // %[1]d MiB
	msgImportBadFile     msgKey = "import.bad_file"  // %[1]s the parser's detail
	msgImportStopped     msgKey = "import.stopped"   // %[1]d the credit's number, %[2]s the detail
	msgImportReplayed    msgKey = "import.replayed"
	msgImportWithdrawals msgKey = "import.withdrawals"
	msgPayoutNothing     msgKey = "payouts.nothing" // %[1]s the currency

	msgBillingPrepaid   msgKey = "billing.mode.prepaid"
	msgBillingPostpaid  msgKey = "billing.mode.postpaid"
	msgStatementCharge  msgKey = "billing.kind.charge"
	msgStatementHold    msgKey = "billing.kind.hold"
	msgStatementRelease msgKey = "billing.kind.release"
	msgStatementTopUp   msgKey = "billing.kind.top_up"
	msgStatementTooLong msgKey = "billing.statement.too_long" // %[1]d rows at most
)
