package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/store"
)

var (
	_ escrow.Store = (*DB)(nil)
	_ escrow.Tx    = (*txn)(nil)
)

const (
	dealCols = "id, org_id, external_ref, title, description, currency, scale, price, shipping_fee, fee, fee_payer, " +
		"buyer_fee, amount_due, amount_paid, released, refunded, fee_taken, payment_method, payment_ref, " +
		"seller_email, seller_user_id, seller_locale, buyer_email, buyer_user_id, buyer_locale, state, " +
		"pay_within_days, ship_within_days, inspection_days, due_at, carrier, tracking_number, milestones, resolution, " +
		"review_hold, review_reasons, holding_account_id, dispute_reason, created_at, updated_at, accepted_at, funded_at, " +
		"shipped_at, received_at, closed_at, version"
	timelineCols = "deal_id, seq, at, actor_kind, actor_id, action, from_state, to_state, data"
	messageCols  = "id, deal_id, at, actor_kind, actor_id, party, body"
	depositCols  = "id, source, bank_account, bank_ref, currency, amount, value_date, payer_name, remittance, deal_id, status, applied, review, note, created_at, updated_at"
)

// placeholders returns "$from, …, $(from+n-1)".
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

var (
	sqlDealInsert = "INSERT INTO escrow_deals (" + dealCols + ") VALUES (" + placeholders(1, 46) + ")"
	sqlDealUpdate = "UPDATE escrow_deals SET (" + dealCols + ") = (" + placeholders(1, 46) + ") WHERE id = $47 AND version = $48"
)

func timePtrArg(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: *t, Valid: true}
}

func timePtrOf(v pgtype.Timestamptz) *time.Time {
	if !v.Valid {
		return nil
	}
	t := v.Time.UTC()
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
		d.InspectionDays, timePtrArg(d.DueAt), d.Carrier, d.TrackingNumber, string(ms), string(d.Resolution),
		d.ReviewHold, string(rs), d.HoldingAccountID, d.DisputeReason, d.CreatedAt, d.UpdatedAt,
		timePtrArg(d.AcceptedAt), timePtrArg(d.FundedAt), timePtrArg(d.ShippedAt), timePtrArg(d.ReceivedAt),
		timePtrArg(d.ClosedAt), d.Version}, nil
}

func scanDeal(r pgx.Row) (escrow.Deal, error) {
	var d escrow.Deal
	var feePayer, method, state, resolution string
	var ms, reasons []byte
	var due, accepted, funded, shipped, received, closed pgtype.Timestamptz
	err := r.Scan(&d.ID, &d.OrgID, &d.ExternalRef, &d.Title, &d.Description, &d.Currency, &d.Scale, &d.Price,
		&d.ShippingFee, &d.Fee, &feePayer, &d.BuyerFee, &d.AmountDue, &d.AmountPaid, &d.Released, &d.Refunded,
		&d.FeeTaken, &method, &d.PaymentRef, &d.Seller.Email, &d.Seller.UserID, &d.Seller.Locale,
		&d.Buyer.Email, &d.Buyer.UserID, &d.Buyer.Locale, &state, &d.PayWithinDays, &d.ShipWithinDays,
		&d.InspectionDays, &due, &d.Carrier, &d.TrackingNumber, &ms, &resolution, &d.ReviewHold, &reasons,
		&d.HoldingAccountID, &d.DisputeReason, &d.CreatedAt, &d.UpdatedAt, &accepted, &funded, &shipped, &received,
		&closed, &d.Version)
	if err != nil {
		return d, err
	}
	d.FeePayer, d.PaymentMethod, d.State, d.Resolution = escrow.FeePayer(feePayer), escrow.PaymentMethod(method), escrow.State(state), escrow.Resolution(resolution)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	d.DueAt, d.AcceptedAt, d.FundedAt, d.ShippedAt, d.ReceivedAt, d.ClosedAt = timePtrOf(due), timePtrOf(accepted), timePtrOf(funded), timePtrOf(shipped), timePtrOf(received), timePtrOf(closed)
	if err := json.Unmarshal(ms, &d.Milestones); err != nil {
		return d, fmt.Errorf("milestones of deal %s: %w", d.ID, err)
	}
	if err := json.Unmarshal(reasons, &d.ReviewReasons); err != nil {
		return d, fmt.Errorf("review reasons of deal %s: %w", d.ID, err)
	}
	if len(d.ReviewReasons) == 0 {
		d.ReviewReasons = nil
	}
	return d, nil
}

func scanTimeline(r pgx.Row) (escrow.TimelineEntry, error) {
	var e escrow.TimelineEntry
	var kind, from, to string
	var data []byte
	err := r.Scan(&e.DealID, &e.Seq, &e.At, &kind, &e.ActorID, &e.Action, &from, &to, &data)
	e.At, e.ActorKind, e.FromState, e.ToState = e.At.UTC(), escrow.ActorKind(kind), escrow.State(from), escrow.State(to)
	if data != nil {
		e.Data = json.RawMessage(data)
	}
	return e, err
}

func scanMessage(r pgx.Row) (escrow.Message, error) {
	var m escrow.Message
	var kind string
	err := r.Scan(&m.ID, &m.DealID, &m.At, &kind, &m.ActorID, &m.Party, &m.Body)
	m.At, m.ActorKind = m.At.UTC(), escrow.ActorKind(kind)
	return m, err
}

func scanDeposit(r pgx.Row) (escrow.Deposit, error) {
	var d escrow.Deposit
	var source, status, review string
	err := r.Scan(&d.ID, &source, &d.BankAccount, &d.BankRef, &d.Currency, &d.Amount, &d.ValueDate, &d.PayerName,
		&d.Remittance, &d.DealID, &status, &d.Applied, &review, &d.Note, &d.CreatedAt, &d.UpdatedAt)
	d.Source, d.Status, d.Review = escrow.DepositSource(source), escrow.DepositStatus(status), escrow.Review(review)
	d.ValueDate, d.CreatedAt, d.UpdatedAt = d.ValueDate.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, err
}

// EscrowTransact implements escrow.Store: one READ COMMITTED transaction per
// attempt, like Transact, whose txn is also the ledger's. Deals are locked
// (FOR UPDATE) before any ledger account, and ledger batches lock no deal,
// so the lock order stays acyclic.
func (db *DB) EscrowTransact(ctx context.Context, fn func(escrow.Tx) error) error {
	return db.transact(ctx, func(t *txn) error { return fn(t) })
}

// DealByID implements escrow.Store. Errors: not_found.
func (db *DB) DealByID(ctx context.Context, id string) (escrow.Deal, error) {
	d, err := scanDeal(db.pool.QueryRow(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE id = $1", id))
	if err != nil {
		return d, notFound(err, "deal")
	}
	return d, nil
}

// DealList implements escrow.Store.
func (db *DB) DealList(ctx context.Context, f escrow.DealFilter) ([]escrow.Deal, error) {
	q := "SELECT " + dealCols + " FROM escrow_deals WHERE true"
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.OrgID != "" {
		q += " AND org_id = " + arg(f.OrgID)
	}
	if f.Email != "" {
		e := arg(f.Email)
		q += " AND (seller_email = " + e + " OR buyer_email = " + e + ")"
	}
	if f.State != "" {
		q += " AND state = " + arg(string(f.State))
	}
	if f.ReviewHold {
		q += " AND review_hold AND state NOT IN ('released', 'canceled', 'resolved', 'refunded')"
	}
	if f.AfterID != "" {
		q += " AND id < " + arg(f.AfterID)
	}
	q += " ORDER BY id DESC LIMIT " + arg(f.Limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deals: %w", err)
	}
	return collect(rows, scanDeal)
}

// DealListDue implements escrow.Store.
func (db *DB) DealListDue(ctx context.Context, now time.Time, after escrow.DueCursor, limit int) ([]escrow.Deal, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+dealCols+" FROM escrow_deals WHERE due_at IS NOT NULL AND due_at <= $1 "+
		"AND due_at >= $2 AND (due_at > $2 OR id > $3) ORDER BY due_at, id LIMIT $4", now, after.At, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list due deals: %w", err)
	}
	return collect(rows, scanDeal)
}

// TimelineList implements escrow.Store.
func (db *DB) TimelineList(ctx context.Context, dealID string) ([]escrow.TimelineEntry, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+timelineCols+" FROM escrow_timeline WHERE deal_id = $1 ORDER BY seq", dealID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deal timeline: %w", err)
	}
	return collect(rows, scanTimeline)
}

// MessageList implements escrow.Store.
func (db *DB) MessageList(ctx context.Context, dealID string) ([]escrow.Message, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+messageCols+" FROM escrow_messages WHERE deal_id = $1 ORDER BY at, id", dealID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deal messages: %w", err)
	}
	return collect(rows, scanMessage)
}

// DepositList implements escrow.Store.
func (db *DB) DepositList(ctx context.Context, f escrow.DepositFilter) ([]escrow.Deposit, error) {
	q := "SELECT " + depositCols + " FROM escrow_deposits WHERE true"
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Review != escrow.ReviewNone {
		q += " AND review = " + arg(string(f.Review))
	}
	if f.DealID != "" {
		q += " AND deal_id = " + arg(f.DealID)
	}
	if f.AfterID != "" {
		q += " AND id < " + arg(f.AfterID)
	}
	q += " ORDER BY id DESC LIMIT " + arg(f.Limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list deposits: %w", err)
	}
	return collect(rows, scanDeposit)
}

// DepositByBankRef implements escrow.Store. Errors: not_found.
func (db *DB) DepositByBankRef(ctx context.Context, account, ref string) (escrow.Deposit, error) {
	d, err := scanDeposit(db.pool.QueryRow(ctx, "SELECT "+depositCols+" FROM escrow_deposits WHERE bank_account = $1 AND bank_ref = $2", account, ref))
	if err != nil {
		return d, notFound(err, "deposit")
	}
	return d, nil
}

// readOne sends the txn's queued writes and one read of a single row.
func (t *txn) readOne(ctx context.Context, what, sql string, args []any, scan func(pgx.Row) error) error {
	found := false
	err := t.query(ctx, sql, args, func(rows pgx.Rows) error {
		found = true
		return scan(rows)
	})
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if !found {
		return apperr.NotFound(what)
	}
	return nil
}

// updateVersioned runs sql, an update of one row guarded by its version:
// conflict (naming what and id) when the row's version moved meanwhile.
func (t *txn) updateVersioned(ctx context.Context, what, id, sql string, args ...any) error {
	t.batch().Queue(sql, args...).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return apperr.New(apperr.CodeConflict, "%s %s changed meanwhile", what, id)
		}
		return nil
	})
	return t.send(ctx)
}

// readRow reads the one row sql selects, in t, with scan: not_found
// (naming what) when there is none.
func readRow[T any](ctx context.Context, t *txn, what, sql string, args []any, scan func(pgx.Row) (T, error)) (T, error) {
	var out T
	err := t.readOne(ctx, what, sql, args, func(r pgx.Row) error {
		var err error
		out, err = scan(r)
		return err
	})
	return out, err
}

func (t *txn) dealBy(ctx context.Context, where string, args ...any) (escrow.Deal, error) {
	return readRow(ctx, t, "deal", "SELECT "+dealCols+" FROM escrow_deals WHERE "+where+" FOR UPDATE", args, scanDeal)
}

// DealInsert implements escrow.Tx. A unique violation (another writer took
// the external_ref) fails the transaction, and Transact retries it.
func (t *txn) DealInsert(_ context.Context, d escrow.Deal) error {
	args, err := dealArgs(d)
	if err != nil {
		return fmt.Errorf("postgres: encode deal: %w", err)
	}
	t.queue(sqlDealInsert, args...)
	return nil
}

// DealForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DealForUpdate(ctx context.Context, id string) (escrow.Deal, error) {
	return t.dealBy(ctx, "id = $1", id)
}

// DealByPaymentRefForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DealByPaymentRefForUpdate(ctx context.Context, ref string) (escrow.Deal, error) {
	return t.dealBy(ctx, "payment_ref = $1", ref)
}

// DealByExternalRef implements escrow.Tx. Errors: not_found.
func (t *txn) DealByExternalRef(ctx context.Context, orgID, ref string) (escrow.Deal, error) {
	return t.dealBy(ctx, "org_id = $1 AND external_ref = $2", orgID, ref)
}

// DealUpdate implements escrow.Tx. Errors: conflict (the version moved).
func (t *txn) DealUpdate(ctx context.Context, d escrow.Deal) error {
	args, err := dealArgs(d)
	if err != nil {
		return fmt.Errorf("postgres: encode deal: %w", err)
	}
	return t.updateVersioned(ctx, "deal", d.ID, sqlDealUpdate, append(args, d.ID, d.Version-1)...)
}

// TimelineInsert implements escrow.Tx: each entry takes the deal's next seq
// (the deal row is locked, so no other writer numbers it meanwhile).
func (t *txn) TimelineInsert(_ context.Context, entries []escrow.TimelineEntry) error {
	for _, e := range entries {
		var data any
		if len(e.Data) > 0 {
			data = string(e.Data)
		}
		t.queue("INSERT INTO escrow_timeline ("+timelineCols+") "+
			"SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM escrow_timeline WHERE deal_id = $1",
			e.DealID, e.At, string(e.ActorKind), e.ActorID, e.Action, string(e.FromState), string(e.ToState), data)
	}
	return nil
}

// MessageInsert implements escrow.Tx.
func (t *txn) MessageInsert(_ context.Context, m escrow.Message) error {
	t.queue("INSERT INTO escrow_messages ("+messageCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		m.ID, m.DealID, m.At, string(m.ActorKind), m.ActorID, m.Party, m.Body)
	return nil
}

// DepositInsert implements escrow.Tx: false when (bank_account, bank_ref)
// was recorded before.
func (t *txn) DepositInsert(ctx context.Context, d escrow.Deposit) (bool, error) {
	var inserted bool
	t.batch().Queue("INSERT INTO escrow_deposits ("+depositCols+") VALUES ("+placeholders(1, 16)+") ON CONFLICT (bank_account, bank_ref) DO NOTHING",
		d.ID, string(d.Source), d.BankAccount, d.BankRef, d.Currency, d.Amount, d.ValueDate, d.PayerName, d.Remittance,
		d.DealID, string(d.Status), d.Applied, string(d.Review), d.Note, d.CreatedAt, d.UpdatedAt).Exec(func(tag pgconn.CommandTag) error {
		inserted = tag.RowsAffected() == 1
		return nil
	})
	if err := t.send(ctx); err != nil {
		return false, fmt.Errorf("postgres: insert deposit: %w", err)
	}
	return inserted, nil
}

// DepositsAlike implements escrow.Tx.
func (t *txn) DepositsAlike(ctx context.Context, d escrow.Deposit) ([]escrow.Deposit, error) {
	var out []escrow.Deposit
	err := t.query(ctx, "SELECT "+depositCols+" FROM escrow_deposits WHERE value_date = $1 AND amount = $2 AND currency = $3 AND id <> $4 "+
		"ORDER BY created_at, id LIMIT $5", []any{d.ValueDate, d.Amount, d.Currency, d.ID, escrow.DepositsAlikeMax}, func(rows pgx.Rows) error {
		dep, err := scanDeposit(rows)
		out = append(out, dep)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: deposits alike: %w", err)
	}
	return out, nil
}

// DepositForUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DepositForUpdate(ctx context.Context, id string) (escrow.Deposit, error) {
	return readRow(ctx, t, "deposit", "SELECT "+depositCols+" FROM escrow_deposits WHERE id = $1 FOR UPDATE", []any{id}, scanDeposit)
}

// DepositUpdate implements escrow.Tx. Errors: not_found.
func (t *txn) DepositUpdate(ctx context.Context, d escrow.Deposit) error {
	t.batch().Queue("UPDATE escrow_deposits SET deal_id = $1, status = $2, applied = $3, review = $4, note = $5, updated_at = $6 WHERE id = $7",
		d.DealID, string(d.Status), d.Applied, string(d.Review), d.Note, d.UpdatedAt, d.ID).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return apperr.NotFound("deposit")
		}
		return nil
	})
	return t.send(ctx)
}

// TimersSchedule implements escrow.Tx: one River job per timer, scheduled at
// its deadline, in this transaction.
func (t *txn) TimersSchedule(ctx context.Context, timers []escrow.TimerArgs) error {
	if _, err := t.jobs.InsertManyTx(ctx, txView{t}, store.TimerJobs(timers)); err != nil {
		return fmt.Errorf("postgres: schedule %d escrow timers: %w", len(timers), err)
	}
	return nil
}

// MessageCount implements escrow.Tx.
func (t *txn) MessageCount(ctx context.Context, dealID string) (int, error) {
	var n int
	if err := t.queryRow(ctx, "SELECT count(*) FROM escrow_messages WHERE deal_id = $1", []any{dealID}, &n); err != nil {
		return 0, fmt.Errorf("postgres: count deal messages: %w", err)
	}
	return n, nil
}
