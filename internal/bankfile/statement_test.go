package bankfile

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// sampleStatement is a realistic day of an escrow collection account: buyers'
// transfers in, a fee and a payout out, an entry with a blank 照会番号.
func sampleStatement() Statement {
	d := Date{2026, time.April, 1}
	return Statement{
		Created:        Date{2026, time.April, 2},
		PeriodFrom:     d,
		PeriodTo:       d,
		BankCode:       "0009",
		BankName:       "ﾐﾂｲｽﾐﾄﾓ",
		BranchCode:     "123",
		BranchName:     "ﾄｳｷﾖｳｴｲｷﾞﾖｳﾌﾞ",
		AccountType:    AccountOrdinary,
		AccountNumber:  "0001234567",
		AccountName:    "ｶ)ｷﾝｺ ｴｽｸﾛ-ｸﾞﾁ",
		PassbookKind:   1,
		OpeningBalance: Balance{Yen: 5_000_000, Known: true},
		ClosingBalance: Balance{Yen: 6_510_760, Known: true},
		Entries: []Entry{
			{InquiryNumber: "00000101", Date: d, ValueDate: d, Kind: Deposit, TransactionCode: TxTransfer, AmountYen: 12_800,
				RemitterName: "ﾔﾏﾀﾞ ﾀﾛｳ", RemitterBank: "ﾕｳﾁﾖ", RemitterBranch: "ｾﾞﾛｲﾁﾊﾁ"},
			{InquiryNumber: "00000102", Date: d, ValueDate: d, Kind: Deposit, TransactionCode: TxTransfer, AmountYen: 1_500_000,
				RemitterCode: "0000012345", RemitterName: "ｶ)ｻﾝﾌﾟﾙｼﾖｳｼﾞ", RemitterBank: "ﾐｽﾞﾎ", RemitterBranch: "ｼﾝｼﾞﾕｸ", EDI: "INV-2026-0401"},
			{InquiryNumber: "00000103", Date: d, ValueDate: d, Kind: Withdrawal, TransactionCode: TxOther, AmountYen: 440,
				Description: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"},
			{Date: d, ValueDate: Date{2026, time.March, 31}, Kind: Deposit, TransactionCode: TxCash, AmountYen: 100_000,
				OtherBankYen: 30_000, ExchangeDate: d, ChequeKind: 1, ChequeNumber: "0012345", RelatedBranch: "456",
				Description: "ｹﾞﾝｷﾝ"},
			{InquiryNumber: "00000104", Date: d, ValueDate: d, Kind: Withdrawal, TransactionCode: TxTransfer, AmountYen: 101_600,
				RemitterName: "ｻﾄｳ ﾊﾅｺ", Description: "ｿｳｷﾝ ¥ (ｴｽｸﾛ-)"},
		},
	}
}

// parsedForm returns s as ParseStatements returns it: derived fields filled.
func parsedForm(t *testing.T, s Statement) Statement {
	t.Helper()
	s.Entries = append([]Entry(nil), s.Entries...)
	for i := range s.Entries {
		s.Entries[i].RemitterNameNorm = normaliseName(s.Entries[i].RemitterName)
	}
	if err := fillBankRefs(&s, 2); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustWriteStatements(t testing.TB, era Era, f Framing, stmts ...Statement) []byte {
	t.Helper()
	b, err := WriteStatements(stmts, era, f)
	if err != nil {
		t.Fatalf("WriteStatements: %v", err)
	}
	return b
}

func TestStatementRoundTrip(t *testing.T) {
	second := sampleStatement()
	second.AccountNumber = "0007654321"
	second.OpeningBalance = Balance{Yen: -20_000, Known: true}
	second.ClosingBalance = Balance{}
	second.PassbookKind = 0
	second.Entries = second.Entries[:1]
	for _, tc := range []struct {
		name  string
		era   Era
		f     Framing
		stmts []Statement
	}{
		{"OKReiwaFixed", EraReiwa, Framing{}, []Statement{sampleStatement()}},
		{"OKReiwaCRLFEOF", EraReiwa, Framing{Separator: SeparatorCRLF, EOFMarker: true}, []Statement{sampleStatement()}},
		{"OKWesternLF", EraWestern, Framing{Separator: SeparatorLF}, []Statement{sampleStatement()}},
		{"OKTwoAccounts", EraReiwa, Framing{Separator: SeparatorCRLF}, []Statement{sampleStatement(), second}},
		{"OKNoEntries", EraReiwa, Framing{}, []Statement{{Created: Date{2026, 1, 5}, PeriodFrom: Date{2026, 1, 5}, PeriodTo: Date{2026, 1, 5},
			BankCode: "0001", BranchCode: "001", AccountType: AccountChecking, AccountNumber: "0000000001"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustWriteStatements(t, tc.era, tc.f, tc.stmts...)
			got, err := ParseStatements(b, tc.era)
			if err != nil {
				t.Fatalf("ParseStatements: %v", err)
			}
			var want []Statement
			for _, s := range tc.stmts {
				want = append(want, parsedForm(t, s))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
			}
			again := mustWriteStatements(t, tc.era, tc.f, got...)
			if !bytes.Equal(again, b) {
				t.Errorf("writing the parsed statements again gives other bytes")
			}
		})
	}
}

// TestStatementLayout checks the writer puts each field where the layout
// (docs/bankfiles.md) says, byte by byte.
func TestStatementLayout(t *testing.T) {
	b := mustWriteStatements(t, EraReiwa, Framing{}, sampleStatement())
	recs, err := splitRecords(b, StatementRecordLen, StatementFileSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+5+1+1 {
		t.Fatalf("%d records, want 8", len(recs))
	}
	field := func(rec []byte, from, width int) string { return string(rec[from-1 : from-1+width]) }
	h, d2, tr, end := recs[0], recs[2], recs[6], recs[7]
	for _, c := range []struct {
		rec         []byte
		from, width int
		want        string
	}{
		{h, 1, 1, "1"}, {h, 2, 2, "03"}, {h, 4, 1, "0"}, {h, 5, 6, "080402"}, {h, 11, 6, "080401"}, {h, 17, 6, "080401"},
		{h, 23, 4, "0009"}, {h, 27, 15, "\xd0\xc2\xb2\xbd\xd0\xc4\xd3        "}, {h, 42, 3, "123"}, {h, 60, 3, "000"},
		{h, 63, 1, "1"}, {h, 64, 10, "0001234567"}, {h, 114, 1, "1"}, {h, 115, 1, "1"}, {h, 116, 14, "00000005000000"},
		{h, 130, 71, strings.Repeat(" ", 71)},
		{d2, 1, 1, "2"}, {d2, 2, 8, "00000102"}, {d2, 10, 6, "080401"}, {d2, 16, 6, "080401"}, {d2, 22, 1, "1"}, {d2, 23, 2, "11"},
		{d2, 25, 12, "000001500000"}, {d2, 37, 12, "000000000000"}, {d2, 49, 6, "      "}, {d2, 55, 6, "      "},
		{d2, 61, 1, " "}, {d2, 62, 7, "       "}, {d2, 69, 3, "   "}, {d2, 72, 10, "0000012345"},
		{d2, 180, 20, "INV-2026-0401       "}, {d2, 200, 1, " "},
		{tr, 1, 1, "8"}, {tr, 2, 6, "000003"}, {tr, 8, 13, "0000001612800"}, {tr, 21, 6, "000002"}, {tr, 27, 13, "0000000102040"},
		{tr, 40, 1, "1"}, {tr, 41, 14, "00000006510760"}, {tr, 55, 7, "0000005"}, {tr, 62, 139, strings.Repeat(" ", 139)},
		{end, 1, 1, "9"}, {end, 2, 199, strings.Repeat(" ", 199)},
	} {
		if got := field(c.rec, c.from, c.width); got != c.want {
			t.Errorf("record kind %c bytes %d..%d = %q, want %q", c.rec[0], c.from, c.from+c.width-1, got, c.want)
		}
	}
	// The remitter name is Shift_JIS half-width kana: ｶ)ｻﾝﾌﾟﾙｼﾖｳｼﾞ.
	if got, want := field(d2, 82, 12), "\xb6)\xbb\xdd\xcc\xdf\xd9\xbc\xd6\xb3\xbc\xde"; got != want {
		t.Errorf("remitter name bytes = %x, want %x", got, want)
	}
}

func TestParseStatementsBankRef(t *testing.T) {
	s := sampleStatement()
	s.Entries = append(s.Entries, Entry{Date: s.PeriodFrom, ValueDate: s.PeriodFrom, Kind: Deposit, AmountYen: 1})
	got, err := ParseStatements(mustWriteStatements(t, EraReiwa, Framing{}, s), EraReiwa)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, e := range got[0].Entries {
		refs = append(refs, e.BankRef)
	}
	want := []string{"20260401-20260401-00000101", "20260401-20260401-00000102", "20260401-20260401-00000103",
		"20260401-20260331-n1", "20260401-20260401-00000104", "20260401-20260401-n2"}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("BankRefs = %q, want %q", refs, want)
	}
	if n := got[0].Entries[1].RemitterNameNorm; n != "カ)サンプルシヨウジ" {
		t.Errorf("RemitterNameNorm = %q", n)
	}
}

// corrupt returns the sample file (fixed records) with bytes from..from+len(v)-1
// of record rec (both 1-based) replaced by v.
func corrupt(t *testing.T, rec, from int, v string) []byte {
	t.Helper()
	b := mustWriteStatements(t, EraReiwa, Framing{}, sampleStatement())
	off := (rec-1)*StatementRecordLen + from - 1
	copy(b[off:], v)
	return b
}

func TestParseStatementsErrors(t *testing.T) {
	valid := mustWriteStatements(t, EraReiwa, Framing{}, sampleStatement())
	rec := func(n int) []byte { return valid[(n-1)*StatementRecordLen : n*StatementRecordLen] }
	join := func(rs ...[]byte) []byte { return bytes.Join(rs, nil) }
	for _, tc := range []struct {
		name      string
		data      []byte
		wantParam string
		wantMsg   string
	}{
		{"ErrEmpty", nil, "file", "empty"},
		{"ErrOnlyEOF", []byte{0x1A}, "file", "empty"},
		{"ErrShortFile", valid[:len(valid)-1], "record 8", "not a multiple"},
		{"ErrShortLine", []byte(strings.Repeat("1", 199) + "\r\n"), "record 1", "199 bytes"},
		{"ErrBlankLineInside", join(rec(1), []byte("\r\n\r\n"), rec(2)), "record 2", "0 bytes"},
		{"ErrTooBig", make([]byte, StatementFileSizeMax+1), "file", "more than"},
		{"ErrNoHeader", join(rec(2), rec(8)), "record 1: データ区分 (record kind)", "before any header"},
		{"ErrUnknownKind", corrupt(t, 3, 1, "5"), "record 3: データ区分 (record kind)", "not a record kind"},
		{"ErrNoTrailer", join(rec(1), rec(2), rec(8)), "record 3: データ区分 (record kind)", "inside a group"},
		{"ErrMissingEnd", join(rec(1), rec(2), rec(3), rec(4), rec(5), rec(6), rec(7)), "file", "no end record"},
		{"ErrMissingTrailerAtEOF", join(rec(1), rec(2)), "file", "no trailer"},
		{"ErrAfterEnd", join(valid, rec(8)), "record 9", "after the end record"},
		{"ErrDataAfterTrailer", join(rec(1), rec(2), rec(3), rec(4), rec(5), rec(6), rec(7), rec(2), rec(8)), "record 8: データ区分 (record kind)", "after a trailer"},
		{"ErrTypeCode", corrupt(t, 1, 2, "01"), "record 1: 種別コード (type code)", "not 03"},
		{"ErrEBCDIC", corrupt(t, 1, 4, "1"), "record 1: コード区分 (character code)", "EBCDIC"},
		{"ErrCreatedNotDigits", corrupt(t, 1, 5, "08O402"), "record 1: 作成日 (created)", "YYMMDD"},
		{"ErrDateNotReal", corrupt(t, 1, 5, "080230"), "record 1: 作成日 (created)", "YYMMDD"},
		{"ErrDateBeforeReiwa", corrupt(t, 1, 5, "010430"), "record 1: 作成日 (created)", "YYMMDD"},
		{"ErrPeriodReversed", corrupt(t, 1, 17, "080331"), "record 1: 勘定日(至) (period to)", "before"},
		{"ErrBankCode", corrupt(t, 1, 23, "00 9"), "record 1: 銀行コード (bank code)", "4 digits"},
		{"ErrTimeDeposit", corrupt(t, 1, 63, "6"), "record 1: 預金種目 (account type)", "time-deposit"},
		{"ErrAccountType", corrupt(t, 1, 63, "3"), "record 1: 預金種目 (account type)", "not one of"},
		{"ErrAccountName", corrupt(t, 1, 74, "\x81\x40"), "record 1: 口座名 (account name)", "0x81"},
		{"ErrInquiryHalfBlank", corrupt(t, 2, 2, "0000 101"), "record 2: 照会番号 (inquiry number)", "digits or 8 spaces"},
		{"ErrKind", corrupt(t, 2, 22, "3"), "record 2: 入払区分 (deposit/withdrawal)", "not one of"},
		{"ErrAmountZero", corrupt(t, 2, 25, "000000000000"), "record 2: 取引金額 (amount)", "more than 0"},
		{"ErrAmountSign", corrupt(t, 2, 25, "-00000012800"), "record 2: 取引金額 (amount)", "12 digits"},
		{"ErrOtherBankOverAmount", corrupt(t, 2, 37, "000000012801"), "record 2: うち他店券金額 (of which other banks' cheques)", "more than the amount"},
		{"ErrDuplicateRef", corrupt(t, 3, 2, "00000101"), "record 3: 照会番号 (inquiry number)", "repeats"},
		{"ErrTrailerDepositCount", corrupt(t, 7, 2, "000004"), "record 7: 入金件数 (deposit count)", "trailer says 4"},
		{"ErrTrailerDepositTotal", corrupt(t, 7, 8, "0000001612801"), "record 7: 入金額合計 (deposit total)", "add up to 1612800"},
		{"ErrTrailerWithdrawalCount", corrupt(t, 7, 21, "000001"), "record 7: 出金件数 (withdrawal count)", "trailer says 1"},
		{"ErrTrailerWithdrawalTotal", corrupt(t, 7, 27, "0000000000000"), "record 7: 出金額合計 (withdrawal total)", "add up to 102040"},
		{"ErrTrailerRecordCount", corrupt(t, 7, 55, "0000006"), "record 7: データ・レコード件数 (data record count)", "trailer says 6"},
		{"ErrTrailerNotDigits", corrupt(t, 7, 55, "000000X"), "record 7: データ・レコード件数 (data record count)", "7 digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStatements(tc.data, EraReiwa)
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
}

// checkInvalid fails unless err is an apperr "invalid" with param and a
// message containing msg.
func checkInvalid(t *testing.T, err error, param, msg string) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *apperr.Error", err)
	}
	if ae.Code != apperr.CodeInvalid || ae.Param != param || !strings.Contains(ae.Message, msg) {
		t.Errorf("error = code %q param %q message %q, want invalid, param %q, message containing %q", ae.Code, ae.Param, ae.Message, param, msg)
	}
}

func TestParseStatementsLenient(t *testing.T) {
	// Blank optional numeric fields may be zeros or spaces; balances without
	// a sign are read as plus; records may be CRLF- or LF-separated in one file.
	b := corrupt(t, 2, 49, "000000000000") // 交換呈示日 and 不渡返還日 as zeros
	got, err := ParseStatements(b, EraReiwa)
	if err != nil {
		t.Fatal(err)
	}
	if e := got[0].Entries[0]; !e.ExchangeDate.IsZero() || !e.DishonourDate.IsZero() {
		t.Errorf("zero dates read as %v %v", e.ExchangeDate, e.DishonourDate)
	}
	b = corrupt(t, 1, 114, " ")
	if got, err = ParseStatements(b, EraReiwa); err != nil || got[0].OpeningBalance != (Balance{5_000_000, true}) {
		t.Errorf("unsigned balance: %+v, %v", got[0].OpeningBalance, err)
	}
	lines := mustWriteStatements(t, EraReiwa, Framing{Separator: SeparatorCRLF}, sampleStatement())
	mixed := bytes.Replace(lines, []byte("\r\n"), []byte("\n"), 3)
	if _, err := ParseStatements(mixed, EraReiwa); err != nil {
		t.Errorf("mixed CRLF and LF: %v", err)
	}
}

func TestWriteStatementsErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*Statement)
		era       Era
		wantParam string
		wantMsg   string
	}{
		{"ErrBeforeReiwa", func(s *Statement) { s.Created = Date{2019, 4, 30} }, EraReiwa, "Statements[0].Created", "before the Reiwa era"},
		{"ErrWesternRange", func(s *Statement) { s.Created = Date{2100, 1, 1} }, EraWestern, "Statements[0].Created", "2000..2099"},
		{"ErrBadDate", func(s *Statement) { s.PeriodTo = Date{2026, 2, 30} }, EraReiwa, "Statements[0].PeriodTo", "not a calendar date"},
		{"ErrBankCodeShort", func(s *Statement) { s.BankCode = "9" }, EraReiwa, "Statements[0].BankCode", "exactly 4 digits"},
		{"ErrNameTooLong", func(s *Statement) { s.BankName = strings.Repeat("ｱ", 16) }, EraReiwa, "Statements[0].BankName", "16 characters"},
		{"ErrNameKanji", func(s *Statement) { s.AccountName = "金庫" }, EraReiwa, "Statements[0].AccountName", "'金'"},
		{"ErrAccountType", func(s *Statement) { s.AccountType = AccountOther }, EraReiwa, "Statements[0].AccountType", "not one of"},
		{"ErrAmountZero", func(s *Statement) { s.Entries[2].AmountYen = 0 }, EraReiwa, "Statements[0].Entries[2].AmountYen", "more than 0"},
		{"ErrAmountTooBig", func(s *Statement) { s.Entries[2].AmountYen = 1e12 }, EraReiwa, "Statements[0].Entries[2].AmountYen", "12 digits"},
		{"ErrKind", func(s *Statement) { s.Entries[1].Kind = 0 }, EraReiwa, "Statements[0].Entries[1].Kind", "not one of"},
		{"ErrDuplicate", func(s *Statement) { s.Entries[1].InquiryNumber = "00000101" }, EraReiwa, "Statements[0].Entries[1].InquiryNumber", "repeats"},
		{"ErrBalanceUnknownNonZero", func(s *Statement) { s.ClosingBalance = Balance{Yen: 5} }, EraReiwa, "Statements[0].ClosingBalance", "Known is false"},
		{"ErrEDITooLong", func(s *Statement) { s.Entries[0].EDI = strings.Repeat("A", 21) }, EraReiwa, "Statements[0].Entries[0].EDI", "21 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sampleStatement()
			tc.edit(&s)
			_, err := WriteStatements([]Statement{s}, tc.era, Framing{})
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
	_, err := WriteStatements(nil, EraReiwa, Framing{})
	checkInvalid(t, err, "Statements", "at least one")
}
