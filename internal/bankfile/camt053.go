package bankfile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of camt.053 input.
const (
	Camt053SizeMax    = 32 << 20 // bytes of XML a statement file may have
	Camt053EntriesMax = 200_000  // entries (Ntry) in one file, all statements together
)

// CreditDebit is an entry's CdtDbtInd: money in or out of the account.
type CreditDebit string

const (
	Credit CreditDebit = "CRDT" // money in
	Debit  CreditDebit = "DBIT" // money out
)

// CamtStatement is one Stmt of a camt.053 BankToCustomerStatement.
type CamtStatement struct {
	MessageID       string // GrpHdr/MsgId
	ID              string // Stmt/Id
	Created         string // Stmt/CreDtTm as given
	AccountIBAN     string // Stmt/Acct/Id/IBAN
	AccountID       string // Stmt/Acct/Id/Othr/Id, when there is no IBAN
	AccountCurrency string // Stmt/Acct/Ccy, "" when not given

	// Entries are the booked entries (Sts BOOK), in file order.
	Entries []CamtEntry
	// NotBooked counts the entries left out because their status is not
	// BOOK (pending, information only).
	NotBooked int
}

// CamtEntry is one booked Ntry.
type CamtEntry struct {
	AmountMinor int64  // Amt in minor units of Currency, >= 0
	Currency    string // Amt/@Ccy
	Direction   CreditDebit
	Reversal    bool   // RvslInd: the entry reverses an earlier one
	BookingDate Date   // BookgDt/Dt, or the day of BookgDt/DtTm as written
	ValueDate   Date   // ValDt/Dt, or the day of ValDt/DtTm
	AcctSvcrRef string // the bank's reference for the entry
	EntryRef    string // NtryRef

	// Transactions are the entry's NtryDtls/TxDtls: one for a single
	// payment, several for a batch booking, none when the bank gives no
	// details.
	Transactions []CamtTransaction

	// BankRef identifies the entry within its account, so importing it twice
	// is detectable: "ref:<AcctSvcrRef>" when the bank gives its reference
	// (unique per account by the standard's definition); otherwise
	// "stmt:<Stmt/Id>/ntry:<NtryRef>", and without NtryRef
	// "stmt:<Stmt/Id>/n<k>" with k the entry's position among the
	// statement's Ntry elements (from 1). The fallbacks are stable when the
	// same statement is read again, not across statements that repeat an
	// entry. No two entries of a statement share one.
	BankRef string
}

// CamtTransaction is one TxDtls of an entry.
type CamtTransaction struct {
	EndToEndID   string   // Refs/EndToEndId as given ("NOTPROVIDED" is kept)
	AcctSvcrRef  string   // Refs/AcctSvcrRef
	AmountMinor  int64    // Amt (or AmtDtls/TxAmt/Amt), when given
	Currency     string   // "" when the transaction gives no amount
	Unstructured []string // RmtInf/Ustrd
	CreditorRefs []string // RmtInf/Strd/CdtrRefInf/Ref
	DebtorName   string   // RltdPties/Dbtr/Nm (or Dbtr/Pty/Nm from version .08)
	DebtorIBAN   string   // RltdPties/DbtrAcct/Id/IBAN
	DebtorAcctID string   // RltdPties/DbtrAcct/Id/Othr/Id
}

// The XML shapes read, with local names only so every version's namespace
// (camt.053.001.02 .. .08) matches.
type (
	camtDocument struct {
		XMLName xml.Name
		Stmt    *struct {
			GrpHdr struct {
				MsgID string `xml:"MsgId"`
			} `xml:"GrpHdr"`
			Stmts []camtStmt `xml:"Stmt"`
		} `xml:"BkToCstmrStmt"`
	}
	camtStmt struct {
		ID      string      `xml:"Id"`
		CreDtTm string      `xml:"CreDtTm"`
		Acct    camtAccount `xml:"Acct"`
		Ntry    []camtNtry  `xml:"Ntry"`
	}
	camtAccount struct {
		ID  camtAccountID `xml:"Id"`
		Ccy string        `xml:"Ccy"`
	}
	camtAccountID struct {
		IBAN string `xml:"IBAN"`
		Othr struct {
			ID string `xml:"Id"`
		} `xml:"Othr"`
	}
	camtAmount struct {
		Value string `xml:",chardata"`
		Ccy   string `xml:"Ccy,attr"`
	}
	camtDate struct {
		Dt   string `xml:"Dt"`
		DtTm string `xml:"DtTm"`
	}
	camtNtry struct {
		NtryRef   string     `xml:"NtryRef"`
		Amt       camtAmount `xml:"Amt"`
		CdtDbtInd string     `xml:"CdtDbtInd"`
		RvslInd   string     `xml:"RvslInd"`
		Sts       struct {
			Text  string `xml:",chardata"` // up to .07: <Sts>BOOK</Sts>
			Cd    string `xml:"Cd"`        // from .08: <Sts><Cd>BOOK</Cd></Sts>
			Prtry string `xml:"Prtry"`
		} `xml:"Sts"`
		BookgDt     camtDate `xml:"BookgDt"`
		ValDt       camtDate `xml:"ValDt"`
		AcctSvcrRef string   `xml:"AcctSvcrRef"`
		NtryDtls    []struct {
			TxDtls []camtTx `xml:"TxDtls"`
		} `xml:"NtryDtls"`
	}
	camtTx struct {
		Refs struct {
			EndToEndID  string `xml:"EndToEndId"`
			AcctSvcrRef string `xml:"AcctSvcrRef"`
		} `xml:"Refs"`
		Amt     *camtAmount `xml:"Amt"`
		AmtDtls struct {
			TxAmt struct {
				Amt *camtAmount `xml:"Amt"`
			} `xml:"TxAmt"`
		} `xml:"AmtDtls"`
		RltdPties struct {
			Dbtr struct {
				Nm  string `xml:"Nm"`
				Pty struct {
					Nm string `xml:"Nm"`
				} `xml:"Pty"`
			} `xml:"Dbtr"`
			DbtrAcct struct {
				ID camtAccountID `xml:"Id"`
			} `xml:"DbtrAcct"`
		} `xml:"RltdPties"`
		RmtInf struct {
			Ustrd []string `xml:"Ustrd"`
			Strd  []struct {
				CdtrRefInf struct {
					Ref string `xml:"Ref"`
				} `xml:"CdtrRefInf"`
			} `xml:"Strd"`
		} `xml:"RmtInf"`
	}
)

// errDirective stops decoding at a <!DOCTYPE …> or any other <!…> directive.
var errDirective = errors.New("directive")

// errSecondRoot stops decoding at an element after the root element.
var errSecondRoot = errors.New("second root element")

// checkEpilogue reads what follows the root element: only white space,
// comments and processing instructions may.
func checkEpilogue(dec *xml.Decoder) error {
	for {
		t, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return errSecondRoot
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("text %q after the root element", bytes.TrimSpace(t))
			}
		}
	}
}

// noDirectives passes a decoder's tokens on and refuses directives, so no
// document type declaration (and no entity it could declare) is ever read.
type noDirectives struct{ d *xml.Decoder }

func (n noDirectives) Token() (xml.Token, error) {
	t, err := n.d.Token()
	if _, ok := t.(xml.Directive); ok {
		return nil, errDirective
	}
	return t, err
}

// ParseCamt053 reads an ISO 20022 camt.053 BankToCustomerStatement of any
// version from .02 to .08 (elements are matched by local name, whatever the
// namespace), UTF-8 encoded, of at most Camt053SizeMax bytes. It refuses any
// <!DOCTYPE> or other directive: no DTD, so no entity expansion, internal or
// external (encoding/xml expands no external entity anyway, and refuses
// undefined ones). Only white space, comments and processing instructions may
// follow the root element.
//
// Amounts are converted to minor units with exp (nil means
// CurrencyExponent); an amount with more decimals than its currency has, an
// unknown currency, a CdtDbtInd other than CRDT/DBIT or a malformed date is
// an error. Only booked entries are returned. Errors are apperr "invalid"
// with Param naming the element, e.g. "Stmt[0].Ntry[3].Amt".
func ParseCamt053(data []byte, exp ExponentFunc) ([]CamtStatement, error) {
	if exp == nil {
		exp = CurrencyExponent
	}
	if len(data) > Camt053SizeMax {
		return nil, apperr.Invalid("file", "file is %d bytes, more than the %d allowed", len(data), Camt053SizeMax)
	}
	var doc camtDocument
	dec := xml.NewTokenDecoder(noDirectives{xml.NewDecoder(bytes.NewReader(data))})
	err := dec.Decode(&doc)
	if err == nil {
		err = checkEpilogue(dec)
	}
	switch {
	case errors.Is(err, errDirective):
		return nil, apperr.Invalid("file", "the document has a <!DOCTYPE> or other <!…> directive, which is refused")
	case errors.Is(err, io.EOF):
		return nil, apperr.Invalid("file", "no XML element")
	case errors.Is(err, errSecondRoot):
		return nil, apperr.Invalid("file", "an element follows the root element </%s>", doc.XMLName.Local)
	case err != nil:
		return nil, apperr.Invalid("file", "not well-formed camt.053 XML: %v", err)
	case doc.XMLName.Local != "Document" || doc.Stmt == nil:
		return nil, apperr.Invalid("file", "root is <%s>, want <Document> holding <BkToCstmrStmt>", doc.XMLName.Local)
	case len(doc.Stmt.Stmts) == 0:
		return nil, apperr.Invalid("BkToCstmrStmt", "no Stmt")
	}
	entries := 0
	for _, s := range doc.Stmt.Stmts {
		entries += len(s.Ntry)
	}
	if entries > Camt053EntriesMax {
		return nil, apperr.Invalid("file", "%d entries, more than the %d allowed", entries, Camt053EntriesMax)
	}
	out := make([]CamtStatement, 0, len(doc.Stmt.Stmts))
	for i, s := range doc.Stmt.Stmts {
		st, err := readCamtStatement(fmt.Sprintf("Stmt[%d]", i), s, exp)
		if err != nil {
			return nil, err
		}
		st.MessageID = strings.TrimSpace(doc.Stmt.GrpHdr.MsgID)
		out = append(out, st)
	}
	return out, nil
}

func readCamtStatement(p string, s camtStmt, exp ExponentFunc) (CamtStatement, error) {
	st := CamtStatement{
		ID:              strings.TrimSpace(s.ID),
		Created:         strings.TrimSpace(s.CreDtTm),
		AccountIBAN:     strings.TrimSpace(s.Acct.ID.IBAN),
		AccountID:       strings.TrimSpace(s.Acct.ID.Othr.ID),
		AccountCurrency: strings.TrimSpace(s.Acct.Ccy),
	}
	if st.ID == "" {
		return st, apperr.Invalid(p+".Id", "the statement has no Id")
	}
	if st.AccountIBAN == "" && st.AccountID == "" {
		return st, apperr.Invalid(p+".Acct.Id", "the account has neither IBAN nor Othr/Id")
	}
	seen := make(map[string]int, len(s.Ntry))
	for j, n := range s.Ntry {
		q := fmt.Sprintf("%s.Ntry[%d]", p, j)
		if !isBooked(n.Sts.Text, n.Sts.Cd, n.Sts.Prtry) {
			st.NotBooked++
			continue
		}
		e, err := readCamtEntry(q, n, exp)
		if err != nil {
			return st, err
		}
		switch {
		case e.AcctSvcrRef != "":
			e.BankRef = "ref:" + e.AcctSvcrRef
		case e.EntryRef != "":
			e.BankRef = "stmt:" + st.ID + "/ntry:" + e.EntryRef
		default:
			e.BankRef = "stmt:" + st.ID + "/n" + strconv.Itoa(j+1)
		}
		if k, dup := seen[e.BankRef]; dup {
			return st, apperr.Invalid(q+".AcctSvcrRef", "entry has the same reference as Ntry[%d] (BankRef %s)", k, e.BankRef)
		}
		seen[e.BankRef] = j
		st.Entries = append(st.Entries, e)
	}
	return st, nil
}

// isBooked reports whether an entry status says booked: BOOK (up to .07 as
// text, from .08 as Cd) or a proprietary BOOK/Booked.
func isBooked(text, cd, prtry string) bool {
	for _, s := range []string{text, cd, prtry} {
		switch strings.ToUpper(strings.TrimSpace(s)) {
		case "BOOK", "BOOKED":
			return true
		}
	}
	return false
}

func readCamtEntry(q string, n camtNtry, exp ExponentFunc) (CamtEntry, error) {
	e := CamtEntry{
		AcctSvcrRef: strings.TrimSpace(n.AcctSvcrRef),
		EntryRef:    strings.TrimSpace(n.NtryRef),
	}
	var err error
	if e.AmountMinor, e.Currency, err = readCamtAmount(q+".Amt", n.Amt, exp); err != nil {
		return e, err
	}
	switch d := CreditDebit(strings.TrimSpace(n.CdtDbtInd)); d {
	case Credit, Debit:
		e.Direction = d
	default:
		return e, apperr.Invalid(q+".CdtDbtInd", "%q is neither CRDT nor DBIT", n.CdtDbtInd)
	}
	switch strings.TrimSpace(n.RvslInd) {
	case "", "false", "0":
	case "true", "1":
		e.Reversal = true
	default:
		return e, apperr.Invalid(q+".RvslInd", "%q is not a boolean", n.RvslInd)
	}
	if e.BookingDate, err = readCamtDate(q+".BookgDt", n.BookgDt); err != nil {
		return e, err
	}
	if e.ValueDate, err = readCamtDate(q+".ValDt", n.ValDt); err != nil {
		return e, err
	}
	for k, d := range n.NtryDtls {
		for l, tx := range d.TxDtls {
			t, err := readCamtTx(fmt.Sprintf("%s.NtryDtls[%d].TxDtls[%d]", q, k, l), tx, exp)
			if err != nil {
				return e, err
			}
			e.Transactions = append(e.Transactions, t)
		}
	}
	return e, nil
}

func readCamtTx(q string, tx camtTx, exp ExponentFunc) (CamtTransaction, error) {
	t := CamtTransaction{
		EndToEndID:   strings.TrimSpace(tx.Refs.EndToEndID),
		AcctSvcrRef:  strings.TrimSpace(tx.Refs.AcctSvcrRef),
		DebtorName:   strings.TrimSpace(tx.RltdPties.Dbtr.Nm),
		DebtorIBAN:   strings.TrimSpace(tx.RltdPties.DbtrAcct.ID.IBAN),
		DebtorAcctID: strings.TrimSpace(tx.RltdPties.DbtrAcct.ID.Othr.ID),
	}
	if t.DebtorName == "" {
		t.DebtorName = strings.TrimSpace(tx.RltdPties.Dbtr.Pty.Nm)
	}
	amt, path := tx.Amt, q+".Amt"
	if amt == nil {
		amt, path = tx.AmtDtls.TxAmt.Amt, q+".AmtDtls.TxAmt.Amt"
	}
	if amt != nil {
		var err error
		if t.AmountMinor, t.Currency, err = readCamtAmount(path, *amt, exp); err != nil {
			return t, err
		}
	}
	for _, u := range tx.RmtInf.Ustrd {
		t.Unstructured = append(t.Unstructured, strings.TrimSpace(u))
	}
	for _, s := range tx.RmtInf.Strd {
		if ref := strings.TrimSpace(s.CdtrRefInf.Ref); ref != "" {
			t.CreditorRefs = append(t.CreditorRefs, ref)
		}
	}
	return t, nil
}

func readCamtAmount(param string, a camtAmount, exp ExponentFunc) (int64, string, error) {
	ccy := strings.TrimSpace(a.Ccy)
	e, err := exponentOf(param+"@Ccy", ccy, exp)
	if err != nil {
		return 0, "", err
	}
	n, err := parseDecimalAmount(param, a.Value, e)
	return n, ccy, err
}

// readCamtDate reads a DateAndDateTime choice: Dt (YYYY-MM-DD, perhaps with a
// zone) or the day of DtTm as written; neither gives the zero Date.
func readCamtDate(param string, d camtDate) (Date, error) {
	s, sub := strings.TrimSpace(d.Dt), ".Dt"
	if s == "" {
		s, sub = strings.TrimSpace(d.DtTm), ".DtTm"
		if s == "" {
			return Date{}, nil
		}
		if len(s) < 11 || s[10] != 'T' {
			return Date{}, apperr.Invalid(param+sub, "%q is not an ISO date-time", s)
		}
	} else if len(s) > 10 && !isZoneSuffix(s[10:]) {
		return Date{}, apperr.Invalid(param+sub, "%q is not an ISO date", s)
	}
	if len(s) < 10 {
		return Date{}, apperr.Invalid(param+sub, "%q is not an ISO date", s)
	}
	t, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return Date{}, apperr.Invalid(param+sub, "%q is not an ISO date", s)
	}
	return DateOf(t), nil
}

func isZoneSuffix(s string) bool {
	if s == "Z" {
		return true
	}
	_, err := time.Parse("-07:00", s)
	return err == nil
}
