package escrow

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/bankfile"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

// AccountType is a Japanese bank account's kind (預金種目).
type AccountType string

const (
	AccountOrdinary AccountType = "ordinary" // 普通
	AccountChecking AccountType = "checking" // 当座
	AccountSavings  AccountType = "savings"  // 貯蓄
)

// Bounds of payouts.
const (
	PayoutItemsMax   = 200 // items in one batch (each is one ledger hold in the batch's transaction)
	HolderNameLenMax = 30  // the Zengin recipient name field, in half-width characters
	BankNameLenMax   = 15
	ReturnReasonMax  = 200
	// PayoutTransferDaysMax is how far ahead a batch's transfer date may
	// lie: banks take a designated date about a month ahead, and a Zengin
	// file's MMDD is ambiguous past a year.
	PayoutTransferDaysMax = 60
)

// BankAccount is where a payee's payouts go.
type BankAccount struct {
	Email         string // the payee, lower case
	BankCode      string // 4 digits
	BankName      string // half-width katakana, as the bank file needs it
	BranchCode    string // 3 digits
	BranchName    string
	AccountType   AccountType
	AccountNumber string // 7 digits
	HolderName    string // half-width katakana (Zengin character set)
	// Invalid is set when a payout to the account came back (振込不能): no
	// payout goes to it until the payee registers an account again.
	Invalid   bool
	UpdatedAt time.Time
	// RegisteredBy is who registered it: RegisteredByPayee, or the id of
	// the site that did, which alone may replace it; "" for an account
	// registered before this was recorded, treated as the payee's.
	RegisteredBy string
}

// RegisteredByPayee marks an account the payee registered themself.
const RegisteredByPayee = "payee"

// Fingerprint identifies the account itself, whoever registered it.
func (b BankAccount) Fingerprint() string {
	return b.BankCode + "-" + b.BranchCode + "-" + b.AccountNumber
}

// KanaFunc converts a name to the half-width katakana a Zengin file
// carries, or fails naming the character it cannot represent. The bank
// file codecs provide it; nil accepts printable ASCII only.
type KanaFunc func(string) (string, error)

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validate checks b and converts its names with kana.
func (b *BankAccount) validate(kana KanaFunc) error {
	if kana == nil {
		kana = func(s string) (string, error) {
			for _, r := range s {
				if r < 0x20 || r > 0x7e {
					return "", apperr.Invalid("holder_name", "%q cannot go in a bank file", r)
				}
			}
			return strings.ToUpper(s), nil
		}
	}
	switch {
	case !digits(b.BankCode, 4):
		return apperr.Invalid("bank_code", "four digits")
	case !digits(b.BranchCode, 3):
		return apperr.Invalid("branch_code", "three digits")
	case !digits(b.AccountNumber, 7):
		return apperr.Invalid("account_number", "seven digits")
	case b.AccountType != AccountOrdinary && b.AccountType != AccountChecking && b.AccountType != AccountSavings:
		return apperr.Invalid("account_type", "ordinary, checking or savings")
	}
	for _, f := range []struct {
		param string
		v     *string
		max   int
	}{{"holder_name", &b.HolderName, HolderNameLenMax}, {"bank_name", &b.BankName, BankNameLenMax}, {"branch_name", &b.BranchName, BankNameLenMax}} {
		if strings.TrimSpace(*f.v) == "" {
			return apperr.Invalid(f.param, "required")
		}
		k, err := kana(*f.v)
		if err != nil {
			if ae, ok := err.(*apperr.Error); ok {
				ae.Param = f.param
				return ae
			}
			return apperr.Invalid(f.param, "%s", err.Error())
		}
		if utf8.RuneCountInString(k) > f.max {
			return apperr.Invalid(f.param, "at most %d characters in half-width katakana", f.max)
		}
		*f.v = k
	}
	return nil
}

// PayoutState is where a batch or an item is.
type PayoutState string

const (
	PayoutPending  PayoutState = "pending"  // built and exported; the money is held on the payable balance
	PayoutSettled  PayoutState = "settled"  // the bank paid it
	PayoutReturned PayoutState = "returned" // item only: the transfer came back (振込不能); the money is payable again
)

// PayoutBatch is one bank file's worth of payouts.
type PayoutBatch struct {
	ID           string // "pb_…"
	Currency     string
	TransferDate time.Time // the day the bank is asked to pay (UTC midnight of the date)
	State        PayoutState
	Total        int64
	Count        int
	CreatedBy    string // staff id
	CreatedAt    time.Time
	SettledAt    *time.Time
	Items        []PayoutItem
}

// PayoutItem is one payee's payout in a batch.
type PayoutItem struct {
	ID         string // "pi_…"
	BatchID    string
	Seq        int // 1.. within the batch: its record order in the bank file
	Account    BankAccount
	Amount     int64
	TransferID int64 // the ledger hold on the payee's payable balance
	State      PayoutState
	Reason     string // why it came back
	UpdatedAt  time.Time
}

// BankAccountParams registers a payee's bank account.
type BankAccountParams struct {
	Email         string // a site names its seller; a portal user registers their own
	BankCode      string
	BankName      string
	BranchCode    string
	BranchName    string
	AccountType   AccountType
	AccountNumber string
	HolderName    string
}

// SetBankAccount registers (or replaces) where a payee's payouts go: a
// portal user for themselves, a site for a party of one of its deals (a
// seller, or a buyer whom a refund left money to pay out). A
// payee's payable balance is one, whichever sites their deals came from,
// so a site may replace only an account it registered itself: never one the
// payee or another site registered, or another site could send a payee's
// money wherever it liked.
//
// Errors: invalid, forbidden (a site replacing an account it did not
// register, or registering the first for a payee other sites' deals have
// paid too), not_found.
func (s *Service) SetBankAccount(ctx context.Context, actor Actor, p BankAccountParams) (BankAccount, error) {
	switch actor.Kind {
	case ActorUser:
		if p.Email == "" {
			p.Email = actor.Email
		}
		if !sameEmail(p.Email, actor.Email) {
			return BankAccount{}, apperr.New(apperr.CodeForbidden, "a portal user registers their own bank account")
		}
	case ActorOrg:
	default:
		return BankAccount{}, apperr.New(apperr.CodeForbidden, "a payee or their site registers bank accounts")
	}
	b := BankAccount{Email: strings.ToLower(p.Email), BankCode: p.BankCode, BankName: p.BankName, BranchCode: p.BranchCode,
		BranchName: p.BranchName, AccountType: p.AccountType, AccountNumber: p.AccountNumber, HolderName: p.HolderName}
	if !validEmail(b.Email) {
		return BankAccount{}, apperr.Invalid("email", "a plain email address")
	}
	if err := b.validate(s.cfg.Kana); err != nil {
		return BankAccount{}, err
	}
	b.RegisteredBy = RegisteredByPayee
	if actor.Kind == ActorOrg {
		b.RegisteredBy = actor.ID
	}
	keep := idempotency.KeepOf(ctx)
	err := s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		if actor.Kind == ActorOrg {
			ok, err := tx.OrgHasParty(ctx, actor.ID, b.Email)
			if err != nil {
				return err
			}
			if !ok {
				return apperr.NotFound("seller or buyer")
			}
			old, err := tx.BankAccountForUpdate(ctx, b.Email)
			switch {
			case err == nil && old.RegisteredBy != actor.ID:
				return apperr.New(apperr.CodeForbidden, "this payee's bank account was registered by the payee or another site; only they may change it")
			case apperr.Is(err, apperr.CodeNotFound):
				// The first account of a payee whom another site's deals
				// have paid too (as seller, or buyer refunded) is theirs to
				// register: the balance is one.
				other, err := tx.OtherOrgHasParty(ctx, actor.ID, b.Email)
				if err != nil {
					return err
				}
				if other {
					return apperr.New(apperr.CodeForbidden, "other sites' deals have paid this payee too; they register their bank account themselves, in the portal")
				}
			case err != nil:
				return err
			}
		}
		b.UpdatedAt = s.now()
		if err := tx.BankAccountUpsert(ctx, b); err != nil {
			return err
		}
		if err := idempotency.RunKeep(ctx, keep, tx, b); err != nil {
			return err
		}
		org := ""
		if actor.Kind == ActorOrg {
			org = actor.ID
		}
		return record(ctx, tx, b.UpdatedAt, actor, "payee.bank_account_set", "payee", b.Email, org,
			map[string]any{"bank_code": b.BankCode, "branch_code": b.BranchCode, "account_last4": b.AccountNumber[3:]})
	})
	if err != nil {
		return BankAccount{}, fmt.Errorf("escrow: set bank account: %w", err)
	}
	return b, nil
}

// FindBankAccount returns a payee's bank account: a user's own, or, for a
// site, one it registered for one of its sellers (another site's, or the
// payee's own, is not found: naming someone as seller shows nothing of it).
//
// Errors: not_found.
func (s *Service) FindBankAccount(ctx context.Context, actor Actor, email string) (BankAccount, error) {
	email = strings.ToLower(email)
	switch actor.Kind {
	case ActorUser:
		if !sameEmail(email, actor.Email) {
			return BankAccount{}, apperr.NotFound("bank account")
		}
	case ActorOrg:
		var ok bool
		err := s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
			var err error
			ok, err = tx.OrgHasParty(ctx, actor.ID, email)
			return err
		})
		if err != nil {
			return BankAccount{}, err
		}
		if !ok {
			return BankAccount{}, apperr.NotFound("bank account")
		}
	case ActorStaff, ActorSystem:
	default:
		return BankAccount{}, apperr.NotFound("bank account")
	}
	b, err := s.cfg.Store.BankAccountByEmail(ctx, email)
	if err == nil && actor.Kind == ActorOrg && b.RegisteredBy != actor.ID {
		return BankAccount{}, apperr.NotFound("bank account")
	}
	return b, err
}

// Payable returns what escrow owes the payee with email in currency:
// available (posted, less payouts in progress) and pending payouts.
//
// Errors: not_found, forbidden, invalid (currency).
func (s *Service) Payable(ctx context.Context, actor Actor, email, currency string) (available, inPayout int64, err error) {
	if actor.Kind == ActorUser && !sameEmail(email, actor.Email) {
		return 0, 0, apperr.NotFound("payable balance")
	}
	if actor.Kind == ActorOrg {
		return 0, 0, apperr.New(apperr.CodeForbidden, "a payee's balance is theirs and the operator's")
	}
	if money.ValidateCode(currency) != nil {
		return 0, 0, apperr.Invalid("currency", "%q is not a currency code", currency)
	}
	a, err := s.cfg.Store.AccountByReference(ctx, LedgerOwner, PayableReference(email, currency))
	if apperr.Is(err, apperr.CodeNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return availableToPay(a), a.DebitsPending, nil
}

func requireFinance(actor Actor) error {
	if actor.Kind != ActorStaff || (actor.Role != "finance" && actor.Role != "admin") {
		return apperr.New(apperr.CodeForbidden, "only finance staff handle payouts")
	}
	return nil
}

// payoutBounds are the largest payout item and batch total of currency: for
// JPY, what a Zengin 総合振込 file carries (a larger balance is paid over
// several batches); no bound otherwise.
func payoutBounds(currency string) (item, total int64) {
	if currency == "JPY" {
		return bankfile.TransferAmountMax, bankfile.TransferTotalMax
	}
	return math.MaxInt64, math.MaxInt64
}

// BuildPayoutBatch gathers, in one transaction, every payee with a valid
// bank account and an available payable balance in currency (up to
// PayoutItemsMax, oldest registrations first) into a batch: each item
// holds its amount on the payee's payable balance (a pending ledger
// transfer to the bank account) until the batch settles or the item comes
// back. An item pays at most, and the batch totals at most, what the
// currency's payout file carries (payoutBounds); the rest waits for the
// next batch. A batch with nothing to pay is not created.
//
// Errors: forbidden, invalid, not_found (nothing to pay).
func (s *Service) BuildPayoutBatch(ctx context.Context, actor Actor, currency string, transferDate time.Time) (PayoutBatch, error) {
	if err := requireFinance(actor); err != nil {
		return PayoutBatch{}, err
	}
	if money.ValidateCode(currency) != nil {
		return PayoutBatch{}, apperr.Invalid("currency", "%q is not a currency code", currency)
	}
	if transferDate.IsZero() {
		return PayoutBatch{}, apperr.Invalid("transfer_date", "the date the bank pays is required")
	}
	// A date past or far off is a mistake the bank refuses, or (a Zengin
	// file carries the month and day alone) reads as another year; the
	// batch would hold every payee's money meanwhile. Today is UTC's, the
	// earliest date in Japan's time zone.
	today := s.now().UTC().Truncate(24 * time.Hour)
	day := time.Date(transferDate.Year(), transferDate.Month(), transferDate.Day(), 0, 0, 0, 0, time.UTC)
	if day.Before(today) || day.After(today.AddDate(0, 0, PayoutTransferDaysMax)) {
		return PayoutBatch{}, apperr.Invalid("transfer_date", "the date the bank pays must be from today (%s) to %d days ahead",
			today.Format(time.DateOnly), PayoutTransferDaysMax)
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, changeAccountsMax, PayoutItemsMax)
	if err != nil {
		return PayoutBatch{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var out PayoutBatch
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		payees, accts, err := payeesToPay(ctx, tx, currency)
		if err != nil {
			return err
		}
		reqs := accountRequests(Deal{Currency: currency})
		bank, err := w.OpenAccounts(ctx, tx, now, reqs[acctBank:acctBank+1])
		if err != nil {
			return err
		}
		b := PayoutBatch{ID: newID("pb_"), Currency: currency, State: PayoutPending, CreatedBy: actor.ID, CreatedAt: now,
			TransferDate: time.Date(transferDate.Year(), transferDate.Month(), transferDate.Day(), 0, 0, 0, 0, time.UTC)}
		var trs []ledger.TransferRequest
		itemMax, totalMax := payoutBounds(currency)
		for i, p := range payees {
			a := accts[i]
			avail := min(availableToPay(a), itemMax)
			if avail > totalMax-b.Total {
				continue // the next batch pays it
			}
			it := PayoutItem{ID: newID("pi_"), BatchID: b.ID, Seq: len(b.Items) + 1, Account: p, Amount: avail, State: PayoutPending, UpdatedAt: now}
			b.Items = append(b.Items, it)
			trs = append(trs, ledger.TransferRequest{Owner: LedgerOwner, Reference: "escrow:payout:" + it.ID, Kind: ledger.KindPending,
				DebitAccountID: a.ID, CreditAccountID: bank[0].ID, Amount: avail, Asset: currency, Code: "escrow_payout",
				Metadata: map[string]string{"payout_batch": b.ID, "payout_item": it.ID}})
			b.Total += avail
		}
		if len(b.Items) == 0 {
			return apperr.NotFound("payable balance to pay out")
		}
		b.Count = len(b.Items)
		res, err := w.Transfer(ctx, tx, now, trs)
		if err != nil {
			return err
		}
		if err := ledger.Rejection(res); err != nil {
			return fmt.Errorf("escrow: ledger refused a payout hold: %w", err)
		}
		for i := range b.Items {
			b.Items[i].TransferID = res[i].Transfer.ID
		}
		if err := tx.PayoutBatchInsert(ctx, b); err != nil {
			return err
		}
		out = b
		if err := idempotency.RunKeep(ctx, keep, tx, b); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, "payout_batch.built", "payout_batch", b.ID, "", map[string]any{"count": b.Count, "total": b.Total, "currency": b.Currency})
	})
	if err != nil {
		return PayoutBatch{}, fmt.Errorf("escrow: build payout batch: %w", err)
	}
	return out, nil
}

// payeesToPay returns, oldest registration first, up to PayoutItemsMax
// payees with a valid bank account and money available in currency, with
// their payable accounts. A payee whose account a site registered is
// passed over once other sites' deals have paid them too. It reads the accounts a page at a time, so that
// payees with nothing to pay at the front never hide those behind them.
//
// Errors: not_found (no valid bank account at all).
func payeesToPay(ctx context.Context, tx Tx, currency string) ([]BankAccount, []ledger.Account, error) {
	var payees []BankAccount
	var accts []ledger.Account
	var after *BankAccount
	seen := map[string]bool{} // an account updated meanwhile may come round again (READ COMMITTED)
	for len(payees) < PayoutItemsMax {
		page, err := tx.BankAccountsForPayout(ctx, after, PayoutItemsMax)
		if err != nil {
			return nil, nil, err
		}
		if len(page) == 0 && after == nil {
			return nil, nil, apperr.NotFound("payee with a bank account")
		}
		keys := make([]ledger.RefKey, len(page))
		for i, p := range page {
			keys[i] = ledger.RefKey{Owner: LedgerOwner, Reference: PayableReference(p.Email, currency)}
		}
		found, err := tx.AccountsByReference(ctx, keys)
		if err != nil {
			return nil, nil, err
		}
		byRef := map[string]ledger.Account{}
		for _, a := range found {
			byRef[a.Reference] = a
		}
		for _, p := range page {
			a, ok := byRef[PayableReference(p.Email, currency)]
			if !ok || availableToPay(a) <= 0 || len(payees) >= PayoutItemsMax || seen[p.Email] {
				continue
			}
			seen[p.Email] = true
			if p.RegisteredBy != RegisteredByPayee && p.RegisteredBy != "" {
				// A site registered it; if other sites' deals paid the payee
				// too, their money is not the site's to direct: the payee
				// waits until they register an account themselves.
				other, err := tx.OtherOrgHasParty(ctx, p.RegisteredBy, p.Email)
				if err != nil {
					return nil, nil, err
				}
				if other {
					continue
				}
			}
			payees, accts = append(payees, p), append(accts, a)
		}
		if len(page) < PayoutItemsMax {
			break
		}
		after = &page[len(page)-1]
	}
	return payees, accts, nil
}

// availableToPay is what a payable account may pay out: posted credits less
// posted debits and what pending payouts hold.
func availableToPay(a ledger.Account) int64 {
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending
}

// SettlePayoutBatch records that the bank paid the batch: every item still
// pending is posted (the hold becomes a debit of the payable balance).
// Items that came back stay returned.
//
// Errors: forbidden, not_found, conflict (already settled).
func (s *Service) SettlePayoutBatch(ctx context.Context, actor Actor, id string) (PayoutBatch, error) {
	if err := requireFinance(actor); err != nil {
		return PayoutBatch{}, err
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, 0, PayoutItemsMax)
	if err != nil {
		return PayoutBatch{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var out PayoutBatch
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		b, err := tx.PayoutBatchForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if b.State != PayoutPending {
			return apperr.New(apperr.CodeConflict, "payout batch %s is %s", id, b.State)
		}
		var trs []ledger.TransferRequest
		var idx []int
		for i, it := range b.Items {
			if it.State == PayoutPending {
				trs = append(trs, ledger.TransferRequest{Owner: LedgerOwner, Reference: "escrow:payout:" + it.ID + ":settle",
					Kind: ledger.KindPost, PendingID: it.TransferID, Amount: it.Amount})
				idx = append(idx, i)
			}
		}
		res, err := w.Transfer(ctx, tx, now, trs)
		if err != nil {
			return err
		}
		if err := ledger.Rejection(res); err != nil {
			return fmt.Errorf("escrow: ledger refused to post a payout: %w", err)
		}
		for _, i := range idx {
			b.Items[i].State, b.Items[i].UpdatedAt = PayoutSettled, now
			if err := tx.PayoutItemUpdate(ctx, b.Items[i]); err != nil {
				return err
			}
		}
		b.State, b.SettledAt = PayoutSettled, &now
		if err := tx.PayoutBatchUpdate(ctx, b); err != nil {
			return err
		}
		out = b
		if err := idempotency.RunKeep(ctx, keep, tx, b); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, "payout_batch.settled", "payout_batch", b.ID, "", map[string]any{"items_settled": len(idx)})
	})
	if err != nil {
		return PayoutBatch{}, fmt.Errorf("escrow: settle payout batch %s: %w", id, err)
	}
	return out, nil
}

// ReturnPayoutItem records that one payout came back (振込不能): the money
// is available on the payee's payable balance again, and their bank account
// is marked invalid until they register one again. An item of a pending
// batch has its hold voided; one the batch settled (the bank's notice came
// later) is paid back by a transfer from the operator's bank account, into
// which the money came back.
//
// Errors: forbidden, invalid, not_found, conflict (already returned).
func (s *Service) ReturnPayoutItem(ctx context.Context, actor Actor, batchID, itemID, reason string) (PayoutBatch, error) {
	if err := requireFinance(actor); err != nil {
		return PayoutBatch{}, err
	}
	if strings.TrimSpace(reason) == "" || !validText(reason, ReturnReasonMax) {
		return PayoutBatch{}, apperr.Invalid("reason", "why it came back, at most %d bytes", ReturnReasonMax)
	}
	w, err := s.cfg.Ledger.NewWriter(ctx, 0, 1)
	if err != nil {
		return PayoutBatch{}, err
	}
	keep := idempotency.KeepOf(ctx)
	var out PayoutBatch
	err = s.cfg.Store.EscrowTransact(ctx, func(tx Tx) error {
		w.Begin()
		now := s.now()
		b, err := tx.PayoutBatchForUpdate(ctx, batchID)
		if err != nil {
			return err
		}
		i := -1
		for j, it := range b.Items {
			if it.ID == itemID {
				i = j
			}
		}
		if i < 0 {
			return apperr.NotFound("payout item")
		}
		it := &b.Items[i]
		back := ledger.TransferRequest{Owner: LedgerOwner, Reference: "escrow:payout:" + it.ID + ":return", Kind: ledger.KindVoid, PendingID: it.TransferID}
		switch it.State {
		case PayoutPending:
		case PayoutSettled:
			keys := []ledger.RefKey{{Owner: LedgerOwner, Reference: "escrow:bank:" + b.Currency},
				{Owner: LedgerOwner, Reference: PayableReference(it.Account.Email, b.Currency)}}
			accts, err := tx.AccountsByReference(ctx, keys)
			if err != nil {
				return err
			}
			ids := map[string]int64{}
			for _, a := range accts {
				ids[a.Reference] = a.ID
			}
			if ids[keys[0].Reference] == 0 || ids[keys[1].Reference] == 0 {
				return fmt.Errorf("escrow: return payout item %s: its bank or payable account is missing", it.ID)
			}
			back = ledger.TransferRequest{Owner: LedgerOwner, Reference: back.Reference, DebitAccountID: ids[keys[0].Reference],
				CreditAccountID: ids[keys[1].Reference], Amount: it.Amount, Asset: b.Currency, Code: "escrow_payout_return",
				Metadata: map[string]string{"payout_batch": b.ID, "payout_item": it.ID}}
		default:
			return apperr.New(apperr.CodeConflict, "payout item %s is %s", itemID, it.State)
		}
		res, err := w.Transfer(ctx, tx, now, []ledger.TransferRequest{back})
		if err != nil {
			return err
		}
		if err := ledger.Rejection(res); err != nil {
			return fmt.Errorf("escrow: ledger refused to pay back a payout: %w", err)
		}
		settled := it.State == PayoutSettled
		it.State, it.Reason, it.UpdatedAt = PayoutReturned, reason, now
		if err := tx.PayoutItemUpdate(ctx, *it); err != nil {
			return err
		}
		if err := tx.PayoutBatchUpdate(ctx, b); err != nil {
			return err
		}
		if err := tx.BankAccountInvalidate(ctx, it.Account.Email, it.Account.Fingerprint(), now); err != nil {
			return err
		}
		out = b
		if err := idempotency.RunKeep(ctx, keep, tx, b); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, "payout_item.returned", "payout_batch", b.ID, "", map[string]any{"item": it.ID, "amount": it.Amount, "reason": reason, "after_settlement": settled})
	})
	if err != nil {
		return PayoutBatch{}, fmt.Errorf("escrow: return payout item %s: %w", itemID, err)
	}
	return out, nil
}

// FindPayoutBatch returns a batch with its items, for finance staff.
//
// Errors: forbidden, not_found.
func (s *Service) FindPayoutBatch(ctx context.Context, actor Actor, id string) (PayoutBatch, error) {
	if err := requireFinance(actor); err != nil {
		return PayoutBatch{}, err
	}
	return s.cfg.Store.PayoutBatchByID(ctx, id)
}

// FindPayoutBatches lists batches, newest first, without their items.
//
// Errors: forbidden, invalid.
func (s *Service) FindPayoutBatches(ctx context.Context, actor Actor, afterID string, limit int) ([]PayoutBatch, error) {
	if err := requireFinance(actor); err != nil {
		return nil, err
	}
	if limit < 1 || limit > PageLimitMax {
		return nil, apperr.Invalid("limit", "between 1 and %d", PageLimitMax)
	}
	return s.cfg.Store.PayoutBatchList(ctx, afterID, limit)
}
