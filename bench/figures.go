package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/internal/sim"
)

// cryptoLoop measures, on every core, the crypto of one attestation on the service's side: the
// evidence parsed and its two signatures verified (Alias certificate, token), and a device
// certificate signed by a P-256 CA.
func cryptoLoop(d time.Duration) (float64, error) {
	uds := make([]byte, rot.UDSSize)
	rand.Read(uds)
	dk, err := rot.DeviceIDKey(uds)
	if err != nil {
		return 0, err
	}
	in := rot.Inputs{Code: sha512.Sum512([]byte("runtime")), Mode: rot.ModeNormal}
	l, err := rot.DeriveLayer(uds, in)
	if err != nil {
		return 0, err
	}
	aliasCert, err := rot.AliasCertificate(dk, l.AliasKey, in.Measurements())
	if err != nil {
		return 0, err
	}
	spki, _ := x509.MarshalPKIXPublicKey(&dk.PublicKey)
	nonce := make([]byte, 32)
	token, err := evidence.Sign(evidence.Claims{Nonce: nonce, DeviceKey: spki, IssuedAt: time.Now(), Measurements: in.Measurements()}, l.AliasKey, aliasCert)
	if err != nil {
		return 0, err
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, PublicKey: &caKey.PublicKey,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	r, _, _, errs := load(d, runtime.GOMAXPROCS(0), func() error {
		ev, err := evidence.Parse(token)
		if err != nil {
			return err
		}
		if err := ev.Verify(); err != nil {
			return err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "device"},
			NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		_, err = x509.CreateCertificate(rand.Reader, tmpl, ca, ev.SigningKey(), caKey)
		return err
	})
	if r == 0 {
		return 0, fmt.Errorf("the crypto loop failed %d times", errs)
	}
	return r, nil
}

// fleetStep is what the fleet figures measured with one fleet size in the store.
type fleetStep struct {
	devices    int
	claimTime  time.Duration
	checkin    sim.Row
	rssKB, hwm int64 // the service's VmRSS after the check-ins, and its VmHWM
	storeBytes int64 // 0: not known (SQLite)
}

// fleetFigures starts one service on o.db (or SQLite) and grows one fleet in its store through
// the sizes of -fleet, smallest first: at each size it claims (straight into the group) the
// devices the store does not have yet, then measures the check-ins of 256 of them, c=32, the
// service's memory after them and the store's size. With two sizes or more it prints how the
// largest compares with the smallest: check-in p99 and the service's memory.
func fleetFigures(ctx context.Context, o options, bin, work string) ([]row, error) {
	srv, err := startService(ctx, bin, filepath.Join(work, "fleet"), o.db)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	store := "SQLite"
	if o.db != "" {
		store = "PostgreSQL"
	}
	var rows []row
	var steps []fleetStep
	for _, n := range o.fleet {
		logf("fleet of %d devices", n)
		st := fleetStep{devices: n}
		cfg := srv.simConfig(n, 32, "claim", 0)
		cfg.Seed = sim.Seed("fleet")
		cfg.ClaimBatch = api.MaxClaimBatch
		cfg.Progress = os.Stderr
		start := time.Now()
		sum, err := sim.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		st.claimTime = time.Since(start)
		for _, r := range sum.Operations {
			if r.Errors > 0 {
				return nil, fmt.Errorf("fleet of %d: %s: %d errors %v", n, r.Operation, r.Errors, r.ErrorsByKind)
			}
		}
		logf("fleet of %d devices claimed in %s", n, st.claimTime.Round(time.Second))
		// Check-ins of 256 of the devices, with the whole fleet in the store.
		cfg.Devices, cfg.Scenario, cfg.Duration, cfg.Progress = 256, "checkin", 0, nil
		if _, err := sim.Run(ctx, cfg); err != nil {
			return nil, err
		}
		cfg.Duration = o.duration
		sum, err = sim.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if st.checkin, err = simRow(sum, sim.OpCheckin); err != nil {
			return nil, err
		}
		if st.rssKB, err = residentKB(pid); err != nil {
			return nil, err
		}
		if st.hwm, err = procStatusKB(pid, "VmHWM:"); err != nil {
			return nil, err
		}
		size := "—"
		if o.db != "" {
			if st.storeBytes, err = pgSize(ctx, o.db); err != nil {
				return nil, err
			}
			size = fmt.Sprintf("%.1f MB (%.1f kB a device)", float64(st.storeBytes)/1e6, float64(st.storeBytes)/1e3/float64(n))
		}
		r := st.checkin
		step := []row{
			{path: fmt.Sprintf("up-to-date check-in (%.0f requests) with %d devices in the store (%s), c=32", r.RequestsPerOp, n, store),
				rampart: fmt.Sprintf("%s/s, p50 %s, p99 %s", rate(r.PerSecond), msf(r.P50Ms), msf(r.P99Ms))},
			{path: fmt.Sprintf("%d devices claimed into their group", n),
				rampart: fmt.Sprintf("in %s (since the last size); store %s", st.claimTime.Round(time.Second), size)},
			{path: fmt.Sprintf("service memory with %d devices in the store, after the check-ins", n),
				rampart: fmt.Sprintf("RSS %d MiB (peak since start %d MiB)", st.rssKB>>10, st.hwm>>10)},
		}
		for _, r := range step {
			printRow(os.Stderr, r)
		}
		rows = append(rows, step...)
		steps = append(steps, st)
	}
	if len(steps) > 1 {
		a, b := steps[0], steps[len(steps)-1]
		rows = append(rows, row{path: fmt.Sprintf("check-in p99 with %d devices against %d", b.devices, a.devices),
			rampart: fmt.Sprintf("%s against %s; service RSS %d against %d MiB (%.2f×)", msf(b.checkin.P99Ms), msf(a.checkin.P99Ms),
				b.rssKB>>10, a.rssKB>>10, float64(b.rssKB)/float64(a.rssKB)),
			ratio: b.checkin.P99Ms / a.checkin.P99Ms})
		printRow(os.Stderr, rows[len(rows)-1])
	}
	return rows, nil
}

func pgSize(ctx context.Context, url string) (int64, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

// notifyMemory starts a service of its own, attests o.listeners devices, then holds every
// device's notification channel open, idle, each on a connection of its own, and measures how
// much the service's resident memory grew per open channel (its peak while they are open,
// against before). The baseline is the same number of idle streams held by a bare Go HTTPS
// server (HTTP/2, a client certificate). Linux only: it reads /proc.
func notifyMemory(ctx context.Context, o options, bin, work string, b *baselines) (row, error) {
	logf("idle notification channels of %d devices", o.listeners)
	srv, err := startService(ctx, bin, filepath.Join(work, "notify"), "")
	if err != nil {
		return row{}, err
	}
	defer srv.stop()
	cfg := srv.simConfig(o.listeners, 32, "attest", 0)
	cfg.Seed = sim.Seed("notify")
	if _, err := sim.Run(ctx, cfg); err != nil {
		return row{}, err
	}
	pid := srv.cmd.Process.Pid
	before, err := residentKB(pid)
	if err != nil {
		return row{}, err
	}
	cfg.Scenario, cfg.Duration, cfg.Concurrency = "notify", 2*o.duration, 64
	done := make(chan struct{})
	var sum sim.Summary
	var runErr error
	go func() { defer close(done); sum, runErr = sim.Run(ctx, cfg) }()
	peak := before
	for t := time.NewTicker(250 * time.Millisecond); ; {
		select {
		case <-t.C:
			if kb, err := residentKB(pid); err == nil && kb > peak {
				peak = kb
			}
			continue
		case <-done:
			t.Stop()
		}
		break
	}
	if runErr != nil {
		return row{}, runErr
	}
	r, err := simRow(sum, sim.OpNotify)
	if err != nil {
		return row{}, err
	}
	opened := r.OK
	if opened == 0 {
		return row{}, errors.New("no notification channel opened")
	}
	each := float64(peak-before) / float64(opened)
	baseKB, err := b.idleStreams(ctx, o.listeners, 2*o.duration)
	if err != nil {
		return row{}, err
	}
	return row{path: fmt.Sprintf("idle notification channels, %d devices each on its own mTLS connection", opened),
		rampart: fmt.Sprintf("%.1f KiB of service memory each (RSS %d → %d MiB); opening p99 %s, %d failed",
			each, before>>10, peak>>10, msf(r.P99Ms), r.Errors),
		baseline: fmt.Sprintf("bare Go HTTPS idle stream %.1f KiB each", baseKB), ratio: baseKB / each}, nil
}

// idleStreams holds n idle streams of the baseline server open for d, each on a connection of
// its own, and returns how much the baseline process's resident memory grew per stream (peak).
func (b *baselines) idleStreams(ctx context.Context, n int, d time.Duration) (float64, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.caPEM)
	pid := b.cmd.Process.Pid
	before, err := residentKB(pid)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	opening := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var opened atomic.Int64
	for range n {
		wg.Go(func() {
			opening <- struct{}{}
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{b.clientCert}},
				ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/stream", nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				<-opening
				return
			}
			defer resp.Body.Close()
			_, err = bufio.NewReader(resp.Body).ReadSlice('\n')
			<-opening
			if err == nil {
				opened.Add(1)
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
	peak := before
	for t := time.NewTicker(250 * time.Millisecond); ctx.Err() == nil; <-t.C {
		if kb, err := residentKB(pid); err == nil && kb > peak {
			peak = kb
		}
	}
	wg.Wait()
	if opened.Load() == 0 {
		return 0, errors.New("the baseline opened no stream")
	}
	return float64(peak-before) / float64(opened.Load()), nil
}

// residentKB reads a process's resident set size in KiB from /proc.
func residentKB(pid int) (int64, error) { return procStatusKB(pid, "VmRSS:") }

// procStatusKB reads a field in kB of a process's /proc status (VmRSS:, RssAnon:, RssFile:).
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
