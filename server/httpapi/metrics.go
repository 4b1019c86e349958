package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-iot/rampart/api"
)

// metrics are the service's Prometheus metrics. Every label takes its values from a set fixed
// in the code (route patterns, status codes, reasons, results), never from a request: a
// request must not be able to add a series, and no label names a tenant, group, device or
// image.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	limited      prometheus.Counter
	attestations *prometheus.CounterVec
	certificates prometheus.Counter
	checkins     prometheus.Counter
	updates      *prometheus.CounterVec
	events       *prometheus.CounterVec
	// notifyOpen counts the devices that keep their notification channel open on this replica.
	notifyOpen prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_api_requests_total",
			Help: "API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_api_request_duration_seconds",
			Help:    "API request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"route"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_open_requests_limited_total",
			Help: "Requests to the open device routes refused with 429 because their source sent too many.",
		}),
		attestations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_attestations_total",
			Help: "Attestations by result (pass, fail) and reason (empty on a pass).",
		}, []string{"result", "reason"}),
		certificates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_device_certificates_issued_total",
			Help: "Device certificates issued after a passed attestation.",
		}),
		checkins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_device_checkins_total",
			Help: "Device check-ins (GET /device/v1/updates answered).",
		}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_update_reports_total",
			Help: "Update results reported by devices, by result.",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_device_events_received_total",
			Help: "Error events received from devices, by category.",
		}, []string{"category"}),
		notifyOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_device_notify_open",
			Help: "Devices keeping their notification channel (GET /device/v1/notify) open on this replica.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.limited, m.attestations, m.certificates, m.checkins,
			m.updates, m.events, m.notifyOpen)
	}
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// attestReasons are the reasons a label may carry; any other is counted as "other".
var attestReasons = map[string]bool{
	api.ReasonMalformed: true, api.ReasonAliasNotCertified: true, api.ReasonBadSignature: true,
	api.ReasonMeasurementMismatch: true, api.ReasonStaleNonce: true, api.ReasonNonceForOther: true,
	api.ReasonUnclaimed: true, api.ReasonRevoked: true, api.ReasonUnknownRuntime: true,
	api.ReasonUnknownImage: true, api.ReasonDebugNotAllowed: true,
}

// attested counts an attestation's outcome.
func (m *metrics) attested(result, reason string) {
	if result != api.AttestPass && result != api.AttestFail {
		result = "other"
	}
	if reason != "" && !attestReasons[reason] {
		reason = "other"
	}
	m.attestations.WithLabelValues(result, reason).Inc()
	if result == api.AttestPass {
		m.certificates.Inc()
	}
}

// serveMetrics shows the operator the service's metrics (also served without a token on
// --metrics-listen, an address the operator keeps private).
func (a *API) serveMetrics(w http.ResponseWriter, r *http.Request, c *call) error {
	if a.gather == nil {
		return errorf(http.StatusNotFound, "this service keeps no metrics")
	}
	promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}
