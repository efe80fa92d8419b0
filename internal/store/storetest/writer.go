package storetest

import (
	"errors"
	"testing"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// testWriter checks ledger.Writer: accounts and transfers written in a
// transaction the caller owns commit with it or not at all.
func testWriter(t *testing.T, h Harness) {
	f := newFixture(t, h)
	reqs := []ledger.AccountRequest{
		{Owner: "w", Reference: "w-src", Asset: "JPY", CreditsMustNotExceedDebits: true},
		{Owner: "w", Reference: "w-dst", Asset: "JPY", DebitsMustNotExceedCredits: true},
	}
	w, err := f.engine.NewWriter(f.ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	errAbort := errors.New("abort")
	attempt := func(abort bool) ([]ledger.Account, []ledger.TransferResult, error) {
		var accts []ledger.Account
		var res []ledger.TransferResult
		err := f.store.Transact(f.ctx, func(tx ledger.Tx) error {
			w.Begin()
			var err error
			if accts, err = w.OpenAccounts(f.ctx, tx, f.Now(), reqs); err != nil {
				return err
			}
			res, err = w.Transfer(f.ctx, tx, f.Now(), []ledger.TransferRequest{
				{Owner: "w", Reference: "w-1", DebitAccountID: accts[0].ID, CreditAccountID: accts[1].ID, Amount: 700},
				{Owner: "w", Reference: "w-2", DebitAccountID: accts[1].ID, CreditAccountID: accts[0].ID, Amount: 701},
			})
			if err != nil {
				return err
			}
			if abort {
				return errAbort
			}
			return nil
		})
		return accts, res, err
	}
	if _, _, err := attempt(true); !errors.Is(err, errAbort) {
		t.Fatalf("aborted attempt: %v", err)
	}
	var found []ledger.Account
	if err := f.store.Transact(f.ctx, func(tx ledger.Tx) error {
		var err error
		found, err = tx.AccountsByReference(f.ctx, []ledger.RefKey{{Owner: "w", Reference: "w-src"}})
		return err
	}); err != nil || len(found) != 0 {
		t.Fatalf("a rolled back writer left accounts: %v, %v", found, err)
	}
	accts, res, err := attempt(false)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Result != ledger.ResultOK || res[1].Result != ledger.ResultInsufficientFunds {
		t.Fatalf("results %s, %s", res[0].Result, res[1].Result)
	}
	if err := ledger.Rejection(res); apperr.CodeOf(err) != ledger.CodeTransferRejected {
		t.Fatalf("Rejection: %v", err)
	}
	f.wantBalance(accts[1].ID, 0, 700, 0, 0)
	if _, err := f.engine.NewWriter(f.ctx, ledger.WriterAccountsMax+1, 0); apperr.CodeOf(err) != apperr.CodeInvalid {
		t.Fatalf("writer above its bound: %v", err)
	}
	f.verifyClean()
}
