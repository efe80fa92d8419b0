package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// Config configures a Service.
type Config struct {
	Store  Store
	Ledger *ledger.Engine
	Clock  Clock // nil: time.Now
	// Events renders objects for their events; nil writes no billing
	// events (tests of billing alone).
	Events EventEncoder
}

// Service runs billing. It is safe for concurrent use, on any number of
// nodes sharing one database.
type Service struct {
	cfg Config
	// monthClosed is the last period a clean pass of CloseEndedMonth
	// finished on this node: later passes of it do nothing.
	monthClosed atomic.Pointer[string]
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Service{cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Ledger account roles of one change.
type acct int

const (
	acctCustomer acct = iota
	acctRevenue
	acctTopups
	acctCount
)

// Writer bounds of one change: the three accounts, and at most a void, a
// new hold, a post and a hold of the rest (a charge that reserves the
// difference first).
const (
	changeAccountsMax  = int(acctCount)
	changeTransfersMax = 4
)

// accountRequests returns the ledger accounts of customer c, by role.
// Opening them is idempotent, so every change that moves money opens all.
func accountRequests(c Customer) [acctCount]ledger.AccountRequest {
	cur := c.Currency
	return [acctCount]ledger.AccountRequest{
		acctCustomer: {Owner: LedgerOwner, Reference: CustomerAccountReference(c.ID), Asset: cur, Code: "billing_customer",
			DebitsMustNotExceedCredits: c.Mode == Prepaid},
		acctRevenue: {Owner: LedgerOwner, Reference: RevenueAccountReference(c), Asset: cur, Code: "billing_revenue",
			DebitsMustNotExceedCredits: true},
		acctTopups: {Owner: LedgerOwner, Reference: topUpsAccountReference(c.OrgID, cur), Asset: cur, Code: "billing_topups",
			CreditsMustNotExceedDebits: true},
	}
}

// RevenueShards is how many revenue accounts a provider has per currency.
// Every reservation and charge credits one, locking it until its
// transaction commits; with one account per provider, a provider's
// operations queued on that row on PostgreSQL (docs/benchmarks.md). A
// customer always uses the same shard.
const RevenueShards = 16

// RevenueAccountReference is the ledger reference of the revenue account
// customer c's charges credit: "billing:revenue:<org>:<CUR>:<shard>". A
// provider's revenue in a currency is the sum of its shards.
func RevenueAccountReference(c Customer) string {
	h := fnv.New32a()
	h.Write([]byte(c.ID))
	return revenueShardReference(c.OrgID, c.Currency, int(h.Sum32()%RevenueShards))
}

func revenueShardReference(org, currency string, shard int) string {
	return legacyRevenueReference(org, currency) + ":" + strconv.Itoa(shard)
}

// legacyRevenueReference is the one revenue account per provider and
// currency of versions before sharding: "billing:revenue:<org>:<CUR>".
func legacyRevenueReference(org, currency string) string {
	return "billing:revenue:" + org + ":" + currency
}

// topUpsAccountReference is the ledger reference of the account a
// provider's top-ups in a currency are drawn from: its debits are what the
// provider's prepaid customers were paid in.
func topUpsAccountReference(org, currency string) string {
	return "billing:topups:" + org + ":" + currency
}

// CustomerAccountReference is the ledger reference of a customer's account.
func CustomerAccountReference(customerID string) string { return "billing:cus:" + customerID }

// change is what one operation does to one customer (and perhaps one of its
// reservations), gathered by the operation's rule and written by commit.
// Ledger transfers are applied by the rule as it goes (it needs the ids of
// new holds); they are in the transaction, so a later error undoes them.
type change struct {
	s     *Service
	ctx   context.Context
	tx    Tx
	w     *ledger.Writer
	now   time.Time
	actor Actor

	cus    Customer
	cusNew bool
	cusSet bool // the customer row changed

	rsv    *Reservation // nil: the operation is on the customer alone
	rsvNew bool
	events []ReservationEvent
	charge *Charge
	topUp  *TopUp

	accts  [acctCount]ledger.Account
	opened bool
	moved  bool // a transfer was applied: accts' balances are stale

	// result, when set, is what the call returns, read once the change is
	// written: an idempotency.Keep gets it inside the transaction.
	result func() any

	eventType string // "" : no event
	action    string // the audit action
	subject   audit.Subject
	data      map[string]any
	// noop: the operation repeated an earlier one; nothing is written.
	noop bool

	ses     *Session // a metered session the operation moves
	sesNew  bool
	reports []UsageReport
	invoice *Invoice
	// noAudit: the change is recorded by rows of its own (a usage report
	// that did not settle) and writes no audit entry.
	noAudit bool
	// ending: the change ends the reservation (a final charge), so its
	// entries may use the room kept for the end.
	ending bool
}

// open opens (or finds) the change's ledger accounts.
func (c *change) open() error {
	if c.opened {
		return nil
	}
	reqs := accountRequests(c.cus)
	as, err := c.w.OpenAccounts(c.ctx, c.tx, c.now, reqs[:])
	if err != nil {
		return err
	}
	copy(c.accts[:], as)
	c.opened = true
	return nil
}

// balance reads the customer's account as this transaction sees it (the
// customer's row is locked, and only billing moves its money, so nobody
// else changes it meanwhile). Before the change has moved money, the row
// its open read is that; after, it is read again.
func (c *change) balance(proposed int64) (Balance, error) {
	if !c.moved {
		if err := c.open(); err != nil {
			return Balance{}, err
		}
		return balanceOf(c.cus, c.accts[acctCustomer], proposed), nil
	}
	as, err := c.tx.AccountsByReference(c.ctx, []ledger.RefKey{{Owner: LedgerOwner, Reference: CustomerAccountReference(c.cus.ID)}})
	if err != nil {
		return Balance{}, err
	}
	if len(as) != 1 {
		return Balance{}, fmt.Errorf("billing: customer %s has no ledger account", c.cus.ID)
	}
	return balanceOf(c.cus, as[0], proposed), nil
}

// checkLimit refuses amount unless the customer's available amount covers it.
func (c *change) checkLimit(amount int64) error {
	b, err := c.balance(amount)
	if err != nil {
		return err
	}
	if b.Available < amount {
		// Available is negative when a lowered limit is below what is used
		// and reserved: said as it is, as the balance inquiry says it.
		return apperr.New(CodeLimitExceeded, "customer %s has %d available; %d asked for", c.cus.ID, b.Available, amount)
	}
	return nil
}

// transfer applies reqs between the change's accounts. Every amount was
// checked against balances this transaction holds locked: a refusal is a
// bug, never a caller's error.
func (c *change) transfer(ref string, reqs ...ledger.TransferRequest) ([]ledger.Transfer, error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	for i := range reqs {
		r := &reqs[i]
		r.Owner = LedgerOwner
		r.Reference = ref + ":" + strconv.Itoa(i)
		if r.Kind == ledger.KindImmediate || r.Kind == ledger.KindPending || r.Kind == "" {
			r.Asset = c.cus.Currency
			r.Metadata = map[string]string{"customer": c.cus.ID}
			if c.rsv != nil {
				r.Metadata["reservation"] = c.rsv.ID
			}
		}
	}
	c.moved = true
	res, err := c.w.Transfer(c.ctx, c.tx, c.now, reqs)
	if err != nil {
		return nil, err
	}
	if err := ledger.Rejection(res); err != nil {
		return nil, fmt.Errorf("billing: ledger refused a move of customer %s: %w", c.cus.ID, err)
	}
	out := make([]ledger.Transfer, len(res))
	for i, r := range res {
		out[i] = r.Transfer
	}
	return out, nil
}

func (c *change) hold(amount int64) ledger.TransferRequest {
	return ledger.TransferRequest{Kind: ledger.KindPending, DebitAccountID: c.accts[acctCustomer].ID,
		CreditAccountID: c.accts[acctRevenue].ID, Amount: amount, Code: "billing_reservation"}
}

// ledgerRef names the transfers of the change's next history entry.
func (c *change) ledgerRef() string {
	return "billing:" + c.rsv.ID + ":" + strconv.Itoa(c.rsv.Events+len(c.events)+1)
}

// endingEntries are the history entries kept for a reservation's end: a
// final charge may need two (its re-reservation, then the charge).
const endingEntries = 2

// record adds an entry to the reservation's history.
func (c *change) record(kind EventKind, amount, released int64, ref string, transferID int64) error {
	seq := c.rsv.Events + len(c.events) + 1
	limit := EventsPerReservationMax
	if c.rsv.State == StateActive && !c.ending {
		// An entry that leaves the reservation active keeps the last two
		// free for its end (a cancel, its expiry, a final charge with the
		// re-reservation it may need), which must never be refused for
		// want of room.
		limit -= endingEntries
	}
	if seq > limit {
		return apperr.New(apperr.CodeConflict, "reservation %s has the most history entries it may hold while active (%d); charge it in full, cancel it, or reserve anew", c.rsv.ID, EventsPerReservationMax-endingEntries)
	}
	c.events = append(c.events, ReservationEvent{ReservationID: c.rsv.ID, Seq: seq, At: c.now, Kind: kind,
		Amount: amount, Released: released, Reference: ref, TransferID: transferID})
	return nil
}

// onCustomer runs rule on customer id, locked, in one transaction, for
// an organization acting on its own customer.
func (s *Service) onCustomer(ctx context.Context, actor Actor, id, action string, rule func(c *change) error) (*change, error) {
	if !actor.isOrg() {
		return nil, forbidden()
	}
	return s.lockCustomer(ctx, actor, id, action, rule)
}

// lockCustomer is onCustomer for an actor its caller allowed: the system
// (a sweep) reaches every customer, anyone else only its own.
func (s *Service) lockCustomer(ctx context.Context, actor Actor, id, action string, rule func(c *change) error) (*change, error) {
	return s.run(ctx, actor, action, func(c *change) error {
		cus, err := c.tx.CustomerForUpdate(c.ctx, id)
		if err != nil {
			return err
		}
		if actor.Kind != ActorSystem && cus.OrgID != actor.ID {
			return apperr.NotFound("customer")
		}
		c.now = s.now() // read once the customer is locked: see lockedNow
		c.cus = cus
		c.subject = audit.Subject{Type: "billing_customer", ID: cus.ID}
		return rule(c)
	})
}

// onReservation runs rule on the reservation found by find, with its
// customer and then itself locked, in one transaction.
func (s *Service) onReservation(ctx context.Context, actor Actor, action string, find func(context.Context, Tx) (Reservation, error), rule func(c *change) error) (*change, error) {
	return s.run(ctx, actor, action, func(c *change) error {
		r0, err := find(c.ctx, c.tx)
		if err != nil {
			return err
		}
		if actor.Kind != ActorSystem && r0.OrgID != actor.ID {
			return apperr.NotFound("reservation")
		}
		if c.cus, err = c.tx.CustomerForUpdate(c.ctx, r0.CustomerID); err != nil {
			return err
		}
		c.now = s.now() // see lockedNow
		r, err := c.tx.ReservationForUpdate(c.ctx, r0.ID)
		if err != nil {
			return err
		}
		c.rsv = &r
		c.subject = audit.Subject{Type: "billing_reservation", ID: r.ID}
		return rule(c)
	})
}

// lockedNow: an operation on a customer reads its clock once the
// customer's row is locked, not before, so that whatever it writes is
// stamped after every earlier writer of that customer committed. ClosePeriod
// relies on it: a charge that waited for the customer while a month was
// being closed is stamped in the next month, not in the closed one.

// run is one transaction of one operation: the rule, then commit.
func (s *Service) run(ctx context.Context, actor Actor, action string, rule func(c *change) error) (*change, error) {
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, changeTransfersMax)
	if err != nil {
		return nil, err
	}
	var out *change
	keep := idempotency.KeepOf(ctx)
	err = s.cfg.Store.BillingTransact(ctx, func(ctx context.Context, tx Tx) error {
		w.Begin()
		c := &change{s: s, ctx: ctx, tx: tx, w: w, now: s.now(), actor: actor, action: action, data: map[string]any{}}
		if err := rule(c); err != nil {
			return err
		}
		if err := s.commit(c, keep); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// commit writes a change's rows, history and event, runs the caller's
// keep (idempotency.WithKeep) and, last, appends its audit entry. A repeat (noop)
// writes nothing but runs keep.
func (s *Service) commit(c *change, keep idempotency.Keep) error {
	if c.noop {
		return c.keep(keep)
	}
	ctx, tx := c.ctx, c.tx
	switch {
	case c.cusNew:
		c.cus.Version = 1
		if err := tx.CustomerInsert(ctx, c.cus); err != nil {
			return err
		}
	case c.cusSet:
		c.cus.Version++
		c.cus.UpdatedAt = c.now
		if err := tx.CustomerUpdate(ctx, c.cus); err != nil {
			return err
		}
	}
	if r := c.rsv; r != nil {
		if r.Authorized != r.Reserved+r.Charged+r.Released || r.Reserved < 0 || (r.Reserved > 0) != (r.HoldTransferID != 0) ||
			(r.State != StateActive && r.Reserved != 0) {
			return fmt.Errorf("billing: reservation %s would be %+v: invariant broken", r.ID, *r)
		}
		r.Events += len(c.events)
		if c.rsvNew {
			r.Version = 1
			if err := tx.ReservationInsert(ctx, *r); err != nil {
				return err
			}
		} else {
			r.Version++
			r.UpdatedAt = c.now
			if err := tx.ReservationUpdate(ctx, *r); err != nil {
				return err
			}
		}
		if err := tx.ReservationEventsInsert(ctx, c.events); err != nil {
			return err
		}
	}
	if c.charge != nil {
		if err := tx.ChargeInsert(ctx, *c.charge); err != nil {
			return err
		}
	}
	if err := c.commitSession(); err != nil {
		return err
	}
	if c.invoice != nil {
		if err := tx.InvoiceInsert(ctx, *c.invoice); err != nil {
			return err
		}
	}
	if c.eventType != "" && s.cfg.Events != nil {
		var data []byte
		switch {
		case strings.HasPrefix(c.eventType, "billing.session.") && c.ses != nil:
			data = s.cfg.Events.SessionEventData(*c.ses)
		case c.invoice != nil:
			data = s.cfg.Events.InvoiceEventData(*c.invoice)
		case c.rsv != nil:
			data = s.cfg.Events.ReservationEventData(*c.rsv)
		case c.charge != nil:
			data = s.cfg.Events.ChargeEventData(*c.charge, c.cus.Currency)
		case c.topUp != nil:
			data = s.cfg.Events.TopUpEventData(*c.topUp, c.cus.Currency)
		default:
			data = s.cfg.Events.CustomerEventData(c.cus)
		}
		if err := tx.EventsInsert(ctx, []event.Event{{OrgID: c.cus.OrgID, Type: c.eventType, Data: data, CreatedAt: c.now}}); err != nil {
			return err
		}
	}
	// Before the audit entry, whose head stays locked until the commit:
	// nothing more should run while every audited writer waits for it.
	if err := c.keep(keep); err != nil {
		return err
	}
	if c.noAudit {
		return nil
	}
	raw, err := json.Marshal(c.data)
	if err != nil {
		return fmt.Errorf("billing: encode audit data: %w", err)
	}
	// Last: the audit head stays locked until the transaction commits.
	_, err = audit.Append(ctx, tx, c.now, audit.Entry{Actor: audit.Actor{Type: audit.ActorType(c.actor.Kind), ID: c.actor.ID},
		Action: c.action, Subject: c.subject, OrgID: c.cus.OrgID, Data: raw})
	return err
}

// keep runs k, if any, with c's result, if the call has one.
func (c *change) keep(k idempotency.Keep) error {
	if k == nil || c.result == nil {
		return nil
	}
	return k(c.ctx, c.tx, c.result())
}

// CreateCustomer registers a customer of the acting organization and opens
// its ledger accounts. A repeat with the same Reference and fields returns
// the customer the first call made.
//
// Errors: forbidden, invalid, conflict (Reference used with other fields;
// Param names the field).
func (s *Service) CreateCustomer(ctx context.Context, actor Actor, p CustomerParams) (Customer, error) {
	if !actor.isOrg() {
		return Customer{}, forbidden()
	}
	if err := p.validate(); err != nil {
		return Customer{}, err
	}
	c, err := s.run(ctx, actor, "billing.customer.created", func(c *change) error {
		c.result = func() any { return c.cus }
		old, err := c.tx.CustomerByReference(c.ctx, actor.ID, p.Reference)
		switch {
		case err == nil:
			if field := p.diff(old); field != "" {
				return &apperr.Error{Code: apperr.CodeConflict, Param: field,
					Message: fmt.Sprintf("customer %s has reference %q with a different %s", old.ID, p.Reference, field)}
			}
			c.cus, c.noop = old, true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if _, err := c.tx.AssetByCode(c.ctx, p.Currency); err != nil {
			if apperr.Is(err, apperr.CodeNotFound) {
				return apperr.Invalid("currency", "currency %q is not configured", p.Currency)
			}
			return err
		}
		c.cus = Customer{ID: newID("cus_"), OrgID: actor.ID, Reference: p.Reference, Currency: p.Currency, Mode: p.Mode,
			CreditLimit: p.CreditLimit, CreatedAt: c.now, UpdatedAt: c.now}
		if err := c.open(); err != nil {
			return err
		}
		c.cus.AccountID = c.accts[acctCustomer].ID
		c.cusNew = true
		c.subject = audit.Subject{Type: "billing_customer", ID: c.cus.ID}
		c.eventType = event.TypeBillingCustomerCreated
		c.data["reference"], c.data["mode"], c.data["currency"], c.data["credit_limit"] = p.Reference, p.Mode, p.Currency, p.CreditLimit
		return nil
	})
	if err != nil {
		return Customer{}, fmt.Errorf("billing: create customer: %w", err)
	}
	return c.cus, nil
}

// SetCreditLimit changes a postpaid customer's credit limit. A limit below
// what is used and reserved refuses new reservations and direct charges
// until it is raised or usage falls; existing reservations stay chargeable.
//
// Errors: forbidden, invalid, not_found.
func (s *Service) SetCreditLimit(ctx context.Context, actor Actor, id string, limit int64) (Customer, error) {
	c, err := s.onCustomer(ctx, actor, id, "billing.customer.limit_changed", func(c *change) error {
		c.result = func() any { return c.cus }
		if c.cus.Mode != Postpaid {
			return apperr.Invalid("credit_limit", "a prepaid customer has no credit limit")
		}
		if err := validLimit(c.cus.Mode, limit); err != nil {
			return err
		}
		if c.cus.CreditLimit == limit {
			c.noop = true
			return nil
		}
		c.data["from"], c.data["to"] = c.cus.CreditLimit, limit
		c.cus.CreditLimit, c.cusSet = limit, true
		c.eventType = event.TypeBillingCustomerLimitChanged
		return nil
	})
	if err != nil {
		return Customer{}, fmt.Errorf("billing: set credit limit of customer %s: %w", id, err)
	}
	return c.cus, nil
}

// TopUp adds to a prepaid customer's balance (from the provider's top-ups
// account). A retry with the same Reference and fields changes nothing and
// returns the first top-up.
//
// Errors: forbidden, invalid, not_found, conflict (Reference used for
// another customer or amount).
func (s *Service) TopUp(ctx context.Context, actor Actor, p TopUpParams) (TopUp, error) {
	if err := validAmount("amount", p.Amount); err != nil {
		return TopUp{}, err
	}
	if err := validReference("reference", p.Reference, true); err != nil {
		return TopUp{}, err
	}
	var out TopUp
	_, err := s.onCustomer(ctx, actor, p.CustomerID, "billing.customer.topped_up", func(c *change) error {
		c.result = func() any { return out }
		if c.cus.Mode != Prepaid {
			return apperr.Invalid("customer_id", "only a prepaid customer is topped up")
		}
		if err := c.open(); err != nil {
			return err
		}
		req := ledger.TransferRequest{Owner: LedgerOwner, Reference: "billing:topup:" + c.cus.OrgID + ":" + p.Reference,
			DebitAccountID: c.accts[acctTopups].ID, CreditAccountID: c.accts[acctCustomer].ID, Amount: p.Amount,
			Asset: c.cus.Currency, Code: "billing_topup"}
		c.moved = true
		res, err := c.w.Transfer(c.ctx, c.tx, c.now, []ledger.TransferRequest{req})
		if err != nil {
			return err
		}
		switch r := res[0]; r.Result {
		case ledger.ResultOK:
			c.noop = r.Replayed
			out = TopUp{CustomerID: c.cus.ID, Reference: p.Reference, Amount: p.Amount, TransferID: r.Transfer.ID, CreatedAt: r.Transfer.CreatedAt}
		case ledger.ResultExistsWithDifferentCreditAccountID, ledger.ResultExistsWithDifferentDebitAccountID,
			ledger.ResultExistsWithDifferentAsset:
			return &apperr.Error{Code: apperr.CodeConflict, Param: "customer_id", Message: "this reference was used to top up another customer"}
		case ledger.ResultExistsWithDifferentAmount:
			return &apperr.Error{Code: apperr.CodeConflict, Param: "amount", Message: "this reference was used to top up another amount"}
		default:
			return fmt.Errorf("billing: ledger refused a top-up of customer %s: %w", c.cus.ID, ledger.Rejection(res))
		}
		c.data["reference"], c.data["amount"], c.data["transfer"] = p.Reference, p.Amount, out.TransferID
		c.topUp, c.eventType = &out, event.TypeBillingTopUpCreated
		return nil
	})
	if err != nil {
		return TopUp{}, fmt.Errorf("billing: top up customer %s: %w", p.CustomerID, err)
	}
	return out, nil
}

// Reserve holds amount for the customer, if its available amount covers
// it, and returns the reservation with its authorization number. A repeat
// with the same Reference and fields returns the first reservation.
//
// Errors: forbidden, invalid, not_found, limit_exceeded, conflict
// (Reference used with other fields; Param names the field).
func (s *Service) Reserve(ctx context.Context, actor Actor, p ReserveParams) (Reservation, error) {
	if err := p.validate(); err != nil {
		return Reservation{}, err
	}
	c, err := s.onCustomer(ctx, actor, p.CustomerID, "billing.reservation.created", func(c *change) error {
		c.result = func() any { return *c.rsv }
		key := p.RequestKey // the new reservation's; set on every run
		if p.Reference != "" || key != "" {
			old, err := c.tx.ReservationByReference(c.ctx, actor.ID, p.Reference)
			by := fmt.Sprintf("reference %q", p.Reference)
			if p.Reference == "" {
				old, err = c.tx.ReservationByRequestKey(c.ctx, actor.ID, key)
				by = fmt.Sprintf("Idempotency-Key %q", key)
				if err == nil && c.now.Sub(old.CreatedAt) > RequestKeyRetention {
					// The key is the client's again, as the idempotency
					// layer's retention says: a new reservation, which
					// cannot carry the key (it stays the old one's).
					key, err = "", apperr.NotFound("reservation")
				}
			}
			switch {
			case err == nil:
				field := ""
				switch {
				case old.CustomerID != p.CustomerID:
					field = "customer_id"
				case old.Amount != p.Amount:
					field = "amount"
				case int64(old.ExpiresAt.Sub(old.CreatedAt)/time.Second) != p.ExpiresInSeconds:
					field = "expires_in_seconds"
				}
				if field != "" {
					return &apperr.Error{Code: apperr.CodeConflict, Param: field,
						Message: fmt.Sprintf("reservation %s was made under %s with a different %s", old.ID, by, field)}
				}
				c.rsv, c.noop = &old, true
				return nil
			case !apperr.Is(err, apperr.CodeNotFound):
				return err
			}
		}
		if err := c.reserveNew(p.Amount, p.Reference, p.ExpiresInSeconds); err != nil {
			return err
		}
		c.rsv.RequestKey = key
		c.subject = audit.Subject{Type: "billing_reservation", ID: c.rsv.ID}
		c.eventType = event.TypeBillingReservationCreated
		c.data["customer"], c.data["amount"], c.data["auth_number"] = c.cus.ID, p.Amount, c.rsv.AuthNumber
		return nil
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("billing: reserve for customer %s: %w", p.CustomerID, err)
	}
	return *c.rsv, nil
}

// reserveNew makes c's reservation: checks the customer's limit, draws an
// authorization number and holds amount.
func (c *change) reserveNew(amount int64, ref string, expiresInSeconds int64) error {
	if err := c.checkLimit(amount); err != nil {
		return err
	}
	auth, err := freshAuthNumber(c.ctx, c.tx)
	if err != nil {
		return err
	}
	c.rsv = &Reservation{ID: newID("rsv_"), AuthNumber: auth, OrgID: c.cus.OrgID, CustomerID: c.cus.ID, Reference: ref,
		Currency: c.cus.Currency, Amount: amount, Authorized: amount, Reserved: amount, State: StateActive,
		ExpiresAt: c.now.Add(time.Duration(expiresInSeconds) * time.Second), CreatedAt: c.now, UpdatedAt: c.now}
	c.rsvNew = true
	if err := c.open(); err != nil {
		return err
	}
	trs, err := c.transfer(c.ledgerRef(), c.hold(amount))
	if err != nil {
		return err
	}
	c.rsv.HoldTransferID = trs[0].ID
	return c.record(EventReserve, amount, 0, "", trs[0].ID)
}

// authNumberTriesMax bounds the draws of an authorization number not yet
// taken (one in 2^45 per reservation that exists: more than a few means a
// broken generator).
const authNumberTriesMax = 8

func freshAuthNumber(ctx context.Context, tx Tx) (string, error) {
	for range authNumberTriesMax {
		n := newAuthNumber()
		_, err := tx.ReservationByAuthNumber(ctx, n)
		if apperr.Is(err, apperr.CodeNotFound) {
			return n, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("billing: no free authorization number after %d draws", authNumberTriesMax)
}

// byAuthNumber finds a reservation by its authorization number, as typed.
func byAuthNumber(auth string) (func(context.Context, Tx) (Reservation, error), error) {
	n, ok := NormalizeAuthNumber(auth)
	if !ok {
		return nil, apperr.Invalid("auth_number", "an authorization number of %d characters", AuthNumberLen)
	}
	return func(ctx context.Context, tx Tx) (Reservation, error) { return tx.ReservationByAuthNumber(ctx, n) }, nil
}

// usable refuses an action on a reservation that is not active or has expired.
func usable(r *Reservation, now time.Time) error {
	if r.State == StateExpired || (r.State == StateActive && r.ExpiredAt(now)) {
		return apperr.New(CodeReservationExpired, "reservation %s expired at %s", r.AuthNumber, r.ExpiresAt.Format(time.RFC3339))
	}
	if r.State != StateActive {
		return apperr.New(CodeReservationClosed, "reservation %s is %s", r.AuthNumber, r.State)
	}
	return nil
}

// increment reserves amount more on c's reservation: the old hold is voided
// and one of the new total made, in one ledger submission.
func (c *change) increment(amount int64, ref string) error {
	if err := c.checkLimit(amount); err != nil {
		return err
	}
	if err := c.open(); err != nil {
		return err
	}
	r := c.rsv
	total := r.Reserved + amount
	var reqs []ledger.TransferRequest
	if r.HoldTransferID != 0 {
		reqs = append(reqs, ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: r.HoldTransferID})
	}
	reqs = append(reqs, c.hold(total))
	trs, err := c.transfer(c.ledgerRef(), reqs...)
	if err != nil {
		return err
	}
	r.HoldTransferID = trs[len(trs)-1].ID
	r.Reserved, r.Authorized = total, r.Authorized+amount
	return c.record(EventIncrement, amount, 0, ref, r.HoldTransferID)
}

// IncrementReservation reserves more on an active reservation (a
// re-reservation when usage will exceed it), if the customer's available
// amount covers the increment. A retry with the same Reference changes
// nothing.
//
// Errors: forbidden, invalid, not_found, limit_exceeded,
// reservation_closed, reservation_expired, conflict (Reference used for
// another amount).
func (s *Service) IncrementReservation(ctx context.Context, actor Actor, authNumber string, p IncrementParams) (Reservation, error) {
	if !actor.isOrg() {
		return Reservation{}, forbidden()
	}
	if err := validAmount("amount", p.Amount); err != nil {
		return Reservation{}, err
	}
	if err := validCallerReference("reference", p.Reference); err != nil {
		return Reservation{}, err
	}
	find, err := byAuthNumber(authNumber)
	if err != nil {
		return Reservation{}, err
	}
	c, err := s.onReservation(ctx, actor, "billing.reservation.incremented", find, func(c *change) error {
		c.result = func() any { return *c.rsv }
		old, err := c.tx.ReservationEventByReference(c.ctx, c.rsv.ID, p.Reference)
		switch {
		case err == nil:
			if old.Kind != EventIncrement || old.Amount != p.Amount {
				return &apperr.Error{Code: apperr.CodeConflict, Param: "amount", Message: fmt.Sprintf("reference %q was used for another %s", p.Reference, old.Kind)}
			}
			c.noop = true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if err := usable(c.rsv, c.now); err != nil {
			return err
		}
		if err := c.notInSession(); err != nil {
			return err
		}
		c.data["amount"], c.data["reference"] = p.Amount, p.Reference
		c.eventType = event.TypeBillingReservationIncremented
		return c.increment(p.Amount, p.Reference)
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("billing: increment reservation %s: %w", authNumber, err)
	}
	return *c.rsv, nil
}

// Charge takes amount from a reservation: up to what remains reserved,
// once or several times (each posts the hold for the amount and holds the
// rest anew, in one ledger submission). Final closes the reservation and
// releases the rest. Above what remains, the charge is refused unless
// ReserveDifference is set and the customer's available amount covers the
// difference. A retry with the same Reference returns the first charge and
// changes nothing.
//
// Errors: forbidden, invalid, not_found, reservation_exceeded,
// limit_exceeded, reservation_closed, reservation_expired, conflict
// (Reference used with other fields; Param names the field).
func (s *Service) Charge(ctx context.Context, actor Actor, authNumber string, p ChargeParams) (Charge, Reservation, error) {
	if !actor.isOrg() {
		return Charge{}, Reservation{}, forbidden()
	}
	if err := validAmount("amount", p.Amount); err != nil {
		return Charge{}, Reservation{}, err
	}
	if err := validCallerReference("reference", p.Reference); err != nil {
		return Charge{}, Reservation{}, err
	}
	find, err := byAuthNumber(authNumber)
	if err != nil {
		return Charge{}, Reservation{}, err
	}
	var out Charge
	c, err := s.onReservation(ctx, actor, "billing.reservation.charged", find, func(c *change) error {
		c.result = func() any { return ChargeResult{Charge: out, Reservation: *c.rsv} }
		r := c.rsv
		old, err := c.tx.ChargeByReference(c.ctx, actor.ID, p.Reference)
		switch {
		case err == nil:
			field := ""
			switch {
			case old.ReservationID != r.ID:
				field = "auth_number"
			case old.Amount != p.Amount:
				field = "amount"
			case old.Final != p.Final:
				field = "final"
			}
			if field != "" {
				return &apperr.Error{Code: apperr.CodeConflict, Param: field,
					Message: fmt.Sprintf("charge %s has reference %q with a different %s", old.ID, p.Reference, field)}
			}
			out, c.noop = old, true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		// The reservation's history takes each reference once: one its
		// increment used is not this charge's.
		if ev, err := c.tx.ReservationEventByReference(c.ctx, r.ID, p.Reference); err == nil {
			return &apperr.Error{Code: apperr.CodeConflict, Param: "reference",
				Message: fmt.Sprintf("reference %q was used for an %s of this reservation", p.Reference, ev.Kind)}
		} else if !apperr.Is(err, apperr.CodeNotFound) {
			return err
		}
		if err := usable(r, c.now); err != nil {
			return err
		}
		if err := c.notInSession(); err != nil {
			return err
		}
		if p.Amount > r.Reserved {
			if !p.ReserveDifference {
				return apperr.New(CodeReservationExceeded, "reservation %s holds %d; %d asked for", r.AuthNumber, r.Reserved, p.Amount)
			}
			c.data["reserved_difference"] = p.Amount - r.Reserved
			// A final charge ends the reservation: its re-reservation may use
			// the room kept for the end, which the charge then leaves to it.
			c.ending = p.Final
			if err := c.increment(p.Amount-r.Reserved, ""); err != nil {
				return err
			}
		}
		released, err := c.capture(p.Amount, p.Final, p.Reference)
		if err != nil {
			return err
		}
		out = *c.charge
		c.data["charge"], c.data["amount"], c.data["reference"], c.data["final"], c.data["released"] = out.ID, p.Amount, p.Reference, p.Final, released
		return nil
	})
	if err != nil {
		return Charge{}, Reservation{}, fmt.Errorf("billing: charge reservation %s: %w", authNumber, err)
	}
	return out, *c.rsv, nil
}

// capture charges amount (at most what c's reservation holds) against it:
// the hold is posted for amount and, unless final, the rest held anew, in
// one ledger submission; final closes the reservation and releases the
// rest. It sets c.charge and the event, and returns what it released.
func (c *change) capture(amount int64, final bool, ref string) (int64, error) {
	r := c.rsv
	if amount > r.Reserved || r.HoldTransferID == 0 {
		return 0, fmt.Errorf("billing: capture of %d from reservation %s holding %d: invariant broken", amount, r.ID, r.Reserved)
	}
	if err := c.open(); err != nil {
		return 0, err
	}
	rest := r.Reserved - amount
	reqs := []ledger.TransferRequest{{Kind: ledger.KindPost, PendingID: r.HoldTransferID, Amount: amount}}
	if !final && rest > 0 {
		reqs = append(reqs, c.hold(rest))
	}
	trs, err := c.transfer(c.ledgerRef(), reqs...)
	if err != nil {
		return 0, err
	}
	r.Charged += amount
	released := int64(0)
	r.HoldTransferID, r.Reserved = 0, rest
	if len(trs) == 2 {
		r.HoldTransferID = trs[1].ID
	}
	if final {
		released = rest
		r.Released += rest
		r.Reserved = 0
		r.State = StateClosed
	}
	c.charge = &Charge{ID: newID("chg_"), OrgID: r.OrgID, CustomerID: r.CustomerID, ReservationID: r.ID, AuthNumber: r.AuthNumber,
		Reference: ref, Amount: amount, Final: final, TransferID: trs[0].ID, CreatedAt: c.now}
	c.eventType = event.TypeBillingReservationCharged
	return released, c.record(EventCharge, amount, released, ref, trs[0].ID)
}

// end releases everything c's reservation still holds and moves it to st.
func (c *change) end(st State, kind EventKind) error {
	r := c.rsv
	var void int64
	if r.HoldTransferID != 0 {
		if err := c.open(); err != nil {
			return err
		}
		trs, err := c.transfer(c.ledgerRef(), ledger.TransferRequest{Kind: ledger.KindVoid, PendingID: r.HoldTransferID})
		if err != nil {
			return err
		}
		void = trs[0].ID
	}
	released := r.Reserved
	r.Released += released
	r.Reserved, r.HoldTransferID, r.State = 0, 0, st
	c.data["released"] = released
	return c.record(kind, released, released, "", void)
}

// CancelReservation releases everything a reservation still holds. Canceling
// a canceled reservation returns it unchanged.
//
// Errors: forbidden, invalid, not_found, reservation_closed (closed by a
// final charge), reservation_expired (its expiry has passed, whether or not
// the sweep has released it yet).
func (s *Service) CancelReservation(ctx context.Context, actor Actor, authNumber string) (Reservation, error) {
	if !actor.isOrg() {
		return Reservation{}, forbidden()
	}
	find, err := byAuthNumber(authNumber)
	if err != nil {
		return Reservation{}, err
	}
	c, err := s.onReservation(ctx, actor, "billing.reservation.canceled", find, func(c *change) error {
		c.result = func() any { return *c.rsv }
		if c.rsv.State == StateCanceled {
			c.noop = true
			return nil
		}
		// Past its expiry it is the sweep's to end (as expired, with its
		// own event), whether or not the sweep has run yet.
		if err := usable(c.rsv, c.now); err != nil {
			return err
		}
		if err := c.notInSession(); err != nil {
			return err
		}
		c.eventType = event.TypeBillingReservationCanceled
		return c.end(StateCanceled, EventCancel)
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("billing: cancel reservation %s: %w", authNumber, err)
	}
	return *c.rsv, nil
}

// ExpireDue ends every active reservation whose expiry had passed by the
// service's clock when it was called, releasing what they hold, and returns
// how many it ended. Run it often (a job, or a moved test clock); a charge
// after expiry is refused whether or not it has run. Ending one is
// idempotent: a reservation that moved on meanwhile is left alone.
//
// It reads the due reservations in pages of ExpireSweepBatchMax, each after
// the last one read, so one that cannot be ended is reported (in the
// joined error) and passed over, and the next call tries it again.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.now()
	var (
		after DueCursor
		n     int
		errs  apperr.Sweep
	)
	for {
		due, err := s.cfg.Store.ReservationListDue(ctx, now, after, ExpireSweepBatchMax)
		if err != nil {
			errs.Add(fmt.Errorf("billing: list due reservations: %w", err))
			return n, errs.Err()
		}
		for _, d := range due {
			ended, err := s.expire(ctx, d)
			if err != nil {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				// One reservation that cannot be ended must not keep the
				// sweep from the others.
				errs.Add(fmt.Errorf("billing: expire reservation %s: %w", d.ID, err))
			} else if ended {
				n++
			}
			after = DueCursor{At: d.ExpiresAt, ID: d.ID}
		}
		if len(due) < ExpireSweepBatchMax {
			return n, errs.Err()
		}
	}
}

// expire ends reservation d if it is still active and expired, and says
// whether this call ended it.
func (s *Service) expire(ctx context.Context, d Reservation) (bool, error) {
	ended := false
	_, err := s.onReservation(ctx, actorExpiry, "billing.reservation.expired",
		func(context.Context, Tx) (Reservation, error) { return d, nil },
		func(c *change) error {
			// Set on every run: the store may run a rule again.
			ended = c.rsv.State == StateActive && c.rsv.ExpiredAt(c.now)
			if !ended {
				c.noop = true
				return nil
			}
			ses, err := c.tx.SessionByReservationForUpdate(c.ctx, c.rsv.ID)
			switch {
			case err == nil:
				// A metered session's accepted usage is charged, not lost.
				c.ses = &ses
				c.data["session"], c.data["settled"] = ses.ID, ses.Unsettled
				// finish writes billing.session.expired.
				return c.finish(SessionExpired, StateExpired, EventExpire)
			case !apperr.Is(err, apperr.CodeNotFound):
				return err
			}
			c.eventType = event.TypeBillingReservationExpired
			return c.end(StateExpired, EventExpire)
		})
	return ended && err == nil, err
}

// ChargeDirect charges a customer without a reservation, if its available
// amount covers the charge. A retry with the same Reference returns the
// first charge and changes nothing.
//
// Errors: forbidden, invalid, not_found, limit_exceeded, conflict
// (Reference used with other fields; Param names the field).
func (s *Service) ChargeDirect(ctx context.Context, actor Actor, p DirectChargeParams) (Charge, error) {
	if err := validAmount("amount", p.Amount); err != nil {
		return Charge{}, err
	}
	if err := validCallerReference("reference", p.Reference); err != nil {
		return Charge{}, err
	}
	var out Charge
	_, err := s.onCustomer(ctx, actor, p.CustomerID, "billing.charge.created", func(c *change) error {
		c.result = func() any { return out }
		old, err := c.tx.ChargeByReference(c.ctx, actor.ID, p.Reference)
		switch {
		case err == nil:
			field := ""
			switch {
			case old.ReservationID != "":
				field = "auth_number"
			case old.CustomerID != p.CustomerID:
				field = "customer_id"
			case old.Amount != p.Amount:
				field = "amount"
			}
			if field != "" {
				return &apperr.Error{Code: apperr.CodeConflict, Param: field,
					Message: fmt.Sprintf("charge %s has reference %q with a different %s", old.ID, p.Reference, field)}
			}
			out, c.noop = old, true
			return nil
		case !apperr.Is(err, apperr.CodeNotFound):
			return err
		}
		if err := c.checkLimit(p.Amount); err != nil {
			return err
		}
		out = Charge{ID: newID("chg_"), OrgID: c.cus.OrgID, CustomerID: c.cus.ID, Reference: p.Reference, Amount: p.Amount,
			Final: true, CreatedAt: c.now}
		if err := c.open(); err != nil {
			return err
		}
		trs, err := c.transfer("billing:"+out.ID, ledger.TransferRequest{DebitAccountID: c.accts[acctCustomer].ID,
			CreditAccountID: c.accts[acctRevenue].ID, Amount: p.Amount, Code: "billing_charge"})
		if err != nil {
			return err
		}
		out.TransferID = trs[0].ID
		c.charge, c.eventType = &out, event.TypeBillingChargeCreated
		c.subject = audit.Subject{Type: "billing_charge", ID: out.ID}
		c.data["customer"], c.data["amount"], c.data["reference"] = c.cus.ID, p.Amount, p.Reference
		return nil
	})
	if err != nil {
		return Charge{}, fmt.Errorf("billing: charge customer %s: %w", p.CustomerID, err)
	}
	return out, nil
}

// FindCustomerByID returns one of the acting organization's customers.
//
// Errors: forbidden, not_found.
func (s *Service) FindCustomerByID(ctx context.Context, actor Actor, id string) (Customer, error) {
	if !actor.isOrg() {
		return Customer{}, forbidden()
	}
	c, err := s.cfg.Store.CustomerByID(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	if c.OrgID != actor.ID {
		return Customer{}, apperr.NotFound("customer")
	}
	return c, nil
}

// FindCustomers lists the acting organization's customers, newest first.
//
// Errors: forbidden, invalid (limit).
func (s *Service) FindCustomers(ctx context.Context, actor Actor, f CustomerFilter) ([]Customer, error) {
	if !actor.isOrg() {
		return nil, forbidden()
	}
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	f.OrgID = actor.ID
	return s.cfg.Store.CustomerList(ctx, f)
}

// FindCharges returns one of the acting organization's customers and a
// page of its charges, oldest first (ids sort by creation), after
// f.AfterID, created in [f.CreatedFrom, f.CreatedBefore) where set.
//
// Errors: forbidden, invalid (limit), not_found.
func (s *Service) FindCharges(ctx context.Context, actor Actor, f ChargeFilter) (Customer, []Charge, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return Customer{}, nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	c, err := s.FindCustomerByID(ctx, actor, f.CustomerID)
	if err != nil {
		return Customer{}, nil, err
	}
	cs, err := s.cfg.Store.ChargeList(ctx, f)
	return c, cs, err
}

// FindBalance answers a balance inquiry: what the customer has used,
// holds and may still use, and, for a proposed amount (0: none), what
// would remain after it.
//
// Errors: forbidden, invalid, not_found.
func (s *Service) FindBalance(ctx context.Context, actor Actor, customerID string, proposed int64) (Balance, error) {
	if proposed != 0 {
		if err := validAmount("amount", proposed); err != nil {
			return Balance{}, err
		}
	}
	c, err := s.FindCustomerByID(ctx, actor, customerID)
	if err != nil {
		return Balance{}, err
	}
	a, err := s.cfg.Store.AccountByID(ctx, c.AccountID)
	if err != nil {
		return Balance{}, fmt.Errorf("billing: read account of customer %s: %w", c.ID, err)
	}
	return balanceOf(c, a, proposed), nil
}

// FindCustomerBalances is FindCustomers with each customer's balance
// inquiry (FindBalance, no proposed amount): what a page of customers
// shows. The customers' ledger accounts are read in one store call, not
// one each.
//
// Errors: forbidden, invalid (limit).
func (s *Service) FindCustomerBalances(ctx context.Context, actor Actor, f CustomerFilter) ([]Customer, []Balance, error) {
	customers, err := s.FindCustomers(ctx, actor, f)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, len(customers))
	for i, c := range customers {
		ids[i] = c.AccountID
	}
	accounts, err := s.cfg.Store.AccountsByID(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("billing: read accounts of %d customers: %w", len(customers), err)
	}
	byID := make(map[int64]ledger.Account, len(accounts))
	for _, a := range accounts {
		byID[a.ID] = a
	}
	out := make([]Balance, len(customers))
	for i, c := range customers {
		a, ok := byID[c.AccountID]
		if !ok {
			return nil, nil, fmt.Errorf("billing: customer %s: its ledger account %d is missing: invariant broken", c.ID, c.AccountID)
		}
		out[i] = balanceOf(c, a, 0)
	}
	return customers, out, nil
}

// FindReservation looks a reservation up by its authorization number or by
// the caller's reference, with its history: what an external system asks
// before it serves. An active reservation whose expiry has passed is ended
// first, as the expiry sweep would (lists show it active until the sweep,
// at most jobs.ReservationExpirySweepInterval later).
//
// Errors: forbidden, invalid, not_found.
func (s *Service) FindReservation(ctx context.Context, actor Actor, q ReservationLookup) (ReservationStatus, error) {
	if !actor.isOrg() {
		return ReservationStatus{}, forbidden()
	}
	var r Reservation
	var err error
	switch {
	case q.AuthNumber != "" && q.Reference == "":
		n, ok := NormalizeAuthNumber(q.AuthNumber)
		if !ok {
			return ReservationStatus{}, apperr.Invalid("auth_number", "an authorization number of %d characters", AuthNumberLen)
		}
		r, err = s.cfg.Store.ReservationByAuthNumber(ctx, n)
	case q.Reference != "" && q.AuthNumber == "":
		if err := validReference("reference", q.Reference, true); err != nil {
			return ReservationStatus{}, err
		}
		r, err = s.cfg.Store.ReservationByReference(ctx, actor.ID, q.Reference)
	default:
		return ReservationStatus{}, apperr.Invalid("auth_number", "either an authorization number or a reference")
	}
	if err != nil {
		return ReservationStatus{}, err
	}
	if r.OrgID != actor.ID {
		return ReservationStatus{}, apperr.NotFound("reservation")
	}
	if r.State == StateActive && r.ExpiredAt(s.now()) {
		// Its expiry passed and the sweep has not ended it yet: end it now
		// (what the sweep would do), so that the answer says expired, with
		// what the expiry released and charged, and never active while a
		// charge would be refused.
		if _, err := s.expire(ctx, r); err != nil {
			return ReservationStatus{}, fmt.Errorf("billing: expire reservation %s: %w", r.ID, err)
		}
		if r, err = s.cfg.Store.ReservationByAuthNumber(ctx, r.AuthNumber); err != nil {
			return ReservationStatus{}, err
		}
	}
	h, err := s.cfg.Store.ReservationEventList(ctx, r.ID)
	if err != nil {
		return ReservationStatus{}, fmt.Errorf("billing: read history of reservation %s: %w", r.ID, err)
	}
	return ReservationStatus{Reservation: r, History: h}, nil
}

// FindReservations lists the acting organization's reservations, newest
// first.
//
// Errors: forbidden, invalid (limit).
func (s *Service) FindReservations(ctx context.Context, actor Actor, f ReservationFilter) ([]Reservation, error) {
	if !actor.isOrg() {
		return nil, forbidden()
	}
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	f.OrgID = actor.ID
	return s.cfg.Store.ReservationList(ctx, f)
}
