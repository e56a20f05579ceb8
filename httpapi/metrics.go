package httpapi

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP API's own collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter
	streams  prometheus.Gauge

	// Resolved children, so that the hot path does no label hashing:
	// durations by route and method, counters by route, method and status.
	durations [routeCount][methodCount + 1]prometheus.Observer
	counters  sync.Map // counterKey -> prometheus.Counter
}

type counterKey struct {
	route  routeID
	method methodIndex
	status int
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "chatstate", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "chatstate", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from the request's arrival at the handler to its response (event streams: until the stream starts).",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18), // 25µs .. 3.3s
		}, []string{"route", "method"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "chatstate", Subsystem: "http", Name: "panics_total",
			Help: "Panics recovered in HTTP handlers and stream writers.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "chatstate", Subsystem: "http", Name: "event_streams",
			Help: "Open event streams.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.panics, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for r := routeID(0); r < routeCount; r++ {
		for mi := methodIndex(0); mi <= methodCount; mi++ {
			m.durations[r][mi] = m.duration.WithLabelValues(routePatterns[r], methodLabel(mi))
		}
	}
	return m, nil
}

func methodLabel(m methodIndex) string {
	if m < methodCount {
		return methodNames[m]
	}
	return "other"
}

func (m *metrics) observe(route routeID, method []byte, status int, d time.Duration) {
	mi, ok := methodOf(method)
	if !ok {
		mi = methodCount
	}
	m.durations[route][mi].Observe(d.Seconds())
	k := counterKey{route: route, method: mi, status: status}
	c, ok := m.counters.Load(k)
	if !ok {
		c, _ = m.counters.LoadOrStore(k, m.requests.WithLabelValues(routePatterns[route], methodLabel(mi), strconv.Itoa(status)))
	}
	c.(prometheus.Counter).Inc()
}
