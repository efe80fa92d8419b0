package billing

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Organizations int
	Customers     int
	Reservations  int
	Charges       int
	Invoices      int
	Sessions      int
	Violations    []string
}

// Verify reconciles every customer of every organization with the ledger
// (kinko verify):
//
//   - the customer's ledger account is the one its row names;
//   - the account's pending debits are what its active reservations hold,
//     and each such reservation's hold is a pending transfer of exactly
//     that amount from the customer's account;
//   - the account's posted debits are the sum of the customer's charges,
//     and a postpaid account was never credited;
//   - each reservation's amounts add up (authorized = reserved + charged +
//     released; only an active one holds anything) and its charges sum to
//     what it says it charged;
//   - each invoice's total and count are the charges created in its month;
//   - each metered session agrees with its quota's reservation (see
//     sessionAgrees), and its usage reports count and sum to what it says
//     it accepted and used;
//
// and then, per organization and currency, that its revenue accounts were
// credited exactly what its customers' accounts were debited (posted and
// pending) and never debited, and that its top-up account was debited
// exactly what its customers' accounts were credited and never credited:
// no money reached or left a customer except through billing's own moves.
//
// progress, if not nil, is called with the customers checked so far.
func (s *Service) Verify(ctx context.Context, progress func(customers int)) (VerifyReport, error) {
	var rep VerifyReport
	orgs, err := s.verifyCustomers(ctx, &rep, progress)
	if err != nil {
		return rep, err
	}
	// Organizations in a stable order, for a stable report.
	for _, org := range slices.Sorted(maps.Keys(orgs)) {
		var violations []string
		err := s.cfg.Store.BillingSnapshot(ctx, func(r SnapshotReader) error {
			var err error
			violations, err = verifyOrg(ctx, r, org)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("billing: verify organization %s: %w", org, err)
		}
		rep.Organizations++
		rep.Violations = append(rep.Violations, violations...)
	}
	return rep, nil
}

// verifyCustomers checks every customer, each from a snapshot of its own,
// into rep, and returns their organizations.
func (s *Service) verifyCustomers(ctx context.Context, rep *VerifyReport, progress func(customers int)) (orgs map[string]bool, err error) {
	orgs = map[string]bool{}
	report := func() {
		if progress != nil {
			progress(rep.Customers)
		}
	}
	err = eachPage(func(after string) ([]Customer, error) {
		return s.cfg.Store.CustomerList(ctx, CustomerFilter{AfterID: after, Limit: PageLimitMax})
	}, func(c Customer) string { return c.ID }, func(c Customer) error {
		// One snapshot per customer: a running server may change it, but
		// not between the reads compared.
		var v customerCheck
		err := s.cfg.Store.BillingSnapshot(ctx, func(r SnapshotReader) error {
			var err error
			v, err = verifyCustomer(ctx, r, c)
			return err
		})
		if err != nil {
			return fmt.Errorf("customer %s: %w", c.ID, err)
		}
		orgs[c.OrgID] = true
		rep.Customers++
		rep.Reservations += v.reservations
		rep.Charges += v.charges
		rep.Invoices += v.invoices
		rep.Sessions += v.sessions
		for _, m := range v.violations {
			rep.Violations = append(rep.Violations, fmt.Sprintf("billing customer %s: %s", c.ID, m))
		}
		if rep.Customers%PageLimitMax == 0 {
			report()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("billing: verify: %w", err)
	}
	if rep.Customers%PageLimitMax != 0 {
		report()
	}
	return orgs, nil
}

// eachPage calls fn for every item fetch returns, page after page of
// PageLimitMax: each page starts after the last item (by id) of the one
// before, and a short page is the last. An error from fetch or fn stops it.
func eachPage[T any](fetch func(after string) ([]T, error), id func(T) string, fn func(T) error) error {
	for after := ""; ; {
		page, err := fetch(after)
		if err != nil {
			return err
		}
		for _, x := range page {
			if err := fn(x); err != nil {
				return err
			}
		}
		if len(page) < PageLimitMax {
			return nil
		}
		after = id(page[len(page)-1])
	}
}

// verifyInvoicesMax bounds the invoices Verify reads of one customer: a
// hundred years of months.
const verifyInvoicesMax = 1200

// customerCheck is one reading of one customer.
type customerCheck struct {
	reservations, charges, invoices, sessions int
	violations                                []string
}

func (v *customerCheck) bad(format string, args ...any) {
	v.violations = append(v.violations, fmt.Sprintf(format, args...))
}

// verifyCustomer reads customer c's reservations, charges, invoices and
// ledger account from r, and checks them against each other.
func verifyCustomer(ctx context.Context, r SnapshotReader, c Customer) (customerCheck, error) {
	var v customerCheck
	a, err := r.AccountByID(ctx, c.AccountID)
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		v.bad("its ledger account %d is missing", c.AccountID)
		return v, nil
	case err != nil:
		return v, err
	}
	if a.Owner != LedgerOwner || a.Reference != CustomerAccountReference(c.ID) || a.Asset != c.Currency {
		v.bad("names ledger account %d, which is %s/%s in %s", a.ID, a.Owner, a.Reference, a.Asset)
	}

	// Charges, oldest first: the customer's total, each reservation's and
	// each calendar month's (what an invoice of it must say).
	var charged int64
	byReservation := map[string]int64{}
	type month struct{ n, total int64 }
	byMonth := map[string]month{}
	err = eachPage(func(after string) ([]Charge, error) {
		return r.ChargeList(ctx, ChargeFilter{CustomerID: c.ID, AfterID: after, Limit: PageLimitMax})
	}, func(ch Charge) string { return ch.ID }, func(ch Charge) error {
		v.charges++
		charged += ch.Amount
		if ch.ReservationID != "" {
			byReservation[ch.ReservationID] += ch.Amount
		}
		m := byMonth[ch.CreatedAt.UTC().Format(PeriodLayout)]
		byMonth[ch.CreatedAt.UTC().Format(PeriodLayout)] = month{m.n + 1, m.total + ch.Amount}
		return nil
	})
	if err != nil {
		return v, err
	}

	var held int64
	err = eachPage(func(after string) ([]Reservation, error) {
		return r.ReservationList(ctx, ReservationFilter{OrgID: c.OrgID, CustomerID: c.ID, AfterID: after, Limit: PageLimitMax})
	}, func(rsv Reservation) string { return rsv.ID }, func(rsv Reservation) error {
		v.reservations++
		if rsv.State == StateActive {
			held += rsv.Reserved
		}
		return verifyReservation(ctx, r, &v, a, rsv, byReservation[rsv.ID])
	})
	if err != nil {
		return v, err
	}
	if a.DebitsPending != held {
		v.bad("its account has %d pending debits; its active reservations hold %d", a.DebitsPending, held)
	}
	if a.DebitsPosted != charged {
		v.bad("its account has %d posted debits; its charges sum to %d", a.DebitsPosted, charged)
	}
	if c.Mode == Postpaid && (a.CreditsPosted != 0 || a.CreditsPending != 0) {
		v.bad("is postpaid, but its account was credited %d (%d pending)", a.CreditsPosted, a.CreditsPending)
	}
	if err := verifySessions(ctx, r, &v, c); err != nil {
		return v, err
	}

	// Every invoice: one a month, so even a century is a small read.
	invoices, err := r.InvoiceList(ctx, InvoiceFilter{CustomerID: c.ID, Limit: verifyInvoicesMax})
	if err != nil {
		return v, err
	}
	for _, inv := range invoices {
		v.invoices++
		if m := byMonth[inv.Period]; m.n != inv.Count || m.total != inv.Total {
			v.bad("invoice %s (%s) says %d charges of %d; the month has %d of %d", inv.ID, inv.Period, inv.Count, inv.Total, m.n, m.total)
		}
	}
	return v, nil
}

// verifyReservation checks reservation r of the customer whose account is
// a; charged is what its charge rows sum to.
func verifyReservation(ctx context.Context, rd SnapshotReader, v *customerCheck, a ledger.Account, r Reservation, charged int64) error {
	if r.Authorized != r.Reserved+r.Charged+r.Released || r.Reserved < 0 || r.Charged < 0 || r.Released < 0 {
		v.bad("reservation %s: authorized %d is not reserved %d + charged %d + released %d", r.ID, r.Authorized, r.Reserved, r.Charged, r.Released)
	}
	if r.State != StateActive && r.Reserved != 0 {
		v.bad("reservation %s is %s but still holds %d", r.ID, r.State, r.Reserved)
	}
	if charged != r.Charged {
		v.bad("reservation %s says it charged %d; its charges sum to %d", r.ID, r.Charged, charged)
	}
	if r.State != StateActive || r.Reserved == 0 {
		return nil
	}
	t, err := rd.TransferByID(ctx, r.HoldTransferID)
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		v.bad("reservation %s holds %d, but its hold transfer %d is missing", r.ID, r.Reserved, r.HoldTransferID)
		return nil
	case err != nil:
		return err
	}
	if t.Kind != ledger.KindPending || t.DebitAccountID != a.ID || t.Amount != r.Reserved {
		v.bad("reservation %s holds %d from account %d, but its hold transfer %d is a %s of %d from account %d",
			r.ID, r.Reserved, a.ID, t.ID, t.Kind, t.Amount, t.DebitAccountID)
	}
	return nil
}

// verifySessions checks customer c's metered sessions against their
// reservations and their usage reports.
func verifySessions(ctx context.Context, r SnapshotReader, v *customerCheck, c Customer) error {
	return eachPage(func(after string) ([]Session, error) {
		return r.SessionList(ctx, SessionFilter{OrgID: c.OrgID, CustomerID: c.ID, AfterID: after, Limit: PageLimitMax})
	}, func(ses Session) string { return ses.ID }, func(ses Session) error {
		v.sessions++
		rsv, err := r.ReservationByID(ctx, ses.ReservationID)
		switch {
		case apperr.Is(err, apperr.CodeNotFound):
			v.bad("session %s: its reservation %s is missing", ses.ID, ses.ReservationID)
		case err != nil:
			return err
		case !sessionAgrees(ses, rsv):
			v.bad("session %s (%s; quota %d, used %d, settled %d, unsettled %d) disagrees with its reservation %s (%s; authorized %d, reserved %d, charged %d)",
				ses.ID, ses.State, ses.Quota, ses.Used, ses.Settled, ses.Unsettled, rsv.ID, rsv.State, rsv.Authorized, rsv.Reserved, rsv.Charged)
		}
		n, total, err := r.UsageReportTotals(ctx, ses.ID)
		if err != nil {
			return err
		}
		if n != ses.Reports || total != ses.Used {
			v.bad("session %s says it accepted %d reports using %d; its reports are %d using %d", ses.ID, ses.Reports, ses.Used, n, total)
		}
		return nil
	})
}

// verifyOrg reads the sums of organization org's customers' accounts and
// its revenue and top-up accounts, all from r, and checks that the money
// billing moved went only between them: into revenue from customers, out
// of top-ups into customers.
func verifyOrg(ctx context.Context, r SnapshotReader, org string) ([]string, error) {
	totals, err := r.CustomerAccountTotals(ctx, org)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, cus := range totals {
		cur := cus.Currency
		var revenue, topups AccountTotals
		for shard := range RevenueShards {
			if err := addAccount(ctx, r, &revenue, revenueShardReference(org, cur, shard)); err != nil {
				return nil, err
			}
		}
		// Versions before sharding credited one account, which keeps the
		// holds made then and what they post (docs/billing.md).
		if err := addAccount(ctx, r, &revenue, legacyRevenueReference(org, cur)); err != nil {
			return nil, err
		}
		if err := addAccount(ctx, r, &topups, topUpsAccountReference(org, cur)); err != nil {
			return nil, err
		}
		say := func(format string, args ...any) {
			bad = append(bad, fmt.Sprintf("billing organization %s (%s): ", org, cur)+fmt.Sprintf(format, args...))
		}
		if revenue.CreditsPosted != cus.DebitsPosted || revenue.CreditsPending != cus.DebitsPending {
			say("its revenue accounts were credited %d (%d pending); its customers' accounts were debited %d (%d pending)",
				revenue.CreditsPosted, revenue.CreditsPending, cus.DebitsPosted, cus.DebitsPending)
		}
		if revenue.DebitsPosted != 0 || revenue.DebitsPending != 0 {
			say("its revenue accounts were debited %d (%d pending)", revenue.DebitsPosted, revenue.DebitsPending)
		}
		if topups.DebitsPosted != cus.CreditsPosted || topups.DebitsPending != cus.CreditsPending {
			say("its top-up account was debited %d (%d pending); its customers' accounts were credited %d (%d pending)",
				topups.DebitsPosted, topups.DebitsPending, cus.CreditsPosted, cus.CreditsPending)
		}
		if topups.CreditsPosted != 0 || topups.CreditsPending != 0 {
			say("its top-up account was credited %d (%d pending)", topups.CreditsPosted, topups.CreditsPending)
		}
	}
	return bad, nil
}

// addAccount adds the balances of the account billing owns under
// reference to m; an account never opened adds nothing.
func addAccount(ctx context.Context, r SnapshotReader, m *AccountTotals, reference string) error {
	a, err := r.AccountByReference(ctx, LedgerOwner, reference)
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		return nil
	case err != nil:
		return err
	}
	m.DebitsPosted += a.DebitsPosted
	m.DebitsPending += a.DebitsPending
	m.CreditsPosted += a.CreditsPosted
	m.CreditsPending += a.CreditsPending
	return nil
}
