package escrow

import (
	"fmt"
	"math/bits"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/money"
)

// State is where a deal is in its life.
type State string

const (
	StatePendingAcceptance State = "pending_acceptance"
	StateAwaitingPayment   State = "awaiting_payment"
	StateFunded            State = "funded"
	StateShipped           State = "shipped"
	StateReceived          State = "received"
	StateReleased          State = "released" // final: the seller was paid
	StateCanceled          State = "canceled" // final: declined, canceled or unpaid
	StateDisputed          State = "disputed"
	StateResolved          State = "resolved" // final: staff released, refunded or split
	StateRefunded          State = "refunded" // final: the buyer was repaid (not shipped in time)
)

// Final reports whether no transition leaves s.
func (s State) Final() bool {
	return s == StateReleased || s == StateCanceled || s == StateResolved || s == StateRefunded
}

// FeePayer says who pays the escrow fee.
type FeePayer string

const (
	FeeBuyer  FeePayer = "buyer"
	FeeSeller FeePayer = "seller"
	FeeSplit  FeePayer = "split" // the buyer pays half, rounded down; the seller the rest
)

// PaymentMethod is how the buyer pays.
type PaymentMethod string

// PaymentBankTransfer: the buyer transfers to the operator's account with the
// deal's payment reference; the credit is matched from the bank statement.
const PaymentBankTransfer PaymentMethod = "bank_transfer"

// Resolution is how staff settled a dispute.
type Resolution string

const (
	ResolveRelease Resolution = "release"
	ResolveRefund  Resolution = "refund"
	ResolveSplit   Resolution = "split"
)

// Milestone is a part of the price released on its own. A deal without
// milestones has one, for the whole price.
type Milestone struct {
	Title  string `json:"title"`
	Amount int64  `json:"amount"` // part of the price
	// Computed at creation (see plan): what leaves the holding account when
	// the milestone is released, and how much of it is the fee.
	Gross      int64      `json:"gross"`
	Fee        int64      `json:"fee"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
}

// PartyRef names a party: by email until a portal user with that verified
// email acts on the deal, then by user id too.
type PartyRef struct {
	Email  string
	UserID string // "" until bound
	Locale string // "ja" or "en", for mail
}

// DueCursor is where a timer sweep stopped: after the deal due at At with
// ID. The zero DueCursor is before every deal.
type DueCursor struct {
	At time.Time
	ID string
}

// Deal is one trade held in escrow.
type Deal struct {
	ID          string
	OrgID       string // the site that registered it; "" for a deal made in the portal
	ExternalRef string // the site's own id for it, unique per site; optional
	Title       string
	Description string
	Currency    string
	Scale       int // the currency's scale, for display
	Price       int64
	ShippingFee int64
	Fee         int64 // the escrow fee, in total
	FeePayer    FeePayer
	BuyerFee    int64 // the part of Fee the buyer pays (in AmountDue)
	AmountDue   int64 // Price + ShippingFee + BuyerFee
	AmountPaid  int64 // credited to the holding account so far
	// Released and Refunded are what left the holding account to the seller
	// (net of fees) and to the buyer; FeeTaken what went to fee revenue.
	Released      int64
	Refunded      int64
	FeeTaken      int64
	PaymentMethod PaymentMethod
	PaymentRef    string // the reference the buyer quotes on the bank transfer
	Seller        PartyRef
	Buyer         PartyRef
	State         State

	PayWithinDays  int
	ShipWithinDays int
	InspectionDays int
	// DueAt is when the current state's timer fires: pay-by while awaiting
	// payment, ship-by while funded, end of inspection while received; nil
	// in other states.
	DueAt *time.Time

	Carrier        string
	TrackingNumber string
	Milestones     []Milestone

	Resolution       Resolution
	ReviewHold       bool     // fraud review open: no release until cleared
	ReviewReasons    []string // the rules that flagged it
	HoldingAccountID int64
	DisputeReason    string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	AcceptedAt       *time.Time
	FundedAt         *time.Time
	ShippedAt        *time.Time
	ReceivedAt       *time.Time
	ClosedAt         *time.Time
	Version          int64 // bumped by every update
}

// Remaining is what the holding account still holds for the deal.
func (d Deal) Remaining() int64 { return d.AmountPaid - d.Released - d.Refunded - d.FeeTaken }

// SellerFee is the part of Fee the seller pays.
func (d Deal) SellerFee() int64 { return d.Fee - d.BuyerFee }

// PartyOf reports which side of d the actor is, if any: a user by verified
// email, an organization for its own deals (it acts for both of its users).
func (d Deal) PartyOf(a Actor) (buyer, seller bool) {
	switch a.Kind {
	case ActorUser:
		buyer = a.Email != "" && sameEmail(a.Email, d.Buyer.Email)
		seller = a.Email != "" && sameEmail(a.Email, d.Seller.Email)
	case ActorOrg:
		buyer = d.OrgID != "" && a.ID == d.OrgID
		seller = buyer
	}
	return buyer, seller
}

// CanSee reports whether a may read d. Staff see every deal; nobody else
// learns that a deal they are not party to exists.
func (d Deal) CanSee(a Actor) bool {
	if a.Kind == ActorStaff || a.Kind == ActorSystem {
		return true
	}
	b, s := d.PartyOf(a)
	return b || s
}

// DealParams registers a deal.
type DealParams struct {
	ExternalRef    string
	Title          string
	Description    string
	Currency       string
	Price          int64
	ShippingFee    int64
	FeePayer       FeePayer
	PaymentMethod  PaymentMethod // "" means bank_transfer
	SellerEmail    string        // a site registering for its seller names them; a portal seller is the actor
	BuyerEmail     string
	BuyerLocale    string
	SellerLocale   string
	PayWithinDays  int // 0: default
	ShipWithinDays int
	InspectionDays int
	Milestones     []MilestoneParams
}

// MilestoneParams is one milestone of DealParams.
type MilestoneParams struct {
	Title  string
	Amount int64
}

// FeeSchedule prices the escrow fee: RateBasisPoints of the price, rounded
// down, at least Minimum, never more than the price.
type FeeSchedule struct {
	RateBasisPoints int64 // 300 = 3%
	Minimum         int64 // minor units
}

// FeeScheduleDefault is 3%, at least 300 minor units.
var FeeScheduleDefault = FeeSchedule{RateBasisPoints: 300, Minimum: 300}

// Fee returns the fee on price.
func (f FeeSchedule) Fee(price int64) int64 {
	fee := price / 10000 * f.RateBasisPoints
	fee += price % 10000 * f.RateBasisPoints / 10000
	return min(max(fee, f.Minimum), price)
}

func validText(s string, max int) bool {
	return utf8.ValidString(s) && len(s) <= max && !strings.ContainsRune(s, 0)
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= EmailLenMax
}

func validLocale(l string) bool { return l == "" || l == "ja" || l == "en" }

// validate checks p and fills its defaults.
func (p *DealParams) validate() error {
	if p.PaymentMethod == "" {
		p.PaymentMethod = PaymentBankTransfer
	}
	p.SellerEmail, p.BuyerEmail = strings.ToLower(p.SellerEmail), strings.ToLower(p.BuyerEmail)
	if p.PayWithinDays == 0 {
		p.PayWithinDays = PayWithinDaysDefault
	}
	if p.ShipWithinDays == 0 {
		p.ShipWithinDays = ShipWithinDaysDefault
	}
	if p.InspectionDays == 0 {
		p.InspectionDays = InspectionDaysDefault
	}
	switch {
	case strings.TrimSpace(p.Title) == "" || !validText(p.Title, TitleLenMax) || strings.ContainsAny(p.Title, "\r\n"):
		return apperr.Invalid("title", "a title is one line of at most %d bytes", TitleLenMax)
	case !validText(p.Description, DescriptionLenMax):
		return apperr.Invalid("description", "at most %d bytes of text", DescriptionLenMax)
	case !validText(p.ExternalRef, ExternalRefLenMax):
		return apperr.Invalid("external_ref", "at most %d bytes of text", ExternalRefLenMax)
	case money.ValidateCode(p.Currency) != nil:
		return apperr.Invalid("currency", "%q is not a currency code", p.Currency)
	case p.Price <= 0 || p.Price > AmountMax:
		return apperr.Invalid("price", "the price must be between 1 and %d minor units", int64(AmountMax))
	case p.ShippingFee < 0 || p.ShippingFee > AmountMax:
		return apperr.Invalid("shipping_fee", "the shipping fee must be between 0 and %d minor units", int64(AmountMax))
	case p.FeePayer != FeeBuyer && p.FeePayer != FeeSeller && p.FeePayer != FeeSplit:
		return apperr.Invalid("fee_payer", "fee_payer is buyer, seller or split")
	case p.PaymentMethod != PaymentBankTransfer:
		return apperr.Invalid("payment_method", "the payment method is bank_transfer")
	case !validEmail(p.SellerEmail):
		return apperr.Invalid("seller_email", "a seller's plain email address is required")
	case !validEmail(p.BuyerEmail):
		return apperr.Invalid("buyer_email", "a buyer's plain email address is required")
	case sameEmail(p.SellerEmail, p.BuyerEmail):
		return apperr.Invalid("buyer_email", "buyer and seller must be different people")
	case !validLocale(p.BuyerLocale):
		return apperr.Invalid("buyer_locale", "ja or en")
	case !validLocale(p.SellerLocale):
		return apperr.Invalid("seller_locale", "ja or en")
	case p.PayWithinDays < 1 || p.PayWithinDays > PayWithinDaysMax:
		return apperr.Invalid("pay_within_days", "between 1 and %d", PayWithinDaysMax)
	case p.ShipWithinDays < 1 || p.ShipWithinDays > ShipWithinDaysMax:
		return apperr.Invalid("ship_within_days", "between 1 and %d", ShipWithinDaysMax)
	case p.InspectionDays < 1 || p.InspectionDays > InspectionDaysMax:
		return apperr.Invalid("inspection_days", "between 1 and %d", InspectionDaysMax)
	case len(p.Milestones) > MilestonesMax:
		return apperr.Invalid("milestones", "at most %d milestones", MilestonesMax)
	}
	if len(p.Milestones) > 0 {
		var sum int64
		for i, m := range p.Milestones {
			if strings.TrimSpace(m.Title) == "" || !validText(m.Title, TitleLenMax) {
				return apperr.Invalid(fmt.Sprintf("milestones[%d].title", i), "a title of at most %d bytes", TitleLenMax)
			}
			if m.Amount <= 0 || m.Amount > p.Price {
				return apperr.Invalid(fmt.Sprintf("milestones[%d].amount", i), "a positive part of the price")
			}
			sum += m.Amount
		}
		if sum != p.Price {
			return apperr.Invalid("milestones", "milestone amounts add up to %d, not the price %d", sum, p.Price)
		}
	}
	return nil
}

// plan prices a deal: the fee, the buyer's share, the amount due and, per
// milestone, what its release takes from the holding account (Gross) and
// how much of that is fee. Shipping goes with the first milestone; fees are
// shared out in proportion to the milestones' amounts, rounded down, the
// last taking the remainder. Every milestone must leave the seller at least
// zero, or the deal is refused.
func plan(p DealParams, fees FeeSchedule) (fee, buyerFee, due int64, ms []Milestone, err error) {
	fee = fees.Fee(p.Price)
	switch p.FeePayer {
	case FeeBuyer:
		buyerFee = fee
	case FeeSplit:
		buyerFee = fee / 2
	}
	due = p.Price + p.ShippingFee + buyerFee // each ≤ AmountMax: no overflow
	parts := p.Milestones
	if len(parts) == 0 {
		parts = []MilestoneParams{{Title: p.Title, Amount: p.Price}}
	}
	ms = make([]Milestone, len(parts))
	var feeSoFar, buyerFeeSoFar int64
	for i, m := range parts {
		f := share(fee, m.Amount, p.Price)
		bf := share(buyerFee, m.Amount, p.Price)
		if i == len(parts)-1 {
			f, bf = fee-feeSoFar, buyerFee-buyerFeeSoFar
		}
		feeSoFar += f
		buyerFeeSoFar += bf
		gross := m.Amount + bf
		if i == 0 {
			gross += p.ShippingFee
		}
		if gross-f < 0 {
			return 0, 0, 0, nil, apperr.Invalid(fmt.Sprintf("milestones[%d].amount", i), "milestone %q is smaller than its share of the fee", m.Title)
		}
		ms[i] = Milestone{Title: m.Title, Amount: m.Amount, Gross: gross, Fee: f}
	}
	return fee, buyerFee, due, ms, nil
}

// share is total × part / whole, rounded down, for 0 ≤ total, 0 ≤ part ≤
// whole, whole > 0: a milestone's part of a fee. The product is taken in
// 128 bits: a fee and a milestone of 10^12 each multiply far past int64.
func share(total, part, whole int64) int64 {
	hi, lo := bits.Mul64(uint64(total), uint64(part))
	q, _ := bits.Div64(hi, lo, uint64(whole)) // ≤ total, since part ≤ whole: hi < whole
	return int64(q)
}

// nextMilestone returns the index of the first unreleased milestone, or -1.
func (d Deal) nextMilestone() int {
	for i, m := range d.Milestones {
		if m.ReleasedAt == nil {
			return i
		}
	}
	return -1
}

// unreleased sums what the unreleased milestones would take (gross) and
// their fees.
func (d Deal) unreleased() (gross, fee int64) {
	for _, m := range d.Milestones {
		if m.ReleasedAt == nil {
			gross += m.Gross
			fee += m.Fee
		}
	}
	return gross, fee
}

// inspectionEnds is when the buyer's inspection period ends (or ended);
// zero before receipt.
func (d Deal) inspectionEnds() time.Time {
	if d.ReceivedAt == nil {
		return time.Time{}
	}
	return d.ReceivedAt.Add(time.Duration(d.InspectionDays) * 24 * time.Hour)
}

// sameEmail reports whether two addresses are one, as stored: compared in
// lower case, exactly. Not strings.EqualFold, whose Unicode folding takes
// "ſam@example.com" (U+017F) for "sam@example.com": an account signed up
// under such a look-alike would act as another's party.
func sameEmail(a, b string) bool { return strings.ToLower(a) == strings.ToLower(b) }
