package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rampart-iot/rampart/device/transport"
)

// histogram counts latencies in buckets 2 % wide, from a microsecond up, so that a run of
// millions of operations keeps a few kilobytes and its percentiles are within 2 %.
type histogram struct {
	counts []int64
	n      int64
	sum    time.Duration
}

const bucketsPerE = 50 // buckets per factor of e: each is about 2 % wide

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return int(math.Log(us) * bucketsPerE)
}

func (h *histogram) add(d time.Duration) {
	b := bucketOf(d)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	h.n++
	h.sum += d
}

// quantile returns the upper bound of the bucket that holds quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(math.Exp(float64(b+1)/bucketsPerE) * float64(time.Microsecond))
		}
	}
	return 0
}

// Stats are the counts of one kind of operation.
type Stats struct {
	mu       sync.Mutex
	name     string
	ok       histogram
	errs     map[string]int64
	units    int64 // devices, requests or bytes, per the operation (see Unit)
	resumed  int64 // TLS connections that resumed a session
	conns    int64 // TLS connections made
	requests int64 // HTTP requests sent
	start    time.Time
	end      time.Time
}

func newStats(name string) *Stats {
	return &Stats{name: name, errs: map[string]int64{}, start: time.Now()}
}

// observe records one operation that took d and ended with err.
func (s *Stats) observe(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs[ErrorKind(err)]++
		return
	}
	s.ok.add(d)
}

func (s *Stats) addUnits(n int64)    { s.mu.Lock(); s.units += n; s.mu.Unlock() }
func (s *Stats) addRequests(n int64) { s.mu.Lock(); s.requests += n; s.mu.Unlock() }

func (s *Stats) conn(resumed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns++
	if resumed {
		s.resumed++
	}
}

func (s *Stats) done() { s.mu.Lock(); s.end = time.Now(); s.mu.Unlock() }

// count returns the operations done so far, and those that failed.
func (s *Stats) count() (ok, failed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.errs {
		failed += n
	}
	return s.ok.n, failed
}

// Row is one operation in the summary: the JSON form of --output json.
type Row struct {
	Operation string  `json:"operation"`
	OK        int64   `json:"ok"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"` // successful operations a second
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MeanMs    float64 `json:"mean_ms"`
	// ErrorsByKind counts the failures by kind (see [ErrorKind]).
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// RequestsPerOp is the mean number of HTTP requests of one operation (check-ins).
	RequestsPerOp float64 `json:"requests_per_op,omitempty"`
	// Connections and Resumed count the TLS connections made and those that resumed a session.
	Connections int64 `json:"connections,omitempty"`
	Resumed     int64 `json:"resumed,omitempty"`
	// Bytes and BytesPerSecond are the payload bytes moved (downloads).
	Bytes          int64   `json:"bytes,omitempty"`
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
	// Devices is how many devices an operation counted in batches covered (claims).
	Devices int64 `json:"devices,omitempty"`
}

func (s *Stats) row() Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := s.end
	if end.IsZero() {
		end = time.Now()
	}
	secs := end.Sub(s.start).Seconds()
	r := Row{Operation: s.name, OK: s.ok.n, Seconds: round(secs, 3), ErrorsByKind: map[string]int64{},
		P50Ms: ms(s.ok.quantile(0.5)), P99Ms: ms(s.ok.quantile(0.99)), Connections: s.conns, Resumed: s.resumed}
	for k, n := range s.errs {
		r.ErrorsByKind[k] = n
		r.Errors += n
	}
	if s.ok.n > 0 {
		r.MeanMs = ms(s.ok.sum / time.Duration(s.ok.n))
		if s.requests > 0 {
			r.RequestsPerOp = round(float64(s.requests)/float64(s.ok.n+r.Errors), 2)
		}
	}
	if secs > 0 {
		r.PerSecond = round(float64(s.ok.n)/secs, 1)
	}
	switch s.name {
	case OpDownload:
		r.Bytes = s.units
		if secs > 0 {
			r.BytesPerSecond = round(float64(s.units)/secs, 0)
		}
	case OpClaim:
		r.Devices = s.units
		if secs > 0 {
			r.PerSecond = round(float64(s.units)/secs, 1) // devices a second
		}
	}
	return r
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// Summary is what a run measured: the JSON form of --output json.
type Summary struct {
	Server      string `json:"server"`
	Devices     int    `json:"devices"`
	Concurrency int    `json:"concurrency"`
	Scenario    string `json:"scenario"`
	Operations  []Row  `json:"operations"`
}

// WriteTable writes s as a table.
func (s Summary) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%d devices, concurrency %d, scenario %s, against %s\n", s.Devices, s.Concurrency, s.Scenario, s.Server)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATION\tOK\tERRORS\tRATE\tP50\tP99\tNOTES")
	for _, r := range s.Operations {
		rate := fmt.Sprintf("%.1f/s", r.PerSecond)
		var notes []string
		switch {
		case r.Operation == OpClaim:
			rate = fmt.Sprintf("%.1f devices/s", r.PerSecond)
		case r.Operation == OpDownload:
			notes = append(notes, fmt.Sprintf("%.1f MB/s", r.BytesPerSecond/1e6))
		}
		if r.RequestsPerOp > 0 {
			notes = append(notes, fmt.Sprintf("%.2f requests each", r.RequestsPerOp))
		}
		if r.Connections > 0 {
			notes = append(notes, fmt.Sprintf("%d connections, %.0f %% resumed", r.Connections, 100*float64(r.Resumed)/float64(r.Connections)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Operation, r.OK, r.Errors, rate,
			fmtMs(r.P50Ms), fmtMs(r.P99Ms), strings.Join(notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var kinds []string
	for _, r := range s.Operations {
		for k, n := range r.ErrorsByKind {
			kinds = append(kinds, fmt.Sprintf("  %s %s: %d", r.Operation, k, n))
		}
	}
	if len(kinds) > 0 {
		sort.Strings(kinds)
		fmt.Fprintf(w, "\nerrors by kind:\n%s\n", strings.Join(kinds, "\n"))
	}
	return nil
}

func fmtMs(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// WriteJSON writes s as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// StatusError is an answer of the service other than the one expected.
type StatusError struct {
	Status int
	What   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: the service answered %d", e.What, e.Status)
}

// AttestFailure is an attestation the service refused, with its reason.
type AttestFailure struct{ Reason, Message string }

func (e *AttestFailure) Error() string { return "attestation failed: " + e.Reason + ": " + e.Message }

// ErrorKind names the kind of a failed operation, for the summary's errors by kind:
// "attest:REASON" for a refused attestation, "http_STATUS" for another answer than expected,
// and timeout, connection_refused, connection_reset, tls, malformed_answer or other when no
// usable answer came.
func ErrorKind(err error) string {
	var af *AttestFailure
	var se *StatusError
	var te *transport.Error
	var ne net.Error
	var ue x509.UnknownAuthorityError
	var ce x509.CertificateInvalidError
	var re *tls.RecordHeaderError
	var ae tls.AlertError
	switch {
	case errors.As(err, &af):
		return "attest:" + af.Reason
	case errors.As(err, &se):
		return fmt.Sprintf("http_%d", se.Status)
	case errors.As(err, &te) && te.Status != 0:
		return fmt.Sprintf("http_%d", te.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection_reset"
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &re), errors.As(err, &ae):
		return "tls"
	case errors.Is(err, errMalformed):
		return "malformed_answer"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// errMalformed is an answer that did not parse.
var errMalformed = errors.New("malformed answer")
