// Package apperr is Kinko's one application error type: a stable machine code
// and a message that is safe to show to a caller.
//
// Edges map Code to a transport status in one table; any error that is not an
// *Error reaches a user only as "internal error". This package must never
// import anything from Kinko, so every layer can use it.
package apperr

import (
	"errors"
	"fmt"
)

// Codes shared by every module. Modules may add their own, more precise codes.
const (
	CodeInvalid  = "invalid"
	CodeNotFound = "not_found"
	CodeConflict = "conflict"
	// CodeForbidden: the caller is known but may not do this.
	CodeForbidden = "forbidden"
	CodeInternal  = "internal"
	CodeUnready   = "unavailable"
)

// Error is an application error with a stable code.
type Error struct {
	Code    string // stable, machine readable, e.g. "not_found"
	Message string // safe to show to the caller
	Param   string // the offending input field, when there is one
	Err     error  // the cause, for logs only
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Param != "" {
		msg += " (" + e.Param + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with code and a formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a CodeInvalid error naming the offending param.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Param: param, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a CodeNotFound error. It says the same whether the thing is
// absent or belongs to someone else.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// CodeOf returns err's code, CodeInternal for errors that are not *Error, and
// "" for nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Is reports whether err carries code.
func Is(err error, code string) bool { return CodeOf(err) == code }
