// Package ledger is Kinko's double-entry ledger with holds: accounts, immutable
// transfers (immediate, pending, post, void, expire), linked sets, idempotency
// by client reference, and the group-commit engine that applies them.
//
// The ledger is the only writer of balances. Every rule about money lives here
// and is checked in memory against rows the store has locked, so the rules are
// exact under any concurrency and on every store. This package must never
// import a SQL driver or net/http: it states what it needs of a database in
// Store and Tx, and the adapters in internal/store implement them.
//
// See docs/ledger.md for the semantics in prose.
package ledger
