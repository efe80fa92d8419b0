package bankfile

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of pain.001 output.
const (
	Pain001Namespace = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
	PayoutItemsMax   = 10_000 // transactions in one pain.001 message: banks' upload limits are of this order

	max35Text  = 35  // Max35Text: MsgId, PmtInfId, EndToEndId, MmbId
	max34Text  = 34  // Max34Text: Othr/Id of an account
	max140Text = 140 // Max140Text: Nm, Ustrd
	max5Text   = 5   // ExternalClearingSystemIdentification1Code
)

// PayoutBatch is a batch of payouts from one account on one day: one
// pain.001.001.09 CustomerCreditTransferInitiation with one PmtInf.
type PayoutBatch struct {
	MessageID           string    // GrpHdr/MsgId: unique per message sent to the bank
	PaymentInfoID       string    // PmtInf/PmtInfId; MessageID when empty
	CreatedAt           time.Time // GrpHdr/CreDtTm, written in UTC to the second
	InitiatingPartyName string    // GrpHdr/InitgPty/Nm
	ExecutionDate       Date      // PmtInf/ReqdExctnDt/Dt
	DebtorName          string    // PmtInf/Dbtr/Nm
	DebtorAccount       Account   // PmtInf/DbtrAcct
	DebtorAgent         Agent     // PmtInf/DbtrAgt
	Currency            string    // every item's InstdAmt/@Ccy
	Items               []Payout
}

// Payout is one CdtTrfTxInf.
type Payout struct {
	EndToEndID      string // PmtId/EndToEndId: unique in the batch; the bank returns it on the statement
	AmountMinor     int64  // InstdAmt in minor units of the batch's currency, > 0
	CreditorAgent   Agent  // CdtrAgt
	CreditorName    string // Cdtr/Nm
	CreditorAccount Account
	RemittanceInfo  string // RmtInf/Ustrd; optional
}

// Account identifies an account by IBAN or, where there is none (Japan), by
// another id (Othr/Id). Exactly one is set.
type Account struct {
	IBAN string // upper case, no spaces, valid check digits
	ID   string // Othr/Id, up to 34 characters
}

// Agent identifies a bank by BIC (BICFI), or by its member id in a clearing
// system (ClrSysMmbId: e.g. ClearingSystem "JPZGN" and MemberID bank code +
// branch code "0001001"), or both.
type Agent struct {
	BIC            string
	ClearingSystem string // ClrSysId/Cd, optional, up to 5 characters
	MemberID       string // MmbId
}

// pain.001.001.09 elements, in schema order.
type (
	painDocument struct {
		XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Document"`
		Init    painInitiation `xml:"CstmrCdtTrfInitn"`
	}
	painInitiation struct {
		GrpHdr painGroupHeader `xml:"GrpHdr"`
		PmtInf painPaymentInfo `xml:"PmtInf"`
	}
	painGroupHeader struct {
		MsgID    string    `xml:"MsgId"`
		CreDtTm  string    `xml:"CreDtTm"`
		NbOfTxs  string    `xml:"NbOfTxs"`
		CtrlSum  string    `xml:"CtrlSum"`
		InitgPty painParty `xml:"InitgPty"`
	}
	painParty struct {
		Nm string `xml:"Nm"`
	}
	painPaymentInfo struct {
		PmtInfID    string `xml:"PmtInfId"`
		PmtMtd      string `xml:"PmtMtd"`
		NbOfTxs     string `xml:"NbOfTxs"`
		CtrlSum     string `xml:"CtrlSum"`
		ReqdExctnDt struct {
			Dt string `xml:"Dt"`
		} `xml:"ReqdExctnDt"`
		Dbtr        painParty      `xml:"Dbtr"`
		DbtrAcct    painAccount    `xml:"DbtrAcct"`
		DbtrAgt     painAgent      `xml:"DbtrAgt"`
		CdtTrfTxInf []painTransfer `xml:"CdtTrfTxInf"`
	}
	painAccount struct {
		ID struct {
			IBAN string     `xml:"IBAN,omitempty"`
			Othr *painOther `xml:"Othr"`
		} `xml:"Id"`
	}
	painOther struct {
		ID string `xml:"Id"`
	}
	painAgent struct {
		FinInstnID struct {
			BICFI       string              `xml:"BICFI,omitempty"`
			ClrSysMmbID *painClearingMember `xml:"ClrSysMmbId"`
		} `xml:"FinInstnId"`
	}
	painClearingMember struct {
		ClrSysID *struct {
			Cd string `xml:"Cd"`
		} `xml:"ClrSysId"`
		MmbID string `xml:"MmbId"`
	}
	painTransfer struct {
		PmtID struct {
			EndToEndID string `xml:"EndToEndId"`
		} `xml:"PmtId"`
		Amt struct {
			InstdAmt struct {
				Ccy   string `xml:"Ccy,attr"`
				Value string `xml:",chardata"`
			} `xml:"InstdAmt"`
		} `xml:"Amt"`
		CdtrAgt  painAgent   `xml:"CdtrAgt"`
		Cdtr     painParty   `xml:"Cdtr"`
		CdtrAcct painAccount `xml:"CdtrAcct"`
		RmtInf   *struct {
			Ustrd string `xml:"Ustrd"`
		} `xml:"RmtInf"`
	}
)

// WritePain001 builds a pain.001.001.09 CustomerCreditTransferInitiation of
// b: one PmtInf with payment method TRF and one CdtTrfTxInf per item. NbOfTxs
// and CtrlSum (in GrpHdr and PmtInf) are computed; amounts are written with
// the currency's decimals from exp (nil means CurrencyExponent).
//
// It checks every input before writing: ids (MsgId, PmtInfId, EndToEndId,
// MmbId) 1..35 characters of A-Z a-z 0-9 / - ? : ( ) . , ' + not starting or
// ending with '/' nor holding "//", and EndToEndIds unique; names and
// remittance information at most 140 characters (names required) with no
// control characters; accounts with exactly one of an IBAN (format and
// check digits) or an id of at most 34 characters; agents with a BIC
// (ISO 9362 form) or a clearing member id; a known currency; amounts > 0 of
// at most 18 digits and a control sum that fits; 1..PayoutItemsMax items.
// Errors are apperr "invalid" with Param naming the input, e.g.
// "Items[2].CreditorAccount.IBAN".
func WritePain001(b PayoutBatch, exp ExponentFunc) ([]byte, error) {
	if exp == nil {
		exp = CurrencyExponent
	}
	doc, err := painDocumentOf(b, exp)
	if err != nil {
		return nil, err
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bankfile: marshal pain.001: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

func painDocumentOf(b PayoutBatch, exp ExponentFunc) (*painDocument, error) {
	e, err := exponentOf("Currency", b.Currency, exp)
	if err != nil {
		return nil, err
	}
	if b.PaymentInfoID == "" {
		b.PaymentInfoID = b.MessageID
	}
	checks := []error{
		checkID("MessageID", b.MessageID, max35Text),
		checkID("PaymentInfoID", b.PaymentInfoID, max35Text),
		checkName("InitiatingPartyName", b.InitiatingPartyName, true),
		checkName("DebtorName", b.DebtorName, true),
		checkAccount("DebtorAccount", b.DebtorAccount),
		checkAgent("DebtorAgent", b.DebtorAgent),
	}
	if b.CreatedAt.IsZero() {
		checks = append(checks, apperr.Invalid("CreatedAt", "the creation time is required"))
	}
	if !b.ExecutionDate.valid() {
		checks = append(checks, apperr.Invalid("ExecutionDate", "%+v is not a calendar date", b.ExecutionDate))
	}
	switch {
	case len(b.Items) == 0:
		checks = append(checks, apperr.Invalid("Items", "at least one payout is required"))
	case len(b.Items) > PayoutItemsMax:
		checks = append(checks, apperr.Invalid("Items", "%d payouts, more than the %d a message may hold", len(b.Items), PayoutItemsMax))
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}

	var sum int64
	seen := make(map[string]int, len(b.Items))
	txs := make([]painTransfer, len(b.Items))
	for i, it := range b.Items {
		p := fmt.Sprintf("Items[%d].", i)
		for _, err := range []error{
			checkID(p+"EndToEndID", it.EndToEndID, max35Text),
			checkName(p+"CreditorName", it.CreditorName, true),
			checkAccount(p+"CreditorAccount", it.CreditorAccount),
			checkAgent(p+"CreditorAgent", it.CreditorAgent),
			checkName(p+"RemittanceInfo", it.RemittanceInfo, false),
		} {
			if err != nil {
				return nil, err
			}
		}
		if j, dup := seen[it.EndToEndID]; dup {
			return nil, apperr.Invalid(p+"EndToEndID", "%q is also the EndToEndID of Items[%d]", it.EndToEndID, j)
		}
		seen[it.EndToEndID] = i
		if it.AmountMinor <= 0 {
			return nil, apperr.Invalid(p+"AmountMinor", "amount must be more than 0, got %d", it.AmountMinor)
		}
		if len(strconv.FormatInt(it.AmountMinor, 10)) > decimalDigitsMax {
			return nil, apperr.Invalid(p+"AmountMinor", "amount %d has more than %d digits", it.AmountMinor, decimalDigitsMax)
		}
		if sum > maxInt64-it.AmountMinor || len(strconv.FormatInt(sum+it.AmountMinor, 10)) > decimalDigitsMax {
			return nil, apperr.Invalid(p+"AmountMinor", "the control sum would have more than %d digits", decimalDigitsMax)
		}
		sum += it.AmountMinor

		tx := &txs[i]
		tx.PmtID.EndToEndID = it.EndToEndID
		tx.Amt.InstdAmt.Ccy = b.Currency
		tx.Amt.InstdAmt.Value = formatDecimalAmount(it.AmountMinor, e)
		tx.CdtrAgt = painAgentOf(it.CreditorAgent)
		tx.Cdtr.Nm = it.CreditorName
		tx.CdtrAcct = painAccountOf(it.CreditorAccount)
		if it.RemittanceInfo != "" {
			tx.RmtInf = &struct {
				Ustrd string `xml:"Ustrd"`
			}{it.RemittanceInfo}
		}
	}

	n, ctrl := strconv.Itoa(len(b.Items)), formatDecimalAmount(sum, e)
	doc := &painDocument{}
	h := &doc.Init.GrpHdr
	h.MsgID = b.MessageID
	h.CreDtTm = b.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	h.NbOfTxs, h.CtrlSum = n, ctrl
	h.InitgPty.Nm = b.InitiatingPartyName
	pi := &doc.Init.PmtInf
	pi.PmtInfID = b.PaymentInfoID
	pi.PmtMtd = "TRF"
	pi.NbOfTxs, pi.CtrlSum = n, ctrl
	pi.ReqdExctnDt.Dt = b.ExecutionDate.String()
	pi.Dbtr.Nm = b.DebtorName
	pi.DbtrAcct = painAccountOf(b.DebtorAccount)
	pi.DbtrAgt = painAgentOf(b.DebtorAgent)
	pi.CdtTrfTxInf = txs
	return doc, nil
}

func painAccountOf(a Account) painAccount {
	var p painAccount
	if a.IBAN != "" {
		p.ID.IBAN = a.IBAN
	} else {
		p.ID.Othr = &painOther{a.ID}
	}
	return p
}

func painAgentOf(a Agent) painAgent {
	var p painAgent
	p.FinInstnID.BICFI = a.BIC
	if a.MemberID != "" {
		m := &painClearingMember{MmbID: a.MemberID}
		if a.ClearingSystem != "" {
			m.ClrSysID = &struct {
				Cd string `xml:"Cd"`
			}{a.ClearingSystem}
		}
		p.FinInstnID.ClrSysMmbID = m
	}
	return p
}

// checkID checks an identifier: 1..max characters of the restricted Latin
// set banks accept in ids everywhere (the SWIFT/EPC subset), not starting or
// ending with '/' and without "//".
func checkID(param, s string, max int) error {
	switch {
	case s == "":
		return apperr.Invalid(param, "is required")
	case len(s) > max:
		return apperr.Invalid(param, "%q is %d characters, more than %d", s, len(s), max)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return apperr.Invalid(param, "%q must not start or end with '/' or hold \"//\"", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("/-?:().,'+", c) >= 0) {
			return apperr.Invalid(param, "%q has %q, which ids may not hold (A-Z a-z 0-9 / - ? : ( ) . , ' +)", s, c)
		}
	}
	return nil
}

// checkName checks a Max140Text: valid UTF-8, at most 140 characters, no
// control characters, not blank when required.
func checkName(param, s string, required bool) error {
	switch {
	case strings.TrimSpace(s) == "":
		if required || s != "" {
			return apperr.Invalid(param, "is required and must not be blank")
		}
		return nil
	case !utf8.ValidString(s):
		return apperr.Invalid(param, "is not valid UTF-8")
	case utf8.RuneCountInString(s) > max140Text:
		return apperr.Invalid(param, "is %d characters, more than %d", utf8.RuneCountInString(s), max140Text)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF {
			return apperr.Invalid(param, "has the control character U+%04X", r)
		}
	}
	return nil
}

// checkAccount checks an Account has exactly one well-formed identifier.
func checkAccount(param string, a Account) error {
	switch {
	case a.IBAN != "" && a.ID != "":
		return apperr.Invalid(param, "set either IBAN or ID, not both")
	case a.IBAN != "":
		return checkIBAN(param+".IBAN", a.IBAN)
	case a.ID != "":
		return checkID(param+".ID", a.ID, max34Text)
	}
	return apperr.Invalid(param, "an IBAN or an ID is required")
}

// checkIBAN checks the ISO 13616 form [A-Z]{2}[0-9]{2}[A-Z0-9]{1,30} and the
// mod-97 check digits.
func checkIBAN(param, s string) error {
	if len(s) < 5 || len(s) > 34 {
		return apperr.Invalid(param, "%q is not an IBAN: 5 to 34 characters, no spaces", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if i < 2 && !letter || i >= 2 && i < 4 && !digit || !letter && !digit {
			return apperr.Invalid(param, "%q is not an IBAN: two letters, two check digits, then up to 30 of A-Z 0-9", s)
		}
	}
	rem := 0
	for _, c := range []byte(s[4:] + s[:4]) { // country and check digits move to the end
		if c >= 'A' {
			rem = (rem*100 + int(c-'A'+10)) % 97 // a letter counts as two digits, A = 10
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	if rem != 1 {
		return apperr.Invalid(param, "%q has wrong IBAN check digits", s)
	}
	return nil
}

// checkAgent checks an Agent has a BIC, a clearing member id, or both.
func checkAgent(param string, a Agent) error {
	if a.BIC == "" && a.MemberID == "" {
		return apperr.Invalid(param, "a BIC or a clearing-system MemberID is required")
	}
	if a.BIC != "" && !isBIC(a.BIC) {
		return apperr.Invalid(param+".BIC", "%q is not a BIC: 8 or 11 characters, A-Z 0-9, letters in 5-6", a.BIC)
	}
	if a.MemberID != "" {
		if err := checkID(param+".MemberID", a.MemberID, max35Text); err != nil {
			return err
		}
	} else if a.ClearingSystem != "" {
		return apperr.Invalid(param+".ClearingSystem", "a clearing system needs a MemberID")
	}
	if c := a.ClearingSystem; c != "" && (len(c) > max5Text || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "") {
		return apperr.Invalid(param+".ClearingSystem", "%q is not a clearing system code: 1 to 5 of A-Z 0-9", c)
	}
	return nil
}

// isBIC reports whether s has the ISO 9362 form
// [A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?.
func isBIC(s string) bool {
	if len(s) != 8 && len(s) != 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if i == 4 || i == 5 {
			if !letter {
				return false
			}
		} else if !letter && !digit {
			return false
		}
	}
	return true
}
