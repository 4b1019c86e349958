package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// deviceRSS runs a real device against the service as the README's tour does — rampart-device
// init, claimed, in a group, the runtime published, blink and telemetry deployed — and
// measures the resident memory of stage 0 and stage 1 once both apps run. Linux only: it reads
// /proc.
func deviceRSS(ctx context.Context, s *service, bins, work string) (row, error) {
	logf("device runtime with blink and telemetry")
	dir := filepath.Join(work, "device-rss")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return row{}, err
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(bins, name), args...)
		cmd.Env = append(os.Environ(), "RAMPART_SERVER="+s.url, "RAMPART_TOKEN="+s.token, "RAMPART_CACERT="+s.caPath,
			"XDG_CONFIG_HOME="+dir, "RAMPART_DEVICE_STATE=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	state := filepath.Join(dir, "state")
	var images []string
	steps := []func() error{
		func() error { _, err := run("rampart", "product", "create", "Bench-RSS"); return err },
		func() error {
			_, err := run("rampart", "os", "publish", "--feed", "Retail", "--version", "0.0.1-bench", "--file", filepath.Join(bins, "rampart-device"))
			return err
		},
		func() error {
			_, err := run("rampart-device", "init", "--state", state, "--server", s.url, "--cacert", s.caPath)
			return err
		},
		func() error {
			id, err := run("rampart-device", "id", "--state", state)
			if err != nil {
				return err
			}
			if _, err := run("rampart", "device", "claim", id); err != nil {
				return err
			}
			_, err = run("rampart", "device", "update", id, "--device-group", "Bench-RSS/Production")
			return err
		},
		func() error {
			for _, app := range []string{"blink", "telemetry"} {
				wasm := filepath.Join(dir, app+".wasm")
				build := exec.CommandContext(ctx, "go", "build", "-o", wasm, "./examples/"+app)
				build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if out, err := build.CombinedOutput(); err != nil {
					return fmt.Errorf("build %s: %v: %s", app, err, out)
				}
				pkg := filepath.Join(dir, app+".rmpkg")
				if _, err := run("rampart", "image", "pack", "--manifest", "examples/"+app+"/app_manifest.json", "--payload", wasm, "--output", pkg); err != nil {
					return err
				}
				id, err := run("rampart", "image", "add", "--file", pkg, "--query", "id", "--output", "tsv")
				if err != nil {
					return err
				}
				images = append(images, id)
			}
			_, err := run("rampart", "deployment", "create", "--device-group", "Bench-RSS/Production", "--images", strings.Join(images, ","))
			return err
		},
		func() error { _, err := run("rampart-device", "run", "--state", state, "--once"); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return row{}, err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "rampart-device"), "run", "--state", state)
	cmd.Env = append(os.Environ(), "RAMPART_DEVICE_STATE=")
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	defer func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() }()
	if err := waitApps(ctx, run, state, 2); err != nil {
		return row{}, err
	}
	time.Sleep(10 * time.Second) // settle: the install's garbage collected, the apps in their loops
	var stage0, stage1 int64
	for range 5 {
		s0, err := residentKB(cmd.Process.Pid)
		if err != nil {
			return row{}, err
		}
		var s1 int64
		for _, child := range childrenOf(cmd.Process.Pid) {
			if kb, err := residentKB(child); err == nil {
				s1 += kb
			}
		}
		stage0, stage1 = max(stage0, s0), max(stage1, s1)
		time.Sleep(time.Second)
	}
	// Where stage 1's memory is, and both stages' proportional share (PSS): they run the same
	// binary, whose pages RSS counts once in each.
	var m1 memoryMap
	for _, child := range childrenOf(cmd.Process.Pid) {
		m, err := smapsOf(child)
		if err != nil {
			return row{}, err
		}
		m1.add(m)
	}
	m0, err := smapsOf(cmd.Process.Pid)
	if err != nil {
		return row{}, err
	}
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	total := mb(stage0 + stage1)
	return row{path: "device runtime, blink and telemetry running (stage 0 + stage 1)",
		rampart: fmt.Sprintf("%.1f MB RSS, %.1f MB PSS (stage 0 %.1f: %.1f its heap, %.1f the binary and files; stage 1 %.1f: "+
			"the apps' compiled code %.1f, heaps and the apps' memories %.1f, the binary and files %.1f)",
			total, mb(m0.pss+m1.pss), mb(stage0), mb(m0.anonData+m0.anonExec), mb(m0.file), mb(stage1), mb(m1.anonExec), mb(m1.anonData), mb(m1.file)),
		baseline: "target 30 MB", ratio: 30 / total}, nil
}

// memoryMap is a process's resident memory by kind, in kB, from /proc/PID/smaps.
type memoryMap struct {
	pss      int64 // proportional: a page shared by n processes counts 1/n
	anonExec int64 // anonymous and executable: code compiled at run time (the apps', by wazero)
	anonData int64 // anonymous otherwise: heaps, stacks, the apps' linear memories
	file     int64 // mapped files: the binary, libraries
}

func (m *memoryMap) add(o memoryMap) {
	m.pss, m.anonExec, m.anonData, m.file = m.pss+o.pss, m.anonExec+o.anonExec, m.anonData+o.anonData, m.file+o.file
}

// smapsOf reads a process's memory map.
func smapsOf(pid int) (memoryMap, error) {
	var m memoryMap
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, err
	}
	exec, anon := false, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") { // a mapping's header: range perms offset dev inode [path]
			exec, anon = strings.Contains(f[1], "x"), len(f) < 6 || strings.HasPrefix(f[5], "[") // [heap], [stack]
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Pss:":
			m.pss += kb
		case "Rss:":
			switch {
			case !anon:
				m.file += kb
			case exec:
				m.anonExec += kb
			default:
				m.anonData += kb
			}
		}
	}
	return m, nil
}

// waitApps waits up to 90 seconds until n apps run on the device.
func waitApps(ctx context.Context, run func(string, ...string) (string, error), state string, n int) error {
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, err := run("rampart-device", "app", "list", "--state", state, "--output", "json")
		if err != nil {
			continue // stage 1 not listening yet
		}
		var apps []struct{ State string }
		if json.Unmarshal([]byte(out), &apps) != nil {
			continue
		}
		running := 0
		for _, a := range apps {
			if a.State == "running" {
				running++
			}
		}
		if running >= n {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("the device's apps did not start within 90 seconds")
}

// childrenOf lists a process's children, from /proc: those of every thread (Go starts a child
// from whichever thread runs the goroutine).
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
