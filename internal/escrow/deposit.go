package escrow

import (
	"crypto/rand"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/money"
)

// DepositStatus says what matching made of an incoming credit.
type DepositStatus string

const (
	DepositMatched   DepositStatus = "matched"   // paid exactly what the deal still owed
	DepositPartial   DepositStatus = "partial"   // less than owed: kept for the deal, which waits for the rest
	DepositOverpaid  DepositStatus = "overpaid"  // more than owed: the deal is funded, the excess waits in suspense
	DepositUnmatched DepositStatus = "unmatched" // no deal has the reference (or the currency differs): in suspense
	DepositLate      DepositStatus = "late"      // the deal no longer awaits payment: in suspense
	DepositReturned  DepositStatus = "returned"  // what suspense held of it went back to the payer (ReturnDeposit)
	// DepositDuplicate: it looks like a credit recorded before from another
	// source (the same amount, value date and deal or payer) under another
	// bank reference: nothing is booked until staff apply it (a second real
	// payment) or clear it (the same credit seen twice).
	DepositDuplicate DepositStatus = "duplicate"
)

// DepositSource says where a credit came from.
type DepositSource string

const (
	SourceAPI    DepositSource = "api"
	SourceZengin DepositSource = "zengin"
	SourceCamt   DepositSource = "camt053"
)

// Review is a deposit's place in the staff queue.
type Review string

const (
	ReviewNone    Review = ""        // nothing for staff to do
	ReviewOpen    Review = "open"    // staff must look
	ReviewCleared Review = "cleared" // staff handled it
)

// Bounds of a deposit's text.
const (
	BankRefLenMax = 128
	// DepositsAlikeMax bounds the earlier credits of one amount and value
	// date a new one is compared with.
	DepositsAlikeMax = 100
	BankAcctLenMax   = 64
	PayerNameLenMax  = 140
	RemittanceLenMax = 280
)

// Deposit is one credit to the operator's bank account, as the bank
// reported it, and what matching did with it.
type Deposit struct {
	ID          string // "dep_…"
	Source      DepositSource
	BankAccount string // the operator's account it arrived on, as the statement names it
	BankRef     string // the bank's id for the entry: (BankAccount, BankRef) is unique
	Currency    string
	Amount      int64
	ValueDate   time.Time
	PayerName   string
	Remittance  string // free text and references sent with it
	DealID      string // "" when unmatched
	Status      DepositStatus
	// Applied is the part credited to the deal; the rest (Amount-Applied)
	// went to suspense.
	Applied   int64
	Review    Review
	Note      string // staff's note when clearing
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DepositParams is one credit to record.
type DepositParams struct {
	Source      DepositSource
	BankAccount string
	BankRef     string
	Currency    string
	Amount      int64
	ValueDate   time.Time
	PayerName   string
	Remittance  string
	// PaymentRef names the deal directly (API callers who know it); else
	// the reference is looked for in PayerName and Remittance.
	PaymentRef string

	// earlierRef is a BankRef an earlier import may have recorded this
	// credit under; a deposit under it answers as a replay. For one payment
	// of a bank entry booked as a batch (a camt.053 entry with several
	// transactions) it is the whole entry's, as imports recorded it before
	// they split batches; for a credit of a Zengin file written in western
	// years, the one its years read as Reiwa give, as imports read every
	// file before they told the eras apart.
	earlierRef string
}

// DepositFilter selects one page of deposits, newest first.
type DepositFilter struct {
	Review  Review // "" : any
	DealID  string
	AfterID string
	Limit   int
}

func (p DepositParams) validate() error {
	switch {
	case p.Source != SourceAPI && p.Source != SourceZengin && p.Source != SourceCamt:
		return apperr.Invalid("source", "api, zengin or camt053")
	case p.BankAccount == "" || !validText(p.BankAccount, BankAcctLenMax):
		return apperr.Invalid("bank_account", "the receiving account, at most %d bytes", BankAcctLenMax)
	case p.BankRef == "" || !validText(p.BankRef, BankRefLenMax):
		return apperr.Invalid("bank_ref", "the bank's entry reference, at most %d bytes", BankRefLenMax)
	case money.ValidateCode(p.Currency) != nil:
		return apperr.Invalid("currency", "%q is not a currency code", p.Currency)
	case p.Amount <= 0 || p.Amount > AmountMax:
		return apperr.Invalid("amount", "between 1 and %d minor units", int64(AmountMax))
	case !validText(p.PayerName, PayerNameLenMax):
		return apperr.Invalid("payer_name", "at most %d bytes", PayerNameLenMax)
	case !validText(p.Remittance, RemittanceLenMax):
		return apperr.Invalid("remittance", "at most %d bytes", RemittanceLenMax)
	case p.PaymentRef != "" && !ValidPaymentRef(p.PaymentRef):
		return apperr.Invalid("payment_ref", "%q is not a payment reference", p.PaymentRef)
	}
	return nil
}

// PaymentRefLen is the length of a payment reference: ten digits, the last
// a Luhn check digit, so a mistyped digit or swapped pair is not matched to
// another deal. Ten digits fit in the payer-name field of a Japanese bank
// transfer, where buyers type them before their name.
const PaymentRefLen = 10

func newPaymentRef() string {
	var b [PaymentRefLen]byte
	var r [PaymentRefLen - 1]byte
	rand.Read(r[:])
	for i := range r {
		b[i] = '0' + r[i]%10 // 256 % 10 ≠ 0: a slight bias, harmless for a reference
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	b[PaymentRefLen-1] = luhnDigit(b[:PaymentRefLen-1])
	return string(b[:])
}

// luhnDigit returns the check digit that makes digits+check pass Luhn.
func luhnDigit(digits []byte) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// ValidPaymentRef reports whether s is ten digits with a valid check digit.
func ValidPaymentRef(s string) bool {
	if len(s) != PaymentRefLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return luhnDigit([]byte(s[:PaymentRefLen-1])) == s[PaymentRefLen-1]
}

// FindPaymentRefs returns the valid payment references in text: runs of
// exactly PaymentRefLen ASCII or full-width digits (so "１２３…" typed in a
// Japanese form counts), in order, without repeats.
func FindPaymentRefs(text string) []string {
	var out []string
	var run []byte
	flush := func() {
		if len(run) == PaymentRefLen && ValidPaymentRef(string(run)) {
			s := string(run)
			dup := false
			for _, o := range out {
				dup = dup || o == s
			}
			if !dup {
				out = append(out, s)
			}
		}
		run = run[:0]
	}
	for _, r := range text {
		switch {
		case r >= '0' && r <= '9':
			run = append(run, byte(r))
		case r >= '０' && r <= '９':
			run = append(run, byte('0'+r-'０'))
		default:
			flush()
		}
	}
	flush()
	return out
}
