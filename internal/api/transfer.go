package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// moneyJSON is an amount in minor units of a currency: {"amount": 1000, "currency": "JPY"}.
type moneyJSON struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type transferJSON struct {
	Object          string            `json:"object"` // "transfer"
	ID              string            `json:"id"`
	Reference       string            `json:"reference,omitempty"`
	Kind            ledger.Kind       `json:"kind"`
	DebitAccount    string            `json:"debit_account"`
	CreditAccount   string            `json:"credit_account"`
	Amount          moneyJSON         `json:"amount"`
	Code            string            `json:"code"`
	PendingTransfer string            `json:"pending_transfer,omitempty"`
	TimeoutAt       *time.Time        `json:"timeout_at,omitempty"`
	Metadata        map[string]string `json:"metadata"`
	CreatedAt       time.Time         `json:"created_at"`
}

func toTransfer(t ledger.Transfer) transferJSON {
	out := transferJSON{Object: "transfer", ID: formatID(prefixTransfer, t.ID), Reference: t.Reference, Kind: t.Kind,
		DebitAccount: formatID(prefixAccount, t.DebitAccountID), CreditAccount: formatID(prefixAccount, t.CreditAccountID),
		Amount: moneyJSON{Amount: t.Amount, Currency: t.Asset}, Code: t.Code, Metadata: t.Metadata, CreatedAt: t.CreatedAt}
	if t.PendingID != 0 {
		out.PendingTransfer = formatID(prefixTransfer, t.PendingID)
	}
	if !t.TimeoutAt.IsZero() {
		at := t.TimeoutAt
		out.TimeoutAt = &at
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

// transferCreate is the body of POST /v1/transfers and of each batch item.
type transferCreate struct {
	Reference      string            `json:"reference"`
	Kind           ledger.Kind       `json:"kind"` // "immediate" (default) or "pending"
	DebitAccount   string            `json:"debit_account"`
	CreditAccount  string            `json:"credit_account"`
	Amount         *moneyJSON        `json:"amount"`
	Code           string            `json:"code"`
	TimeoutSeconds int64             `json:"timeout_seconds"`
	Metadata       map[string]string `json:"metadata"`
	Linked         bool              `json:"linked"` // batch only: commits with the next item, all or none
}

func (in transferCreate) request(p auth.Principal, param string) (ledger.TransferRequest, error) {
	if in.Kind != "" && in.Kind != ledger.KindImmediate && in.Kind != ledger.KindPending {
		return ledger.TransferRequest{}, invalid(param+"kind", "kind must be immediate or pending; post and void have their own endpoints")
	}
	if in.Amount == nil {
		return ledger.TransferRequest{}, invalid(param+"amount", "amount is required: {\"amount\": 1000, \"currency\": \"JPY\"}")
	}
	if in.Amount.Currency == "" {
		return ledger.TransferRequest{}, invalid(param+"amount.currency", "amount.currency is required")
	}
	dr, err := parseID(prefixAccount, in.DebitAccount, param+"debit_account")
	if err != nil {
		return ledger.TransferRequest{}, err
	}
	cr, err := parseID(prefixAccount, in.CreditAccount, param+"credit_account")
	if err != nil {
		return ledger.TransferRequest{}, err
	}
	return ledger.TransferRequest{Owner: p.OrgID, Reference: in.Reference, Kind: in.Kind, DebitAccountID: dr, CreditAccountID: cr,
		Amount: in.Amount.Amount, Asset: in.Amount.Currency, Code: in.Code, TimeoutSeconds: in.TimeoutSeconds,
		Metadata: in.Metadata, Linked: in.Linked}, nil
}

// answer renders one ledger result: 201 for a new transfer, 200 for an
// identical retry, the result code as a problem otherwise.
func answer(w http.ResponseWriter, res ledger.TransferResult) error {
	if res.Result != ledger.ResultOK {
		return resultError{res.Result}
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	return writeJSON(w, status, toTransfer(res.Transfer))
}

func (s *Server) createTransfer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("transfers", true); err != nil {
		return err
	}
	var in transferCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Linked {
		return invalid("linked", "linked applies only to items of POST /v1/transfers/batch")
	}
	req, err := in.request(p, "")
	if err != nil {
		return err
	}
	return s.submit(w, r, []ledger.TransferRequest{req}, answerOne)
}

func answerOne(w http.ResponseWriter, res []ledger.TransferResult) error { return answer(w, res[0]) }

// submit applies reqs as one submission and writes what write makes of the
// results. When serveKeyedInLedger left an Idempotency-Key in the request's
// context, the ledger checks the key in the batch and keeps write's
// rendering for it in the same transaction; the response is then the
// rendering (or the one kept by an earlier request), as serveIdempotent
// would have stored and written it.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, reqs []ledger.TransferRequest,
	write func(http.ResponseWriter, []ledger.TransferResult) error) error {
	ctx := r.Context()
	lk, _ := ctx.Value(ledgerKeyKey).(*ledgerKey)
	if lk == nil {
		res, err := s.cfg.Ledger.Submit(ctx, reqs)
		if err != nil {
			return err
		}
		return write(w, res)
	}
	lk.submitted = true
	ans, err := s.cfg.Ledger.SubmitKeyed(ctx, reqs, ledger.KeyClaim{OrgID: lk.orgID, Key: lk.key, RequestHash: lk.hash,
		Render: func(res []ledger.TransferResult) idempotency.Response {
			buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
			if err := write(buf, res); err != nil {
				s.writeError(buf, r, err)
			}
			return idempotency.Response{Status: buf.status, ContentType: buf.header.Get("Content-Type"), Body: buf.body.Bytes()}
		}})
	if err != nil {
		return err
	}
	return writeKept(w, ans.Response, ans.Replayed)
}

type batchCreate struct {
	Transfers []json.RawMessage `json:"transfers"`
}

// batchItem is one answer of a batch: the transfer, or the problem.
type batchItem struct {
	Status   int           `json:"status"`
	Transfer *transferJSON `json:"transfer,omitempty"`
	Error    *problem      `json:"error,omitempty"`
}

// createTransferBatch applies up to BatchMax transfers in order, in one
// submission: linked items commit all or none, and every item is answered.
// A malformed item rejects the whole request and nothing is applied.
func (s *Server) createTransferBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("transfers", true); err != nil {
		return err
	}
	var in batchCreate
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Transfers) == 0 || len(in.Transfers) > BatchMax {
		return invalid("transfers", "send between 1 and %d transfers", BatchMax)
	}
	reqs := make([]ledger.TransferRequest, len(in.Transfers))
	for i, raw := range in.Transfers {
		var item transferCreate
		if err := decodeBytes(raw, &item, itemParam(i)); err != nil {
			return err
		}
		req, err := item.request(p, itemParam(i))
		if err != nil {
			return err
		}
		reqs[i] = req
	}
	return s.submit(w, r, reqs, func(w http.ResponseWriter, results []ledger.TransferResult) error {
		return writeBatch(w, r, results)
	})
}

// writeBatch answers a batch: every item's result, in order.
func writeBatch(w http.ResponseWriter, r *http.Request, results []ledger.TransferResult) error {
	out := make([]batchItem, len(results))
	for i, res := range results {
		switch {
		case res.Result != ledger.ResultOK:
			st := statusOfResult(res.Result)
			var param string
			if f := paramOfResult(res.Result); f != "" {
				param = itemParam(i) + f
			}
			out[i] = batchItem{Status: st, Error: &problem{Type: problemTypeBase + string(res.Result), Title: http.StatusText(st), Status: st,
				Detail: resultDetail(res.Result), Code: string(res.Result), Param: param, RequestID: RequestID(r.Context())}}
		case res.Replayed:
			t := toTransfer(res.Transfer)
			out[i] = batchItem{Status: http.StatusOK, Transfer: &t}
		default:
			t := toTransfer(res.Transfer)
			out[i] = batchItem{Status: http.StatusCreated, Transfer: &t}
		}
	}
	return writeJSON(w, http.StatusOK, list[batchItem]{Object: "list", Data: out})
}

func itemParam(i int) string { return "transfers[" + strconv.Itoa(i) + "]." }

func (s *Server) transfer(r *http.Request, p auth.Principal) (ledger.Transfer, error) {
	id, err := pathID(prefixTransfer, r.PathValue("id"))
	if err != nil {
		return ledger.Transfer{}, err
	}
	t, err := s.cfg.Ledger.FindTransferByID(r.Context(), id)
	if err != nil {
		return t, err
	}
	if t.Owner != p.OrgID {
		return ledger.Transfer{}, apperr.NotFound("transfer")
	}
	return t, nil
}

func (s *Server) getTransfer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("transfers", false); err != nil {
		return err
	}
	t, err := s.transfer(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toTransfer(t))
}

// resolveBody is the body of post and void.
type resolveBody struct {
	Reference string            `json:"reference"`
	Amount    *moneyJSON        `json:"amount"` // post only; absent posts the full amount
	Code      string            `json:"code"`
	Metadata  map[string]string `json:"metadata"`
}

func (s *Server) postTransfer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.resolve(w, r, p, ledger.KindPost)
}

func (s *Server) voidTransfer(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.resolve(w, r, p, ledger.KindVoid)
}

func (s *Server) resolve(w http.ResponseWriter, r *http.Request, p auth.Principal, kind ledger.Kind) error {
	if err := p.Require("transfers", true); err != nil {
		return err
	}
	id, err := pathID(prefixTransfer, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in resolveBody
	if err := decode(r, &in); err != nil {
		return err
	}
	req := ledger.TransferRequest{Owner: p.OrgID, Reference: in.Reference, Kind: kind, PendingID: id, Code: in.Code, Metadata: in.Metadata}
	if in.Amount != nil {
		if kind == ledger.KindVoid {
			return invalid("amount", "a void releases the whole pending amount; send no amount")
		}
		if in.Amount.Amount <= 0 {
			// The ledger reads 0 as "all of it"; over HTTP that is an
			// absent amount, so that a capture computed as 0 posts
			// nothing rather than everything.
			return resultError{ledger.ResultAmountMustBePositive}
		}
		req.Amount, req.Asset = in.Amount.Amount, in.Amount.Currency
	}
	return s.submit(w, r, []ledger.TransferRequest{req}, answerOne)
}

// listTransfers pages through the organization's transfers, filtered by
// ?account=, ?kind=, ?created_gte= and ?created_lt= (RFC 3339).
func (s *Server) listTransfers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := p.Require("transfers", false); err != nil {
		return err
	}
	limit, after, err := pageParams(r, prefixTransfer)
	if err != nil {
		return err
	}
	q := ledger.TransferQuery{Owner: p.OrgID, AfterID: after, Limit: limit + 1, Kind: ledger.Kind(r.URL.Query().Get("kind"))}
	if v := r.URL.Query().Get("account"); v != "" {
		if q.AccountID, err = parseID(prefixAccount, v, "account"); err != nil {
			return err
		}
	}
	if err := queryTimes(r, queryTime{"created_gte", &q.CreatedFrom}, queryTime{"created_lt", &q.CreatedBefore}); err != nil {
		return err
	}
	ts, err := s.cfg.Ledger.FindTransfers(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]transferJSON, len(ts))
	for i, t := range ts {
		out[i] = toTransfer(t)
	}
	return writeJSON(w, http.StatusOK, newList(out, limit))
}
