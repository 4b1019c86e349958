// Command rampart-sim simulates a fleet of devices against a Rampart service, for sizing: see
// package [github.com/rampart-iot/rampart/internal/sim].
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/internal/sim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// maxCAFile and maxRuntime bound the files the flags name.
const (
	maxCAFile  = 1 << 20
	maxRuntime = 256 << 20
)

func run(args []string, stdout, stderr io.Writer) int {
	var (
		cfg                     sim.Config
		server, token, cacert   string
		seed, output, runtimeIn string
		spread                  string
		imageSize               int64
	)
	cmd := &cobra.Command{
		Use:   "rampart-sim",
		Short: "Simulate a fleet of devices against a Rampart service",
		Long: "rampart-sim simulates --devices devices in one process, each with its own DICE identity, against\n" +
			"a running service: it claims them (with their claim codes) into the Field Test group of the\n" +
			"product rampart-sim, attests them, checks them in over mutual TLS, uploads error events,\n" +
			"downloads an app image and storms the service with reconnections, then prints the rates,\n" +
			"latencies and errors by kind. The same --seed gives the same fleet, so a second run reuses\n" +
			"the devices the first one claimed.\n\n" +
			"It needs an Administrator's token of the tenant that claims the fleet, and (unless --runtime\n" +
			"names a published runtime release) the operator's, to publish the runtime the devices\n" +
			"measure. Run it against a service made for sizing, such as 'rampart server --dev'.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Server, cfg.Token, cfg.CAPEM, err = settings(server, token, cacert); err != nil {
				return err
			}
			if runtimeIn != "" {
				if cfg.Runtime, err = readLimited(runtimeIn, maxRuntime); err != nil {
					return fmt.Errorf("read --runtime: %w", err)
				}
			}
			switch spread {
			case "auto":
			case "on":
				cfg.Spread = sim.SpreadOn
			case "off":
				cfg.Spread = sim.SpreadOff
			default:
				return fmt.Errorf("invalid --spread %q: want auto, on or off", spread)
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("invalid --output %q: want table or json", output)
			}
			cfg.Seed, cfg.ImageSize = sim.Seed(seed), imageSize
			if isTerminal(stderr) {
				cfg.Progress = stderr
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := sim.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if output == "json" {
				return sum.WriteJSON(stdout)
			}
			return sum.WriteTable(stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "address of the Rampart service, https://HOST:PORT (env RAMPART_SERVER)")
	f.StringVar(&token, "token", "", "an Administrator's API token (env RAMPART_TOKEN)")
	f.StringVar(&cacert, "cacert", "", "PEM file of the service's CA certificate (env RAMPART_CACERT)")
	f.IntVar(&cfg.Devices, "devices", 100, "number of simulated devices")
	f.IntVar(&cfg.Concurrency, "concurrency", 32, "operations in flight at once")
	f.DurationVar(&cfg.Duration, "duration", 0, "run each scenario this long, cycling over the fleet (default: one pass)")
	f.StringVar(&cfg.Scenario, "scenario", "all", "what to simulate: "+strings.Join(sim.Scenarios, ", "))
	f.StringVar(&seed, "seed", "rampart-sim", "seed of the devices' identities: the same seed is the same fleet")
	f.StringVar(&output, "output", "table", "summary format: table or json")
	f.StringVar(&runtimeIn, "runtime", "", "runtime image the devices measure, a published release (default: a stand-in the simulator publishes)")
	f.Int64Var(&imageSize, "image-size", 64<<10, "payload bytes of the app image deployed to the devices (0: none)")
	f.IntVar(&cfg.ClaimBatch, "claim-batch", 100, "devices per claim request (at most 1000)")
	f.IntVar(&cfg.MaxOpen, "max-open", 1000, "kept-alive device connections at most; the least recently used is closed")
	f.StringVar(&spread, "spread", "auto", "connect each device from its own address in 127.0.0.0/8: auto (for a loopback service), on or off")
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(stderr, "rampart-sim:", err)
		return 1
	}
	return 0
}

// settings picks the service, token and CA from the flags, else the environment, as the rampart
// command does.
func settings(server, token, cacert string) (string, string, []byte, error) {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	server, token, cacert = pick(server, "RAMPART_SERVER"), pick(token, "RAMPART_TOKEN"), pick(cacert, "RAMPART_CACERT")
	switch {
	case server == "":
		return "", "", nil, errors.New("no service address: give --server or set RAMPART_SERVER")
	case token == "":
		return "", "", nil, errors.New("no API token: give --token or set RAMPART_TOKEN (an Administrator's)")
	case cacert == "":
		return "", "", nil, errors.New("no service CA: give --cacert or set RAMPART_CACERT")
	}
	ca, err := readLimited(cacert, maxCAFile)
	if err != nil {
		return "", "", nil, fmt.Errorf("read CA certificate: %w", err)
	}
	return server, token, ca, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
