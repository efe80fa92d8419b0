package sqlite

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonRows builds a JSON array of arrays, the one argument of the json_each
// statements. It writes only integers, null and strings; the ledger rejects
// text that is not valid UTF-8 before it gets here.
type jsonRows struct {
	buf   []byte
	first bool // no value written yet in the current row
}

func (j *jsonRows) row() *jsonRows {
	if len(j.buf) == 0 {
		j.buf = append(j.buf, '[')
	} else {
		j.buf = append(j.buf, "],"...)
	}
	j.buf = append(j.buf, '[')
	j.first = true
	return j
}

func (j *jsonRows) sep() {
	if !j.first {
		j.buf = append(j.buf, ',')
	}
	j.first = false
}

func (j *jsonRows) int(v int64) *jsonRows {
	j.sep()
	j.buf = strconv.AppendInt(j.buf, v, 10)
	return j
}

func (j *jsonRows) null() *jsonRows {
	j.sep()
	j.buf = append(j.buf, "null"...)
	return j
}

// time writes unix microseconds, or null for the zero time.
func (j *jsonRows) time(t time.Time) *jsonRows {
	if t.IsZero() {
		return j.null()
	}
	return j.int(micros(t))
}

const hexDigits = "0123456789abcdef"

func (j *jsonRows) str(s string) *jsonRows {
	j.sep()
	j.buf = appendJSONString(j.buf, s)
	return j
}

func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escaping at once.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		buf = append(buf, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			buf = append(buf, s[i:i+size]...)
			i += size
			continue
		}
		i++
	}
	return append(buf, '"')
}

// hex writes b as a string of lowercase hex digits, which SQL's unhex()
// turns back into the bytes: JSON carries no bytes.
func (j *jsonRows) hex(b []byte) *jsonRows {
	j.sep()
	j.buf = append(j.buf, '"')
	j.buf = hex.AppendEncode(j.buf, b)
	j.buf = append(j.buf, '"')
	return j
}

// String closes the array. An empty builder is the empty array.
func (j *jsonRows) String() string {
	if len(j.buf) == 0 {
		return "[]"
	}
	return string(j.buf) + "]]"
}

func idsJSON(ids []int64) string {
	buf := make([]byte, 0, len(ids)*8+2)
	buf = append(buf, '[')
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, id, 10)
	}
	return string(append(buf, ']'))
}

func stringsJSON(ss []string) string {
	buf := make([]byte, 0, len(ss)*16+2)
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, s)
	}
	return string(append(buf, ']'))
}
