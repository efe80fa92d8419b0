package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// invoiceJSON is a postpaid customer's closed month, as every read shows it
// and as billing.invoice.created carries it.
type invoiceJSON struct {
	Object      string    `json:"object"` // "billing_invoice"
	ID          string    `json:"id"`
	Customer    string    `json:"customer"`
	Period      string    `json:"period"` // "2026-11"
	Total       moneyJSON `json:"total"`
	ChargeCount int64     `json:"charge_count"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"` // exclusive
	ClosedAt    time.Time `json:"closed_at"`
}

func toInvoice(inv billing.Invoice) invoiceJSON {
	return invoiceJSON{Object: "billing_invoice", ID: inv.ID, Customer: inv.CustomerID, Period: inv.Period,
		Total: moneyJSON{Amount: inv.Total, Currency: inv.Currency}, ChargeCount: inv.Count, PeriodStart: inv.PeriodStart.UTC(),
		PeriodEnd: inv.PeriodEnd.UTC(), ClosedAt: inv.ClosedAt.UTC()}
}

// InvoiceEventData renders inv as GET /v1/billing/customers/{id}/invoices
// lists it, for billing.invoice.created (billing.EventEncoder).
func (EventEncoder) InvoiceEventData(inv billing.Invoice) []byte {
	return eventData(toInvoice(inv))
}

// invoiceCreate is the body of POST /v1/billing/customers/{id}/invoices.
type invoiceCreate struct {
	Period string `json:"period"`
}

// closeInvoicePeriod closes a postpaid customer's month into its invoice.
// A repeat answers the same invoice, 201 as the first time: the answer to
// the same request does not depend on whether it ran before.
func (s *Server) closeInvoicePeriod(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, true)
	if err != nil {
		return err
	}
	var in invoiceCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (billing.Invoice, error) {
		inv, err := svc.ClosePeriod(ctx, billingActor(p), id, in.Period)
		return inv, renameParam(err, map[string]string{"customer_id": "id"})
	}, func(w http.ResponseWriter, inv billing.Invoice) error {
		return writeJSON(w, http.StatusCreated, toInvoice(inv))
	})
}

// listInvoices pages through a customer's invoices, newest period first;
// the cursor is the previous page's last invoice.
func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, false)
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixInvoice)
	if err != nil {
		return err
	}
	invs, err := fetchPage(limit, after, func(inv billing.Invoice) string { return inv.ID }, func(after string, n int) ([]billing.Invoice, error) {
		return svc.FindInvoices(r.Context(), billingActor(p), billing.InvoiceFilter{CustomerID: id, AfterID: after, Limit: n})
	})
	if err != nil {
		return err
	}
	out := make([]invoiceJSON, len(invs))
	for i, inv := range invs {
		out[i] = toInvoice(inv)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}
