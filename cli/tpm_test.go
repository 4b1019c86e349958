package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

// withSimulators is the test binary's testing.M that also removes the TPM simulators' templates
// and test CA when the tests end.
type withSimulators struct{ m *testing.M }

func (w withSimulators) Run() int {
	code := w.m.Run()
	swtpmtest.Cleanup()
	return code
}

// cmdSwtpm starts a TPM 2.0 simulator for the script: swtpm NAME [A|B]. It is a fresh copy of
// the test binary's provisioned TPM A (or B, a distinct TPM), whose EK certificate the test CA
// issued; NAME is set to its command socket (what a device is given as --tpm) and NAME_CTRL to
// its control socket. It stops when the script ends.
func cmdSwtpm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: swtpm NAME [A|B]")
	}
	which := swtpmtest.A
	if len(args) == 2 {
		switch args[1] {
		case "A":
		case "B":
			which = swtpmtest.B
		default:
			ts.Fatalf("usage: swtpm NAME [A|B]")
		}
	}
	s, remove, err := swtpmtest.StartCopy(which)
	if err != nil {
		ts.Fatalf("swtpm: %v", err)
	}
	ts.Defer(remove)
	ts.Setenv(args[0], s.Path)
	ts.Setenv(args[0]+"_CTRL", s.Ctrl)
}

// cmdSwtpmCA writes the test CA that issued the simulators' EK certificates (the issuing
// intermediate and its root, PEM): swtpmca FILE.
func cmdSwtpmCA(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: swtpmca FILE")
	}
	ca, err := swtpmtest.TestCA()
	if err != nil {
		ts.Fatalf("swtpm: %v", err)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), ca, 0o600))
}

// swtpmReset is the program swtpm-reset CTRL SOCK that scripts (and a runtime wrapper a script
// installs) run to power-cycle a simulator, as a reboot of the machine would.
func swtpmReset() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: swtpm-reset CTRL SOCK")
		os.Exit(2)
	}
	s := &swtpmtest.Sim{Ctrl: os.Args[1], Path: os.Args[2]}
	if err := s.PowerCycle(); err != nil {
		fmt.Fprintln(os.Stderr, "swtpm-reset:", err)
		os.Exit(1)
	}
}
