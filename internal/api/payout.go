package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// Payout batches pay what escrow owes payees, one bank file at a time: the
// operator builds a batch (every payee with a valid bank account and money
// available, up to escrow.PayoutItemsMax), downloads its Zengin 総合振込 or
// pain.001 file for the bank, returns the items the bank could not pay, and
// settles the batch when the bank has paid. They are the operator's alone:
// its admin key here (the console is the usual place; the API is for its
// automation and for black-box checks), finance or admin staff in the
// console.

// payoutBatchSummaryJSON is a batch without its items, as lists show it.
type payoutBatchSummaryJSON struct {
	Object       string             `json:"object"` // "payout_batch"
	ID           string             `json:"id"`
	Currency     string             `json:"currency"`
	TransferDate string             `json:"transfer_date"` // YYYY-MM-DD
	State        escrow.PayoutState `json:"state"`
	Total        moneyJSON          `json:"total"` // as built; returned items included
	Count        int                `json:"count"` // items as built
	CreatedAt    time.Time          `json:"created_at"`
	SettledAt    *time.Time         `json:"settled_at"`
}

// payoutBatchJSON is a batch with its items, in bank-file order.
type payoutBatchJSON struct {
	payoutBatchSummaryJSON
	// ReturnedCount and ReturnedTotal are the items that came back (振込不能):
	// total less ReturnedTotal is what the bank pays, or paid.
	ReturnedCount int              `json:"returned_count"`
	ReturnedTotal moneyJSON        `json:"returned_total"`
	Items         []payoutItemJSON `json:"items"`
}

type payoutItemJSON struct {
	Object      string                 `json:"object"` // "payout_item"
	ID          string                 `json:"id"`
	Seq         int                    `json:"seq"`
	Email       string                 `json:"email"`
	BankAccount bankAccountSummaryJSON `json:"bank_account"`
	Amount      moneyJSON              `json:"amount"`
	State       escrow.PayoutState     `json:"state"`
	Reason      string                 `json:"reason"` // why it came back; "" unless returned
	UpdatedAt   time.Time              `json:"updated_at"`
}

// bankAccountSummaryJSON is the account an item pays, as it was when the
// batch was built, with only the last four digits of its number.
type bankAccountSummaryJSON struct {
	BankCode           string             `json:"bank_code"`
	BranchCode         string             `json:"branch_code"`
	AccountType        escrow.AccountType `json:"account_type"`
	AccountNumberLast4 string             `json:"account_number_last4"`
	HolderName         string             `json:"holder_name"`
}

func toPayoutBatchSummary(b escrow.PayoutBatch) payoutBatchSummaryJSON {
	return payoutBatchSummaryJSON{Object: "payout_batch", ID: b.ID, Currency: b.Currency,
		TransferDate: b.TransferDate.UTC().Format(payoutDateLayout), State: b.State,
		Total: moneyJSON{Amount: b.Total, Currency: b.Currency}, Count: b.Count, CreatedAt: b.CreatedAt.UTC(),
		SettledAt: utcPtr(b.SettledAt)}
}

func toPayoutBatch(b escrow.PayoutBatch) payoutBatchJSON {
	out := payoutBatchJSON{payoutBatchSummaryJSON: toPayoutBatchSummary(b), Items: make([]payoutItemJSON, len(b.Items)),
		ReturnedTotal: moneyJSON{Currency: b.Currency}}
	for i, it := range b.Items {
		if it.State == escrow.PayoutReturned {
			out.ReturnedCount++
			out.ReturnedTotal.Amount += it.Amount
		}
		a := it.Account
		last4 := a.AccountNumber
		if len(last4) > 4 {
			last4 = last4[len(last4)-4:]
		}
		out.Items[i] = payoutItemJSON{Object: "payout_item", ID: it.ID, Seq: it.Seq, Email: a.Email,
			BankAccount: bankAccountSummaryJSON{BankCode: a.BankCode, BranchCode: a.BranchCode, AccountType: a.AccountType,
				AccountNumberLast4: last4, HolderName: a.HolderName},
			Amount: moneyJSON{Amount: it.Amount, Currency: b.Currency}, State: it.State, Reason: it.Reason, UpdatedAt: it.UpdatedAt.UTC()}
	}
	return out
}

// payoutDateLayout is how a batch's transfer date is written: a calendar date.
const payoutDateLayout = time.DateOnly

// payoutBatchCreate is the body of POST /v1/payout_batches.
type payoutBatchCreate struct {
	Currency     string `json:"currency"`
	TransferDate string `json:"transfer_date"`
}

// payoutBatchSettle is the body of POST /v1/payout_batches/{id}/settle: {}.
type payoutBatchSettle struct{}

// payoutItemReturn is the body of POST
// /v1/payout_batches/{id}/items/{item_id}/return.
type payoutItemReturn struct {
	Reason string `json:"reason"`
}

// Payout file formats of GET /v1/payout_batches/{id}/file, with how each is
// served.
var payoutFiles = map[string]struct{ contentType, ext string }{
	escrow.FormatZengin:  {"text/plain; charset=Shift_JIS", "txt"},
	escrow.FormatPain001: {"application/xml", "xml"},
}

// createPayoutBatch builds a batch of everything payable in the currency.
// Nothing to pay is nothing_to_pay (404): no batch is made.
func (s *Server) createPayoutBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "build payout batches"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in payoutBatchCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Currency == "" {
		return invalid("currency", "currency is required, e.g. JPY")
	}
	day, err := time.Parse(payoutDateLayout, in.TransferDate)
	if err != nil {
		return invalid("transfer_date", "transfer_date is the day the bank pays, e.g. 2026-01-09")
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.PayoutBatch, error) {
		b, err := svc.BuildPayoutBatch(ctx, dealActor(p), in.Currency, day)
		if apperr.Is(err, apperr.CodeNotFound) {
			return b, &apperr.Error{Code: codeNothingToPay, Err: err,
				Message: "nothing to pay in " + in.Currency + ": no payee with a valid bank account has money available"}
		}
		return b, renameParam(err, map[string]string{"accounts[0].asset": "currency"})
	}, rendered(http.StatusCreated, toPayoutBatch))
}

// listPayoutBatches pages through batches, newest first, without their items.
func (s *Server) listPayoutBatches(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "list payout batches"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixPayoutBatch)
	if err != nil {
		return err
	}
	actor := dealActor(p)
	bs, err := fetchPage(limit, after, func(b escrow.PayoutBatch) string { return b.ID }, func(after string, n int) ([]escrow.PayoutBatch, error) {
		return svc.FindPayoutBatches(r.Context(), actor, after, n)
	})
	if err != nil {
		return err
	}
	out := make([]payoutBatchSummaryJSON, len(bs))
	for i, b := range bs {
		out[i] = toPayoutBatchSummary(b)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

func (s *Server) getPayoutBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "read payout batches"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixPayoutBatch, "payout batch", r.PathValue("id"))
	if err != nil {
		return err
	}
	b, err := svc.FindPayoutBatch(r.Context(), dealActor(p), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toPayoutBatch(b))
}

// getPayoutFile answers the batch's bank file, as the bank takes it: every
// item not returned, in item order, as an attachment named after the batch.
func (s *Server) getPayoutFile(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "export payout batches"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixPayoutBatch, "payout batch", r.PathValue("id"))
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	kind, ok := payoutFiles[format]
	if !ok {
		return invalid("format", "format is zengin (Zengin 総合振込) or pain001 (ISO 20022 pain.001.001.09)")
	}
	data, err := svc.ExportPayoutBatch(r.Context(), dealActor(p), id, format)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", kind.contentType)
	h.Set("Content-Disposition", `attachment; filename="`+id+"-"+format+"."+kind.ext+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(data)
	return err
}

// settlePayoutBatch records that the bank paid the batch.
func (s *Server) settlePayoutBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "settle payout batches"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixPayoutBatch, "payout batch", r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := decode(r, &payoutBatchSettle{}); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.PayoutBatch, error) {
		return svc.SettlePayoutBatch(ctx, dealActor(p), id)
	}, rendered(http.StatusOK, toPayoutBatch))
}

// returnPayoutItem records that the bank could not pay one item (振込不能):
// its money is available to the payee again, and their bank account is
// marked invalid until it is registered again.
func (s *Server) returnPayoutItem(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "return payout items"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixPayoutBatch, "payout batch", r.PathValue("id"))
	if err != nil {
		return err
	}
	itemID, err := pathTextID(prefixPayoutItem, "payout item", r.PathValue("item_id"))
	if err != nil {
		return err
	}
	var in payoutItemReturn
	if err := decode(r, &in); err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.PayoutBatch, error) {
		return svc.ReturnPayoutItem(ctx, dealActor(p), id, itemID, in.Reason)
	}, rendered(http.StatusOK, toPayoutBatch))
}
