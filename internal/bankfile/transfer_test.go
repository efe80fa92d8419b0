package bankfile

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// samplePayouts is an escrow payout run: sellers paid from the collection
// account, one with EDI information, one to a savings account.
func samplePayouts() TransferBatch {
	return TransferBatch{
		RequesterCode: "1234567890",
		RequesterName: "ｶ)ｷﾝｺ ｴｽｸﾛ-",
		TransferDate:  MonthDay{time.April, 3},
		BankCode:      "0009",
		BankName:      "ﾐﾂｲｽﾐﾄﾓ",
		BranchCode:    "123",
		BranchName:    "ﾄｳｷﾖｳｴｲｷﾞﾖｳﾌﾞ",
		AccountType:   AccountOrdinary,
		AccountNumber: "1234567",
		Items: []Transfer{
			{BankCode: "0001", BankName: "ﾐｽﾞﾎ", BranchCode: "001", BranchName: "ﾄｳｷﾖｳ", AccountType: AccountOrdinary,
				AccountNumber: "7654321", RecipientName: "ﾔﾏﾀﾞ ﾀﾛｳ", AmountYen: 12_360, NewCode: NewCodeFirst,
				CustomerCode1: "0000004711", CustomerCode2: "0000000001"},
			{BankCode: "0005", BankName: "ﾐﾂﾋﾞｼﾕ-Fｼﾞｴｲ", BranchCode: "250", BranchName: "ｼﾝｼﾞﾕｸﾆｼｸﾞﾁ", AccountType: AccountChecking,
				AccountNumber: "0012345", RecipientName: "ｶ)ｻﾝﾌﾟﾙｼﾖｳｼﾞ", AmountYen: 1_480_000, EDI: "DEAL-20260403,¥1", Kind: TransferKindTelegraphic},
			{BankCode: "9900", BranchCode: "018", AccountType: AccountSavings, AccountNumber: "1234561",
				RecipientName: "ｻﾄｳ ﾊﾅｺ", AmountYen: 9_999_999_999, NewCode: NewCodeChanged},
		},
	}
}

func mustWriteTransfers(t testing.TB, f Framing, batches ...TransferBatch) []byte {
	t.Helper()
	b, err := WriteTransfers(batches, f)
	if err != nil {
		t.Fatalf("WriteTransfers: %v", err)
	}
	return b
}

func TestTransferRoundTrip(t *testing.T) {
	second := samplePayouts()
	second.TransferDate = MonthDay{time.February, 29}
	second.AccountType = AccountChecking
	second.Items = second.Items[1:2]
	for _, tc := range []struct {
		name    string
		f       Framing
		batches []TransferBatch
	}{
		{"OKFixed", Framing{}, []TransferBatch{samplePayouts()}},
		{"OKCRLFEOF", Framing{Separator: SeparatorCRLF, EOFMarker: true}, []TransferBatch{samplePayouts()}},
		{"OKTwoBatchesLF", Framing{Separator: SeparatorLF}, []TransferBatch{samplePayouts(), second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustWriteTransfers(t, tc.f, tc.batches...)
			got, err := ParseTransfers(b)
			if err != nil {
				t.Fatalf("ParseTransfers: %v", err)
			}
			if !reflect.DeepEqual(got, tc.batches) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tc.batches)
			}
			if again := mustWriteTransfers(t, tc.f, got...); !bytes.Equal(again, b) {
				t.Error("writing the parsed batches again gives other bytes")
			}
		})
	}
}

// TestTransferLayout checks every field of every record of a written file
// at the position docs/bankfiles.md gives.
func TestTransferLayout(t *testing.T) {
	b := mustWriteTransfers(t, Framing{Separator: SeparatorCRLF}, samplePayouts())
	if !bytes.HasSuffix(b, []byte("\r\n")) || len(b) != 6*122 {
		t.Fatalf("file is %d bytes, want 6 records of 120 bytes + CRLF", len(b))
	}
	recs, err := splitRecords(b, TransferRecordLen, TransferFileSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	sp := func(n int) string { return strings.Repeat(" ", n) }
	// want lists each record as its fields in order; the widths must add up to 120.
	want := [][]string{
		{"1", "21", "0", "1234567890", "\xb6)\xb7\xdd\xba \xb4\xbd\xb8\xdb-" + sp(29), "0403", "0009", "\xd0\xc2\xb2\xbd\xd0\xc4\xd3" + sp(8),
			"123", "\xc4\xb3\xb7\xd6\xb3\xb4\xb2\xb7\xde\xd6\xb3\xcc\xde" + sp(2), "1", "1234567", sp(17)},
		{"2", "0001", "\xd0\xbd\xde\xce" + sp(11), "001", "\xc4\xb3\xb7\xd6\xb3" + sp(10), "0000", "1", "7654321",
			"\xd4\xcf\xc0\xde \xc0\xdb\xb3" + sp(22), "0000012360", "1", "0000004711", "0000000001", " ", " ", sp(7)},
		{"2", "0005", "\xd0\xc2\xcb\xde\xbc\xd5-F\xbc\xde\xb4\xb2" + sp(3), "250", "\xbc\xdd\xbc\xde\xd5\xb8\xc6\xbc\xb8\xde\xc1" + sp(4), "0000", "2", "0012345",
			"\xb6)\xbb\xdd\xcc\xdf\xd9\xbc\xd6\xb3\xbc\xde" + sp(18), "0001480000", "0", "DEAL-20260403,\\1" + sp(4), "7", "Y", sp(7)},
		{"2", "9900", sp(15), "018", sp(15), "0000", "4", "1234561", "\xbb\xc4\xb3 \xca\xc5\xba" + sp(23), "9999999999", "2", sp(10), sp(10), " ", " ", sp(7)},
		{"8", "000003", "010001492359", sp(101)},
		{"9", sp(119)},
	}
	for i, fields := range want {
		joined := strings.Join(fields, "")
		if len(joined) != TransferRecordLen {
			t.Fatalf("test bug: record %d expectation is %d bytes", i+1, len(joined))
		}
		if got := string(recs[i]); got != joined {
			pos := 1
			for _, f := range fields {
				if g := got[pos-1 : pos-1+len(f)]; g != f {
					t.Errorf("record %d bytes %d..%d = %q, want %q", i+1, pos, pos+len(f)-1, g, f)
				}
				pos += len(f)
			}
		}
	}
}

func TestWriteTransfersErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*TransferBatch)
		wantParam string
		wantMsg   string
	}{
		{"ErrNoItems", func(b *TransferBatch) { b.Items = nil }, "Batches[0].Items", "at least one"},
		{"ErrRequesterCodeLetters", func(b *TransferBatch) { b.RequesterCode = "12345ABCDE" }, "Batches[0].RequesterCode", "digits only"},
		{"ErrRequesterCodeLong", func(b *TransferBatch) { b.RequesterCode = "12345678901" }, "Batches[0].RequesterCode", "at most 10 digits"},
		{"ErrRequesterNameMissing", func(b *TransferBatch) { b.RequesterName = " " }, "Batches[0].RequesterName", "required"},
		{"ErrRequesterNameLower", func(b *TransferBatch) { b.RequesterName = "kinko" }, "Batches[0].RequesterName", "'k' at character 1"},
		{"ErrRequesterNameFullWidth", func(b *TransferBatch) { b.RequesterName = "キンコ" }, "Batches[0].RequesterName", "ToZenginKana"},
		{"ErrRequesterNameLong", func(b *TransferBatch) { b.RequesterName = strings.Repeat("ｱ", 41) }, "Batches[0].RequesterName", "41 characters"},
		{"ErrTransferDate", func(b *TransferBatch) { b.TransferDate = MonthDay{time.February, 30} }, "Batches[0].TransferDate", "not a day"},
		{"ErrTransferDateZero", func(b *TransferBatch) { b.TransferDate = MonthDay{} }, "Batches[0].TransferDate", "not a day"},
		{"ErrBankCode", func(b *TransferBatch) { b.BankCode = "009" }, "Batches[0].BankCode", "exactly 4 digits"},
		{"ErrBranchName", func(b *TransferBatch) { b.BranchName = "ﾄｳｷﾖｳ,ｴｷ" }, "Batches[0].BranchName", "','"},
		{"ErrSourceAccountType", func(b *TransferBatch) { b.AccountType = AccountSavings }, "Batches[0].AccountType", "not one of 1, 2, 9"},
		{"ErrSourceAccountLong", func(b *TransferBatch) { b.AccountNumber = "12345678" }, "Batches[0].AccountNumber", "at most 7 digits"},
		{"ErrItemBranchCode", func(b *TransferBatch) { b.Items[1].BranchCode = "25A" }, "Batches[0].Items[1].BranchCode", "digits only"},
		{"ErrItemAccountType", func(b *TransferBatch) { b.Items[0].AccountType = 3 }, "Batches[0].Items[0].AccountType", "not one of 1, 2, 4, 9"},
		{"ErrItemAccountMissing", func(b *TransferBatch) { b.Items[0].AccountNumber = "" }, "Batches[0].Items[0].AccountNumber", "required"},
		{"ErrRecipientMissing", func(b *TransferBatch) { b.Items[2].RecipientName = "" }, "Batches[0].Items[2].RecipientName", "required"},
		{"ErrRecipientSmallKana", func(b *TransferBatch) { b.Items[2].RecipientName = "ｼﾞｮｰｼﾞ" }, "Batches[0].Items[2].RecipientName", "'ｮ'"},
		{"ErrRecipientLong", func(b *TransferBatch) { b.Items[2].RecipientName = strings.Repeat("ﾊﾟ", 16) }, "Batches[0].Items[2].RecipientName", "32 characters"},
		{"ErrAmountZero", func(b *TransferBatch) { b.Items[0].AmountYen = 0 }, "Batches[0].Items[0].AmountYen", "1..9999999999"},
		{"ErrAmountNegative", func(b *TransferBatch) { b.Items[0].AmountYen = -5 }, "Batches[0].Items[0].AmountYen", "1..9999999999"},
		{"ErrAmountTooBig", func(b *TransferBatch) { b.Items[0].AmountYen = TransferAmountMax + 1 }, "Batches[0].Items[0].AmountYen", "1..9999999999"},
		{"ErrNewCode", func(b *TransferBatch) { b.Items[0].NewCode = 3 }, "Batches[0].Items[0].NewCode", "not 0, 1 or 2"},
		{"ErrCustomerCode", func(b *TransferBatch) { b.Items[0].CustomerCode2 = "ABC" }, "Batches[0].Items[0].CustomerCode2", "digits only"},
		{"ErrEDIAndCodes", func(b *TransferBatch) { b.Items[1].CustomerCode1 = "1" }, "Batches[0].Items[1].EDI", "either EDI"},
		{"ErrEDIChar", func(b *TransferBatch) { b.Items[1].EDI = "INV#1" }, "Batches[0].Items[1].EDI", "'#'"},
		{"ErrEDILong", func(b *TransferBatch) { b.Items[1].EDI = strings.Repeat("1", 21) }, "Batches[0].Items[1].EDI", "21 characters"},
		{"ErrKind", func(b *TransferBatch) { b.Items[0].Kind = 9 }, "Batches[0].Items[0].Kind", "not one of 7, 8"},
		{"ErrTotalTooBig", func(b *TransferBatch) {
			for range 100 {
				b.Items = append(b.Items, b.Items[2])
			}
		}, "Batches[0].Items", "more than the 999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := samplePayouts()
			tc.edit(&b)
			_, err := WriteTransfers([]TransferBatch{b}, Framing{})
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
	_, err := WriteTransfers(nil, Framing{})
	checkInvalid(t, err, "Batches", "at least one")
	_, err = WriteTransfers([]TransferBatch{samplePayouts()}, Framing{Separator: 7})
	checkInvalid(t, err, "Framing.Separator", "unknown")
}

func TestParseTransfersErrors(t *testing.T) {
	valid := mustWriteTransfers(t, Framing{}, samplePayouts())
	rec := func(n int) []byte { return valid[(n-1)*TransferRecordLen : n*TransferRecordLen] }
	edit := func(n, from int, v string) []byte {
		b := bytes.Clone(valid)
		copy(b[(n-1)*TransferRecordLen+from-1:], v)
		return b
	}
	join := func(rs ...[]byte) []byte { return bytes.Join(rs, nil) }
	for _, tc := range []struct {
		name      string
		data      []byte
		wantParam string
		wantMsg   string
	}{
		{"ErrLength", valid[:len(valid)-3], "record 6", "not a multiple"},
		{"ErrTypeCode", edit(1, 2, "11"), "record 1: 種別コード (type code)", "not 21"},
		{"ErrRequesterCode", edit(1, 5, "12345 7890"), "record 1: 振込依頼人コード (requester code)", "10 digits"},
		{"ErrTransferDate", edit(1, 55, "1332"), "record 1: 振込指定日 (transfer date)", "MMDD"},
		{"ErrRequesterNameByte", edit(1, 15, "\x82\xa0"), "record 1: 振込依頼人名 (requester name)", "0x82"},
		{"ErrAccountType", edit(2, 43, "5"), "record 2: 預金種目 (account type)", "not one of"},
		{"ErrAmountZero", edit(2, 81, "0000000000"), "record 2: 振込金額 (amount)", "more than 0"},
		{"ErrAmountNotDigits", edit(2, 81, "00000I2360"), "record 2: 振込金額 (amount)", "10 digits"},
		{"ErrNewCode", edit(2, 91, "5"), "record 2: 新規コード (new code)", "not one of"},
		{"ErrCustomerCode", edit(2, 92, "ABCDEFGHIJ"), "record 2: 顧客コード1 (customer code 1)", "10 digits"},
		{"ErrIdent", edit(2, 113, "N"), "record 2: 識別表示 (EDI flag)", "neither Y"},
		{"ErrKind", edit(2, 112, "1"), "record 2: 振込指定区分 (transfer kind)", "not one of"},
		{"ErrTrailerCount", edit(5, 2, "000004"), "record 5: 合計件数 (count)", "trailer says 4"},
		{"ErrTrailerTotal", edit(5, 8, "010001492358"), "record 5: 合計金額 (total)", "add up to 10001492359"},
		{"ErrNoEnd", join(rec(1), rec(2), rec(3), rec(4), rec(5)), "file", "no end record"},
		{"ErrDataBeforeHeader", join(rec(2), rec(6)), "record 1: データ区分 (record kind)", "before any header"},
		{"ErrEndInsideGroup", join(rec(1), rec(2), rec(6)), "record 3: データ区分 (record kind)", "inside a group"},
		{"ErrOnlyEnd", rec(6), "record 1: データ区分 (record kind)", "before any header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTransfers(tc.data)
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
}

func TestParseTransfersAck(t *testing.T) {
	// A bank's returned copy may carry results in the dummy areas and names
	// outside the strict name set; the parser reads it as it is.
	b := mustWriteTransfers(t, Framing{Separator: SeparatorCRLF}, samplePayouts())
	copy(b[122+113:], "OK0001") // the dummy area of the first data record
	copy(b[122+50+8:], "~\xa4") // after ﾔﾏﾀﾞ ﾀﾛｳ: "~" and "､" are JIS X 0201 but not in the name set
	got, err := ParseTransfers(b)
	if err != nil {
		t.Fatalf("ParseTransfers: %v", err)
	}
	if it := got[0].Items[0]; it.AmountYen != 12_360 || it.RecipientName != "ﾔﾏﾀﾞ ﾀﾛｳ~､" {
		t.Errorf("item = %+v", it)
	}
}
