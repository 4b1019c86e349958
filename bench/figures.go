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
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
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

// fleetRounds is how many times the check-ins of each fleet size are measured, the sizes in
// turn: on a shared machine the load drifts over minutes, and measuring the sizes one after the
// other within a round puts them under the same load.
const fleetRounds = 5

// fleetSize is one fleet size of the fleet figures: a service of its own with its own store.
type fleetSize struct {
	devices    int
	srv        *service
	db         string
	claimTime  time.Duration
	storeBytes int64     // 0: not known (SQLite)
	checkins   []sim.Row // one a round
	rssKB, hwm int64     // the service's VmRSS after the last round, and its VmHWM
}

// fleetFigures measures the fleet-size figures: for each size of -fleet a service of its own
// on a store of its own (on PostgreSQL, the database of o.db with the size appended, made
// anew), with that many devices claimed straight into their group. Then, in fleetRounds
// rounds, each size in turn, it measures the check-ins of 256 of the devices, c=32, with the
// whole fleet in the store; after the rounds, each service's memory and each store's size. The
// figures are the medians of the rounds; with two sizes or more it prints how the largest
// compares with the smallest (check-in p99, a round at a time, and the service's memory).
func fleetFigures(ctx context.Context, o options, bin, work string) ([]row, error) {
	var sizes []*fleetSize
	defer func() {
		for _, z := range sizes {
			z.srv.stop()
		}
	}()
	for _, n := range o.fleet {
		z, err := newFleet(ctx, o, bin, work, n)
		if z != nil {
			sizes = append(sizes, z)
		}
		if err != nil {
			return nil, err
		}
	}
	for round := range fleetRounds {
		for _, z := range sizes {
			cfg := z.srv.simConfig(256, 32, "checkin", o.duration)
			cfg.Seed = sim.Seed("fleet")
			sum, err := sim.Run(ctx, cfg)
			if err != nil {
				return nil, err
			}
			r, err := simRow(sum, sim.OpCheckin)
			if err != nil {
				return nil, err
			}
			z.checkins = append(z.checkins, r)
			logf("round %d, %d devices: check-in %s/s, p50 %s, p99 %s; load average %s", round+1, z.devices,
				rate(r.PerSecond), msf(r.P50Ms), msf(r.P99Ms), loadAverage())
		}
	}
	rows, err := fleetRows(sizes, o.db != "")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		printRow(os.Stderr, r)
	}
	return rows, nil
}

// newFleet starts the service of one fleet size on a store of its own, claims the fleet into
// its group, and has 256 of its devices attest and make their first check-ins. The fleetSize
// it returns, even with an error, holds a service to stop.
func newFleet(ctx context.Context, o options, bin, work string, n int) (*fleetSize, error) {
	logf("fleet of %d devices", n)
	z := &fleetSize{devices: n, db: o.db}
	if o.db != "" {
		var err error
		if z.db, err = freshDatabase(ctx, o.db, fmt.Sprint(n)); err != nil {
			return nil, err
		}
	}
	srv, err := startService(ctx, bin, filepath.Join(work, fmt.Sprintf("fleet-%d", n)), z.db)
	if err != nil {
		return nil, err
	}
	z.srv = srv
	cfg := srv.simConfig(n, 32, "claim", 0)
	cfg.Seed = sim.Seed("fleet")
	cfg.ClaimBatch = api.MaxClaimBatch
	cfg.Progress = os.Stderr
	start := time.Now()
	sum, err := sim.Run(ctx, cfg)
	if err != nil {
		return z, err
	}
	z.claimTime = time.Since(start)
	for _, r := range sum.Operations {
		if r.Errors > 0 {
			return z, fmt.Errorf("fleet of %d: %s: %d errors %v", n, r.Operation, r.Errors, r.ErrorsByKind)
		}
	}
	logf("fleet of %d devices claimed in %s", n, z.claimTime.Round(time.Second))
	// A first pass of the 256 devices: attested, and their first check-ins made.
	cfg.Devices, cfg.Scenario, cfg.Progress = 256, "checkin", nil
	if _, err := sim.Run(ctx, cfg); err != nil {
		return z, err
	}
	if o.db != "" {
		if z.storeBytes, err = pgSize(ctx, z.db); err != nil {
			return z, err
		}
	}
	return z, nil
}

// fleetRows reads each fleet's service memory and makes the table's rows: the medians of the
// rounds and, with two sizes or more, how the largest compares with the smallest.
func fleetRows(sizes []*fleetSize, postgres bool) ([]row, error) {
	store := "SQLite"
	if postgres {
		store = "PostgreSQL"
	}
	var rows []row
	for _, z := range sizes {
		pid := z.srv.cmd.Process.Pid
		var err error
		if z.rssKB, err = residentKB(pid); err != nil {
			return nil, err
		}
		if z.hwm, err = procStatusKB(pid, "VmHWM:"); err != nil {
			return nil, err
		}
		size := "—"
		if z.storeBytes > 0 {
			size = fmt.Sprintf("%.1f MB (%.1f kB a device)", float64(z.storeBytes)/1e6, float64(z.storeBytes)/1e3/float64(z.devices))
		}
		var p99s []string
		for _, r := range z.checkins {
			p99s = append(p99s, msf(r.P99Ms))
		}
		rows = append(rows,
			row{path: fmt.Sprintf("up-to-date check-in (%s) with %d devices in the store (%s), c=32, median of %d rounds",
				requests(z.checkins[0].RequestsPerOp), z.devices, store, len(z.checkins)),
				rampart: fmt.Sprintf("%s/s, p50 %s, p99 %s (rounds: %s)", rate(median(z.checkins, func(r sim.Row) float64 { return r.PerSecond })),
					msf(median(z.checkins, func(r sim.Row) float64 { return r.P50Ms })),
					msf(median(z.checkins, func(r sim.Row) float64 { return r.P99Ms })), strings.Join(p99s, ", "))},
			row{path: fmt.Sprintf("%d devices claimed into their group", z.devices),
				rampart: fmt.Sprintf("in %s; store %s", z.claimTime.Round(time.Second), size)},
			row{path: fmt.Sprintf("service memory with %d devices in the store, after the check-ins", z.devices),
				rampart: fmt.Sprintf("RSS %d MiB (peak since start, claims included, %d MiB)", z.rssKB>>10, z.hwm>>10)})
	}
	if len(sizes) > 1 {
		a, b := sizes[0], sizes[len(sizes)-1]
		var ratios []float64
		var each []string
		for i := range a.checkins {
			ratios = append(ratios, b.checkins[i].P99Ms/a.checkins[i].P99Ms)
			each = append(each, fmt.Sprintf("%.2f", ratios[i]))
		}
		rows = append(rows, row{path: fmt.Sprintf("%d devices in the store against %d: check-in p99, a round at a time (median)", b.devices, a.devices),
			rampart: fmt.Sprintf("rounds %s; service RSS %d against %d MiB (%.2f×)", strings.Join(each, ", "),
				b.rssKB>>10, a.rssKB>>10, float64(b.rssKB)/float64(a.rssKB)),
			ratio: median(ratios, func(v float64) float64 { return v })})
	}
	return rows, nil
}

// requests names a number of requests a check-in makes.
func requests(n float64) string {
	if n < 1.5 {
		return "one request"
	}
	return fmt.Sprintf("%.0f requests", n)
}

// median returns the median of f over xs (the mean of the middle two for an even count).
func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// freshDatabase makes, on the PostgreSQL server of url, a new empty database named as url's
// with suffix appended (one there already is dropped), and returns its URL.
func freshDatabase(ctx context.Context, dbURL, suffix string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("-db: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/") + "_" + suffix
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	quoted := pgx.Identifier{name}.Sanitize()
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+quoted); err != nil {
		return "", err
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+quoted); err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
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
