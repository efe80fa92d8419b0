package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
)

// The portal's payouts page: what escrow owes the user (released to them
// as a seller, refunded to them as a buyer), per currency, and the bank
// account payouts go to.

// balanceRow is the user's payable balance in one currency.
type balanceRow struct {
	Asset     money.Asset
	Available int64 // paid out in the next batch
	InPayout  int64 // in a batch the bank has not yet paid
}

// bankForm is the bank account form, as typed.
type bankForm struct {
	BankCode, BankName, BranchCode, BranchName, AccountType, AccountNumber, HolderName string
}

// payoutsData is the payouts page.
type payoutsData struct {
	Balances     []balanceRow
	Account      *escrow.BankAccount // nil until registered
	Form         bankForm
	AccountTypes []escrow.AccountType
	Error        message
	HolderMax    int
	BankNameMax  int
}

func (s *Server) payouts(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.renderPayouts(w, r, v, http.StatusOK, nil, message{})
}

// renderPayouts shows the payouts page; form (nil: the registered
// account's values) refills the bank account form after a refusal e.
func (s *Server) renderPayouts(w http.ResponseWriter, r *http.Request, v *visit, status int, form *bankForm, e message) error {
	ctx := r.Context()
	actor := userActor(v.user)
	cur, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	d := payoutsData{AccountTypes: []escrow.AccountType{escrow.AccountOrdinary, escrow.AccountChecking, escrow.AccountSavings},
		Error: e, HolderMax: escrow.HolderNameLenMax, BankNameMax: escrow.BankNameLenMax}
	for _, a := range cur {
		avail, inPayout, err := s.cfg.Escrow.Payable(ctx, actor, v.user.Email, a.Code)
		if err != nil {
			return err
		}
		if avail != 0 || inPayout != 0 || a.Code == "JPY" {
			d.Balances = append(d.Balances, balanceRow{Asset: a, Available: avail, InPayout: inPayout})
		}
	}
	acct, err := s.cfg.Escrow.FindBankAccount(ctx, actor, v.user.Email)
	switch {
	case err == nil:
		d.Account = &acct
		d.Form = bankForm{BankCode: acct.BankCode, BankName: acct.BankName, BranchCode: acct.BranchCode, BranchName: acct.BranchName,
			AccountType: string(acct.AccountType), AccountNumber: acct.AccountNumber, HolderName: acct.HolderName}
	case !apperr.Is(err, apperr.CodeNotFound):
		return err
	}
	if form != nil {
		d.Form = *form
	}
	if d.Form.AccountType == "" {
		d.Form.AccountType = string(escrow.AccountOrdinary)
	}
	return s.render(w, at(r, "/account/payouts"), v, status, "payouts", d)
}

// setBankAccount registers or replaces the user's payout account. Names are
// stored as the bank file writes them (half-width katakana), which the
// page then shows; a name with a character no bank transfer can carry is
// refused naming that character.
func (s *Server) setBankAccount(w http.ResponseWriter, r *http.Request, v *visit) error {
	pf := r.PostForm
	f := bankForm{BankCode: strings.TrimSpace(pf.Get("bank_code")), BankName: strings.TrimSpace(pf.Get("bank_name")),
		BranchCode: strings.TrimSpace(pf.Get("branch_code")), BranchName: strings.TrimSpace(pf.Get("branch_name")),
		AccountType: pf.Get("account_type"), AccountNumber: strings.TrimSpace(pf.Get("account_number")),
		HolderName: strings.TrimSpace(pf.Get("holder_name"))}
	_, err := s.cfg.Escrow.SetBankAccount(r.Context(), userActor(v.user), escrow.BankAccountParams{
		BankCode: f.BankCode, BankName: f.BankName, BranchCode: f.BranchCode, BranchName: f.BranchName,
		AccountType: escrow.AccountType(f.AccountType), AccountNumber: f.AccountNumber, HolderName: f.HolderName})
	if err == nil {
		return redirect(w, r, "/account/payouts?notice=saved")
	}
	m, status, ok := refusal(err)
	if !ok {
		return err
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		if field, value := kanaField(ae.Param, f); field.Key != "" {
			if c, bad := unwritable(value); bad {
				m = msg(msgFieldBadChar, field, c)
			}
		}
	}
	return s.renderPayouts(w, r, v, status, &f, m)
}

// kanaField returns the label and value of the name field param names.
func kanaField(param string, f bankForm) (message, string) {
	switch param {
	case "holder_name":
		return msg(msgFieldHolderName), f.HolderName
	case "bank_name":
		return msg(msgFieldBankName), f.BankName
	case "branch_name":
		return msg(msgFieldBranchName), f.BranchName
	}
	return message{}, ""
}

// unwritable returns the first character of s that has no form in a bank
// transfer's name field (bankfile.ToZenginKana, which escrow uses too).
func unwritable(s string) (string, bool) {
	for _, c := range s {
		if _, err := bankfile.ToZenginKana(string(c)); err != nil {
			return string(c), true
		}
	}
	return "", false
}
