package bankfile_test

import (
	"fmt"
	"time"

	"github.com/kinko-pay/kinko/internal/bankfile"
)

func ExampleToZenginKana() {
	for _, name := range []string{"カブシキガイシャ　ヤマダ", "やまだ たろう", "ジョージ", "Ｋｉｎｋｏ", "山田"} {
		kana, err := bankfile.ToZenginKana(name)
		fmt.Printf("%q %v\n", kana, err)
	}
	// Output:
	// "ｶﾌﾞｼｷｶﾞｲｼﾔ ﾔﾏﾀﾞ" <nil>
	// "ﾔﾏﾀﾞ ﾀﾛｳ" <nil>
	// "ｼﾞﾖ-ｼﾞ" <nil>
	// "KINKO" <nil>
	// "" invalid: character '山' (U+5C71) at position 1 has no Zengin half-width form (name)
}

// A payout run as a 総合振込 file for the bank's upload service, read back
// record by record.
func ExampleWriteTransfers() {
	recipient, err := bankfile.ToZenginKana("ヤマダ　タロウ")
	if err != nil {
		panic(err)
	}
	file, err := bankfile.WriteTransfers([]bankfile.TransferBatch{{
		RequesterCode: "1234567890",
		RequesterName: "ｶ)ｷﾝｺ",
		TransferDate:  bankfile.MonthDay{Month: time.April, Day: 3},
		BankCode:      "0009", BranchCode: "123",
		AccountType: bankfile.AccountOrdinary, AccountNumber: "1234567",
		Items: []bankfile.Transfer{{
			BankCode: "0001", BranchCode: "001", AccountType: bankfile.AccountOrdinary, AccountNumber: "7654321",
			RecipientName: recipient, AmountYen: 12_360, EDI: "DEAL-7F3K2",
		}},
	}}, bankfile.Framing{Separator: bankfile.SeparatorCRLF})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(file), "bytes")
	batches, err := bankfile.ParseTransfers(file)
	if err != nil {
		panic(err)
	}
	it := batches[0].Items[0]
	fmt.Println(it.RecipientName, it.AmountYen, it.EDI)
	// Output:
	// 488 bytes
	// ﾔﾏﾀﾞ ﾀﾛｳ 12360 DEAL-7F3K2
}

// Reading a bank's 入出金取引明細 and deduplicating entries by BankRef.
func ExampleParseStatements() {
	day := bankfile.Date{Year: 2026, Month: time.April, Day: 1}
	// A fixture the writer makes; a real file comes from the bank.
	file, _ := bankfile.WriteStatements([]bankfile.Statement{{
		Created: day, PeriodFrom: day, PeriodTo: day,
		BankCode: "0009", BranchCode: "123", AccountType: bankfile.AccountOrdinary, AccountNumber: "0001234567",
		Entries: []bankfile.Entry{{
			InquiryNumber: "00000101", Date: day, ValueDate: day, Kind: bankfile.Deposit,
			TransactionCode: bankfile.TxTransfer, AmountYen: 12_800, RemitterName: "ﾔﾏﾀﾞ ﾀﾛｳ",
		}},
	}}, bankfile.EraReiwa, bankfile.Framing{})

	seen := map[string]bool{} // in Kinko: a unique key in the database
	for range 2 {             // the same file imported twice
		stmts, err := bankfile.ParseStatements(file, bankfile.EraReiwa)
		if err != nil {
			panic(err)
		}
		for _, e := range stmts[0].Entries {
			if seen[e.BankRef] {
				fmt.Println("already imported:", e.BankRef)
				continue
			}
			seen[e.BankRef] = true
			fmt.Println(e.Kind, e.AmountYen, e.RemitterNameNorm, e.BankRef)
		}
	}
	// Output:
	// deposit 12800 ヤマダ タロウ 20260401-20260401-00000101
	// already imported: 20260401-20260401-00000101
}
