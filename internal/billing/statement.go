package billing

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// Bounds of a statement: it is read whole, at once.
const (
	// StatementPeriodMax is the longest period one statement covers (a
	// calendar month fits).
	StatementPeriodMax = 31 * 24 * time.Hour
	// StatementRowsMax bounds the rows of one statement; a period with
	// more is refused (ask for a shorter one).
	StatementRowsMax = 10_000
)

// StatementKind names a statement row.
type StatementKind string

const (
	StatementCharge  StatementKind = "charge"  // money taken: a direct charge, or a charge against a reservation
	StatementHold    StatementKind = "hold"    // money reserved (a reservation, an increment, the rest held after a partial charge)
	StatementRelease StatementKind = "release" // a hold let go (cancel, expiry, the end of a session, a final charge's rest)
	StatementTopUp   StatementKind = "top_up"  // money added to a prepaid balance
)

// StatementRow is one ledger transfer of the customer's account, with the
// running totals after it.
type StatementRow struct {
	TransferID int64
	At         time.Time
	Kind       StatementKind
	Amount     int64
	// Balance is the posted balance after the row (credits less debits:
	// a prepaid customer's funds, the negative of a postpaid customer's
	// usage); Reserved is what holds keep after it.
	Balance  int64
	Reserved int64
	// Released is what the row let go of a hold: a release's whole hold;
	// for a charge against a reservation, the part of the hold it did not
	// take (held anew by the next row unless the charge was final).
	Released      int64
	ReservationID string
	AuthNumber    string
	ChargeID      string
	Reference     string // the caller's reference of the charge or top-up
	Description   string
}

// Statement is a customer's account over [From, To).
type Statement struct {
	CustomerID      string
	Currency        string
	From, To        time.Time
	OpeningBalance  int64
	OpeningReserved int64
	ClosingBalance  int64
	ClosingReserved int64
	Rows            []StatementRow
}

// StatementParams asks for a statement. From and To are required, To after
// From, at most StatementPeriodMax apart.
type StatementParams struct {
	CustomerID string
	From, To   time.Time
}

// FindStatement reads a customer's statement for a period, at once, from
// the ledger's transfers of the customer's account (every charge, hold,
// release and top-up) with running totals, described from billing's rows.
//
// Errors: forbidden, invalid (from, to; a period of more than
// StatementRowsMax rows), not_found.
func (s *Service) FindStatement(ctx context.Context, actor Actor, p StatementParams) (Statement, error) {
	if p.From.IsZero() || p.To.IsZero() || !p.To.After(p.From) {
		return Statement{}, apperr.Invalid("to", "a period: from before to")
	}
	if p.To.Sub(p.From) > StatementPeriodMax {
		return Statement{}, apperr.Invalid("to", "a period of at most %d days", int(StatementPeriodMax/(24*time.Hour)))
	}
	from, to := p.From.UTC().Truncate(time.Microsecond), p.To.UTC().Truncate(time.Microsecond)
	c, err := s.FindCustomerByID(ctx, actor, p.CustomerID)
	if err != nil {
		return Statement{}, err
	}
	st, err := s.statement(ctx, c, from, to)
	if err != nil {
		return Statement{}, fmt.Errorf("billing: statement of customer %s: %w", c.ID, err)
	}
	return st, nil
}

func (s *Service) statement(ctx context.Context, c Customer, from, to time.Time) (Statement, error) {
	st := Statement{CustomerID: c.ID, Currency: c.Currency, From: from, To: to}
	var trs []ledger.Transfer
	for after := int64(0); ; {
		page, err := s.cfg.Store.TransferList(ctx, ledger.TransferQuery{Owner: LedgerOwner, AccountID: c.AccountID,
			CreatedFrom: from, CreatedBefore: to, AfterID: after, Limit: ledger.PageLimitMax})
		if err != nil {
			return st, err
		}
		trs = append(trs, page...)
		if len(trs) > StatementRowsMax {
			return st, apperr.Invalid("to", "the period holds more than %d rows; ask for a shorter one", StatementRowsMax)
		}
		if len(page) < ledger.PageLimitMax {
			break
		}
		after = page[len(page)-1].ID
	}
	// In the order they happened: ids are handed out in blocks per node, so
	// with several nodes id order is not time order. A change's transfers
	// share its time and keep their id order; a change that depends on
	// another (a charge on a hold) starts after that one committed, so it
	// comes after it (unless the nodes' clocks disagree by more than the
	// time between them).
	slices.SortStableFunc(trs, func(a, b ledger.Transfer) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	// The opening totals are the account's just before from.
	open, err := s.cfg.Store.BalanceAt(ctx, c.AccountID, from.Add(-time.Microsecond))
	if err != nil {
		return st, err
	}
	st.OpeningBalance, st.OpeningReserved = open.CreditsPosted-open.DebitsPosted, open.DebitsPending
	charges := map[int64]Charge{}
	if len(trs) > 0 {
		for after := ""; ; {
			page, err := s.cfg.Store.ChargeList(ctx, ChargeFilter{CustomerID: c.ID, CreatedFrom: from, CreatedBefore: to, AfterID: after, Limit: PageLimitMax})
			if err != nil {
				return st, err
			}
			for _, ch := range page {
				charges[ch.TransferID] = ch
			}
			if len(page) < PageLimitMax || len(charges) > StatementRowsMax {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	pending := map[int64]int64{} // hold id → amount, of this period's holds
	auth := map[string]string{}  // reservation id → auth number
	bal, rsv := st.OpeningBalance, st.OpeningReserved
	st.Rows = make([]StatementRow, 0, len(trs))
	for _, t := range trs {
		row := StatementRow{TransferID: t.ID, At: t.CreatedAt}
		switch t.Kind {
		case ledger.KindImmediate:
			row.Amount = t.Amount
			if t.DebitAccountID == c.AccountID {
				row.Kind, bal = StatementCharge, bal-t.Amount
			} else {
				row.Kind, bal = StatementTopUp, bal+t.Amount
			}
		case ledger.KindPending:
			row.Kind, row.Amount, rsv = StatementHold, t.Amount, rsv+t.Amount
			pending[t.ID] = t.Amount
		case ledger.KindPost, ledger.KindVoid, ledger.KindExpire:
			held, ok := pending[t.PendingID]
			if !ok {
				h, err := s.cfg.Store.TransferByID(ctx, t.PendingID)
				if err != nil {
					return st, err
				}
				held = h.Amount
			}
			rsv -= held
			if t.Kind == ledger.KindPost {
				row.Kind, row.Amount, row.Released, bal = StatementCharge, t.Amount, held-t.Amount, bal-t.Amount
			} else {
				row.Kind, row.Amount, row.Released = StatementRelease, held, held
			}
		default:
			return st, fmt.Errorf("transfer %d of kind %q: not a billing transfer", t.ID, t.Kind)
		}
		row.Balance, row.Reserved = bal, rsv
		if err := s.describe(ctx, &row, t, charges, auth); err != nil {
			return st, err
		}
		st.Rows = append(st.Rows, row)
	}
	st.ClosingBalance, st.ClosingReserved = bal, rsv
	return st, nil
}

// describe fills a row's names and description from the transfer's
// reference ("billing:<rsv or chg id>:…", "billing:topup:<org>:<ref>") and
// billing's rows.
func (s *Service) describe(ctx context.Context, row *StatementRow, t ledger.Transfer, charges map[int64]Charge, auth map[string]string) error {
	parts := strings.SplitN(t.Reference, ":", 4)
	if ch, ok := charges[t.ID]; ok {
		row.ChargeID, row.Reference, row.ReservationID, row.AuthNumber = ch.ID, ch.Reference, ch.ReservationID, ch.AuthNumber
	} else if len(parts) >= 2 && strings.HasPrefix(parts[1], "rsv_") {
		row.ReservationID = parts[1]
	} else if len(parts) == 4 && parts[1] == "topup" {
		row.Reference = parts[3]
	}
	if row.ReservationID != "" && row.AuthNumber == "" {
		n, ok := auth[row.ReservationID]
		if !ok {
			r, err := s.cfg.Store.ReservationByID(ctx, row.ReservationID)
			if err != nil {
				return err
			}
			n = r.AuthNumber
			auth[row.ReservationID] = n
		}
		row.AuthNumber = n
	}
	switch {
	case row.Kind == StatementTopUp:
		row.Description = "top-up " + row.Reference
	case row.Kind == StatementCharge && row.AuthNumber != "":
		row.Description = "charge against reservation " + row.AuthNumber
	case row.Kind == StatementCharge:
		row.Description = "direct charge " + row.Reference
	case row.Kind == StatementHold:
		row.Description = "hold on reservation " + row.AuthNumber
	default:
		row.Description = "release of reservation " + row.AuthNumber
	}
	row.Description = strings.TrimSpace(row.Description)
	return nil
}

// StatementCSVHeader is the header row WriteStatementCSV writes.
var StatementCSVHeader = []string{"transfer_id", "at", "kind", "amount", "currency", "balance", "reserved",
	"released", "reservation_id", "auth_number", "charge_id", "reference", "description"}

// WriteStatementCSV writes st's rows as CSV (RFC 4180: CRLF line ends,
// fields quoted when they hold a comma, quote or line break) after a
// header row. Amounts are minor units; times RFC 3339 UTC. A field a
// spreadsheet would read as a formula (it starts with =, +, - or @ and is
// not a number) is prefixed with a single quote.
func WriteStatementCSV(w io.Writer, st Statement) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(StatementCSVHeader); err != nil {
		return err
	}
	for _, r := range st.Rows {
		rec := []string{strconv.FormatInt(r.TransferID, 10), r.At.UTC().Format(time.RFC3339Nano), string(r.Kind),
			strconv.FormatInt(r.Amount, 10), st.Currency, strconv.FormatInt(r.Balance, 10), strconv.FormatInt(r.Reserved, 10),
			strconv.FormatInt(r.Released, 10), r.ReservationID, r.AuthNumber, r.ChargeID, csvSafe(r.Reference), csvSafe(r.Description)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a caller's text from being run as a spreadsheet formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
