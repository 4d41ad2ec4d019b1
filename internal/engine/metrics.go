package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	eventsAccepted  prometheus.Counter
	eventsDuplicate prometheus.Counter
	eventsEmitted   prometheus.Counter
	runsStarted     prometheus.Counter
	runsFinished    *prometheus.CounterVec
	messages        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	deliveryLatency *prometheus.HistogramVec
	claimed         *prometheus.CounterVec
	leaseLost       prometheus.Counter
	leaseDropped    prometheus.Counter
	config          *prometheus.GaugeVec
	circuit         *prometheus.GaugeVec
	postponed       *prometheus.CounterVec
}

// NewMetrics creates the engine's metrics and registers them with reg
// (which may be nil, for tests that do not look at metrics).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		eventsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_events_accepted_total", Help: "Events durably accepted.",
		}),
		eventsDuplicate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_events_duplicate_total", Help: "Events recognised as repeats of earlier ones and not stored again.",
		}),
		eventsEmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_events_emitted_total", Help: "Follow-up events emitted by workflow steps.",
		}),
		runsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_runs_started_total", Help: "Workflow runs started.",
		}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_runs_finished_total", Help: "Workflow runs finished, by final status.",
		}, []string{"status"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_messages_total", Help: "Message status changes after an attempt, by channel and status.",
		}, []string{"channel", "status"}),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_attempt_duration_seconds", Help: "Duration of delivery attempts, by channel and outcome.",
			Buckets: buckets,
		}, []string{"channel", "outcome"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_delivery_latency_seconds", Help: "Time from an event's acceptance to its message's acceptance by the provider, first attempts only.",
			Buckets: buckets,
		}, []string{"channel"}),
		claimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_jobs_claimed_total", Help: "Jobs claimed from the database by the poller (not handed over in-process), by queue.",
		}, []string{"queue"}),
		leaseLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_lease_lost_total", Help: "Job results discarded because another worker took the job over.",
		}),
		leaseDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_lease_expired_in_queue_total", Help: "Jobs dropped from memory because their lease ran out before a worker was free.",
		}),
		config: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_config_info", Help: "The configuration version in use (value 1).",
		}, []string{"version"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_channel_circuit_state", Help: "A channel's circuit on this node: 0 closed, 1 half-open (probing), 2 open (paused).",
		}, []string{"channel"}),
		postponed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_messages_postponed_total", Help: "Messages given back to the queue without an attempt, by channel and reason (circuit open, paced).",
		}, []string{"channel", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.eventsAccepted, m.eventsDuplicate, m.eventsEmitted, m.runsStarted,
			m.runsFinished, m.messages, m.attemptDuration, m.deliveryLatency, m.claimed,
			m.leaseLost, m.leaseDropped, m.config, m.circuit, m.postponed)
	}
	return m
}

func (m *Metrics) configVersion(v string) {
	m.config.Reset()
	m.config.WithLabelValues(short(v)).Set(1)
}
