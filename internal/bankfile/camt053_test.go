package bankfile

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCamt053V02(t *testing.T) {
	got, err := ParseCamt053(readTestdata(t, "camt053.001.02-sample.xml"), nil)
	if err != nil {
		t.Fatalf("ParseCamt053: %v", err)
	}
	d := Date{2026, time.April, 1}
	want := []CamtStatement{{
		MessageID: "STMT-20260401-0001", ID: "DE89370400440532013000-2026-04-01", Created: "2026-04-02T06:00:00+02:00",
		AccountIBAN: "DE89370400440532013000", AccountCurrency: "EUR", NotBooked: 1,
		Entries: []CamtEntry{
			{AmountMinor: 125050, Currency: "EUR", Direction: Credit, BookingDate: d, ValueDate: d,
				AcctSvcrRef: "2026040100001234", EntryRef: "1", BankRef: "ref:2026040100001234",
				Transactions: []CamtTransaction{{EndToEndID: "DEAL-7F3K2", AcctSvcrRef: "TX-2026040100001234",
					AmountMinor: 125050, Currency: "EUR", Unstructured: []string{"Kinko escrow deal 7F3K2", "Vintage camera"},
					DebtorName: "Erika Mustermann", DebtorIBAN: "DE02120300000000202051"}}},
			{AmountMinor: 99, Currency: "EUR", Direction: Debit, BookingDate: d, ValueDate: d, EntryRef: "2",
				BankRef: "stmt:DE89370400440532013000-2026-04-01/ntry:2"},
			{AmountMinor: 7510, Currency: "EUR", Direction: Credit, Reversal: true, BookingDate: d, ValueDate: d,
				BankRef:      "stmt:DE89370400440532013000-2026-04-01/n4",
				Transactions: []CamtTransaction{{EndToEndID: "NOTPROVIDED", CreditorRefs: []string{"RF18539007547034"}}}},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseCamt053V08(t *testing.T) {
	got, err := ParseCamt053(readTestdata(t, "camt053.001.08-sample.xml"), nil)
	if err != nil {
		t.Fatalf("ParseCamt053: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("%d statements", len(got))
	}
	s := got[0]
	if s.AccountID != "0009123100012345" || s.AccountIBAN != "" || s.NotBooked != 1 || len(s.Entries) != 2 {
		t.Fatalf("statement = %+v", s)
	}
	e := s.Entries[0]
	if e.AmountMinor != 12800 || e.Currency != "JPY" || e.BankRef != "ref:JP20260401000101" ||
		len(e.Transactions) != 1 || e.Transactions[0].DebtorName != "ﾔﾏﾀﾞ ﾀﾛｳ" || e.Transactions[0].DebtorAcctID != "0001001765432" ||
		e.Transactions[0].EndToEndID != "DEAL-ABC123" || !reflect.DeepEqual(e.Transactions[0].Unstructured, []string{"ESCROW ABC123"}) {
		t.Errorf("entry 0 = %+v", e)
	}
	e = s.Entries[1]
	if e.AmountMinor != 3_000_000 || e.BankRef != "stmt:0009-123-1-0001234567-20260401/ntry:000102" || len(e.Transactions) != 2 ||
		e.Transactions[1].AmountMinor != 2_000_000 || e.Transactions[1].EndToEndID != "DEAL-B2" {
		t.Errorf("entry 1 = %+v", e)
	}
}

// camtDoc wraps entries in a minimal camt.053.001.04 document.
func camtDoc(entries string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id></Acct>` + entries + `</Stmt></BkToCstmrStmt></Document>`)
}

func camtEntry(amt, ccy, extra string) string {
	return `<Ntry><Amt Ccy="` + ccy + `">` + amt + `</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>` + extra + `</Ntry>`
}

func TestParseCamt053Amounts(t *testing.T) {
	for _, tc := range []struct {
		amt, ccy string
		want     int64
	}{
		{"1000", "JPY", 1000},
		{"1000.00", "JPY", 1000}, // zero decimals past the exponent are harmless
		{"0.01", "USD", 1},
		{"12.3", "EUR", 1230},
		{"+5", "EUR", 500},
		{".5", "EUR", 50},
		{"007.10", "GBP", 710},
		{"1.234", "KWD", 1234},
		{"0", "EUR", 0},
		{"9999999999999999.99", "EUR", 999999999999999999},
	} {
		got, err := ParseCamt053(camtDoc(camtEntry(tc.amt, tc.ccy, "")), nil)
		if err != nil {
			t.Errorf("%s %s: %v", tc.amt, tc.ccy, err)
			continue
		}
		if e := got[0].Entries[0]; e.AmountMinor != tc.want || e.Currency != tc.ccy {
			t.Errorf("%s %s = %d %s, want %d", tc.amt, tc.ccy, e.AmountMinor, e.Currency, tc.want)
		}
	}
	// A caller's own exponent table.
	got, err := ParseCamt053(camtDoc(camtEntry("1.5", "XTS", "")), func(c string) (int, bool) { return 1, c == "XTS" })
	if err != nil || got[0].Entries[0].AmountMinor != 15 {
		t.Errorf("custom exponent: %+v, %v", got, err)
	}
}

func TestParseCamt053Errors(t *testing.T) {
	const e0 = "Stmt[0].Ntry[0]"
	for _, tc := range []struct {
		name      string
		data      []byte
		wantParam string
		wantMsg   string
	}{
		{"ErrDoctype", []byte(`<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Document/>`), "file", "DOCTYPE"},
		{"ErrDoctypeExternal", []byte(`<?xml version="1.0"?><!DOCTYPE Document SYSTEM "file:///etc/passwd"><Document/>`), "file", "DOCTYPE"},
		{"ErrUndefinedEntity", camtDoc(camtEntry("1", "EUR", "<AcctSvcrRef>&xxe;</AcctSvcrRef>")), "file", "not well-formed"},
		{"ErrEncoding", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><Document/>`), "file", "not well-formed"},
		{"ErrEmpty", nil, "file", "no XML element"},
		{"ErrNotXML", []byte("1" + strings.Repeat(" ", 199)), "file", "no XML element"},
		{"ErrNotXMLAngle", []byte("<<<>>>"), "file", "not well-formed"},
		{"ErrTruncated", camtDoc(camtEntry("1", "EUR", ""))[:200], "file", "not well-formed"},
		{"ErrTooBig", make([]byte, Camt053SizeMax+1), "file", "more than"},
		{"ErrSecondRoot", append(camtDoc(camtEntry("1", "EUR", "")), "<Document/>"...), "file", "follows the root element"},
		{"ErrTextAfterRoot", append(camtDoc(camtEntry("1", "EUR", "")), " junk"...), "file", "after the root element"},
		{"ErrDoctypeAfterRoot", append(camtDoc(camtEntry("1", "EUR", "")), "<!DOCTYPE x>"...), "file", "DOCTYPE"},
		{"ErrWrongRoot", []byte(`<Document><BkToCstmrAcctRpt/></Document>`), "file", "want <Document>"},
		{"ErrNoStmt", []byte(`<Document><BkToCstmrStmt><GrpHdr/></BkToCstmrStmt></Document>`), "BkToCstmrStmt", "no Stmt"},
		{"ErrNoAccount", []byte(`<Document><BkToCstmrStmt><Stmt><Id>S</Id></Stmt></BkToCstmrStmt></Document>`), "Stmt[0].Acct.Id", "neither IBAN"},
		{"ErrNoStmtId", []byte(`<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id></Acct></Stmt></BkToCstmrStmt></Document>`), "Stmt[0].Id", "no Id"},
		{"ErrTooManyDecimals", camtDoc(camtEntry("10.005", "EUR", "")), e0 + ".Amt", "more decimals than the currency's 2"},
		{"ErrJPYDecimals", camtDoc(camtEntry("1000.5", "JPY", "")), e0 + ".Amt", "more decimals than the currency's 0"},
		{"ErrNegative", camtDoc(camtEntry("-10.00", "EUR", "")), e0 + ".Amt", "not a decimal amount"},
		{"ErrExponentNotation", camtDoc(camtEntry("1e3", "EUR", "")), e0 + ".Amt", "not a decimal amount"},
		{"ErrNoAmount", camtDoc(camtEntry("", "EUR", "")), e0 + ".Amt", "not a decimal amount"},
		{"ErrTooManyDigits", camtDoc(camtEntry("99999999999999999.99", "EUR", "")), e0 + ".Amt", "more than 18 digits"},
		{"ErrUnknownCurrency", camtDoc(camtEntry("1", "XXX", "")), e0 + ".Amt@Ccy", "unknown"},
		{"ErrBadCurrency", camtDoc(camtEntry("1", "eur", "")), e0 + ".Amt@Ccy", "three letters"},
		{"ErrCdtDbtInd", camtDoc(`<Ntry><Amt Ccy="EUR">1</Amt><CdtDbtInd>CR</CdtDbtInd><Sts>BOOK</Sts></Ntry>`), e0 + ".CdtDbtInd", "neither CRDT nor DBIT"},
		{"ErrRvslInd", camtDoc(camtEntry("1", "EUR", "<RvslInd>yes</RvslInd>")), e0 + ".RvslInd", "not a boolean"},
		{"ErrBookingDate", camtDoc(camtEntry("1", "EUR", "<BookgDt><Dt>2026-02-30</Dt></BookgDt>")), e0 + ".BookgDt.Dt", "not an ISO date"},
		{"ErrValueDateTime", camtDoc(camtEntry("1", "EUR", "<ValDt><DtTm>2026-04-01</DtTm></ValDt>")), e0 + ".ValDt.DtTm", "not an ISO date-time"},
		{"ErrTxAmount", camtDoc(camtEntry("1", "EUR", `<NtryDtls><TxDtls><Amt Ccy="EUR">1.001</Amt></TxDtls></NtryDtls>`)), e0 + ".NtryDtls[0].TxDtls[0].Amt", "more decimals"},
		{"ErrDuplicateRef", camtDoc(camtEntry("1", "EUR", "<AcctSvcrRef>R1</AcctSvcrRef>") + camtEntry("2", "EUR", "<AcctSvcrRef>R1</AcctSvcrRef>")), "Stmt[0].Ntry[1].AcctSvcrRef", "same reference as Ntry[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCamt053(tc.data, nil)
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
}

func TestParseCamt053BOMAndEpilogue(t *testing.T) {
	b := append([]byte("\xEF\xBB\xBF"), readTestdata(t, "camt053.001.08-sample.xml")...)
	b = append(b, "\n<!-- signed by the bank -->\n<?x y?>\n"...)
	if _, err := ParseCamt053(b, nil); err != nil {
		t.Errorf("UTF-8 BOM, trailing comment and PI: %v", err)
	}
}

func TestParseCamt053DatesAndStatus(t *testing.T) {
	got, err := ParseCamt053(camtDoc(
		camtEntry("1", "EUR", "<BookgDt><Dt>2026-04-01+09:00</Dt></BookgDt><ValDt><DtTm>2026-03-31T23:00:00Z</DtTm></ValDt>")+
			`<Ntry><Amt Ccy="EUR">2</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Prtry>Booked</Prtry></Sts></Ntry>`+
			`<Ntry><Amt Ccy="EUR">3</Amt><CdtDbtInd>DBIT</CdtDbtInd></Ntry>`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := got[0]
	if len(s.Entries) != 2 || s.NotBooked != 1 {
		t.Fatalf("entries %d, not booked %d", len(s.Entries), s.NotBooked)
	}
	if e := s.Entries[0]; e.BookingDate != (Date{2026, 4, 1}) || e.ValueDate != (Date{2026, 3, 31}) || e.BankRef != "stmt:S1/n1" {
		t.Errorf("entry 0 = %+v", e)
	}
	if e := s.Entries[1]; e.BankRef != "stmt:S1/n2" || !e.BookingDate.IsZero() {
		t.Errorf("entry 1 = %+v", e)
	}
}
