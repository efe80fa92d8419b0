package api

import (
	"context"
	"net/http"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/ledger"
)

type accountJSON struct {
	Object                     string      `json:"object"` // "account"
	ID                         string      `json:"id"`
	Reference                  string      `json:"reference"`
	Currency                   string      `json:"currency"`
	Code                       string      `json:"code"`
	DebitsMustNotExceedCredits bool        `json:"debits_must_not_exceed_credits"`
	CreditsMustNotExceedDebits bool        `json:"credits_must_not_exceed_debits"`
	Limit                      int64       `json:"limit"`
	Balance                    balanceJSON `json:"balance"`
	CreatedAt                  time.Time   `json:"created_at"`
}

// balanceJSON holds an account's four totals in minor units of its currency.
type balanceJSON struct {
	Object         string    `json:"object"` // "balance"
	Account        string    `json:"account"`
	Currency       string    `json:"currency"`
	DebitsPosted   int64     `json:"debits_posted"`
	CreditsPosted  int64     `json:"credits_posted"`
	DebitsPending  int64     `json:"debits_pending"`
	CreditsPending int64     `json:"credits_pending"`
	At             time.Time `json:"at,omitzero"`
}

func toBalance(b ledger.Balance) balanceJSON {
	return balanceJSON{Object: "balance", Account: formatID(prefixAccount, b.AccountID), Currency: b.Asset,
		DebitsPosted: b.DebitsPosted, CreditsPosted: b.CreditsPosted, DebitsPending: b.DebitsPending, CreditsPending: b.CreditsPending, At: b.At}
}

func toAccount(a ledger.Account) accountJSON {
	return accountJSON{Object: "account", ID: formatID(prefixAccount, a.ID), Reference: a.Reference, Currency: a.Asset, Code: a.Code,
		DebitsMustNotExceedCredits: a.DebitsMustNotExceedCredits, CreditsMustNotExceedDebits: a.CreditsMustNotExceedDebits,
		Limit: a.Limit, Balance: toBalance(a.Balance()), CreatedAt: a.CreatedAt}
}

type accountCreate struct {
	Reference                  string `json:"reference"`
	Currency                   string `json:"currency"`
	Code                       string `json:"code"`
	DebitsMustNotExceedCredits bool   `json:"debits_must_not_exceed_credits"`
	CreditsMustNotExceedDebits bool   `json:"credits_must_not_exceed_debits"`
	Limit                      int64  `json:"limit"`
}

// accountKeyedInTx is the account route in keyedInTx.
var accountKeyedInTx = []string{"POST /v1/accounts"}

// createAccount opens an account for the caller's organization. Creating the
// same reference again returns the account (200); with other fields, 409.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("accounts", true); err != nil {
		return err
	}
	var in accountCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	req := ledger.AccountRequest{Owner: p.OrgID, Reference: in.Reference, Asset: in.Currency, Code: in.Code,
		DebitsMustNotExceedCredits: in.DebitsMustNotExceedCredits, CreditsMustNotExceedDebits: in.CreditsMustNotExceedDebits, Limit: in.Limit}
	return keepInTx(s, w, r, func(ctx context.Context) (ledger.OpenedAccount, error) {
		a, created, err := s.cfg.Ledger.CreateAccount(ctx, req)
		return ledger.OpenedAccount{Account: a, Created: created}, unindexParam(err)
	}, func(w http.ResponseWriter, o ledger.OpenedAccount) error {
		status := http.StatusOK
		if o.Created {
			status = http.StatusCreated
		}
		return writeJSON(w, status, toAccount(o.Account))
	})
}

// unindexParam turns the ledger's "accounts[0].field" param into "field"
// for a single-account request, and "asset" into the API's "currency".
func unindexParam(err error) error {
	if ae, ok := err.(*apperr.Error); ok && len(ae.Param) > 12 && ae.Param[:12] == "accounts[0]." {
		c := *ae
		c.Param = ae.Param[12:]
		if c.Param == "asset" {
			c.Param = "currency"
		}
		return &c
	}
	return err
}

// account finds an account of the caller's organization; another's reads as
// not found.
func (s *Server) account(r *http.Request, p auth.Principal) (ledger.Account, error) {
	id, err := pathID(prefixAccount, r.PathValue("id"))
	if err != nil {
		return ledger.Account{}, err
	}
	a, err := s.cfg.Ledger.FindAccountByID(r.Context(), id)
	if err != nil {
		return a, err
	}
	if a.Owner != p.OrgID {
		return ledger.Account{}, apperr.NotFound("account")
	}
	return a, nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("accounts", false); err != nil {
		return err
	}
	a, err := s.account(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAccount(a))
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("accounts", false); err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixAccount)
	if err != nil {
		return err
	}
	accounts, err := s.cfg.Ledger.FindAccounts(r.Context(), ledger.AccountFilter{Owner: p.OrgID, AfterID: after, Limit: limit + 1})
	if err != nil {
		return err
	}
	out := make([]accountJSON, len(accounts))
	for i, a := range accounts {
		out[i] = toAccount(a)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

// getBalance answers the account's balance now, or at ?at= (RFC 3339),
// recomputed from its transfers.
func (s *Server) getBalance(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("accounts", false); err != nil {
		return err
	}
	a, err := s.account(r, p)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if !q.Has("at") {
		b := toBalance(a.Balance())
		b.At = time.Now().UTC()
		return writeJSON(w, http.StatusOK, b)
	}
	at, err := time.Parse(time.RFC3339Nano, q.Get("at"))
	switch {
	case err != nil:
		return apperr.Invalid("at", "at must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z; leave it out for the balance now")
	case at.Year() < 1970:
		return apperr.Invalid("at", "at must be in 1970 or later")
	case at.After(time.Now()):
		// What a balance will be is not known; one labelled so would be
		// today's under a future date.
		return apperr.Invalid("at", "at must not be in the future; leave it out for the balance now")
	}
	b, err := s.cfg.Ledger.BalanceAt(r.Context(), a.ID, at)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toBalance(b))
}

func (s *Server) listAccountTransfers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("transfers", false); err != nil {
		return err
	}
	a, err := s.account(r, p)
	if err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixTransfer)
	if err != nil {
		return err
	}
	ts, err := s.cfg.Ledger.FindTransfersByAccount(r.Context(), ledger.TransferFilter{AccountID: a.ID, AfterID: after, Limit: limit + 1})
	if err != nil {
		return err
	}
	out := make([]transferJSON, len(ts))
	for i, t := range ts {
		out[i] = toTransfer(t)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}

func invalid(param, format string, args ...any) error { return apperr.Invalid(param, format, args...) }
