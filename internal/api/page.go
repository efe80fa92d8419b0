package api

import (
	"net/http"
	"strconv"

	"github.com/kinko-pay/kinko/internal/apperr"
)

// list is a page of objects: fetch limit+1 to know has_more.
type list[T any] struct {
	Object  string `json:"object"` // always "list"
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
}

func newList[T any](items []T, limit int) list[T] {
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	if items == nil {
		items = []T{}
	}
	return list[T]{Object: "list", Data: items, HasMore: more}
}

// pageParams reads limit (1..PageLimitMax, default 20) and starting_after (an
// id of the kind prefix) from the query.
func pageParams(r *http.Request, prefix string) (limit int, after int64, err error) {
	limit = pageLimitStart
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > PageLimitMax {
			return 0, 0, apperr.Invalid("limit", "limit must be an integer between 1 and %d", PageLimitMax)
		}
	}
	if v := r.URL.Query().Get("starting_after"); v != "" {
		after, err = parseID(prefix, v, "starting_after")
		if err != nil {
			return 0, 0, err
		}
	}
	return limit, after, nil
}
