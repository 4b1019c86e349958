// Package server assembles the Rampart security service: it opens the store, makes or loads the
// service's TLS identity, bootstraps the operator (and with --dev a ready-to-use tenant), and
// serves the management API, /healthz and /metrics over HTTPS until its context ends.
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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/checkpoint"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/keyring"
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
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return errors.New("no data folder: give --data DIR")
	}
	if cfg.EventRetention < 0 {
		return fmt.Errorf("invalid event retention %s: want a positive duration", cfg.EventRetention)
	}
	if cfg.EventRetention == 0 {
		cfg.EventRetention = api.DefaultEventLifetime
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("make data folder: %w", err)
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

	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hosts...)
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " /") {
		hosts = append(hosts, h)
	}
	cert, err := pki.ServerTLS(cfg.DataDir, hosts, time.Now())
	if err != nil {
		return fmt.Errorf("TLS identity: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	url := serverURL(ln.Addr().(*net.TCPAddr), cfg.Listen)

	if err := bootstrap(ctx, st, cfg, url, log); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	authority := pki.NewAuthority(st, kek, nil)
	authority.SetPublicURL(url)
	keys := keyring.New(st, kek)
	tuf := tufrepo.New(st, keys, blobs, nil)
	httpapi.New(httpapi.Config{Store: st, CA: authority, Blobs: blobs, Keys: keys, TUF: tuf,
		Logger: log, Registry: reg}).Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(r.Context()); err != nil {
			log.Error("health check", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			// Devices present their certificate; the device API verifies it against the tenant
			// it names (httpapi), so people's clients without one are still served.
			ClientAuth: tls.RequestClientCert,
		},
	}
	go purgeNonces(ctx, st, log)
	go refreshTUF(ctx, tuf, log)
	go signAuditCheckpoints(ctx, st, keys, log)
	go purgeEvents(ctx, st, cfg.EventRetention, log)
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	log.Info("serving", "url", url, "store", st.Backend(), "data", cfg.DataDir)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
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
	var token string
	err := st.Update(ctx, func(tx *store.Tx) error {
		if ok, err := tx.AnyOperator(); err != nil || ok {
			return err
		}
		now := time.Now().UTC()
		u, t, err := httpapi.NewUser(tx, api.User{Email: "operator", Operator: true, CreatedAt: now})
		if err != nil {
			return err
		}
		token = t
		_, err = tx.AppendAudit(api.AuditEntry{Time: now, Actor: "rampart server", Action: "operator.create",
			Target: "user/" + u.ID, Source: "local"})
		return err
	})
	if err != nil || token == "" {
		return err
	}
	path := filepath.Join(cfg.DataDir, OperatorTokenFile)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write operator token: %w", err)
	}
	log.Info("made the operator; its token is in "+path, "file", path)
	return nil
}

func bootstrapDev(ctx context.Context, st *store.Store, cfg Config, url string, log *slog.Logger) error {
	envPath := filepath.Join(cfg.DataDir, DevEnvFile)
	token := readEnvToken(envPath)
	err := st.Update(ctx, func(tx *store.Tx) error {
		if token != "" {
			if _, err := tx.TokenUser(httpapi.TokenHash(token)); err == nil {
				return nil // still valid: keep it
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		now := time.Now().UTC()
		t, err := tx.TenantByName(DevTenant)
		if errors.Is(err, store.ErrNotFound) {
			t = api.Tenant{ID: ident.NewID(), Name: DevTenant, CreatedAt: now, AllowClaimWithoutCode: true}
			if err = tx.CreateTenant(t); err == nil {
				_, err = tx.AppendAudit(api.AuditEntry{TenantID: t.ID, Time: now, Actor: "rampart server --dev",
					Action: "tenant.create", Target: "tenant/" + t.ID, Detail: t.Name, Source: "local"})
			}
		}
		if err != nil {
			return err
		}
		u, err := tx.User(t.ID, DevAdmin)
		if errors.Is(err, store.ErrNotFound) {
			u, token, err = httpapi.NewUser(tx, api.User{TenantID: t.ID, Email: DevAdmin,
				Role: api.RoleAdministrator, Operator: true, CreatedAt: now})
		} else if err == nil {
			token = httpapi.NewToken()
			err = tx.AddToken(store.Token{Hash: httpapi.TokenHash(token), UserID: u.ID, CreatedAt: now})
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
			Action: "tenant.allow-claim-without-code", Target: "tenant/" + t.ID, Detail: "true", Source: "local"})
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
