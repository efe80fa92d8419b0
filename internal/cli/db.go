package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/kinko-pay/kinko/internal/api"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/jobs"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store/postgres"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
)

// dbDefault is the SQLite file used when neither --db nor KINKO_DB is given.
const dbDefault = "./kinko.db"

// Engine workers per store: SQLite has one writer; PostgreSQL commits a few
// batches at once.
const (
	workersSQLite   = 1
	workersPostgres = 2 // measured: 1 → 15.0k, 2 → 17.4k, 4 → 14.3k transfers/s (docs/benchmarks.md)
)

// adapter is what the CLI needs of a store adapter: the ledger's, auth's and
// the audit log's Stores plus its name and its migrations. Both sqlite.DB and
// postgres.DB provide it.
type adapter interface {
	ledger.Store
	auth.Store
	auth.StaffStore
	auth.UserStore
	auth.MemberStore
	auth.SessionStore
	audit.Store
	idempotency.Store
	jobs.Store // events, webhooks and the job queue
	escrow.Store
	billing.Store
	notify.Queue // mail sent outside other transactions (the web pages')
	JobQueueDepth(ctx context.Context) (map[string]int64, error)
	Kind() string
	Migrate(ctx context.Context) (int, error)
}

// dbFlag registers --db on fs. Flag beats KINKO_DB beats dbDefault.
func dbFlag(fs *flag.FlagSet, e env) *string {
	return secretFlag(fs, e, "db", "KINKO_DB", dbDefault, "SQLite file path or postgres:// URL (env KINKO_DB)")
}

// isPostgresURL reports whether db names a PostgreSQL server rather than a SQLite file.
func isPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store db names and applies its migrations, which are
// idempotent. It returns how many migrations it applied.
func openStore(ctx context.Context, db string) (adapter, int, error) {
	if db == "" {
		return nil, 0, usageError("--db must not be empty")
	}
	var (
		s   adapter
		err error
	)
	if isPostgresURL(db) {
		s, err = postgres.Open(ctx, db)
	} else {
		s, err = sqlite.Open(ctx, db)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open store %s: %w", redactDB(db), err)
	}
	n, err := s.Migrate(ctx)
	if err != nil {
		s.Close()
		return nil, 0, fmt.Errorf("migrate store %s: %w", redactDB(db), err)
	}
	return s, n, nil
}

// engineConfig returns the ledger engine's configuration for a store kind.
// Every engine the CLI starts records events as the API renders its objects,
// so benchmarks measure what the server does, and keeps the products'
// accounts for the products (productAccount).
func engineConfig(kind string) ledger.Config {
	workers := workersSQLite
	if kind == "postgres" {
		workers = workersPostgres
	}
	return ledger.Config{Workers: workers, Events: api.EventEncoder{}, Managed: productAccount}
}

// productAccount says whether a ledger account is one that escrow or
// billing keeps: transfers through the ledger API may not touch it.
func productAccount(owner, reference string) bool {
	return escrow.ManagesAccount(owner, reference) || billing.ManagesAccount(owner, reference)
}

// redactDB returns db fit for logs and errors: a URL's password, in its user
// info or its query, is replaced by "xxxxx".
func redactDB(db string) string {
	if !isPostgresURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparseable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
