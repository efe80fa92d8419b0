package web

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
)

// The console's payout pages, for finance staff: the batches, building one
// (every payee with a bank account and an available balance in a
// currency), a batch's items, its bank files (Zengin 総合振込, pain.001),
// settling it once the bank paid, and returning an item that came back.

// batchRow is a batch with its currency's scale.
type batchRow struct {
	escrow.PayoutBatch
	Scale int
}

// consolePayoutsData is the list of batches and the form that builds one.
type consolePayoutsData struct {
	Batches      []batchRow
	Next         string
	Later        bool
	Currencies   []money.Asset
	Currency     string
	TransferDate string // YYYY-MM-DD
	Error        message
}

func (s *Server) consolePayouts(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderPayoutBatches(w, r, v, http.StatusOK, message{}, "", "")
}

func (s *Server) renderPayoutBatches(w http.ResponseWriter, r *http.Request, v *visit, status int, e message, currency, date string) error {
	after, err := cursor(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	list, err := s.cfg.Escrow.FindPayoutBatches(ctx, staffActor(v.staff), after, dealsPageSize+1)
	if err != nil {
		return err
	}
	list, next := page1(list, func(b escrow.PayoutBatch) string { return b.ID })
	cur, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	if currency == "" {
		currency = "JPY"
	}
	if date == "" {
		// The next day in Japan: banks take a transfer file the day before.
		date = s.cfg.Clock().In(displayZone).AddDate(0, 0, 1).Format(time.DateOnly)
	}
	d := consolePayoutsData{Next: next, Later: after != "", Currencies: cur, Currency: currency, TransferDate: date, Error: e}
	for _, b := range list {
		d.Batches = append(d.Batches, batchRow{PayoutBatch: b, Scale: scaleOf(cur, b.Currency)})
	}
	return s.render(w, at(r, "/console/payouts"), v, status, "console_payouts", d)
}

// consoleBuildBatch builds a batch and shows it. Nothing to pay is said on
// the list, not as a missing page.
func (s *Server) consoleBuildBatch(w http.ResponseWriter, r *http.Request, v *visit) error {
	currency, date := r.PostForm.Get("currency"), r.PostForm.Get("transfer_date")
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return s.renderPayoutBatches(w, r, v, http.StatusBadRequest, fieldHints["transfer_date"], currency, date)
	}
	b, err := s.cfg.Escrow.BuildPayoutBatch(r.Context(), staffActor(v.staff), currency, day)
	if apperr.Is(err, apperr.CodeNotFound) {
		return s.renderPayoutBatches(w, r, v, http.StatusUnprocessableEntity, msg(msgPayoutNothing, currency), currency, date)
	}
	if m, status, ok := refusal(err); ok {
		return s.renderPayoutBatches(w, r, v, status, m, currency, date)
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/console/payouts/"+url.PathEscape(b.ID)+"?notice=batch-built")
}

// consolePayoutData is a batch's page.
type consolePayoutData struct {
	Batch     escrow.PayoutBatch
	Scale     int
	Formats   []string
	Error     message
	ReasonMax int
}

func (s *Server) consolePayout(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderPayoutBatch(w, r, v, http.StatusOK, message{})
}

func (s *Server) renderPayoutBatch(w http.ResponseWriter, r *http.Request, v *visit, status int, e message) error {
	ctx := r.Context()
	b, err := s.cfg.Escrow.FindPayoutBatch(ctx, staffActor(v.staff), r.PathValue("id"))
	if err != nil {
		return err
	}
	cur, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	formats := []string{escrow.FormatPain001}
	if b.Currency == "JPY" {
		formats = []string{escrow.FormatZengin, escrow.FormatPain001}
	}
	return s.render(w, at(r, "/console/payouts/"+b.ID), v, status, "console_payout", consolePayoutData{Batch: b, Scale: scaleOf(cur, b.Currency),
		Formats: formats, Error: e, ReasonMax: escrow.ReturnReasonMax})
}

// payoutFiles are the bank files of a batch: content type and file name
// extension by format.
var payoutFiles = map[string]struct{ contentType, ext string }{
	escrow.FormatZengin:  {"text/plain; charset=Shift_JIS", ".txt"},
	escrow.FormatPain001: {"application/xml", ".xml"},
}

// consoleExportBatch downloads a batch as a bank file, to upload to the
// bank. Writing it validates every field; a batch the format cannot carry
// (Zengin pays yen only) is refused on the batch's page.
func (s *Server) consoleExportBatch(w http.ResponseWriter, r *http.Request, v *visit) error {
	format := r.PathValue("format")
	f, ok := payoutFiles[format]
	if !ok {
		return errNotFound
	}
	id := r.PathValue("id")
	data, err := s.cfg.Escrow.ExportPayoutBatch(r.Context(), staffActor(v.staff), id, format)
	if m, status, ok := refusal(err); ok {
		return s.renderPayoutBatch(w, r, v, status, m)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "kinko-" + id + "-" + format + f.ext}))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, err = w.Write(data)
	return err
}

// consoleSettleBatch records that the bank paid the batch.
func (s *Server) consoleSettleBatch(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	_, err := s.cfg.Escrow.SettlePayoutBatch(r.Context(), staffActor(v.staff), id)
	return s.payoutBatchAction(w, r, v, err, "batch-settled")
}

// consoleReturnItem records that one payout came back from the bank.
func (s *Server) consoleReturnItem(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, err := s.cfg.Escrow.ReturnPayoutItem(r.Context(), staffActor(v.staff), r.PathValue("id"), r.PathValue("item"),
		strings.TrimSpace(r.PostForm.Get("reason")))
	return s.payoutBatchAction(w, r, v, err, "item-returned")
}

func (s *Server) payoutBatchAction(w http.ResponseWriter, r *http.Request, v *visit, err error, notice string) error {
	if err == nil {
		return redirect(w, r, "/console/payouts/"+url.PathEscape(r.PathValue("id"))+"?notice="+notice)
	}
	m, status, ok := refusal(err)
	if !ok {
		return err
	}
	return s.renderPayoutBatch(w, r, v, status, m)
}
