package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/audit"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// AuditStore is what the audit suite needs of an adapter: the ledger, whose
// write transaction is also an audit.Tx, and the audit log's store.
type AuditStore interface {
	ledger.Store
	audit.Store
}

// productTx is what a product's transaction interface looks like: the
// ledger's and the audit log's parts of one transaction.
type productTx interface {
	ledger.Tx
	audit.Tx
}

func auditStore(t testing.TB, s ledger.Store) AuditStore {
	t.Helper()
	as, ok := s.(AuditStore)
	if !ok {
		t.Fatalf("%T does not implement audit.Store", s)
	}
	return as
}

// auditEntry is an entry by the CLI about a staff user; data is a JSON object
// with bytes a normalising store would change (non-ASCII text, escapes).
func auditEntry(action, subjectID, orgID string) audit.Entry {
	return audit.Entry{
		Actor: audit.Actor{Type: audit.ActorSystem, ID: "cli"}, Action: action,
		Subject: audit.Subject{Type: "staff_user", ID: subjectID}, OrgID: orgID,
		Data: json.RawMessage(`{"note":"監査 \"\u00e9\"","z":1,"a":[true,null]}`),
	}
}

// testAudit checks the audit log on a store of h: appends in the ledger's
// transactions and in their own, rollback, concurrency on one handle and on
// two, listing, and Verify finding rows changed or removed behind its back.
func testAudit(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("OKAppendInLedgerTx", func(t *testing.T) {
		s := auditStore(t, h.Open(t))
		clock := NewClock()
		if err := s.AssetUpsert(ctx, money.Asset{Code: "JPY"}); err != nil {
			t.Fatal(err)
		}
		var appended []audit.Entry
		err := s.Transact(ctx, func(tx ledger.Tx) error {
			ptx, ok := tx.(productTx)
			if !ok {
				return fmt.Errorf("%T is not an audit.Tx as well as a ledger.Tx", tx)
			}
			appended = nil
			if _, err := ptx.AssetByCode(ctx, "JPY"); err != nil {
				return err
			}
			for _, batch := range [][]audit.Entry{
				{auditEntry("staff.created", "stf_1", ""), auditEntry("staff.role_changed", "stf_1", "org_a")},
				{auditEntry("staff.disabled", "stf_1", "")}, // a second Append in one transaction continues the chain
			} {
				es, err := audit.Append(ctx, ptx, clock.Now(), batch...)
				if err != nil {
					return err
				}
				appended = append(appended, es...)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		svc := audit.NewService(s, clock.Now)
		more, err := svc.Record(ctx, auditEntry("staff.password_changed", "stf_1", ""))
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, more...)
		got, err := svc.FindEntries(ctx, audit.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("listed %d entries, want 4", len(got))
		}
		for i := range got {
			if got[i].Seq != int64(i+1) || !sameEntry(got[i], appended[i]) {
				t.Errorf("entry %d stored as %+v, appended as %+v", i, got[i], appended[i])
			}
		}
		if want := `{"note":"監査 \"\u00e9\"","z":1,"a":[true,null]}`; string(got[0].Data) != want {
			t.Errorf("data stored as %s, want %s byte for byte", got[0].Data, want)
		}
		wantAuditClean(t, svc, 4)
	})

	t.Run("OKRollbackLeavesNoEntryNoGap", func(t *testing.T) {
		s := auditStore(t, h.Open(t))
		clock := NewClock()
		svc := audit.NewService(s, clock.Now)
		if _, err := svc.Record(ctx, auditEntry("staff.created", "stf_1", "")); err != nil {
			t.Fatal(err)
		}
		if err := s.AssetUpsert(ctx, money.Asset{Code: "JPY"}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("the product changed its mind")
		err := s.Transact(ctx, func(tx ledger.Tx) error {
			ptx := tx.(productTx)
			if err := ptx.AccountsInsert(ctx, []ledger.Account{{ID: 4242, Owner: "o1", Reference: "r", Asset: "JPY", Code: "c", CreatedAt: clock.Now()}}); err != nil {
				return err
			}
			if _, err := audit.Append(ctx, ptx, clock.Now(), auditEntry("staff.role_changed", "stf_1", "")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Transact = %v, want the function's error", err)
		}
		err = s.AuditTransact(ctx, func(tx audit.Tx) error {
			if _, err := audit.Append(ctx, tx, clock.Now(), auditEntry("staff.disabled", "stf_1", "")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("AuditTransact = %v, want the function's error", err)
		}
		if _, err := s.AccountByID(ctx, 4242); !apperr.Is(err, apperr.CodeNotFound) {
			t.Fatalf("the rolled-back account: %v, want not_found", err)
		}
		if seq, _, err := s.AuditHead(ctx); err != nil || seq != 1 {
			t.Fatalf("head after rollbacks = %d, %v; want 1", seq, err)
		}
		es, err := svc.Record(ctx, auditEntry("staff.password_changed", "stf_1", ""))
		if err != nil || es[0].Seq != 2 {
			t.Fatalf("the entry after the rollbacks = %+v, %v; want seq 2", es, err)
		}
		wantAuditClean(t, svc, 2)
	})

	t.Run("OKConcurrent", func(t *testing.T) {
		s := auditStore(t, h.Open(t))
		hammerAudit(t, []AuditStore{s})
	})

	t.Run("OKTwoHandles", func(t *testing.T) {
		a, b := h.OpenPair(t)
		hammerAudit(t, []AuditStore{auditStore(t, a), auditStore(t, b)})
	})

	t.Run("OKList", func(t *testing.T) {
		s := auditStore(t, h.Open(t))
		svc := audit.NewService(s, NewClock().Now)
		// seq: subject, org
		//  1: stf_1, org_a    2: stf_2, org_b    3: stf_1, -
		//  4: deal dl_1, org_a    5: stf_1, org_a    6: stf_2, -
		for _, e := range []audit.Entry{
			auditEntry("staff.created", "stf_1", "org_a"), auditEntry("staff.created", "stf_2", "org_b"),
			auditEntry("staff.role_changed", "stf_1", ""),
			{Actor: audit.Actor{Type: audit.ActorOrg, ID: "org_a"}, Action: "deal.accepted", Subject: audit.Subject{Type: "deal", ID: "dl_1"}, OrgID: "org_a"},
			auditEntry("staff.disabled", "stf_1", "org_a"), auditEntry("staff.disabled", "stf_2", ""),
		} {
			if _, err := svc.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			f    audit.Filter
			want []int64
		}{
			{"All", audit.Filter{Limit: 10}, []int64{1, 2, 3, 4, 5, 6}},
			{"FirstPage", audit.Filter{Limit: 4}, []int64{1, 2, 3, 4}},
			{"NextPage", audit.Filter{AfterSeq: 4, Limit: 4}, []int64{5, 6}},
			{"Newest", audit.Filter{Newest: true, Limit: 2}, []int64{6, 5}},
			{"NewestBefore", audit.Filter{Newest: true, BeforeSeq: 5, Limit: 2}, []int64{4, 3}},
			{"Window", audit.Filter{AfterSeq: 1, BeforeSeq: 4, Limit: 10}, []int64{2, 3}},
			{"Subject", audit.Filter{SubjectType: "staff_user", SubjectID: "stf_1", Limit: 10}, []int64{1, 3, 5}},
			{"SubjectPage", audit.Filter{SubjectType: "staff_user", SubjectID: "stf_1", AfterSeq: 1, Limit: 1}, []int64{3}},
			{"SubjectNewest", audit.Filter{SubjectType: "staff_user", SubjectID: "stf_2", Newest: true, Limit: 10}, []int64{6, 2}},
			{"SubjectType", audit.Filter{SubjectType: "deal", Limit: 10}, []int64{4}},
			{"Org", audit.Filter{OrgID: "org_a", Limit: 10}, []int64{1, 4, 5}},
			{"SubjectAndOrg", audit.Filter{SubjectType: "staff_user", SubjectID: "stf_1", OrgID: "org_a", Limit: 10}, []int64{1, 5}},
			{"None", audit.Filter{SubjectType: "staff_user", SubjectID: "stf_9", Limit: 10}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := svc.FindEntries(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if seqs := entrySeqs(got); !slices.Equal(seqs, tc.want) {
					t.Fatalf("FindEntries(%+v) = seqs %v, want %v", tc.f, seqs, tc.want)
				}
			})
		}
	})

	// Each tampering case works on a fresh log of six entries.
	tampered := func(t *testing.T, sql string) (audit.Report, []audit.Entry) {
		t.Helper()
		s := auditStore(t, h.Open(t))
		svc := audit.NewService(s, NewClock().Now)
		var all []audit.Entry
		for i := range 6 {
			es, err := svc.Record(ctx, auditEntry("staff.created", fmt.Sprintf("stf_%d", i), ""))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, es...)
		}
		wantAuditClean(t, svc, 6)
		h.Exec(t, s, sql)
		rep, err := svc.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() {
			t.Fatalf("Verify after %q found nothing: %+v", sql, rep)
		}
		return rep, all
	}
	t.Run("ErrTamperedAction", func(t *testing.T) {
		rep, all := tampered(t, "UPDATE audit_entries SET action = 'staff.deleted' WHERE seq = 3")
		changed := all[2]
		changed.Action = "staff.deleted"
		b := rep.Broken
		if b == nil || b.Seq != 3 || !bytes.Equal(b.Stored, all[2].Hash) || !bytes.Equal(b.Expected, changed.ComputeHash()) ||
			rep.BrokenLinks != 1 || rep.MissingEntries != 0 || rep.Checked != 6 {
			t.Fatalf("Verify = %+v (break %+v); want seq 3 broken, its stored and recomputed hashes", rep, b)
		}
	})
	t.Run("ErrTamperedData", func(t *testing.T) {
		rep, _ := tampered(t, `UPDATE audit_entries SET data = '{"note":"nothing to see"}' WHERE seq = 1`)
		if rep.Broken == nil || rep.Broken.Seq != 1 {
			t.Fatalf("Verify = %+v; want seq 1 broken", rep)
		}
	})
	t.Run("ErrTamperedLink", func(t *testing.T) {
		// A row given another row's hashes: its own hash holds no more, and
		// neither does the next row's link to it.
		rep, _ := tampered(t, "UPDATE audit_entries SET hash = (SELECT hash FROM audit_entries WHERE seq = 2) WHERE seq = 4")
		if rep.Broken == nil || rep.Broken.Seq != 4 || rep.BrokenLinks != 2 {
			t.Fatalf("Verify = %+v; want seq 4 broken first, two links in all", rep)
		}
	})
	t.Run("ErrDeleted", func(t *testing.T) {
		rep, _ := tampered(t, "DELETE FROM audit_entries WHERE seq = 4")
		if rep.Broken != nil || rep.MissingEntries != 1 || !slices.Equal(rep.Gaps, []audit.Gap{{FromSeq: 4, ToSeq: 4}}) || rep.Checked != 5 {
			t.Fatalf("Verify = %+v; want seq 4 missing", rep)
		}
	})
	t.Run("ErrDeletedNewest", func(t *testing.T) {
		rep, _ := tampered(t, "DELETE FROM audit_entries WHERE seq >= 5")
		if rep.MissingEntries != 2 || !slices.Equal(rep.Gaps, []audit.Gap{{FromSeq: 5, ToSeq: 6}}) || rep.HeadSeq != 6 || rep.LastSeq != 4 {
			t.Fatalf("Verify = %+v; want seqs 5-6 missing before the head", rep)
		}
	})
	t.Run("ErrHeadRewound", func(t *testing.T) {
		rep, _ := tampered(t, "UPDATE audit_head SET seq = 2")
		if rep.Broken == nil || rep.Broken.Seq != 2 {
			t.Fatalf("Verify = %+v; want the head's hash reported at seq 2", rep)
		}
	})
}

// hammerAudit appends from many goroutines spread over stores (handles on
// one database), half through the audit log's own transactions and half
// through the ledger's, then checks that the chain is one unbroken line.
func hammerAudit(t *testing.T, stores []AuditStore) {
	ctx := context.Background()
	clock := NewClock()
	goroutines, rounds := 8, 15
	if testing.Short() {
		rounds = 5
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			svc := audit.NewService(s, clock.Now)
			for i := range rounds {
				batch := []audit.Entry{auditEntry("staff.created", fmt.Sprintf("stf_%d_%d", g, i), "")}
				if i%3 == 0 {
					batch = append(batch, auditEntry("staff.role_changed", fmt.Sprintf("stf_%d_%d", g, i), "org_x"))
				}
				var es []audit.Entry
				var err error
				if g%2 == 0 {
					es, err = svc.Record(ctx, batch...)
				} else {
					err = s.Transact(ctx, func(tx ledger.Tx) error {
						var err error
						es, err = audit.Append(ctx, tx.(productTx), clock.Now(), batch...)
						return err
					})
				}
				if err != nil {
					t.Errorf("goroutine %d append %d: %v", g, i, err)
					return
				}
				mu.Lock()
				for _, e := range es {
					if prev, dup := seen[e.Seq]; dup {
						t.Errorf("seq %d given twice: to %s and %s", e.Seq, prev, e.Subject.ID)
					}
					seen[e.Seq] = e.Subject.ID
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, s := range stores {
		rep := wantAuditClean(t, audit.NewService(s, nil), int64(len(seen)))
		if rep.LastSeq != int64(len(seen)) {
			t.Errorf("handle %d: last seq %d, want %d", i, rep.LastSeq, len(seen))
		}
	}
}

// wantAuditClean fails the test unless Verify finds the log intact with n entries.
func wantAuditClean(t *testing.T, svc *audit.Service, n int64) audit.Report {
	t.Helper()
	rep, err := svc.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checked != n || rep.HeadSeq != n {
		t.Fatalf("Verify = %+v (break %v); want %d entries, intact", rep, rep.Broken, n)
	}
	return rep
}

// sameEntry compares entries field by field, times by instant.
func sameEntry(a, b audit.Entry) bool {
	return a.Seq == b.Seq && a.At.Equal(b.At) && a.Actor == b.Actor && a.Action == b.Action && a.Subject == b.Subject &&
		a.OrgID == b.OrgID && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.PrevHash, b.PrevHash) && bytes.Equal(a.Hash, b.Hash)
}

func entrySeqs(es []audit.Entry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}
