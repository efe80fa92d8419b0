package bankfile

import (
	"fmt"
	"strconv"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of the Zengin 入出金取引明細 (deposit/withdrawal statement) format.
const (
	StatementRecordLen   = 200      // bytes per record, without a separator
	StatementFileSizeMax = 64 << 20 // bytes a statement file may have: about 330,000 records
	StatementTypeCode    = "03"     // 種別コード of 入出金取引明細

	// Widths of the fields a caller fills when writing fixtures, in
	// half-width characters or digits. The other widths are the layout
	// itself: they are written where each record is read and written, and
	// the layout tests check every field's position byte by byte.
	StatementAmountDigits     = 12 // 取引金額: up to 999,999,999,999 yen per entry
	StatementBankNameLen      = 15 // 銀行名, 支店名, 仕向銀行名, 仕向店名
	StatementAccountNameLen   = 40 // 口座名
	StatementAccountNumberLen = 10 // 口座番号
	StatementNameLen          = 48 // 振込依頼人名又は契約者番号
	StatementDescriptionLen   = 20 // 摘要内容
	StatementEDILen           = 20 // EDI情報
	StatementInquiryNumberLen = 8  // 照会番号
	StatementRemitterCodeLen  = 10 // 振込依頼人コード
)

// AccountType is a Zengin 預金種目 (deposit type) code.
type AccountType int

const (
	AccountOrdinary AccountType = 1 // 普通預金
	AccountChecking AccountType = 2 // 当座預金
	AccountSavings  AccountType = 4 // 貯蓄預金
	AccountOther    AccountType = 9 // その他 (transfer files only)
)

// EntryKind is a statement entry's 入払区分: money in or money out.
type EntryKind int

const (
	Deposit    EntryKind = 1 // 入金
	Withdrawal EntryKind = 2 // 出金
)

func (k EntryKind) String() string {
	switch k {
	case Deposit:
		return "deposit"
	case Withdrawal:
		return "withdrawal"
	}
	return "EntryKind(" + strconv.Itoa(int(k)) + ")"
}

// Transaction kind codes (取引区分) the standard defines. Parsers accept any
// two digits; these are the documented ones.
const (
	TxCash       = "10" // 現金
	TxTransfer   = "11" // 振込
	TxOtherBank  = "12" // 他店券入金
	TxClearing   = "13" // 交換 (取立入金及び交換払)
	TxBookTrans  = "14" // 振替
	TxRollover   = "15" // 継続
	TxOther      = "18" // その他
	TxCorrection = "19" // 訂正: a correcting deposit has kind Withdrawal, and the reverse
)

// Balance is a balance as a statement gives it: Known is false when the bank
// left the field blank.
type Balance struct {
	Yen   int64 // negative for an overdraft (貸越区分 2)
	Known bool
}

// Statement is one account's 入出金取引明細: a header record, its data
// records and its trailer. A file may hold several.
type Statement struct {
	Created       Date   // 作成日
	PeriodFrom    Date   // 勘定日(自)
	PeriodTo      Date   // 勘定日(至)
	BankCode      string // 銀行コード, 4 digits
	BankName      string // 銀行名, half-width
	BranchCode    string // 支店コード, 3 digits
	BranchName    string // 支店名
	AccountType   AccountType
	AccountNumber string // 口座番号, 10 digits as the file gives it
	AccountName   string // 口座名
	PassbookKind  int    // 通帳・証書区分: 1 通帳, 2 証書, 0 not given

	OpeningBalance Balance // 取引前残高 with its 貸越区分, as the bank gives it
	ClosingBalance Balance // 取引後残高 (trailer), as the bank gives it; not recomputed

	Entries []Entry
}

// Entry is one data record of a statement. Text fields hold the file's
// half-width characters without their trailing space padding.
type Entry struct {
	InquiryNumber   string    // 照会番号, 8 digits; "" when blank
	Date            Date      // 勘定日: the day the bank booked the entry
	ValueDate       Date      // 預入・払出日 (起算日): the day interest counts from
	Kind            EntryKind // 入払区分
	TransactionCode string    // 取引区分, two digits (TxTransfer, …); "" when blank
	AmountYen       int64     // 取引金額, > 0
	OtherBankYen    int64     // うち他店券金額: the part paid by other banks' cheques
	ExchangeDate    Date      // 交換呈示日
	DishonourDate   Date      // 不渡返還日
	ChequeKind      int       // 手形・小切手区分: 1 小切手, 2 約束手形, 3 為替手形, 0 none
	ChequeNumber    string    // 手形・小切手番号, 7 digits; "" when blank
	RelatedBranch   string    // 僚店番号, 3 digits; "" when blank
	RemitterCode    string    // 振込依頼人コード, 10 digits; "" when blank

	// RemitterName is 振込依頼人名又は契約者番号 as in the file: the payer's
	// name for a deposit, a direct-debit contract number for a withdrawal.
	RemitterName string
	// RemitterNameNorm is RemitterName in NFKC (full-width katakana, voicing
	// marks composed: ｶ)ﾔﾏﾀﾞ → カ)ヤマダ) with runs of spaces collapsed: for
	// display and search. Parsers fill it; writers ignore it.
	RemitterNameNorm string
	RemitterBank     string // 仕向銀行名: the paying bank
	RemitterBranch   string // 仕向店名
	Description      string // 摘要内容
	EDI              string // EDI情報

	// BankRef identifies the entry within its account, so importing the same
	// entry twice (the same file again, or a later file that overlaps it) is
	// detectable. It is "<勘定日>-<起算日>-<照会番号>" with dates as YYYYMMDD,
	// e.g. "20260401-20260401-00001234": banks number entries per account
	// with 照会番号, and the dates keep a number reused in another period
	// apart. When 照会番号 is blank or zero it is
	// "<勘定日>-<起算日>-n<k>" where k counts such entries of that 勘定日 in
	// the statement (1, 2, …): stable when the same file is read again, but
	// not across files that cut a day differently. Parsers fill it; writers
	// ignore it.
	BankRef string
}

// StatementTotals are what a statement's trailer carries.
type StatementTotals struct {
	DepositCount    int
	DepositYen      int64
	WithdrawalCount int
	WithdrawalYen   int64
}

// Totals adds up the entries, or fails on overflow or an unknown kind.
func (s Statement) Totals() (StatementTotals, error) {
	var t StatementTotals
	for i, e := range s.Entries {
		var sum *int64
		switch e.Kind {
		case Deposit:
			t.DepositCount++
			sum = &t.DepositYen
		case Withdrawal:
			t.WithdrawalCount++
			sum = &t.WithdrawalYen
		default:
			return t, apperr.Invalid(fmt.Sprintf("Entries[%d].Kind", i), "kind %d is neither Deposit nor Withdrawal", int(e.Kind))
		}
		if e.AmountYen < 0 || *sum > maxInt64-e.AmountYen {
			return t, apperr.Invalid(fmt.Sprintf("Entries[%d].AmountYen", i), "total overflows")
		}
		*sum += e.AmountYen
	}
	return t, nil
}

const maxInt64 = 1<<63 - 1

// Trailer widths of the statement format.
const (
	stmtCountDigits   = 6  // 入金件数, 出金件数
	stmtTotalDigits   = 13 // 入金額合計, 出金額合計
	stmtBalanceDigits = 14 // 取引前残高, 取引後残高
	stmtRecordsDigits = 7  // データ・レコード件数
)

// ParseStatements reads a Zengin 入出金取引明細 file: Shift_JIS (JIS X 0201)
// records of 200 bytes, back to back or each followed by CRLF or LF,
// optionally ending with a 0x1A byte; one or more groups of a header, data
// records and a trailer, then one end record. era says how the file writes
// years (EraReiwa for the standard layout).
//
// It checks every record's length and kind order, that numeric fields hold
// digits (optional ones may be blank), that dates exist, codes are known, the
// trailer's deposit and withdrawal counts and totals and its data-record count
// equal the data records', and that no two entries share a BankRef. Errors are
// apperr "invalid" with Param "record N: field".
func ParseStatements(data []byte, era Era) ([]Statement, error) {
	if err := era.check(); err != nil {
		return nil, apperr.Invalid("era", "%v", err)
	}
	recs, err := splitRecords(data, StatementRecordLen, StatementFileSizeMax)
	if err != nil {
		return nil, err
	}
	var (
		out   []Statement
		cur   *Statement
		ended bool
	)
	for i, rec := range recs {
		num := i + 1
		r := &recReader{rec: rec, num: num, era: era}
		kind := rec[0]
		switch {
		case ended:
			return nil, apperr.Invalid(fmt.Sprintf("record %d", num), "record after the end record")
		case kind == kindHeader && cur == nil:
			out = append(out, Statement{})
			cur = &out[len(out)-1]
			readStatementHeader(r, cur)
		case kind == kindData && cur != nil:
			cur.Entries = append(cur.Entries, readStatementEntry(r))
		case kind == kindTrailer && cur != nil:
			t := readStatementTrailer(r, cur)
			if r.err == nil {
				r.err = finishStatement(cur, t, num)
			}
			cur = nil
		case kind == kindEnd && cur == nil && len(out) > 0:
			r.skip(StatementRecordLen) // the rest of the end record is not read: see docs/bankfiles.md
			ended = true
		default:
			return nil, apperr.Invalid(fmt.Sprintf("record %d: データ区分 (record kind)", num), "%s", unexpectedKind(kind, cur != nil, len(out) > 0))
		}
		if err := r.done(); err != nil {
			return nil, err
		}
	}
	switch {
	case cur != nil:
		return nil, apperr.Invalid("file", "statement %d has no trailer record (データ区分 8)", len(out))
	case !ended:
		return nil, apperr.Invalid("file", "no end record (データ区分 9)")
	}
	return out, nil
}

// unexpectedKind explains a record kind that is out of order.
func unexpectedKind(kind byte, inGroup, seenGroup bool) string {
	switch {
	case kind != kindHeader && kind != kindData && kind != kindTrailer && kind != kindEnd:
		return fmt.Sprintf("%q is not a record kind (1 header, 2 data, 8 trailer, 9 end)", kind)
	case inGroup:
		return fmt.Sprintf("kind %c inside a group: want a data record (2) or the trailer (8)", kind)
	case !seenGroup:
		return fmt.Sprintf("kind %c before any header: the file must start with a header record (1)", kind)
	default:
		return fmt.Sprintf("kind %c after a trailer: want the next header (1) or the end record (9)", kind)
	}
}

func readStatementHeader(r *recReader, s *Statement) {
	r.skip(1)
	if t := r.digits("種別コード (type code)", 2, false); r.err == nil && t != StatementTypeCode {
		r.fail("種別コード (type code)", "%q is not 03 (入出金取引明細)", t)
	}
	if c := r.digits("コード区分 (character code)", 1, false); r.err == nil && c != "0" {
		r.fail("コード区分 (character code)", "%q: only 0 (JIS) is supported, not EBCDIC", c)
	}
	s.Created = r.date("作成日 (created)", false)
	s.PeriodFrom = r.date("勘定日(自) (period from)", false)
	s.PeriodTo = r.date("勘定日(至) (period to)", false)
	if r.err == nil && s.PeriodTo.Before(s.PeriodFrom) {
		r.fail("勘定日(至) (period to)", "%s is before 勘定日(自) %s", s.PeriodTo, s.PeriodFrom)
	}
	s.BankCode = r.digits("銀行コード (bank code)", BankCodeLen, false)
	s.BankName = r.text("銀行名 (bank name)", StatementBankNameLen)
	s.BranchCode = r.digits("支店コード (branch code)", BranchCodeLen, false)
	s.BranchName = r.text("支店名 (branch name)", StatementBankNameLen)
	r.digits("ダミー (reserved)", 3, true)
	switch t := r.code("預金種目 (account type)", false, "124567"); t {
	case 5, 6, 7:
		r.fail("預金種目 (account type)", "%d is a time-deposit account, whose data layout is not supported", t)
	default:
		s.AccountType = AccountType(t)
	}
	s.AccountNumber = r.digits("口座番号 (account number)", StatementAccountNumberLen, false)
	s.AccountName = r.text("口座名 (account name)", StatementAccountNameLen)
	sign := r.code("貸越区分 (opening balance sign)", true, "12")
	s.PassbookKind = r.code("通帳・証書区分 (passbook kind)", true, "12")
	s.OpeningBalance = balanceOf(sign, r.digits("取引前残高 (opening balance)", stmtBalanceDigits, true))
	r.skip(71)
}

// balanceOf makes a Balance of a 貸越区分 (1 plus, 2 minus, 0 blank) and a
// balance field ("" blank). A blank sign with a balance reads as plus.
func balanceOf(sign int, raw string) Balance {
	if raw == "" {
		return Balance{}
	}
	n, err := strconv.ParseInt(raw, 10, 64) // 14 digits fit
	if err != nil {
		return Balance{}
	}
	if sign == 2 {
		n = -n
	}
	return Balance{Yen: n, Known: true}
}

func readStatementEntry(r *recReader) Entry {
	var e Entry
	r.skip(1)
	e.InquiryNumber = r.digits("照会番号 (inquiry number)", StatementInquiryNumberLen, true)
	e.Date = r.date("勘定日 (date)", false)
	e.ValueDate = r.date("預入・払出日 (value date)", false)
	e.Kind = EntryKind(r.code("入払区分 (deposit/withdrawal)", false, "12"))
	e.TransactionCode = r.digits("取引区分 (transaction kind)", 2, true)
	e.AmountYen = r.number("取引金額 (amount)", StatementAmountDigits, false)
	if r.err == nil && e.AmountYen == 0 {
		r.fail("取引金額 (amount)", "must be more than 0")
	}
	e.OtherBankYen = r.number("うち他店券金額 (of which other banks' cheques)", StatementAmountDigits, true)
	if r.err == nil && e.OtherBankYen > e.AmountYen {
		r.fail("うち他店券金額 (of which other banks' cheques)", "%d is more than the amount %d", e.OtherBankYen, e.AmountYen)
	}
	e.ExchangeDate = r.date("交換呈示日 (exchange date)", true)
	e.DishonourDate = r.date("不渡返還日 (dishonour date)", true)
	e.ChequeKind = r.code("手形・小切手区分 (cheque kind)", true, "0123")
	e.ChequeNumber = r.digits("手形・小切手番号 (cheque number)", 7, true)
	e.RelatedBranch = r.digits("僚店番号 (related branch)", 3, true)
	e.RemitterCode = r.digits("振込依頼人コード (remitter code)", StatementRemitterCodeLen, true)
	e.RemitterName = r.text("振込依頼人名又は契約者番号 (remitter name)", StatementNameLen)
	e.RemitterNameNorm = normaliseName(e.RemitterName)
	e.RemitterBank = r.text("仕向銀行名 (remitter bank)", StatementBankNameLen)
	e.RemitterBranch = r.text("仕向店名 (remitter branch)", StatementBankNameLen)
	e.Description = r.text("摘要内容 (description)", StatementDescriptionLen)
	e.EDI = r.text("EDI情報 (EDI)", StatementEDILen)
	r.skip(1)
	return e
}

// stmtTrailer is what a statement's trailer says.
type stmtTrailer struct {
	totals  StatementTotals
	records int64
}

func readStatementTrailer(r *recReader, s *Statement) stmtTrailer {
	var t stmtTrailer
	r.skip(1)
	t.totals.DepositCount = int(r.number("入金件数 (deposit count)", stmtCountDigits, false))
	t.totals.DepositYen = r.number("入金額合計 (deposit total)", stmtTotalDigits, false)
	t.totals.WithdrawalCount = int(r.number("出金件数 (withdrawal count)", stmtCountDigits, false))
	t.totals.WithdrawalYen = r.number("出金額合計 (withdrawal total)", stmtTotalDigits, false)
	sign := r.code("貸越区分 (closing balance sign)", true, "12")
	s.ClosingBalance = balanceOf(sign, r.digits("取引後残高 (closing balance)", stmtBalanceDigits, true))
	t.records = r.number("データ・レコード件数 (data record count)", stmtRecordsDigits, false)
	r.skip(139)
	return t
}

// finishStatement checks the trailer (record num) of s against its entries
// and fills the entries' BankRefs.
func finishStatement(s *Statement, t stmtTrailer, num int) error {
	param := func(f string) string { return fmt.Sprintf("record %d: %s", num, f) }
	got, err := s.Totals()
	if err != nil {
		return err
	}
	for _, c := range []struct {
		field      string
		want, have int64
	}{
		{"入金件数 (deposit count)", int64(got.DepositCount), int64(t.totals.DepositCount)},
		{"入金額合計 (deposit total)", got.DepositYen, t.totals.DepositYen},
		{"出金件数 (withdrawal count)", int64(got.WithdrawalCount), int64(t.totals.WithdrawalCount)},
		{"出金額合計 (withdrawal total)", got.WithdrawalYen, t.totals.WithdrawalYen},
		{"データ・レコード件数 (data record count)", int64(len(s.Entries)), t.records},
	} {
		if c.want != c.have {
			return apperr.Invalid(param(c.field), "trailer says %d, the data records add up to %d", c.have, c.want)
		}
	}
	return fillBankRefs(s, num-len(s.Entries))
}

// fillBankRefs sets every entry's BankRef (see Entry.BankRef) and rejects
// two entries with the same one. first is the record number of the first
// entry.
func fillBankRefs(s *Statement, first int) error {
	refs, i, j := bankRefs(s.Entries)
	if i >= 0 {
		return apperr.Invalid(fmt.Sprintf("record %d: 照会番号 (inquiry number)", first+j),
			"entry repeats the 照会番号 and dates of record %d (BankRef %s)", first+i, refs[j])
	}
	for k := range s.Entries {
		s.Entries[k].BankRef = refs[k]
	}
	return nil
}

// bankRefs returns the BankRef of every entry and, when two are equal, the
// indexes of the first such pair (-1, -1 otherwise).
func bankRefs(entries []Entry) (refs []string, dupFirst, dupSecond int) {
	refs = make([]string, len(entries))
	seen := make(map[string]int, len(entries))
	blank := map[Date]int{}
	for i, e := range entries {
		prefix := ymd(e.Date) + "-" + ymd(e.ValueDate) + "-"
		if e.InquiryNumber == "" || isAll([]byte(e.InquiryNumber), '0') {
			blank[e.Date]++
			refs[i] = prefix + "n" + strconv.Itoa(blank[e.Date])
		} else {
			refs[i] = prefix + e.InquiryNumber
		}
		if j, dup := seen[refs[i]]; dup {
			return refs, j, i
		}
		seen[refs[i]] = i
	}
	return refs, -1, -1
}

func ymd(d Date) string { return fmt.Sprintf("%04d%02d%02d", d.Year, int(d.Month), d.Day) }

// WriteStatements builds a Zengin 入出金取引明細 file of stmts in era, framed
// as f: for fixtures, documentation examples and tests (banks write these
// files; Kinko reads them). It computes each trailer from the entries and
// ignores the fields parsers derive (RemitterNameNorm, BankRef).
//
// It checks what ParseStatements checks and that every text field holds
// JIS X 0201 characters that fit its width. Errors are apperr "invalid" with
// Param naming the input, e.g. "Statements[0].Entries[3].AmountYen".
func WriteStatements(stmts []Statement, era Era, f Framing) ([]byte, error) {
	if err := era.check(); err != nil {
		return nil, apperr.Invalid("era", "%v", err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return nil, apperr.Invalid("Statements", "at least one statement is required")
	}
	records := 1
	for _, s := range stmts {
		records += len(s.Entries) + 2
	}
	if size := records * (StatementRecordLen + len(f.sep())); size > StatementFileSizeMax {
		return nil, apperr.Invalid("Statements", "the file would be %d bytes, more than the %d allowed", size, StatementFileSizeMax)
	}
	w := &recWriter{era: era, buf: make([]byte, 0, records*(StatementRecordLen+len(f.sep()))+1)}
	sep := f.sep()
	for i, s := range stmts {
		p := fmt.Sprintf("Statements[%d].", i)
		writeStatementHeader(w, p, s)
		w.finish(StatementRecordLen, sep)
		for j, e := range s.Entries {
			writeStatementEntry(w, fmt.Sprintf("%sEntries[%d].", p, j), e)
			w.finish(StatementRecordLen, sep)
		}
		if w.err != nil {
			return nil, w.err
		}
		t, err := s.Totals()
		if err != nil {
			return nil, prefixed(p, err)
		}
		w.begin(kindTrailer)
		w.number(p+"Entries", "入金件数 (deposit count)", stmtCountDigits, int64(t.DepositCount))
		w.number(p+"Entries", "入金額合計 (deposit total)", stmtTotalDigits, t.DepositYen)
		w.number(p+"Entries", "出金件数 (withdrawal count)", stmtCountDigits, int64(t.WithdrawalCount))
		w.number(p+"Entries", "出金額合計 (withdrawal total)", stmtTotalDigits, t.WithdrawalYen)
		writeBalance(w, p+"ClosingBalance", "取引後残高 (closing balance)", s.ClosingBalance)
		w.number(p+"Entries", "データ・レコード件数 (data record count)", stmtRecordsDigits, int64(len(s.Entries)))
		w.spaces(139)
		w.finish(StatementRecordLen, sep)
		if w.err != nil {
			return nil, w.err
		}
		if refs, a, b := bankRefs(s.Entries); a >= 0 { // the parser would refuse the file
			return nil, apperr.Invalid(fmt.Sprintf("%sEntries[%d].InquiryNumber", p, b),
				"entry repeats the 照会番号 and dates of Entries[%d] (BankRef %s)", a, refs[b])
		}
	}
	w.begin(kindEnd)
	w.spaces(StatementRecordLen - 1)
	w.finish(StatementRecordLen, sep)
	if f.EOFMarker {
		w.buf = append(w.buf, eofMarker)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

func writeStatementHeader(w *recWriter, p string, s Statement) {
	w.begin(kindHeader)
	w.raw(StatementTypeCode)
	w.raw("0") // コード区分: JIS
	w.date(p+"Created", "作成日 (created)", s.Created, false)
	w.date(p+"PeriodFrom", "勘定日(自) (period from)", s.PeriodFrom, false)
	w.date(p+"PeriodTo", "勘定日(至) (period to)", s.PeriodTo, false)
	if w.err == nil && s.PeriodTo.Before(s.PeriodFrom) {
		w.fail(p+"PeriodTo", "勘定日(至) %s is before 勘定日(自) %s", s.PeriodTo, s.PeriodFrom)
	}
	w.digits(p+"BankCode", "銀行コード (bank code)", BankCodeLen, s.BankCode, true, false)
	w.text(p+"BankName", "銀行名 (bank name)", StatementBankNameLen, s.BankName, charsAny, false)
	w.digits(p+"BranchCode", "支店コード (branch code)", BranchCodeLen, s.BranchCode, true, false)
	w.text(p+"BranchName", "支店名 (branch name)", StatementBankNameLen, s.BranchName, charsAny, false)
	w.zeros(3) // ダミー
	w.code(p+"AccountType", "預金種目 (account type)", int(s.AccountType), false, "124")
	w.digits(p+"AccountNumber", "口座番号 (account number)", StatementAccountNumberLen, s.AccountNumber, false, false)
	w.text(p+"AccountName", "口座名 (account name)", StatementAccountNameLen, s.AccountName, charsAny, false)
	sign := 1
	if s.OpeningBalance.Yen < 0 {
		sign = 2
	}
	if !s.OpeningBalance.Known {
		sign = 0
	}
	w.code(p+"OpeningBalance", "貸越区分 (opening balance sign)", sign, true, "12")
	w.code(p+"PassbookKind", "通帳・証書区分 (passbook kind)", s.PassbookKind, true, "12")
	writeBalanceAmount(w, p+"OpeningBalance", "取引前残高 (opening balance)", s.OpeningBalance)
	w.spaces(71)
}

// writeBalance writes 貸越区分 and a 14-digit balance, blank when not Known.
func writeBalance(w *recWriter, param, label string, b Balance) {
	switch {
	case !b.Known:
		w.spaces(1)
	case b.Yen < 0:
		w.raw("2")
	default:
		w.raw("1")
	}
	writeBalanceAmount(w, param, label, b)
}

func writeBalanceAmount(w *recWriter, param, label string, b Balance) {
	switch {
	case !b.Known && b.Yen != 0:
		w.fail(param, "%s: Yen is %d but Known is false", label, b.Yen)
	case !b.Known:
		w.spaces(stmtBalanceDigits)
	case b.Yen == -maxInt64-1:
		w.fail(param, "%s %d does not fit in %d digits", label, b.Yen, stmtBalanceDigits)
	case b.Yen < 0:
		w.number(param, label, stmtBalanceDigits, -b.Yen)
	default:
		w.number(param, label, stmtBalanceDigits, b.Yen)
	}
}

func writeStatementEntry(w *recWriter, p string, e Entry) {
	w.begin(kindData)
	w.digits(p+"InquiryNumber", "照会番号 (inquiry number)", StatementInquiryNumberLen, e.InquiryNumber, false, true)
	w.date(p+"Date", "勘定日 (date)", e.Date, false)
	w.date(p+"ValueDate", "預入・払出日 (value date)", e.ValueDate, false)
	w.code(p+"Kind", "入払区分 (deposit/withdrawal)", int(e.Kind), false, "12")
	w.digits(p+"TransactionCode", "取引区分 (transaction kind)", 2, e.TransactionCode, true, true)
	if e.AmountYen <= 0 {
		w.fail(p+"AmountYen", "取引金額 (amount) must be more than 0, got %d", e.AmountYen)
	}
	w.number(p+"AmountYen", "取引金額 (amount)", StatementAmountDigits, e.AmountYen)
	if e.OtherBankYen > e.AmountYen {
		w.fail(p+"OtherBankYen", "うち他店券金額 %d is more than the amount %d", e.OtherBankYen, e.AmountYen)
	}
	w.number(p+"OtherBankYen", "うち他店券金額 (of which other banks' cheques)", StatementAmountDigits, e.OtherBankYen)
	w.date(p+"ExchangeDate", "交換呈示日 (exchange date)", e.ExchangeDate, true)
	w.date(p+"DishonourDate", "不渡返還日 (dishonour date)", e.DishonourDate, true)
	w.code(p+"ChequeKind", "手形・小切手区分 (cheque kind)", e.ChequeKind, true, "123")
	w.digits(p+"ChequeNumber", "手形・小切手番号 (cheque number)", 7, e.ChequeNumber, true, true)
	w.digits(p+"RelatedBranch", "僚店番号 (related branch)", 3, e.RelatedBranch, true, true)
	w.digits(p+"RemitterCode", "振込依頼人コード (remitter code)", StatementRemitterCodeLen, e.RemitterCode, true, true)
	w.text(p+"RemitterName", "振込依頼人名 (remitter name)", StatementNameLen, e.RemitterName, charsAny, false)
	w.text(p+"RemitterBank", "仕向銀行名 (remitter bank)", StatementBankNameLen, e.RemitterBank, charsAny, false)
	w.text(p+"RemitterBranch", "仕向店名 (remitter branch)", StatementBankNameLen, e.RemitterBranch, charsAny, false)
	w.text(p+"Description", "摘要内容 (description)", StatementDescriptionLen, e.Description, charsAny, false)
	w.text(p+"EDI", "EDI情報 (EDI)", StatementEDILen, e.EDI, charsAny, false)
	w.spaces(1)
}
