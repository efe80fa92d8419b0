package bankfile

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// The fuzzers feed the parsers arbitrary bytes, seeded with the sample files
// in testdata/ and small variations of them. A parser must never panic, must
// fail only with an apperr "invalid" error, and what it accepts must survive
// a write and a second parse unchanged.

// checkFuzzError fails unless err is nil or an apperr "invalid" error.
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var ae *apperr.Error
	if err != nil && (!errors.As(err, &ae) || ae.Code != apperr.CodeInvalid) {
		t.Fatalf("error is not apperr invalid: %v", err)
	}
}

func FuzzParseStatements(f *testing.F) {
	sample := readTestdata(f, statementSample)
	f.Add(sample, false)
	f.Add(bytes.ReplaceAll(sample, []byte("\r\n"), nil), false)
	f.Add(append(bytes.ReplaceAll(sample, []byte("\r\n"), []byte("\n")), 0x1A), true)
	f.Add(sample[:len(sample)/2], false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, western bool) {
		era := EraReiwa
		if western {
			era = EraWestern
		}
		stmts, err := ParseStatements(data, era)
		checkFuzzError(t, err)
		if err != nil {
			return
		}
		out, err := WriteStatements(stmts, era, Framing{})
		if err != nil {
			t.Fatalf("WriteStatements of parsed statements: %v", err)
		}
		again, err := ParseStatements(out, era)
		if err != nil {
			t.Fatalf("ParseStatements of written statements: %v", err)
		}
		if !reflect.DeepEqual(again, stmts) {
			t.Fatalf("round trip differs:\n%+v\n%+v", stmts, again)
		}
	})
}

func FuzzParseTransfers(f *testing.F) {
	sample := readTestdata(f, transferSample)
	f.Add(sample)
	f.Add(bytes.ReplaceAll(sample, []byte("\r\n"), nil))
	f.Add(append(bytes.ReplaceAll(sample, []byte("\r\n"), []byte("\n")), 0x1A))
	f.Add(sample[:len(sample)-5])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		batches, err := ParseTransfers(data)
		checkFuzzError(t, err)
		if err != nil {
			return
		}
		for _, b := range batches {
			for _, it := range b.Items {
				if it.AmountYen <= 0 || it.AmountYen > TransferAmountMax {
					t.Fatalf("parsed amount %d out of range", it.AmountYen)
				}
			}
		}
		// Bank copies may hold names outside the strict set the writer
		// enforces; what the writer accepts must read back the same.
		out, err := WriteTransfers(batches, Framing{})
		checkFuzzError(t, err)
		if err != nil {
			return
		}
		again, err := ParseTransfers(out)
		if err != nil {
			t.Fatalf("ParseTransfers of written batches: %v", err)
		}
		if !reflect.DeepEqual(again, batches) {
			t.Fatalf("round trip differs:\n%+v\n%+v", batches, again)
		}
	})
}

func FuzzParseCamt053(f *testing.F) {
	for _, name := range []string{"camt053.001.02-sample.xml", "camt053.001.08-sample.xml"} {
		b := readTestdata(f, name)
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Add(camtDoc(camtEntry("1.5", "EUR", "<RvslInd>true</RvslInd>")))
	f.Add([]byte(`<!DOCTYPE d [<!ENTITY e "x">]><Document>&e;</Document>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		stmts, err := ParseCamt053(data, nil)
		checkFuzzError(t, err)
		for _, s := range stmts {
			refs := map[string]bool{}
			for _, e := range s.Entries {
				if e.AmountMinor < 0 || e.BankRef == "" || refs[e.BankRef] || (e.Direction != Credit && e.Direction != Debit) {
					t.Fatalf("bad entry %+v", e)
				}
				refs[e.BankRef] = true
			}
		}
	})
}

func FuzzToZenginKana(f *testing.F) {
	for _, s := range []string{"カブシキガイシャ　ヤマダ", "やまだ たろう", "ｼﾞｮｰｼﾞ", "Ｙａｍａｄａ", "山田", "ヴ゙"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ToZenginKana(s)
		checkFuzzError(t, err)
		if err != nil {
			return
		}
		if checkText(out, len(out)+1, charsName, false) != "" {
			t.Fatalf("ToZenginKana(%q) = %q, outside the name set", s, out)
		}
		if again, err := ToZenginKana(out); err != nil || again != out {
			t.Fatalf("ToZenginKana is not idempotent on %q: %q, %v", out, again, err)
		}
	})
}
