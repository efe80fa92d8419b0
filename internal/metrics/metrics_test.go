package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// TestScrapeParsesWithPrometheusParser scrapes the handler and reads it back
// with Prometheus's own text parser.
func TestScrapeParsesWithPrometheusParser(t *testing.T) {
	m := New()
	m.ObserveRequest("POST /v1/transfers", "POST", 201, 3*time.Millisecond)
	m.ObserveRequest("POST /v1/transfers", "POST", 201, 5*time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)
	m.ObserveBatch(ledger.BatchStats{Requests: 32, Commit: 2 * time.Millisecond})
	m.ObserveBatch(ledger.BatchStats{Requests: 8, Err: errors.New("db down")})
	m.ObserveWebhookAttempt("succeeded", 4*time.Millisecond)
	m.ObserveWebhookAttempt("failed", time.Second)
	m.ObserveWebhookAttempt("succeeded", 2*time.Millisecond)
	m.ObserveMail("sent")
	m.ObserveMail("retry")
	m.ObserveMail("sent")
	m.ObserveMail("made-up") // counted as failed: the label stays bounded
	if err := m.RegisterJobQueueDepth(func(context.Context) (map[string]int64, error) {
		return map[string]int64{"available": 7, "retryable": 2}, nil
	}); err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v\n%s", err, rec.Body.String())
	}
	counter := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("no family %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return float64(m.Histogram.GetSampleCount())
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	if got := counter("kinko_http_requests_total", map[string]string{"route": "POST /v1/transfers", "status": "201"}); got != 2 {
		t.Errorf("transfer requests = %v, want 2", got)
	}
	if got := counter("kinko_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}); got != 1 {
		t.Errorf("unmatched = %v, want 1", got)
	}
	if got := counter("kinko_http_request_duration_seconds", map[string]string{"route": "POST /v1/transfers", "status": "201"}); got != 2 {
		t.Errorf("latency samples = %v, want 2", got)
	}
	if got := counter("kinko_ledger_batch_requests", nil); got != 1 {
		t.Errorf("batches observed = %v, want 1", got)
	}
	if got := counter("kinko_ledger_batch_failures_total", nil); got != 1 {
		t.Errorf("failed batches = %v, want 1", got)
	}
	if got := counter("kinko_webhook_attempts_total", map[string]string{"outcome": "succeeded"}); got != 2 {
		t.Errorf("succeeded webhook attempts = %v, want 2", got)
	}
	if got := counter("kinko_webhook_attempts_total", map[string]string{"outcome": "gave_up"}); got != 0 {
		t.Errorf("gave_up webhook attempts = %v, want 0 (reported before any)", got)
	}
	if got := counter("kinko_webhook_attempt_seconds", nil); got != 3 {
		t.Errorf("webhook latency samples = %v, want 3", got)
	}
	for outcome, want := range map[string]float64{"sent": 2, "retry": 1, "failed": 1} {
		if got := counter("kinko_mail_sent_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("mail tries %s = %v, want %v", outcome, got, want)
		}
	}
	if n := len(families["kinko_mail_sent_total"].GetMetric()); n != len(MailOutcomes) {
		t.Errorf("kinko_mail_sent_total has %d series, want %d", n, len(MailOutcomes))
	}
	depth := map[string]float64{}
	for _, mm := range families["kinko_job_queue_jobs"].GetMetric() {
		depth[mm.GetLabel()[0].GetValue()] = mm.GetGauge().GetValue()
	}
	if want := map[string]float64{"available": 7, "scheduled": 0, "retryable": 2, "running": 0}; fmt.Sprint(depth) != fmt.Sprint(want) {
		t.Errorf("job queue depth = %v, want %v", depth, want)
	}
	if families["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

// TestKeyRevocationsListening: the gauge is absent until a node watches
// revocations, then follows what it is told.
func TestKeyRevocationsListening(t *testing.T) {
	m := New()
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		return families
	}
	const name = "kinko_api_key_revocations_listening"
	if f := scrape()[name]; f != nil {
		t.Fatalf("%s reported before any watcher: %v", name, f)
	}
	for _, on := range []bool{false, true, false, true} {
		m.KeyRevocationsListening(on)
		want := 0.0
		if on {
			want = 1
		}
		f := scrape()[name]
		if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != want {
			t.Fatalf("after KeyRevocationsListening(%v): %v, want %v", on, f, want)
		}
	}
}
