package audit

import (
	"bytes"
	"context"
	"fmt"
)

// Report is what Verify found. The log is intact when OK reports true.
type Report struct {
	Checked        int64  // entries read and re-hashed
	LastSeq        int64  // the greatest seq read; 0 when the log is empty
	HeadSeq        int64  // the head's seq when the walk began
	HeadHash       []byte // the head's hash when the walk began: keep it outside the database
	Broken         *Break // the broken link with the smallest seq; nil when every link holds
	BrokenLinks    int64  // how many broken links were found in all
	Gaps           []Gap  // missing seqs, the first GapsReportMax ranges
	MissingEntries int64  // how many seqs are missing in all
}

// OK reports whether every link holds and no entry is missing.
func (r Report) OK() bool { return r.Broken == nil && r.MissingEntries == 0 }

// Break is a link of the chain that does not hold.
type Break struct {
	Seq      int64  // the entry whose link breaks
	Problem  string // what does not match
	Expected []byte // the hash the chain requires there (nil when no hash applies)
	Stored   []byte // the hash stored there
}

func (b Break) String() string {
	if b.Expected == nil && b.Stored == nil {
		return fmt.Sprintf("seq %d: %s", b.Seq, b.Problem)
	}
	return fmt.Sprintf("seq %d: %s (expected %x, stored %x)", b.Seq, b.Problem, b.Expected, b.Stored)
}

// Gap is a range of seqs with no entry.
type Gap struct {
	FromSeq, ToSeq int64 // inclusive
}

func (g Gap) String() string {
	if g.FromSeq == g.ToSeq {
		return fmt.Sprintf("seq %d is missing", g.FromSeq)
	}
	return fmt.Sprintf("seqs %d to %d are missing", g.FromSeq, g.ToSeq)
}

// Verify walks the whole log in seq order and checks every link: each
// entry's hash against its fields, each entry's PrevHash against the hash of
// the entry before it, that seqs run from 1 without gaps, and that the head
// names the last entry with its hash. It reads the head before and after the
// walk, so entries appended meanwhile are not mistaken for tampering.
//
// The error is the store's; what Verify finds wrong is in the Report.
func (s *Service) Verify(ctx context.Context) (Report, error) {
	var r Report
	headSeq, headHash, err := s.store.AuditHead(ctx)
	if err != nil {
		return r, fmt.Errorf("audit: verify: read head: %w", err)
	}
	r.HeadSeq, r.HeadHash = headSeq, headHash
	var prev *Entry
	err = s.store.AuditScan(ctx, 0, func(e Entry) error {
		r.Checked++
		r.LastSeq = e.Seq
		if got := e.ComputeHash(); !bytes.Equal(got, e.Hash) {
			r.broke(Break{Seq: e.Seq, Problem: "the entry's fields do not match its hash", Expected: got, Stored: e.Hash})
		}
		switch {
		case e.Seq < 1:
			r.broke(Break{Seq: e.Seq, Problem: "seqs start at 1"})
		case prev == nil && e.Seq == 1:
			if len(e.PrevHash) != 0 {
				r.broke(Break{Seq: e.Seq, Problem: "the first entry has a previous hash", Expected: []byte{}, Stored: e.PrevHash})
			}
		case prev == nil || prev.Seq < 1:
			r.gap(1, e.Seq-1)
		case e.Seq == prev.Seq+1:
			if !bytes.Equal(e.PrevHash, prev.Hash) {
				r.broke(Break{Seq: e.Seq, Problem: fmt.Sprintf("the previous hash is not the hash of seq %d", prev.Seq), Expected: prev.Hash, Stored: e.PrevHash})
			}
		default:
			r.gap(prev.Seq+1, e.Seq-1)
		}
		if e.Seq == headSeq && !bytes.Equal(e.Hash, headHash) {
			r.broke(Break{Seq: e.Seq, Problem: "the head records another hash for this entry", Expected: headHash, Stored: e.Hash})
		}
		prev = &e
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("audit: verify: %w", err)
	}
	if r.LastSeq < headSeq {
		// The head was there before the walk: the entries up to it were committed.
		r.gap(r.LastSeq+1, headSeq)
	}
	afterSeq, _, err := s.store.AuditHead(ctx)
	if err != nil {
		return r, fmt.Errorf("audit: verify: read head: %w", err)
	}
	if afterSeq < r.LastSeq {
		r.broke(Break{Seq: r.LastSeq, Problem: fmt.Sprintf("the head is at seq %d, behind the last entry", afterSeq)})
	}
	return r, nil
}

// broke records b, keeping the one with the smallest seq.
func (r *Report) broke(b Break) {
	r.BrokenLinks++
	if r.Broken == nil || b.Seq < r.Broken.Seq {
		r.Broken = &b
	}
}

// gap records the missing seqs from..to.
func (r *Report) gap(from, to int64) {
	if to < from {
		return
	}
	r.MissingEntries += to - from + 1
	if len(r.Gaps) < GapsReportMax {
		r.Gaps = append(r.Gaps, Gap{FromSeq: from, ToSeq: to})
	}
}
