package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// Cookie names. With Config.SecureCookies the session and CSRF cookies take
// the __Host- prefix, which browsers accept only from a secure origin, for
// path /, without a Domain: a sibling subdomain cannot plant one.
const (
	cookieUserSession  = "kinko_session" // a portal user's session
	cookieStaffSession = "kinko_console" // a staff user's session
	cookieCSRF         = "kinko_csrf"    // the CSRF token of a browser without a session
	cookieLang         = "lang"          // the language switch's choice
	hostPrefix         = "__Host-"
	csrfField          = "csrf_token" // the hidden field of every form
	langCookieMaxAge   = 365 * 24 * 60 * 60
)

// visit is one request as the pages see it: its language, who is signed in
// to its area, and the CSRF token its forms carry.
type visit struct {
	requestID string
	area      area
	lang      auth.Locale
	session   *auth.Session   // the area's session, nil when signed out
	user      *auth.User      // the portal's signed-in user
	staff     *auth.StaffUser // the console's signed-in staff user
	// member is the user's membership of the organization a billing page
	// is about (requireMember); memberships are all of the user's, read
	// at most once per visit (Server.memberships).
	member      *auth.Member
	memberships []auth.Member
	// anonCSRF is the token of a browser without a session, from its
	// cookie; anonFresh says the cookie was made by this request, so
	// nothing posted with it can be genuine.
	anonCSRF  string
	anonFresh bool
}

// csrfToken is the token this visit's forms carry.
func (v *visit) csrfToken() string {
	if v.session != nil {
		return v.session.CSRFToken
	}
	return v.anonCSRF
}

// checkCSRF reports whether a posted token is the one this visit's forms
// carry: the session's when signed in, else the browser's CSRF cookie's.
func (v *visit) checkCSRF(posted string) bool {
	if v.session != nil {
		return v.session.CheckCSRF(posted)
	}
	return !v.anonFresh && v.anonCSRF != "" && len(posted) == len(v.anonCSRF) &&
		subtle.ConstantTimeCompare([]byte(posted), []byte(v.anonCSRF)) == 1
}

func (s *Server) cookieName(base string) string {
	if s.cfg.SecureCookies {
		return hostPrefix + base
	}
	return base
}

func (s *Server) sessionCookieName(a area) string {
	if a == areaConsole {
		return s.cookieName(cookieStaffSession)
	}
	return s.cookieName(cookieUserSession)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for path /, Secure when
// the request came over TLS or SecureCookies is set. maxAge 0 makes a
// cookie that ends with the browser session; negative deletes it.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies || r.TLS != nil,
	})
}

// newVisit reads the request's language, its area's session and the
// signed-in person, and its CSRF cookie, giving the browser one when it
// has neither a session nor a cookie.
func (s *Server) newVisit(w http.ResponseWriter, r *http.Request, a area, requestID string) (*visit, error) {
	v := &visit{requestID: requestID, area: a, lang: langOf(r)}
	if err := s.loadSession(w, r, v); err != nil {
		return nil, err
	}
	if v.session == nil {
		if c, err := r.Cookie(s.cookieName(cookieCSRF)); err == nil && c.Value != "" {
			v.anonCSRF = c.Value
		} else {
			v.anonCSRF, v.anonFresh = auth.NewCSRFToken(), true
			s.setCookie(w, r, s.cookieName(cookieCSRF), v.anonCSRF, 0)
		}
	}
	return v, nil
}

// loadSession finds the area's session and its person. A session that
// opens nothing (expired, revoked, its person disabled) is treated as no
// session, and its cookie is cleared.
func (s *Server) loadSession(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := s.sessionCookieName(v.area)
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return nil
	}
	kind := auth.SessionUser
	if v.area == areaConsole {
		kind = auth.SessionStaff
	}
	ctx := r.Context()
	sess, err := s.cfg.Sessions.FindSession(ctx, kind, c.Value)
	if apperr.Is(err, apperr.CodeNotFound) {
		s.setCookie(w, r, name, "", -1)
		return nil
	}
	if err != nil {
		return fmt.Errorf("web: load session: %w", err)
	}
	switch kind {
	case auth.SessionUser:
		u, err := s.cfg.Users.FindUserByID(ctx, sess.SubjectID)
		switch {
		case apperr.Is(err, apperr.CodeNotFound) || err == nil && (u.Disabled || !u.Verified()):
			s.setCookie(w, r, name, "", -1)
			return nil
		case err != nil:
			return fmt.Errorf("web: load session user: %w", err)
		}
		v.user = &u
	case auth.SessionStaff:
		u, err := s.cfg.Staff.FindStaffUserByID(ctx, sess.SubjectID)
		switch {
		case apperr.Is(err, apperr.CodeNotFound) || err == nil && !u.DisabledAt.IsZero():
			s.setCookie(w, r, name, "", -1)
			return nil
		case err != nil:
			return fmt.Errorf("web: load session staff user: %w", err)
		}
		v.staff = &u
	}
	v.session = &sess
	return nil
}

// startSession signs subjectID in to the visit's area: it revokes the
// browser's previous session of that area (so a session token planted
// before sign-in never becomes a signed-in one) and sets the new session's
// cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, v *visit, subjectID string) error {
	ctx := r.Context()
	kind := auth.SessionUser
	if v.area == areaConsole {
		kind = auth.SessionStaff
	}
	if v.session != nil {
		if err := s.cfg.Sessions.RevokeSession(ctx, v.session.ID); err != nil {
			return err
		}
	}
	sess, token, err := s.cfg.Sessions.CreateSession(ctx, kind, subjectID)
	if err != nil {
		return err
	}
	s.setCookie(w, r, s.sessionCookieName(v.area), token, 0)
	s.log.InfoContext(ctx, "web: signed in", "request_id", v.requestID, "session_id", sess.ID, "kind", string(kind), "subject_id", subjectID)
	return nil
}

// endSession revokes the visit's session and clears its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, v *visit) error {
	if v.session != nil {
		if err := s.cfg.Sessions.RevokeSession(r.Context(), v.session.ID); err != nil {
			return err
		}
	}
	s.setCookie(w, r, s.sessionCookieName(v.area), "", -1)
	return nil
}

// requireUser lets only a signed-in portal user through; others go to the
// sign-in page.
func (s *Server) requireUser(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, v *visit) error {
		if v.user == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/account" {
				// Back to the page asked for (a deal's link in mail) after signing in.
				return redirect(w, r, "/sign-in?next="+url.QueryEscape(r.URL.RequestURI()))
			}
			return redirect(w, r, "/sign-in")
		}
		return h(w, r, v)
	}
}

// requireRole lets only a signed-in staff user with one of roles through;
// admin passes every check (it may do everything), and no roles at all
// admits any staff user. A staff user without the role gets 403; a visitor
// without a console session goes to the console's sign-in page.
func (s *Server) requireRole(roles ...auth.Role) func(handler) handler {
	return func(h handler) handler {
		return func(w http.ResponseWriter, r *http.Request, v *visit) error {
			if v.staff == nil {
				return redirect(w, r, "/console/sign-in")
			}
			if len(roles) > 0 && v.staff.Role != auth.RoleAdmin && !slices.Contains(roles, v.staff.Role) {
				return errForbidden
			}
			return h(w, r, v)
		}
	}
}

// redirect answers 303 See Other, so that a browser follows a POST with a
// GET.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// safeNext is where a sign-in continues: a path of this site from the
// sign-in form's next field, else "" (never another host: "//x", "/\\x"
// and absolute URLs are refused, so a link cannot send a user elsewhere).
func safeNext(next string) string {
	if len(next) > nextLenMax || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\\") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

// nextLenMax bounds the page a sign-in returns to.
const nextLenMax = 512
