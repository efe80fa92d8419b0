// Package metrics is Kinko's Prometheus instrumentation: one registry per
// process, the collectors every layer reports to, and the /metrics handler.
//
// Layers report through small hooks (ledger.Config.Observe, the API's
// request observer) so that no domain package depends on Prometheus. Label
// values are bounded: routes are the registered patterns, never raw paths.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kinko-pay/kinko/internal/ledger"
)

// Metrics holds the collectors of one process.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	ledgerBatchSize    prometheus.Histogram
	ledgerCommit       prometheus.Histogram
	ledgerBatchFailure prometheus.Counter
}

// New registers Kinko's collectors, with the Go runtime's and the process's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinko_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kinko_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		ledgerBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kinko_ledger_batch_requests",
			Help:    "Transfer requests per group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13), // 1 … 4096, the engine's BatchMax
		}),
		ledgerCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kinko_ledger_batch_commit_seconds",
			Help:    "Time from the start of a batch's transaction to its commit.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		ledgerBatchFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kinko_ledger_batch_failures_total",
			Help: "Batches whose transaction failed; every caller in them got an error.",
		}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.ledgerBatchSize, m.ledgerCommit, m.ledgerBatchFailure,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveBatch records one ledger batch; use it as ledger.Config.Observe.
func (m *Metrics) ObserveBatch(s ledger.BatchStats) {
	if s.Err != nil {
		m.ledgerBatchFailure.Inc()
		return
	}
	m.ledgerBatchSize.Observe(float64(s.Requests))
	m.ledgerCommit.Observe(s.Commit.Seconds())
}

// ObserveRequest records one answered HTTP request. route is the pattern
// that matched ("GET /v1/accounts/{id}"), or "unmatched".
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Register adds a collector that another package owns (job queue depth,
// webhook outcomes…).
func (m *Metrics) Register(c prometheus.Collector) error { return m.registry.Register(c) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
