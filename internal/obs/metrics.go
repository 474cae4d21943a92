// Package obs holds MiniVoice's observability: Prometheus metrics and the
// logger set-up shared by every component.
package obs

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the process's metric set, on its own registry so tests can run
// several servers in one process.
type Metrics struct {
	Registry       *prometheus.Registry
	APIRequests    *prometheus.CounterVec
	APILatency     *prometheus.HistogramVec
	CallsByStatus  *prometheus.CounterVec
	ActiveCalls    prometheus.Gauge
	WebhookResults *prometheus.CounterVec
	RTPPackets     *prometheus.CounterVec
	RTPLost        prometheus.Counter
	JobQueueDepth  *prometheus.GaugeVec
	InboundRefused *prometheus.CounterVec
	// SIPRefusalsDropped counts refused INVITEs not written down because
	// their write rate was spent, by where they would have gone
	// (operator_log, customer_call).
	SIPRefusalsDropped *prometheus.CounterVec
	// SIPEdge counts INVITEs from sources no trunk matches, by what the
	// edge did (answered, rate_limited, dropped).
	SIPEdge       *prometheus.CounterVec
	RTPSendJitter prometheus.Histogram
	// CallWriteFailures counts failed attempts to write a call's final
	// state (each is retried; a steady rise means the database is failing).
	CallWriteFailures prometheus.Counter
}

// NewMetrics registers every metric on a fresh registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "minivoice_api_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		APILatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "minivoice_api_request_duration_seconds", Help: "API request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		CallsByStatus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "minivoice_calls_total", Help: "Calls by final or current status transition.",
		}, []string{"direction", "status"}),
		ActiveCalls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "minivoice_active_calls", Help: "Calls currently ringing or in progress.",
		}),
		WebhookResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "minivoice_webhook_attempts_total", Help: "Webhook delivery attempts by result.",
		}, []string{"result"}),
		RTPPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "minivoice_rtp_packets_total", Help: "RTP packets by direction (rx, tx).",
		}, []string{"direction"}),
		RTPLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "minivoice_rtp_packets_lost_total", Help: "RTP packets detected lost from sequence gaps.",
		}),
		JobQueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "minivoice_job_queue_depth", Help: "Background jobs waiting, by queue.",
		}, []string{"queue"}),
	}
	m.InboundRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minivoice_sip_inbound_refused_total", Help: "Inbound INVITEs refused, by SIP status.",
	}, []string{"code"})
	m.SIPRefusalsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minivoice_sip_refusals_dropped_total",
		Help: "Refused INVITEs not stored (operator log or customer's failed call) because their write rate was spent.",
	}, []string{"log"})
	m.SIPEdge = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minivoice_sip_edge_invites_total",
		Help: "INVITEs from sources no trunk matches, by what the SIP edge did: answered (statelessly, 403 or 401), rate_limited or dropped (--sip-drop-unknown).",
	}, []string{"action"})
	m.RTPSendJitter = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "minivoice_rtp_send_jitter_seconds", Help: "How far each sent 20 ms audio frame's interval strays from 20 ms.",
		Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .02, .05},
	})
	m.CallWriteFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "minivoice_call_final_write_failures_total",
		Help: "Failed attempts to record a call's end (final status, charge, call.completed); every one is retried.",
	})
	r.MustRegister(m.CallWriteFailures, m.RTPSendJitter, m.SIPEdge, m.InboundRefused, m.SIPRefusalsDropped, m.APIRequests, m.APILatency, m.CallsByStatus, m.ActiveCalls, m.WebhookResults, m.RTPPackets, m.RTPLost,
		m.JobQueueDepth, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
