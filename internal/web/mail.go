package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/notify"
)

// link returns the absolute URL of path on the public URL, with query.
func (s *Server) link(path string, query url.Values) string {
	u := *s.publicURL
	u.Path = u.Path + path
	u.RawQuery = query.Encode()
	return u.String()
}

// mailRef makes a mail's reference: what it is about, and a random part so
// that two mails about one thing (a resend) are two messages to the
// receiver. A retried job keeps the reference it was queued with.
func mailRef(about string) string {
	var b [6]byte
	rand.Read(b[:])
	return about + " " + hex.EncodeToString(b[:])
}

// verificationMail is the mail with a user's verification link, in their
// language.
func (s *Server) verificationMail(u auth.User, token string) notify.Mail {
	l := u.Locale
	return notify.Mail{
		To:      u.Email,
		Subject: translate(l, string(msgMailVerifySubject)),
		Text: translate(l, string(msgMailVerifyBody), s.link("/verify", url.Values{"token": {token}}),
			int(auth.VerificationTokenTTL.Hours()), s.link("/verify/resend", nil)),
		Ref: mailRef("user " + u.ID + " verification"),
	}
}

// accountExistsMail answers a sign-up with an email that has an account: the
// page says what it says to every sign-up, and the owner of the address
// learns of the attempt and where to sign in.
func (s *Server) accountExistsMail(email string, l auth.Locale) notify.Mail {
	return notify.Mail{
		To:      email,
		Subject: translate(l, string(msgMailExistsSubject)),
		Text:    translate(l, string(msgMailExistsBody), s.link("/sign-in", nil), s.link("/verify/resend", nil)),
		Ref:     mailRef("sign-up with a registered email"),
	}
}

// enqueue validates and queues mails.
func (s *Server) enqueue(ctx context.Context, mails ...notify.Mail) error {
	for _, m := range mails {
		if err := m.Validate(); err != nil {
			// A mail this package composed is malformed: a bug, not the visitor's fault.
			return &apperr.Error{Code: apperr.CodeInternal, Message: fmt.Sprintf("web: mail %q", m.Ref), Err: err}
		}
	}
	if err := s.cfg.Mail.MailEnqueue(ctx, mails); err != nil {
		return fmt.Errorf("web: queue mail: %w", err)
	}
	return nil
}
