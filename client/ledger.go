package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func (p ListParams) query() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.StartingAfter != "" {
		q.Set("starting_after", p.StartingAfter)
	}
	return q
}

// CreateAsset configures an asset (operator keys only).
func (c *Client) CreateAsset(ctx context.Context, a Asset, opts ...CallOption) (Asset, error) {
	var out Asset
	_, err := c.do(ctx, http.MethodPost, "/v1/assets", nil, a, &out, opts...)
	return out, err
}

// ListAssets lists every asset.
func (c *Client) ListAssets(ctx context.Context) ([]Asset, error) {
	var out Page[Asset]
	_, err := c.do(ctx, http.MethodGet, "/v1/assets", nil, nil, &out)
	return out.Data, err
}

// CreateAccount opens an account; the same reference again returns it.
func (c *Client) CreateAccount(ctx context.Context, p AccountParams, opts ...CallOption) (Account, Response, error) {
	var out Account
	res, err := c.do(ctx, http.MethodPost, "/v1/accounts", nil, p, &out, opts...)
	return out, res, err
}

// GetAccount reads one account.
func (c *Client) GetAccount(ctx context.Context, id string) (Account, error) {
	var out Account
	_, err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// ListAccounts reads one page of the organization's accounts.
func (c *Client) ListAccounts(ctx context.Context, p ListParams) (Page[Account], error) {
	var out Page[Account]
	_, err := c.do(ctx, http.MethodGet, "/v1/accounts", p.query(), nil, &out)
	return out, err
}

// GetBalance reads an account's balance now, or at a past instant when at is not zero.
func (c *Client) GetBalance(ctx context.Context, id string, at time.Time) (Balance, error) {
	q := url.Values{}
	if !at.IsZero() {
		q.Set("at", at.UTC().Format(time.RFC3339Nano))
	}
	var out Balance
	_, err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id)+"/balance", q, nil, &out)
	return out, err
}

// ListAccountTransfers reads one page of the transfers touching an account.
func (c *Client) ListAccountTransfers(ctx context.Context, id string, p ListParams) (Page[Transfer], error) {
	var out Page[Transfer]
	_, err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id)+"/transfers", p.query(), nil, &out)
	return out, err
}

// CreateTransfer creates one transfer. A ledger rejection is an *Error whose
// Code is the ledger's result (e.g. insufficient_funds).
func (c *Client) CreateTransfer(ctx context.Context, p TransferParams, opts ...CallOption) (Transfer, Response, error) {
	var out Transfer
	res, err := c.do(ctx, http.MethodPost, "/v1/transfers", nil, p, &out, opts...)
	return out, res, err
}

// CreateTransfers applies up to 1000 transfers in order, linked items all or
// none, and answers each.
func (c *Client) CreateTransfers(ctx context.Context, ps []TransferParams, opts ...CallOption) ([]BatchResult, error) {
	var out Page[BatchResult]
	_, err := c.do(ctx, http.MethodPost, "/v1/transfers/batch", nil, map[string]any{"transfers": ps}, &out, opts...)
	return out.Data, err
}

// GetTransfer reads one transfer.
func (c *Client) GetTransfer(ctx context.Context, id string) (Transfer, error) {
	var out Transfer
	_, err := c.do(ctx, http.MethodGet, "/v1/transfers/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// PostTransfer posts a pending transfer, fully or in part.
func (c *Client) PostTransfer(ctx context.Context, id string, p ResolveParams, opts ...CallOption) (Transfer, error) {
	var out Transfer
	_, err := c.do(ctx, http.MethodPost, "/v1/transfers/"+url.PathEscape(id)+"/post", nil, p, &out, opts...)
	return out, err
}

// VoidTransfer releases a pending transfer.
func (c *Client) VoidTransfer(ctx context.Context, id string, p ResolveParams, opts ...CallOption) (Transfer, error) {
	var out Transfer
	_, err := c.do(ctx, http.MethodPost, "/v1/transfers/"+url.PathEscape(id)+"/void", nil, p, &out, opts...)
	return out, err
}

// TransferQuery filters ListTransfers; zero fields do not filter.
type TransferQuery struct {
	ListParams
	Account       string
	Kind          string
	CreatedFrom   time.Time // at or after
	CreatedBefore time.Time // before
}

// ListTransfers reads one page of the organization's transfers.
func (c *Client) ListTransfers(ctx context.Context, q TransferQuery) (Page[Transfer], error) {
	v := q.ListParams.query()
	if q.Account != "" {
		v.Set("account", q.Account)
	}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if !q.CreatedFrom.IsZero() {
		v.Set("created_gte", q.CreatedFrom.UTC().Format(time.RFC3339Nano))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("created_lt", q.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	var out Page[Transfer]
	_, err := c.do(ctx, http.MethodGet, "/v1/transfers", v, nil, &out)
	return out, err
}
