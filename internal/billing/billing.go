// Package billing sells to customers what they can pay for, and no more: a
// service provider (an organization) keeps billing customers, each with a
// prepaid balance or a postpaid credit limit in one currency; it reserves
// before it serves (a reservation holds the amount and returns an
// authorization number), charges against the reservation once or several
// times, or directly against the limit, and reservations expire.
//
// Every operation is one transaction that locks the customer's row first
// (and then the reservation's), so concurrent reservations of one customer,
// on any number of nodes, never exceed its limit. Money moves only as ledger
// transfers written through ledger.Writer in that same transaction: a
// reservation is one pending transfer (a hold) from the customer's account
// to the provider's revenue account for what remains reserved; a charge
// posts it. The reservation's row, its history, its event and its audit
// entry commit with the transfers or not at all.
//
// This package must never import SQL, net/http or another product; the
// store adapters implement Store and Tx, and the edges call Service.
package billing

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// LedgerOwner owns every ledger account and transfer billing writes: the
// operator's organization (auth.OperatorOrgID), as for escrow. Providers
// read their customers' balances through billing, never through the ledger
// API, because an owner may also move money between its accounts there and
// could then post or void billing's holds behind its back.
const LedgerOwner = "org_operator"

// ManagesAccount says whether the ledger account (owner, reference) is one
// billing opens (all under LedgerOwner, all referenced "billing:…"): only
// billing moves it (ledger.Config.Managed).
func ManagesAccount(owner, reference string) bool {
	return owner == LedgerOwner && strings.HasPrefix(reference, "billing:")
}

// Bounds.
const (
	AmountMax       = 1_000_000_000_000     // minor units of one reservation, charge or top-up
	CreditLimitMax  = 1_000_000_000_000_000 // minor units of one postpaid credit limit
	ReferenceLenMax = 64                    // bytes of a caller's reference (customer, reservation, charge, top-up)
	// ExpiresInSecondsMax bounds how long a reservation may hold money.
	ExpiresInSecondsMax = 31 * 24 * 3600
	// EventsPerReservationMax bounds one reservation's history (reserve,
	// increments, charges and its end): it is read whole.
	EventsPerReservationMax = 1000
	PageLimitMax            = 100
	// ExpireSweepBatchMax is how many due reservations ExpireDue reads at
	// a time.
	ExpireSweepBatchMax = 100
	// MonthCloseBatchMax bounds the customers one batch of
	// CloseEndedMonth reads and closes.
	MonthCloseBatchMax = 100
)

// ExpiresInSecondsDefault is a reservation's life when the caller does not say.
const ExpiresInSecondsDefault = 24 * 3600

// Error codes of this package, beyond apperr's.
const (
	// CodeLimitExceeded: the customer's available amount (prepaid balance,
	// or credit limit less usage) does not cover what was asked.
	CodeLimitExceeded = "limit_exceeded"
	// CodeReservationExceeded: a charge above what remains reserved, without
	// reserve_difference.
	CodeReservationExceeded = "reservation_exceeded"
	// CodeReservationExpired: the reservation's expiry has passed; it can
	// no longer be charged or incremented (whether or not the expiry sweep
	// has released it yet).
	CodeReservationExpired = "reservation_expired"
	// CodeReservationClosed: the reservation was closed by a final charge
	// or canceled.
	CodeReservationClosed = "reservation_closed"
)

// ActorKind says who acts.
type ActorKind string

const (
	ActorOrg    ActorKind = "org"    // a provider's API key
	ActorSystem ActorKind = "system" // the expiry sweep, the month-end close
)

// Actor is who asks. Every customer belongs to one organization; another
// organization's customer is not found.
type Actor struct {
	Kind ActorKind
	ID   string // org id, or the system part ("expiry")
}

// OrgActor is an organization acting through its API key.
func OrgActor(orgID string) Actor { return Actor{Kind: ActorOrg, ID: orgID} }

// isOrg reports whether a is an organization, named: an organization actor
// without an id acts for nobody (an empty organization id means every
// organization to some store reads, such as CustomerList).
func (a Actor) isOrg() bool { return a.Kind == ActorOrg && a.ID != "" }

// The system's actors: the sweeps, in the audit log as actor type system.
var (
	actorExpiry     = Actor{Kind: ActorSystem, ID: "billing_expiry"}
	actorMonthClose = Actor{Kind: ActorSystem, ID: "billing_month_close"}
)

// Clock gives the service's time; tests and test clocks replace it.
type Clock func() time.Time

// newID returns prefix and a time-ordered id: 14 hex digits of the unix
// microsecond, then 12 random base62 characters (71 bits), so ids sort by
// creation and a page cursor is just an id.
func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const n = 12
	out := fmt.Appendf(make([]byte, 0, len(prefix)+14+n), "%s%014x", prefix, time.Now().UnixMicro())
	var buf [32]byte
	for r := 0; r < n; {
		rand.Read(buf[:])
		for _, b := range buf {
			if b < 248 && r < n {
				out = append(out, alphabet[b%62])
				r++
			}
		}
	}
	return string(out)
}

func forbidden() error {
	return apperr.New(apperr.CodeForbidden, "only an organization acts on its billing customers")
}
