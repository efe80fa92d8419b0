package client

import "time"

// Money is an amount in minor units of a currency: JPY 1000 is {1000, "JPY"}.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Asset is a currency or unit the ledger holds.
type Asset struct {
	Code  string `json:"code"`
	Scale int    `json:"scale"`
}

// Balance is an account's four totals, in minor units.
type Balance struct {
	Account        string    `json:"account"`
	Currency       string    `json:"currency"`
	DebitsPosted   int64     `json:"debits_posted"`
	CreditsPosted  int64     `json:"credits_posted"`
	DebitsPending  int64     `json:"debits_pending"`
	CreditsPending int64     `json:"credits_pending"`
	At             time.Time `json:"at"`
}

// Account is a ledger account of the caller's organization.
type Account struct {
	ID                         string    `json:"id"`
	Reference                  string    `json:"reference"`
	Currency                   string    `json:"currency"`
	Code                       string    `json:"code"`
	DebitsMustNotExceedCredits bool      `json:"debits_must_not_exceed_credits"`
	CreditsMustNotExceedDebits bool      `json:"credits_must_not_exceed_debits"`
	Limit                      int64     `json:"limit"`
	Balance                    Balance   `json:"balance"`
	CreatedAt                  time.Time `json:"created_at"`
}

// AccountParams opens an account.
type AccountParams struct {
	Reference                  string `json:"reference"`
	Currency                   string `json:"currency"`
	Code                       string `json:"code,omitempty"`
	DebitsMustNotExceedCredits bool   `json:"debits_must_not_exceed_credits,omitempty"`
	CreditsMustNotExceedDebits bool   `json:"credits_must_not_exceed_debits,omitempty"`
	Limit                      int64  `json:"limit,omitempty"`
}

// Transfer is an immutable movement of value.
type Transfer struct {
	ID              string            `json:"id"`
	Reference       string            `json:"reference"`
	Kind            string            `json:"kind"` // immediate, pending, post, void, expire
	DebitAccount    string            `json:"debit_account"`
	CreditAccount   string            `json:"credit_account"`
	Amount          Money             `json:"amount"`
	Code            string            `json:"code"`
	PendingTransfer string            `json:"pending_transfer"`
	TimeoutAt       *time.Time        `json:"timeout_at"`
	Metadata        map[string]string `json:"metadata"`
	CreatedAt       time.Time         `json:"created_at"`
}

// TransferParams creates an immediate or pending transfer.
type TransferParams struct {
	Reference      string            `json:"reference"`
	Kind           string            `json:"kind,omitempty"` // "" or "immediate", or "pending"
	DebitAccount   string            `json:"debit_account"`
	CreditAccount  string            `json:"credit_account"`
	Amount         Money             `json:"amount"`
	Code           string            `json:"code,omitempty"`
	TimeoutSeconds int64             `json:"timeout_seconds,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Linked         bool              `json:"linked,omitempty"` // batches only
}

// ResolveParams posts or voids a pending transfer. Amount nil posts it all.
type ResolveParams struct {
	Reference string            `json:"reference"`
	Amount    *Money            `json:"amount,omitempty"`
	Code      string            `json:"code,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// BatchResult answers one item of a batch: Transfer, or Error.
type BatchResult struct {
	Status   int       `json:"status"`
	Transfer *Transfer `json:"transfer"`
	Error    *Error    `json:"error"`
}

// ListParams pages through a list: Limit 1..100 (0: the server's default),
// StartingAfter the last id of the previous page.
type ListParams struct {
	Limit         int
	StartingAfter string
}

// Page is one page of a list.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}
