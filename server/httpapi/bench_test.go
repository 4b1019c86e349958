package httpapi_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"

	"github.com/rampart-iot/rampart/api"
)

// BenchmarkDeviceRequest measures a device request over mutual TLS on kept-alive connections,
// from several devices' clients at once: the cost of authenticating the device on each request
// (its certificate and its state), with the smallest handler behind it.
func BenchmarkDeviceRequest(b *testing.B) {
	w := newWorld(b, "sqlite")
	srv := newTLSServer(b, w)
	c := deviceClient(srv, issue(b, w, w.a.device))
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	b.SetParallelism(4)
	cpu := cpuTime()
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(srv.URL + api.DevicePathWhoami)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// cpuTime returns the CPU time the process has used, in nanoseconds: on a shared machine a
// steadier measure of work than the wall clock. It includes the client's side.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkDeviceCheckin measures an up-to-date check-in as the service sees it: the update
// info asked for with the ETag of the last answer, answered 304, from several clients at once.
// views/op counts the store's read transactions.
func BenchmarkDeviceCheckin(b *testing.B) {
	w := newWorld(b, "sqlite")
	srv := newTLSServer(b, w)
	c := deviceClient(srv, issue(b, w, w.a.device))
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	ask := func(etag string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+api.DevicePathUpdates, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	ask("") // publishes the repositories
	_, etag := ask("")
	b.SetParallelism(4)
	stats, cpu := w.st.Stats(), cpuTime()
	b.ResetTimer()
	defer func() {
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(w.st.Stats().Views-stats.Views)/float64(b.N), "views/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+api.DevicePathUpdates, nil)
			req.Header.Set("If-None-Match", etag)
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified && etag != "" {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
