package api

// escrowKeyedInTx are escrow's routes in keyedInTx: every escrow POST but
// POST /v1/deposits/imports (keyedAfter), each one service call that runs
// its keep in the transaction of its change (escrow/keep.go). Without it a
// crash between the change and its completion let a retry register a
// second deal, or answer a deal step with deal_state_conflict instead of
// its first answer.
var escrowKeyedInTx = []string{
	"POST /v1/deals",
	"POST /v1/deals/{id}/accept",
	"POST /v1/deals/{id}/decline",
	"POST /v1/deals/{id}/cancel",
	"POST /v1/deals/{id}/ship",
	"POST /v1/deals/{id}/confirm_receipt",
	"POST /v1/deals/{id}/approve",
	"POST /v1/deals/{id}/release_milestone",
	"POST /v1/deals/{id}/dispute",
	"POST /v1/deals/{id}/messages",
	"POST /v1/deals/{id}/resolve",
	"POST /v1/deals/{id}/review",
	"POST /v1/deposits",
	"POST /v1/deposits/{id}/apply",
	"POST /v1/deposits/{id}/clear",
	"POST /v1/deposits/{id}/return",
	"POST /v1/bank_accounts",
	"POST /v1/payout_batches",
	"POST /v1/payout_batches/{id}/settle",
	"POST /v1/payout_batches/{id}/items/{item_id}/return",
}
