package ledger

import (
	"time"

	"github.com/kinko-pay/kinko/internal/money"
)

// Bounds on the free-text fields of accounts and transfers.
const (
	OwnerLenMax     = 64
	ReferenceLenMax = 128
	CodeLenMax      = 64
)

// Account holds balances in one asset. Only the ledger changes its balances.
type Account struct {
	ID        int64
	Owner     string // the principal the account belongs to; isolation and idempotency scope
	Reference string // the owner's own reference, unique per owner; makes creation idempotent
	Asset     string // asset code, e.g. "JPY"
	Code      string // free label for the account's purpose, e.g. "escrow_holding"

	// Balance rules. At most one of the two flags is set. Limit is the overdraft
	// (for DebitsMustNotExceedCredits) or credit allowance (for
	// CreditsMustNotExceedDebits) beyond which the rule rejects; it needs a flag.
	DebitsMustNotExceedCredits bool
	CreditsMustNotExceedDebits bool
	Limit                      int64

	DebitsPosted   int64
	CreditsPosted  int64
	DebitsPending  int64
	CreditsPending int64

	CreatedAt time.Time
}

// Balance is an account's four running totals at one instant.
type Balance struct {
	AccountID      int64
	Asset          string
	DebitsPosted   int64
	CreditsPosted  int64
	DebitsPending  int64
	CreditsPending int64
	At             time.Time
}

// Balance returns the account's current totals.
func (a Account) Balance() Balance {
	return Balance{
		AccountID:      a.ID,
		Asset:          a.Asset,
		DebitsPosted:   a.DebitsPosted,
		CreditsPosted:  a.CreditsPosted,
		DebitsPending:  a.DebitsPending,
		CreditsPending: a.CreditsPending,
	}
}

// RuleViolation returns a non-empty description when the account's balances
// break its rule; the ledger never commits such a state, and verify looks for it.
func (a Account) RuleViolation() string {
	switch {
	case a.DebitsPosted < 0 || a.CreditsPosted < 0 || a.DebitsPending < 0 || a.CreditsPending < 0:
		return "negative balance component"
	}
	debits, err1 := money.Add(a.DebitsPosted, a.DebitsPending)
	credits, err2 := money.Add(a.CreditsPosted, a.CreditsPending)
	switch {
	case err1 != nil || err2 != nil:
		return "balance totals overflow int64"
	case a.DebitsMustNotExceedCredits && debits > money.AddSaturating(a.CreditsPosted, a.Limit):
		return "debits exceed credits plus limit"
	case a.CreditsMustNotExceedDebits && credits > money.AddSaturating(a.DebitsPosted, a.Limit):
		return "credits exceed debits plus limit"
	}
	return ""
}

// AccountRequest asks for a new account. Creating the same (Owner, Reference)
// twice with the same fields returns the first account; with different fields it
// is an error naming the field.
type AccountRequest struct {
	Owner                      string
	Reference                  string
	Asset                      string
	Code                       string
	DebitsMustNotExceedCredits bool
	CreditsMustNotExceedDebits bool
	Limit                      int64
}

// AccountFilter selects an owner's accounts, ordered by id, one page at a time.
type AccountFilter struct {
	Owner   string
	AfterID int64 // cursor: only accounts with a greater id
	Limit   int   // page size, 1..PageLimitMax
}

// PageLimitMax bounds every page the ledger returns.
const PageLimitMax = 1000

// Storage encoding of the balance rules, shared by every store.
const (
	flagDebitsMustNotExceedCredits = 1
	flagCreditsMustNotExceedDebits = 2
)

// FlagBits encodes the account's balance rules as stored.
func (a Account) FlagBits() int64 {
	var f int64
	if a.DebitsMustNotExceedCredits {
		f |= flagDebitsMustNotExceedCredits
	}
	if a.CreditsMustNotExceedDebits {
		f |= flagCreditsMustNotExceedDebits
	}
	return f
}

// SetFlagBits decodes stored balance rules into a.
func (a *Account) SetFlagBits(f int64) {
	a.DebitsMustNotExceedCredits = f&flagDebitsMustNotExceedCredits != 0
	a.CreditsMustNotExceedDebits = f&flagCreditsMustNotExceedDebits != 0
}
