package devicecli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/device/agent"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) initCmd() *cobra.Command {
	var dir, server, cacert, runtime, runtimeKeys, rootOfTrust, tpmPath string
	var pcr int
	cmd := &cobra.Command{
		Use:   "init --state DIR --server URL --cacert FILE [--runtime FILE] [--runtime-keys FILE] [--rot software|tpm --tpm PATH [--pcr N]]",
		Short: "Make a new device: its secret, its factory runtime, its service; print its ID",
		Long: "init makes the device's Unique Device Secret, installs the factory runtime (this program,\n" +
			"or --runtime FILE) in slot A and pins its SHA-512, and records the service's address and\n" +
			"CA. It learns the operator's runtime-signing keys from the service, over TLS pinned by\n" +
			"that CA (or, offline, from --runtime-keys FILE): stage 0 boots only the factory runtime\n" +
			"or runtime updates signed by one of them. It prints the device ID last on stdout: have an\n" +
			"administrator claim it with 'rampart device claim ID'. A folder that already holds a\n" +
			"device is refused.\n\n" +
			"With --rot tpm the device's root of trust is the TPM 2.0 at --tpm PATH (/dev/tpmrm0, or the\n" +
			"Unix socket of a simulator) instead of a secret in the state folder: init makes the\n" +
			"attestation key and the claim key in the TPM, and the folder keeps only their TPM-wrapped\n" +
			"blobs; stage 0 measures the runtime into PCR --pcr (8 to 15, default 15).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := state.CheckServiceURL(server); err != nil {
				return usage.Errorf("--server: %v", err)
			}
			tpmConfig, err := rotFlags(cmd, rootOfTrust, tpmPath, pcr)
			if err != nil {
				return err
			}
			ca, err := state.ReadFile(cacert, state.MaxFileSize)
			if err != nil {
				return fmt.Errorf("read --cacert: %w", err)
			}
			if err := checkCAPEM(ca); err != nil {
				return fmt.Errorf("--cacert %s: %w", cacert, err)
			}
			if err := boot.CheckNotInitialised(dir); err != nil {
				return err
			}
			var keys []byte
			if runtimeKeys != "" {
				if keys, err = state.ReadFile(runtimeKeys, state.MaxFileSize); err != nil {
					return fmt.Errorf("read --runtime-keys: %w", err)
				}
				if _, err := state.ParseRuntimeKeys(keys); err != nil {
					return fmt.Errorf("--runtime-keys %s: %w", runtimeKeys, err)
				}
			} else {
				ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
				keys, err = agent.FetchRuntimeKeys(ctx, server, ca)
				cancel()
				if err != nil {
					return fmt.Errorf("learn the runtime-signing keys from %s: %w; a device learns them at init: make the service reachable and try again, or give --runtime-keys FILE", server, err)
				}
			}
			if runtime == "" {
				if runtime, err = os.Executable(); err != nil {
					return fmt.Errorf("find this program to install it as the runtime: %w; give --runtime FILE", err)
				}
			}
			f, err := os.Open(runtime)
			if err != nil {
				return fmt.Errorf("read the runtime: %w", err)
			}
			defer f.Close()
			id, err := boot.Init(dir, boot.Factory{ServiceURL: server, ServiceCA: ca, Runtime: f, RuntimeKeys: keys, TPM: tpmConfig})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "rampart-device: initialised a device in %s; claim it with: rampart device claim %s --code CODE, where CODE is the second line of 'rampart-device id --state %s --claim-code'\n", dir, id, dir)
			fmt.Fprintln(e.stdout, id)
			return nil
		},
	}
	stateFlag(cmd, &dir)
	fl := cmd.Flags()
	fl.StringVar(&server, "server", "", "address of the Rampart service, https://HOST:PORT")
	fl.StringVar(&cacert, "cacert", "", "PEM file of the service's CA certificate")
	fl.StringVar(&runtime, "runtime", "", "the factory runtime to install (default: this program)")
	fl.StringVar(&runtimeKeys, "runtime-keys", "", "PEM file of the operator's runtime-signing public keys (default: ask the service)")
	fl.StringVar(&rootOfTrust, "rot", state.RootSoftware, "root of trust: software (a secret in the state folder, for development) or tpm")
	fl.StringVar(&tpmPath, "tpm", "", "with --rot tpm: the TPM's character device (/dev/tpmrm0) or a simulator's Unix socket")
	fl.IntVar(&pcr, "pcr", tpm.DefaultPCR, "with --rot tpm: the PCR stage 0 measures the runtime into, 8 to 15")
	cmd.RegisterFlagCompletionFunc("rot", cobra.FixedCompletions([]string{state.RootSoftware, state.RootTPM}, cobra.ShellCompDirectiveNoFileComp))
	cmd.MarkFlagRequired("server")
	cmd.MarkFlagRequired("cacert")
	return cmd
}

// rotFlags checks init's root-of-trust flags and returns the TPM to use, or nil for the
// software root.
func rotFlags(cmd *cobra.Command, rootOfTrust, tpmPath string, pcr int) (*boot.TPMConfig, error) {
	switch rootOfTrust {
	case state.RootSoftware:
		if tpmPath != "" || cmd.Flags().Changed("pcr") {
			return nil, usage.Errorf("--tpm and --pcr need --rot tpm")
		}
		return nil, nil
	case state.RootTPM:
	default:
		return nil, usage.Errorf("invalid --rot %q: want software or tpm", rootOfTrust)
	}
	if tpmPath == "" {
		return nil, usage.Errorf("--rot tpm needs --tpm PATH: the TPM's character device (/dev/tpmrm0) or a simulator's Unix socket")
	}
	if err := boot.CheckPCR(pcr); err != nil {
		return nil, usage.Errorf("--pcr: %v", err)
	}
	return &boot.TPMConfig{Path: tpmPath, PCR: pcr}, nil
}

// checkCAPEM requires one or more certificates and nothing else.
func checkCAPEM(b []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %q PEM block: want only CERTIFICATE blocks", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

// idView is `id --output json`. Its field names are stable.
type idView struct {
	DeviceID  ident.DeviceID  `json:"device_id"`
	ClaimCode ident.ClaimCode `json:"claim_code,omitempty"`
}

func (e *env) idCmd() *cobra.Command {
	var dir, output string
	var claimCode bool
	cmd := &cobra.Command{
		Use:   "id --state DIR [--claim-code] [--output text|json]",
		Short: "Print the device ID, derived from the device's secret, and with --claim-code its claim code",
		Long: "Print the device ID. With --claim-code, also print on a second line the device's claim code:\n" +
			"the proof, for 'rampart device claim ID --code CODE', that whoever claims the device has it in\n" +
			"hand. Print it on the device's label; it is derived from the device's secret and never changes.\n" +
			"Keep it as private as the device itself: whoever has it can claim the device first.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usage.Errorf("invalid --output %q: want text or json", output)
			}
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			var v idView
			if v.DeviceID, err = boot.DeviceID(d); err != nil {
				return err
			}
			if claimCode {
				if v.ClaimCode, err = boot.ClaimCode(d); err != nil {
					return err
				}
			}
			if output == "json" {
				b, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintf(e.stdout, "%s\n", b)
				return nil
			}
			fmt.Fprintln(e.stdout, v.DeviceID)
			if claimCode {
				fmt.Fprintln(e.stdout, v.ClaimCode)
			}
			return nil
		},
	}
	stateFlag(cmd, &dir)
	cmd.Flags().BoolVar(&claimCode, "claim-code", false, "also print the device's claim code")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// runFlags are the flags of run, which stage 0 passes through to stage 1.
type runFlags struct {
	once, forceAttest bool
	checkinInterval   time.Duration
	eventInterval     time.Duration
}

func (f *runFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.once, "once", false, "run one cycle (boot, attest if needed, check in, update), then exit")
	fl.BoolVar(&f.forceAttest, "force-attest", false, "attest even if the certificate is current")
	fl.DurationVar(&f.checkinInterval, "checkin-interval", agent.DefaultCheckinInterval, "mean time between check-ins (jittered)")
	fl.DurationVar(&f.eventInterval, "events-interval", events.DefaultInterval, "how often to try to upload queued error events (also after each check-in)")
}

func (f *runFlags) check() error {
	if f.checkinInterval <= 0 {
		return usage.Errorf("--checkin-interval must be positive")
	}
	if f.eventInterval <= 0 {
		return usage.Errorf("--events-interval must be positive")
	}
	return nil
}

func (f *runFlags) args() []string {
	var a []string
	if f.once {
		a = append(a, "--once")
	}
	if f.forceAttest {
		a = append(a, "--force-attest")
	}
	a = append(a, "--checkin-interval="+f.checkinInterval.String())
	if f.eventInterval != events.DefaultInterval {
		// Only when set: a runtime older than the flag, booted from a slot, would refuse it.
		a = append(a, "--events-interval="+f.eventInterval.String())
	}
	return a
}

func (e *env) runCmd() *cobra.Command {
	var dir string
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run --state DIR [--once] [--force-attest] [--checkin-interval D] [--events-interval D]",
		Short: "Boot the device: measure and start its runtime, attest, check in, update",
		Long: "run is stage 0: it verifies and measures the runtime of the active slot, derives its DICE\n" +
			"layer from the device secret and starts it as stage 1, which attests to the service when\n" +
			"its certificate is missing or due, checks in and installs updates. A runtime update is\n" +
			"tried once from the other slot and kept only if it attests and checks in; otherwise the\n" +
			"old slot boots again. It runs until SIGINT or SIGTERM, or for one cycle with --once.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			code, err := boot.Run(d, nil, f.args(), e.stdout, e.stderr)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code) // stage 1 has said why
			}
			return nil
		},
	}
	stateFlag(cmd, &dir)
	f.add(cmd)
	return cmd
}

func (e *env) stage1Cmd() *cobra.Command {
	var dir string
	var f runFlags
	cmd := &cobra.Command{
		Use:    boot.Stage1Command + " --state DIR",
		Short:  "Stage 1 of the runtime, started by 'rampart-device run'",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			fd := os.NewFile(handoff.FD, "handoff")
			h, err := handoff.Read(fd)
			fd.Close()
			if err != nil {
				return fmt.Errorf("stage 1 takes its handoff from stage 0 on fd %d; start the device with 'rampart-device run' (%w)", handoff.FD, err)
			}
			if cv := os.NewFile(handoff.ClaimVerifierFD, "claim-verifier"); cv != nil {
				h.ClaimVerifier = handoff.ReadClaimVerifier(cv)
				cv.Close()
			}
			logger := log.New(e.stderr, "rampart-device: ", 0)
			if !f.once {
				logger.SetFlags(log.LstdFlags)
			}
			a, err := agent.New(d, h, agent.Options{Once: f.once, ForceAttest: f.forceAttest,
				CheckinInterval: f.checkinInterval, EventInterval: f.eventInterval, Log: logger})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			defer a.Close()
			err = a.Run(ctx)
			if errors.Is(err, agent.ErrRestart) || errors.Is(err, agent.ErrModeChanged) {
				logger.Printf("%v", err)
				return exitCode(boot.ExitRestart) // stage 0 boots again: the pending slot, or in the other mode
			}
			return err
		},
	}
	stateFlag(cmd, &dir)
	f.add(cmd)
	return cmd
}

func (e *env) certCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "cert --state DIR",
		Short: "Print the device certificate and its CA chain (PEM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			b, err := d.ReadCert()
			if errors.Is(err, state.ErrNoCertificate) {
				return fmt.Errorf("no certificate yet: run 'rampart-device run --state %s' after the device is claimed", dir)
			}
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
	stateFlag(cmd, &dir)
	return cmd
}
