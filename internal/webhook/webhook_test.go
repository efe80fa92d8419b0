package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinko-pay/kinko/internal/apperr"
	"github.com/kinko-pay/kinko/internal/event"
)

func TestSignVerify(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"transfer.created"}`)
	header := Sign(secret, now, body)
	if !strings.HasPrefix(header, "t=1800000000,v1=") || len(header) != len("t=1800000000,v1=")+64 {
		t.Fatalf("header = %q", header)
	}
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		{"OK", header, body, secret, now, nil},
		{"OKWithinTolerance", header, body, secret, now.Add(4 * time.Minute), nil},
		{"OKRotatedSecondSignature", header + ",v1=" + strings.Repeat("ab", 32), body, secret, now, nil},
		{"ErrTamperedBody", header, []byte(`{"id":"evt_2","type":"transfer.created"}`), secret, now, ErrSignatureMismatch},
		{"ErrWrongSecret", header, body, NewSecret(), now, ErrSignatureMismatch},
		{"ErrTooOld", header, body, secret, now.Add(6 * time.Minute), ErrSignatureTooOld},
		{"ErrFromTheFuture", header, body, secret, now.Add(-6 * time.Minute), ErrSignatureTooOld},
		{"ErrNoSignature", "t=1800000000", body, secret, now, ErrSignatureMalformed},
		{"ErrNoTimestamp", strings.TrimPrefix(header, "t=1800000000,"), body, secret, now, ErrSignatureMalformed},
		{"ErrGarbage", "hello", body, secret, now, ErrSignatureMalformed},
		{"ErrBadHex", "t=1800000000,v1=zz", body, secret, now, ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.header, tt.body, tt.secret, tt.now, SignatureToleranceDefault); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	now := time.Unix(1_800_000_000, 0).UTC()
	endpoints := []Endpoint{
		{ID: 1, OrgID: "org_a", EventTypes: []string{WildcardEventType}},
		{ID: 2, OrgID: "org_a", EventTypes: []string{event.TypeTransferPosted}},
		{ID: 3, OrgID: "org_a", EventTypes: []string{WildcardEventType}, Disabled: true},
		{ID: 4, OrgID: "org_b", EventTypes: []string{event.TypeTransferCreated}},
	}
	var events []event.Event
	for i := range 250 {
		events = append(events, event.Event{ID: int64(i + 1), OrgID: "org_a", Type: event.TypeTransferCreated})
	}
	events = append(events,
		event.Event{ID: 251, OrgID: "org_a", Type: event.TypeTransferPosted},
		event.Event{ID: 252, OrgID: "org_b", Type: event.TypeTransferCreated},
		event.Event{ID: 253, OrgID: "org_c", Type: event.TypeTransferCreated})
	deliveries, jobs := Plan(events, endpoints, now)

	perEndpoint := map[int64]int{}
	for _, d := range deliveries {
		if d.State != DeliveryPending || !d.CreatedAt.Equal(now) {
			t.Fatalf("delivery %+v", d)
		}
		perEndpoint[d.EndpointID]++
	}
	if want := map[int64]int{1: 251, 2: 1, 4: 1}; len(perEndpoint) != 3 || perEndpoint[1] != want[1] || perEndpoint[2] != want[2] || perEndpoint[4] != want[4] {
		t.Fatalf("deliveries per endpoint = %v, want %v", perEndpoint, want)
	}
	jobsPer := map[int64][]int{}
	sent := map[[2]int64]bool{}
	for _, j := range jobs {
		if len(j.EventIDs) == 0 || len(j.EventIDs) > DeliverBatchMax {
			t.Fatalf("job with %d events", len(j.EventIDs))
		}
		jobsPer[j.EndpointID] = append(jobsPer[j.EndpointID], len(j.EventIDs))
		for _, id := range j.EventIDs {
			k := [2]int64{j.EndpointID, id}
			if sent[k] {
				t.Fatalf("event %d planned twice for endpoint %d", id, j.EndpointID)
			}
			sent[k] = true
		}
	}
	if len(sent) != len(deliveries) {
		t.Fatalf("jobs cover %d deliveries, want %d", len(sent), len(deliveries))
	}
	if got := jobsPer[1]; len(got) != 3 || got[0] != 100 || got[2] != 51 {
		t.Errorf("endpoint 1 jobs = %v, want [100 100 51]", got)
	}
}

func TestBackoff(t *testing.T) {
	base := 10 * time.Second
	prev := time.Duration(0)
	var total time.Duration
	for n := 1; n <= JobAttemptsMax; n++ {
		d := Backoff(base, n)
		floor := BackoffCap
		if n < 20 {
			floor = min(base<<(n-1), BackoffCap)
		}
		if d < floor || d > floor+floor/10 {
			t.Fatalf("Backoff(%d) = %s, want %s plus up to 10%%", n, d, floor)
		}
		if floor < prev {
			t.Fatalf("backoff shrank at %d", n)
		}
		prev = floor
		total += d
	}
	// The attempts allowed must outlast the retry window, or deliveries
	// would be dropped before RetryWindow.
	if total < RetryWindow {
		t.Errorf("%d attempts span %s, less than RetryWindow %s", JobAttemptsMax, total, RetryWindow)
	}
}

func TestValidateEndpoint(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name  string
		p     EndpointParams
		param string
	}{
		{"OK", EndpointParams{URL: s("https://example.com/hooks"), EventTypes: []string{"*"}}, ""},
		{"OKHTTPWithPort", EndpointParams{URL: s("http://127.0.0.1:9000/h"), EventTypes: []string{event.TypeTransferCreated, event.TypeTransferPosted}}, ""},
		{"ErrNoURL", EndpointParams{EventTypes: []string{"*"}}, "url"},
		{"ErrRelativeURL", EndpointParams{URL: s("/hooks"), EventTypes: []string{"*"}}, "url"},
		{"ErrFTP", EndpointParams{URL: s("ftp://example.com/"), EventTypes: []string{"*"}}, "url"},
		{"ErrUserInfo", EndpointParams{URL: s("https://u:p@example.com/"), EventTypes: []string{"*"}}, "url"},
		{"ErrNoTypes", EndpointParams{URL: s("https://example.com/")}, "event_types"},
		{"ErrEmptyTypes", EndpointParams{URL: s("https://example.com/"), EventTypes: []string{}}, "event_types"},
		{"ErrUnknownType", EndpointParams{URL: s("https://example.com/"), EventTypes: []string{"transfer.exploded"}}, "event_types[0]"},
		{"ErrWildcardWithOthers", EndpointParams{URL: s("https://example.com/"), EventTypes: []string{event.TypeTransferCreated, "*"}}, "event_types[1]"},
		{"ErrDuplicateType", EndpointParams{URL: s("https://example.com/"), EventTypes: []string{event.TypeTransferCreated, event.TypeTransferCreated}}, "event_types[1]"},
		{"ErrLongDescription", EndpointParams{URL: s("https://example.com/"), EventTypes: []string{"*"}, Description: s(strings.Repeat("x", DescriptionLenMax+1))}, "description"},
	}
	svc := NewService(nil, nil, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Endpoint
			err := apply(&e, tt.p)
			if tt.p.URL == nil || tt.p.EventTypes == nil {
				// CreateEndpoint checks required fields before touching the store.
				_, err = svc.CreateEndpoint(t.Context(), "org", tt.p)
			}
			if tt.param == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.CodeInvalid || ae.Param != tt.param {
				t.Fatalf("err = %v, want invalid %s", err, tt.param)
			}
		})
	}
}
