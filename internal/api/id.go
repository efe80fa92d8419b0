package api

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Public ids carry their kind: acc_65537, tr_81921, evt_3, we_1, wha_7.
// Escrow's and billing's ids are random text after the prefix: dl_…, dep_…,
// pb_…, pi_…, cus_…, rsv_…, chg_…, ses_…, inv_… (the prefix plus base62).
const (
	prefixAccount         = "acc_"
	prefixTransfer        = "tr_"
	prefixEvent           = "evt_"
	prefixWebhookEndpoint = "we_"
	prefixWebhookAttempt  = "wha_"
	prefixDeal            = "dl_"
	prefixDeposit         = "dep_"
	prefixPayoutBatch     = "pb_"
	prefixPayoutItem      = "pi_"
	prefixCustomer        = "cus_" // billing customers
	prefixReservation     = "rsv_"
	prefixCharge          = "chg_"
	prefixInvoice         = "inv_"
	prefixSession         = "ses_" // metered sessions
)

// textIDLenMax bounds the part of a text id after its prefix.
const textIDLenMax = 64

func formatID(prefix string, id int64) string { return prefix + strconv.FormatInt(id, 10) }

// parseID reads a public id of the given kind; a malformed one is invalid,
// naming param.
func parseID(prefix, s, param string) (int64, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	id, err := strconv.ParseInt(rest, 10, 64)
	// Only the canonical spelling names an object: not acc_007, not acc_+7.
	if !ok || err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return 0, apperr.Invalid(param, "%q is not an id of the form %s<number>", s, prefix)
	}
	return id, nil
}

// pathID reads the {id} of the path; an id of the wrong kind is simply not
// found, as it names nothing of this kind.
func pathID(prefix, s string) (int64, error) {
	id, err := parseID(prefix, s, "id")
	if err != nil {
		return 0, apperr.NotFound(strings.TrimSuffix(prefix, "_"))
	}
	return id, nil
}

// parseTextID reads a text id of the given kind (prefix and 1 to
// textIDLenMax ASCII letters and digits); a malformed one is invalid, naming
// param.
func parseTextID(prefix, s, param string) (string, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) == 0 || len(rest) > textIDLenMax || strings.IndexFunc(rest, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z')
	}) >= 0 {
		return "", apperr.Invalid(param, "%q is not an id of the form %s<letters and digits>", s, prefix)
	}
	return s, nil
}

// pathTextID reads the {id} of the path; an id of the wrong kind is not
// found, like pathID, in the words the domain uses for one that does not
// exist (noun: "deal").
func pathTextID(prefix, noun, s string) (string, error) {
	id, err := parseTextID(prefix, s, "id")
	if err != nil {
		return "", apperr.NotFound(noun)
	}
	return id, nil
}

// validLine reports whether s is one line of 1 to max bytes of UTF-8 without
// NUL and not only spaces.
func validLine(s string, max int) bool {
	return strings.TrimSpace(s) != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n")
}
