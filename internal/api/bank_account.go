package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
)

// A payee's bank account is where escrow pays what it owes them. A site
// registers one for a party of one of its deals (escrow:write: a seller,
// or a buyer a refund left money to pay out) and reads its parties'
// (escrow:read); the operator's admin key reads anyone's, and
// alone reads what escrow owes a payee (GET /v1/payees/{email}/balance).
// Portal users register their own in the web portal.

// bankAccountJSON is a payee's bank account as registered, its names in
// the half-width katakana the bank file carries.
type bankAccountJSON struct {
	Object        string             `json:"object"` // "bank_account"
	Email         string             `json:"email"`
	BankCode      string             `json:"bank_code"`
	BankName      string             `json:"bank_name"`
	BranchCode    string             `json:"branch_code"`
	BranchName    string             `json:"branch_name"`
	AccountType   escrow.AccountType `json:"account_type"`
	AccountNumber string             `json:"account_number"`
	HolderName    string             `json:"holder_name"`
	Invalid       bool               `json:"invalid"` // a payout to it came back: register one again
	UpdatedAt     time.Time          `json:"updated_at"`
}

func toBankAccount(b escrow.BankAccount) bankAccountJSON {
	return bankAccountJSON{Object: "bank_account", Email: b.Email, BankCode: b.BankCode, BankName: b.BankName,
		BranchCode: b.BranchCode, BranchName: b.BranchName, AccountType: b.AccountType, AccountNumber: b.AccountNumber,
		HolderName: b.HolderName, Invalid: b.Invalid, UpdatedAt: b.UpdatedAt.UTC()}
}

// bankAccountCreate is the body of POST /v1/bank_accounts.
type bankAccountCreate struct {
	Email         string             `json:"email"`
	BankCode      string             `json:"bank_code"`
	BankName      string             `json:"bank_name"`
	BranchCode    string             `json:"branch_code"`
	BranchName    string             `json:"branch_name"`
	AccountType   escrow.AccountType `json:"account_type"`
	AccountNumber string             `json:"account_number"`
	HolderName    string             `json:"holder_name"`
}

// payeeBalanceJSON is what escrow owes one payee in one currency.
type payeeBalanceJSON struct {
	Object    string    `json:"object"` // "payee_balance"
	Email     string    `json:"email"`
	Available moneyJSON `json:"available"` // payable now: the next payout batch takes it
	InPayout  moneyJSON `json:"in_payout"` // held by payout batches not yet settled
}

// setBankAccount registers (or replaces) the bank account of one of the
// site's sellers. The names come back converted to half-width katakana; one
// that cannot be is invalid, naming its param.
func (s *Server) setBankAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", true); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	var in bankAccountCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Email == "" {
		return invalid("email", "email is required: the seller the account pays")
	}
	return keepInTx(s, w, r, func(ctx context.Context) (escrow.BankAccount, error) {
		return svc.SetBankAccount(ctx, dealActor(p), escrow.BankAccountParams{Email: in.Email, BankCode: in.BankCode,
			BankName: in.BankName, BranchCode: in.BranchCode, BranchName: in.BranchName, AccountType: in.AccountType,
			AccountNumber: in.AccountNumber, HolderName: in.HolderName})
	}, func(w http.ResponseWriter, b escrow.BankAccount) error {
		return writeJSON(w, http.StatusOK, toBankAccount(b))
	})
}

// getBankAccount reads a payee's bank account: one of the site's sellers',
// or anyone's for the operator. A payee who is not the site's reads as one
// without an account.
func (s *Server) getBankAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("escrow", false); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	b, err := svc.FindBankAccount(r.Context(), dealActor(p), r.PathValue("email"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBankAccount(b))
}

// getPayeeBalance answers what escrow owes a payee in ?currency=: the
// operator's admin key only. A payee escrow never owed anything has zero.
func (s *Server) getPayeeBalance(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireOperator(p, "read payee balances"); err != nil {
		return err
	}
	svc, err := s.escrowService()
	if err != nil {
		return err
	}
	email, cur := strings.ToLower(r.PathValue("email")), r.URL.Query().Get("currency")
	if cur == "" {
		return invalid("currency", "currency is required, e.g. ?currency=JPY")
	}
	available, inPayout, err := svc.Payable(r.Context(), dealActor(p), email, cur)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, payeeBalanceJSON{Object: "payee_balance", Email: email,
		Available: moneyJSON{Amount: available, Currency: cur}, InPayout: moneyJSON{Amount: inPayout, Currency: cur}})
}
