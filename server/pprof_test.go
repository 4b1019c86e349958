package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestProfilerOnTheNetworkIsRefused: the profiler shows the service's code paths and its
// requests in flight, so it is served on a loopback address only.
func TestProfilerOnTheNetworkIsRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "nonsense"} {
		if ln, _, err := listenPprof(addr); err == nil {
			ln.Close()
			t.Errorf("--pprof-listen %s was accepted", addr)
		}
	}
	ln, srv, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "server.test") {
		t.Errorf("cmdline on loopback: %d %q", resp.StatusCode, b)
	}
}
