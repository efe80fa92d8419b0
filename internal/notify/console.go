package notify

import (
	"context"
	"log/slog"
)

// ConsoleSender "sends" mail by writing each one as a single log line: the
// development default, so that a verification link or a notice can be read
// on the console without a mail server. It never fails. It must not be used
// in production: the log then holds what only the recipient should read.
type ConsoleSender struct {
	Logger *slog.Logger // nil: slog.Default()
}

// Send implements Sender: one Info record "mail (console)" with the
// recipient, subject, reference, Message-ID and text body (the HTML
// alternative's size only).
func (s ConsoleSender) Send(ctx context.Context, m Mail, messageID string) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.LogAttrs(ctx, slog.LevelInfo, "mail (console)",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("ref", m.Ref),
		slog.String("message_id", messageID),
		slog.String("text", m.Text),
		slog.Int("html_bytes", len(m.HTML)),
	)
	return nil
}
