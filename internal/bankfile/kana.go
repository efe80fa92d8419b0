package bankfile

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// ToZenginKana converts a name to the Zengin name character set that banks
// accept in a payee or requester name (受取人名, 振込依頼人名): half-width
// katakana ｱ..ﾝ with ﾞ and ﾟ, digits, upper-case latin letters, space and
// ( ) - . /
//
// It converts hiragana to katakana; full-width katakana, latin letters,
// digits, spaces and punctuation to half-width, splitting voiced kana into a
// base and ﾞ or ﾟ (ガ → ｶﾞ, パ → ﾊﾟ, ヴ → ｳﾞ); lower-case latin letters to
// upper case; small kana to large ones (ｬ → ﾔ, ｯ → ﾂ), as banks register
// account names; ヰ ヱ ヲ to ｲ ｴ ｵ; the long-vowel mark ー and dashes to '-'
// (banks write ｼﾞﾖ-ｼﾞ for ジョージ); and the middle dot ・ to '.'.
// Everything else — kanji, commas, most symbols, letters with accents — has
// no Zengin form: ToZenginKana returns an apperr "invalid" error naming the
// first such character and its position (counted in characters from 1), and
// never guesses. It neither trims nor collapses spaces, nor checks a length:
// the field's writer does.
func ToZenginKana(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	for i, r := range s {
		pos++
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return "", apperr.Invalid("name", "byte %d is not valid UTF-8", i+1)
		}
		out, ok := zenginKanaOf(r)
		if !ok {
			return "", apperr.Invalid("name", "character %q (U+%04X) at position %d has no Zengin half-width form", r, r, pos)
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// zenginKanaOf returns the Zengin name-set form of one character.
func zenginKanaOf(r rune) (string, bool) {
	switch r {
	case 'ー', 'ｰ', '‐', '‑', '‒', '–', '—', '―', '−', '－', '-':
		return "-", true
	case '　', '\u00A0', ' ':
		return " ", true
	case '・', '･':
		return ".", true
	case '゛':
		return "ﾞ", true
	case '゜':
		return "ﾟ", true
	}
	if r >= 'ぁ' && r <= 'ゖ' {
		r += 'ァ' - 'ぁ' // hiragana to katakana: the blocks run in parallel
	}
	var b strings.Builder
	for _, d := range norm.NFD.String(string(r)) { // ガ → カ + U+3099
		d = largeKana(d)
		for _, n := range width.Narrow.String(string(d)) { // カ → ｶ, U+3099 → ﾞ, Ａ → A
			n = largeKana(n)
			if n >= 'a' && n <= 'z' {
				n -= 'a' - 'A'
			}
			if !isZenginNameRune(n) {
				return "", false
			}
			b.WriteRune(n)
		}
	}
	return b.String(), true
}

// largeKanaOf maps small and obsolete kana, full- and half-width, to the
// large kana banks write instead.
var largeKanaOf = map[rune]rune{
	'ァ': 'ア', 'ィ': 'イ', 'ゥ': 'ウ', 'ェ': 'エ', 'ォ': 'オ', 'ッ': 'ツ',
	'ャ': 'ヤ', 'ュ': 'ユ', 'ョ': 'ヨ', 'ヮ': 'ワ', 'ヵ': 'カ', 'ヶ': 'ケ',
	'ヰ': 'イ', 'ヱ': 'エ', 'ヲ': 'オ',
	'ｧ': 'ｱ', 'ｨ': 'ｲ', 'ｩ': 'ｳ', 'ｪ': 'ｴ', 'ｫ': 'ｵ', 'ｯ': 'ﾂ',
	'ｬ': 'ﾔ', 'ｭ': 'ﾕ', 'ｮ': 'ﾖ', 'ｦ': 'ｵ',
}

func largeKana(r rune) rune {
	if l, ok := largeKanaOf[r]; ok {
		return l
	}
	return r
}

// normaliseName returns a display and matching form of a half-width name
// from a bank file: NFKC (half-width katakana to full-width with voicing
// marks composed, ｶﾞ → ガ), with runs of spaces collapsed to one and no
// leading or trailing space.
func normaliseName(s string) string {
	return strings.Join(strings.Fields(norm.NFKC.String(s)), " ")
}
