package api

import (
	"time"

	"github.com/kinko-pay/kinko/internal/billing"
)

// billingInvoiceJSON is a closed month of a postpaid customer, as
// billing.invoice.created events carry it. (The invoices have no route of
// their own yet.)
type billingInvoiceJSON struct {
	Object      string    `json:"object"` // "billing_invoice"
	ID          string    `json:"id"`
	Customer    string    `json:"customer"`
	Period      string    `json:"period"` // "2026-01"
	Total       moneyJSON `json:"total"`
	Count       int64     `json:"count"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"` // exclusive
	ClosedAt    time.Time `json:"closed_at"`
}

func toBillingInvoice(v billing.Invoice) billingInvoiceJSON {
	return billingInvoiceJSON{Object: "billing_invoice", ID: v.ID, Customer: v.CustomerID, Period: v.Period,
		Total: moneyJSON{Amount: v.Total, Currency: v.Currency}, Count: v.Count,
		PeriodStart: v.PeriodStart.UTC(), PeriodEnd: v.PeriodEnd.UTC(), ClosedAt: v.ClosedAt.UTC()}
}

// InvoiceEventData renders an invoice for its event: the object itself,
// as for every other event, not billing's fallback shape.
func (EventEncoder) InvoiceEventData(v billing.Invoice) []byte {
	return eventData(toBillingInvoice(v))
}

var _ billing.InvoiceEventEncoder = EventEncoder{}
