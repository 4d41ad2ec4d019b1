package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-notify/herald/internal/store"
)

// queueCollector reports the queue's depth and lag from the store at
// scrape time.
type queueCollector struct {
	store  store.Store
	now    func() time.Time
	due    *prometheus.Desc
	sched  *prometheus.Desc
	leased *prometheus.Desc
	age    *prometheus.Desc
	up     *prometheus.Desc
}

func newQueueCollector(s store.Store, now func() time.Time) *queueCollector {
	return &queueCollector{
		store:  s,
		now:    now,
		due:    prometheus.NewDesc("herald_queue_due_jobs", "Jobs due now and not taken by a worker, by queue (\"runs\" or a channel).", []string{"queue"}, nil),
		sched:  prometheus.NewDesc("herald_queue_scheduled_jobs", "Jobs due in the future (retries, timers).", nil, nil),
		leased: prometheus.NewDesc("herald_queue_leased_jobs", "Jobs held by a worker.", nil, nil),
		age:    prometheus.NewDesc("herald_queue_oldest_due_seconds", "Age of the oldest due job not taken by a worker (0: none).", nil, nil),
		up:     prometheus.NewDesc("herald_store_up", "Whether the last read of queue statistics succeeded.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.due
	ch <- c.sched
	ch <- c.leased
	ch <- c.age
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.now()
	st, err := c.store.Stats(ctx, now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(st.DueRuns), "runs")
	for q, n := range st.DueMessages {
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(n), q)
	}
	ch <- prometheus.MustNewConstMetric(c.sched, prometheus.GaugeValue, float64(st.Scheduled))
	ch <- prometheus.MustNewConstMetric(c.leased, prometheus.GaugeValue, float64(st.Leased))
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = now.Sub(st.OldestDue).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
