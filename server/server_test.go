package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/server"
	"github.com/rampart-iot/rampart/server/pki"
)

// syncBuffer is a bytes.Buffer safe to write from the server goroutine and read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// start runs a server on a free port until the test ends, and waits until it answers.
func start(t *testing.T, cfg server.Config) (stop func() error) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("server did not shut down")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFile waits until path exists with content.
func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return nil
}

// waitRewritten waits until the restarted server has written dev.env with its new address.
func waitRewritten(t *testing.T, dir, old string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if b, _ := os.ReadFile(filepath.Join(dir, server.DevEnvFile)); len(b) > 0 && string(b) != old {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the restarted server did not rewrite dev.env")
}

func devClient(t *testing.T, dir string) (*client.Client, string) {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(string(waitFile(t, filepath.Join(dir, server.DevEnvFile))), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = v
		}
	}
	ca, err := os.ReadFile(env["RAMPART_CACERT"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env["RAMPART_SERVER"], env["RAMPART_TOKEN"], ca)
	if err != nil {
		t.Fatal(err)
	}
	return c, env["RAMPART_TOKEN"]
}

func TestDevServerKeepsStateAndTokenAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var out syncBuffer
	stop := start(t, server.Config{DataDir: dir, Dev: true, Stdout: &out})
	c, token := devClient(t, dir)
	ctx := context.Background()
	who, err := c.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if who.TenantName != server.DevTenant || who.Role != api.RoleAdministrator || !who.Operator {
		t.Fatalf("dev token: %+v, want the dev tenant's Administrator who is also the operator", who)
	}
	if _, err := c.CreateProduct(ctx, api.CreateProductRequest{Name: "Toaster"}); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	printed := out.b.String()
	out.mu.Unlock()
	for _, want := range []string{"export RAMPART_SERVER=https://127.0.0.1:", "export RAMPART_TOKEN=" + token, "export RAMPART_CACERT="} {
		if !strings.Contains(printed, want) {
			t.Errorf("stdout lacks %q:\n%s", want, printed)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, pki.CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file: %v %v, want mode 0600", fi, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}

	old := string(waitFile(t, filepath.Join(dir, server.DevEnvFile)))
	start(t, server.Config{DataDir: dir, Dev: true})
	waitRewritten(t, dir, old)
	c2, _ := devClient(t, dir)
	if _, err := c2.Product(ctx, "Toaster"); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestDevServerReusesTokenFromDevEnv(t *testing.T) {
	dir := t.TempDir()
	stop := start(t, server.Config{DataDir: dir, Dev: true})
	_, token := devClient(t, dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	old := string(waitFile(t, filepath.Join(dir, server.DevEnvFile)))
	start(t, server.Config{DataDir: dir, Dev: true})
	waitRewritten(t, dir, old)
	_, again := devClient(t, dir)
	if again != token {
		t.Errorf("restart made a new dev token")
	}
}

func TestOperatorTokenOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	start(t, server.Config{DataDir: dir, KEK: strings.Repeat("ab", 32)})
	path := filepath.Join(dir, server.OperatorTokenFile)
	token := strings.TrimSpace(string(waitFile(t, path)))
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("operator token file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.HasPrefix(token, "rmp_") {
		t.Fatalf("operator token %q", token)
	}
}
