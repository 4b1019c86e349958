// Command bench measures Rampart's paths next to bare-Go baselines measured in the same run, on
// the same machine, and prints the ratio table that BENCHMARKS.md records:
//
//	go run ./bench                         # every figure, about two minutes
//	go run ./bench -fleet 10000 -db URL    # also check-in p99 with 10k devices in PostgreSQL
//	go run ./bench -only fleet -fleet 10000,1000000 -db URL  # the fleet figures alone, 10k then 1M
//
// It builds the real binaries, starts `rampart server --dev` as a process of its own, and loads
// it with the fleet simulator (package sim) from this process. The baselines run in another
// process of their own (this binary with -serve-baseline), loaded by the same generator:
//
//   - a bare Go HTTPS server answering a device's JSON, for the management GET and check-ins;
//   - the attestation's crypto in a loop (evidence parsed and verified, a certificate signed);
//   - raw mutual-TLS handshakes, for the reconnect storm;
//   - Go's FileServer over TLS, for the image download.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	duration  time.Duration
	fleet     []int // fleet sizes, ascending: each on a service and store of its own
	db        string
	imageSize int64
	listeners int    // devices whose idle notification channels are measured
	only      string // -only: the figures to measure, comma-separated; all if empty
	baseline  string // -serve-baseline DIR: serve the baselines (an internal mode)
	profile   string // -profile DIR: CPU profiles of the service under each figure's load
}

func run() error {
	o := parseOptions()
	if o.baseline != "" {
		return serveBaselines(o.baseline)
	}
	work, err := os.MkdirTemp("", "rampart-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx := context.Background()
	bins := filepath.Join(work, "bin")
	logf("building the binaries")
	if out, err := exec.Command("go", "build", "-o", bins+"/", "./cmd/rampart", "./cmd/rampart-device").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	srv, err := startService(ctx, filepath.Join(bins, "rampart"), filepath.Join(work, "service"), "")
	if err != nil {
		return err
	}
	defer srv.stop()
	if o.profile != "" {
		if srv.prof, err = newProfiler(o, srv.pprof); err != nil {
			return err
		}
		defer srv.prof.finish()
	}
	base, err := startBaselines(work, o.imageSize)
	if err != nil {
		return err
	}
	defer base.stop()
	rows, err := measure(ctx, o, srv, base, bins, work)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), %s, %s/%s, load average %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAverage())
	fmt.Println("| path | Rampart | baseline in the same run | ratio |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		printRow(os.Stdout, r)
	}
	return nil
}

// parseOptions reads the command line.
func parseOptions() options {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each figure is measured")
	flag.Func("fleet", "also measure check-in p99 and the service's memory with this many devices in the store; "+
		"sizes comma-separated, ascending, are measured in turn and compared (e.g. 10000,1000000)", func(v string) error {
		var err error
		o.fleet, err = parseSizes(v)
		return err
	})
	flag.StringVar(&o.db, "db", "", "PostgreSQL URL for the fleet-size figures (default: SQLite); each size gets a new database, "+
		"named as the URL's with _SIZE appended")
	flag.Int64Var(&o.imageSize, "image-size", 20<<20, "size of the image downloaded")
	flag.IntVar(&o.listeners, "listeners", 2000, "devices whose idle notification channels are held open to measure their memory")
	flag.StringVar(&o.only, "only", "", "measure only these figures, comma-separated: management, attestation, checkin, storm, download, device, notify, fleet")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of the service under each figure's load to this folder")
	flag.StringVar(&o.baseline, "serve-baseline", "", "internal: serve the baselines with their files in this folder")
	flag.Parse()
	return o
}

// measure measures the figures that o asks for, in the table's order.
func measure(ctx context.Context, o options, srv *service, base *baselines, bins, work string) ([]row, error) {
	var rows []row
	add := func(r row, err error) error {
		if err != nil {
			return err
		}
		rows = append(rows, r)
		printRow(os.Stderr, r)
		return nil
	}
	for _, f := range []struct {
		name string
		run  func(context.Context, options, *service, *baselines) (row, error)
	}{
		{"management", management}, {"attestation", attestation}, {"checkin", checkin}, {"storm", storm}, {"download", download},
	} {
		if !o.measures(f.name) {
			continue
		}
		if err := add(f.run(ctx, o, srv, base)); err != nil {
			return nil, err
		}
	}
	if o.measures("device") {
		if err := add(deviceRSS(ctx, srv, bins, work)); err != nil {
			return nil, err
		}
	}
	if o.listeners > 0 && o.measures("notify") {
		if err := add(notifyMemory(ctx, o, filepath.Join(bins, "rampart"), work, base)); err != nil {
			return nil, err
		}
	}
	if len(o.fleet) > 0 && o.measures("fleet") {
		fr, err := fleetFigures(ctx, o, filepath.Join(bins, "rampart"), work)
		if err != nil {
			return nil, err
		}
		rows = append(rows, fr...)
	}
	return rows, nil
}

// parseSizes reads -fleet: sizes from 1 to 10,000,000, comma-separated, each larger than the
// one before.
func parseSizes(v string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000_000 {
			return nil, fmt.Errorf("fleet size %q: want a number from 1 to 10000000", f)
		}
		if len(sizes) > 0 && n <= sizes[len(sizes)-1] {
			return nil, fmt.Errorf("fleet sizes must grow: %d after %d", n, sizes[len(sizes)-1])
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// measures reports whether the figure name is to be measured (-only).
func (o options) measures(name string) bool {
	return o.only == "" || slices.Contains(strings.Split(o.only, ","), name)
}

// row is one line of the table.
type row struct {
	path, rampart, baseline string
	ratio                   float64 // 0: none
}

func printRow(w io.Writer, r row) {
	ratio := "—"
	if r.ratio > 0 {
		ratio = fmt.Sprintf("%.2f", r.ratio)
		if r.ratio < 0.1 {
			ratio = fmt.Sprintf("%.3f", r.ratio)
		}
	}
	if r.baseline == "" {
		r.baseline = "—"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.path, r.rampart, r.baseline, ratio)
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// service is a running `rampart server --dev`.
type service struct {
	prof               *profiler // nil without -profile
	cmd                *exec.Cmd
	url, token, caPath string
	caPEM              []byte
	pprof              string // the address of its profiler
}

func (s *service) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startService starts the service binary with --dev in dir, on SQLite or db.
func startService(ctx context.Context, bin, dir, db string) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--dev", "--data", dir, "--listen", addr, "--log-level", "warn", "--max-conns-per-source", "10000",
		"--pprof-listen", pprofAddr}
	if db != "" {
		args = append(args, "--db", db)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &service{cmd: cmd, pprof: pprofAddr}
	for range 600 {
		time.Sleep(50 * time.Millisecond)
		b, err := os.ReadFile(filepath.Join(dir, "dev.env"))
		if err != nil {
			continue
		}
		env := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
				env[k] = v
			}
		}
		if env["RAMPART_CACERT"] != "" && strings.HasSuffix(env["RAMPART_SERVER"], addr) {
			s.url, s.token, s.caPath = env["RAMPART_SERVER"], env["RAMPART_TOKEN"], env["RAMPART_CACERT"]
			s.caPEM, err = os.ReadFile(s.caPath)
			return s, err
		}
	}
	s.stop()
	return nil, errors.New("the service did not start")
}

func (s *service) simConfig(devices, concurrency int, scenario string, d time.Duration) sim.Config {
	return sim.Config{Server: s.url, Token: s.token, CAPEM: s.caPEM, Devices: devices, Concurrency: concurrency,
		Scenario: scenario, Duration: d, Seed: sim.Seed("bench"), ImageSize: 0, ClaimBatch: 1000, Timed: s.prof.start}
}

func simRow(sum sim.Summary, op string) (sim.Row, error) {
	for _, r := range sum.Operations {
		if r.Operation == op {
			if r.Errors > 0 {
				logf("%s: %d errors %v", op, r.Errors, r.ErrorsByKind)
			}
			return r, nil
		}
	}
	return sim.Row{}, fmt.Errorf("the simulator measured no %s", op)
}

func rate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// load runs op from c goroutines for d and returns the rate and percentiles of its successes.
func load(d time.Duration, c int, op func() error) (perSec float64, p50, p99 time.Duration, errs int64) {
	var mu sync.Mutex
	var lat []time.Duration
	var nerr atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := op(); err != nil {
					nerr.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if len(lat) == 0 {
		return 0, 0, 0, nerr.Load()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / secs, lat[len(lat)/2], lat[len(lat)*99/100], nerr.Load()
}

// management: GET /api/v1/devices/{id} with the admin token, c=64, against bare Go HTTPS JSON.
func management(ctx context.Context, o options, s *service, b *baselines) (row, error) {
	logf("management GET")
	sum, err := sim.Run(ctx, s.simConfig(64, 16, "claim", 0))
	if err != nil {
		return row{}, err
	}
	_ = sum
	id := sim.DeviceOf(sim.Seed("bench"), 0).ID()
	hc := httpClient(s.caPEM, nil, 64)
	get := func(url, token string) func() error {
		return func() error {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
	}
	s.prof.start("management")
	r, _, p99, errs := load(o.duration, 64, get(s.url+"/api/v1/devices/"+string(id), s.token))
	if errs > 0 {
		logf("management GET: %d errors", errs)
	}
	bhc := httpClient(b.caPEM, nil, 64)
	hc = bhc
	br, _, _, _ := load(o.duration, 64, get(b.url+"/json", ""))
	return row{path: "management `GET /api/v1/devices/{id}`, c=64", rampart: fmt.Sprintf("%s req/s, p99 %s", rate(r), ms(p99)),
		baseline: fmt.Sprintf("bare Go HTTPS JSON %s req/s", rate(br)), ratio: r / br}, nil
}

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func msf(v float64) string { return ms(time.Duration(v * float64(time.Millisecond))) }

// attestation: nonce + attest at c=32, against the same crypto in a loop.
func attestation(ctx context.Context, o options, s *service, _ *baselines) (row, error) {
	logf("attestation")
	sum, err := sim.Run(ctx, s.simConfig(256, 32, "attest", o.duration))
	if err != nil {
		return row{}, err
	}
	r, err := simRow(sum, sim.OpAttest)
	if err != nil {
		return row{}, err
	}
	loop, err := cryptoLoop(o.duration)
	if err != nil {
		return row{}, err
	}
	return row{path: "attestation (nonce + attest, new connection), c=32", rampart: fmt.Sprintf("%s/s, p99 %s", rate(r.PerSecond), msf(r.P99Ms)),
		baseline: fmt.Sprintf("same crypto in a loop %s/s", rate(loop)), ratio: r.PerSecond / loop}, nil
}

// checkin: an up-to-date check-in over kept-alive mutual TLS, c=32, against bare Go HTTPS JSON.
func checkin(ctx context.Context, o options, s *service, b *baselines) (row, error) {
	logf("check-in")
	sum, err := sim.Run(ctx, s.simConfig(256, 32, "checkin", o.duration))
	if err != nil {
		return row{}, err
	}
	r, err := simRow(sum, sim.OpCheckin)
	if err != nil {
		return row{}, err
	}
	hc := httpClient(b.caPEM, nil, 32)
	br, _, _, _ := load(o.duration, 32, func() error {
		resp, err := hc.Get(b.url + "/json")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	return row{path: "up-to-date check-in (" + requests(r.RequestsPerOp) + "), c=32",
		rampart:  fmt.Sprintf("%s/s, p99 %s", rate(r.PerSecond), msf(r.P99Ms)),
		baseline: fmt.Sprintf("bare Go HTTPS JSON %s req/s", rate(br)), ratio: r.PerSecond / br}, nil
}

// storm: a new mutual-TLS connection per check-in, c=32, against raw mutual-TLS handshakes.
func storm(ctx context.Context, o options, s *service, b *baselines) (row, error) {
	logf("reconnect storm")
	sum, err := sim.Run(ctx, s.simConfig(256, 32, "storm", o.duration))
	if err != nil {
		return row{}, err
	}
	r, err := simRow(sum, sim.OpStorm)
	if err != nil {
		return row{}, err
	}
	hs, err := b.handshakes(o.duration, 32)
	if err != nil {
		return row{}, err
	}
	resumed := 0.0
	if r.Connections > 0 {
		resumed = 100 * float64(r.Resumed) / float64(r.Connections)
	}
	return row{path: "reconnect storm, new mTLS connection + check-in, c=32",
		rampart:  fmt.Sprintf("%s/s, %.0f %% resumed", rate(r.PerSecond), resumed),
		baseline: fmt.Sprintf("raw mTLS full handshakes %s/s", rate(hs)), ratio: r.PerSecond / hs}, nil
}

// download: the group's image over mutual TLS, c=4, against Go's FileServer over TLS.
func download(ctx context.Context, o options, s *service, b *baselines) (row, error) {
	logf("download")
	cfg := s.simConfig(8, 4, "download", o.duration)
	cfg.ImageSize = o.imageSize
	sum, err := sim.Run(ctx, cfg)
	if err != nil {
		return row{}, err
	}
	r, err := simRow(sum, sim.OpDownload)
	if err != nil {
		return row{}, err
	}
	hc := httpClient(b.caPEM, nil, 4)
	var bytes atomic.Int64
	start := time.Now()
	load(o.duration, 4, func() error {
		resp, err := hc.Get(b.url + "/file/image")
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		bytes.Add(n)
		return err
	})
	bps := float64(bytes.Load()) / time.Since(start).Seconds()
	return row{path: fmt.Sprintf("%d MB image download, c=4", o.imageSize>>20),
		rampart:  fmt.Sprintf("%.2f GB/s", r.BytesPerSecond/1e9),
		baseline: fmt.Sprintf("Go FileServer over TLS %.2f GB/s", bps/1e9), ratio: r.BytesPerSecond / bps}, nil
}

func httpClient(caPEM []byte, cert *tls.Certificate, conns int) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: conns, ForceAttemptHTTP2: true}}
}

// selfSigned makes a P-256 CA-signed TLS certificate for 127.0.0.1, as the service's is.
func selfSigned(dir string) (tls.Certificate, []byte, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemCert, os.WriteFile(filepath.Join(dir, "ca.pem"), pemCert, 0o600)
}

// baselines is the process that serves the baselines.
type baselines struct {
	cmd        *exec.Cmd
	url, mtls  string
	caPEM      []byte
	clientCert tls.Certificate
}

func (b *baselines) stop() { b.cmd.Process.Kill(); b.cmd.Wait() }

func startBaselines(work string, imageSize int64) (*baselines, error) {
	dir := filepath.Join(work, "baseline")
	if err := os.MkdirAll(filepath.Join(dir, "file"), 0o700); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "file", "image"))
	if err != nil {
		return nil, err
	}
	_, err = io.CopyN(f, rand.Reader, imageSize)
	f.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-serve-baseline", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var addrs struct{ HTTPS, MTLS string }
	if err := json.NewDecoder(out).Decode(&addrs); err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("baseline server: %w", err)
	}
	b := &baselines{cmd: cmd, url: "https://" + addrs.HTTPS, mtls: addrs.MTLS}
	if b.caPEM, err = os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil {
		return nil, err
	}
	b.clientCert, _, err = selfSigned(work)
	return b, err
}

// serveBaselines serves, until killed: /json (a device's JSON), /file/ (Go's FileServer) and
// /stream (a line, then an idle stream until the client goes) over HTTPS, and a TLS listener that requires a client certificate and closes each connection
// after its handshake.
func serveBaselines(dir string) error {
	cert, _, err := selfSigned(dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dev := api.Device{ID: sim.DeviceOf(sim.Seed("bench"), 0).ID(), State: api.DeviceClaimed, ClaimedAt: time.Now().UTC(),
		ProductName: sim.ProductName, GroupName: sim.GroupName}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(dev)
	})
	mux.Handle("GET /file/", http.StripPrefix("/file/", http.FileServer(http.Dir(filepath.Join(dir, "file")))))
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"reason":"keep-alive"}`+"\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}}
	go srv.ServeTLS(ln, "", "")
	mtls := tls.NewListener(mln, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert,
		SessionTicketsDisabled: true})
	go func() {
		for {
			c, err := mtls.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte{0})
				c.Close()
			}()
		}
	}()
	json.NewEncoder(os.Stdout).Encode(map[string]string{"HTTPS": ln.Addr().String(), "MTLS": mln.Addr().String()})
	select {}
}

// handshakes measures full mutual-TLS handshakes a second at concurrency c, each on a new
// connection, without resumption.
func (b *baselines) handshakes(d time.Duration, c int) (float64, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.caPEM)
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{b.clientCert}, ServerName: "127.0.0.1"}
	r, _, _, errs := load(d, c, func() error {
		conn, err := tls.Dial("tcp", b.mtls, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Read(make([]byte, 1))
		return err
	})
	if r == 0 {
		return 0, fmt.Errorf("no mutual-TLS handshake succeeded (%d errors)", errs)
	}
	return r, nil
}
