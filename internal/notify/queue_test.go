package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

func okMail() Mail {
	return Mail{To: "buyer@example.com", Subject: "お支払いを確認しました", Text: "確認: https://example.com/v/abc", Ref: "deal dl_1 funded"}
}

func TestValidateMails(t *testing.T) {
	many := make([]Mail, MailBatchMax+1)
	for i := range many {
		many[i] = okMail()
	}
	for _, tc := range []struct {
		name  string
		mails []Mail
		param string // "" when valid
	}{
		{"OK", []Mail{okMail(), okMail()}, ""},
		{"OKEmpty", nil, ""},
		{"OKBatchMax", many[:MailBatchMax], ""},
		{"ErrTooMany", many, "mails"},
		{"ErrSecondMailTo", []Mail{okMail(), func() Mail { m := okMail(); m.To = "Buyer <buyer@example.com>"; return m }()}, "mails[1].to"},
		{"ErrSubjectNewline", []Mail{func() Mail { m := okMail(); m.Subject = "a\r\nBcc: x@example.com"; return m }()}, "mails[0].subject"},
		{"ErrTextNUL", []Mail{func() Mail { m := okMail(); m.Text = "a\x00b"; return m }()}, "mails[0].text"},
		{"ErrHTMLNUL", []Mail{func() Mail { m := okMail(); m.HTML = "<p>\x00</p>"; return m }()}, "mails[0].html"},
		{"ErrNoRef", []Mail{func() Mail { m := okMail(); m.Ref = ""; return m }()}, "mails[0].ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateMails(tc.mails)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("ValidateMails = %v, want nil", err)
				}
				return
			}
			var ae *apperr.Error
			if !apperr.Is(err, apperr.CodeInvalid) || !errors.As(err, &ae) || ae.Param != tc.param {
				t.Fatalf("ValidateMails = %v, want invalid (%s)", err, tc.param)
			}
		})
	}
}

func TestMailBackoff(t *testing.T) {
	base := 30 * time.Second
	for n, want := range map[int]time.Duration{1: base, 2: 2 * base, 3: 4 * base, 8: MailBackoffCap, 19: MailBackoffCap, 1000: MailBackoffCap} {
		for range 20 {
			got := MailBackoff(base, n)
			if got < want || got > want+want/10 {
				t.Fatalf("MailBackoff(%v, %d) = %v, want %v plus at most 10%%", base, n, got, want)
			}
		}
	}
	if got := MailBackoff(0, 1); got < MailBackoffBaseDefault || got > MailBackoffBaseDefault*11/10 {
		t.Fatalf("MailBackoff(0, 1) = %v, want about %v", got, MailBackoffBaseDefault)
	}
	// The documented span of the attempts: about 13 hours from first to last.
	var total time.Duration
	for n := 1; n < MailAttemptsMax; n++ {
		total += MailBackoff(MailBackoffBaseDefault, n) // retries 1 … MailAttemptsMax-1
	}
	if total < 12*time.Hour || total > 15*time.Hour {
		t.Fatalf("%d attempts span %v, want about 13h as documented", MailAttemptsMax, total)
	}
}

// TestConsoleSender: one JSON log line that holds what a developer needs to
// follow a link in the mail.
func TestConsoleSender(t *testing.T) {
	var buf bytes.Buffer
	s := ConsoleSender{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	m := okMail()
	m.HTML = "<p>確認</p>"
	if err := s.Send(context.Background(), m, "42.abc"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want 1: %s", n, buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "mail (console)", "to": m.To, "subject": m.Subject, "ref": m.Ref, "text": m.Text,
		"message_id": "42.abc", "html_bytes": float64(len(m.HTML))} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
}
