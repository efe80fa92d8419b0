package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
)

// The console's deal pages, for support staff: the fraud review queue, the
// disputes, and a deal's page with its thread and the forms that post to
// it, resolve it and clear its review. Finance staff may read a deal's
// page (deposits link to it). The escrow service audits every action.

// consoleDealsData is a list of deals: the review queue or the disputes.
type consoleDealsData struct {
	Deals []escrow.Deal
	Next  string
	Later bool
}

func (s *Server) consoleReviews(w http.ResponseWriter, r *http.Request, v *visit) error {
	after, err := cursor(r)
	if err != nil {
		return err
	}
	list, err := s.cfg.Escrow.FindReviewQueue(r.Context(), staffActor(v.staff), after, dealsPageSize+1)
	if err != nil {
		return err
	}
	list, next := page1(list, func(d escrow.Deal) string { return d.ID })
	return s.render(w, r, v, http.StatusOK, "console_reviews", consoleDealsData{Deals: list, Next: next, Later: after != ""})
}

func (s *Server) consoleDisputes(w http.ResponseWriter, r *http.Request, v *visit) error {
	after, err := cursor(r)
	if err != nil {
		return err
	}
	list, err := s.cfg.Escrow.FindDeals(r.Context(), staffActor(v.staff),
		escrow.DealFilter{State: escrow.StateDisputed, AfterID: after, Limit: dealsPageSize + 1})
	if err != nil {
		return err
	}
	list, next := page1(list, func(d escrow.Deal) string { return d.ID })
	return s.render(w, r, v, http.StatusOK, "console_disputes", consoleDealsData{Deals: list, Next: next, Later: after != ""})
}

// consoleDealData is the console's page of a deal.
type consoleDealData struct {
	dealView
	Error               message
	Body, BuyerAmount   string // what a refused form held
	Note, Resolution    string
	Resolutions         []escrow.Resolution
	BodyMax, NoteMax    int
	Held                int64 // what the deal still holds: the most a split can share out
	CanPost, CanResolve bool
	CanClear            bool
}

func (s *Server) consoleDeal(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderConsoleDeal(w, r, v, http.StatusOK, message{}, nil)
}

// renderConsoleDeal shows deal {id} to staff, with a refused form's reason
// and values.
func (s *Server) renderConsoleDeal(w http.ResponseWriter, r *http.Request, v *visit, status int, e message, form url.Values) error {
	view, err := s.loadDealView(r.Context(), staffActor(v.staff), r.PathValue("id"), false)
	if err != nil {
		return err
	}
	d := view.Deal
	support := staffHas(v.staff, auth.RoleSupport)
	data := consoleDealData{dealView: view, Error: e, Body: form.Get("body"), BuyerAmount: form.Get("buyer_amount"),
		Note: form.Get("note"), Resolution: form.Get("resolution"),
		Resolutions: []escrow.Resolution{escrow.ResolveRelease, escrow.ResolveRefund, escrow.ResolveSplit},
		BodyMax:     escrow.MessageLenMax, NoteMax: escrow.ReasonLenMax, Held: d.Remaining(),
		CanPost:    support && d.State == escrow.StateDisputed,
		CanResolve: support && d.State == escrow.StateDisputed,
		CanClear:   support && d.ReviewHold && !d.State.Final(),
	}
	if data.Resolution == "" {
		data.Resolution = string(escrow.ResolveSplit)
	}
	return s.render(w, at(r, "/console/deals/"+d.ID), v, status, "console_deal", data)
}

// consoleDealAction runs a staff action on deal {id}: done, back to the
// page next (the deal's by default) with a notice; refused, the deal's page
// again saying why.
func (s *Server) consoleDealAction(w http.ResponseWriter, r *http.Request, v *visit, err error, notice string) error {
	id := r.PathValue("id")
	if err == nil {
		next := localPath(r.PostForm.Get("next"))
		if !strings.HasPrefix(next, "/console/") {
			next = "/console/deals/" + url.PathEscape(id)
		}
		return redirect(w, r, withNotice(next, notice))
	}
	m, status, ok := refusal(err)
	if !ok {
		return err
	}
	return s.renderConsoleDeal(w, r, v, status, m, r.PostForm)
}

func (s *Server) consolePostMessage(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, err := s.cfg.Escrow.PostMessage(r.Context(), staffActor(v.staff), r.PathValue("id"), r.PostForm.Get("body"))
	if apperr.Is(err, apperr.CodeConflict) {
		return s.renderConsoleDeal(w, r, v, http.StatusConflict, msg(msgThreadFull, escrow.MessagesPerDealMax), r.PostForm)
	}
	return s.consoleDealAction(w, r, v, err, "posted")
}

// consoleResolve settles a dispute: release to the seller, refund the
// buyer, or split, giving the buyer the amount typed (in the deal's
// currency, major units).
func (s *Server) consoleResolve(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	actor := staffActor(v.staff)
	id := r.PathValue("id")
	d, err := s.cfg.Escrow.FindDealByID(ctx, actor, id)
	if err != nil {
		return err
	}
	p := escrow.ResolveParams{Resolution: escrow.Resolution(r.PostForm.Get("resolution")), Note: strings.TrimSpace(r.PostForm.Get("note"))}
	if p.Resolution == escrow.ResolveSplit {
		p.BuyerAmount, err = parseAmount(r.PostForm.Get("buyer_amount"), money.Asset{Code: d.Currency, Scale: d.Scale})
		if err != nil {
			return s.renderConsoleDeal(w, r, v, http.StatusBadRequest, fieldHints["buyer_amount"], r.PostForm)
		}
	}
	_, err = s.cfg.Escrow.ResolveDispute(ctx, actor, id, p)
	return s.consoleDealAction(w, r, v, err, "resolved")
}

// consoleClearReview clears a deal's fraud review; a deal whose inspection
// ended meanwhile is released at once (escrow.SetReviewHold).
func (s *Server) consoleClearReview(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, err := s.cfg.Escrow.SetReviewHold(r.Context(), staffActor(v.staff), r.PathValue("id"), false, nil)
	return s.consoleDealAction(w, r, v, err, "review-cleared")
}
