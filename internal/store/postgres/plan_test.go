package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestHotLookupsUseTheirIndexes explains, on a fresh and empty database and
// with this package's own session settings (generic plans, planned once per
// connection while tables are still empty), the lookups every batch makes.
// Each must probe its unique index: an index added later that the planner
// prefers on an empty table (it happened: one on (owner, id)) would turn a
// lookup into a scan of all the owner's transfers and degrade every batch as
// the table grows.
func TestHotLookupsUseTheirIndexes(t *testing.T) {
	db := MustOpenFresh(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, sql, index string
		args             []any
	}{
		{"TransfersByReference", sqlTransfersByReference, "transfers_owner_reference", []any{[]string{"o"}, []string{"r"}}},
		{"AccountsByReference", sqlAccountsByReference, "accounts_owner_reference_key", []any{[]string{"o"}, []string{"r"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.pool.Query(ctx, "EXPLAIN "+tc.sql, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, tc.index) || strings.Contains(text, "Filter: (reference") {
				t.Fatalf("the lookup does not probe %s:\n%s", tc.index, text)
			}
		})
	}
}
