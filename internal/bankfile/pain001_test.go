package bankfile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func samplePayoutBatch() PayoutBatch {
	return PayoutBatch{
		MessageID:           "KINKO-PAYOUT-20260403-01",
		CreatedAt:           time.Date(2026, 4, 2, 18, 30, 5, 999, time.FixedZone("JST", 9*3600)),
		InitiatingPartyName: "Kinko Escrow K.K.",
		ExecutionDate:       Date{2026, time.April, 3},
		DebtorName:          "Kinko Escrow K.K. client money",
		DebtorAccount:       Account{IBAN: "DE89370400440532013000"},
		DebtorAgent:         Agent{BIC: "COBADEFFXXX"},
		Currency:            "EUR",
		Items: []Payout{
			{EndToEndID: "DEAL-7F3K2", AmountMinor: 123_45, CreditorAgent: Agent{BIC: "BNPAFRPP"},
				CreditorName: "Émilie Dupont & Fils <SARL>", CreditorAccount: Account{IBAN: "FR1420041010050500013M02606"},
				RemittanceInfo: "Kinko escrow payout deal 7F3K2"},
			{EndToEndID: "DEAL-9Q-2", AmountMinor: 5, CreditorAgent: Agent{ClearingSystem: "JPZGN", MemberID: "0001001"},
				CreditorName: "ヤマダ タロウ", CreditorAccount: Account{ID: "1-7654321"}},
			{EndToEndID: "DEAL.3", AmountMinor: 1_000_000_00, CreditorAgent: Agent{BIC: "DEUTDEFF500", MemberID: "50070010"},
				CreditorName: "Max Mustermann", CreditorAccount: Account{IBAN: "DE02120300000000202051"}},
		},
	}
}

// Test-only shapes of pain.001.001.09, bound to its namespace, to read the
// writer's output back independently of the writer's own types.

type (
	tDoc struct {
		XMLName xml.Name `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Document"`
		GrpHdr  struct {
			MsgID    string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 MsgId"`
			CreDtTm  string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CreDtTm"`
			NbOfTxs  string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 NbOfTxs"`
			CtrlSum  string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CtrlSum"`
			InitgPty string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 InitgPty>Nm"`
		} `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CstmrCdtTrfInitn>GrpHdr"`
		PmtInf []struct {
			PmtInfID string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 PmtInfId"`
			PmtMtd   string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 PmtMtd"`
			NbOfTxs  string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 NbOfTxs"`
			CtrlSum  string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CtrlSum"`
			Exec     string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 ReqdExctnDt>Dt"`
			Dbtr     string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Dbtr>Nm"`
			DbtrAcct tAccount `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 DbtrAcct"`
			DbtrAgt  tAgent   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 DbtrAgt"`
			Tx       []struct {
				EndToEndID string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 PmtId>EndToEndId"`
				InstdAmt   struct {
					Ccy   string `xml:"Ccy,attr"`
					Value string `xml:",chardata"`
				} `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Amt>InstdAmt"`
				CdtrAgt  tAgent   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CdtrAgt"`
				Cdtr     string   `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Cdtr>Nm"`
				CdtrAcct tAccount `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CdtrAcct"`
				Ustrd    []string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 RmtInf>Ustrd"`
			} `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CdtTrfTxInf"`
		} `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 CstmrCdtTrfInitn>PmtInf"`
	}
	tAccount struct {
		IBAN string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Id>IBAN"`
		Othr string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Id>Othr>Id"`
	}
	tAgent struct {
		BIC   string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 FinInstnId>BICFI"`
		ClrCd string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 FinInstnId>ClrSysMmbId>ClrSysId>Cd"`
		MmbID string `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 FinInstnId>ClrSysMmbId>MmbId"`
	}
)

func TestWritePain001(t *testing.T) {
	b := samplePayoutBatch()
	out, err := WritePain001(b, nil)
	if err != nil {
		t.Fatalf("WritePain001: %v", err)
	}
	if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("no XML declaration: %.60s", out)
	}
	checkWellFormed(t, out)

	var doc tDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("reading the output back: %v", err)
	}
	h := doc.GrpHdr
	if h.MsgID != b.MessageID || h.CreDtTm != "2026-04-02T09:30:05Z" || h.NbOfTxs != "3" || h.CtrlSum != "1000123.50" ||
		h.InitgPty != "Kinko Escrow K.K." {
		t.Errorf("GrpHdr = %+v", h)
	}
	if len(doc.PmtInf) != 1 {
		t.Fatalf("%d PmtInf, want 1", len(doc.PmtInf))
	}
	pi := doc.PmtInf[0]
	if pi.PmtInfID != b.MessageID || pi.PmtMtd != "TRF" || pi.NbOfTxs != "3" || pi.CtrlSum != "1000123.50" ||
		pi.Exec != "2026-04-03" || pi.Dbtr != b.DebtorName ||
		pi.DbtrAcct != (tAccount{IBAN: "DE89370400440532013000"}) || pi.DbtrAgt != (tAgent{BIC: "COBADEFFXXX"}) {
		t.Errorf("PmtInf = %+v", pi)
	}
	if len(pi.Tx) != 3 {
		t.Fatalf("%d CdtTrfTxInf, want 3", len(pi.Tx))
	}
	type tx struct {
		e2e, ccy, amt, cdtr string
		agent               tAgent
		acct                tAccount
		ustrd               []string
	}
	want := []tx{
		{"DEAL-7F3K2", "EUR", "123.45", "Émilie Dupont & Fils <SARL>", tAgent{BIC: "BNPAFRPP"},
			tAccount{IBAN: "FR1420041010050500013M02606"}, []string{"Kinko escrow payout deal 7F3K2"}},
		{"DEAL-9Q-2", "EUR", "0.05", "ヤマダ タロウ", tAgent{ClrCd: "JPZGN", MmbID: "0001001"}, tAccount{Othr: "1-7654321"}, nil},
		{"DEAL.3", "EUR", "1000000.00", "Max Mustermann", tAgent{BIC: "DEUTDEFF500", MmbID: "50070010"},
			tAccount{IBAN: "DE02120300000000202051"}, nil},
	}
	for i, w := range want {
		g := pi.Tx[i]
		got := tx{g.EndToEndID, g.InstdAmt.Ccy, g.InstdAmt.Value, g.Cdtr, g.CdtrAgt, g.CdtrAcct, g.Ustrd}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("CdtTrfTxInf[%d] = %+v, want %+v", i, got, w)
		}
	}
}

// checkWellFormed reads every token of doc, fails on any error, and checks
// every element is in the pain.001.001.09 namespace and the elements of a
// credit transfer come in schema order.
func checkWellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var path, order []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space != Pain001Namespace {
				t.Errorf("<%s> is in namespace %q", tok.Name.Local, tok.Name.Space)
			}
			path = append(path, tok.Name.Local)
			if len(path) == 5 && path[3] == "CdtTrfTxInf" && len(order) < 7 {
				order = append(order, tok.Name.Local)
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	if want := []string{"PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "RmtInf", "PmtId"}; !reflect.DeepEqual(order, want) {
		t.Errorf("CdtTrfTxInf children in order %q, want %q", order, want)
	}
	s := string(doc)
	for _, seq := range [][]string{
		{"<MsgId>", "<CreDtTm>", "<NbOfTxs>", "<CtrlSum>", "<InitgPty>", "<PmtInf>"},
		{"<PmtInfId>", "<PmtMtd>", "<NbOfTxs>3", "<CtrlSum>1000123.50", "<ReqdExctnDt>", "<Dbtr>", "<DbtrAcct>", "<DbtrAgt>", "<CdtTrfTxInf>"},
	} {
		at := 0
		for _, el := range seq {
			i := strings.Index(s[at:], el)
			if i < 0 {
				t.Errorf("%s missing or out of order (after %q)", el, seq)
				break
			}
			at += i
		}
	}
}

func TestWritePain001JPY(t *testing.T) {
	b := samplePayoutBatch()
	b.Currency = "JPY"
	b.DebtorAccount = Account{ID: "0009-123-1-1234567"}
	b.DebtorAgent = Agent{ClearingSystem: "JPZGN", MemberID: "0009123"}
	out, err := WritePain001(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc tDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.PmtInf[0].Tx[0].InstdAmt; got.Value != "12345" || got.Ccy != "JPY" {
		t.Errorf("InstdAmt = %+v, want 12345 JPY", got)
	}
	if doc.GrpHdr.CtrlSum != "100012350" {
		t.Errorf("CtrlSum = %s", doc.GrpHdr.CtrlSum)
	}
	if a := doc.PmtInf[0].DbtrAcct; a.Othr != "0009-123-1-1234567" || a.IBAN != "" {
		t.Errorf("DbtrAcct = %+v", a)
	}
}

func TestWritePain001Errors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(*PayoutBatch)
		wantParam string
		wantMsg   string
	}{
		{"ErrMsgIDMissing", func(b *PayoutBatch) { b.MessageID = "" }, "MessageID", "required"},
		{"ErrMsgIDLong", func(b *PayoutBatch) { b.MessageID = strings.Repeat("A", 36) }, "MessageID", "more than 35"},
		{"ErrMsgIDChar", func(b *PayoutBatch) { b.MessageID = "PAY_01" }, "MessageID", "'_'"},
		{"ErrMsgIDSpace", func(b *PayoutBatch) { b.MessageID = "PAY 01" }, "MessageID", "' '"},
		{"ErrMsgIDSlash", func(b *PayoutBatch) { b.MessageID = "PAY//01" }, "MessageID", "\"//\""},
		{"ErrPmtInfID", func(b *PayoutBatch) { b.PaymentInfoID = "/X" }, "PaymentInfoID", "start or end"},
		{"ErrCreatedAt", func(b *PayoutBatch) { b.CreatedAt = time.Time{} }, "CreatedAt", "required"},
		{"ErrExecutionDate", func(b *PayoutBatch) { b.ExecutionDate = Date{} }, "ExecutionDate", "not a calendar date"},
		{"ErrInitgPty", func(b *PayoutBatch) { b.InitiatingPartyName = "  " }, "InitiatingPartyName", "required"},
		{"ErrDebtorNameLong", func(b *PayoutBatch) { b.DebtorName = strings.Repeat("あ", 141) }, "DebtorName", "141 characters"},
		{"ErrDebtorNameControl", func(b *PayoutBatch) { b.DebtorName = "Kinko\x00" }, "DebtorName", "U+0000"},
		{"ErrDebtorNameUTF8", func(b *PayoutBatch) { b.DebtorName = "Kinko\xff" }, "DebtorName", "UTF-8"},
		{"ErrDebtorAccountNone", func(b *PayoutBatch) { b.DebtorAccount = Account{} }, "DebtorAccount", "required"},
		{"ErrDebtorAccountBoth", func(b *PayoutBatch) { b.DebtorAccount.ID = "1" }, "DebtorAccount", "not both"},
		{"ErrIBANCheck", func(b *PayoutBatch) { b.DebtorAccount.IBAN = "DE89370400440532013001" }, "DebtorAccount.IBAN", "check digits"},
		{"ErrIBANForm", func(b *PayoutBatch) { b.DebtorAccount.IBAN = "DE89 3704 0044 0532 0130 00" }, "DebtorAccount.IBAN", "not an IBAN"},
		{"ErrIBANLower", func(b *PayoutBatch) { b.DebtorAccount.IBAN = "de89370400440532013000" }, "DebtorAccount.IBAN", "not an IBAN"},
		{"ErrAccountIDLong", func(b *PayoutBatch) { b.Items[1].CreditorAccount.ID = strings.Repeat("1", 35) }, "Items[1].CreditorAccount.ID", "more than 34"},
		{"ErrAgentNone", func(b *PayoutBatch) { b.DebtorAgent = Agent{} }, "DebtorAgent", "BIC or a clearing-system"},
		{"ErrBIC", func(b *PayoutBatch) { b.DebtorAgent.BIC = "COBA1EFF" }, "DebtorAgent.BIC", "not a BIC"},
		{"ErrBICLength", func(b *PayoutBatch) { b.Items[0].CreditorAgent.BIC = "BNPAFRPPX" }, "Items[0].CreditorAgent.BIC", "not a BIC"},
		{"ErrClearingCode", func(b *PayoutBatch) { b.Items[1].CreditorAgent.ClearingSystem = "JPZGNX" }, "Items[1].CreditorAgent.ClearingSystem", "1 to 5"},
		{"ErrClearingWithoutMember", func(b *PayoutBatch) { b.Items[0].CreditorAgent.ClearingSystem = "JPZGN" }, "Items[0].CreditorAgent.ClearingSystem", "needs a MemberID"},
		{"ErrCurrency", func(b *PayoutBatch) { b.Currency = "XXX" }, "Currency", "unknown"},
		{"ErrNoItems", func(b *PayoutBatch) { b.Items = nil }, "Items", "at least one"},
		{"ErrTooManyItems", func(b *PayoutBatch) { b.Items = make([]Payout, PayoutItemsMax+1) }, "Items", "more than the 10000"},
		{"ErrEndToEndMissing", func(b *PayoutBatch) { b.Items[2].EndToEndID = "" }, "Items[2].EndToEndID", "required"},
		{"ErrEndToEndDuplicate", func(b *PayoutBatch) { b.Items[2].EndToEndID = "DEAL-7F3K2" }, "Items[2].EndToEndID", "also the EndToEndID of Items[0]"},
		{"ErrAmountZero", func(b *PayoutBatch) { b.Items[0].AmountMinor = 0 }, "Items[0].AmountMinor", "more than 0"},
		{"ErrAmountNegative", func(b *PayoutBatch) { b.Items[0].AmountMinor = -1 }, "Items[0].AmountMinor", "more than 0"},
		{"ErrAmountDigits", func(b *PayoutBatch) { b.Items[0].AmountMinor = 1e18 }, "Items[0].AmountMinor", "more than 18 digits"},
		{"ErrCtrlSum", func(b *PayoutBatch) { b.Items[0].AmountMinor, b.Items[2].AmountMinor = 999_999_999_999_999_999, 1 }, "Items[1].AmountMinor", "control sum"},
		{"ErrCreditorName", func(b *PayoutBatch) { b.Items[1].CreditorName = "" }, "Items[1].CreditorName", "required"},
		{"ErrRemittanceLong", func(b *PayoutBatch) { b.Items[0].RemittanceInfo = strings.Repeat("x", 141) }, "Items[0].RemittanceInfo", "141 characters"},
		{"ErrRemittanceBlank", func(b *PayoutBatch) { b.Items[0].RemittanceInfo = " " }, "Items[0].RemittanceInfo", "blank"},
		{"ErrRemittanceNewline", func(b *PayoutBatch) { b.Items[0].RemittanceInfo = "a\nb" }, "Items[0].RemittanceInfo", "U+000A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := samplePayoutBatch()
			tc.edit(&b)
			_, err := WritePain001(b, nil)
			checkInvalid(t, err, tc.wantParam, tc.wantMsg)
		})
	}
}

func TestFormatParseDecimalAmount(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		e     int
		want  string
	}{
		{0, 2, "0.00"}, {5, 2, "0.05"}, {12345, 2, "123.45"}, {1000, 0, "1000"}, {1, 3, "0.001"}, {999999999999999999, 2, "9999999999999999.99"},
	} {
		s := formatDecimalAmount(tc.minor, tc.e)
		if s != tc.want {
			t.Errorf("formatDecimalAmount(%d, %d) = %q, want %q", tc.minor, tc.e, s, tc.want)
		}
		if back, err := parseDecimalAmount("x", s, tc.e); err != nil || back != tc.minor {
			t.Errorf("parseDecimalAmount(%q, %d) = %d, %v", s, tc.e, back, err)
		}
	}
}
