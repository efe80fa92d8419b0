package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// A site's key acts on its own deals as escrow.ActorOrg with the escrow
// scopes; the operator's admin key acts as a staff admin (escrow.ActorStaff,
// Role "admin", ID the key's id) and alone may record and clear deposits and
// settle disputes and reviews here. Staff normally do that in the console,
// under their own names; the API is for the operator's own automation.

// dealJSON is a deal as every read shows it, and as deal events carry it.
type dealJSON struct {
	Object              string                   `json:"object"` // "deal"
	ID                  string                   `json:"id"`
	ExternalRef         string                   `json:"external_ref"`
	Title               string                   `json:"title"`
	Description         string                   `json:"description"`
	State               escrow.State             `json:"state"`
	Price               moneyJSON                `json:"price"`
	ShippingFee         moneyJSON                `json:"shipping_fee"`
	Fee                 moneyJSON                `json:"fee"`
	FeePayer            escrow.FeePayer          `json:"fee_payer"`
	BuyerFee            moneyJSON                `json:"buyer_fee"`
	AmountDue           moneyJSON                `json:"amount_due"`
	AmountPaid          moneyJSON                `json:"amount_paid"`
	Released            moneyJSON                `json:"released"`
	Refunded            moneyJSON                `json:"refunded"`
	FeeTaken            moneyJSON                `json:"fee_taken"`
	Held                moneyJSON                `json:"held"`
	PaymentMethod       escrow.PaymentMethod     `json:"payment_method"`
	PaymentReference    string                   `json:"payment_reference"`
	PaymentInstructions *paymentInstructionsJSON `json:"payment_instructions"` // null unless awaiting payment
	Seller              partyJSON                `json:"seller"`
	Buyer               partyJSON                `json:"buyer"`
	Deadlines           deadlinesJSON            `json:"deadlines"`
	Carrier             string                   `json:"carrier"`
	TrackingNumber      string                   `json:"tracking_number"`
	Milestones          []milestoneJSON          `json:"milestones"`
	Resolution          *escrow.Resolution       `json:"resolution"` // null until resolved
	ReviewHold          bool                     `json:"review_hold"`
	ReviewReasons       []string                 `json:"review_reasons"`
	DisputeReason       string                   `json:"dispute_reason"`
	HoldingAccount      string                   `json:"holding_account"`
	CreatedAt           time.Time                `json:"created_at"`
	UpdatedAt           time.Time                `json:"updated_at"`
	AcceptedAt          *time.Time               `json:"accepted_at"`
	FundedAt            *time.Time               `json:"funded_at"`
	ShippedAt           *time.Time               `json:"shipped_at"`
	ReceivedAt          *time.Time               `json:"received_at"`
	ClosedAt            *time.Time               `json:"closed_at"`
}

// paymentInstructionsJSON tells the buyer how to pay what is still owed.
type paymentInstructionsJSON struct {
	PayTo     string    `json:"pay_to"`
	Reference string    `json:"reference"`
	Amount    moneyJSON `json:"amount"`
	DueAt     time.Time `json:"due_at"`
}

type partyJSON struct {
	Email  string `json:"email"`
	Locale string `json:"locale"`
}

type deadlinesJSON struct {
	PayWithinDays  int        `json:"pay_within_days"`
	ShipWithinDays int        `json:"ship_within_days"`
	InspectionDays int        `json:"inspection_days"`
	DueAt          *time.Time `json:"due_at"` // the current state's deadline; null when none runs
}

type milestoneJSON struct {
	Title      string     `json:"title"`
	Amount     moneyJSON  `json:"amount"`
	Gross      moneyJSON  `json:"gross"`
	Fee        moneyJSON  `json:"fee"`
	ReleasedAt *time.Time `json:"released_at"`
}

// toDeal renders d; payTo is the operator's bank details for the payment
// instructions. It is the one renderer of a deal: reads and deal events.
func toDeal(d escrow.Deal, payTo string) dealJSON {
	m := func(amount int64) moneyJSON { return moneyJSON{Amount: amount, Currency: d.Currency} }
	out := dealJSON{
		Object: "deal", ID: d.ID, ExternalRef: d.ExternalRef, Title: d.Title, Description: d.Description, State: d.State,
		Price: m(d.Price), ShippingFee: m(d.ShippingFee), Fee: m(d.Fee), FeePayer: d.FeePayer, BuyerFee: m(d.BuyerFee),
		AmountDue: m(d.AmountDue), AmountPaid: m(d.AmountPaid), Released: m(d.Released), Refunded: m(d.Refunded),
		FeeTaken: m(d.FeeTaken), Held: m(d.Remaining()), PaymentMethod: d.PaymentMethod, PaymentReference: d.PaymentRef,
		Seller: partyJSON{Email: d.Seller.Email, Locale: d.Seller.Locale}, Buyer: partyJSON{Email: d.Buyer.Email, Locale: d.Buyer.Locale},
		Deadlines: deadlinesJSON{PayWithinDays: d.PayWithinDays, ShipWithinDays: d.ShipWithinDays, InspectionDays: d.InspectionDays,
			DueAt: utcPtr(d.DueAt)},
		Carrier: d.Carrier, TrackingNumber: d.TrackingNumber, Milestones: make([]milestoneJSON, len(d.Milestones)),
		ReviewHold: d.ReviewHold, ReviewReasons: d.ReviewReasons, DisputeReason: d.DisputeReason,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), AcceptedAt: utcPtr(d.AcceptedAt), FundedAt: utcPtr(d.FundedAt),
		ShippedAt: utcPtr(d.ShippedAt), ReceivedAt: utcPtr(d.ReceivedAt), ClosedAt: utcPtr(d.ClosedAt),
	}
	if d.HoldingAccountID != 0 {
		out.HoldingAccount = formatID(prefixAccount, d.HoldingAccountID)
	}
	if d.State == escrow.StateAwaitingPayment && d.DueAt != nil {
		out.PaymentInstructions = &paymentInstructionsJSON{PayTo: payTo, Reference: d.PaymentRef,
			Amount: m(d.AmountDue - d.AmountPaid), DueAt: d.DueAt.UTC()}
	}
	for i, ms := range d.Milestones {
		out.Milestones[i] = milestoneJSON{Title: ms.Title, Amount: m(ms.Amount), Gross: m(ms.Gross), Fee: m(ms.Fee), ReleasedAt: utcPtr(ms.ReleasedAt)}
	}
	if d.Resolution != "" {
		r := d.Resolution
		out.Resolution = &r
	}
	if out.ReviewReasons == nil {
		out.ReviewReasons = []string{}
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// DealEventData renders d as GET /v1/deals/{id} shows it, for the deal's
// events (escrow.Config.Events). It runs inside escrow's transaction, so it
// does no more than one json.Marshal of the API's own struct; see eventData
// for why it cannot fail.
func (e EventEncoder) DealEventData(d escrow.Deal) []byte { return eventData(toDeal(d, e.EscrowPayTo)) }

var _ escrow.EventEncoder = EventEncoder{}

// dealCreate is the body of POST /v1/deals.
type dealCreate struct {
	ExternalRef   string               `json:"external_ref"`
	Title         string               `json:"title"`
	Description   string               `json:"description"`
	Price         *moneyJSON           `json:"price"`
	ShippingFee   *moneyJSON           `json:"shipping_fee"`
	FeePayer      escrow.FeePayer      `json:"fee_payer"`
	PaymentMethod escrow.PaymentMethod `json:"payment_method"`
	Seller        *partyCreate         `json:"seller"`
	Buyer         *partyCreate         `json:"buyer"`
	Deadlines     *deadlinesCreate     `json:"deadlines"`
	Milestones    []milestoneCreate    `json:"milestones"`
}

type partyCreate struct {
	Email  string `json:"email"`
	Locale string `json:"locale"`
}

type deadlinesCreate struct {
	PayWithinDays  int `json:"pay_within_days"`
	ShipWithinDays int `json:"ship_within_days"`
	InspectionDays int `json:"inspection_days"`
}

type milestoneCreate struct {
	Title  string     `json:"title"`
	Amount *moneyJSON `json:"amount"`
}

// params turns the body into escrow.DealParams. It checks only what the
// JSON shape adds: that amounts are present and in the price's currency;
// escrow validates the rest.
func (in dealCreate) params() (escrow.DealParams, error) {
	if in.Price == nil {
		return escrow.DealParams{}, invalid("price", `price is required: {"amount": 1000, "currency": "JPY"}`)
	}
	cur := in.Price.Currency
	if cur == "" {
		return escrow.DealParams{}, invalid("price.currency", "price.currency is required")
	}
	p := escrow.DealParams{ExternalRef: in.ExternalRef, Title: in.Title, Description: in.Description, Currency: cur,
		Price: in.Price.Amount, FeePayer: in.FeePayer, PaymentMethod: in.PaymentMethod}
	if in.ShippingFee != nil {
		if err := sameCurrency(*in.ShippingFee, cur, "shipping_fee"); err != nil {
			return escrow.DealParams{}, err
		}
		p.ShippingFee = in.ShippingFee.Amount
	}
	if in.Seller != nil {
		p.SellerEmail, p.SellerLocale = in.Seller.Email, in.Seller.Locale
	}
	if in.Buyer != nil {
		p.BuyerEmail, p.BuyerLocale = in.Buyer.Email, in.Buyer.Locale
	}
	if in.Deadlines != nil {
		p.PayWithinDays, p.ShipWithinDays, p.InspectionDays = in.Deadlines.PayWithinDays, in.Deadlines.ShipWithinDays, in.Deadlines.InspectionDays
	}
	if len(in.Milestones) > escrow.MilestonesMax {
		return escrow.DealParams{}, invalid("milestones", "at most %d milestones", escrow.MilestonesMax)
	}
	for i, ms := range in.Milestones {
		param := "milestones[" + strconv.Itoa(i) + "].amount"
		if ms.Amount == nil {
			return escrow.DealParams{}, invalid(param, "%s is required", param)
		}
		if err := sameCurrency(*ms.Amount, cur, param); err != nil {
			return escrow.DealParams{}, err
		}
		p.Milestones = append(p.Milestones, escrow.MilestoneParams{Title: ms.Title, Amount: ms.Amount.Amount})
	}
	return p, nil
}

// dealCreateParams maps escrow.DealParams' names, as the domain's errors
// give them, to the fields of the body that nests them.
var dealCreateParams = map[string]string{
	"currency": "price.currency", "seller_email": "seller.email", "buyer_email": "buyer.email",
	"seller_locale": "seller.locale", "buyer_locale": "buyer.locale", "pay_within_days": "deadlines.pay_within_days",
	"ship_within_days": "deadlines.ship_within_days", "inspection_days": "deadlines.inspection_days",
}

// renameParam returns err with its param renamed by names, when it has one
// of them.
func renameParam(err error, names map[string]string) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		if to, ok := names[ae.Param]; ok {
			c := *ae
			c.Param = to
			return &c
		}
	}
	return err
}

// sameCurrency refuses an amount in another currency than the deal's.
func sameCurrency(m moneyJSON, cur, param string) error {
	if m.Currency != cur {
		return invalid(param+".currency", "%s must be in the deal's currency %s", param, cur)
	}
	return nil
}

type shipBody struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

type disputeBody struct {
	Reason string `json:"reason"`
}

// dealAction is the body of the deal's steps that take no input: {}.
type dealAction struct{}

type messageCreate struct {
	Body string `json:"body"`
}

type resolveDispute struct {
	Resolution  escrow.Resolution `json:"resolution"`
	BuyerAmount *moneyJSON        `json:"buyer_amount"`
	Note        string            `json:"note"`
}

type reviewBody struct {
	Hold    *bool    `json:"hold"`
	Reasons []string `json:"reasons"`
}

// Bounds of a review's reasons, which the escrow domain keeps as given.
const (
	reviewReasonsMax   = 20
	reviewReasonLenMax = 200
)

type timelineEntryJSON struct {
	Object    string           `json:"object"` // "deal_timeline_entry"
	Deal      string           `json:"deal"`
	Seq       int              `json:"seq"`
	At        time.Time        `json:"at"`
	ActorKind escrow.ActorKind `json:"actor_kind"`
	ActorID   string           `json:"actor_id"`
	Action    string           `json:"action"`
	FromState *escrow.State    `json:"from_state"` // null for "created"
	ToState   escrow.State     `json:"to_state"`
	Data      json.RawMessage  `json:"data"`
}

func toTimelineEntry(e escrow.TimelineEntry) timelineEntryJSON {
	out := timelineEntryJSON{Object: "deal_timeline_entry", Deal: e.DealID, Seq: e.Seq, At: e.At.UTC(), ActorKind: e.ActorKind,
		ActorID: e.ActorID, Action: e.Action, ToState: e.ToState, Data: e.Data}
	if e.FromState != "" {
		from := e.FromState
		out.FromState = &from
	}
	if len(out.Data) == 0 || string(out.Data) == "null" {
		out.Data = json.RawMessage("{}")
	}
	return out
}

type messageJSON struct {
	Object    string           `json:"object"` // "deal_message"
	ID        string           `json:"id"`
	Deal      string           `json:"deal"`
	At        time.Time        `json:"at"`
	Party     string           `json:"party"` // buyer, seller, site or staff
	ActorKind escrow.ActorKind `json:"actor_kind"`
	Body      string           `json:"body"`
}

func toMessage(m escrow.Message) messageJSON {
	return messageJSON{Object: "deal_message", ID: m.ID, Deal: m.DealID, At: m.At.UTC(), Party: m.Party, ActorKind: m.ActorKind, Body: m.Body}
}

// dealActor is who a key acts as on deals: the operator's admin key as a
// staff admin, any other key as its organization.
func dealActor(p auth.Principal) escrow.Actor {
	if isOperator(p) {
		return escrow.Actor{Kind: escrow.ActorStaff, ID: p.KeyID, Role: "admin"}
	}
	return escrow.Actor{Kind: escrow.ActorOrg, ID: p.OrgID}
}

func isOperator(p auth.Principal) bool { return p.IsAdmin() && p.OrgID == auth.OperatorOrgID }

// requireOperator refuses every key but the operator's admin keys.
func requireOperator(p auth.Principal, what string) error {
	if isOperator(p) {
		return nil
	}
	return apperr.New(apperr.CodeForbidden, "only the operator's admin key may %s", what)
}

var errNoEscrow = apperr.New(apperr.CodeUnready, "escrow is not configured on this server")

// escrowService returns the escrow service, or unavailable on a server
// built without one (tests of other concerns).
func (s *Server) escrowService() (*escrow.Service, error) {
	if s.cfg.Escrow == nil {
		return nil, errNoEscrow
	}
	return s.cfg.Escrow, nil
}

func (s *Server) writeDeal(w http.ResponseWriter, status int, d escrow.Deal) error {
	return writeJSON(w, status, toDeal(d, s.cfg.EscrowPayTo))
}

// dealWriter answers with a deal and status: the write of keepInTx.
func (s *Server) dealWriter(status int) func(http.ResponseWriter, escrow.Deal) error {
	return func(w http.ResponseWriter, d escrow.Deal) error { return s.writeDeal(w, status, d) }
}

// createDeal registers a deal for one of the site's sellers. The same
// external_ref again answers the deal the first request made.
func (s *Server) createDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", true); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in dealCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	params, err := in.params()
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.Deal, error) {
		d, err := svc.CreateDeal(ctx, dealActor(p), params)
		return d, renameParam(err, dealCreateParams)
	}, s.dealWriter(http.StatusCreated))
}

// listDeals pages through the deals the key may see, optionally in one
// ?state=, or only those held for fraud review and not closed
// (?review_hold=true: the operator's review queue).
func (s *Server) listDeals(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", false); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixDeal)
	if err != nil {
		return err
	}
	f := escrow.DealFilter{State: escrow.State(r.URL.Query().Get("state"))}
	if f.State != "" && !knownState(f.State) {
		return invalid("state", "unknown state %q", f.State)
	}
	switch r.URL.Query().Get("review_hold") {
	case "":
	case "true":
		f.ReviewHold = true
	default:
		return invalid("review_hold", "review_hold=true lists the deals held for review; leave it out for all")
	}
	actor := dealActor(p)
	ds, err := fetchPage(limit, after, func(d escrow.Deal) string { return d.ID }, func(after string, n int) ([]escrow.Deal, error) {
		f.AfterID, f.Limit = after, n
		return svc.FindDeals(r.Context(), actor, f)
	})
	if err != nil {
		return err
	}
	out := make([]dealJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeal(d, s.cfg.EscrowPayTo)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

// dealStates are the states ?state= accepts.
var dealStates = []escrow.State{escrow.StatePendingAcceptance, escrow.StateAwaitingPayment, escrow.StateFunded,
	escrow.StateShipped, escrow.StateReceived, escrow.StateReleased, escrow.StateCanceled, escrow.StateDisputed,
	escrow.StateResolved, escrow.StateRefunded}

func knownState(st escrow.State) bool {
	for _, s := range dealStates {
		if s == st {
			return true
		}
	}
	return false
}

func (s *Server) getDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", false); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeal, "deal", r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := svc.FindDealByID(r.Context(), dealActor(p), id)
	if err != nil {
		return err
	}
	return s.writeDeal(w, http.StatusOK, d)
}

// getDealTimeline answers a deal's whole history, oldest first, in one
// unpaged list: a deal has a few dozen entries at most (one per step).
func (s *Server) getDealTimeline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", false); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeal, "deal", r.PathValue("id"))
	if err != nil {
		return err
	}
	es, err := svc.FindTimeline(r.Context(), dealActor(p), id)
	if err != nil {
		return err
	}
	out := make([]timelineEntryJSON, len(es))
	for i, e := range es {
		out[i] = toTimelineEntry(e)
	}
	return writeJSON(w, http.StatusOK, newList(out, len(out)))
}

// dealStep is one of the deal's transitions, made with ctx (which carries
// keepInTx's keep): one call of svc, and whatever reads it needs before.
// svc comes first so that a method expression, (*escrow.Service).AcceptDeal,
// is a step.
type dealStep func(svc *escrow.Service, ctx context.Context, actor escrow.Actor, id string) (escrow.Deal, error)

// step answers POST /v1/deals/{id}/<step> for a step that takes the body
// {}: it acts as the key's actor and answers the deal after the step.
func (s *Server) step(run dealStep) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		return s.act(w, r, p, &dealAction{}, run)
	}
}

// act is every deal step: scope, path id, body, one service call (through
// keepInTx), the deal.
func (s *Server) act(w http.ResponseWriter, r *http.Request, p auth.Principal, body any, run dealStep) error {
	if err := p.Require("escrow", true); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeal, "deal", r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := decode(r, body); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.Deal, error) {
		return run(svc, ctx, dealActor(p), id)
	}, s.dealWriter(http.StatusOK))
}

func (s *Server) shipDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in shipBody
	return s.act(w, r, p, &in, func(svc *escrow.Service, ctx context.Context, a escrow.Actor, id string) (escrow.Deal, error) {
		return svc.MarkShipped(ctx, a, id, escrow.ShipParams{Carrier: in.Carrier, TrackingNumber: in.TrackingNumber})
	})
}

func (s *Server) disputeDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in disputeBody
	return s.act(w, r, p, &in, func(svc *escrow.Service, ctx context.Context, a escrow.Actor, id string) (escrow.Deal, error) {
		return svc.OpenDispute(ctx, a, id, in.Reason)
	})
}

// resolveDeal settles a dispute: operator only. buyer_amount is in the
// deal's currency, which is read first (a deal's currency never changes).
func (s *Server) resolveDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "resolve disputes"); err != nil {
		return err
	}
	var in resolveDispute
	return s.act(w, r, p, &in, func(svc *escrow.Service, ctx context.Context, a escrow.Actor, id string) (escrow.Deal, error) {
		rp := escrow.ResolveParams{Resolution: in.Resolution, Note: in.Note}
		if in.BuyerAmount != nil {
			if in.Resolution != escrow.ResolveSplit {
				return escrow.Deal{}, invalid("buyer_amount", "buyer_amount applies only to a split")
			}
			d, err := svc.FindDealByID(ctx, a, id)
			if err != nil {
				return escrow.Deal{}, err
			}
			if err := sameCurrency(*in.BuyerAmount, d.Currency, "buyer_amount"); err != nil {
				return escrow.Deal{}, err
			}
			rp.BuyerAmount = in.BuyerAmount.Amount
		}
		return svc.ResolveDispute(ctx, a, id, rp)
	})
}

// reviewDeal opens or clears a fraud review: operator only.
func (s *Server) reviewDeal(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "open or clear reviews"); err != nil {
		return err
	}
	var in reviewBody
	return s.act(w, r, p, &in, func(svc *escrow.Service, ctx context.Context, a escrow.Actor, id string) (escrow.Deal, error) {
		if in.Hold == nil {
			return escrow.Deal{}, invalid("hold", "hold is required: true opens a review, false clears it")
		}
		if !*in.Hold && len(in.Reasons) > 0 {
			return escrow.Deal{}, invalid("reasons", "reasons go with hold true only")
		}
		if len(in.Reasons) > reviewReasonsMax {
			return escrow.Deal{}, invalid("reasons", "at most %d reasons", reviewReasonsMax)
		}
		for i, reason := range in.Reasons {
			if !validLine(reason, reviewReasonLenMax) {
				return escrow.Deal{}, invalid("reasons["+strconv.Itoa(i)+"]", "a reason is one line of 1 to %d bytes", reviewReasonLenMax)
			}
		}
		return svc.SetReviewHold(ctx, a, id, *in.Hold, in.Reasons)
	})
}

func (s *Server) listDealMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", false); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeal, "deal", r.PathValue("id"))
	if err != nil {
		return err
	}
	ms, err := svc.FindMessages(r.Context(), dealActor(p), id)
	if err != nil {
		return err
	}
	out := make([]messageJSON, len(ms))
	for i, m := range ms {
		out[i] = toMessage(m)
	}
	return writeJSON(w, http.StatusOK, newList(out, len(out)))
}

// createDealMessage posts to a disputed deal's thread: the site (for its
// users) or the operator.
func (s *Server) createDealMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", true); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeal, "deal", r.PathValue("id"))
	if err != nil {
		return err
	}
	var in messageCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.Message, error) {
		return svc.PostMessage(ctx, dealActor(p), id, in.Body)
	}, func(w http.ResponseWriter, m escrow.Message) error {
		return writeJSON(w, http.StatusCreated, toMessage(m))
	})
}
