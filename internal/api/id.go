package api

import (
	"strconv"
	"strings"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// Public ids carry their kind: acc_65537, tr_81921, evt_3, we_1, wha_7.
const (
	prefixAccount         = "acc_"
	prefixTransfer        = "tr_"
	prefixEvent           = "evt_"
	prefixWebhookEndpoint = "we_"
	prefixWebhookAttempt  = "wha_"
)

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
