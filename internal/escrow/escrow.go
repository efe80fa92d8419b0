// Package escrow holds money for strangers who trade: a seller registers a
// deal, the buyer accepts and pays into a holding account of the deal, the
// seller ships, the buyer inspects, and the money is released to the seller
// (or refunded, or split by staff after a dispute). Deadlines are durable
// timers; fraud rules hold release for review.
//
// Every transition is one transaction: the deal's row, its timeline entry,
// its ledger transfers (through ledger.Writer), its event, the mail that
// tells the next party what to do and any timer it starts all commit
// together or not at all. No money moves except as those transfers.
//
// This package must never import SQL, net/http or another product; the
// store adapters implement Store and Tx, and the API and web edges call
// Service.
package escrow

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// LedgerOwner owns every ledger account escrow opens: the operator's
// organization (auth.OperatorOrgID), whose admin key may read them through
// the ledger API. Merchants never see them.
const LedgerOwner = "org_operator"

// ManagesAccount says whether the ledger account (owner, reference) is one
// escrow opens (all under LedgerOwner, all referenced "escrow:…"): only
// escrow moves it (ledger.Config.Managed).
func ManagesAccount(owner, reference string) bool {
	return owner == LedgerOwner && strings.HasPrefix(reference, "escrow:")
}

// Bounds.
const (
	TitleLenMax        = 200
	DescriptionLenMax  = 4000
	EmailLenMax        = 254
	ExternalRefLenMax  = 128
	CarrierLenMax      = 64
	TrackingLenMax     = 64
	MilestonesMax      = 20
	ReasonLenMax       = 2000
	MessageLenMax      = 4000
	MessagesPerDealMax = 500 // a dispute thread's bound; the thread is read whole
	ReviewReasonsMax   = 20
	ReviewReasonLenMax = 200
	AmountMax          = 1_000_000_000_000 // minor units; a deal above this is a data entry error
	PayWithinDaysMax   = 60
	ShipWithinDaysMax  = 60
	InspectionDaysMax  = 30
	PageLimitMax       = 100
	TimerSweepBatchMax = 100 // due deals FireDueTimers reads at a time
)

// Defaults for a deal that does not say.
const (
	PayWithinDaysDefault  = 7
	ShipWithinDaysDefault = 7
	InspectionDaysDefault = 3
)

// Error codes of this package, beyond apperr's.
const (
	// CodeStateConflict: the deal is not in a state that allows the action
	// (someone else acted first, or the action is out of order).
	CodeStateConflict = "deal_state_conflict"
	// CodeNotParty: the actor may see the deal but this action belongs to
	// the other party or to staff.
	CodeNotParty = "not_party"
	// CodeReviewHold: release is held while fraud review is open.
	CodeReviewHold = "review_hold"
	// CodeDeadlinePassed: the action's window (the inspection period for a
	// dispute) has closed.
	CodeDeadlinePassed = "deadline_passed"
)

// ActorKind says who acts.
type ActorKind string

const (
	ActorUser   ActorKind = "user"   // a portal user, signed in
	ActorOrg    ActorKind = "org"    // an organization's API key, acting for its users
	ActorStaff  ActorKind = "staff"  // an operator's staff user, with a role
	ActorSystem ActorKind = "system" // a timer or a bank import
)

// Actor is who asks for a transition. The edges build it from a session or
// a key; the service checks it against the deal.
type Actor struct {
	Kind  ActorKind
	ID    string // user id, org id, staff id, or the system process ("timer", "deposit")
	Email string // users: their verified email, which binds them to a deal's party
	// Role is a staff user's role (auth.Role as text).
	Role string
	// Locale is a user's language, "ja" or "en", for mail to them.
	Locale string
}

// System actors.
var (
	actorTimer   = Actor{Kind: ActorSystem, ID: "timer"}
	actorDeposit = Actor{Kind: ActorSystem, ID: "deposit"}
)

// Party is one side of a deal.
type Party string

const (
	Buyer  Party = "buyer"
	Seller Party = "seller"
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

func stateConflict(d Deal, action string) error {
	return apperr.New(CodeStateConflict, "deal %s is %s; %s is not possible now", d.ID, d.State, action)
}
