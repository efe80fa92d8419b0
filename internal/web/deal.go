package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
)

// The portal's deal pages: My deals, the form that registers a deal (the
// user is its seller), and a deal's page with its details, timeline,
// dispute thread and the actions the user may take now, each a form.

// dealRow is one deal of a list, with the viewer's side of it.
type dealRow struct {
	escrow.Deal
	Role message
}

// dealsData is My deals: one page, newest first.
type dealsData struct {
	Deals []dealRow
	Next  string // the next page's cursor; "" on the last page
	Later bool   // not the first page
}

func (s *Server) deals(w http.ResponseWriter, r *http.Request, v *visit) error {
	after, err := cursor(r)
	if err != nil {
		return err
	}
	actor := userActor(v.user)
	list, err := s.cfg.Escrow.FindDeals(r.Context(), actor, escrow.DealFilter{AfterID: after, Limit: dealsPageSize + 1})
	if err != nil {
		return err
	}
	list, next := page1(list, func(d escrow.Deal) string { return d.ID })
	data := dealsData{Next: next, Later: after != ""}
	for _, d := range list {
		data.Deals = append(data.Deals, dealRow{Deal: d, Role: roleOf(d, actor)})
	}
	return s.render(w, r, v, http.StatusOK, "deals", data)
}

// roleOf names the viewer's side of d.
func roleOf(d escrow.Deal, a escrow.Actor) message {
	if _, seller := d.PartyOf(a); seller {
		return msg(msgPartySeller)
	}
	return msg(msgPartyBuyer)
}

// dealForm is what the create form holds, as typed.
type dealForm struct {
	Title, Description, Price, ShippingFee, Currency, FeePayer, BuyerEmail string
	PayDays, ShipDays, InspectionDays                                      string
	Milestones                                                             []milestoneRow
}

type milestoneRow struct{ Title, Amount string }

// dealNewData is the create form.
type dealNewData struct {
	Form       dealForm
	Currencies []money.Asset
	FeePayers  []escrow.FeePayer
	Error      message
	TitleMax   int
	DescMax    int
	PayMax     int
	ShipMax    int
	InspectMax int
}

func (s *Server) dealNewData(ctx context.Context, f dealForm, e message) (dealNewData, error) {
	cur, err := s.currencies(ctx)
	if err != nil {
		return dealNewData{}, err
	}
	for len(f.Milestones) < milestoneRowsMax {
		f.Milestones = append(f.Milestones, milestoneRow{})
	}
	return dealNewData{Form: f, Currencies: cur, FeePayers: []escrow.FeePayer{escrow.FeeSeller, escrow.FeeBuyer, escrow.FeeSplit},
		Error: e, TitleMax: escrow.TitleLenMax, DescMax: escrow.DescriptionLenMax,
		PayMax: escrow.PayWithinDaysMax, ShipMax: escrow.ShipWithinDaysMax, InspectMax: escrow.InspectionDaysMax}, nil
}

func (s *Server) dealNewForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	f := dealForm{Currency: "JPY", FeePayer: string(escrow.FeeSeller), ShippingFee: "0",
		PayDays: strconv.Itoa(escrow.PayWithinDaysDefault), ShipDays: strconv.Itoa(escrow.ShipWithinDaysDefault),
		InspectionDays: strconv.Itoa(escrow.InspectionDaysDefault)}
	d, err := s.dealNewData(r.Context(), f, message{})
	if err != nil {
		return err
	}
	return s.render(w, r, v, http.StatusOK, "deal_new", d)
}

// createDeal registers the deal with the user as its seller and shows it:
// its page has the fee and the amount the buyer is asked to pay.
func (s *Server) createDeal(w http.ResponseWriter, r *http.Request, v *visit) error {
	pf := r.PostForm
	f := dealForm{Title: pf.Get("title"), Description: pf.Get("description"), Price: pf.Get("price"),
		ShippingFee: pf.Get("shipping_fee"), Currency: pf.Get("currency"), FeePayer: pf.Get("fee_payer"),
		BuyerEmail: strings.TrimSpace(pf.Get("buyer_email")), PayDays: pf.Get("pay_within_days"),
		ShipDays: pf.Get("ship_within_days"), InspectionDays: pf.Get("inspection_days")}
	titles, amounts := pf["milestone_title"], pf["milestone_amount"]
	for i := 0; i < milestoneRowsMax && (i < len(titles) || i < len(amounts)); i++ {
		var m milestoneRow
		if i < len(titles) {
			m.Title = titles[i]
		}
		if i < len(amounts) {
			m.Amount = amounts[i]
		}
		f.Milestones = append(f.Milestones, m)
	}
	refuse := func(m message) error {
		d, err := s.dealNewData(r.Context(), f, m)
		if err != nil {
			return err
		}
		return s.render(w, at(r, "/deals/new"), v, http.StatusBadRequest, "deal_new", d)
	}
	cur, err := s.currencies(r.Context())
	if err != nil {
		return err
	}
	asset := money.Asset{Code: f.Currency, Scale: scaleOf(cur, f.Currency)}
	p := escrow.DealParams{Title: f.Title, Description: f.Description, Currency: f.Currency,
		FeePayer: escrow.FeePayer(f.FeePayer), BuyerEmail: f.BuyerEmail}
	if p.Price, err = parseAmount(f.Price, asset); err != nil {
		return refuse(fieldHints["price"])
	}
	if strings.TrimSpace(f.ShippingFee) != "" {
		if p.ShippingFee, err = parseAmount(f.ShippingFee, asset); err != nil {
			return refuse(fieldHints["shipping_fee"])
		}
	}
	for _, d := range []struct {
		text, param string
		into        *int
	}{{f.PayDays, "pay_within_days", &p.PayWithinDays}, {f.ShipDays, "ship_within_days", &p.ShipWithinDays},
		{f.InspectionDays, "inspection_days", &p.InspectionDays}} {
		if t := strings.TrimSpace(d.text); t != "" {
			n, err := strconv.Atoi(t)
			if err != nil || n < 1 {
				return refuse(fieldHints[d.param])
			}
			*d.into = n
		}
	}
	for i, m := range f.Milestones {
		if strings.TrimSpace(m.Title) == "" && strings.TrimSpace(m.Amount) == "" {
			continue
		}
		amount, err := parseAmount(m.Amount, asset)
		if err != nil {
			return refuse(msg(msgHintMilestoneAmount, i+1))
		}
		p.Milestones = append(p.Milestones, escrow.MilestoneParams{Title: strings.TrimSpace(m.Title), Amount: amount})
	}
	// Each deal mails an invitation to the address typed: bounded, so the
	// portal is no one's free mailer.
	if !s.limits.allow("deal:"+v.user.ID, dealsPerUserBurst, dealsPerUserWindow) {
		d, err := s.dealNewData(r.Context(), f, msg(msgErrorRateLimited))
		if err != nil {
			return err
		}
		return s.render(w, at(r, "/deals/new"), v, http.StatusTooManyRequests, "deal_new", d)
	}
	d, err := s.cfg.Escrow.CreateDeal(r.Context(), userActor(v.user), p)
	if m, _, ok := refusal(err); ok {
		return refuse(m)
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/deals/"+url.PathEscape(d.ID)+"?notice=deal-created")
}

// dealCan is what the viewer may do to a deal now. The service decides in
// the end: a form shown here may still be refused (someone acted first, a
// deadline passed), and the page then says why.
type dealCan struct {
	Accept, Decline, Cancel, Pay, Ship, Receive, Approve, Release, Dispute, Post bool
}

// dealCanFor works out the portal user's actions from escrow's rules
// (service.go): the buyer accepts, pays, confirms, approves and disputes;
// the seller withdraws and ships; either cancels while payment is awaited
// and writes in a dispute.
func dealCanFor(d escrow.Deal, buyer, seller bool, now time.Time) dealCan {
	st := d.State
	// The inspection period runs from receipt (escrow's inspectionEnds).
	inspecting := st == escrow.StateReceived && d.ReceivedAt != nil &&
		now.Before(d.ReceivedAt.Add(time.Duration(d.InspectionDays)*24*time.Hour))
	multi := len(d.Milestones) > 1
	return dealCan{
		Accept:  buyer && st == escrow.StatePendingAcceptance,
		Decline: buyer && st == escrow.StatePendingAcceptance,
		Cancel:  seller && st == escrow.StatePendingAcceptance || (buyer || seller) && st == escrow.StateAwaitingPayment,
		Pay:     buyer && st == escrow.StateAwaitingPayment,
		Ship:    seller && st == escrow.StateFunded,
		Receive: buyer && st == escrow.StateShipped,
		Approve: buyer && (st == escrow.StateShipped || st == escrow.StateReceived),
		Release: buyer && multi && (st == escrow.StateFunded || st == escrow.StateShipped || st == escrow.StateReceived),
		Dispute: buyer && (st == escrow.StateShipped || inspecting),
		Post:    (buyer || seller) && st == escrow.StateDisputed,
	}
}

// timelineRow is one timeline entry as a page shows it.
type timelineRow struct {
	At     time.Time
	Action message
	Actor  message
	Detail string
	To     message // the state a deadline moved the deal to; zero otherwise
}

// messageRow is one post of a dispute thread.
type messageRow struct {
	At    time.Time
	Party message
	Staff bool // written by Kinko's staff
	Mine  bool // written by the viewer's side
	Body  string
}

// dealView is what the portal's and the console's deal pages share.
type dealView struct {
	Deal     escrow.Deal
	Timeline []timelineRow
	Messages []messageRow
	// Next is the next unreleased milestone's number (1…) when the deal has
	// several; 0 otherwise.
	Next          int
	NextMilestone escrow.Milestone
	Owed          int64 // what the buyer still has to pay
	PayTo         string
}

// dealData is the portal's deal page.
type dealData struct {
	dealView
	Role  message
	Buyer bool
	Can   dealCan
	Error message
	// Form echoes what a refused form held.
	Carrier, Tracking, Reason, Body string
	CarrierMax, TrackingMax         int
	ReasonMax, BodyMax              int
}

// loadDealView reads a deal, its timeline and its thread as actor sees
// them; hideReview leaves the fraud review's entries out of the timeline
// (the parties are not told which rules flagged their deal).
func (s *Server) loadDealView(ctx context.Context, actor escrow.Actor, id string, hideReview bool) (dealView, error) {
	d, err := s.cfg.Escrow.FindDealByID(ctx, actor, id)
	if err != nil {
		return dealView{}, err
	}
	tl, err := s.cfg.Escrow.FindTimeline(ctx, actor, id)
	if err != nil {
		return dealView{}, err
	}
	ms, err := s.cfg.Escrow.FindMessages(ctx, actor, id)
	if err != nil {
		return dealView{}, err
	}
	view := dealView{Deal: d, Owed: max(d.AmountDue-d.AmountPaid, 0), PayTo: s.cfg.EscrowPayTo}
	for _, e := range tl {
		if hideReview && strings.HasPrefix(e.Action, "review_") {
			continue
		}
		row := timelineRow{At: e.At, Action: named(actionNames, e.Action), Actor: actorName(d, e.ActorKind, e.ActorID), Detail: timelineDetail(d, e)}
		if strings.HasPrefix(e.Action, "timer.") && e.ToState != e.FromState {
			row.To = stateName(e.ToState)
		}
		view.Timeline = append(view.Timeline, row)
	}
	b, sl := d.PartyOf(actor)
	for _, m := range ms {
		view.Messages = append(view.Messages, messageRow{At: m.At, Party: partyName(m.Party), Staff: m.Party == "staff",
			Mine: b && m.Party == string(escrow.Buyer) || sl && m.Party == string(escrow.Seller), Body: m.Body})
	}
	if len(d.Milestones) > 1 {
		for i, m := range d.Milestones {
			if m.ReleasedAt == nil {
				view.Next, view.NextMilestone = i+1, m
				break
			}
		}
	}
	return view, nil
}

// actorName says who made a timeline entry: a party, staff, the site that
// registered the deal, or Kinko itself (a deadline, a bank credit).
func actorName(d escrow.Deal, kind escrow.ActorKind, id string) message {
	switch kind {
	case escrow.ActorUser:
		switch id {
		case d.Buyer.UserID:
			return msg(msgPartyBuyer)
		case d.Seller.UserID:
			return msg(msgPartySeller)
		}
		return msg(msgActorUser)
	case escrow.ActorStaff:
		return msg(msgPartyStaff)
	case escrow.ActorOrg:
		return msg(msgPartySite)
	}
	return msg(msgActorSystem)
}

// timelineDetail is the one line of detail some entries carry: how the
// goods travel, why a dispute was opened, what a payment was.
func timelineDetail(d escrow.Deal, e escrow.TimelineEntry) string {
	var data map[string]any
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &data) != nil {
		return ""
	}
	str := func(k string) string { s, _ := data[k].(string); return s }
	amount := func(k string) string {
		f, ok := data[k].(float64)
		if !ok {
			return ""
		}
		return formatMoney(d.Currency, d.Scale, int64(f))
	}
	switch e.Action {
	case "shipped":
		return strings.TrimSpace(str("carrier") + " " + str("tracking_number"))
	case "disputed":
		return str("reason")
	case "payment_received", "funded", "payment_late":
		return amount("amount")
	case "created":
		return amount("amount_due")
	}
	return ""
}

func (s *Server) deal(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderDeal(w, r, v, http.StatusOK, message{}, nil)
}

// renderDeal shows deal {id} to the signed-in user with status, an error
// saying why their last action was refused, and that form's values.
func (s *Server) renderDeal(w http.ResponseWriter, r *http.Request, v *visit, status int, e message, form url.Values) error {
	actor := userActor(v.user)
	view, err := s.loadDealView(r.Context(), actor, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	b, sl := view.Deal.PartyOf(actor)
	d := dealData{dealView: view, Role: roleOf(view.Deal, actor), Buyer: b, Can: dealCanFor(view.Deal, b, sl, s.cfg.Clock()),
		Error: e, Carrier: form.Get("carrier"), Tracking: form.Get("tracking_number"), Reason: form.Get("reason"),
		Body: form.Get("body"), CarrierMax: escrow.CarrierLenMax, TrackingMax: escrow.TrackingLenMax,
		ReasonMax: escrow.ReasonLenMax, BodyMax: escrow.MessageLenMax}
	return s.render(w, at(r, "/deals/"+view.Deal.ID), v, status, "deal", d)
}

// dealDo is one action of a party on a deal, given the form.
type dealDo func(ctx context.Context, a escrow.Actor, id string, form url.Values) error

// dealActions are the deal page's forms, by the last part of their path.
func (s *Server) dealActions() map[string]dealDo {
	e := s.cfg.Escrow
	simple := func(f func(context.Context, escrow.Actor, string) (escrow.Deal, error)) dealDo {
		return func(ctx context.Context, a escrow.Actor, id string, _ url.Values) error {
			_, err := f(ctx, a, id)
			return err
		}
	}
	return map[string]dealDo{
		"accept":  simple(e.AcceptDeal),
		"decline": simple(e.DeclineDeal),
		"cancel":  simple(e.CancelDeal),
		"receive": simple(e.ConfirmReceipt),
		"approve": simple(e.ApproveDeal),
		"release": simple(e.ReleaseMilestone),
		"ship": func(ctx context.Context, a escrow.Actor, id string, f url.Values) error {
			_, err := e.MarkShipped(ctx, a, id, escrow.ShipParams{Carrier: strings.TrimSpace(f.Get("carrier")),
				TrackingNumber: strings.TrimSpace(f.Get("tracking_number"))})
			return err
		},
		"dispute": func(ctx context.Context, a escrow.Actor, id string, f url.Values) error {
			_, err := e.OpenDispute(ctx, a, id, f.Get("reason"))
			return err
		},
		"messages": func(ctx context.Context, a escrow.Actor, id string, f url.Values) error {
			_, err := e.PostMessage(ctx, a, id, f.Get("body"))
			return err
		},
	}
}

// dealAction runs one action of the signed-in user on deal {id}. Done, it
// returns to the deal page; refused, it shows the deal page again, as it
// now is (nothing changed), saying why and keeping what the form held.
func (s *Server) dealAction(do dealDo) handler {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		id := r.PathValue("id")
		err := do(r.Context(), userActor(v.user), id, r.PostForm)
		if err == nil {
			notice := "done"
			if strings.HasSuffix(r.URL.Path, "/messages") {
				notice = "posted"
			}
			return redirect(w, r, "/deals/"+url.PathEscape(id)+"?notice="+notice)
		}
		m, status, ok := refusal(err)
		if !ok {
			return err
		}
		if apperr.Is(err, apperr.CodeConflict) && strings.HasSuffix(r.URL.Path, "/messages") {
			m = msg(msgThreadFull, escrow.MessagesPerDealMax)
		}
		return s.renderDeal(w, r, v, status, m, r.PostForm)
	}
}
