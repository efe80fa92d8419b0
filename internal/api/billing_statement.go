package api

import (
	"bytes"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
)

// statementJSON is a customer's statement for [from, to): every ledger
// transfer of its account with the running totals after each, read at
// once.
type statementJSON struct {
	Object          string             `json:"object"` // "billing_statement"
	Customer        string             `json:"customer"`
	Currency        string             `json:"currency"`
	From            time.Time          `json:"from"`
	To              time.Time          `json:"to"`
	OpeningBalance  moneyJSON          `json:"opening_balance"`
	OpeningReserved moneyJSON          `json:"opening_reserved"`
	ClosingBalance  moneyJSON          `json:"closing_balance"`
	ClosingReserved moneyJSON          `json:"closing_reserved"`
	Rows            []statementRowJSON `json:"rows"`
}

// statementRowJSON is one row of a statement.
type statementRowJSON struct {
	Transfer    string                `json:"transfer"`
	At          time.Time             `json:"at"`
	Kind        billing.StatementKind `json:"kind"`
	Amount      moneyJSON             `json:"amount"`
	Balance     moneyJSON             `json:"balance"`  // posted, after the row
	Reserved    moneyJSON             `json:"reserved"` // held, after the row
	Released    moneyJSON             `json:"released"`
	Reservation *string               `json:"reservation"` // null when the row names none
	AuthNumber  *string               `json:"auth_number"`
	Charge      *string               `json:"charge"`
	Reference   string                `json:"reference"` // the caller's, of a charge or top-up; "" otherwise
	Description string                `json:"description"`
}

func toStatement(st billing.Statement) statementJSON {
	m := func(v int64) moneyJSON { return moneyJSON{Amount: v, Currency: st.Currency} }
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out := statementJSON{Object: "billing_statement", Customer: st.CustomerID, Currency: st.Currency, From: st.From.UTC(), To: st.To.UTC(),
		OpeningBalance: m(st.OpeningBalance), OpeningReserved: m(st.OpeningReserved), ClosingBalance: m(st.ClosingBalance),
		ClosingReserved: m(st.ClosingReserved), Rows: make([]statementRowJSON, len(st.Rows))}
	for i, r := range st.Rows {
		out.Rows[i] = statementRowJSON{Transfer: formatID(prefixTransfer, r.TransferID), At: r.At.UTC(), Kind: r.Kind, Amount: m(r.Amount),
			Balance: m(r.Balance), Reserved: m(r.Reserved), Released: m(r.Released), Reservation: orNull(r.ReservationID),
			AuthNumber: orNull(r.AuthNumber), Charge: orNull(r.ChargeID), Reference: r.Reference, Description: r.Description}
	}
	return out
}

// statementCSVType is the media type of a statement as CSV.
const statementCSVType = "text/csv; charset=utf-8"

// getStatement answers a customer's statement for ?from=&to= (RFC 3339) or
// ?period=YYYY-MM, as JSON, or as CSV (billing.WriteStatementCSV) with
// ?format=csv or an Accept header that prefers text/csv.
func (s *Server) getStatement(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	svc, id, err := s.onBillingCustomer(r, p, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, to, name, err := statementPeriod(q)
	if err != nil {
		return err
	}
	asCSV, err := statementAsCSV(q.Get("format"), r.Header.Values("Accept"))
	if err != nil {
		return err
	}
	st, err := svc.FindStatement(r.Context(), billingActor(p), billing.StatementParams{CustomerID: id, From: from, To: to})
	if err != nil {
		if q.Get("period") != "" {
			// The caller named a month, not from and to.
			return renameParam(err, map[string]string{"from": "period", "to": "period"})
		}
		return err
	}
	w.Header().Set("Vary", "Accept")
	if !asCSV {
		return writeJSON(w, http.StatusOK, toStatement(st))
	}
	var buf bytes.Buffer
	if err := billing.WriteStatementCSV(&buf, st); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", statementCSVType)
	h.Set("Content-Disposition", `attachment; filename="statement-`+id+"-"+name+`.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// statementFileTime is how from and to stand in a CSV file's name.
const statementFileTime = "20060102T150405Z"

// statementPeriod reads a statement's period: from and to (RFC 3339), or
// period (a calendar month, UTC), never both; name is how the period stands
// in a file name.
func statementPeriod(q url.Values) (from, to time.Time, name string, err error) {
	if period := q.Get("period"); period != "" {
		if q.Has("from") || q.Has("to") {
			return from, to, "", invalid("period", "give period or from and to, not both")
		}
		from, to, err = billing.ParsePeriod(period)
		return from, to, period, err
	}
	for _, f := range []struct {
		param string
		dst   *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := q.Get(f.param)
		if v == "" {
			return from, to, "", invalid(f.param, "%s is required (an RFC 3339 time), or give period=YYYY-MM", f.param)
		}
		if *f.dst, err = time.Parse(time.RFC3339, v); err != nil {
			return from, to, "", invalid(f.param, "%s must be an RFC 3339 time, such as 2026-11-01T00:00:00Z", f.param)
		}
	}
	return from, to, from.UTC().Format(statementFileTime) + "-" + to.UTC().Format(statementFileTime), nil
}

// statementAsCSV decides the statement's form: format=csv or json when
// given; otherwise CSV only when accept ranks text/csv above
// application/json (by q; a type not named counts 0, so a tie is JSON).
func statementAsCSV(format string, accept []string) (bool, error) {
	switch format {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, invalid("format", "format is json or csv")
	}
	q := map[string]float64{}
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			weight := 1.0
			if v, ok := params["q"]; ok {
				if weight, err = strconv.ParseFloat(v, 64); err != nil {
					continue
				}
			}
			if _, seen := q[mt]; !seen {
				q[mt] = weight
			}
		}
	}
	return q["text/csv"] > q["application/json"], nil
}
