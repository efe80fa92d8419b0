package bankfile

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of the Zengin 総合振込 (bulk transfer) format.
const (
	TransferRecordLen   = 120      // bytes per record, without a separator
	TransferFileSizeMax = 64 << 20 // bytes a transfer file may have: about 550,000 records
	TransferTypeCode    = "21"     // 種別コード of 総合振込

	TransferAmountMax = 9_999_999_999   // 振込金額 is 10 digits
	TransferTotalMax  = 999_999_999_999 // 合計金額 is 12 digits
	TransferItemsMax  = 999_999         // 合計件数 is 6 digits

	// Widths of the fields a caller fills, in half-width characters or
	// digits. The other widths are the layout itself: they are written where
	// each record is read and written, and the layout tests check every
	// field's position byte by byte.
	TransferRequesterCodeLen = 10 // 振込依頼人コード
	TransferRequesterLen     = 40 // 振込依頼人名
	TransferBankNameLen      = 15 // 銀行名, 支店名
	TransferAccountNumberLen = 7  // 口座番号
	TransferNameLen          = 30 // 受取人名
	TransferAmountDigits     = 10 // 振込金額
	TransferCustomerCodeLen  = 10 // 顧客コード1, 顧客コード2
	TransferEDILen           = 20 // EDI情報 (顧客コード1 and 2 together)

	transferCountDigits = 6  // 合計件数
	transferTotalDigits = 12 // 合計金額
)

// NewCode is a transfer's 新規コード.
type NewCode int

const (
	NewCodeOther   NewCode = 0 // その他
	NewCodeFirst   NewCode = 1 // 第1回振込分: the first transfer to this payee
	NewCodeChanged NewCode = 2 // 変更分: the payee's bank, branch or account changed
)

// TransferKind is a transfer's 振込指定区分.
type TransferKind int

const (
	TransferKindUnspecified TransferKind = 0 // blank: the bank's default (telegraphic)
	TransferKindTelegraphic TransferKind = 7 // テレ振込 (電信)
	TransferKindDocument    TransferKind = 8 // 文書振込
)

// TransferBatch is one group of a Zengin 総合振込 file: the requester
// (委託者, the account paying) and the transfers to make from it on one day.
// Text fields are half-width Zengin characters (see ToZenginKana).
type TransferBatch struct {
	RequesterCode string      // 振込依頼人コード (委託者コード) the bank assigned, up to 10 digits
	RequesterName string      // 振込依頼人名, up to 40 characters
	TransferDate  MonthDay    // 振込指定日 (取組日), MMDD
	BankCode      string      // 仕向銀行番号: the paying bank, 4 digits
	BankName      string      // 仕向銀行名, up to 15 characters, may be empty
	BranchCode    string      // 仕向支店番号, 3 digits
	BranchName    string      // 仕向支店名, may be empty
	AccountType   AccountType // 預金種目(依頼人): AccountOrdinary, AccountChecking or AccountOther
	AccountNumber string      // 口座番号(依頼人), up to 7 digits

	Items []Transfer
}

// Transfer is one data record of a 総合振込 file: one payment.
type Transfer struct {
	BankCode      string      // 被仕向銀行番号: the payee's bank, 4 digits
	BankName      string      // 被仕向銀行名, may be empty
	BranchCode    string      // 被仕向支店番号, 3 digits
	BranchName    string      // 被仕向支店名, may be empty
	AccountType   AccountType // 預金種目: AccountOrdinary, AccountChecking, AccountSavings or AccountOther
	AccountNumber string      // 口座番号, up to 7 digits
	RecipientName string      // 受取人名, up to 30 characters, required
	AmountYen     int64       // 振込金額, 1..TransferAmountMax
	NewCode       NewCode     // 新規コード

	// CustomerCode1 and CustomerCode2 (顧客コード1, 2) are the requester's
	// own codes for the payee, up to 10 digits each, or empty. EDI
	// (EDI情報, up to 20 characters) replaces both when set: the file then
	// marks the record with 識別表示 "Y".
	CustomerCode1 string
	CustomerCode2 string
	EDI           string

	Kind TransferKind // 振込指定区分
}

// TransferTotals are what a 総合振込 trailer carries.
type TransferTotals struct {
	Count    int
	TotalYen int64
}

// Totals counts and adds up the items, or fails on an amount out of range or
// an overflow of the trailer's fields.
func (b TransferBatch) Totals() (TransferTotals, error) {
	var t TransferTotals
	if len(b.Items) > TransferItemsMax {
		return t, apperr.Invalid("Items", "%d transfers, more than the %d a batch may hold", len(b.Items), TransferItemsMax)
	}
	for i, it := range b.Items {
		if it.AmountYen <= 0 || it.AmountYen > TransferAmountMax {
			return t, apperr.Invalid(fmt.Sprintf("Items[%d].AmountYen", i), "振込金額 must be 1..%d, got %d", TransferAmountMax, it.AmountYen)
		}
		t.Count++
		t.TotalYen += it.AmountYen // both bounded: at most 999,999 × 9,999,999,999 < 2^63
	}
	if t.TotalYen > TransferTotalMax {
		return t, apperr.Invalid("Items", "the total %d is more than the %d the trailer holds", t.TotalYen, TransferTotalMax)
	}
	return t, nil
}

// WriteTransfers builds a Zengin 総合振込 file of one group per batch and an
// end record, framed as f (banks' upload services take records back to back
// or followed by CRLF).
//
// Every field is checked before anything is written: digits where the layout
// has digits and their widths; names in the Zengin name set (0-9 A-Z ｱ-ﾝ ﾞ ﾟ
// space ( ) - . /) within their width, the requester and recipient names
// required; EDI in the EDI set (the name set and , ¥ ｢ ｣); account types;
// amounts in 1..TransferAmountMax; at least one and at most TransferItemsMax
// items, whose total fits the trailer. The trailer's count and total are
// computed. Errors are apperr "invalid" with Param naming the input, e.g.
// "Batches[0].Items[2].RecipientName".
func WriteTransfers(batches []TransferBatch, f Framing) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if len(batches) == 0 {
		return nil, apperr.Invalid("Batches", "at least one batch is required")
	}
	records := 1
	for _, b := range batches {
		records += len(b.Items) + 2
	}
	sep := f.sep()
	size := records * (TransferRecordLen + len(sep))
	if size > TransferFileSizeMax {
		return nil, apperr.Invalid("Batches", "the file would be %d bytes, more than the %d allowed", size, TransferFileSizeMax)
	}
	w := &recWriter{buf: make([]byte, 0, size+1)}
	for i, b := range batches {
		p := fmt.Sprintf("Batches[%d].", i)
		if len(b.Items) == 0 {
			return nil, apperr.Invalid(p+"Items", "a batch needs at least one transfer")
		}
		t, err := b.Totals()
		if err != nil {
			return nil, prefixed(p, err)
		}
		writeTransferHeader(w, p, b)
		w.finish(TransferRecordLen, sep)
		for j, it := range b.Items {
			writeTransfer(w, fmt.Sprintf("%sItems[%d].", p, j), it)
			w.finish(TransferRecordLen, sep)
		}
		w.begin(kindTrailer)
		w.number(p+"Items", "合計件数 (count)", transferCountDigits, int64(t.Count))
		w.number(p+"Items", "合計金額 (total)", transferTotalDigits, t.TotalYen)
		w.spaces(101)
		w.finish(TransferRecordLen, sep)
		if w.err != nil {
			return nil, w.err
		}
	}
	w.begin(kindEnd)
	w.spaces(TransferRecordLen - 1)
	w.finish(TransferRecordLen, sep)
	if f.EOFMarker {
		w.buf = append(w.buf, eofMarker)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// prefixed puts p before the Param of an apperr error.
func prefixed(p string, err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return apperr.Invalid(p+ae.Param, "%s", ae.Message)
	}
	return err
}

func writeTransferHeader(w *recWriter, p string, b TransferBatch) {
	w.begin(kindHeader)
	w.raw(TransferTypeCode)
	w.raw("0") // コード区分: JIS
	w.digits(p+"RequesterCode", "振込依頼人コード (requester code)", TransferRequesterCodeLen, b.RequesterCode, false, false)
	w.text(p+"RequesterName", "振込依頼人名 (requester name)", TransferRequesterLen, b.RequesterName, charsName, true)
	if !b.TransferDate.valid() {
		w.fail(p+"TransferDate", "振込指定日 (transfer date) %s is not a day of the year", b.TransferDate)
	}
	w.raw(fmt.Sprintf("%02d%02d", int(b.TransferDate.Month)%100, b.TransferDate.Day%100))
	w.digits(p+"BankCode", "仕向銀行番号 (bank code)", BankCodeLen, b.BankCode, true, false)
	w.text(p+"BankName", "仕向銀行名 (bank name)", TransferBankNameLen, b.BankName, charsName, false)
	w.digits(p+"BranchCode", "仕向支店番号 (branch code)", BranchCodeLen, b.BranchCode, true, false)
	w.text(p+"BranchName", "仕向支店名 (branch name)", TransferBankNameLen, b.BranchName, charsName, false)
	w.code(p+"AccountType", "預金種目(依頼人) (account type)", int(b.AccountType), false, "129")
	w.digits(p+"AccountNumber", "口座番号(依頼人) (account number)", TransferAccountNumberLen, b.AccountNumber, false, false)
	w.spaces(17)
}

func writeTransfer(w *recWriter, p string, it Transfer) {
	w.begin(kindData)
	w.digits(p+"BankCode", "被仕向銀行番号 (bank code)", BankCodeLen, it.BankCode, true, false)
	w.text(p+"BankName", "被仕向銀行名 (bank name)", TransferBankNameLen, it.BankName, charsName, false)
	w.digits(p+"BranchCode", "被仕向支店番号 (branch code)", BranchCodeLen, it.BranchCode, true, false)
	w.text(p+"BranchName", "被仕向支店名 (branch name)", TransferBankNameLen, it.BranchName, charsName, false)
	w.zeros(4) // 手形交換所番号: unused, zeros
	w.code(p+"AccountType", "預金種目 (account type)", int(it.AccountType), false, "1249")
	w.digits(p+"AccountNumber", "口座番号 (account number)", TransferAccountNumberLen, it.AccountNumber, false, false)
	w.text(p+"RecipientName", "受取人名 (recipient name)", TransferNameLen, it.RecipientName, charsName, true)
	w.number(p+"AmountYen", "振込金額 (amount)", TransferAmountDigits, it.AmountYen)
	w.raw(strconv.Itoa(int(it.NewCode) % 10))
	if it.NewCode < NewCodeOther || it.NewCode > NewCodeChanged {
		w.fail(p+"NewCode", "新規コード %d is not 0, 1 or 2", int(it.NewCode))
	}
	if it.EDI != "" {
		if it.CustomerCode1 != "" || it.CustomerCode2 != "" {
			w.fail(p+"EDI", "EDI情報 replaces 顧客コード1 and 2: set either EDI or the customer codes")
		}
		w.text(p+"EDI", "EDI情報 (EDI)", TransferEDILen, it.EDI, charsEDI, false)
	} else {
		w.digits(p+"CustomerCode1", "顧客コード1 (customer code 1)", TransferCustomerCodeLen, it.CustomerCode1, false, true)
		w.digits(p+"CustomerCode2", "顧客コード2 (customer code 2)", TransferCustomerCodeLen, it.CustomerCode2, false, true)
	}
	w.code(p+"Kind", "振込指定区分 (transfer kind)", int(it.Kind), true, "78")
	if it.EDI != "" {
		w.raw("Y")
	} else {
		w.spaces(1)
	}
	w.spaces(7)
}

// ParseTransfers reads a Zengin 総合振込 file — one the writer made, or a
// bank's returned or acknowledged copy — into its batches: records of 120
// bytes, back to back or each followed by CRLF or LF, optionally ending with
// a 0x1A byte; one or more groups of a header, data records and a trailer,
// then one end record.
//
// It checks record lengths and order, the type code (21), that numeric
// fields hold digits, codes are known, MMDD is a day of the year, amounts are
// more than 0, and that the trailer's count and total equal the data
// records'. Text fields may hold any JIS X 0201 character (a bank's file is
// read as it is); the dummy areas, where some banks put results, are not
// read. Errors are apperr "invalid" with Param "record N: field".
func ParseTransfers(data []byte) ([]TransferBatch, error) {
	recs, err := splitRecords(data, TransferRecordLen, TransferFileSizeMax)
	if err != nil {
		return nil, err
	}
	var (
		out   []TransferBatch
		cur   *TransferBatch
		ended bool
	)
	for i, rec := range recs {
		num := i + 1
		r := &recReader{rec: rec, num: num}
		kind := rec[0]
		switch {
		case ended:
			return nil, apperr.Invalid(fmt.Sprintf("record %d", num), "record after the end record")
		case kind == kindHeader && cur == nil:
			out = append(out, TransferBatch{})
			cur = &out[len(out)-1]
			readTransferHeader(r, cur)
		case kind == kindData && cur != nil:
			cur.Items = append(cur.Items, readTransfer(r))
		case kind == kindTrailer && cur != nil:
			r.skip(1)
			count := r.number("合計件数 (count)", transferCountDigits, false)
			total := r.number("合計金額 (total)", transferTotalDigits, false)
			r.skip(101)
			if r.err == nil {
				r.err = checkTransferTrailer(cur, count, total, num)
			}
			cur = nil
		case kind == kindEnd && cur == nil && len(out) > 0:
			r.skip(TransferRecordLen)
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
		return nil, apperr.Invalid("file", "batch %d has no trailer record (データ区分 8)", len(out))
	case !ended:
		return nil, apperr.Invalid("file", "no end record (データ区分 9)")
	}
	return out, nil
}

func readTransferHeader(r *recReader, b *TransferBatch) {
	r.skip(1)
	if t := r.digits("種別コード (type code)", 2, false); r.err == nil && t != TransferTypeCode {
		r.fail("種別コード (type code)", "%q is not 21 (総合振込)", t)
	}
	if c := r.digits("コード区分 (character code)", 1, false); r.err == nil && c != "0" {
		r.fail("コード区分 (character code)", "%q: only 0 (JIS) is supported, not EBCDIC", c)
	}
	b.RequesterCode = r.digits("振込依頼人コード (requester code)", TransferRequesterCodeLen, false)
	b.RequesterName = r.text("振込依頼人名 (requester name)", TransferRequesterLen)
	mmdd := r.digits("振込指定日 (transfer date)", 4, false)
	if r.err == nil {
		m, _ := strconv.Atoi(mmdd[:2])
		d, _ := strconv.Atoi(mmdd[2:])
		b.TransferDate = MonthDay{time.Month(m), d}
		if !b.TransferDate.valid() {
			r.fail("振込指定日 (transfer date)", "%q is not an MMDD day of the year", mmdd)
		}
	}
	b.BankCode = r.digits("仕向銀行番号 (bank code)", BankCodeLen, false)
	b.BankName = r.text("仕向銀行名 (bank name)", TransferBankNameLen)
	b.BranchCode = r.digits("仕向支店番号 (branch code)", BranchCodeLen, false)
	b.BranchName = r.text("仕向支店名 (branch name)", TransferBankNameLen)
	b.AccountType = AccountType(r.code("預金種目(依頼人) (account type)", false, "129"))
	b.AccountNumber = r.digits("口座番号(依頼人) (account number)", TransferAccountNumberLen, false)
	r.skip(17)
}

func readTransfer(r *recReader) Transfer {
	var t Transfer
	r.skip(1)
	t.BankCode = r.digits("被仕向銀行番号 (bank code)", BankCodeLen, false)
	t.BankName = r.text("被仕向銀行名 (bank name)", TransferBankNameLen)
	t.BranchCode = r.digits("被仕向支店番号 (branch code)", BranchCodeLen, false)
	t.BranchName = r.text("被仕向支店名 (branch name)", TransferBankNameLen)
	r.digits("手形交換所番号 (clearing house)", 4, true)
	t.AccountType = AccountType(r.code("預金種目 (account type)", false, "1249"))
	t.AccountNumber = r.digits("口座番号 (account number)", TransferAccountNumberLen, false)
	t.RecipientName = r.text("受取人名 (recipient name)", TransferNameLen)
	t.AmountYen = r.number("振込金額 (amount)", TransferAmountDigits, false)
	if r.err == nil && t.AmountYen == 0 {
		r.fail("振込金額 (amount)", "must be more than 0")
	}
	t.NewCode = NewCode(r.code("新規コード (new code)", true, "012"))
	codes := r.take(TransferEDILen) // 顧客コード1, 2 or EDI情報: 識別表示 says which
	t.Kind = TransferKind(r.code("振込指定区分 (transfer kind)", true, "78"))
	ident := r.take(1)
	r.skip(7)
	if r.err != nil {
		return t
	}
	switch ident[0] {
	case 'Y':
		sub := &recReader{rec: codes, num: r.num}
		t.EDI = sub.text("EDI情報 (EDI)", TransferEDILen)
		r.err = sub.err
	case ' ':
		sub := &recReader{rec: codes, num: r.num}
		t.CustomerCode1 = sub.digits("顧客コード1 (customer code 1)", TransferCustomerCodeLen, true)
		t.CustomerCode2 = sub.digits("顧客コード2 (customer code 2)", TransferCustomerCodeLen, true)
		r.err = sub.err
	default:
		r.fail("識別表示 (EDI flag)", "%q is neither Y nor a space", ident)
	}
	return t
}

// checkTransferTrailer compares the trailer (record num) with the batch.
func checkTransferTrailer(b *TransferBatch, count, total int64, num int) error {
	var sum int64
	for _, it := range b.Items {
		sum += it.AmountYen // each < 10^10, at most ~550,000 records: no overflow
	}
	if count != int64(len(b.Items)) {
		return apperr.Invalid(fmt.Sprintf("record %d: 合計件数 (count)", num), "trailer says %d, the batch has %d data records", count, len(b.Items))
	}
	if total != sum {
		return apperr.Invalid(fmt.Sprintf("record %d: 合計金額 (total)", num), "trailer says %d, the data records add up to %d", total, sum)
	}
	return nil
}
