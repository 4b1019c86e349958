// Package cli is the `rampart` command: the security service (`rampart server`) and every
// administration command, as `rampart NOUN VERB` with the nouns `azsphere` uses.
//
// # Settings
//
// The service's address, the API token and the service's CA certificate come from the flags
// --server, --token and --cacert, else from RAMPART_SERVER, RAMPART_TOKEN and RAMPART_CACERT, else
// from what `rampart login` saved.
//
// # Output
//
// stdout carries what was asked for and nothing else; every listing and show takes
// --output table|json, and JSON field names are the API's (snake_case, stable). Errors go to
// stderr as one line with a hint, and the exit code is 1 (2 for a usage error).
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/internal/usage"
)

// env is what one run of the command sees of its surroundings.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	server, token, cacert string // global flags
	tenant                string // global --tenant: checked against the token's (see tenantcheck.go)
	output                string
	query                 string // --query: a JMESPath expression (see output.go)
}

// Run runs the rampart command with args and returns its exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := e.root()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	if usage.Is(err) {
		fmt.Fprintf(stderr, "rampart: %s\n", oneLineSuggestions(err.Error()))
		return 2
	}
	fmt.Fprintf(stderr, "rampart: %s\n", safetext.Line(explain(err), 0))
	return 1
}

func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart",
		Short: "Rampart: the security service and its administration tool",
		Long: "Rampart keeps connected devices secure: device identity, attestation, short-lived\n" +
			"certificates, signed updates and error reports.\n\n" +
			"Settings come from --server/--token/--cacert, else RAMPART_SERVER/RAMPART_TOKEN/\n" +
			"RAMPART_CACERT, else what 'rampart login' saved.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.server, "server", "", "address of the Rampart service, https://HOST:PORT (env RAMPART_SERVER)")
	pf.StringVar(&e.token, "token", "", "API token (env RAMPART_TOKEN)")
	pf.StringVar(&e.cacert, "cacert", "", "PEM file of the service's CA certificate (env RAMPART_CACERT)")
	pf.StringVar(&e.tenant, "tenant", "", "the tenant, name or ID, the command must act in: checked against the token's (azsphere's flag)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usage.Error{Err: err} })
	// Check --output before anything runs: a command that creates something and then could not
	// print it would lose what it printed once (a new token).
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if f := cmd.Flags().Lookup("output"); f != nil && f.Annotations[formatFlag] != nil {
			if allowed := f.Annotations[formatFlag]; !slices.Contains(allowed, f.Value.String()) {
				return usage.Errorf("invalid --output %q: want %s", f.Value.String(), orList(allowed))
			}
			if err := e.checkQuery(cmd); err != nil {
				return err
			}
		}
		return e.checkTenant(cmd, pf.Lookup("tenant"))
	}
	root.AddCommand(
		e.serverCmd(), e.loginCmd(), e.tenantCmd(), e.userCmd(), e.productCmd(), e.groupCmd(),
		e.deviceCmd(), e.imageCmd(), e.deploymentCmd(), e.auditCmd(), e.caCmd(), e.osCmd(), e.reportCmd(),
	)
	root.AddCommand(e.tokenCmd())
	root.AddCommand(e.tpmCACmd())
	e.azsphereSpellings(root)
	e.versionCmds(root)
	// A noun alone prints its help; a noun with an unknown verb is a usage error, not help and
	// exit 0.
	for _, noun := range root.Commands() {
		if noun.HasSubCommands() {
			noun.Args = cobra.NoArgs
			noun.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	hints(root)
	return root
}

// explain adds what to do next to errors a user can act on.
func explain(err error) string {
	var ce *client.Error
	var ua x509.UnknownAuthorityError
	var hv x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusUnauthorized:
		return ce.Message + " (run 'rampart login' or set RAMPART_TOKEN)"
	case errors.As(err, &ce):
		return cliNames(err.Error())
	case errors.As(err, &ua):
		return "the service's certificate is not signed by a trusted CA; give its CA with --cacert or RAMPART_CACERT"
	case errors.As(err, &hv):
		return err.Error() + "; use the name the service's certificate was made for (see the server's log)"
	case errors.As(err, &op) && op.Op == "dial":
		return err.Error() + " (is 'rampart server' running? check --server or RAMPART_SERVER)"
	}
	return oneLineSuggestions(err.Error())
}

// client returns a client built from flags, environment and the saved login, in that order.
func (e *env) client() (*client.Client, error) {
	saved, err := loadLogin()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	pick := func(flag, envName, savedVal string) string {
		if flag != "" {
			return flag
		}
		if v := e.getenv(envName); v != "" {
			return v
		}
		return savedVal
	}
	server := pick(e.server, "RAMPART_SERVER", saved.Server)
	l := saved.forServer(server) // never another service's token
	token := pick(e.token, "RAMPART_TOKEN", l.Token)
	if server == "" {
		return nil, errors.New("no service address: give --server, set RAMPART_SERVER, or run 'rampart login'")
	}
	if token == "" && saved.Server != "" && server != saved.Server {
		return nil, fmt.Errorf("no API token for %s: the saved login is for %s; give --token, set RAMPART_TOKEN, or run 'rampart login --server %s --token TOKEN'",
			server, saved.Server, server)
	}
	if token == "" {
		return nil, errors.New("no API token: give --token, set RAMPART_TOKEN, or run 'rampart login'")
	}
	var caPEM []byte
	if path := pick(e.cacert, "RAMPART_CACERT", ""); path != "" {
		b, err := readFileLimited(path, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		caPEM = b
	} else {
		caPEM = []byte(l.CACert)
	}
	return client.New(server, token, caPEM)
}

// readFileLimited reads a file of at most limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
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

// formatFlag marks an --output flag that names an output format (elsewhere --output may name a
// file, as in `ca download` and `image pack`); its values are the formats allowed.
const formatFlag = "rampart-output-format"

// addOutput adds --output to a listing or show command: table or json.
func (e *env) addOutput(cmd *cobra.Command) *cobra.Command { return e.addFormats(cmd, "table", "json") }

// addFormats adds --output with the given formats, the first the default, and yaml and tsv,
// and --query.
func (e *env) addFormats(cmd *cobra.Command, formats ...string) *cobra.Command {
	formats = append(formats, extraFormats...)
	e.addQuery(cmd)
	cmd.Flags().StringVarP(&e.output, "output", "o", formats[0], "output format: "+orList(formats))
	cmd.Flags().SetAnnotation("output", formatFlag, formats)
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// orList joins values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// print writes v as JSON, YAML or TSV (after --query) with --output json, yaml or tsv, else
// calls table with a tab writer.
func (e *env) print(v any, table func(w io.Writer)) error {
	switch e.output {
	case "json", "yaml", "tsv":
		return e.printData(v)
	case "table", "":
		// The cells hold what devices and users sent: escaped on the way in, so that no cell
		// can move the cursor, recolour the terminal or reorder what is shown.
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		table(safetext.Writer(tw))
		return tw.Flush()
	}
	return usage.Errorf("invalid --output %q: want table, json, yaml or tsv", e.output)
}

// infof writes information for people to stderr.
func (e *env) infof(format string, args ...any) { fmt.Fprintf(e.stderr, format+"\n", args...) }
