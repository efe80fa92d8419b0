package escrow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/notify"
)

// Config configures a Service.
type Config struct {
	Store  Store
	Ledger *ledger.Engine
	Clock  Clock // nil: time.Now
	Fees   FeeSchedule
	// Events renders a deal for its event; nil writes no deal events (tests
	// of escrow alone).
	Events EventEncoder
	// PortalURL is the web portal's base URL, for links in mail
	// ("https://escrow.example.com"); "" leaves links out.
	PortalURL string
	// Kana converts payee names for bank files; nil: bankfile.ToZenginKana.
	Kana KanaFunc
	// PayoutSource is the operator's account payouts leave from, for the
	// bank files; zero: PayoutSourceDevelopment.
	PayoutSource PayoutSource
	// Fraud are the thresholds that hold deals for review.
	Fraud FraudRules
	// PayTo is what a buyer needs to pay by bank transfer: the operator's
	// bank, branch, account type, number and name, as printed in the
	// payment instructions.
	PayTo string
}

// Service runs deals. It is safe for concurrent use, on any number of nodes.
type Service struct {
	cfg Config
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Kana == nil {
		cfg.Kana = bankfile.ToZenginKana
	}
	if cfg.PayoutSource == (PayoutSource{}) {
		cfg.PayoutSource = PayoutSourceDevelopment
	}
	if cfg.Fees == (FeeSchedule{}) {
		cfg.Fees = FeeScheduleDefault
	}
	return &Service{cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Ledger account roles of one change.
type acct int

const (
	acctBank acct = iota
	acctSuspense
	acctFees
	acctHolding
	acctBuyerPayable
	acctSellerPayable
	acctCount
)

// Writer bounds of one change: every role's account, and per milestone a
// release and a fee, plus a few.
const (
	changeAccountsMax  = int(acctCount)
	changeTransfersMax = 2*MilestonesMax + 4
)

// move is one transfer of a change, between roles.
type move struct {
	from, to acct
	amount   int64
	ref      string // unique within the deal: "release:0", "refund", …
	code     string
}

// change is what one transition does, gathered by the transition's rule
// and written by commit.
type change struct {
	now    time.Time
	actor  Actor
	deal   Deal // the deal after the change
	from   State
	action string
	data   map[string]any
	moves  []move
	mails  []notify.Mail
	timers []TimerArgs
	event  string // "" : no event
	// deposit is the deposit this change records, when it does.
	deposit *Deposit
	// keep is the caller's idempotency.Keep (nil: none), which commit runs
	// with result() once the change is written (keep.go).
	keep   idempotency.Keep
	result func() any
}

// runKeep runs c's keep, if any, in tx with what the call returns.
func (c *change) runKeep(ctx context.Context, tx Tx) error {
	if c.keep == nil {
		return nil
	}
	return idempotency.RunKeep(ctx, c.keep, tx, c.result())
}

func (c *change) move(from, to acct, amount int64, ref, code string) {
	if amount > 0 {
		c.moves = append(c.moves, move{from, to, amount, ref, code})
	}
}

// setDue sets the deal's current deadline and schedules its timer.
func (c *change) setDue(kind TimerKind, days int) {
	at := c.now.Add(time.Duration(days) * 24 * time.Hour)
	c.deal.DueAt = &at
	c.timers = append(c.timers, TimerArgs{DealID: c.deal.ID, Timer: kind, At: at})
}

// accountRequests returns the ledger accounts a change of deal d uses, by
// role. Opening them is idempotent, so every change opens all of them.
func accountRequests(d Deal) [acctCount]ledger.AccountRequest {
	cur := d.Currency
	return [acctCount]ledger.AccountRequest{
		acctBank:          {Owner: LedgerOwner, Reference: "escrow:bank:" + cur, Asset: cur, Code: "escrow_bank", CreditsMustNotExceedDebits: true},
		acctSuspense:      {Owner: LedgerOwner, Reference: "escrow:suspense:" + cur, Asset: cur, Code: "escrow_suspense", DebitsMustNotExceedCredits: true},
		acctFees:          {Owner: LedgerOwner, Reference: "escrow:fees:" + cur, Asset: cur, Code: "escrow_fees", DebitsMustNotExceedCredits: true},
		acctHolding:       {Owner: LedgerOwner, Reference: "escrow:deal:" + d.ID, Asset: cur, Code: "escrow_holding", DebitsMustNotExceedCredits: true},
		acctBuyerPayable:  payableRequest(d.Buyer.Email, cur),
		acctSellerPayable: payableRequest(d.Seller.Email, cur),
	}
}

// payableRequest is a person's payable balance in one currency: what
// escrow owes them (releases to sellers, refunds to buyers) until a payout
// sends it. It is keyed by a hash of the lower-cased email, so the ledger
// holds no address.
func payableRequest(email, cur string) ledger.AccountRequest {
	return ledger.AccountRequest{Owner: LedgerOwner, Reference: PayableReference(email, cur), Asset: cur,
		Code: "escrow_payable", DebitsMustNotExceedCredits: true}
}

// PayableReference is the ledger reference of the payable account of the
// person with email, in currency cur.
func PayableReference(email, cur string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "escrow:payable:" + hex.EncodeToString(sum[:16]) + ":" + cur
}

// act runs one transition of deal id in one transaction: rule reads the
// locked deal and fills the change; commit writes it and runs the Keep ctx
// carries, if any, with the deal after the change, which act returns. The
// deal is not found for an actor who may not see it.
func (s *Service) act(ctx context.Context, actor Actor, id, action string, rule func(c *change) error) (Deal, error) {
	keep := idempotency.KeepOf(ctx)
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, changeTransfersMax)
	if err != nil {
		return Deal{}, err
	}
	var out Deal
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		d, err := tx.DealForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if !d.CanSee(actor) {
			return apperr.NotFound("deal")
		}
		c := &change{now: s.now(), actor: actor, deal: d, from: d.State, action: action, data: map[string]any{}, keep: keep}
		c.result = func() any { return c.deal }
		if err := rule(c); err != nil {
			return err
		}
		if err := s.commit(ctx, tx, w, c); err != nil {
			return err
		}
		out = c.deal
		return nil
	})
	if err != nil {
		return Deal{}, fmt.Errorf("escrow: %s deal %s: %w", action, id, err)
	}
	return out, nil
}

// commit writes a change: ledger transfers first (a refusal rolls
// everything back), then the deal, its timeline, event, mail and timers,
// then runs the change's keep and, last, appends its audit entry.
func (s *Service) commit(ctx context.Context, tx Tx, w *ledger.Writer, c *change) error {
	d := &c.deal
	if len(c.moves) > 0 {
		reqs := accountRequests(*d)
		accts, err := w.OpenAccounts(ctx, tx, c.now, reqs[:])
		if err != nil {
			return err
		}
		if d.HoldingAccountID == 0 {
			d.HoldingAccountID = accts[acctHolding].ID
		}
		trs := make([]ledger.TransferRequest, len(c.moves))
		for i, m := range c.moves {
			trs[i] = ledger.TransferRequest{Owner: LedgerOwner, Reference: "escrow:" + d.ID + ":" + m.ref,
				DebitAccountID: accts[m.from].ID, CreditAccountID: accts[m.to].ID, Amount: m.amount,
				Asset: d.Currency, Code: m.code, Metadata: map[string]string{"deal": d.ID}}
		}
		res, err := w.Transfer(ctx, tx, c.now, trs)
		if err != nil {
			return err
		}
		if err := ledger.Rejection(res); err != nil {
			// Every move is computed from balances this transaction holds
			// locked: a refusal is a bug, never a user error.
			return fmt.Errorf("escrow: ledger refused a move of deal %s: %w", d.ID, err)
		}
	}
	if c.deposit != nil {
		c.deposit.DealID = d.ID
		if err := tx.DepositUpdate(ctx, *c.deposit); err != nil {
			return err
		}
	}
	if c.action == "created" {
		d.Version = 1
		if err := tx.DealInsert(ctx, *d); err != nil {
			return err
		}
	} else {
		d.UpdatedAt = c.now
		d.Version++
		if err := tx.DealUpdate(ctx, *d); err != nil {
			return err
		}
	}
	data, err := json.Marshal(c.data)
	if err != nil {
		return fmt.Errorf("escrow: encode timeline data: %w", err)
	}
	entry := TimelineEntry{DealID: d.ID, At: c.now, ActorKind: c.actor.Kind, ActorID: c.actor.ID,
		Action: c.action, FromState: c.from, ToState: d.State, Data: data}
	if err := tx.TimelineInsert(ctx, []TimelineEntry{entry}); err != nil {
		return err
	}
	if c.event != "" && d.OrgID != "" && s.cfg.Events != nil {
		ev := event.Event{OrgID: d.OrgID, Type: c.event, Data: s.cfg.Events.DealEventData(*d), CreatedAt: c.now}
		if err := tx.EventsInsert(ctx, []event.Event{ev}); err != nil {
			return err
		}
	}
	if len(c.mails) > 0 {
		if err := tx.MailsEnqueue(ctx, c.mails); err != nil {
			return err
		}
	}
	if len(c.timers) > 0 {
		if err := tx.TimersSchedule(ctx, c.timers); err != nil {
			return err
		}
	}
	// Before the audit entry, whose head stays locked until the commit:
	// nothing more should run while every audited writer waits for it.
	if err := c.runKeep(ctx, tx); err != nil {
		return err
	}
	// Last: the audit head stays locked until the transaction commits.
	_, err = audit.Append(ctx, tx, c.now, audit.Entry{Actor: auditActor(c.actor), Action: "deal." + auditAction(c.action),
		Subject: audit.Subject{Type: "deal", ID: d.ID}, OrgID: d.OrgID, Data: data})
	return err
}

// record appends one audit entry in tx; call it last in the transaction.
func record(ctx context.Context, tx Tx, now time.Time, actor Actor, action, subjectType, subjectID, orgID string, data map[string]any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("escrow: encode audit data: %w", err)
	}
	_, err = audit.Append(ctx, tx, now, audit.Entry{Actor: auditActor(actor), Action: action,
		Subject: audit.Subject{Type: subjectType, ID: subjectID}, OrgID: orgID, Data: raw})
	return err
}

// auditActor is who acted, as the audit log names them.
func auditActor(a Actor) audit.Actor {
	return audit.Actor{Type: audit.ActorType(a.Kind), ID: a.ID}
}

// auditAction turns a timeline action ("timer.pay_by", "payment_received")
// into the audit log's lower-case words.
func auditAction(action string) string {
	return strings.ReplaceAll(action, "timer.", "timer_")
}

// CreateDeal registers a deal, waiting for the buyer to accept. A portal
// user registers as the seller (SellerEmail is theirs); a site registers for
// its seller, and a second call with the same ExternalRef returns the deal
// the first made.
//
// Errors: invalid, conflict (ExternalRef used for another deal), forbidden.
func (s *Service) CreateDeal(ctx context.Context, actor Actor, p DealParams) (Deal, error) {
	switch actor.Kind {
	case ActorUser:
		if p.SellerEmail == "" {
			p.SellerEmail = actor.Email
		}
		if !sameEmail(p.SellerEmail, actor.Email) {
			return Deal{}, apperr.Invalid("seller_email", "a portal user registers deals as their own seller")
		}
		if p.SellerLocale == "" {
			p.SellerLocale = actor.Locale
		}
		if p.ExternalRef != "" {
			return Deal{}, apperr.Invalid("external_ref", "only a site's deals carry its own reference")
		}
	case ActorOrg:
	default:
		return Deal{}, apperr.New(apperr.CodeForbidden, "only a seller or a site registers deals")
	}
	if err := p.validate(); err != nil {
		return Deal{}, err
	}
	fee, buyerFee, due, ms, err := plan(p, s.cfg.Fees)
	if err != nil {
		return Deal{}, err
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, 0)
	if err != nil {
		return Deal{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var out Deal
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		if actor.Kind == ActorOrg && p.ExternalRef != "" {
			old, err := tx.DealByExternalRef(ctx, actor.ID, p.ExternalRef)
			switch {
			case err == nil:
				if field := dealDiff(p, old); field != "" {
					return &apperr.Error{Code: apperr.CodeConflict, Param: field,
						Message: fmt.Sprintf("deal %s has external_ref %q with a different %s", old.ID, p.ExternalRef, field)}
				}
				out = old
				return idempotency.RunKeep(ctx, keep, tx, old)
			case !apperr.Is(err, apperr.CodeNotFound):
				return err
			}
		}
		asset, err := tx.AssetByCode(ctx, p.Currency)
		if err != nil {
			if apperr.Is(err, apperr.CodeNotFound) {
				return apperr.Invalid("currency", "currency %q is not configured", p.Currency)
			}
			return err
		}
		ref, err := s.freshPaymentRef(ctx, tx)
		if err != nil {
			return err
		}
		d := Deal{
			ID: newID("dl_"), Title: p.Title, Description: p.Description, ExternalRef: p.ExternalRef,
			Currency: p.Currency, Scale: asset.Scale, Price: p.Price, ShippingFee: p.ShippingFee, Fee: fee, FeePayer: p.FeePayer,
			BuyerFee: buyerFee, AmountDue: due, PaymentMethod: p.PaymentMethod, PaymentRef: ref,
			Seller:        PartyRef{Email: p.SellerEmail, Locale: orDefault(p.SellerLocale, "ja")},
			Buyer:         PartyRef{Email: p.BuyerEmail, Locale: orDefault(p.BuyerLocale, "ja")},
			State:         StatePendingAcceptance,
			PayWithinDays: p.PayWithinDays, ShipWithinDays: p.ShipWithinDays, InspectionDays: p.InspectionDays,
			Milestones: ms, CreatedAt: now, UpdatedAt: now,
		}
		if actor.Kind == ActorOrg {
			d.OrgID = actor.ID
		} else {
			d.Seller.UserID = actor.ID
		}
		// The holding account exists from the start, so statements and
		// staff see it before any money arrives.
		reqs := accountRequests(d)
		accts, err := w.OpenAccounts(ctx, tx, now, reqs[:])
		if err != nil {
			return err
		}
		d.HoldingAccountID = accts[acctHolding].ID
		c := &change{now: now, actor: actor, deal: d, action: "created", event: event.TypeDealCreated,
			data: map[string]any{"amount_due": due, "fee": fee}, keep: keep}
		c.result = func() any { return c.deal }
		reasons, err := s.checkAtCreation(ctx, tx, d)
		if err != nil {
			return err
		}
		for _, r := range reasons {
			c.flag(r)
		}
		c.mails = append(c.mails, s.mail(d, Buyer, "invited"))
		if err := s.commit(ctx, tx, w, c); err != nil {
			return err
		}
		out = c.deal
		return nil
	})
	if err != nil {
		return Deal{}, fmt.Errorf("escrow: create deal: %w", err)
	}
	return out, nil
}

// paymentRefTriesMax bounds the draws of a payment reference not yet taken
// (one in 10^9 per deal that exists: more than a few means a broken generator).
const paymentRefTriesMax = 8

func (s *Service) freshPaymentRef(ctx context.Context, tx Tx) (string, error) {
	for range paymentRefTriesMax {
		ref := newPaymentRef()
		_, err := tx.DealByPaymentRefForUpdate(ctx, ref)
		if apperr.Is(err, apperr.CodeNotFound) {
			return ref, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("escrow: no free payment reference after %d draws", paymentRefTriesMax)
}

// dealDiff names the first field in which p differs from the deal d an
// earlier request with the same external_ref made, or "".
func dealDiff(p DealParams, d Deal) string {
	switch {
	case p.Title != d.Title:
		return "title"
	case p.Description != d.Description:
		return "description"
	case p.Currency != d.Currency:
		return "currency"
	case p.Price != d.Price:
		return "price"
	case p.ShippingFee != d.ShippingFee:
		return "shipping_fee"
	case p.FeePayer != d.FeePayer:
		return "fee_payer"
	case p.SellerEmail != d.Seller.Email:
		return "seller_email"
	case p.BuyerEmail != d.Buyer.Email:
		return "buyer_email"
	case p.PayWithinDays != d.PayWithinDays:
		return "pay_within_days"
	case p.ShipWithinDays != d.ShipWithinDays:
		return "ship_within_days"
	case p.InspectionDays != d.InspectionDays:
		return "inspection_days"
	case len(p.Milestones) != len(d.Milestones) && !(len(p.Milestones) == 0 && len(d.Milestones) == 1):
		return "milestones"
	}
	for i, m := range p.Milestones {
		if m.Title != d.Milestones[i].Title || m.Amount != d.Milestones[i].Amount {
			return "milestones"
		}
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// requireParty fails unless the actor is the given party of c's deal.
func requireParty(c *change, p Party) error {
	b, sl := c.deal.PartyOf(c.actor)
	if (p == Buyer && b) || (p == Seller && sl) {
		if c.actor.Kind == ActorUser {
			// Bind the portal user to the party on their first action.
			ref := &c.deal.Buyer
			if p == Seller {
				ref = &c.deal.Seller
			}
			if ref.UserID == "" {
				ref.UserID = c.actor.ID
			}
		}
		return nil
	}
	return apperr.New(CodeNotParty, "only the %s may do this", p)
}

func requireState(c *change, states ...State) error {
	for _, st := range states {
		if c.deal.State == st {
			return nil
		}
	}
	return stateConflict(c.deal, c.action)
}

// AcceptDeal is the buyer agreeing to the deal: they are told how to pay,
// and the pay-by timer starts.
//
// Errors: not_found, not_party, deal_state_conflict.
func (s *Service) AcceptDeal(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "accepted", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StatePendingAcceptance); err != nil {
			return err
		}
		c.deal.State = StateAwaitingPayment
		c.deal.AcceptedAt = &c.now
		if c.actor.Locale != "" && c.actor.Kind == ActorUser {
			c.deal.Buyer.Locale = c.actor.Locale
		}
		c.setDue(TimerPayBy, c.deal.PayWithinDays)
		c.event = event.TypeDealAccepted
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "pay"), s.mail(c.deal, Seller, "accepted"))
		return nil
	})
}

// DeclineDeal is the buyer refusing the deal.
//
// Errors: not_found, not_party, deal_state_conflict.
func (s *Service) DeclineDeal(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "declined", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StatePendingAcceptance); err != nil {
			return err
		}
		c.close(StateCanceled)
		c.event = event.TypeDealCanceled
		c.mails = append(c.mails, s.mail(c.deal, Seller, "declined"))
		return nil
	})
}

// CancelDeal ends a deal before it is funded: the seller may withdraw it,
// either party may cancel while payment is awaited. Anything already paid
// goes back to the buyer's payable balance.
//
// Errors: not_found, not_party, deal_state_conflict.
func (s *Service) CancelDeal(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "canceled", func(c *change) error {
		b, sl := c.deal.PartyOf(c.actor)
		switch {
		case c.deal.State == StatePendingAcceptance && sl:
		case c.deal.State == StateAwaitingPayment && (b || sl):
		case b || sl:
			return stateConflict(c.deal, c.action)
		default:
			return apperr.New(CodeNotParty, "only a party may cancel")
		}
		c.refundAll()
		c.close(StateCanceled)
		c.event = event.TypeDealCanceled
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "canceled"), s.mail(c.deal, Seller, "canceled"))
		return nil
	})
}

// ShipParams says how the goods travel.
type ShipParams struct {
	Carrier        string
	TrackingNumber string
}

// MarkShipped is the seller reporting the goods sent.
//
// Errors: invalid, not_found, not_party, deal_state_conflict.
func (s *Service) MarkShipped(ctx context.Context, actor Actor, id string, p ShipParams) (Deal, error) {
	if strings.TrimSpace(p.Carrier) == "" || !validText(p.Carrier, CarrierLenMax) || strings.ContainsAny(p.Carrier, "\r\n") {
		return Deal{}, apperr.Invalid("carrier", "the carrier, one line of at most %d bytes", CarrierLenMax)
	}
	if strings.TrimSpace(p.TrackingNumber) == "" || !validText(p.TrackingNumber, TrackingLenMax) || strings.ContainsAny(p.TrackingNumber, "\r\n") {
		return Deal{}, apperr.Invalid("tracking_number", "the tracking number, one line of at most %d bytes", TrackingLenMax)
	}
	return s.act(ctx, actor, id, "shipped", func(c *change) error {
		if err := requireParty(c, Seller); err != nil {
			return err
		}
		if err := requireState(c, StateFunded); err != nil {
			return err
		}
		c.deal.State = StateShipped
		c.deal.Carrier, c.deal.TrackingNumber = p.Carrier, p.TrackingNumber
		c.deal.ShippedAt = &c.now
		c.deal.DueAt = nil
		c.data["carrier"], c.data["tracking_number"] = p.Carrier, p.TrackingNumber
		c.event = event.TypeDealShipped
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "shipped"))
		return nil
	})
}

// ConfirmReceipt is the buyer saying the goods arrived: the inspection
// period starts, at whose end the money is released unless they dispute.
//
// Errors: not_found, not_party, deal_state_conflict.
func (s *Service) ConfirmReceipt(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "received", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StateShipped); err != nil {
			return err
		}
		c.deal.State = StateReceived
		c.deal.ReceivedAt = &c.now
		c.setDue(TimerInspection, c.deal.InspectionDays)
		c.event = event.TypeDealReceived
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "inspect"), s.mail(c.deal, Seller, "received"))
		return nil
	})
}

// ApproveDeal is the buyer accepting the goods: everything still held is
// released to the seller, less fees.
//
// Errors: not_found, not_party, deal_state_conflict, review_hold.
func (s *Service) ApproveDeal(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "released", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StateShipped, StateReceived); err != nil {
			return err
		}
		return s.releaseAll(c)
	})
}

// ReleaseMilestone is the buyer releasing the next unreleased milestone;
// releasing the last one releases the deal.
//
// Errors: not_found, not_party, deal_state_conflict, review_hold.
func (s *Service) ReleaseMilestone(ctx context.Context, actor Actor, id string) (Deal, error) {
	return s.act(ctx, actor, id, "milestone_released", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StateFunded, StateShipped, StateReceived); err != nil {
			return err
		}
		if c.deal.ReviewHold {
			return apperr.New(CodeReviewHold, "release is held while staff review the deal")
		}
		i := c.deal.nextMilestone()
		if i == len(c.deal.Milestones)-1 {
			c.action = "released"
			return s.releaseAll(c)
		}
		c.releaseMilestone(i)
		c.data["milestone"] = i
		c.event = event.TypeDealMilestoneReleased
		c.mails = append(c.mails, s.mail(c.deal, Seller, "milestone"))
		return nil
	})
}

// releaseAll releases every unreleased milestone and closes the deal.
func (s *Service) releaseAll(c *change) error {
	if c.deal.ReviewHold {
		return apperr.New(CodeReviewHold, "release is held while staff review the deal")
	}
	for i := range c.deal.Milestones {
		if c.deal.Milestones[i].ReleasedAt == nil {
			c.releaseMilestone(i)
		}
	}
	if c.deal.Remaining() != 0 {
		return fmt.Errorf("escrow: deal %s would keep %d after release: invariant broken", c.deal.ID, c.deal.Remaining())
	}
	c.close(StateReleased)
	c.event = event.TypeDealReleased
	c.mails = append(c.mails, s.mail(c.deal, Seller, "released"), s.mail(c.deal, Buyer, "released"))
	return nil
}

func (c *change) releaseMilestone(i int) {
	m := &c.deal.Milestones[i]
	net := m.Gross - m.Fee
	c.move(acctHolding, acctSellerPayable, net, fmt.Sprintf("release:%d", i), "escrow_release")
	c.move(acctHolding, acctFees, m.Fee, fmt.Sprintf("fee:%d", i), "escrow_fee")
	c.deal.Released += net
	c.deal.FeeTaken += m.Fee
	at := c.now
	m.ReleasedAt = &at
}

// refundAll sends what the holding account still holds to the buyer.
func (c *change) refundAll() {
	r := c.deal.Remaining()
	c.move(acctHolding, acctBuyerPayable, r, "refund", "escrow_refund")
	c.deal.Refunded += r
	if r > 0 {
		c.data["refunded"] = r
	}
}

// close moves the deal to a final state.
func (c *change) close(st State) {
	c.deal.State = st
	c.deal.DueAt = nil
	c.deal.ClosedAt = &c.now
}

// OpenDispute is the buyer contesting the goods, after shipping and before
// the inspection period ends. Timers stop; staff resolve it.
//
// Errors: invalid, not_found, not_party, deal_state_conflict, deadline_passed.
func (s *Service) OpenDispute(ctx context.Context, actor Actor, id, reason string) (Deal, error) {
	if strings.TrimSpace(reason) == "" || !validText(reason, ReasonLenMax) {
		return Deal{}, apperr.Invalid("reason", "a reason of at most %d bytes is required", ReasonLenMax)
	}
	return s.act(ctx, actor, id, "disputed", func(c *change) error {
		if err := requireParty(c, Buyer); err != nil {
			return err
		}
		if err := requireState(c, StateShipped, StateReceived); err != nil {
			return err
		}
		if end := c.deal.inspectionEnds(); c.deal.State == StateReceived && !c.now.Before(end) {
			return apperr.New(CodeDeadlinePassed, "the inspection period ended at %s", end.Format(time.RFC3339))
		}
		c.deal.State = StateDisputed
		c.deal.DueAt = nil
		c.deal.DisputeReason = reason
		c.data["reason"] = reason
		c.event = event.TypeDealDisputed
		c.mails = append(c.mails, s.mail(c.deal, Seller, "disputed"), s.mail(c.deal, Buyer, "dispute_opened"))
		return nil
	})
}

// PostMessage adds to a disputed deal's thread: either party or support
// staff.
//
// Errors: invalid, not_found, not_party, deal_state_conflict.
func (s *Service) PostMessage(ctx context.Context, actor Actor, id, body string) (Message, error) {
	if strings.TrimSpace(body) == "" || !validText(body, MessageLenMax) {
		return Message{}, apperr.Invalid("body", "a message of at most %d bytes is required", MessageLenMax)
	}
	keep := idempotency.KeepOf(ctx)
	var msg Message
	err := s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		d, err := tx.DealForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if !d.CanSee(actor) || actor.Kind == ActorSystem {
			return apperr.NotFound("deal")
		}
		if d.State != StateDisputed {
			return stateConflict(d, "a message")
		}
		if n, err := tx.MessageCount(ctx, d.ID); err != nil {
			return err
		} else if n >= MessagesPerDealMax {
			return apperr.New(apperr.CodeConflict, "deal %s has the most messages a thread may hold (%d)", d.ID, MessagesPerDealMax)
		}
		party := "staff"
		if actor.Kind != ActorStaff {
			b, sl := d.PartyOf(actor)
			switch {
			case actor.Kind == ActorOrg:
				party = "site"
			case b:
				party = string(Buyer)
			case sl:
				party = string(Seller)
			}
		} else if actor.Role != "support" && actor.Role != "admin" {
			return apperr.New(apperr.CodeForbidden, "only support staff take part in disputes")
		}
		msg = Message{ID: newID("dm_"), DealID: d.ID, At: s.now(), ActorKind: actor.Kind, ActorID: actor.ID, Party: party, Body: body}
		if err := tx.MessageInsert(ctx, msg); err != nil {
			return err
		}
		if err := idempotency.RunKeep(ctx, keep, tx, msg); err != nil {
			return err
		}
		return record(ctx, tx, msg.At, actor, "deal.message_posted", "deal", d.ID, d.OrgID, map[string]any{"message": msg.ID, "party": party})
	})
	if err != nil {
		return Message{}, fmt.Errorf("escrow: post message on deal %s: %w", id, err)
	}
	return msg, nil
}

// ResolveParams is staff's decision on a dispute.
type ResolveParams struct {
	Resolution Resolution
	// BuyerAmount is what the buyer gets back in a split: more than zero and
	// less than what the deal still holds. The fee is taken from the rest
	// (as much of it as the rest allows) and the seller gets what is left.
	BuyerAmount int64
	Note        string
}

// ResolveDispute settles a dispute (support or admin staff only).
//
// Errors: invalid, not_found, forbidden, deal_state_conflict.
func (s *Service) ResolveDispute(ctx context.Context, actor Actor, id string, p ResolveParams) (Deal, error) {
	if actor.Kind != ActorStaff || (actor.Role != "support" && actor.Role != "admin") {
		return Deal{}, apperr.New(apperr.CodeForbidden, "only support staff resolve disputes")
	}
	if p.Resolution != ResolveRelease && p.Resolution != ResolveRefund && p.Resolution != ResolveSplit {
		return Deal{}, apperr.Invalid("resolution", "release, refund or split")
	}
	if !validText(p.Note, ReasonLenMax) {
		return Deal{}, apperr.Invalid("note", "at most %d bytes", ReasonLenMax)
	}
	return s.act(ctx, actor, id, "resolved", func(c *change) error {
		if err := requireState(c, StateDisputed); err != nil {
			return err
		}
		// A fraud review holds every payment to the seller, a resolution's
		// too; a refund pays only the buyer back.
		if c.deal.ReviewHold && p.Resolution != ResolveRefund {
			return apperr.New(CodeReviewHold, "release is held while staff review the deal: clear the review first, or refund")
		}
		c.data["resolution"] = p.Resolution
		if p.Note != "" {
			c.data["note"] = p.Note
		}
		switch p.Resolution {
		case ResolveRelease:
			for i := range c.deal.Milestones {
				if c.deal.Milestones[i].ReleasedAt == nil {
					c.releaseMilestone(i)
				}
			}
		case ResolveRefund:
			c.refundAll()
		case ResolveSplit:
			rem := c.deal.Remaining()
			if p.BuyerAmount <= 0 || p.BuyerAmount >= rem {
				return apperr.Invalid("buyer_amount", "a split gives the buyer more than 0 and less than the %d held", rem)
			}
			_, fee := c.deal.unreleased()
			fee = min(fee, rem-p.BuyerAmount)
			seller := rem - p.BuyerAmount - fee
			c.move(acctHolding, acctBuyerPayable, p.BuyerAmount, "split:buyer", "escrow_refund")
			c.move(acctHolding, acctFees, fee, "split:fee", "escrow_fee")
			c.move(acctHolding, acctSellerPayable, seller, "split:seller", "escrow_release")
			c.deal.Refunded += p.BuyerAmount
			c.deal.FeeTaken += fee
			c.deal.Released += seller
			c.data["buyer_amount"], c.data["seller_amount"], c.data["fee"] = p.BuyerAmount, seller, fee
		}
		if c.deal.Remaining() != 0 {
			return fmt.Errorf("escrow: deal %s would keep %d after resolution: invariant broken", c.deal.ID, c.deal.Remaining())
		}
		c.deal.Resolution = p.Resolution
		c.close(StateResolved)
		c.event = event.TypeDealResolved
		c.mails = append(c.mails, s.mail(c.deal, Buyer, "resolved"), s.mail(c.deal, Seller, "resolved"))
		return nil
	})
}

// SetReviewHold opens (hold true, with the rules' reasons) or clears a
// fraud review. Clearing is for support or admin staff; a deal whose
// inspection period ended during the review is released at once.
//
// Errors: not_found, forbidden, deal_state_conflict.
func (s *Service) SetReviewHold(ctx context.Context, actor Actor, id string, hold bool, reasons []string) (Deal, error) {
	if actor.Kind == ActorStaff && actor.Role != "support" && actor.Role != "admin" {
		return Deal{}, apperr.New(apperr.CodeForbidden, "only support staff clear reviews")
	}
	if actor.Kind != ActorStaff && actor.Kind != ActorSystem {
		return Deal{}, apperr.New(apperr.CodeForbidden, "only staff review deals")
	}
	if len(reasons) > ReviewReasonsMax {
		return Deal{}, apperr.Invalid("reasons", "at most %d reasons", ReviewReasonsMax)
	}
	for _, r := range reasons {
		if strings.TrimSpace(r) == "" || !validText(r, ReviewReasonLenMax) || strings.ContainsAny(r, "\r\n") {
			return Deal{}, apperr.Invalid("reasons", "each reason is one line of at most %d bytes", ReviewReasonLenMax)
		}
	}
	action := "review_cleared"
	if hold {
		action = "review_opened"
	}
	return s.act(ctx, actor, id, action, func(c *change) error {
		if c.deal.State.Final() || c.deal.ReviewHold == hold {
			return stateConflict(c.deal, action)
		}
		c.deal.ReviewHold = hold
		if hold {
			c.deal.ReviewReasons = reasons
			c.data["reasons"] = reasons
			return nil
		}
		if c.deal.State == StateReceived && !c.now.Before(c.deal.inspectionEnds()) {
			return s.releaseAll(c)
		}
		return nil
	})
}

// FindDealByID returns a deal the actor may see.
//
// Errors: not_found.
func (s *Service) FindDealByID(ctx context.Context, actor Actor, id string) (Deal, error) {
	d, err := s.cfg.Store.DealByID(ctx, id)
	if err != nil {
		return Deal{}, err
	}
	if !d.CanSee(actor) {
		return Deal{}, apperr.NotFound("deal")
	}
	return d, nil
}

// FindDeals lists the deals the actor may see: a site's own, a user's (as
// buyer or seller), or, for staff, all.
//
// Errors: invalid (limit).
func (s *Service) FindDeals(ctx context.Context, actor Actor, f DealFilter) ([]Deal, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	switch actor.Kind {
	case ActorOrg:
		f.OrgID, f.Email = actor.ID, ""
	case ActorUser:
		f.OrgID, f.Email = "", strings.ToLower(actor.Email)
		if actor.Email == "" {
			return nil, nil
		}
	case ActorStaff, ActorSystem:
	default:
		return nil, apperr.New(apperr.CodeForbidden, "unknown actor")
	}
	return s.cfg.Store.DealList(ctx, f)
}

// FindTimeline returns a deal's history, oldest first.
//
// Errors: not_found.
func (s *Service) FindTimeline(ctx context.Context, actor Actor, id string) ([]TimelineEntry, error) {
	if _, err := s.FindDealByID(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.cfg.Store.TimelineList(ctx, id)
}

// FindMessages returns a deal's dispute thread, oldest first.
//
// Errors: not_found.
func (s *Service) FindMessages(ctx context.Context, actor Actor, id string) ([]Message, error) {
	if _, err := s.FindDealByID(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.cfg.Store.MessageList(ctx, id)
}
