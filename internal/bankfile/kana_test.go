package bankfile

import (
	"testing"
)

func TestToZenginKana(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Company and personal names as people type them.
		{"カブシキガイシャ　ヤマダ", "ｶﾌﾞｼｷｶﾞｲｼﾔ ﾔﾏﾀﾞ"}, // small ャ becomes ﾔ, as banks register names
		{"やまだ たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"},
		{"ｼﾞｮｰｼﾞ", "ｼﾞﾖ-ｼﾞ"}, // already half-width: small ｮ → ﾖ, long-vowel ｰ → -
		{"ジョージ", "ｼﾞﾖ-ｼﾞ"},
		{"ｶ)ﾔﾏﾀﾞｼｮｳﾃﾝ", "ｶ)ﾔﾏﾀﾞｼﾖｳﾃﾝ"},
		{"カ）サンプル（ユ", "ｶ)ｻﾝﾌﾟﾙ(ﾕ"},
		{"パナソニック", "ﾊﾟﾅｿﾆﾂｸ"},
		{"ヴィクトリア", "ｳﾞｲｸﾄﾘｱ"},
		{"きっぷ", "ｷﾂﾌﾟ"},
		{"ジョン・スミス", "ｼﾞﾖﾝ.ｽﾐｽ"},
		{"ヲ ゐ ヱ ヶ", "ｵ ｲ ｴ ｹ"},
		{"Ｙａｍａｄａ　Ｔａｒｏ", "YAMADA TARO"},
		{"kinko inc.", "KINKO INC."},
		{"ＡＢＣ－１２３／４", "ABC-123/4"},
		{"サトウ ハナコ", "ｻﾄｳ ﾊﾅｺ"},
		{"か\u3099", "ｶﾞ"},    // combining voiced mark
		{"カ゛", "ｶﾞ"},         // spacing voiced mark
		{"ﾊﾟﾋﾟﾌﾟ", "ﾊﾟﾋﾟﾌﾟ"}, // already valid: unchanged
		{"", ""},
		{"  ", "  "}, // spaces are the writer's business
	} {
		got, err := ToZenginKana(tc.in)
		if err != nil {
			t.Errorf("ToZenginKana(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ToZenginKana(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, r := range got {
			if !isZenginNameRune(r) {
				t.Errorf("ToZenginKana(%q) = %q holds %q, outside the name set", tc.in, got, r)
			}
		}
	}
}

func TestToZenginKanaErrors(t *testing.T) {
	for _, tc := range []struct{ in, wantMsg string }{
		{"山田太郎", "'山' (U+5C71) at position 1"},
		{"ヤマダ＆サトウ", "'＆' (U+FF06) at position 4"},
		{"ヤマダ,タロウ", "',' (U+002C) at position 4"},
		{"カフェ・ド・クリエ～", "'～' (U+FF5E) at position 10"},
		{"José", "'é' (U+00E9) at position 4"},
		{"ｱ\xffｲ", "byte 4 is not valid UTF-8"},
		{"ﾔﾏﾀﾞ｢ﾀﾛｳ｣", "'｢' (U+FF62) at position 5"},
	} {
		_, err := ToZenginKana(tc.in)
		checkInvalid(t, err, "name", tc.wantMsg)
	}
}

func TestNormaliseName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ｶ)ﾔﾏﾀﾞｼﾖｳﾃﾝ", "カ)ヤマダシヨウテン"},
		{"  ﾔﾏﾀﾞ   ﾀﾛｳ ", "ヤマダ タロウ"},
		{"ABC123", "ABC123"},
		{"", ""},
	} {
		if got := normaliseName(tc.in); got != tc.want {
			t.Errorf("normaliseName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
