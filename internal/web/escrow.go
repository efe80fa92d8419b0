package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
	"github.com/kinko-pay/kinko/internal/escrow"
	"github.com/kinko-pay/kinko/internal/money"
)

// The escrow pages' shared parts: their routes, who acts, how amounts and
// times are shown and read, and how an escrow refusal becomes a message on
// the page instead of an error page.

// Bounds of the escrow pages.
const (
	dealsPageSize    = 20 // deals, deposits, payout batches, billing customers and reservations per page of a list
	milestoneRowsMax = 5  // milestone rows of the create form (escrow allows MilestonesMax)
	assetsMax        = 20 // currencies offered, and payable balances read, at most
	cursorLenMax     = 64 // a list's ?after= cursor (an id) longer than this is refused
	// statementBytesMax bounds an uploaded bank statement: about 40,000
	// Zengin records. Larger files are split at the bank, or imported in
	// parts: an import is idempotent per entry.
	statementBytesMax = 8 << 20
)

// escrowRoutes registers the portal's deal and payout pages and the
// console's review, dispute, deposit and payout pages.
func (s *Server) escrowRoutes() {
	user := func(h handler) http.Handler { return s.portal(s.requireUser(h)) }
	s.mux.Handle("GET /deals", user(s.deals))
	s.mux.Handle("GET /deals/new", user(s.dealNewForm))
	s.mux.Handle("POST /deals", user(s.createDeal))
	s.mux.Handle("GET /deals/{id}", user(s.deal))
	for action, do := range s.dealActions() {
		s.mux.Handle("POST /deals/{id}/"+action, user(s.dealAction(do)))
	}
	s.mux.Handle("GET /account/payouts", user(s.payouts))
	s.mux.Handle("POST /account/payouts/bank-account", user(s.setBankAccount))

	support := func(h handler) http.Handler { return s.console(s.requireRole(auth.RoleSupport)(h)) }
	finance := func(h handler) http.Handler { return s.console(s.requireRole(auth.RoleFinance)(h)) }
	s.mux.Handle("GET /console/reviews", support(s.consoleReviews))
	s.mux.Handle("GET /console/disputes", support(s.consoleDisputes))
	s.mux.Handle("GET /console/deals/{id}", s.console(s.requireRole(auth.RoleSupport, auth.RoleFinance)(s.consoleDeal)))
	s.mux.Handle("POST /console/deals/{id}/messages", support(s.consolePostMessage))
	s.mux.Handle("POST /console/deals/{id}/resolve", support(s.consoleResolve))
	s.mux.Handle("POST /console/deals/{id}/clear-review", support(s.consoleClearReview))
	s.mux.Handle("GET /console/deposits", finance(s.consoleDeposits))
	// The body may exceed the file's bound by a form's worth, so that a file
	// just over it gets the import page's own message.
	s.mux.Handle("POST /console/deposits/import", s.consoleUpload(statementBytesMax+formBytesMax, s.requireRole(auth.RoleFinance)(s.consoleImport)))
	s.mux.Handle("POST /console/deposits/{id}/clear", finance(s.consoleClearDeposit))
	s.mux.Handle("POST /console/deposits/{id}/apply", finance(s.consoleApplyDeposit))
	s.mux.Handle("POST /console/deposits/{id}/return", finance(s.consoleReturnDeposit))
	s.mux.Handle("GET /console/payouts", finance(s.consolePayouts))
	s.mux.Handle("POST /console/payouts", finance(s.consoleBuildBatch))
	s.mux.Handle("GET /console/payouts/{id}", finance(s.consolePayout))
	s.mux.Handle("GET /console/payouts/{id}/export/{format}", finance(s.consoleExportBatch))
	s.mux.Handle("POST /console/payouts/{id}/settle", finance(s.consoleSettleBatch))
	s.mux.Handle("POST /console/payouts/{id}/items/{item}/return", finance(s.consoleReturnItem))
}

// userActor is a signed-in portal user as escrow sees them: only verified
// users can sign in, so their email binds them to their deals.
func userActor(u *auth.User) escrow.Actor {
	return escrow.Actor{Kind: escrow.ActorUser, ID: u.ID, Email: u.Email, Locale: string(u.Locale)}
}

// staffActor is a signed-in staff user as escrow sees them.
func staffActor(u *auth.StaffUser) escrow.Actor {
	return escrow.Actor{Kind: escrow.ActorStaff, ID: u.ID, Role: string(u.Role)}
}

// cursor reads a list's ?after= cursor.
func cursor(r *http.Request) (string, error) {
	after := r.URL.Query().Get("after")
	if len(after) > cursorLenMax {
		return "", errBadForm(fmt.Errorf("web: cursor of %d bytes", len(after)))
	}
	return after, nil
}

// page1 cuts a list read with limit dealsPageSize+1 to one page and
// returns the cursor of the next, "" on the last page.
func page1[T any](list []T, id func(T) string) ([]T, string) {
	if len(list) <= dealsPageSize {
		return list, ""
	}
	list = list[:dealsPageSize]
	return list, id(list[len(list)-1])
}

// currencies returns the assets deals may be made in, JPY first, at most
// assetsMax; without an AssetLister, JPY alone.
func (s *Server) currencies(ctx context.Context) ([]money.Asset, error) {
	if s.cfg.Assets == nil {
		return []money.Asset{{Code: "JPY"}}, nil
	}
	as, err := s.cfg.Assets.FindAssets(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: list currencies: %w", err)
	}
	slices.SortStableFunc(as, func(a, b money.Asset) int {
		switch {
		case a.Code == b.Code:
			return 0
		case a.Code == "JPY":
			return -1
		case b.Code == "JPY":
			return 1
		}
		return strings.Compare(a.Code, b.Code)
	})
	if len(as) > assetsMax {
		as = as[:assetsMax]
	}
	return as, nil
}

// scaleOf returns the scale of currency code among as; 0 (yen) when it is
// not there.
func scaleOf(as []money.Asset, code string) int {
	for _, a := range as {
		if a.Code == code {
			return a.Scale
		}
	}
	return 0
}

// formatMoney shows an amount in minor units with its currency's scale and
// thousands separators: ¥51,000 for yen, 1,234.56 USD for the others.
func formatMoney(currency string, scale int, minor int64) string {
	s := money.Asset{Code: currency, Scale: scale}.Format(minor)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	if currency == "JPY" {
		return sign + "¥" + b.String()
	}
	return sign + b.String() + " " + currency
}

// parseAmount reads an amount a person typed, in the currency's major
// unit: full-width digits, a yen sign and thousands separators are
// accepted. It fails on anything else, and on more decimals than the
// currency has.
func parseAmount(s string, a money.Asset) (int64, error) {
	s = width.Narrow.String(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "¥"), "\\")
	s = strings.ReplaceAll(strings.ReplaceAll(s, ",", ""), " ", "")
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, errors.New("web: not an amount")
	}
	return a.Parse(s)
}

// displayZone is the zone the pages show times in: Japan's, where the
// operator and its bank are (no daylight saving, so a fixed offset is
// exact). A <time> element carries the UTC instant as well.
var displayZone = time.FixedZone("JST", 9*60*60)

// formatWhen shows a time.Time or *time.Time as "2026-03-01 18:00 JST";
// a nil or zero time is "".
func formatWhen(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.In(displayZone).Format("2006-01-02 15:04 MST")
}

// formatDatetime is a time's RFC 3339 form in UTC, for <time datetime>.
func formatDatetime(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, !t.IsZero()
	}
	return time.Time{}, false
}

// at returns a POST as if it had asked for path: a page rendered in answer
// to a refused form names the page it shows, so that its language switch
// returns there and not to the form's target. A GET is returned as it is.
func at(r *http.Request, path string) *http.Request {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r
	}
	r2 := *r
	r2.URL = &url.URL{Path: path}
	return &r2
}

// withNotice returns path with ?notice=name added to its query.
func withNotice(path, name string) string {
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	q := u.Query()
	q.Set("notice", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// refusal turns an escrow error the person can act on into the message the
// page shows, and its status. ok is false for every other error, not_found
// among them: the caller returns those for writeError (a 404 page, or an
// internal error with its id).
func refusal(err error) (m message, status int, ok bool) {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		return message{}, 0, false
	}
	switch ae.Code {
	case escrow.CodeStateConflict:
		return msg(msgRefusedState), http.StatusConflict, true
	case escrow.CodeNotParty:
		return msg(msgRefusedNotParty), http.StatusForbidden, true
	case escrow.CodeReviewHold:
		return msg(msgRefusedReviewHold), http.StatusConflict, true
	case escrow.CodeDeadlinePassed:
		return msg(msgRefusedDeadline), http.StatusConflict, true
	case apperr.CodeConflict:
		return msg(msgRefusedConflict), http.StatusConflict, true
	case apperr.CodeForbidden:
		return msg(msgRefusedForbidden), http.StatusForbidden, true
	case apperr.CodeInvalid:
		return invalidField(ae.Param), http.StatusBadRequest, true
	}
	return message{}, 0, false
}

// fieldHints say what a valid value of each form field is, by the param an
// invalid error names.
var fieldHints = map[string]message{
	"title":            msg(msgHintTitle, escrow.TitleLenMax),
	"description":      msg(msgHintDescription, escrow.DescriptionLenMax),
	"price":            msg(msgHintPrice),
	"shipping_fee":     msg(msgHintShippingFee),
	"currency":         msg(msgHintCurrency),
	"fee_payer":        msg(msgHintFeePayer),
	"buyer_email":      msg(msgHintBuyerEmail),
	"seller_email":     msg(msgHintBuyerEmail),
	"pay_within_days":  msg(msgHintDays, msg(msgFieldPayDays), escrow.PayWithinDaysMax),
	"ship_within_days": msg(msgHintDays, msg(msgFieldShipDays), escrow.ShipWithinDaysMax),
	"inspection_days":  msg(msgHintDays, msg(msgFieldInspectionDays), escrow.InspectionDaysMax),
	"milestones":       msg(msgHintMilestones, escrow.MilestonesMax),
	"carrier":          msg(msgHintCarrier, escrow.CarrierLenMax),
	"tracking_number":  msg(msgHintTracking, escrow.TrackingLenMax),
	"reason":           msg(msgHintReason),
	"body":             msg(msgHintBody, escrow.MessageLenMax),
	"buyer_amount":     msg(msgHintBuyerAmount),
	"resolution":       msg(msgHintResolution),
	"note":             msg(msgHintNote),
	"bank_code":        msg(msgHintBankCode),
	"branch_code":      msg(msgHintBranchCode),
	"account_number":   msg(msgHintAccountNumber),
	"account_type":     msg(msgHintAccountType),
	"holder_name":      msg(msgHintKanaName, msg(msgFieldHolderName), escrow.HolderNameLenMax),
	"bank_name":        msg(msgHintKanaName, msg(msgFieldBankName), escrow.BankNameLenMax),
	"branch_name":      msg(msgHintKanaName, msg(msgFieldBranchName), escrow.BankNameLenMax),
	"transfer_date":    msg(msgHintTransferDate),
	"format":           msg(msgHintFormat),
}

// invalidField is the hint for an invalid param; "milestones[2].amount"
// names the third milestone row.
func invalidField(param string) message {
	if h, ok := fieldHints[param]; ok {
		return h
	}
	var i int
	var field string
	if n, _ := fmt.Sscanf(param, "milestones[%d].%s", &i, &field); n == 2 {
		if field == "title" {
			return msg(msgHintMilestoneTitle, i+1)
		}
		return msg(msgHintMilestoneAmount, i+1)
	}
	return msg(msgHintGeneric, param)
}

// Names of escrow's codes in the catalogs. A code missing from its table
// (one added to escrow later) shows as itself.
var (
	stateNames = map[escrow.State]msgKey{
		escrow.StatePendingAcceptance: msgStatePending,
		escrow.StateAwaitingPayment:   msgStateAwaitingPayment,
		escrow.StateFunded:            msgStateFunded,
		escrow.StateShipped:           msgStateShipped,
		escrow.StateReceived:          msgStateReceived,
		escrow.StateReleased:          msgStateReleased,
		escrow.StateCanceled:          msgStateCanceled,
		escrow.StateDisputed:          msgStateDisputed,
		escrow.StateResolved:          msgStateResolved,
		escrow.StateRefunded:          msgStateRefunded,
	}
	partyNames = map[string]msgKey{
		string(escrow.Buyer):  msgPartyBuyer,
		string(escrow.Seller): msgPartySeller,
		"staff":               msgPartyStaff,
		"site":                msgPartySite,
	}
	feePayerNames = map[escrow.FeePayer]msgKey{
		escrow.FeeBuyer:  msgFeePayerBuyer,
		escrow.FeeSeller: msgFeePayerSeller,
		escrow.FeeSplit:  msgFeePayerSplit,
	}
	reviewReasonNames = map[string]msgKey{
		escrow.ReasonLargeAmount:      msgReasonLargeAmount,
		escrow.ReasonVelocity:         msgReasonVelocity,
		escrow.ReasonNewParty:         msgReasonNewParty,
		escrow.ReasonSharedBankAcount: msgReasonSharedBank,
	}
	depositStatusNames = map[escrow.DepositStatus]msgKey{
		escrow.DepositMatched:   msgDepositMatched,
		escrow.DepositPartial:   msgDepositPartial,
		escrow.DepositOverpaid:  msgDepositOverpaid,
		escrow.DepositUnmatched: msgDepositUnmatched,
		escrow.DepositLate:      msgDepositLate,
		escrow.DepositReturned:  msgDepositReturned,
		escrow.DepositDuplicate: msgDepositDuplicate,
	}
	payoutStateNames = map[escrow.PayoutState]msgKey{
		escrow.PayoutPending:  msgPayoutPending,
		escrow.PayoutSettled:  msgPayoutSettled,
		escrow.PayoutReturned: msgPayoutReturned,
	}
	accountTypeNames = map[escrow.AccountType]msgKey{
		escrow.AccountOrdinary: msgAccountOrdinary,
		escrow.AccountChecking: msgAccountChecking,
		escrow.AccountSavings:  msgAccountSavings,
	}
	resolutionNames = map[escrow.Resolution]msgKey{
		escrow.ResolveRelease: msgResolutionRelease,
		escrow.ResolveRefund:  msgResolutionRefund,
		escrow.ResolveSplit:   msgResolutionSplit,
	}
	// actionNames name the timeline's actions.
	actionNames = map[string]msgKey{
		"created":            msgActionCreated,
		"accepted":           msgActionAccepted,
		"declined":           msgActionDeclined,
		"canceled":           msgActionCanceled,
		"payment_received":   msgActionPaymentReceived,
		"payment_late":       msgActionPaymentLate,
		"funded":             msgActionFunded,
		"shipped":            msgActionShipped,
		"received":           msgActionReceived,
		"released":           msgActionReleased,
		"milestone_released": msgActionMilestoneReleased,
		"disputed":           msgActionDisputed,
		"resolved":           msgActionResolved,
		"review_opened":      msgActionReviewOpened,
		"review_cleared":     msgActionReviewCleared,
		"timer.pay_by":       msgActionTimerPayBy,
		"timer.ship_by":      msgActionTimerShipBy,
		"timer.inspection":   msgActionTimerInspection,
	}
)

func named[K ~string](names map[K]msgKey, k K) message {
	if key, ok := names[k]; ok {
		return msg(key)
	}
	return msg(msgUnknownCode, string(k))
}

func stateName(s escrow.State) message                 { return named(stateNames, s) }
func partyName(p string) message                       { return named(partyNames, p) }
func feePayerName(p escrow.FeePayer) message           { return named(feePayerNames, p) }
func reviewReasonName(r string) message                { return named(reviewReasonNames, r) }
func depositStatusName(s escrow.DepositStatus) message { return named(depositStatusNames, s) }
func payoutStateName(s escrow.PayoutState) message     { return named(payoutStateNames, s) }
func accountTypeName(t escrow.AccountType) message     { return named(accountTypeNames, t) }
func resolutionName(r escrow.Resolution) message       { return named(resolutionNames, r) }

// stateClass is the badge's class of a state: waiting for someone, under
// way, disputed, done, or ended without a trade.
func stateClass(s escrow.State) string {
	switch s {
	case escrow.StatePendingAcceptance, escrow.StateAwaitingPayment:
		return "badge wait"
	case escrow.StateFunded, escrow.StateShipped, escrow.StateReceived:
		return "badge active"
	case escrow.StateDisputed:
		return "badge alert"
	case escrow.StateReleased, escrow.StateResolved:
		return "badge done"
	}
	return "badge off"
}
