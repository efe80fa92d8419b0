package postgres

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kinko-pay/kinko/internal/webhook"
)

// TestHotLookupsUseTheirIndexes explains, on a fresh and empty database and
// with this package's own session settings, the generic plan of each lookup
// every batch makes (PREPARE, then EXPLAIN EXECUTE: a plain EXPLAIN with
// arguments shows a plan for those values instead). Each must probe its
// unique index: an index added later that the planner prefers on an empty
// table (it happened: one on (owner, id)) would turn a lookup into a scan of
// all the owner's transfers and degrade every batch as the table grows. The
// statements of events and webhooks, which read tables that grow with the
// ledger's throughput, and the session lookup of every signed-in page must
// likewise walk their indexes and never scan a table.
func TestHotLookupsUseTheirIndexes(t *testing.T) {
	db := MustOpenFresh(t)
	ctx := context.Background()
	type lookup struct {
		name, sql string
		indexes   []string
	}
	lookups := []lookup{
		{"TransfersByReference", sqlTransfersByReference, []string{"transfers_owner_reference"}},
		{"AccountsByReference", sqlAccountsByReference, []string{"accounts_owner_reference_key"}},
		{"EventList", sqlEventList, []string{"events_org_seq"}},
		{"EventListByType", sqlEventListByType, []string{"events_org_type_seq"}},
		{"EventsLastSeq", sqlEventsLastSeq, []string{"events_seq"}},
		{"EventsClaim", sqlEventsClaim, []string{"events_undispatched"}},
		{"EventsDispatched", sqlEventsDispatched, []string{"events_pkey"}},
		{"EndpointList", sqlEndpointList, []string{"webhook_endpoints_org"}},
		{"EndpointsEnabled", sqlEndpointsEnabled, []string{"webhook_endpoints_org"}},
		{"PendingEvents", sqlPendingEvents, []string{"webhook_deliveries_pkey", "events_pkey"}},
		{"DeliveryList", sqlDeliveryList, []string{"webhook_deliveries_event"}},
		{"SessionByTokenHash", sqlSessionByTokenHash, []string{"web_sessions_token_hash_key"}}, // every page of a signed-in visitor
	}
	for _, f := range []struct {
		name   string
		filter webhook.AttemptFilter
		index  string
	}{
		{"AttemptList", webhook.AttemptFilter{}, "webhook_attempts_org"},
		{"AttemptListByEndpoint", webhook.AttemptFilter{EndpointID: 1}, "webhook_attempts_endpoint"},
		{"AttemptListByEvent", webhook.AttemptFilter{EventID: 1}, "webhook_attempts_event"},
		{"AttemptListByEndpointAndEvent", webhook.AttemptFilter{EndpointID: 1, EventID: 1}, "webhook_attempts_(endpoint|event)"},
	} {
		sql, _ := attemptListSQL(f.filter)
		lookups = append(lookups, lookup{f.name, sql, []string{f.index}})
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	for _, tc := range lookups {
		t.Run(tc.name, func(t *testing.T) {
			text := explainGeneric(t, c.Conn(), tc.sql)
			for _, index := range tc.indexes {
				if !regexp.MustCompile(`(using|Scan on) ` + index + `\b`).MatchString(text) {
					t.Fatalf("the statement does not walk %s:\n%s", index, text)
				}
			}
			if strings.Contains(text, "Seq Scan") || strings.Contains(text, "Filter: (reference") {
				t.Fatalf("the statement scans or filters a table:\n%s", text)
			}
		})
	}
}

// explainGeneric returns the plan the server uses for sql on conn: prepared
// with no values, planned once, as pgx prepares it.
func explainGeneric(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	ctx := context.Background()
	params := 0
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(sql, -1) {
		n, _ := strconv.Atoi(m[1])
		params = max(params, n)
	}
	// No arguments: pgx sends these with the simple protocol.
	if _, err := conn.Exec(ctx, "PREPARE plan_test AS "+sql); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer conn.Exec(ctx, "DEALLOCATE plan_test")
	execute := "EXPLAIN EXECUTE plan_test"
	if params > 0 {
		execute += "(" + strings.TrimSuffix(strings.Repeat("NULL, ", params), ", ") + ")"
	}
	rows, err := conn.Query(ctx, execute)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestMonthCloseProbesInvoices explains the month-end close's batch query
// on 20,000 customers with two months of invoices, analyzed (on empty
// tables every plan scans; with few periods, a NOT EXISTS is planned as a
// merge anti join): it must walk the customers' primary key from the
// cursor and probe the invoices once per customer, never read every
// invoice of the period, which would make each batch as slow as the whole
// pass.
func TestMonthCloseProbesInvoices(t *testing.T) {
	db := MustOpenFresh(t)
	ctx := context.Background()
	for _, sql := range []string{
		"INSERT INTO billing_customers SELECT 'cus_' || lpad(g::text, 8, '0'), 'org_a', 'ref-' || g, 'JPY', " +
			"CASE WHEN g % 5 = 0 THEN 'prepaid' ELSE 'postpaid' END, 1000, g, now() - interval '40 days', now(), 1 FROM generate_series(1, 20000) g",
		"INSERT INTO billing_invoices SELECT 'inv_' || g || '_' || m, 'org_a', 'cus_' || lpad(g::text, 8, '0'), '2025-' || lpad(m::text, 2, '0'), " +
			"'JPY', 0, 0, now(), now(), now() FROM generate_series(1, 20000) g, generate_series(11, 12) m WHERE g % 5 <> 0 AND (m < 12 OR g < 15000)",
		"ANALYZE billing_customers", "ANALYZE billing_invoices",
	} {
		if _, err := db.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	text := explainGeneric(t, c.Conn(), sqlCustomerListUninvoiced)
	if !strings.Contains(text, "Index Scan using billing_customers_pkey") || strings.Contains(text, "Seq Scan") ||
		!regexp.MustCompile(`using billing_invoices_customer_id_period_key .*\n.*Index Cond: \(\(customer_id = c\.id\) AND \(period = \$3\)\)`).MatchString(text) {
		t.Fatalf("the month-end close does not walk customers by key and probe their invoices:\n%s", text)
	}
}
