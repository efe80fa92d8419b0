package escrow

import (
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/bankfile"
)

// statementFile writes a one-credit Zengin statement for day in era.
func statementFile(t *testing.T, day bankfile.Date, era bankfile.Era, e bankfile.Entry) []byte {
	t.Helper()
	st := bankfile.Statement{Created: day, PeriodFrom: day, PeriodTo: day, BankCode: "0005", BankName: "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
		BranchCode: "001", BranchName: "ﾎﾝﾃﾝ", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567", AccountName: "ｶ)ｷﾝｺ"}
	e.Date, e.ValueDate, e.Kind, e.TransactionCode = day, day, bankfile.Deposit, bankfile.TxTransfer
	if e.InquiryNumber == "" {
		e.InquiryNumber = "00000001"
	}
	st.Entries = []bankfile.Entry{e}
	file, err := bankfile.WriteStatements([]bankfile.Statement{st}, era, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// TestZenginEraFromTheDates: the same credit in a Reiwa file and in a
// western-year file is read as the same day, and so gets the same BankRef
// (importing both records it once); a file whose dates lie in the future
// either way is refused.
func TestZenginEraFromTheDates(t *testing.T) {
	now := time.Date(2026, time.January, 6, 9, 0, 0, 0, time.UTC)
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	credit := bankfile.Entry{AmountYen: 25875, RemitterName: "ﾔﾏﾀﾞ ﾀﾛｳ"}
	var refs []string
	for _, era := range []bankfile.Era{bankfile.EraReiwa, bankfile.EraWestern} {
		got, _, err := parseCredits(FormatZengin, statementFile(t, day, era, credit), now)
		if err != nil {
			t.Fatalf("era %v: %v", era, err)
		}
		if len(got) != 1 || !got[0].ValueDate.Equal(time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("era %v: %+v", era, got)
		}
		refs = append(refs, got[0].BankRef)
		if want := map[bankfile.Era]string{bankfile.EraWestern: "20440105-20440105-00000001"}[era]; got[0].earlierRef != want {
			t.Errorf("era %v: earlier BankRef %q, want %q (the Reiwa reading of a western file)", era, got[0].earlierRef, want)
		}
	}
	if refs[0] != refs[1] {
		t.Errorf("the same credit read from a Reiwa and a western file: BankRef %q and %q", refs[0], refs[1])
	}
	// A western file of 2040 writes "40": read as Reiwa that is 2058, as
	// western 2040; both lie in the future.
	future := bankfile.Date{Year: 2040, Month: time.March, Day: 1}
	_, _, err := parseCredits(FormatZengin, statementFile(t, future, bankfile.EraWestern, credit), now)
	if !apperr.Is(err, apperr.CodeInvalid) || !strings.Contains(err.Error(), "after today") {
		t.Errorf("a statement dated %v = %v, want invalid", future, err)
	}
}

// TestZenginRemitterCodeMatches: a payment reference keyed into 振込依頼人
// コード (not the name) is found.
func TestZenginRemitterCodeMatches(t *testing.T) {
	ref := newPaymentRef()
	now := time.Date(2026, time.January, 6, 9, 0, 0, 0, time.UTC)
	day := bankfile.Date{Year: 2026, Month: time.January, Day: 5}
	got, _, err := parseCredits(FormatZengin, statementFile(t, day, bankfile.EraReiwa, bankfile.Entry{AmountYen: 1000, RemitterCode: ref, RemitterName: "ﾔﾏﾀﾞ ﾀﾛｳ"}), now)
	if err != nil {
		t.Fatal(err)
	}
	if refs := FindPaymentRefs(got[0].PayerName + " " + got[0].Remittance); len(refs) != 1 || refs[0] != ref {
		t.Errorf("payment references found in %+v: %v, want %s", got[0], refs, ref)
	}
}
