// Package devicecli is the `rampart-device` command: the device runtime's command line.
//
//	rampart-device init   --state DIR --server URL --cacert FILE [--runtime FILE] [--runtime-keys FILE]
//	rampart-device id     --state DIR
//	rampart-device run    --state DIR [--once] [--force-attest] [--checkin-interval D] [--events-interval D]
//	rampart-device status --state DIR [--output table|json]
//	rampart-device cert   --state DIR
//	rampart-device app list --state DIR [--output table|json]
//	rampart-device app start|stop|logs NAME --state DIR
//	rampart-device sideload FILE --state DIR
//
// Every --state DIR may be left out when RAMPART_DEVICE_STATE names the folder.
//
// `run` is stage 0 (package [github.com/rampart-iot/rampart/device/boot]); it starts the
// runtime of the active slot as the hidden `stage1` command (package
// [github.com/rampart-iot/rampart/device/agent]), which is not meant to be run by hand. Stage
// 1 exits with boot.ExitRestart to have stage 0 boot a runtime update on trial; stage 0 handles
// that code itself, so `run` never exits with it.
//
// `app` and `sideload` speak to the running stage 1 over its control socket (package
// [github.com/rampart-iot/rampart/device/control]).
//
// # Output
//
// stdout carries what was asked for and nothing else; progress and errors go to stderr, each
// error as one line. The exit code is 0 on success, 1 on failure and 2 for a usage error.
package devicecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/internal/usage"
	"github.com/rampart-iot/rampart/internal/version"
	"github.com/spf13/cobra"
)

// env is what one run of the command sees of its surroundings.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// Run runs the rampart-device command with args and returns its exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := e.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	var ex exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ex):
		return int(ex)
	}
	if usage.Is(err) {
		fmt.Fprintf(stderr, "rampart-device: %v\n", oneLine(err))
		return 2
	}
	fmt.Fprintf(stderr, "rampart-device: %s\n", oneLine(err))
	return 1
}

func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart-device",
		Short: "The Rampart device runtime: root of trust, measured boot, attestation",
		Long: "rampart-device keeps a device's identity, boots its runtime measured, proves to the\n" +
			"Rampart service what it booted, keeps a short-lived device certificate and installs the\n" +
			"updates deployed to it.\n\n" +
			"Start with 'rampart-device init', have the device claimed, then 'rampart-device run'.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usage.Error{Err: err} })
	// cobra's own version template: a template of our own would make the linker keep every
	// exported method (text/template's reflection), some 4 MB more on the device.
	root.Version = version.String()
	root.AddCommand(e.initCmd(), e.idCmd(), e.runCmd(), e.stage1Cmd(), e.statusCmd(), e.certCmd(),
		e.appCmd(), e.sideloadCmd())
	return root
}

// exitCode is returned by a command whose exit code is decided elsewhere (stage 1's), after
// it has said what there was to say.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit code %d", int(c)) }

// oneLine keeps an error on one line of stderr, with what came from outside in it (the
// service's words, an app's name) escaped.
func oneLine(err error) string {
	return safetext.Line(strings.Join(strings.Fields(err.Error()), " "), 0)
}

// StateEnv names the state folder when --state is not given.
const StateEnv = "RAMPART_DEVICE_STATE"

// stateFlag adds the --state flag every command has; RAMPART_DEVICE_STATE is its default.
func stateFlag(cmd *cobra.Command, dir *string) {
	def := os.Getenv(StateEnv)
	cmd.Flags().StringVar(dir, "state", def, "the device's state folder (env "+StateEnv+")")
	if def == "" {
		cmd.MarkFlagRequired("state")
	}
	cmd.MarkFlagDirname("state")
}
