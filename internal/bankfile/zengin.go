package bankfile

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Zengin files are sequences of fixed-length records in JIS X 0201 (the
// single-byte part of Shift_JIS): digits and upper-case letters in ASCII
// positions, half-width katakana in 0xA1..0xDF. Each record's first byte is
// its データ区分 (record kind).
const (
	kindHeader  = '1' // ヘッダー・レコード
	kindData    = '2' // データ・レコード
	kindTrailer = '8' // トレーラ・レコード
	kindEnd     = '9' // エンド・レコード

	eofMarker = 0x1A // MS-DOS end-of-file byte some bank systems append

	BankCodeLen   = 4 // 統一金融機関番号, the Zengin bank code
	BranchCodeLen = 3 // 統一店番号, the Zengin branch code
)

// Separator is what a Zengin writer puts between records.
type Separator int

const (
	SeparatorNone Separator = iota // records back to back (the standard's fixed-length file)
	SeparatorCRLF                  // "\r\n" after every record, as most banks' web services accept
	SeparatorLF                    // "\n" after every record
)

// Framing says how a Zengin writer lays records out in the file. Parsers
// accept every framing: fixed records back to back, or records each followed
// by CRLF or LF, with or without a final 0x1A byte.
type Framing struct {
	Separator Separator
	EOFMarker bool // append a 0x1A byte after the last record
}

func (f Framing) check() error {
	if f.Separator < SeparatorNone || f.Separator > SeparatorLF {
		return apperr.Invalid("Framing.Separator", "unknown separator %d", int(f.Separator))
	}
	return nil
}

func (f Framing) sep() string {
	switch f.Separator {
	case SeparatorCRLF:
		return "\r\n"
	case SeparatorLF:
		return "\n"
	}
	return ""
}

// splitRecords cuts a Zengin file into records of recLen bytes. The records
// are sub-slices of data: nothing is copied.
func splitRecords(data []byte, recLen, sizeMax int) ([][]byte, error) {
	if len(data) > sizeMax {
		return nil, apperr.Invalid("file", "file is %d bytes, more than the %d allowed", len(data), sizeMax)
	}
	if n := len(data); n > 0 && data[n-1] == eofMarker {
		data = data[:n-1]
	}
	if len(data) == 0 {
		return nil, apperr.Invalid("file", "file is empty")
	}
	var recs [][]byte
	if bytes.ContainsAny(data, "\r\n") {
		recs = make([][]byte, 0, bytes.Count(data, []byte{'\n'})+1)
		for i := 1; len(data) > 0; i++ {
			line, rest, found := bytes.Cut(data, []byte{'\n'})
			if !found {
				rest = nil
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(line) != recLen {
				return nil, apperr.Invalid(fmt.Sprintf("record %d", i), "record is %d bytes, want %d (records are separated by CRLF or LF)", len(line), recLen)
			}
			recs = append(recs, line)
			data = rest
		}
		return recs, nil
	}
	if len(data)%recLen != 0 {
		return nil, apperr.Invalid(fmt.Sprintf("record %d", len(data)/recLen+1),
			"file is %d bytes, not a multiple of the %d-byte record (the last record is %d bytes)", len(data), recLen, len(data)%recLen)
	}
	recs = make([][]byte, 0, len(data)/recLen)
	for len(data) > 0 {
		recs = append(recs, data[:recLen])
		data = data[recLen:]
	}
	return recs, nil
}

// charset is a set of characters a Zengin text field may hold.
type charset int

const (
	// charsAny is every JIS X 0201 graphic character: ASCII 0x20..0x7E (with
	// 0x5C read as '¥') and half-width katakana and punctuation 0xA1..0xDF.
	// Parsers accept it in every text field: banks write what they write.
	charsAny charset = iota
	// charsName is the Zengin name set: 0-9, A-Z, half-width katakana ｱ..ﾝ,
	// ﾞ, ﾟ, space and ( ) - . / — what a payee or requester name (受取人名,
	// 振込依頼人名) and bank or branch name may hold.
	charsName
	// charsEDI is the name set plus , ¥ ｢ ｣ — what EDI information (EDI情報)
	// may hold.
	charsEDI
)

func (c charset) String() string {
	switch c {
	case charsName:
		return "0-9 A-Z ｱ-ﾝ ﾞ ﾟ space ( ) - . /"
	case charsEDI:
		return "0-9 A-Z ｱ-ﾝ ﾞ ﾟ space ( ) - . / , ¥ ｢ ｣"
	}
	return "JIS X 0201 characters"
}

// allows reports whether r may appear in a field of set c.
func (c charset) allows(r rune) bool {
	if isZenginNameRune(r) {
		return true
	}
	switch c {
	case charsEDI:
		return r == ',' || r == '¥' || r == '\\' || r == '｢' || r == '｣'
	case charsAny:
		return r >= 0x20 && r <= 0x7E || r == '¥' || r >= 0xFF61 && r <= 0xFF9F
	}
	return false
}

// isZenginNameRune reports whether r is in the Zengin name set.
func isZenginNameRune(r rune) bool {
	switch {
	case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
		return true
	case r >= 'ｱ' && r <= 'ﾝ', r == 'ﾞ', r == 'ﾟ':
		return true
	}
	switch r {
	case ' ', '(', ')', '-', '.', '/':
		return true
	}
	return false
}

// isJISX0201Byte reports whether b is a graphic JIS X 0201 byte.
func isJISX0201Byte(b byte) bool {
	return b >= 0x20 && b <= 0x7E || b >= 0xA1 && b <= 0xDF
}

// decodeText decodes a JIS X 0201 field, which the caller has checked byte
// by byte, into UTF-8, reading 0x5C as '¥' (JIS X 0201 puts the yen sign
// where ASCII has the backslash).
func decodeText(b []byte) (string, error) {
	s, err := japanese.ShiftJIS.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(s), `\`, "¥"), nil
}

// encodeText encodes s, whose characters the caller has checked against a
// charset, into JIS X 0201 bytes, one byte per character.
func encodeText(s string) ([]byte, error) {
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(strings.ReplaceAll(s, "¥", `\`)))
	if err != nil {
		return nil, err
	}
	if len(b) != utf8.RuneCountInString(s) {
		return nil, fmt.Errorf("bankfile: %q did not encode to single bytes", s)
	}
	return b, nil
}

// recReader reads the fields of one record left to right. The first error
// sticks; later reads return zero values.
type recReader struct {
	rec []byte
	num int // 1-based record number in the file
	pos int
	era Era
	err error
}

func (r *recReader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = apperr.Invalid(fmt.Sprintf("record %d: %s", r.num, field), format, args...)
	}
}

// take returns the next w bytes, or nil once an error is set.
func (r *recReader) take(w int) []byte {
	if r.err != nil {
		return nil
	}
	if r.pos+w > len(r.rec) {
		r.err = fmt.Errorf("bankfile: record layout overruns a %d-byte record at byte %d", len(r.rec), r.pos)
		return nil
	}
	b := r.rec[r.pos : r.pos+w]
	r.pos += w
	return b
}

// skip passes over a field the parser does not read (ダミー).
func (r *recReader) skip(w int) { r.take(w) }

// digits reads a numeric (N) field. An optional field may be all spaces, which
// reads as "".
func (r *recReader) digits(field string, w int, optional bool) string {
	b := r.take(w)
	if b == nil {
		return ""
	}
	if optional && isAll(b, ' ') {
		return ""
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			if optional {
				r.fail(field, "must be %d digits or %d spaces, got %q", w, w, b)
			} else {
				r.fail(field, "must be %d digits, got %q", w, b)
			}
			return ""
		}
	}
	return string(b)
}

// number reads a numeric field as an integer; an optional blank field reads 0.
func (r *recReader) number(field string, w int, optional bool) int64 {
	s := r.digits(field, w, optional)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64) // w <= 18, so it fits
	if err != nil {
		r.fail(field, "%q is not a number", s)
	}
	return n
}

// code reads a one-digit code field and checks it against allowed; a blank
// optional field reads 0.
func (r *recReader) code(field string, optional bool, allowed string) int {
	s := r.digits(field, 1, optional)
	if s == "" {
		return 0
	}
	if !strings.Contains(allowed, s) {
		r.fail(field, "code %q is not one of %s", s, strings.Join(strings.Split(allowed, ""), ", "))
		return 0
	}
	return int(s[0] - '0')
}

// text reads a text (C) field of JIS X 0201 characters, without its trailing
// space padding.
func (r *recReader) text(field string, w int) string {
	b := r.take(w)
	if b == nil {
		return ""
	}
	for i, c := range b {
		if !isJISX0201Byte(c) {
			r.fail(field, "byte %d is 0x%02X, not a JIS X 0201 character (half-width only)", i+1, c)
			return ""
		}
	}
	s, err := decodeText(bytes.TrimRight(b, " "))
	if err != nil {
		r.fail(field, "cannot decode %q: %v", b, err)
	}
	return s
}

// date reads a YYMMDD field in the reader's era. An optional field that is all
// zeros or all spaces reads as the zero Date.
func (r *recReader) date(field string, optional bool) Date {
	b := r.take(6)
	if b == nil {
		return Date{}
	}
	if optional && (isAll(b, ' ') || isAll(b, '0')) {
		return Date{}
	}
	d, ok := parseYYMMDD(b, r.era)
	if !ok {
		r.fail(field, "%q is not a YYMMDD date in the %s era", b, r.era)
	}
	return d
}

func parseYYMMDD(b []byte, era Era) (Date, bool) {
	if len(b) != 6 {
		return Date{}, false
	}
	var v [3]int
	for i := range v {
		hi, lo := b[2*i], b[2*i+1]
		if hi < '0' || hi > '9' || lo < '0' || lo > '9' {
			return Date{}, false
		}
		v[i] = int(hi-'0')*10 + int(lo-'0')
	}
	if era == EraReiwa && v[0] == 0 {
		return Date{}, false // there is no Reiwa 0
	}
	d := Date{era.yearOf(v[0]), time.Month(v[1]), v[2]}
	if !d.valid() || era == EraReiwa && d.Before(reiwaStart) {
		return Date{}, false
	}
	return d, true
}

// done checks the reader consumed exactly the whole record.
func (r *recReader) done() error {
	if r.err == nil && r.pos != len(r.rec) {
		return fmt.Errorf("bankfile: record layout covers %d of %d bytes", r.pos, len(r.rec))
	}
	return r.err
}

func isAll(b []byte, c byte) bool {
	for _, x := range b {
		if x != c {
			return false
		}
	}
	return true
}

// recWriter appends the fields of records to a file buffer. The first error
// sticks. Params in its errors name the writer's input (e.g.
// "Items[2].RecipientName"), not a record: the caller built no record yet.
type recWriter struct {
	buf   []byte
	start int // offset of the record being written
	era   Era
	err   error
}

func (w *recWriter) fail(param, format string, args ...any) {
	if w.err == nil {
		w.err = apperr.Invalid(param, format, args...)
	}
}

func (w *recWriter) begin(kind byte) {
	w.start = len(w.buf)
	w.buf = append(w.buf, kind)
}

// finish checks the record is recLen bytes and appends the separator.
func (w *recWriter) finish(recLen int, sep string) {
	if w.err == nil && len(w.buf)-w.start != recLen {
		w.err = fmt.Errorf("bankfile: wrote a %d-byte record, want %d", len(w.buf)-w.start, recLen)
	}
	w.buf = append(w.buf, sep...)
}

func (w *recWriter) raw(s string) { w.buf = append(w.buf, s...) }

func (w *recWriter) spaces(n int) {
	for range n {
		w.buf = append(w.buf, ' ')
	}
}

func (w *recWriter) zeros(n int) {
	for range n {
		w.buf = append(w.buf, '0')
	}
}

// digits writes a numeric string of at most width digits, right-aligned and
// zero-padded; "" writes spaces when optional.
func (w *recWriter) digits(param, label string, width int, v string, exact, optional bool) {
	switch {
	case v == "" && optional:
		w.spaces(width)
		return
	case v == "":
		w.fail(param, "%s is required (%d digits)", label, width)
	case !allDigits(v):
		w.fail(param, "%s must be digits only, got %q", label, v)
	case exact && len(v) != width:
		w.fail(param, "%s must be exactly %d digits, got %q", label, width, v)
	case len(v) > width:
		w.fail(param, "%s must be at most %d digits, got %q", label, width, v)
	}
	if w.err != nil {
		w.spaces(width)
		return
	}
	w.zeros(width - len(v))
	w.raw(v)
}

// number writes 0 <= v < 10^width, right-aligned and zero-padded.
func (w *recWriter) number(param, label string, width int, v int64) {
	s := strconv.FormatInt(v, 10)
	switch {
	case v < 0:
		w.fail(param, "%s must not be negative, got %d", label, v)
	case len(s) > width:
		w.fail(param, "%s %d does not fit in %d digits", label, v, width)
	}
	if w.err != nil {
		w.spaces(width)
		return
	}
	w.zeros(width - len(s))
	w.raw(s)
}

// code writes a one-digit code, or a space for 0 when optional.
func (w *recWriter) code(param, label string, v int, optional bool, allowed string) {
	if v == 0 && optional {
		w.spaces(1)
		return
	}
	s := strconv.Itoa(v)
	if len(s) != 1 || !strings.Contains(allowed, s) {
		w.fail(param, "%s %d is not one of %s", label, v, strings.Join(strings.Split(allowed, ""), ", "))
		w.spaces(1)
		return
	}
	w.raw(s)
}

// text writes v left-aligned and space-padded after checking every character
// against set and the length against width (one byte per character).
func (w *recWriter) text(param, label string, width int, v string, set charset, required bool) {
	if err := checkText(v, width, set, required); err != "" {
		w.fail(param, "%s %s", label, err)
	}
	if w.err != nil {
		w.spaces(width)
		return
	}
	b, err := encodeText(v)
	if err != nil {
		w.fail(param, "%s: %v", label, err)
		w.spaces(width)
		return
	}
	w.buf = append(w.buf, b...)
	w.spaces(width - len(b))
}

// checkText returns why v cannot fill a field of width characters of set, or "".
func checkText(v string, width int, set charset, required bool) string {
	if required && strings.TrimSpace(v) == "" {
		return "is required"
	}
	n := 0
	for i, r := range v {
		n++
		if r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD") {
			return "is not valid UTF-8"
		}
		if !set.allows(r) {
			return fmt.Sprintf("has %q at character %d, which is not in the allowed set (%s); ToZenginKana converts names", r, n, set)
		}
	}
	if n > width {
		return fmt.Sprintf("is %d characters, more than the %d the field holds", n, width)
	}
	return ""
}

// date writes d as YYMMDD in the writer's era, or spaces for the zero Date
// when optional.
func (w *recWriter) date(param, label string, d Date, optional bool) {
	if d.IsZero() && optional {
		w.spaces(6)
		return
	}
	if !d.valid() {
		w.fail(param, "%s %+v is not a calendar date", label, d)
		w.spaces(6)
		return
	}
	yy, err := w.era.yyOf(d)
	if err != nil {
		w.fail(param, "%s: %v", label, err)
		w.spaces(6)
		return
	}
	w.raw(fmt.Sprintf("%02d%02d%02d", yy, int(d.Month), d.Day))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
