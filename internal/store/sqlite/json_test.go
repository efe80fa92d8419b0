package sqlite

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzJSONString checks that every UTF-8 string the ledger accepts survives
// appendJSONString and a standard JSON decoder unchanged: references and
// codes reach SQLite through it.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote"back\slash`, "tab\tnl\n", "\x01\x1f\x7f", "日本語", "🙂", "</script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the ledger rejects such text before it gets here
		}
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, appendJSONString(nil, s), err)
		}
		if got != s {
			t.Fatalf("%q came back as %q", s, got)
		}
	})
}

func TestJSONRows(t *testing.T) {
	var j jsonRows
	if got := j.String(); got != "[]" {
		t.Fatalf("empty = %s", got)
	}
	j.row().int(1).str("a").null()
	j.row().int(-2).str(`"`).hex([]byte{0, 0xab, 0x10})
	var rows [][]any
	if err := json.Unmarshal([]byte(j.String()), &rows); err != nil {
		t.Fatalf("%s: %v", j.String(), err)
	}
	if len(rows) != 2 || rows[0][1] != "a" || rows[0][2] != nil || rows[1][1] != `"` || rows[1][2] != "00ab10" {
		t.Fatalf("rows = %v", rows)
	}
	if got := idsJSON([]int64{3, 1 << 62}); got != "[3,4611686018427387904]" {
		t.Fatalf("idsJSON = %s", got)
	}
}
