package api

import (
	"net/http"
	"strconv"
	"time"

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
	if limit, err = pageLimit(r); err != nil {
		return 0, 0, err
	}
	if v := r.URL.Query().Get("starting_after"); v != "" {
		after, err = parseID(prefix, v, "starting_after")
		if err != nil {
			return 0, 0, err
		}
	}
	return limit, after, nil
}

// fetchPage reads the limit+1 objects newList needs through find, which asks
// a domain service for n objects after a cursor (an id). The event, webhook
// and escrow services refuse more than PageLimitMax at a time, so when limit is
// PageLimitMax and the page comes back full, the one object that decides
// has_more is asked for separately.
func fetchPage[T, K any](limit int, after K, id func(T) K, find func(after K, n int) ([]T, error)) ([]T, error) {
	n := min(limit+1, PageLimitMax)
	items, err := find(after, n)
	if err != nil || len(items) < n || n > limit {
		return items, err
	}
	more, err := find(id(items[len(items)-1]), 1)
	if err != nil {
		return nil, err
	}
	return append(items, more...), nil
}

// textPageParams is pageParams for kinds whose ids are text (deals,
// deposits): starting_after is an id of the kind prefix, "" for the first
// page.
func textPageParams(r *http.Request, prefix string) (limit int, after string, err error) {
	if limit, err = pageLimit(r); err != nil {
		return 0, "", err
	}
	if v := r.URL.Query().Get("starting_after"); v != "" {
		if after, err = parseTextID(prefix, v, "starting_after"); err != nil {
			return 0, "", err
		}
	}
	return limit, after, nil
}

// pageLimit reads limit: 1..PageLimitMax, pageLimitStart when absent.
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return pageLimitStart, nil
	}
	limit, err := strconv.Atoi(v)
	if err != nil || limit < 1 || limit > PageLimitMax {
		return 0, apperr.Invalid("limit", "limit must be an integer between 1 and %d", PageLimitMax)
	}
	return limit, nil
}

// queryTime is an optional RFC 3339 time of the query, read into dst.
type queryTime struct {
	param string
	dst   *time.Time
}

// queryTimes reads each of ts that the query gives; a malformed one is
// invalid, naming it.
func queryTimes(r *http.Request, ts ...queryTime) error {
	for _, t := range ts {
		v := r.URL.Query().Get(t.param)
		if v == "" {
			continue
		}
		var err error
		if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return invalid(t.param, "%s must be an RFC 3339 time, e.g. 2026-01-02T03:04:05Z", t.param)
		}
	}
	return nil
}
