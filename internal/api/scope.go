package api

import (
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/auth"
)

// postAuthority says what a key needs for a POST route, checked before the
// request's Idempotency-Key is looked at: a kept response is replayed only
// to a key that may make the request, never to one without the scope. The
// handlers check again, and more finely (a deal's party, say); this is the
// floor. Every POST route has an entry (TestEveryPostRouteNeedsAScope).
func postAuthority(pattern string) (func(auth.Principal) error, bool) {
	path, ok := strings.CutPrefix(pattern, "POST ")
	if !ok {
		return nil, false
	}
	for _, a := range postAuthorities {
		if path == a.prefix || strings.HasPrefix(path, a.prefix+"/") {
			return a.need, true
		}
	}
	return nil, false
}

func writes(family string) func(auth.Principal) error {
	return func(p auth.Principal) error { return p.Require(family, true) }
}

func operator(what string) func(auth.Principal) error {
	return func(p auth.Principal) error { return requireOperator(p, what) }
}

// postAuthorities maps path prefixes (whole segments; the first match
// wins) to what their POSTs need.
var postAuthorities = []struct {
	prefix string
	need   func(auth.Principal) error
}{
	{"/v1/assets", func(p auth.Principal) error {
		if !p.IsAdmin() {
			return apperr.New(apperr.CodeForbidden, "only an admin key configures assets")
		}
		return nil
	}},
	{"/v1/accounts", writes("accounts")},
	{"/v1/transfers", writes("transfers")},
	{"/v1/events", writes("webhooks")},
	{"/v1/webhook_endpoints", writes("webhooks")},
	{"/v1/deals/{id}/resolve", operator("resolve disputes")},
	{"/v1/deals/{id}/review", operator("open or clear reviews")},
	{"/v1/deals", writes("escrow")},
	{"/v1/bank_accounts", writes("escrow")},
	{"/v1/deposits", operator("record deposits")},
	{"/v1/payout_batches", operator("manage payout batches")},
	{"/v1/billing", writes("billing")},
	{"/v1/test_clock", operator("move the test clock")},
}
