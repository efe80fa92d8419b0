package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// The console's deposits page, for finance staff: credits that need a
// person (partial, overpaid, late or unmatched), each cleared with a note
// once handled, and the import of a bank statement file, whose credits are
// matched to deals by their payment reference.

// depositRow is a deposit with its currency's scale.
type depositRow struct {
	escrow.Deposit
	Scale int
}

// consoleDepositsData is the deposits page.
type consoleDepositsData struct {
	Deposits []depositRow
	Next     string
	Later    bool
	Formats  []string
	Error    message
	NoteMax  int
	FileMax  int // MiB
}

func (s *Server) consoleDeposits(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderDeposits(w, r, v, http.StatusOK, message{})
}

func (s *Server) renderDeposits(w http.ResponseWriter, r *http.Request, v *visit, status int, e message) error {
	after, err := cursor(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	list, err := s.cfg.Escrow.FindDeposits(ctx, staffActor(v.staff), escrow.DepositFilter{Review: escrow.ReviewOpen, AfterID: after, Limit: dealsPageSize + 1})
	if err != nil {
		return err
	}
	list, next := page1(list, func(d escrow.Deposit) string { return d.ID })
	rows, err := s.depositRows(r, list)
	if err != nil {
		return err
	}
	return s.render(w, at(r, "/console/deposits"), v, status, "console_deposits", consoleDepositsData{Deposits: rows, Next: next, Later: after != "",
		Formats: []string{escrow.FormatZengin, escrow.FormatCamt053}, Error: e, NoteMax: escrow.ReasonLenMax, FileMax: statementBytesMax >> 20})
}

func (s *Server) depositRows(r *http.Request, list []escrow.Deposit) ([]depositRow, error) {
	cur, err := s.currencies(r.Context())
	if err != nil {
		return nil, err
	}
	rows := make([]depositRow, len(list))
	for i, d := range list {
		rows[i] = depositRow{Deposit: d, Scale: scaleOf(cur, d.Currency)}
	}
	return rows, nil
}

// consoleClearDeposit closes a deposit's review with what staff did.
func (s *Server) consoleClearDeposit(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, err := s.cfg.Escrow.ClearDeposit(r.Context(), staffActor(v.staff), r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("note")))
	return s.afterDepositStep(w, r, v, "deposit-closed", err)
}

// afterDepositStep answers a step on a deposit: back to the queue with the
// notice, or the queue again saying why the step was refused.
func (s *Server) afterDepositStep(w http.ResponseWriter, r *http.Request, v *visit, notice string, err error) error {
	if err == nil {
		return redirect(w, r, "/console/deposits?notice="+notice)
	}
	m, status, ok := refusal(err)
	if !ok {
		return err
	}
	return s.renderDeposits(w, r, v, status, m)
}

// consoleApplyDeposit credits a deposit in suspense to the deal whose id
// staff typed (escrow.Service.ApplyDeposit).
func (s *Server) consoleApplyDeposit(w http.ResponseWriter, r *http.Request, v *visit) error {
	deal := strings.TrimSpace(r.PostForm.Get("deal"))
	_, _, err := s.cfg.Escrow.ApplyDeposit(r.Context(), staffActor(v.staff), r.PathValue("id"), deal)
	return s.afterDepositStep(w, r, v, "deposit-applied", err)
}

// consoleReturnDeposit books the return of what a deposit left in suspense,
// with staff's note (escrow.Service.ReturnDeposit).
func (s *Server) consoleReturnDeposit(w http.ResponseWriter, r *http.Request, v *visit) error {
	_, err := s.cfg.Escrow.ReturnDeposit(r.Context(), staffActor(v.staff), r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("note")))
	return s.afterDepositStep(w, r, v, "deposit-returned", err)
}

// importData is the report of an import.
type importData struct {
	Format   string
	FileName string
	Report   escrow.ImportReport
	Deposits []depositRow
	Counts   []importCount
	Error    message // the import stopped at an entry it could not record
}

// importCount is one line of the report.
type importCount struct {
	Label message
	N     int
}

// consoleImport reads an uploaded statement (already bounded by
// statementBytesMax and CSRF-checked) and records its credits. Each credit
// is its own transaction and a credit seen before changes nothing, so an
// import cut short is finished by uploading the file again.
func (s *Server) consoleImport(w http.ResponseWriter, r *http.Request, v *visit) error {
	format := r.PostForm.Get("format")
	file, hdr, err := r.FormFile("file")
	if err != nil {
		return s.renderDeposits(w, r, v, http.StatusBadRequest, msg(msgImportNoFile))
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, statementBytesMax+1))
	if err != nil {
		return fmt.Errorf("web: read the uploaded statement: %w", err)
	}
	if len(data) > statementBytesMax {
		return s.renderDeposits(w, r, v, http.StatusRequestEntityTooLarge, msg(msgImportTooLarge, statementBytesMax>>20))
	}
	rep, err := s.cfg.Escrow.ImportStatement(r.Context(), staffActor(v.staff), format, data, nil)
	status, stopped := http.StatusOK, message{}
	if err != nil {
		var ae *apperr.Error
		switch {
		case !errors.As(err, &ae) || ae.Code == apperr.CodeInternal:
			return err
		case ae.Code == apperr.CodeInvalid && ae.Param == "format":
			return s.renderDeposits(w, r, v, http.StatusBadRequest, fieldHints["format"])
		case ae.Code == apperr.CodeInvalid && rep.Entries == 0:
			// The file did not parse: nothing was recorded. The detail
			// (record and field) is the parser's, in English.
			return s.renderDeposits(w, r, v, http.StatusBadRequest, msg(msgImportBadFile, strings.TrimSpace(ae.Param+" "+ae.Message)))
		}
		// An entry was refused: those before it are recorded (each is its
		// own transaction), the rest are not; the report says which.
		status, stopped = http.StatusUnprocessableEntity, msg(msgImportStopped, len(rep.Deposits)+1, strings.TrimSpace(ae.Param+" "+ae.Message))
	}
	rows, err := s.depositRows(r, rep.Deposits)
	if err != nil {
		return err
	}
	d := importData{Format: format, FileName: hdr.Filename, Report: rep, Deposits: rows, Error: stopped}
	for _, st := range []escrow.DepositStatus{escrow.DepositMatched, escrow.DepositPartial, escrow.DepositOverpaid,
		escrow.DepositUnmatched, escrow.DepositLate, escrow.DepositDuplicate} {
		d.Counts = append(d.Counts, importCount{Label: depositStatusName(st), N: rep.Statuses[st]})
	}
	d.Counts = append(d.Counts, importCount{Label: msg(msgImportReplayed), N: rep.Replayed},
		importCount{Label: msg(msgImportWithdrawals), N: rep.Withdrawals})
	return s.render(w, at(r, "/console/deposits"), v, status, "console_import", d)
}
