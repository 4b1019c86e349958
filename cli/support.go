package cli

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/internal/usage"
	"github.com/rampart-iot/rampart/internal/version"
)

// versionCmds gives the root --version and adds azsphere's show-version.
func (e *env) versionCmds(root *cobra.Command) {
	root.Version = version.String() // cobra's own template: "rampart version V"
	root.AddCommand(&cobra.Command{
		Use:   "show-version",
		Short: "Print the version of this rampart command (as azsphere's show-version)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(e.stdout, "rampart version %s\n", version.String())
			return err
		},
	}, e.supportDataCmd())
}

// maxSupportItems bounds each listing in the support data.
const maxSupportItems = api.MaxPageSize

func (e *env) supportDataCmd() *cobra.Command {
	var dest, tenant, since string
	cmd := &cobra.Command{
		Use:   "get-support-data --destination FILE.zip",
		Short: "Write a zip of what support asks for: versions, service health, your tenant's summary and its recent service log",
		Long: "Write a zip file for a support engineer (as azsphere's get-support-data): the versions of this\n" +
			"command and of the service, the service's health, who you are, your tenant's settings, products,\n" +
			"device groups, devices, images, deployments, CAs and error summary, and the service's own log\n" +
			"records of the last hour (--since, at most 24h) that concern your tenant. It holds no tokens,\n" +
			"keys or claim codes. The log needs the Administrator role; the operator gives --tenant.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dest == "" {
				return usage.Errorf("--destination is empty: give the zip file to write")
			}
			if since != "" {
				if d, err := time.ParseDuration(since); err != nil || d <= 0 || d > api.MaxSupportLogsWindow {
					return usage.Errorf("invalid --since %s: want a duration up to 24h, such as 1h", clipFlag(since))
				}
			}
			return e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
				var n int
				err := writeAtomic(dest, func(w io.Writer) error {
					var err error
					n, err = e.writeSupportData(ctx, c, w, tenant, since)
					return err
				})
				if err != nil {
					return err
				}
				e.infof("Wrote %s: %d files, no tokens, keys or claim codes.", dest, n)
				return nil
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&dest, "destination", "", "the zip file to write")
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (operator only; a tenant's users get their own)")
	cmd.Flags().StringVar(&since, "since", "1h", "how far back the service's log goes, at most 24h")
	cmd.MarkFlagRequired("destination")
	cmd.MarkFlagFilename("destination", "zip")
	return cmd
}

// writeSupportData writes the zip's files and returns how many. What the caller may not read
// (an operator has no tenant's products) is left out, with the reason in errors.txt.
func (e *env) writeSupportData(ctx context.Context, c *client.Client, w io.Writer, tenant, since string) (int, error) {
	z := zip.NewWriter(w)
	files, problems := 0, ""
	add := func(name string, v any, err error) error {
		if err != nil {
			problems += fmt.Sprintf("%s: %v\n", name, err)
			return nil
		}
		f, err := z.Create(name)
		if err != nil {
			return err
		}
		files++
		if s, ok := v.(string); ok {
			_, err = io.WriteString(f, s)
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		return 0, err
	}
	if tenant != "" && !who.Operator {
		if !strings.EqualFold(tenant, who.TenantName) && !strings.EqualFold(tenant, string(who.TenantID)) {
			return 0, fmt.Errorf("--tenant %s, but this token is of tenant %s; another tenant's support data is for the operator (leave out --tenant)", tenant, who.TenantName)
		}
		tenant = "" // azsphere's --tenant naming the caller's own tenant
	}
	if tenant == "" && who.TenantID == "" {
		return 0, fmt.Errorf("the operator names the tenant: give --tenant NAME")
	}
	logs, logErr := c.SupportLogs(ctx, tenant, since)
	health, healthErr := c.Health(ctx)
	if healthErr != nil {
		health = "unhealthy: " + healthErr.Error()
	}
	versions := fmt.Sprintf("rampart (this command) %s\nservice %s\nclient OS %s/%s\ncollected %s\n",
		version.String(), first(logs.ServiceVersion, "unknown (the log could not be read)"), runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format(time.RFC3339))
	steps := []func() error{
		func() error { return add("versions.txt", versions, nil) },
		func() error { return add("health.txt", health+"\n", nil) },
		func() error { return add("whoami.json", who, nil) },
		func() error { return add("service-log.json", logs, logErr) },
	}
	if tenant != "" {
		t, err := c.Tenant(ctx, tenant)
		steps = append(steps, func() error { return add("tenant.json", t, err) })
	} else {
		steps = append(steps, e.tenantSupportSteps(ctx, c, who, add)...)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return 0, err
		}
	}
	if problems != "" {
		if err := add("errors.txt", problems, nil); err != nil {
			return 0, err
		}
	}
	return files, z.Close()
}

// tenantSupportSteps are the files of a tenant user's own tenant: its settings and what it holds.
func (e *env) tenantSupportSteps(ctx context.Context, c *client.Client, who api.Whoami, add func(string, any, error) error) []func() error {
	step := func(name string, get func() (any, error)) func() error {
		return func() error { v, err := get(); return add(name, v, err) }
	}
	return []func() error{
		step("tenant.json", func() (any, error) { return c.Tenant(ctx, string(who.TenantID)) }),
		step("products.json", func() (any, error) { return c.Products(ctx) }),
		step("device-groups.json", func() (any, error) { return c.Groups(ctx, "", "") }),
		step("devices.json", func() (any, error) {
			return c.Devices(ctx, client.DeviceQuery{Limit: maxSupportItems})
		}),
		step("images.json", func() (any, error) { return c.Images(ctx, client.ImageQuery{}) }),
		step("deployments.json", func() (any, error) { return c.Deployments(ctx, "") }),
		step("ca.json", func() (any, error) { return c.CAs(ctx) }),
		step("error-summary.json", func() (any, error) {
			return c.ErrorSummary(ctx, client.ReportQuery{Since: "7d", Limit: maxSupportItems})
		}),
	}
}
