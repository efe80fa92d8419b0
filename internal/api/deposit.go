package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// Deposits are credits to the operator's bank account, recorded and matched
// to deals by payment reference. They are the operator's alone: only its
// admin key reads or writes them here, one credit at a time (POST
// /v1/deposits) or a whole bank statement file (POST /v1/deposits/imports).

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

// depositApply is the body of POST /v1/deposits/{id}/apply.
type depositApply struct {
	Deal string `json:"deal"`
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
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.RecordDepositResult, error) {
		d, replayed, err := svc.RecordDeposit(ctx, dealActor(p), params)
		return escrow.RecordDepositResult{Deposit: d, Replayed: replayed}, renameParam(err, depositCreateParams)
	}, func(w http.ResponseWriter, res escrow.RecordDepositResult) error {
		status := http.StatusCreated
		if res.Replayed {
			status = http.StatusOK
		}
		return writeJSON(w, status, toDeposit(res.Deposit))
	})
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

// onDeposit checks a step of staff's on the deposit the path names: the
// operator's admin keys only; it decodes the body into in and returns the
// service and the deposit's id.
func (s *Server) onDeposit(r *http.Request, p auth.Principal, what string, in any) (*escrow.Service, string, error) {
	if err := requireOperator(p, what); err != nil {
		return nil, "", err
	}
	svc, err := s.escrowService()
	if err != nil {
		return nil, "", err
	}
	id, err := pathTextID(prefixDeposit, "deposit", r.PathValue("id"))
	if err != nil {
		return nil, "", err
	}
	if err := decode(r, in); err != nil {
		return nil, "", err
	}
	return svc, id, nil
}

// clearDeposit closes a deposit's review with a note saying what was done.
func (s *Server) clearDeposit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in depositClear
	svc, id, err := s.onDeposit(r, p, "clear deposits", &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.Deposit, error) {
		return svc.ClearDeposit(ctx, dealActor(p), id, in.Note)
	}, rendered(http.StatusOK, toDeposit))
}

// applyDeposit credits a deposit that went to suspense to a deal awaiting
// payment (escrow.Service.ApplyDeposit), and answers the deposit.
func (s *Server) applyDeposit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in depositApply
	svc, id, err := s.onDeposit(r, p, "apply deposits", &in)
	if err != nil {
		return err
	}
	deal, err := parseTextID(prefixDeal, in.Deal, "deal")
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.ApplyDepositResult, error) {
		d, deal, err := svc.ApplyDeposit(ctx, dealActor(p), id, deal)
		return escrow.ApplyDepositResult{Deposit: d, Deal: deal}, err
	}, func(w http.ResponseWriter, res escrow.ApplyDepositResult) error {
		return writeJSON(w, http.StatusOK, toDeposit(res.Deposit))
	})
}

// returnDeposit books the return to the payer of what a deposit left in
// suspense (escrow.Service.ReturnDeposit). The body is a note, as for
// clear.
func (s *Server) returnDeposit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in depositClear
	svc, id, err := s.onDeposit(r, p, "return deposits", &in)
	if err != nil {
		return err
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.Deposit, error) {
		return svc.ReturnDeposit(ctx, dealActor(p), id, in.Note)
	}, rendered(http.StatusOK, toDeposit))
}

// Bounds of a statement import. The file travels in base64 inside the JSON
// body, so the route's body bound is the file's in base64 and a little for
// the rest of the body.
const (
	ImportFileBytesMax = 8 << 20 // 8 MiB of statement file (about 41,000 Zengin records)
	importBodySlackMax = 1 << 10 // the JSON around the file
	ImportBodyBytesMax = (ImportFileBytesMax+2)/3*4 + importBodySlackMax
)

// importFormats are the statement formats POST /v1/deposits/imports reads.
var importFormats = map[string]bool{escrow.FormatZengin: true, escrow.FormatCamt053: true}

// depositImport is the body of POST /v1/deposits/imports.
type depositImport struct {
	Format string `json:"format"`
	File   string `json:"file"` // standard base64, padded (RFC 4648 §4)
}

// file checks the format and decodes the file.
func (in depositImport) file() ([]byte, error) {
	if !importFormats[in.Format] {
		return nil, invalid("format", "format is zengin (Zengin 入出金取引明細) or camt053 (ISO 20022 camt.053)")
	}
	if in.File == "" {
		return nil, invalid("file", "file is required: the statement file's bytes in base64")
	}
	data, err := base64.StdEncoding.DecodeString(in.File)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return nil, invalid("file", "file is not standard padded base64 (RFC 4648 §4): bad data at byte %d", int64(corrupt))
		}
		return nil, invalid("file", "file is not standard padded base64 (RFC 4648 §4)")
	}
	if len(data) > ImportFileBytesMax {
		// Only base64 broken by line feeds gets past the body bound this far.
		return nil, invalid("file", "the file is %d bytes, more than the %d MiB an import may have", len(data), ImportFileBytesMax>>20)
	}
	return data, nil
}

// depositImportJSON is escrow.ImportReport: what an import did with each
// entry of the file.
type depositImportJSON struct {
	Object      string            `json:"object"` // "deposit_import"
	Format      string            `json:"format"`
	Entries     int               `json:"entries"`
	Withdrawals int               `json:"withdrawals"`
	Replayed    int               `json:"replayed"`
	Counts      depositCountsJSON `json:"counts"`
	Deposits    []depositJSON     `json:"deposits"`
}

// depositCountsJSON counts the credits this import recorded, by status;
// replays are counted apart.
type depositCountsJSON struct {
	Matched   int `json:"matched"`
	Partial   int `json:"partial"`
	Overpaid  int `json:"overpaid"`
	Unmatched int `json:"unmatched"`
	Late      int `json:"late"`
	Duplicate int `json:"duplicate"`
}

func toDepositImport(format string, rep escrow.ImportReport) depositImportJSON {
	out := depositImportJSON{Object: "deposit_import", Format: format, Entries: rep.Entries, Withdrawals: rep.Withdrawals,
		Replayed: rep.Replayed, Deposits: make([]depositJSON, len(rep.Deposits)),
		Counts: depositCountsJSON{Matched: rep.Statuses[escrow.DepositMatched], Partial: rep.Statuses[escrow.DepositPartial],
			Overpaid: rep.Statuses[escrow.DepositOverpaid], Unmatched: rep.Statuses[escrow.DepositUnmatched], Late: rep.Statuses[escrow.DepositLate],
			Duplicate: rep.Statuses[escrow.DepositDuplicate]}}
	for i, d := range rep.Deposits {
		out.Deposits[i] = toDeposit(d)
	}
	return out
}

// importDeposits records every credit of a bank statement file, as
// escrow.ImportStatement does: each credit in its own transaction, so a
// file imported again (or an import cut short, imported again) replays
// what was recorded and records the rest.
func (s *Server) importDeposits(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "import bank statements"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in depositImport
	if err := decode(r, &in); err != nil {
		return err
	}
	data, err := in.file()
	if err != nil {
		return err
	}
	rep, err := svc.ImportStatement(r.Context(), dealActor(p), in.Format, data, nil)
	if err != nil {
		return fileError(err)
	}
	return writeJSON(w, http.StatusOK, toDepositImport(in.Format, rep))
}

// fileError names the file as the offending input of an import refused as
// invalid or conflict. An invalid file's own param, the record and field
// ("record 3: 取引金額 (amount)"), leads the detail; a conflict (an entry
// recorded before with another amount) names the entry in its message.
func fileError(err error) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case apperr.CodeInvalid:
		msg := ae.Message
		if ae.Param != "" && ae.Param != "file" {
			msg = fmt.Sprintf("%s: %s", ae.Param, ae.Message)
		}
		return &apperr.Error{Code: apperr.CodeInvalid, Param: "file", Message: msg, Err: err}
	case apperr.CodeConflict:
		return &apperr.Error{Code: apperr.CodeConflict, Param: "file", Message: ae.Message, Err: err}
	}
	return err
}
