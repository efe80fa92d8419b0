package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// A provider organization's key, with the billing scopes, acts on its own
// billing customers as billing.OrgActor; another organization's customers
// and reservations are not found. The operator's key acts the same way on
// the operator's own customers.

// billingCustomerJSON is a billing customer as every read shows it, and as
// billing.customer.* events carry it.
type billingCustomerJSON struct {
	Object      string       `json:"object"` // "billing_customer"
	ID          string       `json:"id"`
	Reference   string       `json:"reference"`
	Mode        billing.Mode `json:"mode"`
	Currency    string       `json:"currency"`
	CreditLimit moneyJSON    `json:"credit_limit"` // 0 for prepaid
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

func toBillingCustomer(c billing.Customer) billingCustomerJSON {
	return billingCustomerJSON{Object: "billing_customer", ID: c.ID, Reference: c.Reference, Mode: c.Mode, Currency: c.Currency,
		CreditLimit: moneyJSON{Amount: c.CreditLimit, Currency: c.Currency}, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// CustomerEventData renders c as GET /v1/billing/customers/{id} shows it,
// for its events (billing.Config.Events).
func (EventEncoder) CustomerEventData(c billing.Customer) []byte {
	return eventData(toBillingCustomer(c))
}

var _ billing.EventEncoder = EventEncoder{}

// billingCustomerCreate is the body of POST /v1/billing/customers.
type billingCustomerCreate struct {
	Reference   string       `json:"reference"`
	Mode        billing.Mode `json:"mode"`
	Currency    string       `json:"currency"`
	CreditLimit *moneyJSON   `json:"credit_limit"`
}

type creditLimitBody struct {
	CreditLimit *moneyJSON `json:"credit_limit"`
}

type topUpCreate struct {
	Amount    *moneyJSON `json:"amount"`
	Reference string     `json:"reference"`
}

// topUpJSON is a prepaid top-up as the ledger recorded it, and as
// billing.top_up.created events carry it.
type topUpJSON struct {
	Object    string    `json:"object"` // "billing_top_up"
	Customer  string    `json:"customer"`
	Reference string    `json:"reference"`
	Amount    moneyJSON `json:"amount"`
	Transfer  string    `json:"transfer"`
	CreatedAt time.Time `json:"created_at"`
}

func toTopUp(t billing.TopUp, currency string) topUpJSON {
	return topUpJSON{Object: "billing_top_up", Customer: t.CustomerID, Reference: t.Reference,
		Amount: moneyJSON{Amount: t.Amount, Currency: currency}, Transfer: formatID(prefixTransfer, t.TransferID), CreatedAt: t.CreatedAt.UTC()}
}

// TopUpEventData renders t as POST /v1/billing/customers/{id}/top_ups
// answers it, for its event (billing.Config.Events).
func (EventEncoder) TopUpEventData(t billing.TopUp, currency string) []byte {
	return eventData(toTopUp(t, currency))
}

// billingBalanceJSON answers a balance inquiry.
type billingBalanceJSON struct {
	Object         string       `json:"object"` // "billing_balance"
	Customer       string       `json:"customer"`
	Mode           billing.Mode `json:"mode"`
	Limit          moneyJSON    `json:"limit"`
	Balance        moneyJSON    `json:"balance"`
	Used           moneyJSON    `json:"used"`
	Reserved       moneyJSON    `json:"reserved"`
	Available      moneyJSON    `json:"available"`
	Proposed       *moneyJSON   `json:"proposed"`        // null without proposed_amount
	RemainingAfter *moneyJSON   `json:"remaining_after"` // null without proposed_amount
	WouldBeRefused bool         `json:"would_be_refused"`
}

func toBillingBalance(b billing.Balance) billingBalanceJSON {
	m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: b.Currency} }
	out := billingBalanceJSON{Object: "billing_balance", Customer: b.CustomerID, Mode: b.Mode, Limit: m(b.Limit), Balance: m(b.Balance),
		Used: m(b.Used), Reserved: m(b.Reserved), Available: m(b.Available), WouldBeRefused: b.WouldBeRefused}
	if b.Proposed != 0 {
		p, r := m(b.Proposed), m(b.RemainingAfter)
		out.Proposed, out.RemainingAfter = &p, &r
	}
	return out
}

var errNoBilling = apperr.New(apperr.CodeUnready, "billing is not configured on this server")

// billingService returns the billing service once p holds the billing
// scope (write: billing:write), or unavailable on a server built without
// one (tests of other concerns).
func (s *Server) billingService(p auth.Principal, write bool) (*billing.Service, error) {
	if err := p.Require("billing", write); err != nil {
		return nil, err
	}
	if s.cfg.Billing == nil {
		return nil, errNoBilling
	}
	return s.cfg.Billing, nil
}

// onBillingCustomer starts every handler of /v1/billing/customers/{id}/…:
// the scope, the service and the customer's id from the path.
func (s *Server) onBillingCustomer(r *http.Request, p auth.Principal, write bool) (*billing.Service, string, error) {
	svc, err := s.billingService(p, write)
	if err != nil {
		return nil, "", err
	}
	id, err := pathTextID(prefixCustomer, "customer", r.PathValue("id"))
	if err != nil {
		return nil, "", err
	}
	return svc, id, nil
}

// customerAmount reads the customer a body names (param "customer") and
// the body's money (param) in that customer's currency.
func customerAmount(ctx context.Context, svc *billing.Service, p auth.Principal, customer string, m *moneyJSON, param string) (billing.Customer, int64, error) {
	id, err := parseTextID(prefixCustomer, customer, "customer")
	if err != nil {
		return billing.Customer{}, 0, err
	}
	c, err := svc.FindCustomerByID(ctx, billingActor(p), id)
	if err != nil {
		return billing.Customer{}, 0, err
	}
	amount, err := inCurrency(m, c.Currency, param)
	return c, amount, err
}

func billingActor(p auth.Principal) billing.Actor { return billing.OrgActor(p.OrgID) }

// inCurrency refuses an amount in another currency than cur.
func inCurrency(m *moneyJSON, cur, param string) (int64, error) {
	if m == nil {
		return 0, invalid(param, `%s is required: {"amount": 1000, "currency": "%s"}`, param, cur)
	}
	if m.Currency != cur {
		return 0, invalid(param+".currency", "%s must be in the customer's currency %s", param, cur)
	}
	return m.Amount, nil
}

func (s *Server) createBillingCustomer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, true)
	if err != nil {
		return err
	}
	var in billingCustomerCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	params := billing.CustomerParams{Reference: in.Reference, Mode: in.Mode, Currency: in.Currency}
	if in.CreditLimit != nil {
		if params.CreditLimit, err = inCurrency(in.CreditLimit, in.Currency, "credit_limit"); err != nil {
			return err
		}
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Customer, error) {
		return svc.CreateCustomer(ctx, billingActor(p), params)
	}, rendered(http.StatusCreated, toBillingCustomer))
}

func (s *Server) listBillingCustomers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, err := s.billingService(p, false)
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixCustomer)
	if err != nil {
		return err
	}
	cs, err := fetchPage(limit, after, func(c billing.Customer) string { return c.ID }, func(after string, n int) ([]billing.Customer, error) {
		return svc.FindCustomers(r.Context(), billingActor(p), billing.CustomerFilter{AfterID: after, Limit: n})
	})
	if err != nil {
		return err
	}
	out := make([]billingCustomerJSON, len(cs))
	for i, c := range cs {
		out[i] = toBillingCustomer(c)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

func (s *Server) getBillingCustomer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, false)
	if err != nil {
		return err
	}
	c, err := svc.FindCustomerByID(r.Context(), billingActor(p), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBillingCustomer(c))
}

// setBillingCreditLimit changes a postpaid customer's limit. The customer
// is read first for its currency, which never changes.
func (s *Server) setBillingCreditLimit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, true)
	if err != nil {
		return err
	}
	var in creditLimitBody
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := svc.FindCustomerByID(r.Context(), billingActor(p), id)
	if err != nil {
		return err
	}
	limit, err := inCurrency(in.CreditLimit, c.Currency, "credit_limit")
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Customer, error) {
		return svc.SetCreditLimit(ctx, billingActor(p), id, limit)
	}, rendered(http.StatusOK, toBillingCustomer))
}

// topUpBillingCustomer adds to a prepaid customer's balance; the customer
// is read first for its currency.
func (s *Server) topUpBillingCustomer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, true)
	if err != nil {
		return err
	}
	var in topUpCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := svc.FindCustomerByID(r.Context(), billingActor(p), id)
	if err != nil {
		return err
	}
	amount, err := inCurrency(in.Amount, c.Currency, "amount")
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.TopUp, error) {
		return svc.TopUp(ctx, billingActor(p), billing.TopUpParams{CustomerID: id, Amount: amount, Reference: in.Reference})
	}, func(w http.ResponseWriter, t billing.TopUp) error {
		return writeJSON(w, http.StatusCreated, toTopUp(t, c.Currency)) // a customer's currency never changes
	})
}

// getBillingBalance answers a balance inquiry, optionally for
// ?proposed_amount= in minor units of the customer's currency.
func (s *Server) getBillingBalance(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, false)
	if err != nil {
		return err
	}
	var proposed int64
	if v := r.URL.Query().Get("proposed_amount"); v != "" {
		if proposed, err = strconv.ParseInt(v, 10, 64); err != nil || proposed < 1 || proposed > billing.AmountMax {
			return invalid("proposed_amount", "proposed_amount is an amount in minor units, from 1 to %d", billing.AmountMax)
		}
	}
	b, err := svc.FindBalance(r.Context(), billingActor(p), id, proposed)
	if err != nil {
		return renameParam(err, map[string]string{"amount": "proposed_amount"})
	}
	return writeJSON(w, http.StatusOK, toBillingBalance(b))
}
