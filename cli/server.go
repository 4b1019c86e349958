package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/usage"
	"github.com/rampart-iot/rampart/server"
)

func (e *env) serverCmd() *cobra.Command {
	var cfg server.Config
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Rampart security service",
		Long: "Run the Rampart security service over HTTPS. Private keys are kept sealed with a\n" +
			"key-encryption key (--kek-file or RAMPART_KEK). On first start it makes its TLS CA and\n" +
			"certificate in the data folder and an operator token (operator.token there).\n" +
			"With --dev it also makes a tenant 'dev' and an Administrator token, and prints\n" +
			"the export lines for the CLI (also written to DIR/dev.env).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usage.Errorf("invalid --log-level %q: want debug, info, warn or error", logLevel)
			}
			opts := &slog.HandlerOptions{Level: level}
			switch logFormat {
			case "text":
				cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, opts))
			case "json":
				cfg.Logger = slog.New(slog.NewJSONHandler(e.stderr, opts))
			default:
				return usage.Errorf("invalid --log-format %q: want text or json", logFormat)
			}
			if cfg.EventRetention <= 0 {
				return usage.Errorf("invalid --event-retention %s: want a positive duration such as 336h", cfg.EventRetention)
			}
			if cfg.Listen == "" {
				cfg.Listen = ":8443"
				if cfg.Dev {
					cfg.Listen = "localhost:8443"
				}
			}
			cfg.Stdout = e.stdout
			if cfg.KEKFile == "" {
				cfg.KEK = e.getenv("RAMPART_KEK")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err := server.Run(ctx, cfg)
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: another program listens on %s (another 'rampart server'?); stop it, or give another address with --listen HOST:PORT", err, cfg.Listen)
			}
			if err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "rampart-data", "folder for the database, keys and certificates")
	f.StringVar(&cfg.Listen, "listen", "", "address to listen on (default :8443, or localhost:8443 with --dev)")
	f.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://…); default SQLite in the data folder")
	f.BoolVar(&cfg.Dev, "dev", false, "development mode: make a dev tenant and Administrator token")
	f.StringVar(&cfg.KEKFile, "kek-file", "", "file holding the key-encryption key (64 hex; env RAMPART_KEK); --dev makes one")
	f.StringSliceVar(&cfg.Hosts, "host", nil, "extra DNS name or IP for the TLS certificate (repeatable)")
	f.DurationVar(&cfg.EventRetention, "event-retention", api.DefaultEventLifetime, "how long error events are kept (e.g. 336h)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "also serve /metrics over plain HTTP without a token on this private host:port "+
		"(on --listen only the operator's token reads it)")
	f.StringVar(&cfg.PprofListen, "pprof-listen", "", "also serve Go's profiler (/debug/pprof/) on this loopback host:port, for diagnosing")
	f.IntVar(&cfg.ConnsPerSource, "max-conns-per-source", 0, "connections one address may hold open at once (default 64)")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "connections held open at once in total (default 10000)")
	f.DurationVar(&cfg.RolloutInterval, "rollout-interval", 30*time.Second, "how often the health gates of rolling deployments are evaluated")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}
