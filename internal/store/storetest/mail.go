package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/money"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/store"
)

// MailStore is what the mail checks need of an adapter: the ledger, whose
// transactions queue mail (notify.TxQueue), the standalone notify.Queue,
// and the River job queue on the same database.
type MailStore interface {
	ledger.Store
	notify.Queue
	JobQueueDepth(ctx context.Context) (map[string]int64, error)
	NewJobClient(cfg *river.Config) (store.JobClient, error)
}

func testMail(t *testing.T, h Harness) {
	t.Run("EnqueueCarriesTheMails", func(t *testing.T) { testMailEnqueue(t, h) })
	t.Run("InvalidEnqueuesNothing", func(t *testing.T) { testMailInvalid(t, h) })
	t.Run("InTransaction", func(t *testing.T) { testMailInTransaction(t, h) })
	t.Run("BatchMax", func(t *testing.T) { testMailBatchMax(t, h) })
}

// mailFixture is a fresh store that queues mail.
type mailFixture struct {
	t     testing.TB
	ctx   context.Context
	store MailStore
}

func newMailFixture(t testing.TB, h Harness) *mailFixture {
	t.Helper()
	s := h.Open(t)
	ms, ok := s.(MailStore)
	if !ok {
		t.Fatalf("%T does not implement storetest.MailStore (notify.Queue, JobQueueDepth, NewJobClient)", s)
	}
	return &mailFixture{t: t, ctx: context.Background(), store: ms}
}

// queued counts the jobs not yet worked.
func (f *mailFixture) queued() int64 {
	f.t.Helper()
	depth, err := f.store.JobQueueDepth(f.ctx)
	if err != nil {
		f.t.Fatalf("JobQueueDepth: %v", err)
	}
	return depth["available"] + depth["scheduled"] + depth["retryable"] + depth["running"]
}

// mailTx asserts that a ledger transaction of the store also queues mail.
func mailTx(t testing.TB, tx ledger.Tx) notify.TxQueue {
	t.Helper()
	q, ok := tx.(notify.TxQueue)
	if !ok {
		t.Fatalf("%T does not implement notify.TxQueue", tx)
	}
	return q
}

// testMailOf returns a valid mail with text that a store could alter: Japanese,
// an HTML part, quotes, a newline and a tab.
func testMailOf(to, ref string) notify.Mail {
	return notify.Mail{To: to, Subject: "【金庫】お支払いを確認しました \"dl_1\"", Ref: ref,
		Text: "山田様\n\tお支払いを確認しました。\nhttps://kinko.example/deals/dl_1?a=1&b=2",
		HTML: `<p class="x">山田様</p><a href="https://kinko.example/deals/dl_1?a=1&amp;b=2">詳細</a>`}
}

// mailRecorder is a River worker that hands every mail job to the test.
type mailRecorder struct {
	river.WorkerDefaults[notify.MailArgs]
	jobs chan *river.Job[notify.MailArgs]
}

func (w *mailRecorder) Work(ctx context.Context, job *river.Job[notify.MailArgs]) error {
	w.jobs <- job
	return nil
}

// work runs a River client on the store until n mail jobs were worked, and
// returns them in the order of their mails' Ref.
func (f *mailFixture) work(n int) []*river.Job[notify.MailArgs] {
	f.t.Helper()
	rec := &mailRecorder{jobs: make(chan *river.Job[notify.MailArgs], n)}
	workers := river.NewWorkers()
	river.AddWorker(workers, rec)
	client, err := f.store.NewJobClient(&river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		f.t.Fatalf("NewJobClient: %v", err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, jobWaitMax)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		f.t.Fatalf("start the job client: %v", err)
	}
	defer func() {
		if err := client.Stop(context.WithoutCancel(ctx)); err != nil {
			f.t.Errorf("stop the job client: %v", err)
		}
	}()
	var got []*river.Job[notify.MailArgs]
	for range n {
		select {
		case job := <-rec.jobs:
			got = append(got, job)
		case <-ctx.Done():
			f.t.Fatalf("%d of %d mail jobs worked within %v", len(got), n, jobWaitMax)
		}
	}
	slices.SortFunc(got, func(a, b *river.Job[notify.MailArgs]) int { return cmp.Compare(a.Args.Mail.Ref, b.Args.Mail.Ref) })
	return got
}

func testMailEnqueue(t *testing.T, h Harness) {
	f := newMailFixture(t, h)
	if err := f.store.MailEnqueue(f.ctx, nil); err != nil {
		t.Fatalf("MailEnqueue of no mail = %v, want nil", err)
	}
	want := []notify.Mail{testMailOf("a@example.com", "r1"), testMailOf("b@example.com", "r2")}
	want[1].HTML = "" // optional
	if err := f.store.MailEnqueue(f.ctx, want); err != nil {
		t.Fatalf("MailEnqueue: %v", err)
	}
	if n := f.queued(); n != 2 {
		t.Fatalf("%d jobs queued, want 2", n)
	}
	jobs := f.work(len(want))
	for i, job := range jobs {
		if job.Kind != notify.MailKind || job.MaxAttempts != notify.MailAttemptsMax {
			t.Errorf("job %d: kind %q, max attempts %d; want %q, %d", job.ID, job.Kind, job.MaxAttempts, notify.MailKind, notify.MailAttemptsMax)
		}
		if job.Args.Mail != want[i] {
			t.Errorf("job %d carries %+v, want %+v byte for byte", job.ID, job.Args.Mail, want[i])
		}
	}
}

func testMailInvalid(t *testing.T, h Harness) {
	f := newMailFixture(t, h)
	bad := testMailOf("a@example.com", "r1")
	bad.To = "not an address"
	tooMany := make([]notify.Mail, notify.MailBatchMax+1)
	for i := range tooMany {
		tooMany[i] = testMailOf("a@example.com", "many")
	}
	for name, mails := range map[string][]notify.Mail{
		"SecondInvalid": {testMailOf("a@example.com", "r0"), bad},
		"TooMany":       tooMany,
	} {
		if err := f.store.MailEnqueue(f.ctx, mails); !apperr.Is(err, apperr.CodeInvalid) {
			t.Errorf("%s: MailEnqueue = %v, want invalid", name, err)
		}
		err := f.store.Transact(f.ctx, func(tx ledger.Tx) error { return mailTx(t, tx).MailsEnqueue(f.ctx, mails) })
		if !apperr.Is(err, apperr.CodeInvalid) {
			t.Errorf("%s: MailsEnqueue in a transaction = %v, want invalid", name, err)
		}
	}
	if n := f.queued(); n != 0 {
		t.Fatalf("%d jobs queued after invalid mail, want 0", n)
	}
}

// testMailInTransaction: mail queued in a ledger transaction, after a write
// of that transaction, is queued exactly when the write commits.
func testMailInTransaction(t *testing.T, h Harness) {
	f := newMailFixture(t, h)
	if err := f.store.AssetUpsert(f.ctx, money.Asset{Code: "JPY"}); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("roll back")
	write := func(id int64, ref string, fail error) error {
		return f.store.Transact(f.ctx, func(tx ledger.Tx) error {
			acct := ledger.Account{ID: id, Owner: "o1", Reference: ref, Asset: "JPY", Code: "mail", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
			if err := tx.AccountsInsert(f.ctx, []ledger.Account{acct}); err != nil {
				return err
			}
			if err := mailTx(t, tx).MailsEnqueue(f.ctx, []notify.Mail{testMailOf("a@example.com", ref)}); err != nil {
				return err
			}
			return fail
		})
	}
	if err := write(1001, "rolled-back", errRollback); !errors.Is(err, errRollback) {
		t.Fatalf("Transact = %v, want the rollback error", err)
	}
	if _, err := f.store.AccountByID(f.ctx, 1001); !apperr.Is(err, apperr.CodeNotFound) {
		t.Fatalf("the rolled-back account: %v, want not_found", err)
	}
	if n := f.queued(); n != 0 {
		t.Fatalf("%d jobs queued by a rolled-back transaction, want 0", n)
	}
	if err := write(1002, "committed", nil); err != nil {
		t.Fatalf("Transact: %v", err)
	}
	if _, err := f.store.AccountByID(f.ctx, 1002); err != nil {
		t.Fatalf("the committed account: %v", err)
	}
	if n := f.queued(); n != 1 {
		t.Fatalf("%d jobs queued by a committed transaction, want 1", n)
	}
	if jobs := f.work(1); jobs[0].Args.Mail.Ref != "committed" {
		t.Fatalf("the queued job is for %q, want the committed transaction's mail", jobs[0].Args.Mail.Ref)
	}
}

// testMailBatchMax: the largest batch goes in, alone and in a transaction.
func testMailBatchMax(t *testing.T, h Harness) {
	f := newMailFixture(t, h)
	mails := make([]notify.Mail, notify.MailBatchMax)
	for i := range mails {
		mails[i] = testMailOf("a@example.com", fmt.Sprint("batch-", i))
	}
	if err := f.store.MailEnqueue(f.ctx, mails); err != nil {
		t.Fatalf("MailEnqueue of %d mails: %v", len(mails), err)
	}
	if err := f.store.Transact(f.ctx, func(tx ledger.Tx) error { return mailTx(t, tx).MailsEnqueue(f.ctx, mails) }); err != nil {
		t.Fatalf("MailsEnqueue of %d mails: %v", len(mails), err)
	}
	if n := f.queued(); n != 2*notify.MailBatchMax {
		t.Fatalf("%d jobs queued, want %d", n, 2*notify.MailBatchMax)
	}
}
