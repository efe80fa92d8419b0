package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/billing"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/idempotency"
	"github.com/kinko-pay/kinko/internal/ledger"
)

// problem is an RFC 9457 problem document with Kinko's stable code.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id"`
	ErrorID   string `json:"error_id,omitempty"` // internal errors only: find it in the log
}

// problemTypeBase prefixes every problem type; the code completes it.
const problemTypeBase = "https://kinko.dev/problems/"

// statusByCode is the one table from error codes to HTTP statuses. Other
// application codes (ledger results, product codes) are 422; errors that are
// not application errors are 500.
var statusByCode = map[string]int{
	apperr.CodeInvalid:        http.StatusBadRequest,
	apperr.CodeNotFound:       http.StatusNotFound,
	apperr.CodeConflict:       http.StatusConflict,
	apperr.CodeUnready:        http.StatusServiceUnavailable,
	auth.CodeUnauthenticated:  http.StatusUnauthorized,
	auth.CodeForbidden:        http.StatusForbidden,
	codeRouteNotFound:         http.StatusNotFound,
	codeMethodNotAllowed:      http.StatusMethodNotAllowed,
	codeRateLimited:           http.StatusTooManyRequests,
	idempotency.CodeKeyReused: http.StatusUnprocessableEntity,
	idempotency.CodeKeyInUse:  http.StatusConflict,
	codeTooLarge:              http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:      http.StatusUnsupportedMediaType,
	escrow.CodeStateConflict:  http.StatusConflict,
	escrow.CodeNotParty:       http.StatusForbidden,
	escrow.CodeReviewHold:     http.StatusConflict,
	escrow.CodeDeadlinePassed: http.StatusConflict,
	codeNothingToPay:          http.StatusNotFound,
	// Billing: limit_exceeded is the ledger's own result code, and 422 as
	// the ledger's is (like insufficient_funds), so one code has one
	// status; a charge above what the reservation holds is 422 too (retry
	// with reserve_difference), and so is usage above a session's quota
	// (top up, then report the same seq again); an expired or closed
	// reservation, an ended session and a reservation that only its
	// session may move are state conflicts (409), like a deal's. A seq
	// at or below the session's last accepted one conflicts with what the
	// session has recorded, as the same seq with another amount does
	// (conflict): 409. A month that has not ended yet is its period's
	// state, which time changes, as escrow's deadline_passed is: 409.
	billing.CodeReservationExceeded:  http.StatusUnprocessableEntity,
	billing.CodeReservationExpired:   http.StatusConflict,
	billing.CodeReservationClosed:    http.StatusConflict,
	billing.CodeQuotaExceeded:        http.StatusUnprocessableEntity,
	billing.CodeSessionEnded:         http.StatusConflict,
	billing.CodeReservationInSession: http.StatusConflict,
	billing.CodePeriodOpen:           http.StatusConflict,
}

// internalCodes are application codes that name a bug, not the caller's
// mistake: they are rendered as internal errors, with an error id, and
// logged in full. transfer_rejected is a product's own ledger move refused,
// which its rules promise never happens.
var internalCodes = map[string]bool{
	apperr.CodeInternal:         true,
	ledger.CodeTransferRejected: true,
}

const (
	codeRouteNotFound    = "route_not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	// codeNothingToPay: POST /v1/payout_batches found no payee with a valid
	// bank account and money available in the currency (escrow's
	// not_found), so no batch was made.
	codeNothingToPay = "nothing_to_pay"
)

var (
	errNoKey         = &apperr.Error{Code: auth.CodeUnauthenticated, Message: "send an API key as Authorization: Bearer <secret>"}
	errNotJSON       = &apperr.Error{Code: codeUnsupportedMedia, Message: "send a JSON body with Content-Type: application/json"}
	errRouteNotFound = &apperr.Error{Code: codeRouteNotFound, Message: "no such endpoint"}
)

// tooLargeDetail says which bound a body broke: BodyBytesMax, or the
// statement import's (ImportBodyBytesMax, the only other one).
func tooLargeDetail(limit int64) string {
	if limit == ImportBodyBytesMax {
		return fmt.Sprintf("the body is larger than %d bytes: the statement file may have at most %d MiB, %d bytes in base64", limit, ImportFileBytesMax>>20, base64.StdEncoding.EncodedLen(ImportFileBytesMax))
	}
	return "the body is larger than 1 MiB"
}

// resultError is a ledger rejection as an error: its code is the result.
type resultError struct{ result ledger.Result }

func (e resultError) Error() string { return string(e.result) }

// paramOfResult is the request field a ledger rejection is about, as the
// transfer endpoints name it; "" when it is about no one field (funds, a
// linked set, the hold's state).
func paramOfResult(r ledger.Result) string {
	switch r {
	case ledger.ResultAmountMustBePositive, ledger.ResultAmountMustBeZero, ledger.ResultPostAmountExceedsPending,
		ledger.ResultExistsWithDifferentAmount:
		return "amount"
	case ledger.ResultAssetMismatch, ledger.ResultExistsWithDifferentAsset:
		return "amount.currency"
	case ledger.ResultReferenceRequired, ledger.ResultReferenceTooLong:
		return "reference"
	case ledger.ResultDebitAccountNotFound, ledger.ResultExistsWithDifferentDebitAccountID:
		return "debit_account"
	case ledger.ResultCreditAccountNotFound, ledger.ResultExistsWithDifferentCreditAccountID, ledger.ResultAccountsMustDiffer:
		return "credit_account"
	case ledger.ResultTimeoutNotAllowed, ledger.ResultTimeoutInvalid, ledger.ResultExistsWithDifferentTimeout:
		return "timeout_seconds"
	case ledger.ResultCodeTooLong, ledger.ResultExistsWithDifferentCode:
		return "code"
	case ledger.ResultMetadataTooLarge, ledger.ResultExistsWithDifferentMetadata:
		return "metadata"
	case ledger.ResultKindInvalid, ledger.ResultExistsWithDifferentKind:
		return "kind"
	}
	return ""
}

// resultDetail is a ledger rejection's detail.
func resultDetail(r ledger.Result) string {
	return "the ledger rejected the transfer: " + strings.ReplaceAll(string(r), "_", " ")
}

func statusOfResult(r ledger.Result) int {
	s := string(r)
	switch {
	case r == ledger.ResultAccountManaged:
		return http.StatusForbidden
	case strings.HasSuffix(s, "_not_found"):
		return http.StatusNotFound
	case strings.HasPrefix(s, "exists_with_different_"):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// writeError renders err. Application errors show their code and message;
// anything else is logged in full under an error id and shown only as
// "internal error" with that id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problem{RequestID: RequestID(r.Context())}
	var ae *apperr.Error
	var re resultError
	var tooLarge *http.MaxBytesError
	if errors.Is(err, ledger.ErrClosed) {
		err = &apperr.Error{Code: apperr.CodeUnready, Message: "the server is shutting down; retry on another node or in a moment"}
	}
	switch {
	case errors.As(err, &tooLarge):
		p.Code, p.Detail = codeTooLarge, tooLargeDetail(tooLarge.Limit)
		p.Status = statusByCode[p.Code]
	case errors.As(err, &re):
		p.Code, p.Status = string(re.result), statusOfResult(re.result)
		p.Detail, p.Param = resultDetail(re.result), paramOfResult(re.result)
	case errors.As(err, &ae) && !internalCodes[ae.Code]:
		p.Code, p.Detail, p.Param = ae.Code, ae.Message, ae.Param
		if st, ok := statusByCode[ae.Code]; ok {
			p.Status = st
		} else {
			p.Status = http.StatusUnprocessableEntity
		}
	default:
		var b [8]byte
		rand.Read(b[:])
		p.ErrorID = "err_" + hex.EncodeToString(b[:])
		p.Code, p.Status, p.Detail = apperr.CodeInternal, http.StatusInternalServerError, "internal error; quote error_id when reporting it"
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", p.RequestID), slog.String("error_id", p.ErrorID), slog.String("err", err.Error()))
	}
	p.Type = problemTypeBase + p.Code
	p.Title = http.StatusText(p.Status)
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kinko"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
