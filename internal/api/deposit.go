package api

import (
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// Deposits are credits to the operator's bank account, recorded and matched
// to deals by payment reference. They are the operator's alone: only its
// admin key reads or writes them here. Bank statement files (Zengin, camt)
// are imported elsewhere; this API records one credit at a time.

// valueDateLayout is how a deposit's value date is written: a calendar date.
const valueDateLayout = time.DateOnly

type depositJSON struct {
	Object      string               `json:"object"` // "deposit"
	ID          string               `json:"id"`
	Source      escrow.DepositSource `json:"source"`
	BankAccount string               `json:"bank_account"`
	BankRef     string               `json:"bank_ref"`
	Amount      moneyJSON            `json:"amount"`
	ValueDate   string               `json:"value_date"`
	PayerName   string               `json:"payer_name"`
	Remittance  string               `json:"remittance"`
	Deal        *string              `json:"deal"` // null when matched to none
	Status      escrow.DepositStatus `json:"status"`
	Applied     moneyJSON            `json:"applied"`
	Review      *escrow.Review       `json:"review"` // null: nothing for staff to do
	Note        string               `json:"note"`
	CreatedAt   time.Time            `json:"created_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
}

func toDeposit(d escrow.Deposit) depositJSON {
	out := depositJSON{Object: "deposit", ID: d.ID, Source: d.Source, BankAccount: d.BankAccount, BankRef: d.BankRef,
		Amount: moneyJSON{Amount: d.Amount, Currency: d.Currency}, ValueDate: d.ValueDate.UTC().Format(valueDateLayout),
		PayerName: d.PayerName, Remittance: d.Remittance, Status: d.Status, Applied: moneyJSON{Amount: d.Applied, Currency: d.Currency},
		Note: d.Note, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	if d.DealID != "" {
		id := d.DealID
		out.Deal = &id
	}
	if d.Review != escrow.ReviewNone {
		rv := d.Review
		out.Review = &rv
	}
	return out
}

// depositCreate is the body of POST /v1/deposits.
type depositCreate struct {
	BankAccount      string     `json:"bank_account"`
	BankRef          string     `json:"bank_ref"`
	Amount           *moneyJSON `json:"amount"`
	ValueDate        string     `json:"value_date"`
	PayerName        string     `json:"payer_name"`
	Remittance       string     `json:"remittance"`
	PaymentReference string     `json:"payment_reference"`
}

func (in depositCreate) params() (escrow.DepositParams, error) {
	if in.Amount == nil {
		return escrow.DepositParams{}, invalid("amount", `amount is required: {"amount": 1000, "currency": "JPY"}`)
	}
	if in.Amount.Currency == "" {
		return escrow.DepositParams{}, invalid("amount.currency", "amount.currency is required")
	}
	day, err := time.Parse(valueDateLayout, in.ValueDate)
	if err != nil {
		return escrow.DepositParams{}, invalid("value_date", "value_date is the date the bank credited the money, e.g. 2026-01-02")
	}
	return escrow.DepositParams{Source: escrow.SourceAPI, BankAccount: in.BankAccount, BankRef: in.BankRef,
		Currency: in.Amount.Currency, Amount: in.Amount.Amount, ValueDate: day, PayerName: in.PayerName,
		Remittance: in.Remittance, PaymentRef: in.PaymentReference}, nil
}

// depositCreateParams maps escrow.DepositParams' names, as the domain's
// errors give them, to the body's.
var depositCreateParams = map[string]string{"currency": "amount.currency", "payment_ref": "payment_reference"}

type depositClear struct {
	Note string `json:"note"`
}

// createDeposit records one credit to the operator's bank account and
// matches it: 201 with the new deposit, or 200 with the first record of the
// same bank_account and bank_ref, which changes nothing.
func (s *Server) createDeposit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "record deposits"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in depositCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	params, err := in.params()
	if err != nil {
		return err
	}
	d, replayed, err := svc.RecordDeposit(r.Context(), dealActor(p), params)
	if err != nil {
		return renameParam(err, depositCreateParams)
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	return writeJSON(w, status, toDeposit(d))
}

// Values of GET /v1/deposits?review=.
var depositReviews = map[string]escrow.Review{"open": escrow.ReviewOpen, "cleared": escrow.ReviewCleared}

// listDeposits pages through deposits, newest first, optionally only those
// whose review is ?review=open|cleared, or of one ?deal=.
func (s *Server) listDeposits(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "list deposits"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	limit, after, err := textPageParams(r, prefixDeposit)
	if err != nil {
		return err
	}
	var f escrow.DepositFilter
	if v := r.URL.Query().Get("review"); v != "" {
		rv, ok := depositReviews[v]
		if !ok {
			return invalid("review", "review is open or cleared")
		}
		f.Review = rv
	}
	if v := r.URL.Query().Get("deal"); v != "" {
		if f.DealID, err = parseTextID(prefixDeal, v, "deal"); err != nil {
			return err
		}
	}
	actor := dealActor(p)
	ds, err := fetchPage(limit, after, func(d escrow.Deposit) string { return d.ID }, func(after string, n int) ([]escrow.Deposit, error) {
		f.AfterID, f.Limit = after, n
		return svc.FindDeposits(r.Context(), actor, f)
	})
	if err != nil {
		return err
	}
	out := make([]depositJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeposit(d)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

// clearDeposit closes a deposit's review with a note saying what was done.
func (s *Server) clearDeposit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "clear deposits"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	id, err := pathTextID(prefixDeposit, "deposit", r.PathValue("id"))
	if err != nil {
		return err
	}
	var in depositClear
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := svc.ClearDeposit(r.Context(), dealActor(p), id, in.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDeposit(d))
}
