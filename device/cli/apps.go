package devicecli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/control"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/internal/usage"
)

// controlClient opens the state folder and returns a client of its control socket.
func controlClient(dir string) (*control.Client, error) {
	d, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	return control.NewClient(d), nil
}

func (e *env) appCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "List, start, stop the running device's apps and read their logs",
		Long: "The app commands speak to the running device ('rampart-device run') over its control\n" +
			"socket, control.sock in the state folder, which only the device's owner can open.",
	}
	cmd.AddCommand(e.appListCmd(), e.appStartStopCmd("start"), e.appStartStopCmd("stop"), e.appLogsCmd(), e.appPutCmd())
	return cmd
}

func (e *env) appListCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "list --state DIR [--output table|json]",
		Short: "List the installed apps: name, component and image IDs, state, restarts, last exit, pins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usage.Errorf("invalid --output %q: want table or json", output)
			}
			c, err := controlClient(dir)
			if err != nil {
				return err
			}
			apps, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				if apps == nil {
					apps = []apphost.AppStatus{}
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(apps)
			}
			if len(apps) == 0 {
				fmt.Fprintln(e.stderr, "rampart-device: no apps are installed")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCOMPONENT ID\tIMAGE ID\tSTATE\tRESTARTS\tLAST EXIT\tPINS")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Name, a.ComponentID, orDash(a.ImageID), a.State,
					a.Restarts, lastExit(a.LastExit), pins(a.Pins))
			}
			return tw.Flush()
		},
	}
	stateFlag(cmd, &dir)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func lastExit(x *apphost.Exit) string {
	if x == nil {
		return "-"
	}
	s := fmt.Sprintf("code %d at %s", x.Code, x.At.UTC().Format(time.RFC3339))
	if x.Trap != "" {
		s = fmt.Sprintf("trap at %s", x.At.UTC().Format(time.RFC3339))
	}
	return s
}

func pins(ps []apphost.Pin) string {
	if len(ps) == 0 {
		return "-"
	}
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d=%d", p.Pin, p.Value))
	}
	return strings.Join(out, ",")
}

func (e *env) appStartStopCmd(verb string) *cobra.Command {
	var dir string
	short := "Start an app, or restart at once one that waits in backoff or was refused"
	if verb == "stop" {
		short = "Stop an app; it stays stopped until 'app start' or an update of it"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME --state DIR",
		Short: short,
		Long:  short + ".\nNAME is the app's name or its component ID.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := controlClient(dir)
			if err != nil {
				return err
			}
			do := c.Start
			if verb == "stop" {
				do = c.Stop
			}
			if err := do(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("%s %s: %w", verb, args[0], err)
			}
			done := map[string]string{"start": "started", "stop": "stopped"}[verb]
			fmt.Fprintf(e.stderr, "rampart-device: %s %s\n", done, args[0])
			return nil
		},
	}
	stateFlag(cmd, &dir)
	return cmd
}

func (e *env) appLogsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "logs NAME --state DIR",
		Short: "Print an app's log: its output, log calls and the host's notes (the newest 256 KiB)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := controlClient(dir)
			if err != nil {
				return err
			}
			b, err := c.Log(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("logs of %s: %w", args[0], err)
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
	stateFlag(cmd, &dir)
	return cmd
}

func (e *env) appPutCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "put NAME FILE --state DIR [--as STORAGE_NAME]",
		Short: "Put a file in an app's storage, sealed by the running device (a file copied into the state folder is refused)",
		Long: "Put a file in an app's storage, sealed by the running device (a file copied into the state folder is refused).\n" +
			"It is stored under FILE's base name, or STORAGE_NAME; the app sees it when it next reads it\n" +
			"(restart the app with `app stop` and `app start` for one that reads its files at start).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			as, _ := cmd.Flags().GetString("as")
			if as == "" {
				as = filepath.Base(args[1])
			}
			data, err := state.ReadFile(args[1], control.MaxStorageFile)
			if err != nil {
				return fmt.Errorf("put %s: %w", args[1], err)
			}
			c, err := controlClient(dir)
			if err != nil {
				return err
			}
			if err := c.PutStorage(cmd.Context(), args[0], as, data); err != nil {
				return fmt.Errorf("put %s in the storage of %s: %w", as, args[0], err)
			}
			return nil
		},
	}
	stateFlag(cmd, &dir)
	cmd.Flags().String("as", "", "the file's name in the app's storage (default FILE's base name)")
	return cmd
}

func (e *env) sideloadCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "sideload FILE --state DIR",
		Short: "Install and start an app package on the running device (development only)",
		Long: "sideload sends an image package of type application to the running device, which\n" +
			"installs it only while it holds the development capability ('rampart device\n" +
			"enable-development'), and only if it is signed by one of the capability's developer keys\n" +
			"or by the tenant. The app is installed like an update and started. It prints the image ID.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := controlClient(dir)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("read the package: %w", err)
			}
			defer f.Close()
			if fi, err := f.Stat(); err == nil && fi.Size() > control.MaxUpload {
				return fmt.Errorf("%s is %d bytes: a sideloaded package is at most %d", args[0], fi.Size(), int64(control.MaxUpload))
			}
			im, err := c.Sideload(cmd.Context(), f)
			if err != nil {
				return fmt.Errorf("sideload %s: %w", args[0], err)
			}
			fmt.Fprintf(e.stderr, "rampart-device: installed and started %s %s (component %s)\n", im.Name, im.Version, im.ComponentID)
			fmt.Fprintln(e.stdout, im.ImageID)
			return nil
		},
	}
	stateFlag(cmd, &dir)
	return cmd
}
