// Package notify tells people things: today, mail sent as durable jobs through
// an SMTP relay (or logged to the console in development); later, incident
// notices, templates and their delivery logs. Every product may use it
// (DESIGN.md §2); it must never import a product, a SQL driver or net/http.
package notify

import (
	"context"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Bounds of one mail.
const (
	SubjectLenMax = 998       // RFC 5322 line length
	BodyLenMax    = 256 << 10 // bytes of Text, and of HTML
	RefLenMax     = 200
)

// MailKind names the job that sends one Mail.
const MailKind = "mail_send"

// Mail is one message to one recipient. Products compose it (subject and
// bodies in the recipient's language); notify only delivers it.
type Mail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"` // optional alternative part
	// Ref says what the mail is about ("deal dl_… funded", "user … verify"),
	// for logs and for a stable Message-ID, so that a retried job sends the
	// same message and receivers can drop the duplicate.
	Ref string `json:"ref"`
}

// Validate checks a Mail before it is queued.
//
// Errors: invalid.
func (m Mail) Validate() error {
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		return apperr.Invalid("to", "not a plain email address")
	}
	if m.Subject == "" || len(m.Subject) > SubjectLenMax || strings.ContainsAny(m.Subject, "\r\n\x00") || !utf8.ValidString(m.Subject) {
		return apperr.Invalid("subject", "a subject is one line of at most %d bytes", SubjectLenMax)
	}
	// NUL is refused everywhere: PostgreSQL cannot store it in a job's
	// arguments, and no mail needs it.
	if m.Text == "" || len(m.Text) > BodyLenMax || !utf8.ValidString(m.Text) || strings.ContainsRune(m.Text, 0) {
		return apperr.Invalid("text", "a text body is required, at most %d bytes of UTF-8 without NUL", BodyLenMax)
	}
	if len(m.HTML) > BodyLenMax || !utf8.ValidString(m.HTML) || strings.ContainsRune(m.HTML, 0) {
		return apperr.Invalid("html", "at most %d bytes of UTF-8 without NUL", BodyLenMax)
	}
	if m.Ref == "" || len(m.Ref) > RefLenMax || !utf8.ValidString(m.Ref) || strings.ContainsRune(m.Ref, 0) {
		return apperr.Invalid("ref", "a reference of at most %d bytes is required", RefLenMax)
	}
	return nil
}

// MailArgs is the durable job that sends one Mail. Its Kind names it to the
// job queue; package jobs works it.
type MailArgs struct {
	Mail Mail `json:"mail"`
}

// Kind implements River's JobArgs.
func (MailArgs) Kind() string { return MailKind }

// Sender delivers a mail now. messageID is stable across retries of one job.
// Implementations: an SMTP relay, or the console in development.
type Sender interface {
	Send(ctx context.Context, m Mail, messageID string) error
}
