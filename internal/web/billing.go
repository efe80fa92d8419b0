package web

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// The provider's portal: a member of an organization (a provider) reads
// its billing customers with their balances, a customer's balance inquiry
// and live reservations, and a customer's statement for a month, with its
// CSV. The pages only read. Every figure comes from billing.Service as
// billing.OrgActor(the organization in the path), after the visitor's
// membership of it is checked: a member never sees another organization's
// customers, and an organization the visitor is not a member of, a
// customer of another organization and one that does not exist are all
// the same 404 page.

// billingRoutes registers the provider portal's pages.
func (s *Server) billingRoutes() {
	member := func(h handler) http.Handler { return s.portal(s.requireUser(s.requireMember(h))) }
	s.mux.Handle("GET /billing", s.portal(s.requireUser(s.billingHome)))
	s.mux.Handle("GET /billing/{org}", member(s.billingCustomers))
	s.mux.Handle("GET /billing/{org}/customers/{id}", member(s.billingCustomer))
	s.mux.Handle("GET /billing/{org}/customers/{id}/statement", member(s.billingStatement))
	s.mux.Handle("GET /billing/{org}/customers/{id}/statement.csv", member(s.billingStatementCSV))
}

// billingOn reports whether the provider portal is served.
func (s *Server) billingOn() bool { return s.cfg.Billing != nil && s.cfg.Members != nil }

// memberships returns the organizations the visit's user belongs to, read
// once per visit; none when no one is signed in or billing is off.
func (s *Server) memberships(ctx context.Context, v *visit) ([]auth.Member, error) {
	if v.user == nil || !s.billingOn() {
		return nil, nil
	}
	if v.memberships == nil {
		ms, err := s.cfg.Members.FindMemberships(ctx, v.user.ID)
		if err != nil {
			return nil, err
		}
		v.memberships = append([]auth.Member{}, ms...)
	}
	return v.memberships, nil
}

// requireMember lets through only a member of the organization the path
// names ({org}), setting v.member; to anyone else the page does not exist.
func (s *Server) requireMember(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		m, err := s.cfg.Members.FindMembership(r.Context(), r.PathValue("org"), v.user.ID)
		if err != nil {
			return err
		}
		v.member = &m
		return h(w, r, v)
	}
}

// billingActor is the organization the visit's member acts for.
func billingActor(v *visit) billing.Actor { return billing.OrgActor(v.member.OrgID) }

// billingHome sends a member of one organization to its customers and
// lists the organizations of a member of several; it does not exist for
// anyone else.
func (s *Server) billingHome(w http.ResponseWriter, r *http.Request, v *visit) error {
	ms, err := s.memberships(r.Context(), v)
	switch {
	case err != nil:
		return err
	case len(ms) == 0:
		return errNotFound
	case len(ms) == 1:
		return redirect(w, r, "/billing/"+url.PathEscape(ms[0].OrgID))
	}
	return s.render(w, r, v, http.StatusOK, "billing_orgs", ms)
}

// customerRow is one customer of the list, with its balance inquiry.
type customerRow struct {
	billing.Customer
	Balance billing.Balance
	Scale   int
}

// billingCustomersData is the billing home: one page of customers, newest
// first.
type billingCustomersData struct {
	Org       auth.Member
	Customers []customerRow
	Next      string // the next page's cursor; "" on the last page
	Later     bool   // not the first page
}

func (s *Server) billingCustomers(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	after, err := cursor(r)
	if err != nil {
		return err
	}
	list, bs, err := s.cfg.Billing.FindCustomerBalances(ctx, billingActor(v), billing.CustomerFilter{AfterID: after, Limit: dealsPageSize + 1})
	if err != nil {
		return err
	}
	list, next := page1(list, func(c billing.Customer) string { return c.ID })
	cur, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	d := billingCustomersData{Org: *v.member, Next: next, Later: after != ""}
	for i, c := range list {
		d.Customers = append(d.Customers, customerRow{Customer: c, Balance: bs[i], Scale: scaleOf(cur, c.Currency)})
	}
	return s.render(w, r, v, http.StatusOK, "billing_customers", d)
}

// billingCustomerData is a customer's page: its balance inquiry, one page
// of its live reservations, its invoices.
type billingCustomerData struct {
	Org          auth.Member
	Customer     billing.Customer
	Scale        int
	Balance      billing.Balance
	Reservations []billing.Reservation
	Next         string // the next page of reservations; "" on the last
	Later        bool
	Invoices     []billing.Invoice
}

func (s *Server) billingCustomer(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	after, err := cursor(r)
	if err != nil {
		return err
	}
	c, scale, err := s.billingCustomerOf(ctx, r, v)
	if err != nil {
		return err
	}
	b, err := s.cfg.Billing.FindBalance(ctx, billingActor(v), c.ID, 0)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Billing.FindReservations(ctx, billingActor(v), billing.ReservationFilter{CustomerID: c.ID, State: billing.StateActive,
		AfterID: after, Limit: dealsPageSize + 1})
	if err != nil {
		return err
	}
	rs, next := page1(rs, func(r billing.Reservation) string { return r.ID })
	d := billingCustomerData{Org: *v.member, Customer: c, Scale: scale, Balance: b, Reservations: rs, Next: next, Later: after != ""}
	if c.Mode == billing.Postpaid {
		if d.Invoices, err = s.cfg.Billing.FindInvoices(ctx, billingActor(v), billing.InvoiceFilter{CustomerID: c.ID, Limit: billing.PageLimitMax}); err != nil {
			return err
		}
	}
	return s.render(w, r, v, http.StatusOK, "billing_customer", d)
}

// billingCustomerOf reads the customer the path names ({id}) as the
// member's organization, and its currency's scale. Errors: not_found.
func (s *Server) billingCustomerOf(ctx context.Context, r *http.Request, v *visit) (billing.Customer, int, error) {
	c, err := s.cfg.Billing.FindCustomerByID(ctx, billingActor(v), r.PathValue("id"))
	if err != nil {
		return billing.Customer{}, 0, err
	}
	cur, err := s.currencies(ctx)
	if err != nil {
		return billing.Customer{}, 0, err
	}
	return c, scaleOf(cur, c.Currency), nil
}

// billingStatementData is a customer's statement page for one month.
type billingStatementData struct {
	Org       auth.Member
	Customer  billing.Customer
	Scale     int
	Month     string // "2026-03": the month shown, a UTC calendar month
	Prev      string // the months before and after, for the links
	Next      string
	Statement billing.Statement
	Error     message // why there are no rows to show (too many)
}

// statementMonth reads ?month=YYYY-MM, by default the current month (UTC,
// as invoices count months), and returns it with its bounds.
func (s *Server) statementMonth(r *http.Request) (month string, p billing.StatementParams, err error) {
	month = r.URL.Query().Get("month")
	if month == "" {
		month = s.cfg.Clock().UTC().Format(billing.PeriodLayout)
	}
	p.From, p.To, err = billing.ParsePeriod(month)
	if err != nil {
		return "", p, errBadForm(err)
	}
	p.CustomerID = r.PathValue("id")
	return month, p, nil
}

func (s *Server) billingStatement(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	c, scale, err := s.billingCustomerOf(ctx, r, v)
	if err != nil {
		return err
	}
	month, p, err := s.statementMonth(r)
	if err != nil {
		return err
	}
	d := billingStatementData{Org: *v.member, Customer: c, Scale: scale, Month: month,
		Prev: p.From.AddDate(0, -1, 0).Format(billing.PeriodLayout), Next: p.To.Format(billing.PeriodLayout)}
	status := http.StatusOK
	d.Statement, err = s.cfg.Billing.FindStatement(ctx, billingActor(v), p)
	if apperr.Is(err, apperr.CodeInvalid) {
		// More rows than one statement holds: say so on the page.
		d.Statement, d.Error, status = billing.Statement{From: p.From, To: p.To}, msg(msgStatementTooLong, billing.StatementRowsMax), http.StatusBadRequest
	} else if err != nil {
		return err
	}
	return s.render(w, r, v, status, "billing_statement", d)
}

// billingStatementCSV downloads the statement page's rows as CSV
// (billing.WriteStatementCSV: amounts in minor units, times in UTC).
func (s *Server) billingStatementCSV(w http.ResponseWriter, r *http.Request, v *visit) error {
	month, p, err := s.statementMonth(r)
	if err != nil {
		return err
	}
	st, err := s.cfg.Billing.FindStatement(r.Context(), billingActor(v), p)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := billing.WriteStatementCSV(&buf, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
		map[string]string{"filename": "kinko-statement-" + st.CustomerID + "-" + month + ".csv"}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, err = w.Write(buf.Bytes())
	return err
}

// Names of billing's codes in the catalogs.
var (
	billingModeNames = map[billing.Mode]msgKey{
		billing.Prepaid:  msgBillingPrepaid,
		billing.Postpaid: msgBillingPostpaid,
	}
	statementKindNames = map[billing.StatementKind]msgKey{
		billing.StatementCharge:  msgStatementCharge,
		billing.StatementHold:    msgStatementHold,
		billing.StatementRelease: msgStatementRelease,
		billing.StatementTopUp:   msgStatementTopUp,
	}
)

func billingModeName(m billing.Mode) message            { return named(billingModeNames, m) }
func statementKindName(k billing.StatementKind) message { return named(statementKindNames, k) }
