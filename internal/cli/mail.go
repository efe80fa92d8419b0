package cli

import (
	"fmt"
	"log/slog"

	"github.com/kinko-pay/kinko/internal/notify"
	"github.com/kinko-pay/kinko/internal/notify/smtprelay"
)

// smtpURLUsage documents --smtp-url.
const smtpURLUsage = "mail relay as smtp://[user:password@]host[:port]?from=noreply@example.com[&tls=starttls|tls|none][&auth=plain|login] " +
	"(env KINKO_SMTP_URL, which keeps the password out of the process list; unset: mail is written to the log, for development)"

// mailSender is the server's notify.Sender, closed after the job runner stops.
type mailSender interface {
	notify.Sender
	Close() error
}

// consoleMail is notify.ConsoleSender with nothing to close.
type consoleMail struct{ notify.ConsoleSender }

func (consoleMail) Close() error { return nil }

// newMailSender returns the SMTP sender smtpURL configures, or, when it is
// empty, the console sender; either way it logs which, never the password.
func newMailSender(smtpURL string, log *slog.Logger) (mailSender, error) {
	if smtpURL == "" {
		log.Warn("mail: console (development)", "hint", "mail is written to this log, not sent; set --smtp-url or KINKO_SMTP_URL to send it")
		return consoleMail{notify.ConsoleSender{Logger: log}}, nil
	}
	cfg, err := smtprelay.ParseURL(smtpURL)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url: %w", err)
	}
	s, err := smtprelay.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url: %w", err)
	}
	log.Info("mail: smtp", "relay", cfg.String())
	return s, nil
}
