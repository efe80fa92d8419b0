package web

import (
	"errors"
	"net/http"
	"strings"
	"unicode"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// The end users' portal: home, sign-up with email verification, sign-in
// and sign-out, the account page and the language switch.

// message is a catalog message with its arguments, chosen in Go code.
type message struct {
	Key  msgKey
	Args []any
}

// Msg renders a message in the page's language; the zero message is "".
// An argument that is itself a message (a field's name) is rendered in the
// page's language too.
func (p *page) Msg(m message) string {
	if m.Key == "" {
		return ""
	}
	args := make([]any, len(m.Args))
	for i, a := range m.Args {
		if inner, ok := a.(message); ok {
			a = p.Msg(inner)
		}
		args[i] = a
	}
	return translate(p.Lang, string(m.Key), args...)
}

func msg(key msgKey, args ...any) message { return message{Key: key, Args: args} }

// formError turns a service's invalid error into the message a form shows
// beside its fields; other errors are not the form's to show.
func formError(err error) (message, bool) {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.CodeInvalid {
		return message{}, false
	}
	switch ae.Param {
	case "email":
		return msg(msgInvalidEmail), true
	case "password":
		return msg(msgInvalidPassword, auth.PasswordBytesMin, auth.PasswordBytesMax), true
	}
	return msg(msgErrorBadRequest), true
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "home", nil)
}

// signUpData is the sign-up form: what was entered (never the password)
// and what was wrong with it.
type signUpData struct {
	Email       string
	Error       message
	PasswordMin int
}

func (s *Server) signUpForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "sign_up", signUpData{PasswordMin: auth.PasswordBytesMin})
}

// signUp creates the user and mails the verification link in the page's
// language. A taken email gets the same answer, and its owner a mail
// saying someone tried, so the form does not tell who has an account.
func (s *Server) signUp(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := r.PostForm.Get("email")
	u, token, err := s.cfg.Users.SignUp(r.Context(), auth.SignUpParams{Email: email, Password: r.PostForm.Get("password"), Locale: v.lang})
	if m, ok := formError(err); ok {
		return s.render(w, r, v, http.StatusBadRequest, "sign_up", signUpData{Email: email, Error: m, PasswordMin: auth.PasswordBytesMin})
	}
	switch {
	case apperr.Is(err, apperr.CodeConflict):
		addr, nerr := auth.NormalizeEmail(email)
		if nerr != nil {
			return nerr
		}
		// Answered alike either way; only the mail is limited.
		if !s.limits.allow("mail:account-exists\x00"+addr, accountExistsMailBurst, accountExistsMailWindow) {
			break
		}
		if err := s.enqueue(r.Context(), s.accountExistsMail(addr, v.lang)); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := s.enqueue(r.Context(), s.verificationMail(u, token)); err != nil {
			return err
		}
	}
	return redirect(w, r, "/check-mail")
}

func (s *Server) checkMail(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "check_mail", struct{ Hours int }{int(auth.VerificationTokenTTL.Hours())})
}

// verifyData is the confirmation page of a verification link.
type verifyData struct {
	Token         string
	Error         message // the link
	PasswordError message // the password
	PasswordMin   int
}

// verifyForm shows the form that confirms the link and sets the account's
// password: opening the link alone (as a mail scanner does) consumes
// nothing.
func (s *Server) verifyForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "verify", verifyData{Token: r.URL.Query().Get("token"), PasswordMin: auth.PasswordBytesMin})
}

// verify confirms the address and sets the password the form gave: the
// password is chosen by whoever holds the link from the mailbox, so an
// earlier sign-up with the same address by someone else gains nothing.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, v *visit) error {
	token := r.PostForm.Get("token")
	_, err := s.cfg.Users.VerifyEmail(r.Context(), token, r.PostForm.Get("password"))
	switch {
	case apperr.Is(err, apperr.CodeNotFound):
		return s.render(w, r, v, http.StatusNotFound, "verify", verifyData{Error: msg(msgVerifyInvalid)})
	case apperr.Is(err, apperr.CodeInvalid):
		return s.render(w, r, v, http.StatusUnprocessableEntity, "verify", verifyData{Token: token, PasswordMin: auth.PasswordBytesMin,
			PasswordError: msg(msgInvalidPassword, auth.PasswordBytesMin, auth.PasswordBytesMax)})
	case err != nil:
		return err
	}
	return redirect(w, r, "/sign-in?notice=verified")
}

// resendData is the form that asks for a new verification link.
type resendData struct {
	Email string
	Error message
}

func (s *Server) resendForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "resend", resendData{})
}

// resend mails a new link to an unverified user; every other outcome but a
// malformed address looks the same, so the form does not tell who has an
// account or whether they verified.
func (s *Server) resend(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := r.PostForm.Get("email")
	u, token, err := s.cfg.Users.ResendVerification(r.Context(), email)
	if m, ok := formError(err); ok {
		return s.render(w, r, v, http.StatusBadRequest, "resend", resendData{Email: email, Error: m})
	}
	switch {
	case apperr.Is(err, apperr.CodeNotFound) || apperr.Is(err, auth.CodeTooSoon):
	case err != nil:
		return err
	default:
		if err := s.enqueue(r.Context(), s.verificationMail(u, token)); err != nil {
			return err
		}
	}
	return redirect(w, r, "/check-mail")
}

// signInData is the sign-in form. Unverified offers to resend the link.
type signInData struct {
	Next       string // the page to return to after signing in
	Email      string
	Error      message
	Unverified bool
}

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "sign_in", signInData{Next: safeNext(r.URL.Query().Get("next"))})
}

// signInUser checks the password, rotates the session and shows the
// account page in the user's language.
func (s *Server) signInUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := r.PostForm.Get("email")
	next := safeNext(r.PostForm.Get("next"))
	if !s.limits.allowSignIn(r, "portal", email) {
		return s.render(w, r, v, http.StatusTooManyRequests, "sign_in", signInData{Next: next, Email: email, Error: msg(msgErrorRateLimited)})
	}
	u, err := s.cfg.Users.AuthenticateUser(r.Context(), email, r.PostForm.Get("password"))
	switch {
	case apperr.Is(err, auth.CodeUserUnauthenticated):
		return s.render(w, r, v, http.StatusUnprocessableEntity, "sign_in", signInData{Next: next, Email: email, Error: msg(msgSignInWrong)})
	case apperr.Is(err, auth.CodeEmailUnverified):
		return s.render(w, r, v, http.StatusUnprocessableEntity, "sign_in", signInData{Next: next, Email: email, Error: msg(msgSignInUnverified), Unverified: true})
	case err != nil:
		return err
	}
	if err := s.startSession(w, r, v, u.ID); err != nil {
		return err
	}
	s.setCookie(w, r, cookieLang, string(u.Locale), langCookieMaxAge)
	if next != "" {
		return redirect(w, r, next)
	}
	return redirect(w, r, "/account")
}

func (s *Server) signOutUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := s.endSession(w, r, v); err != nil {
		return err
	}
	return redirect(w, r, "/?notice=signed-out")
}

// accountData is the account page.
type accountData struct {
	User    auth.User
	Locales []auth.Locale
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "account", accountData{User: *v.user, Locales: auth.Locales})
}

// setLocale saves the language the user's mail is written in, and shows
// the pages in it too.
func (s *Server) setLocale(w http.ResponseWriter, r *http.Request, v *visit) error {
	l := auth.Locale(r.PostForm.Get("locale"))
	if _, err := s.cfg.Users.SetUserLocale(r.Context(), v.user.ID, l); err != nil {
		if apperr.Is(err, apperr.CodeInvalid) {
			return errBadForm(err)
		}
		return err
	}
	s.setCookie(w, r, cookieLang, string(l), langCookieMaxAge)
	return redirect(w, r, "/account?notice=saved")
}

// switchLang is the language switch in every page's header (at /lang in
// the portal and /console/lang in the console, each checking its own
// session's CSRF token): it sets the lang cookie and returns to the page
// it was on.
func (s *Server) switchLang(w http.ResponseWriter, r *http.Request, v *visit) error {
	l := auth.Locale(r.PostForm.Get("lang"))
	if err := l.Validate(); err != nil {
		return errBadForm(err)
	}
	s.setCookie(w, r, cookieLang, string(l), langCookieMaxAge)
	return redirect(w, r, localPath(r.PostForm.Get("next")))
}

// localPath returns next when it is a path (and query) on this site, else
// "/": the switch must not redirect anywhere else.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\#") ||
		strings.IndexFunc(next, unicode.IsControl) >= 0 {
		return "/"
	}
	return next
}
