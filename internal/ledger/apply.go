package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/money"
)

// submission is one caller's list of requests: they stay together and in
// order inside a batch, so linked chains never span callers.
type submission struct {
	reqs     []TransferRequest
	internal bool // written by the ledger itself (expiry); may use KindExpire
	// managed, when set, names accounts this submission may not move:
	// those a product keeps (Config.Managed), for a caller that is not the
	// product.
	managed func(owner, reference string) bool
	claim   *KeyClaim // nil: no Idempotency-Key
	done    chan error

	// Set by each attempt of the batch; valid once it has committed.
	results  []TransferResult
	response idempotency.Response // keyed only
	replayed bool                 // keyed only: answered from the key's record, nothing applied
	keyErr   error                // keyed only: the key's record refuses the request
	// renderErr (keyed only) says the response could not be rendered (the
	// renderer panicked): the transfers commit, nothing is kept for the key,
	// and the caller gets an internal error; a retry with the key replays
	// the transfers by their references.
	renderErr error
}

// batch is the in-memory state of one group commit: rows loaded and locked
// from the store, the effects of each request applied in order, and the rows
// to write back.
type batch struct {
	now      time.Time
	ids      *idRange
	accounts map[int64]*Account
	holds    map[int64]*Hold
	existing map[RefKey]*Transfer                       // committed before this batch
	created  map[RefKey]*Transfer                       // committed by this batch
	keys     map[idempotency.OrgKey]*idempotency.Record // Idempotency-Keys kept before or by this batch
	newKeys  []idempotency.Record                       // kept by this batch
	keptHere map[idempotency.OrgKey]bool                // the keys of newKeys

	newTransfers []Transfer
	newHolds     map[int64]bool // hold ids inserted by this batch
	dirtyAccts   map[int64]bool
	dirtyHolds   map[int64]bool

	undo *undoLog // non-nil inside a linked chain

	events EventEncoder // nil: no events
}

type undoLog struct {
	accounts   []Account // prior values, in order of first touch
	holds      []Hold
	keys       []RefKey
	nTransfers int
	newHolds   []int64
}

// applyBatch runs subs in one transaction attempt: load and lock, evaluate in
// order, write back. It fills each submission's results; they are valid only if
// the transaction then commits.
func applyBatch(ctx context.Context, tx Tx, now time.Time, ids *idRange, subs []*submission, events EventEncoder) error {
	b := &batch{
		events:     events,
		now:        now,
		ids:        ids,
		existing:   map[RefKey]*Transfer{},
		created:    map[RefKey]*Transfer{},
		keys:       map[idempotency.OrgKey]*idempotency.Record{},
		keptHere:   map[idempotency.OrgKey]bool{},
		newHolds:   map[int64]bool{},
		dirtyAccts: map[int64]bool{},
		dirtyHolds: map[int64]bool{},
	}
	if err := b.load(ctx, tx, subs); err != nil {
		return err
	}
	if err := b.loadKeys(ctx, tx, subs); err != nil {
		return err
	}
	for _, s := range subs {
		s.results, s.response, s.replayed, s.keyErr, s.renderErr = nil, idempotency.Response{}, false, nil, nil
		if s.claim != nil && b.answerFromKey(s) {
			continue
		}
		s.results = b.applySubmission(s)
		if s.claim != nil {
			b.keep(s)
		}
	}
	return b.write(ctx, tx)
}

func (b *batch) load(ctx context.Context, tx Tx, subs []*submission) error {
	var keys []RefKey
	var pendingIDs []int64
	var accountIDs []int64
	for _, s := range subs {
		for i := range s.reqs {
			r := &s.reqs[i]
			// Text the ledger will reject never reaches the store.
			if r.Reference != "" && validText(r.Owner) && validText(r.Reference) {
				keys = append(keys, RefKey{r.Owner, r.Reference})
			}
			switch r.Kind {
			case KindPost, KindVoid, KindExpire:
				if r.PendingID > 0 {
					pendingIDs = append(pendingIDs, r.PendingID)
				}
			default:
				if r.DebitAccountID > 0 {
					accountIDs = append(accountIDs, r.DebitAccountID)
				}
				if r.CreditAccountID > 0 {
					accountIDs = append(accountIDs, r.CreditAccountID)
				}
			}
		}
	}
	b.holds = make(map[int64]*Hold, len(pendingIDs))
	if len(pendingIDs) > 0 {
		holds, err := tx.HoldsForUpdate(ctx, sortedUnique(pendingIDs))
		if err != nil {
			return fmt.Errorf("ledger: lock holds: %w", err)
		}
		for i := range holds {
			h := holds[i]
			b.holds[h.TransferID] = &h
			accountIDs = append(accountIDs, h.DebitAccountID, h.CreditAccountID)
		}
	}
	// References are looked up only after the locks are held: a writer on
	// another node that committed the same reference while this one waited
	// for a lock is then seen, and the request is answered as a replay
	// instead of being evaluated again against balances it already changed.
	b.accounts = make(map[int64]*Account, len(accountIDs))
	if len(accountIDs) > 0 || len(keys) > 0 {
		accounts, found, err := tx.AccountsForUpdate(ctx, sortedUnique(accountIDs), sortedUniqueKeys(keys))
		if err != nil {
			return fmt.Errorf("ledger: lock accounts and load references: %w", err)
		}
		for i := range accounts {
			a := accounts[i]
			b.accounts[a.ID] = &a
		}
		for i := range found {
			t := found[i]
			b.existing[RefKey{t.Owner, t.Reference}] = &t
		}
	}
	return nil
}

func (b *batch) write(ctx context.Context, tx Tx) error {
	if len(b.newTransfers) > 0 {
		if err := tx.TransfersInsert(ctx, b.newTransfers); err != nil {
			return fmt.Errorf("ledger: insert transfers: %w", err)
		}
		if b.events != nil {
			evs := make([]event.Event, len(b.newTransfers))
			for i, t := range b.newTransfers {
				evs[i] = event.Event{OrgID: t.Owner, Type: transferEventType(t.Kind), Data: b.events.TransferEventData(t), CreatedAt: b.now}
			}
			if err := tx.EventsInsert(ctx, evs); err != nil {
				return fmt.Errorf("ledger: insert transfer events: %w", err)
			}
		}
	}
	var ins, upd []Hold
	for _, id := range sortedKeys(b.newHolds) {
		ins = append(ins, *b.holds[id])
	}
	for _, id := range sortedKeys(b.dirtyHolds) {
		if !b.newHolds[id] {
			upd = append(upd, *b.holds[id])
		}
	}
	if len(ins) > 0 {
		if err := tx.HoldsInsert(ctx, ins); err != nil {
			return fmt.Errorf("ledger: insert holds: %w", err)
		}
	}
	if len(upd) > 0 {
		if err := tx.HoldsUpdate(ctx, upd); err != nil {
			return fmt.Errorf("ledger: update holds: %w", err)
		}
	}
	if len(b.dirtyAccts) > 0 {
		accts := make([]Account, 0, len(b.dirtyAccts))
		for _, id := range sortedKeys(b.dirtyAccts) {
			a := *b.accounts[id]
			// Assert before writing: a broken rule here is a bug in this
			// package, and it must stop the batch rather than commit.
			if v := a.RuleViolation(); v != "" {
				return fmt.Errorf("ledger: invariant broken on account %d: %s", a.ID, v)
			}
			accts = append(accts, a)
		}
		if err := tx.AccountsUpdateBalances(ctx, accts); err != nil {
			return fmt.Errorf("ledger: update balances: %w", err)
		}
	}
	if len(b.newKeys) > 0 {
		if err := tx.IdempotencyInsert(ctx, b.newKeys); err != nil {
			return fmt.Errorf("ledger: insert idempotency keys: %w", err)
		}
	}
	return nil
}

// transferEventType names the event a new transfer of kind k records.
func transferEventType(k Kind) string {
	switch k {
	case KindPost:
		return event.TypeTransferPosted
	case KindVoid:
		return event.TypeTransferVoided
	case KindExpire:
		return event.TypeTransferExpired
	}
	return event.TypeTransferCreated
}

// applySubmission evaluates one caller's requests in order, chain by chain.
func (b *batch) applySubmission(s *submission) []TransferResult {
	results := make([]TransferResult, len(s.reqs))
	for start := 0; start < len(s.reqs); {
		end := start
		for end < len(s.reqs) && s.reqs[end].Linked {
			end++
		}
		if end == len(s.reqs) { // the submission ended inside a chain
			for i := start; i < len(s.reqs); i++ {
				results[i].Result = ResultLinkedEventFailed
			}
			results[len(s.reqs)-1].Result = ResultLinkedEventChainOpen
			break
		}
		// s.reqs[start..end] is one chain (a single request when start == end).
		if start == end {
			results[start] = b.applyOne(&s.reqs[start], s)
		} else {
			b.applyChain(s.reqs[start:end+1], results[start:end+1], s)
		}
		start = end + 1
	}
	return results
}

func (b *batch) applyChain(reqs []TransferRequest, results []TransferResult, s *submission) {
	b.undo = &undoLog{nTransfers: len(b.newTransfers)}
	failed := -1
	for i := range reqs {
		results[i] = b.applyOne(&reqs[i], s)
		if results[i].Result != ResultOK {
			failed = i
			break
		}
	}
	if failed >= 0 {
		b.rollback()
		for i := range results {
			if i != failed {
				results[i] = TransferResult{Result: ResultLinkedEventFailed}
			}
		}
	}
	b.undo = nil
}

// rollback restores every value the current chain changed, newest first.
func (b *batch) rollback() {
	u := b.undo
	for i := len(u.accounts) - 1; i >= 0; i-- {
		*b.accounts[u.accounts[i].ID] = u.accounts[i]
	}
	for i := len(u.holds) - 1; i >= 0; i-- {
		*b.holds[u.holds[i].TransferID] = u.holds[i]
	}
	for _, id := range u.newHolds {
		delete(b.holds, id)
		delete(b.newHolds, id)
		delete(b.dirtyHolds, id)
	}
	for _, k := range u.keys {
		delete(b.created, k)
	}
	b.newTransfers = b.newTransfers[:u.nTransfers]
}

func (b *batch) touchAccount(a *Account) {
	if b.undo != nil {
		b.undo.accounts = append(b.undo.accounts, *a)
	}
	b.dirtyAccts[a.ID] = true
}

func (b *batch) touchHold(h *Hold) {
	if b.undo != nil {
		b.undo.holds = append(b.undo.holds, *h)
	}
	b.dirtyHolds[h.TransferID] = true
}

// applyOne evaluates one request. It checks everything before it changes
// anything, so a rejected request leaves the batch as it found it.
func (b *batch) applyOne(r *TransferRequest, s *submission) TransferResult {
	if r.Kind == "" {
		r.Kind = KindImmediate
	}
	if res := validate(r, s.internal); res != ResultOK {
		return TransferResult{Result: res}
	}
	// A product's transfer references are the product's own: a caller who
	// shares its owner may neither take one first nor replay one.
	if s.managed != nil && s.managed(r.Owner, r.Reference) {
		return TransferResult{Result: ResultAccountManaged}
	}
	if r.Reference != "" {
		key := RefKey{r.Owner, r.Reference}
		t := b.created[key]
		if t == nil {
			t = b.existing[key]
		}
		if t != nil {
			if res := b.compareExisting(r, t); res != ResultOK {
				return TransferResult{Result: res}
			}
			return TransferResult{Result: ResultOK, Transfer: *t, Replayed: true}
		}
	}
	switch r.Kind {
	case KindImmediate, KindPending:
		return b.applyNew(r, s.managed)
	default:
		return b.applyResolve(r, s.internal, s.managed)
	}
}

func validate(r *TransferRequest, internal bool) Result {
	switch {
	case r.Owner == "" && !internal:
		return ResultOwnerRequired
	case len(r.Owner) > OwnerLenMax:
		return ResultOwnerTooLong
	case r.Reference == "" && !(internal && r.Kind == KindExpire):
		return ResultReferenceRequired
	case len(r.Reference) > ReferenceLenMax:
		return ResultReferenceTooLong
	case len(r.Code) > CodeLenMax:
		return ResultCodeTooLong
	case metadataLen(r.Metadata) > MetadataLenMax:
		return ResultMetadataTooLarge
	case !validText(r.Owner) || !validText(r.Reference) || !validText(r.Code) || !validMetadata(r.Metadata):
		return ResultTextInvalid
	}
	switch r.Kind {
	case KindImmediate, KindPending:
		switch {
		case r.Amount <= 0:
			return ResultAmountMustBePositive
		case r.PendingID != 0:
			return ResultPendingIDNotAllowed
		case r.DebitAccountID == r.CreditAccountID:
			return ResultAccountsMustDiffer
		case r.Kind == KindImmediate && r.TimeoutSeconds != 0:
			return ResultTimeoutNotAllowed
		case r.TimeoutSeconds < 0 || r.TimeoutSeconds > TimeoutSecondsMax:
			return ResultTimeoutInvalid
		}
	case KindPost, KindVoid, KindExpire:
		switch {
		case r.Kind == KindExpire && !internal:
			return ResultKindInvalid
		case r.PendingID <= 0:
			return ResultPendingIDRequired
		case r.DebitAccountID != 0 || r.CreditAccountID != 0:
			return ResultAccountsNotAllowed
		case r.TimeoutSeconds != 0:
			return ResultTimeoutNotAllowed
		case r.Amount < 0:
			return ResultAmountMustBePositive
		case r.Kind != KindPost && r.Amount != 0:
			return ResultAmountMustBeZero
		}
	default:
		return ResultKindInvalid
	}
	return ResultOK
}

// compareExisting decides whether r is an identical retry of t, comparing the
// fields in the order of the Result constants and naming the first that differs.
func (b *batch) compareExisting(r *TransferRequest, t *Transfer) Result {
	if r.Kind != t.Kind {
		return ResultExistsWithDifferentKind
	}
	code := r.Code
	switch r.Kind {
	case KindImmediate, KindPending:
		switch {
		case r.DebitAccountID != t.DebitAccountID:
			return ResultExistsWithDifferentDebitAccountID
		case r.CreditAccountID != t.CreditAccountID:
			return ResultExistsWithDifferentCreditAccountID
		case r.Amount != t.Amount:
			return ResultExistsWithDifferentAmount
		case r.Asset != "" && r.Asset != t.Asset:
			return ResultExistsWithDifferentAsset
		}
	default:
		if r.PendingID != t.PendingID {
			return ResultExistsWithDifferentPendingID
		}
		// A post of amount 0 means "the full pending amount".
		if r.Kind == KindPost && r.Amount != t.Amount {
			h := b.holds[t.PendingID]
			if r.Amount != 0 || h == nil || h.Amount != t.Amount {
				return ResultExistsWithDifferentAmount
			}
		}
		if r.Asset != "" && r.Asset != t.Asset {
			return ResultExistsWithDifferentAsset
		}
		if code == "" {
			if h := b.holds[t.PendingID]; h != nil {
				code = h.Code
			}
		}
	}
	switch {
	case code != t.Code:
		return ResultExistsWithDifferentCode
	case r.TimeoutSeconds != t.TimeoutSeconds():
		return ResultExistsWithDifferentTimeout
	case !metadataEqual(r.Metadata, t.Metadata):
		return ResultExistsWithDifferentMetadata
	}
	return ResultOK
}

func (b *batch) applyNew(r *TransferRequest, managed func(owner, reference string) bool) TransferResult {
	dr := b.accounts[r.DebitAccountID]
	if dr == nil || dr.Owner != r.Owner {
		return TransferResult{Result: ResultDebitAccountNotFound}
	}
	cr := b.accounts[r.CreditAccountID]
	if cr == nil || cr.Owner != r.Owner {
		return TransferResult{Result: ResultCreditAccountNotFound}
	}
	if isManaged(managed, dr, cr) {
		return TransferResult{Result: ResultAccountManaged}
	}
	if dr.Asset != cr.Asset || (r.Asset != "" && r.Asset != dr.Asset) {
		return TransferResult{Result: ResultAssetMismatch}
	}
	// Compute every new total first, with overflow checks, then check rules.
	var drPosted, drPending, crPosted, crPending = dr.DebitsPosted, dr.DebitsPending, cr.CreditsPosted, cr.CreditsPending
	var err error
	if r.Kind == KindImmediate {
		drPosted, err = money.Add(drPosted, r.Amount)
		if err == nil {
			crPosted, err = money.Add(crPosted, r.Amount)
		}
	} else {
		drPending, err = money.Add(drPending, r.Amount)
		if err == nil {
			crPending, err = money.Add(crPending, r.Amount)
		}
	}
	// Each side's total must stay representable whatever its rules, so that
	// every later check and report can add its parts without overflow.
	var drTotal, crTotal int64
	if err == nil {
		drTotal, err = money.Add(drPosted, drPending)
	}
	if err == nil {
		crTotal, err = money.Add(crPosted, crPending)
	}
	if err != nil {
		return TransferResult{Result: ResultOverflow}
	}
	if dr.DebitsMustNotExceedCredits && drTotal > money.AddSaturating(dr.CreditsPosted, dr.Limit) {
		if dr.Limit > 0 {
			return TransferResult{Result: ResultLimitExceeded}
		}
		return TransferResult{Result: ResultInsufficientFunds}
	}
	if cr.CreditsMustNotExceedDebits && crTotal > money.AddSaturating(cr.DebitsPosted, cr.Limit) {
		if cr.Limit > 0 {
			return TransferResult{Result: ResultLimitExceeded}
		}
		return TransferResult{Result: ResultExceedsDebits}
	}

	t := Transfer{
		ID:              b.ids.next(),
		Owner:           r.Owner,
		Reference:       r.Reference,
		Kind:            r.Kind,
		DebitAccountID:  dr.ID,
		CreditAccountID: cr.ID,
		Amount:          r.Amount,
		Asset:           dr.Asset,
		Code:            r.Code,
		Metadata:        cloneMetadata(r.Metadata),
		CreatedAt:       b.now,
	}
	if r.TimeoutSeconds > 0 {
		t.TimeoutAt = b.now.Add(time.Duration(r.TimeoutSeconds) * time.Second)
	}
	b.touchAccount(dr)
	b.touchAccount(cr)
	dr.DebitsPosted, dr.DebitsPending = drPosted, drPending
	cr.CreditsPosted, cr.CreditsPending = crPosted, crPending
	if r.Kind == KindPending {
		h := &Hold{
			TransferID:      t.ID,
			Owner:           t.Owner,
			DebitAccountID:  t.DebitAccountID,
			CreditAccountID: t.CreditAccountID,
			Amount:          t.Amount,
			Asset:           t.Asset,
			Code:            t.Code,
			TimeoutAt:       t.TimeoutAt,
			State:           HoldPending,
		}
		b.holds[h.TransferID] = h
		b.newHolds[h.TransferID] = true
		b.dirtyHolds[h.TransferID] = true
		if b.undo != nil {
			b.undo.newHolds = append(b.undo.newHolds, h.TransferID)
		}
	}
	b.record(t)
	return TransferResult{Result: ResultOK, Transfer: t}
}

// applyResolve posts, voids or expires a pending transfer.
func (b *batch) applyResolve(r *TransferRequest, internal bool, managed func(owner, reference string) bool) TransferResult {
	h := b.holds[r.PendingID]
	if h == nil || (!internal && h.Owner != r.Owner) {
		return TransferResult{Result: ResultPendingNotFound}
	}
	switch h.State {
	case HoldPosted:
		return TransferResult{Result: ResultPendingAlreadyPosted}
	case HoldVoided:
		return TransferResult{Result: ResultPendingAlreadyVoided}
	case HoldExpired:
		return TransferResult{Result: ResultPendingExpired}
	}
	expired := h.expiredAt(b.now)
	if r.Kind == KindExpire && !expired {
		return TransferResult{Result: ResultPendingNotExpired}
	}
	if r.Kind != KindExpire && expired {
		return TransferResult{Result: ResultPendingExpired}
	}
	if r.Asset != "" && r.Asset != h.Asset {
		return TransferResult{Result: ResultAssetMismatch}
	}
	amount := h.Amount
	if r.Kind == KindPost && r.Amount != 0 {
		if r.Amount > h.Amount {
			return TransferResult{Result: ResultPostAmountExceedsPending}
		}
		amount = r.Amount
	}
	dr, cr := b.accounts[h.DebitAccountID], b.accounts[h.CreditAccountID]
	if dr == nil || cr == nil {
		// A hold whose accounts do not exist: the database was damaged
		// behind the ledger's back (kinko verify names it). Refuse this
		// request rather than guess, and leave its neighbours alone.
		return TransferResult{Result: ResultPendingNotFound}
	}
	if isManaged(managed, dr, cr) {
		return TransferResult{Result: ResultAccountManaged}
	}
	// Releasing the hold lowers pending totals by its full amount; posting adds
	// the posted part. Totals never grow past what the hold already reserved, so
	// no balance rule can newly break here.
	drPending, err1 := money.Sub(dr.DebitsPending, h.Amount)
	crPending, err2 := money.Sub(cr.CreditsPending, h.Amount)
	drPosted, crPosted := dr.DebitsPosted, cr.CreditsPosted
	var err3, err4 error
	if r.Kind == KindPost {
		drPosted, err3 = money.Add(drPosted, amount)
		crPosted, err4 = money.Add(crPosted, amount)
	}
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || drPending < 0 || crPending < 0 {
		return TransferResult{Result: ResultOverflow}
	}
	code := r.Code
	if code == "" {
		code = h.Code
	}
	t := Transfer{
		ID:              b.ids.next(),
		Owner:           h.Owner,
		Reference:       r.Reference,
		Kind:            r.Kind,
		DebitAccountID:  h.DebitAccountID,
		CreditAccountID: h.CreditAccountID,
		Amount:          amount,
		Asset:           h.Asset,
		Code:            code,
		PendingID:       h.TransferID,
		Metadata:        cloneMetadata(r.Metadata),
		CreatedAt:       b.now,
	}
	if !internal {
		t.Owner = r.Owner
	}
	b.touchAccount(dr)
	b.touchAccount(cr)
	b.touchHold(h)
	dr.DebitsPending, dr.DebitsPosted = drPending, drPosted
	cr.CreditsPending, cr.CreditsPosted = crPending, crPosted
	h.ResolvedAt = b.now
	switch r.Kind {
	case KindPost:
		h.State = HoldPosted
	case KindVoid:
		h.State = HoldVoided
	default:
		h.State = HoldExpired
	}
	b.record(t)
	return TransferResult{Result: ResultOK, Transfer: t}
}

func (b *batch) record(t Transfer) {
	b.newTransfers = append(b.newTransfers, t)
	if t.Reference != "" {
		key := RefKey{t.Owner, t.Reference}
		stored := t
		b.created[key] = &stored
		if b.undo != nil {
			b.undo.keys = append(b.undo.keys, key)
		}
	}
}

// validText accepts UTF-8 without NUL bytes: every store keeps such text
// byte for byte, so two different references can never collapse into one.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func validMetadata(m map[string]string) bool {
	for k, v := range m {
		if !validText(k) || !validText(v) {
			return false
		}
	}
	return true
}

func metadataLen(m map[string]string) int {
	if len(m) == 0 {
		return 0
	}
	buf, _ := json.Marshal(m)
	return len(buf)
}

func metadataEqual(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func cloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedUnique(ids []int64) []int64 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

func sortedUniqueKeys(keys []RefKey) []RefKey {
	slices.SortFunc(keys, func(a, b RefKey) int {
		if a.Owner != b.Owner {
			if a.Owner < b.Owner {
				return -1
			}
			return 1
		}
		switch {
		case a.Reference < b.Reference:
			return -1
		case a.Reference > b.Reference:
			return 1
		}
		return 0
	})
	return slices.Compact(keys)
}

func sortedKeys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// isManaged says whether managed names either account.
func isManaged(managed func(owner, reference string) bool, dr, cr *Account) bool {
	return managed != nil && (managed(dr.Owner, dr.Reference) || managed(cr.Owner, cr.Reference))
}
