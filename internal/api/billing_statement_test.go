package api

import (
	"net/url"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
)

func TestStatementAsCSV(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		accept       []string
		want         bool
	}{
		{"NoPreference", "", nil, false},
		{"FormatCSV", "csv", []string{"application/json"}, true},
		{"FormatJSON", "json", []string{"text/csv"}, false},
		{"AcceptCSV", "", []string{"text/csv"}, true},
		{"AcceptCSVWithCharset", "", []string{"text/csv; charset=utf-8"}, true},
		{"AcceptCSVOrAnything", "", []string{"text/csv, */*;q=0.1"}, true},
		{"AcceptBothJSONFirst", "", []string{"application/json, text/csv"}, false},
		{"AcceptJSONPreferred", "", []string{"text/csv;q=0.5, application/json"}, false},
		{"AcceptCSVPreferred", "", []string{"application/json;q=0.5", "text/csv"}, true},
		{"AcceptCSVRefused", "", []string{"text/csv;q=0"}, false},
		{"AcceptWildcard", "", []string{"*/*"}, false},
		{"AcceptMalformedQ", "", []string{"text/csv;q=high"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statementAsCSV(tc.format, tc.accept)
			if err != nil || got != tc.want {
				t.Errorf("statementAsCSV(%q, %q) = %v, %v; want %v", tc.format, tc.accept, got, err, tc.want)
			}
		})
	}
	t.Run("ErrFormat", func(t *testing.T) {
		if _, err := statementAsCSV("xlsx", nil); !apperr.Is(err, apperr.CodeInvalid) {
			t.Errorf("format xlsx: %v", err)
		}
	})
}

func TestStatementPeriod(t *testing.T) {
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, query string
		from, to    time.Time
		file        string
	}{
		{"OKPeriod", "period=2026-11", nov, dec, "2026-11"},
		{"OKFromTo", "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z", nov, dec, "20261101T000000Z-20261201T000000Z"},
		{"OKOffset", "from=2026-11-01T09:00:00%2B09:00&to=2026-11-02T00:00:00Z", nov, nov.AddDate(0, 0, 1), "20261101T000000Z-20261102T000000Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			from, to, file, err := statementPeriod(q)
			if err != nil || !from.Equal(tc.from) || !to.Equal(tc.to) || file != tc.file {
				t.Errorf("%s: %v %v %q %v; want %v %v %q", tc.query, from, to, file, err, tc.from, tc.to, tc.file)
			}
		})
	}
	for _, tc := range []struct{ name, query, param string }{
		{"ErrNothing", "", "from"},
		{"ErrNoTo", "from=2026-11-01T00:00:00Z", "to"},
		{"ErrNotRFC3339", "from=2026-11-01&to=2026-12-01T00:00:00Z", "from"},
		{"ErrPeriodAndFrom", "period=2026-11&from=2026-11-01T00:00:00Z", "period"},
		{"ErrPeriod", "period=2026-13", "period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			_, _, _, err := statementPeriod(q)
			if ae, ok := err.(*apperr.Error); !ok || ae.Code != apperr.CodeInvalid || ae.Param != tc.param {
				t.Errorf("%s: %v; want invalid (param %s)", tc.query, err, tc.param)
			}
		})
	}
}
