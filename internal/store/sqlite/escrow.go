package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/store"
)

var (
	_ escrow.Store = (*DB)(nil)
	_ escrow.Tx    = (*txn)(nil)
)

const dealCols = "id, org_id, external_ref, title, description, currency, scale, price, shipping_fee, fee, fee_payer, " +
	"buyer_fee, amount_due, amount_paid, released, refunded, fee_taken, payment_method, payment_ref, " +
	"seller_email, seller_user_id, seller_locale, buyer_email, buyer_user_id, buyer_locale, state, " +
	"pay_within_days, ship_within_days, inspection_days, due_at, carrier, tracking_number, milestones, resolution, " +
	"review_hold, review_reasons, holding_account_id, dispute_reason, created_at, updated_at, accepted_at, funded_at, " +
	"shipped_at, received_at, closed_at, version"

const dealPlaceholders = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"

func nullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func dealArgs(d escrow.Deal) ([]any, error) {
	ms, err := json.Marshal(d.Milestones)
	if err != nil {
		return nil, err
	}
	reasons := d.ReviewReasons
	if reasons == nil {
		reasons = []string{}
	}
	rs, err := json.Marshal(reasons)
	if err != nil {
		return nil, err
	}
	return []any{d.ID, d.OrgID, d.ExternalRef, d.Title, d.Description, d.Currency, d.Scale, d.Price, d.ShippingFee,
		d.Fee, string(d.FeePayer), d.BuyerFee, d.AmountDue, d.AmountPaid, d.Released, d.Refunded, d.FeeTaken,
		string(d.PaymentMethod), d.PaymentRef, d.Seller.Email, d.Seller.UserID, d.Seller.Locale,
		d.Buyer.Email, d.Buyer.UserID, d.Buyer.Locale, string(d.State), d.PayWithinDays, d.ShipWithinDays,
		d.InspectionDays, nullTime(d.DueAt), d.Carrier, d.TrackingNumber, string(ms), string(d.Resolution),
		d.ReviewHold, string(rs), d.HoldingAccountID, d.DisputeReason, micros(d.CreatedAt), micros(d.UpdatedAt),
		nullTime(d.AcceptedAt), nullTime(d.FundedAt), nullTime(d.ShippedAt), nullTime(d.ReceivedAt),
		nullTime(d.ClosedAt), d.Version}, nil
}

func scanDeal(s scanner) (escrow.Deal, error) {
	var d escrow.Deal
	var feePayer, method, state, ms, resolution, reasons string
	var created, updated int64
	var due, accepted, funded, shipped, received, closed sql.NullInt64
	err := s.Scan(&d.ID, &d.OrgID, &d.ExternalRef, &d.Title, &d.Description, &d.Currency, &d.Scale, &d.Price,
		&d.ShippingFee, &d.Fee, &feePayer, &d.BuyerFee, &d.AmountDue, &d.AmountPaid, &d.Released, &d.Refunded,
		&d.FeeTaken, &method, &d.PaymentRef, &d.Seller.Email, &d.Seller.UserID, &d.Seller.Locale,
		&d.Buyer.Email, &d.Buyer.UserID, &d.Buyer.Locale, &state, &d.PayWithinDays, &d.ShipWithinDays,
		&d.InspectionDays, &due, &d.Carrier, &d.TrackingNumber, &ms, &resolution, &d.ReviewHold, &reasons,
		&d.HoldingAccountID, &d.DisputeReason, &created, &updated, &accepted, &funded, &shipped, &received,
		&closed, &d.Version)
	if err != nil {
		return d, err
	}
	d.FeePayer, d.PaymentMethod, d.State, d.Resolution = escrow.FeePayer(feePayer), escrow.PaymentMethod(method), escrow.State(state), escrow.Resolution(resolution)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	d.DueAt, d.AcceptedAt, d.FundedAt, d.ShippedAt, d.ReceivedAt, d.ClosedAt = timePtr(due), timePtr(accepted), timePtr(funded), timePtr(shipped), timePtr(received), timePtr(closed)
	if err := json.Unmarshal([]byte(ms), &d.Milestones); err != nil {
		return d, fmt.Errorf("milestones of deal %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(reasons), &d.ReviewReasons); err != nil {
		return d, fmt.Errorf("review reasons of deal %s: %w", d.ID, err)
	}
	if len(d.ReviewReasons) == 0 {
		d.ReviewReasons = nil
	}
	return d, nil
}

// EscrowTransact implements escrow.Store: one IMMEDIATE transaction per
// attempt, like Transact, whose txn is also the ledger's.
func (db *DB) EscrowTransact(ctx context.Context, fn func(escrow.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// DealByID implements escrow.Store. Errors: not_found.
func (db *DB) DealByID(ctx context.Context, id string) (escrow.Deal, error) {
	d, err := scanDeal(db.read.QueryRowContext(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE id = ?", id))
	if err != nil {
		return d, notFound(err, "deal")
	}
	return d, nil
}

// DealList implements escrow.Store.
func (db *DB) DealList(ctx context.Context, f escrow.DealFilter) ([]escrow.Deal, error) {
	q := "SELECT " + dealCols + " FROM escrow_deals WHERE 1 = 1"
	var args []any
	if f.OrgID != "" {
		q += " AND org_id = ?"
		args = append(args, f.OrgID)
	}
	if f.Email != "" {
		q += " AND id IN (SELECT id FROM escrow_deals WHERE seller_email = ? UNION SELECT id FROM escrow_deals WHERE buyer_email = ?)"
		args = append(args, f.Email, f.Email)
	}
	if f.State != "" {
		q += " AND state = ?"
		args = append(args, string(f.State))
	}
	if f.ReviewHold {
		q += " AND review_hold = 1 AND state NOT IN ('released', 'canceled', 'resolved', 'refunded')"
	}
	if f.AfterID != "" {
		q += " AND id < ?"
		args = append(args, f.AfterID)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deals: %w", err)
	}
	return collect(rows, scanDeal, "sqlite: scan deal")
}

// DealListDue implements escrow.Store.
func (db *DB) DealListDue(ctx context.Context, now time.Time, after escrow.DueCursor, limit int) ([]escrow.Deal, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE due_at IS NOT NULL AND due_at <= ? "+
		"AND due_at >= ? AND (due_at > ? OR id > ?) ORDER BY due_at, id LIMIT ?",
		micros(now), micros(after.At), micros(after.At), after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list due deals: %w", err)
	}
	return collect(rows, scanDeal, "sqlite: scan deal")
}

const timelineCols = "deal_id, seq, at, actor_kind, actor_id, action, from_state, to_state, data"

// TimelineList implements escrow.Store.
func (db *DB) TimelineList(ctx context.Context, dealID string) ([]escrow.TimelineEntry, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT "+timelineCols+" FROM escrow_timeline WHERE deal_id = ? ORDER BY seq", dealID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deal timeline: %w", err)
	}
	return collect(rows, func(s scanner) (escrow.TimelineEntry, error) {
		var e escrow.TimelineEntry
		var at int64
		var kind, from, to string
		var data sql.NullString
		err := s.Scan(&e.DealID, &e.Seq, &at, &kind, &e.ActorID, &e.Action, &from, &to, &data)
		e.At, e.ActorKind, e.FromState, e.ToState = fromMicros(at), escrow.ActorKind(kind), escrow.State(from), escrow.State(to)
		if data.Valid {
			e.Data = json.RawMessage(data.String)
		}
		return e, err
	}, "sqlite: scan timeline entry")
}

// MessageList implements escrow.Store.
func (db *DB) MessageList(ctx context.Context, dealID string) ([]escrow.Message, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT id, deal_id, at, actor_kind, actor_id, party, body FROM escrow_messages WHERE deal_id = ? ORDER BY at, id", dealID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deal messages: %w", err)
	}
	return collect(rows, func(s scanner) (escrow.Message, error) {
		var m escrow.Message
		var at int64
		var kind string
		err := s.Scan(&m.ID, &m.DealID, &at, &kind, &m.ActorID, &m.Party, &m.Body)
		m.At, m.ActorKind = fromMicros(at), escrow.ActorKind(kind)
		return m, err
	}, "sqlite: scan deal message")
}

const depositCols = "id, source, bank_account, bank_ref, currency, amount, value_date, payer_name, remittance, deal_id, status, applied, review, note, created_at, updated_at"

func scanDeposit(s scanner) (escrow.Deposit, error) {
	var d escrow.Deposit
	var source, status, review string
	var value, created, updated int64
	err := s.Scan(&d.ID, &source, &d.BankAccount, &d.BankRef, &d.Currency, &d.Amount, &value, &d.PayerName,
		&d.Remittance, &d.DealID, &status, &d.Applied, &review, &d.Note, &created, &updated)
	d.Source, d.Status, d.Review = escrow.DepositSource(source), escrow.DepositStatus(status), escrow.Review(review)
	d.ValueDate, d.CreatedAt, d.UpdatedAt = fromMicros(value), fromMicros(created), fromMicros(updated)
	return d, err
}

func depositArgs(d escrow.Deposit) []any {
	return []any{d.ID, string(d.Source), d.BankAccount, d.BankRef, d.Currency, d.Amount, micros(d.ValueDate),
		d.PayerName, d.Remittance, d.DealID, string(d.Status), d.Applied, string(d.Review), d.Note,
		micros(d.CreatedAt), micros(d.UpdatedAt)}
}

// DepositList implements escrow.Store.
func (db *DB) DepositList(ctx context.Context, f escrow.DepositFilter) ([]escrow.Deposit, error) {
	q := "SELECT " + depositCols + " FROM escrow_deposits WHERE 1 = 1"
	var args []any
	if f.Review != escrow.ReviewNone {
		q += " AND review = ?"
		args = append(args, string(f.Review))
	}
	if f.DealID != "" {
		q += " AND deal_id = ?"
		args = append(args, f.DealID)
	}
	if f.AfterID != "" {
		q += " AND id < ?"
		args = append(args, f.AfterID)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list deposits: %w", err)
	}
	return collect(rows, scanDeposit, "sqlite: scan deposit")
}

// DepositByBankRef implements escrow.Store. Errors: not_found.
func (db *DB) DepositByBankRef(ctx context.Context, account, ref string) (escrow.Deposit, error) {
	d, err := scanDeposit(db.read.QueryRowContext(ctx, "SELECT "+depositCols+" FROM escrow_deposits WHERE bank_account = ? AND bank_ref = ?", account, ref))
	if err != nil {
		return d, notFound(err, "deposit")
	}
	return d, nil
}

// versioned checks the result of an update of one row guarded by its
// version: conflict (naming what and id) when the version moved meanwhile.
func versioned(res sql.Result, what, id string) error {
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return apperr.New(apperr.CodeConflict, "%s %s changed meanwhile", what, id)
	}
	return nil
}

// DealInsert implements escrow.Tx. Errors: conflict (external_ref or payment_ref taken).
func (t *txn) DealInsert(ctx context.Context, d escrow.Deal) error {
	args, err := dealArgs(d)
	if err != nil {
		return fmt.Errorf("sqlite: encode deal: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_deals ("+dealCols+") VALUES ("+dealPlaceholders+")", args...); err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "external_ref", Message: "a deal with this reference exists", Err: err}
		}
		return fmt.Errorf("sqlite: insert deal: %w", err)
	}
	return nil
}

// DealForUpdate implements escrow.Tx; the IMMEDIATE transaction already
// holds the write lock. Errors: not_found.
func (t *txn) DealForUpdate(ctx context.Context, id string) (escrow.Deal, error) {
	d, err := scanDeal(t.tx.QueryRowContext(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE id = ?", id))
	if err != nil {
		return d, notFound(err, "deal")
	}
	return d, nil
}

// DealByPaymentRefForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DealByPaymentRefForUpdate(ctx context.Context, ref string) (escrow.Deal, error) {
	d, err := scanDeal(t.tx.QueryRowContext(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE payment_ref = ?", ref))
	if err != nil {
		return d, notFound(err, "deal")
	}
	return d, nil
}

// DealByExternalRef implements escrow.Tx. Errors: not_found.
func (t *txn) DealByExternalRef(ctx context.Context, orgID, ref string) (escrow.Deal, error) {
	d, err := scanDeal(t.tx.QueryRowContext(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE org_id = ? AND external_ref = ?", orgID, ref))
	if err != nil {
		return d, notFound(err, "deal")
	}
	return d, nil
}

// DealUpdate implements escrow.Tx. Errors: conflict (the version moved).
func (t *txn) DealUpdate(ctx context.Context, d escrow.Deal) error {
	args, err := dealArgs(d)
	if err != nil {
		return fmt.Errorf("sqlite: encode deal: %w", err)
	}
	res, err := t.tx.ExecContext(ctx, "UPDATE escrow_deals SET ("+dealCols+") = ("+dealPlaceholders+") WHERE id = ? AND version = ?",
		append(args, d.ID, d.Version-1)...)
	if err != nil {
		return fmt.Errorf("sqlite: update deal: %w", err)
	}
	return versioned(res, "deal", d.ID)
}

// TimelineInsert implements escrow.Tx: each entry takes the deal's next seq.
func (t *txn) TimelineInsert(ctx context.Context, entries []escrow.TimelineEntry) error {
	for _, e := range entries {
		var data sql.NullString
		if len(e.Data) > 0 {
			data = sql.NullString{String: string(e.Data), Valid: true}
		}
		if _, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_timeline ("+timelineCols+") "+
			"SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM escrow_timeline WHERE deal_id = ?",
			e.DealID, micros(e.At), string(e.ActorKind), e.ActorID, e.Action, string(e.FromState), string(e.ToState), data, e.DealID); err != nil {
			return fmt.Errorf("sqlite: insert timeline entry: %w", err)
		}
	}
	return nil
}

// MessageInsert implements escrow.Tx.
func (t *txn) MessageInsert(ctx context.Context, m escrow.Message) error {
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_messages (id, deal_id, at, actor_kind, actor_id, party, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
		m.ID, m.DealID, micros(m.At), string(m.ActorKind), m.ActorID, m.Party, m.Body); err != nil {
		return fmt.Errorf("sqlite: insert deal message: %w", err)
	}
	return nil
}

// DepositInsert implements escrow.Tx: false when (bank_account, bank_ref)
// was recorded before.
func (t *txn) DepositInsert(ctx context.Context, d escrow.Deposit) (bool, error) {
	res, err := t.tx.ExecContext(ctx, "INSERT INTO escrow_deposits ("+depositCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (bank_account, bank_ref) DO NOTHING", depositArgs(d)...)
	if err != nil {
		return false, fmt.Errorf("sqlite: insert deposit: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DepositsAlike implements escrow.Tx.
func (t *txn) DepositsAlike(ctx context.Context, d escrow.Deposit) ([]escrow.Deposit, error) {
	rows, err := t.tx.QueryContext(ctx, "SELECT "+depositCols+" FROM escrow_deposits WHERE value_date = ? AND amount = ? AND currency = ? AND id <> ? "+
		"ORDER BY created_at, id LIMIT ?", micros(d.ValueDate), d.Amount, d.Currency, d.ID, escrow.DepositsAlikeMax)
	if err != nil {
		return nil, fmt.Errorf("sqlite: deposits alike: %w", err)
	}
	return collect(rows, scanDeposit, "sqlite: scan deposit")
}

// DepositForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DepositForUpdate(ctx context.Context, id string) (escrow.Deposit, error) {
	d, err := scanDeposit(t.tx.QueryRowContext(ctx, "SELECT "+depositCols+" FROM escrow_deposits WHERE id = ?", id))
	if err != nil {
		return d, notFound(err, "deposit")
	}
	return d, nil
}

// DepositUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DepositUpdate(ctx context.Context, d escrow.Deposit) error {
	res, err := t.tx.ExecContext(ctx, "UPDATE escrow_deposits SET deal_id = ?, status = ?, applied = ?, review = ?, note = ?, updated_at = ? WHERE id = ?",
		d.DealID, string(d.Status), d.Applied, string(d.Review), d.Note, micros(d.UpdatedAt), d.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update deposit: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return apperr.NotFound("deposit")
	}
	return nil
}

// TimersSchedule implements escrow.Tx: one River job per timer, scheduled
// at its deadline, in this transaction.
func (t *txn) TimersSchedule(ctx context.Context, timers []escrow.TimerArgs) error {
	if _, err := t.db.jobs.InsertManyTx(ctx, t.tx, store.TimerJobs(timers)); err != nil {
		return fmt.Errorf("sqlite: schedule %d escrow timers: %w", len(timers), err)
	}
	return nil
}

// MessageCount implements escrow.Tx.
func (t *txn) MessageCount(ctx context.Context, dealID string) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, "SELECT count(*) FROM escrow_messages WHERE deal_id = ?", dealID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count deal messages: %w", err)
	}
	return n, nil
}
