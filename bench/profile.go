package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// profiler takes a CPU profile of the service (served on its --pprof-listen address) while a
// figure's load runs: -profile DIR writes DIR/NAME.pprof and, read by `go tool pprof -top`,
// DIR/NAME.top.txt. A nil profiler takes none.
type profiler struct {
	dir, addr string
	seconds   int
	wg        sync.WaitGroup
	mu        sync.Mutex
	files     []string
}

// start begins a profile named name, of the next -duration (at least a second).
func (p *profiler) start(name string) {
	if p == nil {
		return
	}
	p.wg.Go(func() {
		file := filepath.Join(p.dir, name+".pprof")
		if err := p.fetch(file); err != nil {
			logf("profile %s: %v", name, err)
			return
		}
		p.mu.Lock()
		p.files = append(p.files, file)
		p.mu.Unlock()
	})
}

func (p *profiler) fetch(file string) error {
	c := &http.Client{Timeout: time.Duration(p.seconds)*time.Second + time.Minute}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, p.seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finish waits for the profiles under way and writes each one's top functions next to it.
func (p *profiler) finish() {
	if p == nil {
		return
	}
	p.wg.Wait()
	for _, file := range p.files {
		top := file[:len(file)-len(".pprof")] + ".top.txt"
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", file).CombinedOutput()
		if err != nil {
			logf("go tool pprof %s: %v", file, err)
			continue
		}
		if err := os.WriteFile(top, out, 0o644); err != nil {
			logf("%v", err)
		}
	}
	logf("profiles of the service in %s", p.dir)
}

func newProfiler(o options, addr string) (*profiler, error) {
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return nil, err
	}
	return &profiler{dir: o.profile, addr: addr, seconds: max(1, int(o.duration/time.Second))}, nil
}
