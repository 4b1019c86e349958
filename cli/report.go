package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/internal/usage"
	"github.com/rampart-iot/rampart/server/report"
)

func (e *env) reportCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Read error reports: crashes, exits, failed updates and attestations"}
	cmd.AddCommand(e.addFormats(e.reportErrorsCmd(), "table", "json", "csv"), e.addOutput(e.reportSummaryCmd()), e.addOutput(e.reportFleetCmd()))
	return cmd
}

func (e *env) reportErrorsCmd() *cobra.Command {
	var since, group, device string
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		q, err := reportQuery(ctx, c, since, group)
		if err != nil {
			return err
		}
		q.Device = device
		all, err := allErrorEvents(ctx, c, q)
		if err != nil {
			return err
		}
		if e.output == "csv" {
			return api.WriteErrorCSV(e.stdout, all)
		}
		return e.print(nonNil(all), func(w io.Writer) {
			fmt.Fprintln(w, "END TIME\tDEVICE\tDEVICE GROUP\tCATEGORY\tCLASS\tTYPE\tCOUNT\tDESCRIPTION")
			for _, ev := range all {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", ev.LastAt.Format(time.RFC3339), ev.DeviceID,
					dash(ev.DeviceGroup), ev.Category, ev.Class, ev.Type, ev.Count, ev.Description)
			}
		})
	})
	errs := &cobra.Command{
		Use:   "errors [--since D] [--device-group P/G] [--device ID]",
		Short: "List error events, newest first",
		Long: "List the error events of your tenant's devices, newest first: what devices report\n" +
			"(crashes, exits, failed updates) and the attestations the service refused.\n" +
			"--output csv gives the columns of Azure Sphere's download-error-report.",
		Example: "  rampart report errors --since 7d --device-group Toaster/Production\n" +
			"  rampart report errors --since 2026-01-02 --output csv > errors.csv",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSince(since); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	errs.Flags().StringVar(&since, "since", "", "only events that ended since: a duration (7d, 24h) or a date (2026-01-02)")
	errs.Flags().StringVar(&group, "device-group", "", "only this group's events (Product/Group or ID)")
	errs.Flags().StringVar(&device, "device", "", "only this device's events (device ID)")
	return errs
}

func (e *env) reportSummaryCmd() *cobra.Command {
	var since, group string
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		q, err := reportQuery(ctx, c, since, group)
		if err != nil {
			return err
		}
		q.Limit = api.MaxPageSize
		l, err := c.ErrorSummary(ctx, q)
		if err != nil {
			return err
		}
		return e.print(l.Summary, func(w io.Writer) {
			fmt.Fprintln(w, "EVENTS\tDEVICES\tCATEGORY\tCOMPONENT\tDESCRIPTION\tLAST SEEN\tSIGNATURE")
			for _, s := range l.Summary {
				fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Events, s.Devices, s.Category, dash(string(s.ComponentID)),
					s.Description, s.LastSeen.Format(time.RFC3339), s.Signature)
			}
		})
	})
	summary := &cobra.Command{
		Use:   "summary [--since D] [--device-group P/G]",
		Short: "Group error events by signature, most frequent first",
		Long: "Group error events by signature: category, component and description with numbers,\n" +
			"addresses, IDs and durations taken out, so that one fault on many devices is one line.\n" +
			"EVENTS is the sum of their counts, DEVICES how many devices reported them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSince(since); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	summary.Flags().StringVar(&since, "since", "", "only events that ended since: a duration (7d, 24h) or a date (2026-01-02)")
	summary.Flags().StringVar(&group, "device-group", "", "only this group's events (Product/Group or ID)")
	return summary
}

func (e *env) reportFleetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fleet",
		Short: "Count the devices by group, last attestation and runtime",
		Long: "Count the tenant's devices by device group, the result and reason of their last attestation\n" +
			"(never: not attested yet) and the runtime they last attested with, largest counts first.",
		Args: cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			f, err := c.Fleet(ctx)
			if err != nil {
				return err
			}
			return e.print(f.Counts, func(w io.Writer) {
				fmt.Fprintln(w, "DEVICES\tDEVICE GROUP\tATTESTATION\tREASON\tRUNTIME")
				for _, fc := range f.Counts {
					group, result, runtime := "-", fc.AttestResult, strings.Join(fc.RuntimeVersions, ", ")
					if fc.GroupID != "" {
						group = fc.ProductName + "/" + fc.GroupName
					}
					if result == "" {
						result = "never"
					}
					if runtime == "" && fc.RuntimeSHA512 != "" {
						runtime = fc.RuntimeSHA512[:min(16, len(fc.RuntimeSHA512))] + "…"
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", fc.Devices, group, result, dash(fc.AttestReason), dash(runtime))
				}
			})
		}),
	}
}

// checkSince refuses a malformed --since before anything is sent.
func checkSince(since string) error {
	if _, err := report.ParseSince(since, time.Now()); err != nil {
		return usage.Errorf("--since: %v", err)
	}
	return nil
}

// reportQuery makes the query of --since and --device-group, resolving the group.
func reportQuery(ctx context.Context, c *client.Client, since, group string) (client.ReportQuery, error) {
	q := client.ReportQuery{Since: since, Limit: api.MaxPageSize}
	if group != "" {
		g, err := findGroup(ctx, c, group)
		if err != nil {
			return q, err
		}
		q.Group = g.ID
	}
	return q, nil
}

// allErrorEvents reads every page of the error events q selects.
func allErrorEvents(ctx context.Context, c *client.Client, q client.ReportQuery) ([]api.ErrorEvent, error) {
	var all []api.ErrorEvent
	for {
		l, err := c.ErrorEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Events...)
		if l.NextPageToken == "" {
			return all, nil
		}
		q.PageToken = l.NextPageToken
	}
}

// dash shows an empty cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
