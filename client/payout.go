package client

import (
	"context"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// Statement formats ImportStatement reads.
const (
	StatementZengin  = "zengin"  // Zengin 入出金取引明細
	StatementCamt053 = "camt053" // ISO 20022 camt.053
)

// Payout file formats GetPayoutFile writes.
const (
	PayoutFileZengin  = "zengin"  // Zengin 総合振込, Shift_JIS
	PayoutFilePain001 = "pain001" // ISO 20022 pain.001.001.09
)

// StatementFileBytesMax bounds the file ImportStatement sends (the server's
// bound): 8 MiB.
const StatementFileBytesMax = 8 << 20

// DepositImport is what importing a statement file did with each entry.
type DepositImport struct {
	Format      string        `json:"format"`
	Entries     int           `json:"entries"`     // money in and out
	Withdrawals int           `json:"withdrawals"` // money out, skipped
	Replayed    int           `json:"replayed"`    // credits recorded by an earlier import: nothing changed
	Counts      DepositCounts `json:"counts"`      // the credits this import recorded
	Deposits    []Deposit     `json:"deposits"`    // every credit, in file order
}

// DepositCounts counts the credits an import recorded by status.
type DepositCounts struct {
	Matched   int `json:"matched"`
	Partial   int `json:"partial"`
	Overpaid  int `json:"overpaid"`
	Unmatched int `json:"unmatched"`
	Late      int `json:"late"`
	Duplicate int `json:"duplicate"`
}

// BankAccount is where a payee's payouts go; names in half-width katakana.
type BankAccount struct {
	Email         string    `json:"email"`
	BankCode      string    `json:"bank_code"`
	BankName      string    `json:"bank_name"`
	BranchCode    string    `json:"branch_code"`
	BranchName    string    `json:"branch_name"`
	AccountType   string    `json:"account_type"` // ordinary, checking or savings
	AccountNumber string    `json:"account_number"`
	HolderName    string    `json:"holder_name"`
	Invalid       bool      `json:"invalid"` // a payout came back: register it again
	UpdatedAt     time.Time `json:"updated_at"`
}

// BankAccountParams registers a seller's bank account. Names may be in
// full-width katakana; the server converts them.
type BankAccountParams struct {
	Email         string `json:"email"`
	BankCode      string `json:"bank_code"`
	BankName      string `json:"bank_name"`
	BranchCode    string `json:"branch_code"`
	BranchName    string `json:"branch_name"`
	AccountType   string `json:"account_type"`
	AccountNumber string `json:"account_number"`
	HolderName    string `json:"holder_name"`
}

// PayeeBalance is what escrow owes one payee in one currency.
type PayeeBalance struct {
	Email     string `json:"email"`
	Available Money  `json:"available"` // the next payout batch takes it
	InPayout  Money  `json:"in_payout"` // held by batches not yet settled
}

// PayoutBatch is one bank file's worth of payouts. Lists leave Items empty.
type PayoutBatch struct {
	ID           string `json:"id"`
	Currency     string `json:"currency"`
	TransferDate string `json:"transfer_date"` // YYYY-MM-DD
	State        string `json:"state"`         // pending or settled
	Total        Money  `json:"total"`
	Count        int    `json:"count"`
	// ReturnedCount and ReturnedTotal are the items that came back
	// (振込不能): Total less ReturnedTotal is what the bank pays, or paid.
	ReturnedCount int          `json:"returned_count"`
	ReturnedTotal Money        `json:"returned_total"`
	CreatedAt     time.Time    `json:"created_at"`
	SettledAt     *time.Time   `json:"settled_at"`
	Items         []PayoutItem `json:"items"`
}

// PayoutItem is one payee's payout in a batch.
type PayoutItem struct {
	ID          string            `json:"id"`
	Seq         int               `json:"seq"`
	Email       string            `json:"email"`
	BankAccount PayoutBankAccount `json:"bank_account"`
	Amount      Money             `json:"amount"`
	State       string            `json:"state"`  // pending, settled or returned
	Reason      string            `json:"reason"` // why it came back
	UpdatedAt   time.Time         `json:"updated_at"`
}

// PayoutBankAccount is the account an item pays, with the last four digits
// of its number only.
type PayoutBankAccount struct {
	BankCode           string `json:"bank_code"`
	BranchCode         string `json:"branch_code"`
	AccountType        string `json:"account_type"`
	AccountNumberLast4 string `json:"account_number_last4"`
	HolderName         string `json:"holder_name"`
}

// PayoutBatchParams builds a batch: TransferDate is YYYY-MM-DD.
type PayoutBatchParams struct {
	Currency     string `json:"currency"`
	TransferDate string `json:"transfer_date"`
}

// PayoutFile is a batch's bank file, as the server named it.
type PayoutFile struct {
	Data        []byte
	ContentType string // text/plain; charset=Shift_JIS or application/xml
	Filename    string // from Content-Disposition, e.g. pb_…-zengin.txt
}

// ImportStatement records every credit of a bank statement file (format
// StatementZengin or StatementCamt053) as a deposit, matched to deals (the
// operator's admin key). Importing the same file again changes nothing:
// its credits come back as replays.
func (c *Client) ImportStatement(ctx context.Context, format string, file []byte, opts ...CallOption) (DepositImport, error) {
	body := map[string]string{"format": format, "file": base64.StdEncoding.EncodeToString(file)}
	var out DepositImport
	_, err := c.do(ctx, http.MethodPost, "/v1/deposits/imports", nil, body, &out, opts...)
	return out, err
}

// SetBankAccount registers (or replaces) a seller's bank account
// (escrow:write, for a seller of one of the site's deals).
func (c *Client) SetBankAccount(ctx context.Context, p BankAccountParams, opts ...CallOption) (BankAccount, error) {
	var out BankAccount
	_, err := c.do(ctx, http.MethodPost, "/v1/bank_accounts", nil, p, &out, opts...)
	return out, err
}

// GetBankAccount reads a payee's bank account.
func (c *Client) GetBankAccount(ctx context.Context, email string) (BankAccount, error) {
	var out BankAccount
	_, err := c.do(ctx, http.MethodGet, "/v1/bank_accounts/"+url.PathEscape(email), nil, nil, &out)
	return out, err
}

// GetPayeeBalance reads what escrow owes a payee in currency (the
// operator's admin key).
func (c *Client) GetPayeeBalance(ctx context.Context, email, currency string) (PayeeBalance, error) {
	var out PayeeBalance
	_, err := c.do(ctx, http.MethodGet, "/v1/payees/"+url.PathEscape(email)+"/balance", url.Values{"currency": {currency}}, nil, &out)
	return out, err
}

func payoutBatchPath(id string, rest ...string) string {
	return objectPath("/v1/payout_batches", id, rest...)
}

// BuildPayoutBatch gathers everything payable in a currency into a batch
// (the operator's admin key). Nothing to pay is an *Error with code
// "nothing_to_pay".
func (c *Client) BuildPayoutBatch(ctx context.Context, p PayoutBatchParams, opts ...CallOption) (PayoutBatch, error) {
	var out PayoutBatch
	_, err := c.do(ctx, http.MethodPost, "/v1/payout_batches", nil, p, &out, opts...)
	return out, err
}

// ListPayoutBatches reads one page of batches, newest first, without items.
func (c *Client) ListPayoutBatches(ctx context.Context, p ListParams) (Page[PayoutBatch], error) {
	var out Page[PayoutBatch]
	_, err := c.do(ctx, http.MethodGet, "/v1/payout_batches", p.query(), nil, &out)
	return out, err
}

// GetPayoutBatch reads one batch with its items.
func (c *Client) GetPayoutBatch(ctx context.Context, id string) (PayoutBatch, error) {
	var out PayoutBatch
	_, err := c.do(ctx, http.MethodGet, payoutBatchPath(id), nil, nil, &out)
	return out, err
}

// GetPayoutFile downloads a batch's bank file (format PayoutFileZengin or
// PayoutFilePain001), its bytes as the bank takes them.
func (c *Client) GetPayoutFile(ctx context.Context, id, format string) (PayoutFile, error) {
	var rb rawBody
	_, err := c.do(ctx, http.MethodGet, payoutBatchPath(id, "file"), url.Values{"format": {format}}, nil, &rb)
	if err != nil {
		return PayoutFile{}, err
	}
	f := PayoutFile{Data: rb.data, ContentType: rb.header.Get("Content-Type")}
	if _, params, err := mime.ParseMediaType(rb.header.Get("Content-Disposition")); err == nil {
		f.Filename = params["filename"]
	}
	return f, nil
}

// SettlePayoutBatch records that the bank paid the batch.
func (c *Client) SettlePayoutBatch(ctx context.Context, id string, opts ...CallOption) (PayoutBatch, error) {
	var out PayoutBatch
	_, err := c.do(ctx, http.MethodPost, payoutBatchPath(id, "settle"), nil, struct{}{}, &out, opts...)
	return out, err
}

// ReturnPayoutItem records that the bank could not pay one item: its money
// is available to the payee again.
func (c *Client) ReturnPayoutItem(ctx context.Context, batchID, itemID, reason string, opts ...CallOption) (PayoutBatch, error) {
	var out PayoutBatch
	_, err := c.do(ctx, http.MethodPost, payoutBatchPath(batchID, "items", url.PathEscape(itemID), "return"), nil,
		map[string]string{"reason": reason}, &out, opts...)
	return out, err
}
