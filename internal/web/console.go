package web

import (
	"net/http"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// The operator's console, for staff users: sign-in, sign-out and a home
// page. Later pages register under /console with
// s.console(s.requireRole(roles...)(handler)).

// consoleSignInData is the console's sign-in form.
type consoleSignInData struct {
	Email string
	Error message
}

func (s *Server) consoleSignInForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "console_sign_in", consoleSignInData{})
}

// consoleSignIn checks a staff user's password (every failure alike) and
// rotates the console session.
func (s *Server) consoleSignIn(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := r.PostForm.Get("email")
	if !s.limits.allowSignIn(r, "console", email) {
		return s.render(w, r, v, http.StatusTooManyRequests, "console_sign_in", consoleSignInData{Email: email, Error: msg(msgErrorRateLimited)})
	}
	u, err := s.cfg.Staff.AuthenticateStaff(r.Context(), email, r.PostForm.Get("password"))
	switch {
	case apperr.Is(err, auth.CodeStaffUnauthenticated):
		return s.render(w, r, v, http.StatusUnprocessableEntity, "console_sign_in", consoleSignInData{Email: email, Error: msg(msgSignInWrong)})
	case err != nil:
		return err
	}
	if err := s.startSession(w, r, v, u.ID); err != nil {
		return err
	}
	return redirect(w, r, "/console")
}

func (s *Server) consoleSignOut(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := s.endSession(w, r, v); err != nil {
		return err
	}
	return redirect(w, r, "/console/sign-in?notice=signed-out")
}

// consoleHomeData is the console's home page.
type consoleHomeData struct {
	Role message
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request, v *visit) error {
	return s.render(w, r, v, http.StatusOK, "console_home", consoleHomeData{Role: roleName(v.staff.Role)})
}

// roleNames are the catalog names of the staff roles.
var roleNames = map[auth.Role]msgKey{
	auth.RoleAdmin:      msgRoleAdmin,
	auth.RoleSupport:    msgRoleSupport,
	auth.RoleFinance:    msgRoleFinance,
	auth.RoleMonitoring: msgRoleMonitoring,
}

// roleName is a role's name in the catalog, with a role added to auth
// before its name is shown as itself.
func roleName(r auth.Role) message {
	if k, ok := roleNames[r]; ok {
		return msg(k)
	}
	return msg(msgRoleUnknown, string(r))
}
