package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinko-pay/kinko/internal/jobs"
	"github.com/kinko-pay/kinko/internal/metrics"
	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/notify/smtprelay"
)

func TestNewMailSender(t *testing.T) {
	t.Run("OKConsoleByDefault", func(t *testing.T) {
		var logs bytes.Buffer
		s, err := newMailSender("", slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.Contains(logs.String(), `"msg":"mail: console (development)"`) {
			t.Fatalf("startup log %s does not say mail goes to the console", logs.String())
		}
		logs.Reset()
		if err := s.Send(context.Background(), notify.Mail{To: "a@example.com", Subject: "確認", Text: "https://kinko.example/verify?t=1", Ref: "r"}, "1"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "https://kinko.example/verify?t=1") {
			t.Fatalf("the console mail does not show its link: %s", logs.String())
		}
	})
	t.Run("OKSMTPWithoutPasswordInLog", func(t *testing.T) {
		var logs bytes.Buffer
		s, err := newMailSender("smtp://kinko:hunter2@mail.example.com?from=noreply@example.com", slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, ok := s.(*smtprelay.Sender); !ok {
			t.Fatalf("sender is %T, want *smtprelay.Sender", s)
		}
		if !strings.Contains(logs.String(), `"msg":"mail: smtp"`) || !strings.Contains(logs.String(), "mail.example.com") || strings.Contains(logs.String(), "hunter2") {
			t.Fatalf("startup log %s: want the relay named without its password", logs.String())
		}
	})
	t.Run("ErrBadURL", func(t *testing.T) {
		_, err := newMailSender("smtp://kinko:hunter2@mail.example.com?tls=none&from=noreply@example.com", slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "--smtp-url") || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("newMailSender = %v, want an error about --smtp-url without the password", err)
		}
	})
}

// TestServeRefusesBadSMTPURL: a bad relay URL stops the start before the
// store is touched.
func TestServeRefusesBadSMTPURL(t *testing.T) {
	db := filepath.Join(t.TempDir(), "kinko.db")
	err := serve(context.Background(), serveConfig{DB: db, Addr: "127.0.0.1:0", Logger: testLogger(t), SMTPURL: "smtp://mail.example.com?tls=bogus&from=noreply@example.com"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--smtp-url") {
		t.Fatalf("serve = %v, want an --smtp-url error", err)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the store was opened before the bad URL was refused: %v", err)
	}
}

// TestMailOutcomesAreMetricLabels: every outcome the mail worker reports is
// a label value of kinko_mail_sent_total.
func TestMailOutcomesAreMetricLabels(t *testing.T) {
	for _, o := range []string{jobs.MailSent, jobs.MailRetry, jobs.MailFailed} {
		if !slices.Contains(metrics.MailOutcomes, o) {
			t.Errorf("jobs reports mail outcome %q, which metrics.MailOutcomes %v lacks", o, metrics.MailOutcomes)
		}
	}
}
