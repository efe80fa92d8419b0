package escrow

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/idempotency"
)

// Statement formats ImportStatement reads, and payout file formats
// ExportPayoutBatch writes.
const (
	FormatZengin  = "zengin"  // 入出金取引明細 (200-byte records) in; 総合振込 (120-byte records) out
	FormatCamt053 = "camt053" // ISO 20022 BankToCustomerStatement in
	FormatPain001 = "pain001" // ISO 20022 CustomerCreditTransferInitiation out
)

// ImportReport counts what an import did with each entry.
type ImportReport struct {
	Entries     int // entries in the file
	Withdrawals int // money out: not deposits, skipped
	Replayed    int // recorded by an earlier import: nothing changed
	Statuses    map[DepositStatus]int
	Deposits    []Deposit // every credit, as recorded (replays as first recorded)
}

// ImportStatement records every credit of a bank statement file as a
// deposit (RecordDeposit: matched to deals by payment reference, the rest
// to the staff queue). Each credit is its own transaction, so an import cut
// short is finished by importing the file again: credits already recorded
// are recognised by (account, BankRef) and change nothing. progress, when
// set, is called after each entry.
//
// Errors: forbidden, invalid (the file, naming the record and field), and
// RecordDeposit's.
func (s *Service) ImportStatement(ctx context.Context, actor Actor, format string, data []byte, progress func(done, total int)) (ImportReport, error) {
	if actor.Kind != ActorSystem {
		if err := requireFinance(actor); err != nil {
			return ImportReport{}, err
		}
	}
	// Each credit is recorded by RecordDeposit, which runs a Keep it finds
	// in ctx: an import keeps none (its key, if any, is kept once for the
	// whole file, after it).
	ctx = idempotency.WithKeep(ctx, nil)
	credits, withdrawals, err := parseCredits(format, data, s.now())
	if err != nil {
		return ImportReport{}, err
	}
	rep := ImportReport{Entries: len(credits) + withdrawals, Withdrawals: withdrawals, Statuses: map[DepositStatus]int{}}
	for i, p := range credits {
		dep, replayed, err := s.recordPart(ctx, actor, p)
		if err != nil {
			return rep, fmt.Errorf("escrow: import entry %s: %w", p.BankRef, err)
		}
		if replayed {
			rep.Replayed++
		} else {
			rep.Statuses[dep.Status]++
		}
		rep.Deposits = append(rep.Deposits, dep)
		if progress != nil {
			progress(i+1, len(credits))
		}
	}
	return rep, nil
}

// recordPart records p as RecordDeposit does, unless an earlier import
// recorded it under p.earlierRef: then that deposit answers, as a replay.
func (s *Service) recordPart(ctx context.Context, actor Actor, p DepositParams) (Deposit, bool, error) {
	if p.earlierRef != "" {
		earlier, err := s.findDeposit(ctx, p.BankAccount, p.earlierRef)
		if err == nil {
			return earlier, true, nil
		}
		if !apperr.Is(err, apperr.CodeNotFound) {
			return Deposit{}, false, err
		}
	}
	return s.RecordDeposit(ctx, actor, p)
}

// parseCredits reads a statement file, imported at now, into the deposits
// it holds.
func parseCredits(format string, data []byte, now time.Time) ([]DepositParams, int, error) {
	var out []DepositParams
	withdrawals := 0
	switch format {
	case FormatZengin:
		stmts, asReiwa, err := zenginStatements(data, now)
		if err != nil {
			return nil, 0, err
		}
		for si, st := range stmts {
			account := st.BankCode + "-" + st.BranchCode + "-" + strings.TrimLeft(st.AccountNumber, "0")
			for ei, e := range st.Entries {
				if e.Kind != bankfile.Deposit {
					withdrawals++
					continue
				}
				// 振込依頼人コード is where a payer's bank lets them key in
				// a reference at an ATM or online: a payment reference.
				p := DepositParams{Source: SourceZengin, BankAccount: account, BankRef: e.BankRef, Currency: "JPY",
					Amount: e.AmountYen, ValueDate: dateOf(e.ValueDate, e.Date), PayerName: clip(e.RemitterNameNorm, PayerNameLenMax),
					Remittance: clip(strings.Join(strings.Fields(e.RemitterCode+" "+e.EDI+" "+e.Description), " "), RemittanceLenMax)}
				if asReiwa != nil {
					p.earlierRef = asReiwa[si].Entries[ei].BankRef
				}
				out = append(out, p)
			}
		}
	case FormatCamt053:
		stmts, err := bankfile.ParseCamt053(data, bankfile.CurrencyExponent)
		if err != nil {
			return nil, 0, err
		}
		for _, st := range stmts {
			account := st.AccountIBAN
			if account == "" {
				account = st.AccountID
			}
			for _, e := range st.Entries {
				if e.Direction != bankfile.Credit || e.Reversal || e.AmountMinor <= 0 {
					withdrawals++
					continue
				}
				whole := DepositParams{Source: SourceCamt, BankAccount: clip(account, BankAcctLenMax), BankRef: clip(e.BankRef, BankRefLenMax),
					Currency: e.Currency, Amount: e.AmountMinor, ValueDate: dateOf(e.ValueDate, e.BookingDate)}
				if parts := batchParts(e); parts != nil {
					// A batch booking: one credit per payment, each matched
					// on its own, keyed by the entry's reference and the
					// payment's place in it.
					for k, tx := range parts {
						p := whole
						p.BankRef, p.Amount, p.earlierRef = fmt.Sprintf("%s/tx%d", whole.BankRef, k+1), tx.AmountMinor, whole.BankRef
						p.PayerName, p.Remittance = payerOf(tx)
						out = append(out, p)
					}
					continue
				}
				var payer, remit []string
				for _, tx := range e.Transactions {
					payer = append(payer, tx.DebtorName)
					remit = append(remit, tx.Unstructured...)
					remit = append(remit, tx.CreditorRefs...)
				}
				whole.PayerName, whole.Remittance = clip(strings.Join(payer, " "), PayerNameLenMax), clip(strings.Join(remit, " "), RemittanceLenMax)
				out = append(out, whole)
			}
		}
	default:
		return nil, 0, apperr.Invalid("format", "zengin or camt053")
	}
	return out, withdrawals, nil
}

// batchParts returns the payments of a camt.053 entry booked as a batch:
// its transactions, when there are several and each gives an amount in the
// entry's currency, the amounts adding up to the entry's (and the entry's
// reference leaving room for the parts'). Otherwise nil: the entry is one
// credit (and a batch whose parts cannot be told apart goes to the staff
// queue whole, unless one reference in it names a deal).
func batchParts(e bankfile.CamtEntry) []bankfile.CamtTransaction {
	if len(e.Transactions) < 2 || len(e.BankRef) > BankRefLenMax-12 {
		return nil
	}
	var sum int64
	for _, tx := range e.Transactions {
		if tx.AmountMinor <= 0 || tx.Currency != e.Currency || tx.AmountMinor > e.AmountMinor-sum {
			return nil
		}
		sum += tx.AmountMinor
	}
	if sum != e.AmountMinor {
		return nil
	}
	return e.Transactions
}

// payerOf is a camt.053 payment's payer name and remittance text.
func payerOf(tx bankfile.CamtTransaction) (payer, remittance string) {
	remit := append(append([]string(nil), tx.Unstructured...), tx.CreditorRefs...)
	return clip(tx.DebtorName, PayerNameLenMax), clip(strings.Join(remit, " "), RemittanceLenMax)
}

// statementLeadMax is how far past the import a statement's dates may lie:
// a file dated later was read in the wrong era.
const statementLeadMax = 31 * 24 * time.Hour

// zenginStatements reads a Zengin statement file, imported at now. The
// standard writes years in the Reiwa era (令和8年 = "08") but many banks
// write the western year ("26"), and the file does not say which: a year
// read in the wrong era lands 18 years off. The file is read as Reiwa
// unless that puts a date more than statementLeadMax after now; then as
// western, under the same test; a file neither reading fits is refused.
// (Reading a western file as Reiwa puts it in the future until 2037; a
// Reiwa file read as western lands in 2001-2018, which is why Reiwa is
// tried first.) A file read as western also returns its Reiwa reading,
// entry for entry: imports read every file as Reiwa before, so a credit of
// it may be recorded under that reading's BankRef.
func zenginStatements(data []byte, now time.Time) (stmts, asReiwa []bankfile.Statement, err error) {
	stmts, err = bankfile.ParseStatements(data, bankfile.EraReiwa)
	if err != nil {
		return nil, nil, err
	}
	if latestDate(stmts).Before(now.Add(statementLeadMax)) {
		return stmts, nil, nil
	}
	western, err := bankfile.ParseStatements(data, bankfile.EraWestern)
	if err == nil && latestDate(western).Before(now.Add(statementLeadMax)) {
		return western, stmts, nil
	}
	return nil, nil, apperr.Invalid("file", "the statement's dates (up to %s read as Reiwa) lie after today whether its years are read as Reiwa or as western years",
		latestDate(stmts).Format(time.DateOnly))
}

// latestDate is the latest date a statement file names.
func latestDate(stmts []bankfile.Statement) time.Time {
	var last time.Time
	see := func(d bankfile.Date) {
		if t := dateOf(d, bankfile.Date{}); t.After(last) {
			last = t
		}
	}
	for _, st := range stmts {
		see(st.Created)
		see(st.PeriodFrom)
		see(st.PeriodTo)
		for _, e := range st.Entries {
			see(e.Date)
			see(e.ValueDate)
			see(e.ExchangeDate)
			see(e.DishonourDate)
		}
	}
	return last
}

func dateOf(d, fallback bankfile.Date) time.Time {
	if d.IsZero() {
		d = fallback
	}
	if d.IsZero() {
		return time.Time{}
	}
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// clip cuts s to at most max bytes without splitting a character.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// PayoutSource is the operator's account payouts are paid from, as bank
// files name it.
type PayoutSource struct {
	RequesterCode string // 委託者コード the bank assigned (Zengin), up to 10 digits
	RequesterName string // 委託者名, half-width katakana (Zengin) — also the pain.001 debtor name
	BankCode      string
	BankName      string
	BranchCode    string
	BranchName    string
	AccountType   AccountType
	AccountNumber string // 7 digits
	// pain.001 only.
	IBAN     string // or AccountNumber when empty
	BIC      string // or the Zengin clearing member (JPZGN, bank + branch code) when empty
	Currency string // "" : the batch's
}

// PayoutSourceDevelopment names no real account; serve uses it unless the
// operator configures one.
var PayoutSourceDevelopment = PayoutSource{RequesterCode: "1234567890", RequesterName: "ｷﾝｺ ｴｽｸﾛ-", BankCode: "0001",
	BankName: "ｷﾝｺｷﾞﾝｺｳ", BranchCode: "100", BranchName: "ﾎﾝﾃﾝ", AccountType: AccountOrdinary, AccountNumber: "1234567"}

func zenginAccountType(t AccountType) bankfile.AccountType {
	switch t {
	case AccountChecking:
		return bankfile.AccountChecking
	case AccountSavings:
		return bankfile.AccountSavings
	}
	return bankfile.AccountOrdinary
}

// ExportPayoutBatch writes a batch as the bank file that asks the bank to
// pay it: every item not returned, in item order. Writing validates every
// field (names in the bank's character set, totals and counts).
//
// Errors: forbidden, not_found, invalid (format; a field the file cannot carry).
func (s *Service) ExportPayoutBatch(ctx context.Context, actor Actor, id, format string) ([]byte, error) {
	b, err := s.FindPayoutBatch(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	src := s.cfg.PayoutSource
	var items []PayoutItem
	for _, it := range b.Items {
		if it.State != PayoutReturned {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, apperr.Invalid("id", "payout batch %s has nothing left to pay", id)
	}
	switch format {
	case FormatZengin:
		if b.Currency != "JPY" {
			return nil, apperr.Invalid("format", "a Zengin file pays yen; this batch is %s", b.Currency)
		}
		tb := bankfile.TransferBatch{RequesterCode: src.RequesterCode, RequesterName: src.RequesterName,
			TransferDate: bankfile.MonthDay{Month: b.TransferDate.Month(), Day: b.TransferDate.Day()},
			BankCode:     src.BankCode, BankName: src.BankName, BranchCode: src.BranchCode, BranchName: src.BranchName,
			AccountType: zenginAccountType(src.AccountType), AccountNumber: src.AccountNumber}
		for _, it := range items {
			a := it.Account
			tb.Items = append(tb.Items, bankfile.Transfer{BankCode: a.BankCode, BankName: a.BankName, BranchCode: a.BranchCode,
				BranchName: a.BranchName, AccountType: zenginAccountType(a.AccountType), AccountNumber: a.AccountNumber,
				RecipientName: a.HolderName, AmountYen: it.Amount, CustomerCode1: fmt.Sprintf("%010d", it.Seq)})
		}
		return bankfile.WriteTransfers([]bankfile.TransferBatch{tb}, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	case FormatPain001:
		pid := strings.ReplaceAll(b.ID, "_", "-")
		debtor := bankfile.Account{IBAN: src.IBAN}
		if debtor.IBAN == "" {
			debtor.ID = src.BankCode + src.BranchCode + src.AccountNumber
		}
		agent := func(bank, branch string) bankfile.Agent {
			return bankfile.Agent{ClearingSystem: "JPZGN", MemberID: bank + branch}
		}
		dagent := agent(src.BankCode, src.BranchCode)
		if src.BIC != "" {
			dagent = bankfile.Agent{BIC: src.BIC}
		}
		pb := bankfile.PayoutBatch{MessageID: pid, CreatedAt: s.now(), InitiatingPartyName: src.RequesterName,
			ExecutionDate: bankfile.DateOf(b.TransferDate), DebtorName: src.RequesterName, DebtorAccount: debtor,
			DebtorAgent: dagent, Currency: b.Currency}
		for _, it := range items {
			a := it.Account
			pb.Items = append(pb.Items, bankfile.Payout{EndToEndID: strings.ReplaceAll(it.ID, "_", "-"), AmountMinor: it.Amount,
				CreditorAgent: agent(a.BankCode, a.BranchCode), CreditorName: a.HolderName,
				CreditorAccount: bankfile.Account{ID: a.AccountNumber}, RemittanceInfo: "Kinko escrow payout " + b.ID})
		}
		return bankfile.WritePain001(pb, bankfile.CurrencyExponent)
	}
	return nil, apperr.Invalid("format", "zengin or pain001")
}
