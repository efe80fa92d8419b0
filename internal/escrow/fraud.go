package escrow

import (
	"context"
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// FraudRules are the thresholds that send a deal to staff review. A deal
// flagged by any rule has ReviewHold set: it may be paid, shipped and
// received, but nothing is released to the seller until support staff
// clear the review (SetReviewHold). Zero fields take the defaults.
type FraudRules struct {
	// AmountMin flags a deal whose amount due is at least this (minor
	// units). Default 1,000,000.
	AmountMin int64
	// DealsPerDayMax flags a deal when its seller or buyer already has this
	// many deals created in the last 24 hours. Default 10.
	DealsPerDayMax int
	// NewPartyDays and NewPartyAmountMin flag a deal of at least
	// NewPartyAmountMin whose seller first appeared in a deal less than
	// NewPartyDays ago. Defaults 7 days and 100,000.
	NewPartyDays      int
	NewPartyAmountMin int64
	// SellersPerBankAccountMax flags a seller's deals at funding when their
	// payout bank account is also the payout account of more than this many
	// other sellers. Default 2.
	SellersPerBankAccountMax int
}

// FraudRulesDefault are the thresholds used when the operator sets none.
var FraudRulesDefault = FraudRules{AmountMin: 1_000_000, DealsPerDayMax: 10, NewPartyDays: 7, NewPartyAmountMin: 100_000, SellersPerBankAccountMax: 2}

func (r FraudRules) withDefaults() FraudRules {
	d := FraudRulesDefault
	if r.AmountMin > 0 {
		d.AmountMin = r.AmountMin
	}
	if r.DealsPerDayMax > 0 {
		d.DealsPerDayMax = r.DealsPerDayMax
	}
	if r.NewPartyDays > 0 {
		d.NewPartyDays = r.NewPartyDays
	}
	if r.NewPartyAmountMin > 0 {
		d.NewPartyAmountMin = r.NewPartyAmountMin
	}
	if r.SellersPerBankAccountMax > 0 {
		d.SellersPerBankAccountMax = r.SellersPerBankAccountMax
	}
	return d
}

// Reasons a deal was flagged, as ReviewReasons lists them.
const (
	ReasonLargeAmount      = "large_amount"
	ReasonVelocity         = "many_deals_per_day"
	ReasonNewParty         = "new_seller_large_amount"
	ReasonSharedBankAcount = "bank_account_shared_by_sellers"
)

// PartyStats is what the fraud rules need to know of a party.
type PartyStats struct {
	DealsSince   int       // deals with this email as buyer or seller created at or after the window's start
	FirstDealAt  time.Time // creation of their first deal; zero when none
	SharedSeller int       // other sellers with the same payout bank account
}

// checkAtCreation returns the reasons a new deal d is flagged for, reading
// what it needs in tx (before d is inserted).
func (s *Service) checkAtCreation(ctx context.Context, tx Tx, d Deal) ([]string, error) {
	r := s.cfg.Fraud.withDefaults()
	var reasons []string
	if d.AmountDue >= r.AmountMin {
		reasons = append(reasons, ReasonLargeAmount)
	}
	since := d.CreatedAt.Add(-24 * time.Hour)
	for i, email := range []string{d.Seller.Email, d.Buyer.Email} {
		st, err := tx.PartyStats(ctx, email, since)
		if err != nil {
			return nil, fmt.Errorf("escrow: fraud rules: %w", err)
		}
		if st.DealsSince >= r.DealsPerDayMax && !contains(reasons, ReasonVelocity) {
			reasons = append(reasons, ReasonVelocity)
		}
		newParty := st.FirstDealAt.IsZero() || d.CreatedAt.Sub(st.FirstDealAt) < time.Duration(r.NewPartyDays)*24*time.Hour
		if i == 0 && newParty && d.AmountDue >= r.NewPartyAmountMin {
			reasons = append(reasons, ReasonNewParty)
		}
	}
	return reasons, nil
}

// checkAtFunding adds the bank account rule, which may have changed since
// the deal was created.
func (s *Service) checkAtFunding(ctx context.Context, tx Tx, c *change) error {
	r := s.cfg.Fraud.withDefaults()
	st, err := tx.PartyStats(ctx, c.deal.Seller.Email, c.now)
	if err != nil {
		return fmt.Errorf("escrow: fraud rules: %w", err)
	}
	if st.SharedSeller > r.SellersPerBankAccountMax && !contains(c.deal.ReviewReasons, ReasonSharedBankAcount) {
		c.flag(ReasonSharedBankAcount)
	}
	return nil
}

// flag opens a review on c's deal for reason.
func (c *change) flag(reason string) {
	if !c.deal.ReviewHold {
		c.deal.ReviewReasons = nil
	}
	c.deal.ReviewHold = true
	c.deal.ReviewReasons = append(c.deal.ReviewReasons, reason)
	c.data["review_reasons"] = c.deal.ReviewReasons
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// FindReviewQueue lists open deals held for review, for staff.
//
// Errors: forbidden, invalid.
func (s *Service) FindReviewQueue(ctx context.Context, actor Actor, afterID string, limit int) ([]Deal, error) {
	if actor.Kind != ActorStaff {
		return nil, apperr.New(apperr.CodeForbidden, "only staff see the review queue")
	}
	if limit < 1 || limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	return s.cfg.Store.DealList(ctx, DealFilter{ReviewHold: true, AfterID: afterID, Limit: limit})
}
