package billing

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// Mode says how a customer pays.
type Mode string

const (
	// Prepaid customers top up a balance first; reservations and charges
	// draw on it. The ledger itself refuses to let their account go below
	// zero.
	Prepaid Mode = "prepaid"
	// Postpaid customers use up to a credit limit and are invoiced later.
	// Billing enforces the limit (not the ledger, so that a lowered limit
	// never stops an existing reservation from being charged).
	Postpaid Mode = "postpaid"
)

// Customer is one of a provider's customers.
type Customer struct {
	ID          string // "cus_" + time-ordered id
	OrgID       string // the provider
	Reference   string // the provider's own id of the customer, unique per provider
	Currency    string
	Mode        Mode
	CreditLimit int64 // postpaid: the most it may use and hold; prepaid: 0
	AccountID   int64 // its ledger account, "billing:cus:<id>"
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int
}

// CustomerParams registers a customer.
type CustomerParams struct {
	Reference   string
	Currency    string
	Mode        Mode
	CreditLimit int64
}

func validReference(param, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if s == "" || len(s) > ReferenceLenMax || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apperr.Invalid(param, "a reference of 1 to %d bytes without control characters", ReferenceLenMax)
	}
	return nil
}

// SettlementReferencePrefix starts the references of a metered session's
// settlement charges ("session:<id>:<n>"); a caller's charge, increment or
// top-up may not use it, so it can never take a settlement's place.
const SettlementReferencePrefix = "session:"

// validCallerReference is validReference, required, for a reference that
// goes into a reservation's history or the organization's charges.
func validCallerReference(param, s string) error {
	if err := validReference(param, s, true); err != nil {
		return err
	}
	if strings.HasPrefix(s, SettlementReferencePrefix) {
		return apperr.Invalid(param, "references starting with %q are kept for metered sessions' settlements", SettlementReferencePrefix)
	}
	return nil
}

func validAmount(param string, v int64) error {
	if v <= 0 || v > AmountMax {
		return apperr.Invalid(param, "an amount in minor units, from 1 to %d", AmountMax)
	}
	return nil
}

func validLimit(mode Mode, v int64) error {
	switch {
	case mode == Prepaid && v != 0:
		return apperr.Invalid("credit_limit", "a prepaid customer has no credit limit")
	case v < 0 || v > CreditLimitMax:
		return apperr.Invalid("credit_limit", "a credit limit in minor units, from 0 to %d", CreditLimitMax)
	}
	return nil
}

func (p CustomerParams) validate() error {
	if err := validReference("reference", p.Reference, true); err != nil {
		return err
	}
	if p.Mode != Prepaid && p.Mode != Postpaid {
		return apperr.Invalid("mode", "prepaid or postpaid")
	}
	if p.Currency == "" || len(p.Currency) > 16 {
		return apperr.Invalid("currency", "a configured currency code")
	}
	return validLimit(p.Mode, p.CreditLimit)
}

// diff names the first field in which p differs from c, or "".
func (p CustomerParams) diff(c Customer) string {
	switch {
	case p.Currency != c.Currency:
		return "currency"
	case p.Mode != c.Mode:
		return "mode"
	case p.CreditLimit != c.CreditLimit:
		return "credit_limit"
	}
	return ""
}

// CustomerFilter selects one page of a provider's customers, newest first.
type CustomerFilter struct {
	OrgID   string // set by the service from the actor; "" (Verify only): every organization's
	AfterID string // cursor: ids sort by creation
	Limit   int
}

// Balance is what a customer has used, holds and may still use.
type Balance struct {
	CustomerID string
	Currency   string
	Mode       Mode
	// Limit is the credit limit (postpaid; 0 for prepaid).
	Limit int64
	// Balance is the posted balance, credits less debits: a prepaid
	// customer's funds, or the negative of a postpaid customer's usage.
	Balance int64
	// Used is what has been charged and not paid back: postpaid, posted
	// debits less credits; prepaid, every charge (posted debits).
	Used int64
	// Reserved is what live reservations hold (pending debits).
	Reserved int64
	// Available is Limit + Balance − Reserved: what a new reservation or
	// direct charge may take. It is negative when a lowered limit is below
	// what is already used and reserved.
	Available int64
	// Proposed is the amount asked about (0: none); RemainingAfter is
	// Available − Proposed, and a charge of Proposed would be refused when
	// it is negative (WouldBeRefused: never without a proposed amount).
	Proposed       int64
	RemainingAfter int64
	WouldBeRefused bool
}

// balanceOf computes b from the customer's ledger account. The account's
// totals are bounded by the ledger (no overflow), and Limit by
// CreditLimitMax, so the sums stay within int64 in any realistic ledger;
// they saturate rather than wrap if not.
func balanceOf(c Customer, a ledger.Account, proposed int64) Balance {
	b := Balance{CustomerID: c.ID, Currency: c.Currency, Mode: c.Mode, Limit: c.CreditLimit,
		Balance: a.CreditsPosted - a.DebitsPosted, Reserved: a.DebitsPending, Proposed: proposed}
	b.Used = a.DebitsPosted - a.CreditsPosted
	if c.Mode == Prepaid {
		b.Used = a.DebitsPosted
	}
	b.Available = c.CreditLimit + b.Balance - b.Reserved
	b.RemainingAfter = b.Available - proposed
	b.WouldBeRefused = proposed > 0 && b.RemainingAfter < 0
	return b
}
