package storetest

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
)

var (
	modelSeed  = flag.Uint64("storetest.seed", 0, "replay the model test with this seed (0: random)")
	modelSteps = flag.Int("storetest.steps", 0, "steps per model run (0: default)")
)

// testModel drives long random sequences of account creation, transfers,
// holds, posts, voids, expiries, linked sets and retries through a real
// engine, and checks every result and every balance, step by step, against
// a simple in-memory model of the semantics in docs/ledger.md.
func testModel(t *testing.T, h Harness) {
	seeds := []uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	} else if s, err := strconv.ParseUint(os.Getenv("KINKO_MODEL_SEED"), 10, 64); err == nil {
		seeds = []uint64{s}
	}
	steps := 600
	if testing.Short() {
		steps = 150
	}
	if *modelSteps > 0 {
		steps = *modelSteps
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("replay with: go test -run '^%s$' ./internal/store/<sqlite|postgres>/ -args -storetest.seed=%d -storetest.steps=%d",
						strings.ReplaceAll(t.Name(), "/", "$/^"), seed, steps)
				}
			}()
			runModel(t, h, seed, steps)
		})
	}
}

// The model. It mirrors the documented semantics with the plainest code
// possible: maps, and a full copy of the state around each linked chain.
type mAccount struct {
	id                 int64
	owner, asset       string
	dmnec, cmned       bool
	limit              int64
	dp, cp, dpe, cpe   int64
	createdAt          time.Time
	reference, acctTag string
}

type mHold struct {
	owner      string
	dr, cr     int64
	amount     int64
	asset      string
	code       string
	timeoutAt  time.Time
	state      ledger.HoldState
	resolvedAt time.Time
}

type model struct {
	accounts map[int64]*mAccount
	byRef    map[ledger.RefKey]ledger.Transfer
	holds    map[int64]*mHold
	log      []ledger.Transfer
}

func (m *model) clone() *model {
	c := &model{accounts: map[int64]*mAccount{}, byRef: maps.Clone(m.byRef), holds: map[int64]*mHold{}, log: m.log[:len(m.log):len(m.log)]}
	for k, v := range m.accounts {
		a := *v
		c.accounts[k] = &a
	}
	for k, v := range m.holds {
		h := *v
		c.holds[k] = &h
	}
	return c
}

// applySubmission returns the model's results for one caller's requests;
// ids supplies the id the engine gave each new transfer.
func (m *model) applySubmission(reqs []ledger.TransferRequest, now time.Time, ids func(i int) int64) ([]ledger.Result, []bool) {
	res := make([]ledger.Result, len(reqs))
	replayed := make([]bool, len(reqs))
	i := 0
	for i < len(reqs) {
		j := i
		for j < len(reqs) && reqs[j].Linked {
			j++
		}
		if j == len(reqs) {
			for k := i; k < len(reqs); k++ {
				res[k] = ledger.ResultLinkedEventFailed
			}
			res[len(reqs)-1] = ledger.ResultLinkedEventChainOpen
			break
		}
		work := m.clone()
		failed := -1
		for k := i; k <= j; k++ {
			res[k], replayed[k] = work.apply(reqs[k], now, ids(k))
			if res[k] != ledger.ResultOK {
				failed = k
				break
			}
		}
		if failed < 0 {
			*m = *work
		} else {
			for k := i; k <= j; k++ {
				if k != failed {
					res[k], replayed[k] = ledger.ResultLinkedEventFailed, false
				}
			}
		}
		i = j + 1
	}
	return res, replayed
}

func (m *model) apply(r ledger.TransferRequest, now time.Time, id int64) (ledger.Result, bool) {
	if r.Kind == "" {
		r.Kind = ledger.KindImmediate
	}
	// Malformed requests, in the documented order.
	switch {
	case r.Owner == "":
		return ledger.ResultOwnerRequired, false
	case r.Reference == "":
		return ledger.ResultReferenceRequired, false
	}
	newKind := r.Kind == ledger.KindImmediate || r.Kind == ledger.KindPending
	switch {
	case newKind && r.Amount <= 0:
		return ledger.ResultAmountMustBePositive, false
	case newKind && r.PendingID != 0:
		return ledger.ResultPendingIDNotAllowed, false
	case newKind && r.DebitAccountID == r.CreditAccountID:
		return ledger.ResultAccountsMustDiffer, false
	case r.Kind == ledger.KindImmediate && r.TimeoutSeconds != 0:
		return ledger.ResultTimeoutNotAllowed, false
	case !newKind && r.PendingID <= 0:
		return ledger.ResultPendingIDRequired, false
	case r.Kind == ledger.KindVoid && r.Amount != 0:
		return ledger.ResultAmountMustBeZero, false
	}
	key := ledger.RefKey{Owner: r.Owner, Reference: r.Reference}
	if t, ok := m.byRef[key]; ok {
		res := m.compare(r, t)
		return res, res == ledger.ResultOK
	}
	if newKind {
		dr, cr := m.accounts[r.DebitAccountID], m.accounts[r.CreditAccountID]
		switch {
		case dr == nil || dr.owner != r.Owner:
			return ledger.ResultDebitAccountNotFound, false
		case cr == nil || cr.owner != r.Owner:
			return ledger.ResultCreditAccountNotFound, false
		case dr.asset != cr.asset || (r.Asset != "" && r.Asset != dr.asset):
			return ledger.ResultAssetMismatch, false
		}
		// Work in big-enough arithmetic: float-free, via explicit overflow tests.
		if addOverflows(dr.dp, dr.dpe, r.Amount) || addOverflows(cr.cp, cr.cpe, r.Amount) {
			return ledger.ResultOverflow, false
		}
		drDebits := dr.dp + dr.dpe + r.Amount
		if dr.dmnec && drDebits > money.AddSaturating(dr.cp, dr.limit) {
			if dr.limit > 0 {
				return ledger.ResultLimitExceeded, false
			}
			return ledger.ResultInsufficientFunds, false
		}
		crCredits := cr.cp + cr.cpe + r.Amount
		if cr.cmned && crCredits > money.AddSaturating(cr.dp, cr.limit) {
			if cr.limit > 0 {
				return ledger.ResultLimitExceeded, false
			}
			return ledger.ResultExceedsDebits, false
		}
		t := ledger.Transfer{ID: id, Owner: r.Owner, Reference: r.Reference, Kind: r.Kind, DebitAccountID: dr.id, CreditAccountID: cr.id,
			Amount: r.Amount, Asset: dr.asset, Code: r.Code, Metadata: r.Metadata, CreatedAt: now}
		if r.Kind == ledger.KindImmediate {
			dr.dp += r.Amount
			cr.cp += r.Amount
		} else {
			dr.dpe += r.Amount
			cr.cpe += r.Amount
			if r.TimeoutSeconds > 0 {
				t.TimeoutAt = now.Add(time.Duration(r.TimeoutSeconds) * time.Second)
			}
			m.holds[id] = &mHold{owner: r.Owner, dr: dr.id, cr: cr.id, amount: r.Amount, asset: dr.asset, code: r.Code, timeoutAt: t.TimeoutAt, state: ledger.HoldPending}
		}
		m.byRef[key] = t
		m.log = append(m.log, t)
		return ledger.ResultOK, false
	}
	h := m.holds[r.PendingID]
	switch {
	case h == nil || h.owner != r.Owner:
		return ledger.ResultPendingNotFound, false
	case h.state == ledger.HoldPosted:
		return ledger.ResultPendingAlreadyPosted, false
	case h.state == ledger.HoldVoided:
		return ledger.ResultPendingAlreadyVoided, false
	case h.state == ledger.HoldExpired || (!h.timeoutAt.IsZero() && !now.Before(h.timeoutAt)):
		return ledger.ResultPendingExpired, false
	case r.Asset != "" && r.Asset != h.asset:
		return ledger.ResultAssetMismatch, false
	case r.Kind == ledger.KindPost && r.Amount > h.amount:
		return ledger.ResultPostAmountExceedsPending, false
	}
	amount := h.amount
	if r.Kind == ledger.KindPost && r.Amount > 0 {
		amount = r.Amount
	}
	dr, cr := m.accounts[h.dr], m.accounts[h.cr]
	dr.dpe -= h.amount
	cr.cpe -= h.amount
	if r.Kind == ledger.KindPost {
		dr.dp += amount
		cr.cp += amount
		h.state = ledger.HoldPosted
	} else {
		h.state = ledger.HoldVoided
	}
	h.resolvedAt = now
	code := r.Code
	if code == "" {
		code = h.code
	}
	t := ledger.Transfer{ID: id, Owner: r.Owner, Reference: r.Reference, Kind: r.Kind, DebitAccountID: h.dr, CreditAccountID: h.cr,
		Amount: amount, Asset: h.asset, Code: code, PendingID: r.PendingID, Metadata: r.Metadata, CreatedAt: now}
	m.byRef[key] = t
	m.log = append(m.log, t)
	return ledger.ResultOK, false
}

func addOverflows(a, b, c int64) bool {
	return a > math.MaxInt64-b || a+b > math.MaxInt64-c
}

func (m *model) compare(r ledger.TransferRequest, t ledger.Transfer) ledger.Result {
	if r.Kind != t.Kind {
		return ledger.ResultExistsWithDifferentKind
	}
	code := r.Code
	if r.Kind == ledger.KindImmediate || r.Kind == ledger.KindPending {
		switch {
		case r.DebitAccountID != t.DebitAccountID:
			return ledger.ResultExistsWithDifferentDebitAccountID
		case r.CreditAccountID != t.CreditAccountID:
			return ledger.ResultExistsWithDifferentCreditAccountID
		case r.Amount != t.Amount:
			return ledger.ResultExistsWithDifferentAmount
		case r.Asset != "" && r.Asset != t.Asset:
			return ledger.ResultExistsWithDifferentAsset
		}
	} else {
		if r.PendingID != t.PendingID {
			return ledger.ResultExistsWithDifferentPendingID
		}
		h := m.holds[t.PendingID]
		if r.Kind == ledger.KindPost {
			want := r.Amount
			if want == 0 {
				want = h.amount
			}
			if want != t.Amount {
				return ledger.ResultExistsWithDifferentAmount
			}
		}
		if r.Asset != "" && r.Asset != t.Asset {
			return ledger.ResultExistsWithDifferentAsset
		}
		if code == "" {
			code = h.code
		}
	}
	timeout := int64(0)
	if !t.TimeoutAt.IsZero() {
		timeout = int64(t.TimeoutAt.Sub(t.CreatedAt) / time.Second)
	}
	switch {
	case code != t.Code:
		return ledger.ResultExistsWithDifferentCode
	case r.TimeoutSeconds != timeout:
		return ledger.ResultExistsWithDifferentTimeout
	case !maps.Equal(r.Metadata, t.Metadata):
		return ledger.ResultExistsWithDifferentMetadata
	}
	return ledger.ResultOK
}

// expire voids every hold due at now and returns how many.
func (m *model) expire(now time.Time) int {
	n := 0
	for id, h := range m.holds {
		if h.state == ledger.HoldPending && !h.timeoutAt.IsZero() && !now.Before(h.timeoutAt) {
			dr, cr := m.accounts[h.dr], m.accounts[h.cr]
			dr.dpe -= h.amount
			cr.cpe -= h.amount
			h.state, h.resolvedAt = ledger.HoldExpired, now
			m.log = append(m.log, ledger.Transfer{Kind: ledger.KindExpire, PendingID: id, DebitAccountID: h.dr, CreditAccountID: h.cr, Amount: h.amount, CreatedAt: now})
			n++
		}
	}
	return n
}

// balanceAt recomputes an account's balance at `at` from the model's log.
func (m *model) balanceAt(id int64, at time.Time) [4]int64 {
	var b [4]int64
	for _, t := range m.log {
		if t.CreatedAt.After(at) {
			continue
		}
		switch t.Kind {
		case ledger.KindImmediate, ledger.KindPost:
			if t.DebitAccountID == id {
				b[0] += t.Amount
			}
			if t.CreditAccountID == id {
				b[1] += t.Amount
			}
		case ledger.KindPending:
			h := m.holds[t.ID]
			if (!h.resolvedAt.IsZero() && !h.resolvedAt.After(at)) || (!h.timeoutAt.IsZero() && !h.timeoutAt.After(at)) {
				continue
			}
			if t.DebitAccountID == id {
				b[2] += t.Amount
			}
			if t.CreditAccountID == id {
				b[3] += t.Amount
			}
		}
	}
	return b
}

// runModel is one seeded run.
func runModel(t *testing.T, h Harness, seed uint64, steps int) {
	f := newFixture(t, h)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &model{accounts: map[int64]*mAccount{}, byRef: map[ledger.RefKey]ledger.Transfer{}, holds: map[int64]*mHold{}}
	var acctIDs, pendingIDs []int64
	var sent []ledger.TransferRequest // every request sent, for retries
	var instants []time.Time
	owners := []string{"o1", "o1", "o1", "o2"}
	refSeq := 0

	newAccount := func() {
		r := ledger.AccountRequest{Owner: owners[rng.IntN(len(owners))], Reference: fmt.Sprintf("a%d", len(acctIDs)), Asset: "JPY"}
		if rng.IntN(6) == 0 {
			r.Asset = "USD"
		}
		switch rng.IntN(4) {
		case 0:
			r.DebitsMustNotExceedCredits = true
		case 1:
			r.CreditsMustNotExceedDebits = true
		}
		if (r.DebitsMustNotExceedCredits || r.CreditsMustNotExceedDebits) && rng.IntN(2) == 0 {
			r.Limit = rng.Int64N(500) + 1
		}
		a := f.account(r)
		m.accounts[a.ID] = &mAccount{id: a.ID, owner: r.Owner, asset: r.Asset, dmnec: r.DebitsMustNotExceedCredits, cmned: r.CreditsMustNotExceedDebits, limit: r.Limit}
		acctIDs = append(acctIDs, a.ID)
	}
	for range 6 {
		newAccount()
	}
	pick := func() int64 {
		if rng.IntN(40) == 0 {
			return 1 << 40 // no such account
		}
		return acctIDs[rng.IntN(len(acctIDs))]
	}
	genRequest := func() ledger.TransferRequest {
		refSeq++
		r := ledger.TransferRequest{Owner: "o1", Reference: fmt.Sprintf("r%d", refSeq)}
		if rng.IntN(8) == 0 {
			r.Owner = "o2"
		}
		if rng.IntN(5) == 0 {
			r.Code = []string{"a", "b"}[rng.IntN(2)]
		}
		if rng.IntN(6) == 0 {
			r.Metadata = map[string]string{"k": strconv.Itoa(rng.IntN(3))}
		}
		switch op := rng.IntN(20); {
		case op < 3 && len(sent) > 0: // a retry, identical or with one field changed
			r = sent[rng.IntN(len(sent))]
			r.Linked = false
			switch rng.IntN(6) {
			case 0:
				r.Amount += 1
			case 1:
				r.Code += "x"
			case 2:
				r.Metadata = map[string]string{"changed": "1"}
			}
			return r
		case op < 11:
			r.Kind = ledger.KindImmediate
		case op < 15:
			r.Kind = ledger.KindPending
			if rng.IntN(2) == 0 {
				r.TimeoutSeconds = rng.Int64N(60) + 1
			}
		case op < 18 && len(pendingIDs) > 0:
			r.Kind = ledger.KindPost
			r.PendingID = pendingIDs[rng.IntN(len(pendingIDs))]
			if rng.IntN(2) == 0 {
				r.Amount = rng.Int64N(120) + 1
			}
			return r
		case len(pendingIDs) > 0:
			r.Kind = ledger.KindVoid
			r.PendingID = pendingIDs[rng.IntN(len(pendingIDs))]
			return r
		default:
			r.Kind = ledger.KindImmediate
		}
		r.DebitAccountID, r.CreditAccountID = pick(), pick()
		r.Amount = rng.Int64N(100) + 1
		switch rng.IntN(60) {
		case 0:
			r.Amount = 0
		case 1:
			r.Amount = math.MaxInt64 - rng.Int64N(3)
		case 2:
			r.Asset = "USD"
		case 3:
			r.Reference = ""
		}
		return r
	}

	for step := range steps {
		switch op := rng.IntN(100); {
		case op < 3:
			newAccount()
		case op < 12:
			f.clock.Advance(time.Duration(rng.IntN(30)) * time.Second)
			want := m.expire(f.Now())
			got, err := f.engine.ExpireDue(f.ctx)
			if err != nil || got != want {
				t.Fatalf("step %d: ExpireDue = %d, %v; model expired %d", step, got, err, want)
			}
		default:
			if rng.IntN(3) == 0 {
				f.clock.Advance(time.Duration(rng.IntN(3)) * time.Second)
			}
			nSubs := 1 + rng.IntN(4)
			batch := make([][]ledger.TransferRequest, nSubs)
			for i := range batch {
				n := 1 + rng.IntN(3)
				for k := range n {
					r := genRequest()
					r.Linked = k < n-1 && rng.IntN(3) > 0
					if k == n-1 && rng.IntN(30) == 0 {
						r.Linked = true // an open chain
					}
					batch[i] = append(batch[i], r)
				}
			}
			now := f.Now()
			out, err := f.engine.CommitBatch(f.ctx, batch)
			if err != nil {
				t.Fatalf("step %d: CommitBatch: %v", step, err)
			}
			for i, reqs := range batch {
				want, wantReplayed := m.applySubmission(reqs, now, func(k int) int64 { return out[i][k].Transfer.ID })
				for k, r := range reqs {
					got := out[i][k]
					if got.Result != want[k] || got.Replayed != wantReplayed[k] {
						t.Fatalf("step %d, caller %d, item %d: %+v\n  engine: %s replayed=%v\n  model:  %s replayed=%v",
							step, i, k, r, got.Result, got.Replayed, want[k], wantReplayed[k])
					}
					if got.Result != ledger.ResultOK {
						continue
					}
					mt := m.byRef[ledger.RefKey{Owner: r.Owner, Reference: r.Reference}]
					if got.Transfer.ID != mt.ID || got.Transfer.Amount != mt.Amount || got.Transfer.Kind != mt.Kind ||
						got.Transfer.DebitAccountID != mt.DebitAccountID || got.Transfer.CreditAccountID != mt.CreditAccountID ||
						got.Transfer.Code != mt.Code || !got.Transfer.CreatedAt.Equal(mt.CreatedAt) || !got.Transfer.TimeoutAt.Equal(mt.TimeoutAt) {
						t.Fatalf("step %d: transfer %+v, model %+v", step, got.Transfer, mt)
					}
					if !got.Replayed {
						sent = append(sent, r)
						if r.Kind == ledger.KindPending {
							pendingIDs = append(pendingIDs, got.Transfer.ID)
						}
					}
				}
			}
			instants = append(instants, now)
		}
		for _, id := range acctIDs {
			a := m.accounts[id]
			want := [4]int64{a.dp, a.cp, a.dpe, a.cpe}
			if got := f.balance(id); got != want {
				t.Fatalf("step %d: account %d balance %v, model %v", step, id, got, want)
			}
		}
		if step%50 == 49 && len(instants) > 0 {
			at := instants[rng.IntN(len(instants))]
			if rng.IntN(2) == 0 {
				at = at.Add(time.Duration(rng.IntN(40)) * time.Second)
			}
			id := acctIDs[rng.IntN(len(acctIDs))]
			b, err := f.engine.BalanceAt(f.ctx, id, at)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := [4]int64{b.DebitsPosted, b.CreditsPosted, b.DebitsPending, b.CreditsPending}, m.balanceAt(id, at); got != want {
				t.Fatalf("step %d: BalanceAt(%d, %v) = %v, model %v", step, id, at, got, want)
			}
			f.verifyClean()
		}
	}
	f.verifyClean()
}
