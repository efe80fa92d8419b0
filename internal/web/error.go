package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// Codes of the pages' own errors.
const (
	codeForbidden   = auth.CodeForbidden
	codeCrossOrigin = "cross_origin"
	codeCSRF        = "csrf_token"
	codeBadForm     = "bad_form"
	codeRateLimited = "rate_limited"
)

var (
	errNotFound    = apperr.NotFound("page")
	errForbidden   = &apperr.Error{Code: codeForbidden, Message: "your role may not open this page"}
	errCrossOrigin = &apperr.Error{Code: codeCrossOrigin, Message: "a form posted from another site"}
	errCSRF        = &apperr.Error{Code: codeCSRF, Message: "the form's CSRF token is missing or stale"}
)

func errBadForm(err error) error {
	return &apperr.Error{Code: codeBadForm, Message: "the form could not be read", Err: err}
}

// errorPages is the one table from error codes to a status and the
// message the error page shows. Other application codes get 400 and a
// generic message; errors that are not application errors get 500 and an
// error id.
var errorPages = map[string]struct {
	status  int
	message msgKey
}{
	apperr.CodeNotFound: {http.StatusNotFound, msgErrorNotFound},
	codeForbidden:       {http.StatusForbidden, msgErrorForbidden},
	codeCrossOrigin:     {http.StatusForbidden, msgErrorCrossOrigin},
	codeCSRF:            {http.StatusForbidden, msgErrorCSRF},
	codeBadForm:         {http.StatusBadRequest, msgErrorBadRequest},
	codeRateLimited:     {http.StatusTooManyRequests, msgErrorRateLimited},
	apperr.CodeUnready:  {http.StatusServiceUnavailable, msgErrorUnavailable},
}

// errorData is the error page's own data.
type errorData struct {
	Status  int
	Message message
	ErrorID string // set for internal errors: the key to the log line
}

// writeError renders err as an error page. Application errors show a
// catalog message for their code; anything else is logged in full under an
// error id, with the request id, and shown only as an internal error with
// that id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	d := errorData{Status: http.StatusBadRequest, Message: msg(msgErrorBadRequest)}
	var ae *apperr.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		d.Status, d.Message = http.StatusRequestEntityTooLarge, msg(msgErrorTooLarge)
	case errors.As(err, &ae) && ae.Code != apperr.CodeInternal:
		if e, ok := errorPages[ae.Code]; ok {
			d.Status, d.Message = e.status, msg(e.message)
		}
		if d.Status == http.StatusForbidden {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "web: refused",
				slog.String("request_id", v.requestID), slog.String("code", ae.Code), slog.String("path", r.URL.Path))
		}
	default:
		var b [8]byte
		rand.Read(b[:])
		d.ErrorID = "err_" + hex.EncodeToString(b[:])
		d.Status, d.Message = http.StatusInternalServerError, msg(msgErrorInternal)
		s.log.LogAttrs(r.Context(), slog.LevelError, "web: internal error",
			slog.String("request_id", v.requestID), slog.String("error_id", d.ErrorID),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	if rerr := s.render(w, r, v, d.Status, "error", d); rerr != nil {
		// The error page itself failed: say so plainly, with the ids.
		s.log.LogAttrs(r.Context(), slog.LevelError, "web: render error page",
			slog.String("request_id", v.requestID), slog.String("err", rerr.Error()))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(d.Status)
		w.Write([]byte(http.StatusText(d.Status) + " (request " + v.requestID + ")\n"))
	}
}

// notFound is the page of every path no route matches.
func notFound(http.ResponseWriter, *http.Request, *visit) error { return errNotFound }
