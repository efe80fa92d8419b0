package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kinko-pay/kinko/internal/event"
	"github.com/kinko-pay/kinko/internal/ledger"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/notify/smtprelay"
	"github.com/kinko-pay/kinko/internal/notify/smtprelay/smtptest"
	"github.com/kinko-pay/kinko/internal/store/postgres"
	"github.com/kinko-pay/kinko/internal/store/sqlite"
	"github.com/kinko-pay/kinko/internal/webhook"
)

// mailStore is what the mail tests need of an adapter.
type mailStore interface {
	Store
	ledger.Store
	notify.Queue
	JobQueueDepth(ctx context.Context) (map[string]int64, error)
}

// stores returns the stores to run a test on, by name: SQLite always,
// PostgreSQL when KINKO_TEST_POSTGRES names a server.
func stores() map[string]func(t *testing.T) mailStore {
	return map[string]func(t *testing.T) mailStore{
		"SQLite":     openSQLite,
		"PostgreSQL": openPostgres,
	}
}

func openSQLite(t *testing.T) mailStore {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mail.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// openPostgres opens a fresh, migrated database on the server
// KINKO_TEST_POSTGRES names, dropped when the test ends; the test is skipped
// when the variable is unset.
func openPostgres(t *testing.T) mailStore {
	t.Helper()
	base := os.Getenv("KINKO_TEST_POSTGRES")
	if base == "" {
		t.Skip("KINKO_TEST_POSTGRES is not set; skipping the PostgreSQL mail test")
	}
	ctx := context.Background()
	name := "kinko_jobs_test_" + strings.ToLower(rand.Text()[:12])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to KINKO_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse KINKO_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	st, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // before the drop: cleanups run last first
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// mailFixture is a store, a real SMTP peer and a running Runner whose mail
// goes to the peer through the SMTP sender, retrying after a few
// milliseconds.
type mailFixture struct {
	t     *testing.T
	ctx   context.Context
	st    mailStore
	relay *smtptest.Server

	mu       sync.Mutex
	outcomes map[string]int
}

func newMailFixture(t *testing.T, open func(t *testing.T) mailStore) *mailFixture {
	t.Helper()
	f := &mailFixture{t: t, ctx: context.Background(), st: open(t), relay: smtptest.Start(t, smtptest.Options{}), outcomes: map[string]int{}}
	sender, err := smtprelay.New(smtprelay.Config{Host: f.relay.Host, Port: f.relay.Port, TLS: smtprelay.TLSNone, From: "noreply@kinko.example"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	r, err := NewRunner(Config{Store: f.st, Webhooks: webhook.NewService(f.st, f.st, nil), Render: func(e event.Event) []byte { return e.Data },
		Mail: sender, MailBackoffBase: 10 * time.Millisecond,
		ObserveMail: func(outcome string) {
			f.mu.Lock()
			f.outcomes[outcome]++
			f.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return f
}

// settle waits until no job is left to work (or waitMax passes): every
// mail queued so far has been sent, cancelled or given up.
func (f *mailFixture) settle() {
	f.t.Helper()
	deadline := time.Now().Add(waitMax)
	for {
		depth, err := f.st.JobQueueDepth(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if depth["available"]+depth["scheduled"]+depth["retryable"]+depth["running"] == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("jobs still queued after %v: %v", waitMax, depth)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *mailFixture) outcome(o string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outcomes[o]
}

func mailTo(to, ref string) notify.Mail {
	return notify.Mail{To: to, Subject: "【金庫】ご本人確認", Text: "確認リンク: https://kinko.example/verify?t=" + ref, Ref: ref}
}

// messageID reads a received message's Message-ID.
func messageID(t *testing.T, m smtptest.Message) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header.Get("Message-Id")
}

// TestMailDelivered: a queued mail reaches the relay exactly once.
func TestMailDelivered(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			f := newMailFixture(t, open)
			if err := f.st.MailEnqueue(f.ctx, []notify.Mail{mailTo("new.user@example.com", "user u_1 verify")}); err != nil {
				t.Fatal(err)
			}
			f.settle()
			msgs := f.relay.Messages()
			if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "new.user@example.com" {
				t.Fatalf("the relay received %d messages (%+v), want exactly 1 to new.user@example.com", len(msgs), msgs)
			}
			if id := messageID(t, msgs[0]); !strings.HasPrefix(id, "<kinko.") || !strings.HasSuffix(id, "@kinko.example>") {
				t.Errorf("Message-ID = %q, want <kinko.…@kinko.example>", id)
			}
			if f.outcome(MailSent) != 1 || f.outcome(MailRetry)+f.outcome(MailFailed) != 0 {
				t.Errorf("outcomes %v, want one sent", f.outcomes)
			}
		})
	}
}

// TestMailRolledBackIsNotSent: mail queued in a transaction that rolls back
// never goes out; mail queued after it, as a marker, does.
func TestMailRolledBackIsNotSent(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			f := newMailFixture(t, open)
			errRollback := errors.New("roll back")
			err := f.st.Transact(f.ctx, func(tx ledger.Tx) error {
				if err := tx.(notify.TxQueue).MailsEnqueue(f.ctx, []notify.Mail{mailTo("ghost@example.com", "rolled back")}); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("Transact = %v, want the rollback error", err)
			}
			err = f.st.Transact(f.ctx, func(tx ledger.Tx) error {
				return tx.(notify.TxQueue).MailsEnqueue(f.ctx, []notify.Mail{mailTo("marker@example.com", "committed")})
			})
			if err != nil {
				t.Fatal(err)
			}
			f.settle()
			msgs := f.relay.Messages()
			if len(msgs) != 1 || msgs[0].To[0] != "marker@example.com" {
				t.Fatalf("the relay received %+v, want only the committed transaction's mail", msgs)
			}
		})
	}
}

// TestMailRetriedAfter451: the relay answers 451 once, then accepts: the
// mail is delivered on the retry, once, with the Message-ID of the first try.
func TestMailRetriedAfter451(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			f := newMailFixture(t, open)
			f.relay.SetAnswer(func(stage smtptest.Stage, n int) error {
				if stage == smtptest.StageData && n == 1 {
					return smtptest.Reply(451, "try again later")
				}
				return nil
			})
			if err := f.st.MailEnqueue(f.ctx, []notify.Mail{mailTo("buyer@example.com", "deal dl_1 funded")}); err != nil {
				t.Fatal(err)
			}
			f.settle()
			msgs, refused := f.relay.Messages(), f.relay.Refused()
			if len(msgs) != 1 || len(refused) != 1 {
				t.Fatalf("%d delivered and %d refused, want 1 and 1", len(msgs), len(refused))
			}
			if a, b := messageID(t, refused[0]), messageID(t, msgs[0]); a != b {
				t.Errorf("the retry's Message-ID %q differs from the first try's %q", b, a)
			}
			if f.outcome(MailRetry) != 1 || f.outcome(MailSent) != 1 || f.outcome(MailFailed) != 0 {
				t.Errorf("outcomes %v, want one retry then one sent", f.outcomes)
			}
		})
	}
}

// TestMailRefusedIsNotRetried: a 550 cancels the job after one try.
func TestMailRefusedIsNotRetried(t *testing.T) {
	f := newMailFixture(t, openSQLite)
	f.relay.SetAnswer(func(stage smtptest.Stage, _ int) error {
		if stage == smtptest.StageRcpt {
			return smtptest.Reply(550, "no such user")
		}
		return nil
	})
	if err := f.st.MailEnqueue(f.ctx, []notify.Mail{mailTo("nobody@example.com", "user u_2 verify")}); err != nil {
		t.Fatal(err)
	}
	f.settle()
	if len(f.relay.Messages()) != 0 || f.outcome(MailFailed) != 1 || f.outcome(MailRetry)+f.outcome(MailSent) != 0 {
		t.Fatalf("%d messages, outcomes %v; want none sent and one failed", len(f.relay.Messages()), f.outcomes)
	}
}

// fakeSender answers each Send with the next of its errors (nil when out).
type fakeSender struct {
	mu   sync.Mutex
	errs []error
	ids  []string
}

func (s *fakeSender) Send(_ context.Context, _ notify.Mail, messageID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, messageID)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

// TestMailWorkerOutcomes runs the worker as River would, attempt by attempt.
func TestMailWorkerOutcomes(t *testing.T) {
	temp := errors.New("451 try later")
	perm := errors.Join(notify.ErrPermanent, errors.New("550 no such user"))
	job := func(attempt int, m notify.Mail) *river.Job[notify.MailArgs] {
		return &river.Job[notify.MailArgs]{JobRow: &rivertype.JobRow{ID: 7, Attempt: attempt, MaxAttempts: notify.MailAttemptsMax,
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}, Args: notify.MailArgs{Mail: m}}
	}
	var cancel *rivertype.JobCancelError
	for _, tc := range []struct {
		name    string
		err     error
		attempt int
		mail    notify.Mail
		outcome string
		cancels bool
		retries bool
	}{
		{"Sent", nil, 1, mailTo("a@example.com", "r"), MailSent, false, false},
		{"TemporaryRetries", temp, 1, mailTo("a@example.com", "r"), MailRetry, false, true},
		{"TemporaryOnLastAttemptFails", temp, notify.MailAttemptsMax, mailTo("a@example.com", "r"), MailFailed, false, true},
		{"PermanentCancels", perm, 1, mailTo("a@example.com", "r"), MailFailed, true, false},
		{"InvalidCancels", nil, 1, notify.Mail{To: "x"}, MailFailed, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			s := &fakeSender{errs: []error{tc.err}}
			w := &mailWorker{cfg: Config{Mail: s, Logger: slog.New(slog.DiscardHandler), Clock: time.Now, ObserveMail: func(o string) { got = append(got, o) }}}
			err := w.Work(context.Background(), job(tc.attempt, tc.mail))
			if len(got) != 1 || got[0] != tc.outcome {
				t.Errorf("outcomes %v, want [%s]", got, tc.outcome)
			}
			if errors.As(err, &cancel) != tc.cancels || (err != nil && !tc.cancels) != tc.retries {
				t.Errorf("Work = %v; want cancel %v, an error River retries %v", err, tc.cancels, tc.retries)
			}
		})
	}
	// Every try of one job sends the same Message-ID.
	s := &fakeSender{errs: []error{temp}}
	w := &mailWorker{cfg: Config{Mail: s, Logger: slog.New(slog.DiscardHandler), Clock: time.Now}}
	_ = w.Work(context.Background(), job(1, mailTo("a@example.com", "r")))
	_ = w.Work(context.Background(), job(2, mailTo("a@example.com", "r")))
	if len(s.ids) != 2 || s.ids[0] != s.ids[1] || !strings.HasPrefix(s.ids[0], "kinko.7.") {
		t.Errorf("Message-IDs of two tries: %q, want the same kinko.7.… twice", s.ids)
	}
}
