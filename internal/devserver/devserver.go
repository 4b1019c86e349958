// Package devserver starts `rampart server --dev` in-process for tests: on loopback, in a
// temporary data folder, stopped when the test ends.
package devserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/server"
)

// Service is a running dev service: its URL, the dev Administrator's (and operator's) token,
// and its CA certificate, PEM.
type Service struct {
	URL, Token string
	CA         []byte
}

// Start starts a dev service for t and waits until it serves.
func Start(t testing.TB) Service {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{DataDir: dir, Dev: true, Listen: "127.0.0.1:0", Stdout: &strings.Builder{}})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the service did not stop")
		}
	})
	env := map[string]string{}
	for i := 0; i < 300 && env["RAMPART_CACERT"] == ""; i++ {
		time.Sleep(50 * time.Millisecond)
		b, _ := os.ReadFile(filepath.Join(dir, server.DevEnvFile))
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
				env[k] = v
			}
		}
	}
	ca, err := os.ReadFile(env["RAMPART_CACERT"])
	if err != nil {
		t.Fatalf("the dev service did not start: %v", err)
	}
	return Service{URL: env["RAMPART_SERVER"], Token: env["RAMPART_TOKEN"], CA: ca}
}
