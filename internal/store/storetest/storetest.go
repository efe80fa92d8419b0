// Package storetest is the one suite every ledger store passes: store-level
// behaviour, the ledger's semantics through a real engine, a randomized model
// test, concurrency on hot accounts and two engines sharing one database, and
// the audit log's chain under the same conditions.
//
// Adapters call Run from their own tests with a Harness that opens fresh
// databases. This package must never hold SQL of one dialect.
package storetest

import (
	"testing"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// Harness tells the suite how to get databases of one store.
type Harness struct {
	// Open returns a fresh, migrated, empty store, closed when the test ends.
	Open func(t testing.TB) ledger.Store
	// OpenPair returns two independent handles (separate connections and
	// pools, as two nodes would have) on one fresh, migrated, empty database.
	OpenPair func(t testing.TB) (ledger.Store, ledger.Store)
	// Tamper adds delta to an account's stored credits_posted behind the
	// ledger's back, as an operator editing a row by hand would.
	Tamper func(t testing.TB, s ledger.Store, accountID int64, delta int64)
	// Exec runs one statement behind the ledger's back. The suite only passes
	// SQL that both dialects accept.
	Exec func(t testing.TB, s ledger.Store, sql string)
	// Workers is how many batches the engine commits at once on this store.
	Workers int
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("Ledger", func(t *testing.T) { testLedger(t, h) })
	t.Run("Model", func(t *testing.T) { testModel(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("TwoWriters", func(t *testing.T) { testTwoWriters(t, h) })
	t.Run("SameRequestTwoWriters", func(t *testing.T) { testSameRequestTwoWriters(t, h) })
	t.Run("Auth", func(t *testing.T) { testAuth(t, h) })
	t.Run("Staff", func(t *testing.T) { testStaff(t, h) })
	t.Run("StaffAudit", func(t *testing.T) { testStaffAudit(t, h) })
	t.Run("Users", func(t *testing.T) { testUsers(t, h) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, h) })
	t.Run("OrgMembers", func(t *testing.T) { testOrgMembers(t, h) })
	t.Run("OrgMembersAudit", func(t *testing.T) { testOrgMembersAudit(t, h) })
	t.Run("IdempotencyKeys", func(t *testing.T) { testIdempotencyKeys(t, h) })
	t.Run("Writer", func(t *testing.T) { testWriter(t, h) })
	t.Run("Escrow", func(t *testing.T) { testEscrow(t, h) })
	t.Run("Billing", func(t *testing.T) { testBilling(t, h) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, h) })
	t.Run("Mail", func(t *testing.T) { testMail(t, h) })
}
