package bankfile

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the sample files in testdata/ from the writers")

// The sample files in testdata/ are what the writers make of the sample
// values: realistic Shift_JIS files to read, to seed the fuzzers and to try
// other tools on. TestSampleFiles keeps them in step with the writers.
const (
	statementSample = "zengin-statement-sample.txt" // 入出金取引明細, 200-byte records, CRLF, Reiwa dates
	transferSample  = "zengin-transfer-sample.txt"  // 総合振込, 120-byte records, CRLF
)

func TestSampleFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) []byte
		parse func([]byte) error
	}{
		{statementSample, func(t *testing.T) []byte {
			second := sampleStatement()
			second.AccountNumber, second.AccountName = "0007654321", "ｶ)ｷﾝｺ ﾃｽｳﾘﾖｳｸﾞﾁ"
			second.Entries = second.Entries[2:3]
			second.OpeningBalance, second.ClosingBalance = Balance{Yen: 1000, Known: true}, Balance{Yen: 560, Known: true}
			return mustWriteStatements(t, EraReiwa, Framing{Separator: SeparatorCRLF}, sampleStatement(), second)
		}, func(b []byte) error { _, err := ParseStatements(b, EraReiwa); return err }},
		{transferSample, func(t *testing.T) []byte {
			return mustWriteTransfers(t, Framing{Separator: SeparatorCRLF}, samplePayouts())
		}, func(b []byte) error { _, err := ParseTransfers(b); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.build(t)
			path := "testdata/" + tc.name
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := readTestdata(t, tc.name)
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what the writer makes now; run go test -run TestSampleFiles -update", path)
			}
			if err := tc.parse(got); err != nil {
				t.Errorf("parse %s: %v", path, err)
			}
		})
	}
}
