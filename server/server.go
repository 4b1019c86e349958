// Package server assembles the Rampart security service: it opens the store, makes or loads the
// service's TLS identity, bootstraps the operator (and with --dev a ready-to-use tenant), and
// serves the management API, the web console (package console), /healthz and /metrics over
// HTTPS until its context ends.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/checkpoint"
	"github.com/rampart-iot/rampart/server/console"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/logring"
	"github.com/rampart-iot/rampart/server/netlimit"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// Files the service keeps in its data folder besides the TLS identity (see [pki]).
const (
	DBFile            = "rampart.db"
	KEKFile           = "kek"
	BlobDir           = "blobs"
	DevEnvFile        = "dev.env"
	OperatorTokenFile = "operator.token"
)

// DevTenant and DevAdmin are what --dev makes.
const (
	DevTenant = "dev"
	DevAdmin  = "admin@dev.local"
)

// Config configures [Run].
type Config struct {
	DataDir string   // required
	Listen  string   // host:port; port 0 picks a free one
	DB      string   // "" for SQLite in DataDir, or a postgres:// URL
	Dev     bool     // make a dev tenant and Administrator token, print their export lines
	Hosts   []string // names the TLS certificate covers besides localhost and loopback
	KEKFile string   // the key-encryption key's file; with Dev, made in DataDir if not given
	KEK     string   // the key-encryption key itself (64 hex), instead of KEKFile
	Logger  *slog.Logger
	Stdout  io.Writer // where --dev prints its export lines

	// EventRetention is how long error events and attestation failures are kept; 0 means
	// api.DefaultEventLifetime.
	EventRetention time.Duration

	// MetricsListen, if set, is a host:port where /metrics is served over plain HTTP without a
	// token, for a Prometheus on a private network. On the main address only the operator's
	// token reads /metrics.
	MetricsListen string
	// PprofListen, if set, is a loopback host:port where Go's profiler is served
	// (/debug/pprof/), for diagnosing the service.
	PprofListen string
	// ConnsPerSource and MaxConns cap the connections held open at once per source address and
	// in total; 0 means netlimit.DefaultPerSource and netlimit.DefaultTotal.
	ConnsPerSource int
	MaxConns       int
	// UploadStall is how long an upload may go without delivering another 64 KiB before it is
	// dropped; 0 means 30 seconds.
	UploadStall time.Duration
	// RolloutInterval is how often the health gates of rolling deployments are evaluated; 0
	// means 30 seconds.
	RolloutInterval time.Duration
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	cfg, log, err := checkConfig(cfg)
	if err != nil {
		return err
	}
	// Every record that names a tenant is also kept for that tenant's support data.
	logs := logring.New()
	log = slog.New(logs.Handler(log.Handler()))
	if err := makeDataDir(cfg.DataDir); err != nil {
		return err
	}
	dsn := cfg.DB
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, DBFile)
	}
	kek, err := loadKEK(cfg)
	if err != nil {
		return err
	}
	blobs, err := blob.Open(filepath.Join(cfg.DataDir, BlobDir))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	if cfg.DB == "" {
		if err := restrictDBFiles(dsn); err != nil {
			return err
		}
	}

	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hosts...)
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " /") {
		hosts = append(hosts, h)
	}
	cert, err := pki.ServerTLS(cfg.DataDir, kek, hosts, time.Now())
	if err != nil {
		return fmt.Errorf("TLS identity: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_connections_refused_total",
		Help: "Connections closed on accept because their source (source) or the service (total) held too many."},
		[]string{"cap"})
	reg.MustRegister(rejected)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := serverURL(ln.Addr().(*net.TCPAddr), cfg.Listen)
	limited := netlimit.Listen(ln, cfg.ConnsPerSource, cfg.MaxConns, func(c string) { rejected.WithLabelValues(c).Inc() })
	defer limited.Close()

	if err := bootstrap(ctx, st, cfg, url, log); err != nil {
		return err
	}

	mux := http.NewServeMux()
	authority := pki.NewAuthority(st, kek, nil)
	authority.SetPublicURL(url)
	keys := keyring.New(st, kek)
	tuf := tufrepo.New(st, keys, blobs, nil)
	service := httpapi.New(httpapi.Config{Store: st, CA: authority, Blobs: blobs, Keys: keys, TUF: tuf,
		Logger: log, Registry: reg, Gatherer: reg, UploadStall: cfg.UploadStall, Logs: logs})
	service.Register(mux)
	// The web console: every path the API does not serve. It calls the API through mux.
	mux.Handle("/", console.New(console.Config{API: mux, Logger: log}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.SecurityHeaders(w.Header())
		if err := st.Ping(r.Context()); err != nil {
			log.Error("health check", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{
		Handler:           withSecurityHeaders(mux),
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: each route sets its own body deadline (seconds for the device API,
		// progress-based for uploads), so a large image over a slow link still arrives.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:      TLSConfig(cert),
	}
	sessionTickets(srv.TLSConfig, kek, nil) // so that restarts and other replicas resume sessions
	return serve(ctx, cfg, srv, limited, url, reg, st, keys, tuf, service, log)
}

// serve runs the background work and the servers until ctx ends or serving fails, then stops
// them all and waits for the background work to end.
func serve(ctx context.Context, cfg Config, srv *http.Server, ln net.Listener, url string, reg *prometheus.Registry,
	st *store.Store, keys *keyring.Keyring, tuf *tufrepo.Service, service *httpapi.API, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: no background work outlives Run (or the store)
	defer cancel()
	for _, work := range []func(context.Context){
		func(ctx context.Context) { purgeNonces(ctx, st, log) },
		func(ctx context.Context) { refreshTUF(ctx, tuf, log) },
		func(ctx context.Context) { signAuditCheckpoints(ctx, st, keys, log) },
		func(ctx context.Context) { purgeEvents(ctx, st, cfg.EventRetention, log) },
		func(ctx context.Context) { flushFailures(ctx, service, log) },
		func(ctx context.Context) { evaluateRollouts(ctx, service, cfg.RolloutInterval, log) },
		func(ctx context.Context) { service.Notices().Run(ctx, time.Second) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); work(ctx) }()
	}
	served := make(chan error, 3)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	var metricsSrv *http.Server
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		metricsSrv = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second}
		go func() { served <- metricsSrv.Serve(mln) }()
		log.Info("serving metrics without a token", "address", mln.Addr().String())
	}
	var pprofSrv *http.Server
	if cfg.PprofListen != "" {
		pln, psrv, err := listenPprof(cfg.PprofListen)
		if err != nil {
			srv.Close()
			if metricsSrv != nil {
				metricsSrv.Close()
			}
			return err
		}
		pprofSrv = psrv
		go func() { served <- pprofSrv.Serve(pln) }()
		log.Info("serving Go's profiler", "address", pln.Addr().String())
	}
	log.Info("serving", "url", url, "store", st.Backend(), "data", cfg.DataDir)

	var failed error
	select {
	case err := <-served:
		failed = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		log.Info("shutting down")
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if metricsSrv != nil {
		metricsSrv.Shutdown(shutdownCtx)
	}
	if pprofSrv != nil {
		pprofSrv.Close() // a CPU profile in progress would hold a graceful shutdown
	}
	if err := srv.Shutdown(shutdownCtx); err != nil && failed == nil {
		failed = fmt.Errorf("shutdown: %w", err)
	}
	return failed
}

// checkConfig fills in defaults and refuses what cannot work.
func checkConfig(cfg Config) (Config, *slog.Logger, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return cfg, log, errors.New("no data folder: give --data DIR")
	}
	if cfg.EventRetention < 0 {
		return cfg, log, fmt.Errorf("invalid event retention %s: want a positive duration", cfg.EventRetention)
	}
	if cfg.EventRetention == 0 {
		cfg.EventRetention = api.DefaultEventLifetime
	}
	if cfg.ConnsPerSource <= 0 {
		cfg.ConnsPerSource = netlimit.DefaultPerSource
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = netlimit.DefaultTotal
	}
	return cfg, log, nil
}

// makeDataDir makes the data folder, and makes it owner-only whatever mode it had.
func makeDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make data folder: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make data folder owner-only: %w", err)
	}
	return nil
}

// restrictDBFiles makes the SQLite database and its -wal and -shm files owner-only, whatever the
// umask made them.
func restrictDBFiles(db string) error {
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make %s owner-only: %w", f, err)
		}
	}
	return nil
}

// TLSConfig is the service's TLS configuration: TLS 1.3, or TLS 1.2 with ECDHE key exchange and
// an AEAD cipher only (no CBC, no RSA key exchange). Devices present their certificate; the
// device API verifies it against the tenant it names (httpapi), so people's clients without one
// are still served.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
	}
}

// withSecurityHeaders sets HSTS and nosniff on every response, the API's 404s included.
func withSecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.SecurityHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}

// loadKEK finds the key-encryption key: given as text, as a file, or with --dev made in the data
// folder.
func loadKEK(cfg Config) (*pki.KEK, error) {
	switch {
	case cfg.KEK != "":
		return pki.ParseKEK(cfg.KEK)
	case cfg.KEKFile != "":
		return pki.LoadKEK(cfg.KEKFile)
	case cfg.Dev:
		return pki.MakeKEKFile(filepath.Join(cfg.DataDir, KEKFile))
	}
	return nil, errors.New("no key-encryption key: give --kek-file FILE or set RAMPART_KEK " +
		"(make one with: openssl rand -hex 32 > FILE && chmod 600 FILE)")
}

// purgeNonces removes expired attestation nonces every minute.
func purgeNonces(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			err := st.Update(ctx, func(tx *store.Tx) error {
				_, err := tx.PurgeNonces(now)
				return err
			})
			if err != nil && ctx.Err() == nil {
				log.Warn("purge nonces", "err", err)
			}
		}
	}
}

// flushFailures stores the counts of attestation failures of unknown callers every minute, and
// once more when ctx ends; it logs one line per flush, not one per failure.
func flushFailures(ctx context.Context, service *httpapi.API, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
		case <-t.C:
		}
		counts, err := service.FlushAttestationFailures(ctx)
		if err != nil {
			log.Warn("store attestation failure counts", "err", err)
			continue
		}
		for _, c := range counts {
			log.Info("attestation failures of callers that are not a claimed device", "reason", c.Reason,
				"count", c.Count, "sample_source", c.Sample.Source, "sample", c.Sample.Message)
		}
	}
}

// purgeEvents deletes error events and attestation failures older than retention at start and
// then every hour, a batch per transaction.
func purgeEvents(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := report.Purge(ctx, st, time.Now().Add(-retention), 0)
		if err != nil && ctx.Err() == nil {
			log.Warn("purge error events", "err", err)
		} else if n > 0 {
			log.Info("purged error events past their retention", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// evaluateRollouts runs the health gates of rolling deployments every interval (30 seconds if
// 0). Every replica runs it: a rollout is changed only from the revision it was read at, so
// replicas that decide together change it once.
func evaluateRollouts(ctx context.Context, service *httpapi.API, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := service.EvaluateRollouts(ctx); err != nil && ctx.Err() == nil {
			log.Warn("evaluate rollouts", "err", err)
		}
	}
}

// refreshTUF re-signs TUF metadata that nears expiry (timestamps every 12 hours) at start and
// then every five minutes.
func refreshTUF(ctx context.Context, tuf *tufrepo.Service, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if err := tuf.Refresh(ctx); err != nil && ctx.Err() == nil {
			log.Warn("refresh TUF metadata", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// signAuditCheckpoints signs checkpoints of the audit chains that are due (see [checkpoint.Sign])
// at start and then every hour.
func signAuditCheckpoints(ctx context.Context, st *store.Store, keys *keyring.Keyring, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := checkpoint.Sign(ctx, st, keys, time.Now()); err != nil && ctx.Err() == nil {
			log.Error("sign audit checkpoints", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serverURL is the address clients use: the listen host when one was named, else localhost.
func serverURL(addr *net.TCPAddr, listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// bootstrap makes the operator on first start, and with --dev the dev tenant, its Administrator
// (who is also the operator) and dev.env.
func bootstrap(ctx context.Context, st *store.Store, cfg Config, url string, log *slog.Logger) error {
	if cfg.Dev {
		return bootstrapDev(ctx, st, cfg, url, log)
	}
	path := filepath.Join(cfg.DataDir, OperatorTokenFile)
	made := false
	err := st.Update(ctx, func(tx *store.Tx) error {
		if ok, err := tx.AnyOperator(); err != nil || ok {
			return err
		}
		now := time.Now().UTC()
		u, _, token, err := auth.NewUser(tx, api.User{Email: "operator", Operator: true, CreatedAt: now}, 0)
		if err != nil {
			return err
		}
		if _, err = tx.AppendAudit(api.AuditEntry{Time: now, Actor: "rampart server", Action: "operator.create",
			Target: "user/" + u.ID, Source: "local"}); err != nil {
			return err
		}
		// Written before the commit: if the file cannot be written, no operator is made, and
		// the next start tries again, instead of an operator whose token nobody has.
		if err := pki.WriteFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
			return fmt.Errorf("write operator token: %w", err)
		}
		made = true
		return nil
	})
	if err != nil || !made {
		return err
	}
	log.Info("made the operator; its token is in "+path, "file", path)
	return nil
}

func bootstrapDev(ctx context.Context, st *store.Store, cfg Config, url string, log *slog.Logger) error {
	envPath := filepath.Join(cfg.DataDir, DevEnvFile)
	token := readEnvToken(envPath)
	err := st.Update(ctx, func(tx *store.Tx) error {
		if token != "" {
			if _, err := tx.TokenUser(auth.TokenHash(token)); err == nil {
				return nil // still valid: keep it
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		now := time.Now().UTC()
		t, err := tx.TenantByName(DevTenant)
		if errors.Is(err, store.ErrNotFound) {
			t = api.Tenant{ID: ident.TenantID(ident.NewID()), Name: DevTenant, CreatedAt: now, AllowClaimWithoutCode: true}
			if err = tx.CreateTenant(t); err == nil {
				_, err = tx.AppendAudit(api.AuditEntry{TenantID: t.ID, Time: now, Actor: "rampart server --dev",
					Action: "tenant.create", Target: "tenant/" + string(t.ID), Detail: t.Name, Source: "local"})
			}
		}
		if err != nil {
			return err
		}
		u, err := tx.User(t.ID, DevAdmin)
		if errors.Is(err, store.ErrNotFound) {
			u, _, token, err = auth.NewUser(tx, api.User{TenantID: t.ID, Email: DevAdmin,
				Role: api.RoleAdministrator, Operator: true, CreatedAt: now}, 0)
		} else if err == nil {
			_, token, err = auth.Mint(tx, u.ID, now, 0)
		}
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(api.AuditEntry{TenantID: t.ID, Time: now, Actor: "rampart server --dev",
			Action: "token.create", Target: "user/" + u.ID, Detail: u.Email, Source: "local"})
		return err
	})
	if err != nil {
		return fmt.Errorf("dev tenant: %w", err)
	}
	if err := allowDevClaims(ctx, st); err != nil {
		return fmt.Errorf("dev tenant: %w", err)
	}
	caPath, err := filepath.Abs(filepath.Join(cfg.DataDir, pki.CAFile))
	if err != nil {
		return err
	}
	env := fmt.Sprintf("export RAMPART_SERVER=%s\nexport RAMPART_TOKEN=%s\nexport RAMPART_CACERT=%s\n", url, token, caPath)
	if err := os.WriteFile(envPath, []byte(env), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", envPath, err)
	}
	if cfg.Stdout != nil {
		io.WriteString(cfg.Stdout, env)
	}
	log.Info("dev tenant ready; the lines above are also in "+envPath, "tenant", DevTenant, "user", DevAdmin)
	log.Info("--dev: the dev tenant may claim devices by ID alone, without their claim codes; other tenants need the codes",
		"tenant", DevTenant)
	return nil
}

// allowDevClaims lets the dev tenant claim devices by ID alone (so that the README's tour needs
// no claim code), also in a data folder made before claim codes existed.
func allowDevClaims(ctx context.Context, st *store.Store) error {
	return st.Update(ctx, func(tx *store.Tx) error {
		t, err := tx.TenantByName(DevTenant)
		if err != nil || t.AllowClaimWithoutCode {
			return err
		}
		if err := tx.SetAllowClaimWithoutCode(t.ID, true); err != nil {
			return err
		}
		_, err = tx.AppendAudit(api.AuditEntry{TenantID: t.ID, Time: time.Now().UTC(), Actor: "rampart server --dev",
			Action: "tenant.allow-claim-without-code", Target: "tenant/" + string(t.ID), Detail: "true", Source: "local"})
		return err
	})
}

// readEnvToken returns the RAMPART_TOKEN of a dev.env, or "".
func readEnvToken(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "export RAMPART_TOKEN="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
