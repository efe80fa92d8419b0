package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// memStore is an in-memory Store for the rules of this package; the shared
// store suite (store/storetest) runs the same rules on real databases.
type memStore struct {
	mu       sync.Mutex
	entries  []Entry
	headSeq  int64
	headHash []byte
}

type memTx struct {
	s        *memStore
	added    []Entry
	headSeq  int64
	headHash []byte
	locked   bool
}

func (t *memTx) AuditHeadForUpdate(context.Context) (int64, []byte, error) {
	t.locked = true
	return t.headSeq, bytes.Clone(t.headHash), nil
}

func (t *memTx) AuditInsert(_ context.Context, es []Entry) error {
	if !t.locked || es[0].Seq != t.headSeq+1 {
		return errors.New("insert without the head's lock, or not after the head")
	}
	for _, e := range es {
		t.added = append(t.added, e)
	}
	last := es[len(es)-1]
	t.headSeq, t.headHash = last.Seq, last.Hash
	return nil
}

func (s *memStore) AuditTransact(_ context.Context, fn func(Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &memTx{s: s, headSeq: s.headSeq, headHash: s.headHash}
	if err := fn(tx); err != nil {
		return err
	}
	s.entries = append(s.entries, tx.added...)
	s.headSeq, s.headHash = tx.headSeq, tx.headHash
	return nil
}

func (s *memStore) AuditList(_ context.Context, f Filter) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for _, e := range s.entries {
		if e.Seq > f.AfterSeq && (f.BeforeSeq == 0 || e.Seq < f.BeforeSeq) &&
			(f.SubjectType == "" || e.Subject.Type == f.SubjectType) && (f.SubjectID == "" || e.Subject.ID == f.SubjectID) &&
			(f.OrgID == "" || e.OrgID == f.OrgID) {
			out = append(out, e)
		}
	}
	if f.Newest {
		slices.Reverse(out)
	}
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (s *memStore) AuditScan(_ context.Context, afterSeq int64, fn func(Entry) error) error {
	s.mu.Lock()
	es := slices.Clone(s.entries)
	s.mu.Unlock()
	slices.SortFunc(es, func(a, b Entry) int { return int(a.Seq - b.Seq) })
	for _, e := range es {
		if e.Seq > afterSeq {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *memStore) AuditHead(context.Context) (int64, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headSeq, s.headHash, nil
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func staffEntry(action, id string) Entry {
	return Entry{Actor: Actor{Type: ActorSystem, ID: "cli"}, Action: action, Subject: Subject{Type: "staff_user", ID: id}}
}

// TestComputeHashVector pins the encoding: the documented test vector in
// docs/audit.md, and an independent rendering of the documented layout.
func TestComputeHashVector(t *testing.T) {
	e := Entry{
		Seq: 2, At: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
		Actor: Actor{Type: ActorStaff, ID: "stf_Ab12"}, Action: "deal.accepted",
		Subject: Subject{Type: "deal", ID: "dl_9"}, OrgID: "org_7", Data: json.RawMessage(`{"amount":1000,"note":"受領"}`),
		PrevHash: bytes.Repeat([]byte{0xab}, 32),
	}
	var m bytes.Buffer
	field := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		m.Write(b)
	}
	field([]byte("kinko.audit.v1"))
	field(e.PrevHash)
	field(binary.BigEndian.AppendUint64(nil, 2))
	field(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixMicro())))
	for _, s := range []string{"staff", "stf_Ab12", "deal.accepted", "deal", "dl_9", "org_7", `{"amount":1000,"note":"受領"}`} {
		field([]byte(s))
	}
	want := sha256.Sum256(m.Bytes())
	got := e.ComputeHash()
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("ComputeHash = %x, want %x (the documented layout)", got, want)
	}
	const documented = "ed1aa9e8320b6e41350d19a2a9d013f76c9fcc5ede5e9592b7f7e435a30f75fc" // docs/audit.md
	if hex.EncodeToString(got) != documented {
		t.Errorf("ComputeHash = %x; docs/audit.md gives %s", got, documented)
	}
}

func TestAppendChains(t *testing.T) {
	ctx := context.Background()
	s := &memStore{}
	svc := NewService(s, func() time.Time { return t0 })
	first, err := svc.Record(ctx, staffEntry("staff.created", "stf_1"), Entry{
		Actor: Actor{Type: ActorStaff, ID: "stf_1"}, Action: "staff.role_changed", Subject: Subject{Type: "staff_user", ID: "stf_2"},
		OrgID: "org_operator", Data: json.RawMessage(" {\"role\" : \"admin\"}\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Record(ctx, staffEntry("staff.disabled", "stf_2"))
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, second...)
	for i, e := range all {
		if e.Seq != int64(i+1) || !e.At.Equal(t0.Truncate(time.Microsecond)) || e.At.Location() != time.UTC {
			t.Errorf("entry %d: seq %d at %v", i, e.Seq, e.At)
		}
		if !bytes.Equal(e.Hash, e.ComputeHash()) || len(e.Hash) != HashLen {
			t.Errorf("entry %d: hash %x does not hash its fields", i, e.Hash)
		}
		if i == 0 && (e.PrevHash == nil || len(e.PrevHash) != 0) {
			t.Errorf("the first entry's previous hash is %#v, want empty and not nil", e.PrevHash)
		}
		if i > 0 && !bytes.Equal(e.PrevHash, all[i-1].Hash) {
			t.Errorf("entry %d does not chain onto entry %d", i, i-1)
		}
	}
	if string(all[0].Data) != "{}" || string(all[1].Data) != `{"role":"admin"}` {
		t.Errorf("data stored as %s and %s, want {} and compact JSON", all[0].Data, all[1].Data)
	}
	rep, err := svc.Verify(ctx)
	if err != nil || !rep.OK() || rep.Checked != 3 || rep.HeadSeq != 3 || !bytes.Equal(rep.HeadHash, all[2].Hash) {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if out, err := svc.Record(ctx); out != nil || err != nil {
		t.Errorf("Record of nothing = %v, %v", out, err)
	}
}

func TestAppendInvalid(t *testing.T) {
	ok := staffEntry("staff.created", "stf_1")
	long := strings.Repeat("x", IDLenMax+1)
	for _, tc := range []struct {
		name, param string
		edit        func(e *Entry)
	}{
		{"ActorType", "actor.type", func(e *Entry) { e.Actor.Type = "robot" }},
		{"ActorIDEmpty", "actor.id", func(e *Entry) { e.Actor.ID = "" }},
		{"ActorIDLong", "actor.id", func(e *Entry) { e.Actor.ID = long }},
		{"ActorIDControl", "actor.id", func(e *Entry) { e.Actor.ID = "a\nb" }},
		{"ActorIDNotUTF8", "actor.id", func(e *Entry) { e.Actor.ID = "a\xffb" }},
		{"ActionNoDot", "action", func(e *Entry) { e.Action = "created" }},
		{"ActionUpper", "action", func(e *Entry) { e.Action = "Staff.Created" }},
		{"ActionLong", "action", func(e *Entry) { e.Action = "a." + strings.Repeat("b", ActionLenMax) }},
		{"SubjectTypeEmpty", "subject.type", func(e *Entry) { e.Subject.Type = "" }},
		{"SubjectTypeDot", "subject.type", func(e *Entry) { e.Subject.Type = "staff.user" }},
		{"SubjectIDEmpty", "subject.id", func(e *Entry) { e.Subject.ID = "" }},
		{"OrgIDLong", "org_id", func(e *Entry) { e.OrgID = long }},
		{"DataArray", "data", func(e *Entry) { e.Data = json.RawMessage(`[1]`) }},
		{"DataNotJSON", "data", func(e *Entry) { e.Data = json.RawMessage(`{"a":`) }},
		{"DataTrailing", "data", func(e *Entry) { e.Data = json.RawMessage(`{} {}`) }},
		{"DataNotUTF8", "data", func(e *Entry) { e.Data = json.RawMessage("{\"a\":\"\xff\"}") }},
		{"DataLarge", "data", func(e *Entry) {
			e.Data = json.RawMessage(`{"a":"` + strings.Repeat("x", DataLenMax) + `"}`)
		}},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			s := &memStore{}
			e := ok
			tc.edit(&e)
			_, err := NewService(s, nil).Record(context.Background(), ok, e)
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.CodeInvalid || ae.Param != tc.param || !strings.HasPrefix(ae.Message, "entry 1: ") {
				t.Fatalf("Record = %v, want invalid (%s) naming entry 1", err, tc.param)
			}
			if len(s.entries) != 0 || s.headSeq != 0 {
				t.Fatal("an invalid entry changed the log")
			}
		})
	}
	t.Run("ErrTooMany", func(t *testing.T) {
		es := make([]Entry, EntriesPerAppend+1)
		for i := range es {
			es[i] = ok
		}
		_, err := NewService(&memStore{}, nil).Record(context.Background(), es...)
		if apperr.CodeOf(err) != apperr.CodeInvalid {
			t.Fatalf("Record of %d entries = %v, want invalid", len(es), err)
		}
	})
}

func TestAppendCorruptHead(t *testing.T) {
	s := &memStore{headSeq: 3, headHash: []byte{1, 2}}
	_, err := NewService(s, nil).Record(context.Background(), staffEntry("staff.created", "stf_1"))
	if err == nil || !strings.Contains(err.Error(), "head is corrupt") {
		t.Fatalf("Record on a corrupt head = %v", err)
	}
}

func TestFindEntries(t *testing.T) {
	ctx := context.Background()
	svc := NewService(&memStore{}, nil)
	for _, id := range []string{"stf_1", "stf_2", "stf_1"} {
		if _, err := svc.Record(ctx, staffEntry("staff.created", id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.FindEntries(ctx, Filter{SubjectType: "staff_user", SubjectID: "stf_1", Newest: true, Limit: 10})
	if err != nil || len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 1 {
		t.Fatalf("FindEntries = %+v, %v", got, err)
	}
	for _, f := range []Filter{
		{Limit: 0}, {Limit: PageLimitMax + 1}, {SubjectID: "stf_1", Limit: 1}, {SubjectType: "Staff", Limit: 1},
		{AfterSeq: -1, Limit: 1}, {BeforeSeq: -1, Limit: 1}, {OrgID: "a\x00", Limit: 1},
	} {
		if _, err := svc.FindEntries(ctx, f); apperr.CodeOf(err) != apperr.CodeInvalid {
			t.Errorf("FindEntries(%+v) = %v, want invalid", f, err)
		}
	}
}

func TestVerifyFinds(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*memStore, *Service) {
		t.Helper()
		s := &memStore{}
		svc := NewService(s, func() time.Time { return t0 })
		for i := range 6 {
			if _, err := svc.Record(ctx, staffEntry("staff.created", "stf_"+string(rune('a'+i)))); err != nil {
				t.Fatal(err)
			}
		}
		return s, svc
	}
	t.Run("ErrTamperedFields", func(t *testing.T) {
		s, svc := setup(t)
		s.entries[2].Action = "staff.disabled"
		rep, err := svc.Verify(ctx)
		if err != nil || rep.OK() || rep.Broken.Seq != 3 || !bytes.Equal(rep.Broken.Stored, s.entries[2].Hash) ||
			!bytes.Equal(rep.Broken.Expected, s.entries[2].ComputeHash()) || rep.Checked != 6 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
	})
	t.Run("ErrRehashed", func(t *testing.T) {
		// Rewriting an entry with a fresh hash breaks the next link instead.
		s, svc := setup(t)
		s.entries[2].Action = "staff.disabled"
		s.entries[2].Hash = s.entries[2].ComputeHash()
		rep, _ := svc.Verify(ctx)
		if rep.OK() || rep.Broken.Seq != 4 || !bytes.Equal(rep.Broken.Expected, s.entries[2].Hash) {
			t.Fatalf("Verify = %+v; want the link of seq 4 broken", rep)
		}
	})
	t.Run("ErrDeleted", func(t *testing.T) {
		s, svc := setup(t)
		s.entries = slices.Delete(s.entries, 1, 3) // seqs 2 and 3
		rep, _ := svc.Verify(ctx)
		if rep.OK() || rep.Broken != nil || rep.MissingEntries != 2 || !slices.Equal(rep.Gaps, []Gap{{2, 3}}) || rep.Checked != 4 {
			t.Fatalf("Verify = %+v; want seqs 2-3 missing", rep)
		}
	})
	t.Run("ErrDeletedFirstAndLast", func(t *testing.T) {
		s, svc := setup(t)
		s.entries = s.entries[1:5]
		rep, _ := svc.Verify(ctx)
		if rep.OK() || rep.MissingEntries != 2 || !slices.Equal(rep.Gaps, []Gap{{1, 1}, {6, 6}}) {
			t.Fatalf("Verify = %+v; want seqs 1 and 6 missing", rep)
		}
	})
	t.Run("ErrHeadHash", func(t *testing.T) {
		s, svc := setup(t)
		s.headHash = s.entries[0].Hash
		rep, _ := svc.Verify(ctx)
		if rep.OK() || rep.Broken.Seq != 6 || !strings.Contains(rep.Broken.Problem, "head") {
			t.Fatalf("Verify = %+v; want the head's hash reported", rep)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		rep, err := NewService(&memStore{}, nil).Verify(ctx)
		if err != nil || !rep.OK() || rep.Checked != 0 {
			t.Fatalf("Verify of an empty log = %+v, %v", rep, err)
		}
	})
}

// FuzzNormalizeData checks that any accepted data is a compact JSON object
// within the bound, and that normalising it again changes nothing.
func FuzzNormalizeData(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : [1, 2.5e3, "x\u00e9"] } `, `[]`, `{"a":`, "{\"a\":\"\xff\"}", ``, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := normalizeData(in)
		if err != nil {
			if apperr.CodeOf(err) != apperr.CodeInvalid {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		var obj map[string]any
		if json.Unmarshal(out, &obj) != nil || len(out) > DataLenMax || out[0] != '{' {
			t.Fatalf("accepted %q as %q", in, out)
		}
		again, err := normalizeData(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("normalising %q again gave %q, %v", out, again, err)
		}
	})
}
