// Package metrics is Kinko's Prometheus instrumentation: one registry per
// process, the collectors every layer reports to, and the /metrics handler.
//
// Layers report through small hooks (ledger.Config.Observe, the API's
// request observer) so that no domain package depends on Prometheus. Label
// values are bounded: routes are the registered patterns, never raw paths.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
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

	webhookAttempts *prometheus.CounterVec
	webhookLatency  prometheus.Histogram

	mailSent *prometheus.CounterVec

	revocationsOnce      sync.Once
	revocationsListening prometheus.Gauge
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
			Help:    "Time to answer an HTTP request, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
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
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinko_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome: succeeded, failed (will retry), gave_up.",
		}, []string{"outcome"}),
		webhookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kinko_webhook_attempt_seconds",
			Help:    "Time from sending a webhook request to the end of its response, or its failure.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		mailSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kinko_mail_sent_total",
			Help: "Tries of mail jobs, by outcome: sent, retry (a temporary failure; tried again later), failed (refused for good, or out of attempts).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"succeeded", "failed", "gave_up"} {
		m.webhookAttempts.WithLabelValues(o)
	}
	for _, o := range MailOutcomes {
		m.mailSent.WithLabelValues(o)
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.ledgerBatchSize, m.ledgerCommit, m.ledgerBatchFailure,
		m.webhookAttempts, m.webhookLatency, m.mailSent,
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
	code := strconv.Itoa(status)
	m.httpRequests.WithLabelValues(route, method, code).Inc()
	m.httpDuration.WithLabelValues(route, method, code).Observe(d.Seconds())
}

// ObserveWebhookAttempt records one webhook delivery attempt; use it as
// jobs.Config.ObserveAttempt.
func (m *Metrics) ObserveWebhookAttempt(outcome string, d time.Duration) {
	m.webhookAttempts.WithLabelValues(outcome).Inc()
	m.webhookLatency.Observe(d.Seconds())
}

// MailOutcomes are the values of kinko_mail_sent_total's outcome label, as
// package jobs reports them (jobs.MailSent, MailRetry, MailFailed).
var MailOutcomes = []string{"sent", "retry", "failed"}

// ObserveMail records the outcome of one try of a mail job; use it as
// jobs.Config.ObserveMail. An outcome outside MailOutcomes is counted as
// "failed", so the label stays bounded.
func (m *Metrics) ObserveMail(outcome string) {
	if !slices.Contains(MailOutcomes, outcome) {
		outcome = "failed"
	}
	m.mailSent.WithLabelValues(outcome).Inc()
}

// KeyRevocationsListening records whether this node hears of API key
// revocations made elsewhere as they commit (PostgreSQL's LISTEN); while it
// does not, they hold here only within --key-cache-ttl. The gauge
// kinko_api_key_revocations_listening appears with the first call, so a
// store without notifications (SQLite) shows none.
func (m *Metrics) KeyRevocationsListening(on bool) {
	m.revocationsOnce.Do(func() {
		m.revocationsListening = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kinko_api_key_revocations_listening",
			Help: "1 while this node hears of API key revocations made on other nodes as they commit; 0 while it cannot listen (they then hold within --key-cache-ttl).",
		})
		m.registry.MustRegister(m.revocationsListening)
	})
	if on {
		m.revocationsListening.Set(1)
	} else {
		m.revocationsListening.Set(0)
	}
}

// jobQueueDepthTimeout bounds the query behind one scrape of the job queue depth.
const jobQueueDepthTimeout = 2 * time.Second

// JobQueueStates are the job states whose counts kinko_job_queue_jobs reports.
var JobQueueStates = []string{"available", "scheduled", "retryable", "running"}

// RegisterJobQueueDepth reports kinko_job_queue_jobs{state} by calling depth
// at each scrape. A failed query reports nothing for that scrape rather than
// stale figures.
func (m *Metrics) RegisterJobQueueDepth(depth func(ctx context.Context) (map[string]int64, error)) error {
	return m.registry.Register(jobQueueCollector{depth: depth, desc: prometheus.NewDesc("kinko_job_queue_jobs",
		"Durable jobs in the queue, by state (available: ready to run; scheduled and retryable: waiting for their time; running).",
		[]string{"state"}, nil)})
}

type jobQueueCollector struct {
	depth func(ctx context.Context) (map[string]int64, error)
	desc  *prometheus.Desc
}

func (c jobQueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c jobQueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), jobQueueDepthTimeout)
	defer cancel()
	counts, err := c.depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range JobQueueStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// Register adds a collector that another package owns (job queue depth,
// webhook outcomes…).
func (m *Metrics) Register(c prometheus.Collector) error { return m.registry.Register(c) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
