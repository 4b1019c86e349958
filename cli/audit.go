package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
)

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify your tenant's audit log"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List every change made in your tenant, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var all []api.AuditEntry
			err = eachAuditPage(cmd.Context(), c, func(es []api.AuditEntry) error {
				all = append(all, es...)
				return nil
			})
			if err != nil {
				return err
			}
			return e.print(nonNil(all), func(w io.Writer) {
				fmt.Fprintln(w, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tSOURCE\tDETAIL")
				for _, a := range all {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.Time.Format(time.RFC3339), a.Actor, a.Action, a.Target, a.Source, a.Detail)
				}
			})
		},
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain: no entry edited, removed or reordered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			head, seq := api.GenesisHash, int64(0)
			err = eachAuditPage(cmd.Context(), c, func(es []api.AuditEntry) error {
				var err error
				head, seq, err = api.VerifyChain(head, seq, es)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "audit log intact: %d entries, head %s\n", seq, head)
			return nil
		},
	}
	cmd.AddCommand(e.addOutput(list), verify)
	return cmd
}

func eachAuditPage(ctx context.Context, c *client.Client, fn func([]api.AuditEntry) error) error {
	token := ""
	for {
		l, err := c.Audit(ctx, token, api.MaxPageSize)
		if err != nil {
			return err
		}
		if err := fn(l.Entries); err != nil {
			return err
		}
		if l.NextPageToken == "" {
			return nil
		}
		token = l.NextPageToken
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func deviceQuery(product, group string, limit int, pageToken string) client.DeviceQuery {
	return client.DeviceQuery{Product: product, Group: group, Limit: limit, PageToken: pageToken}
}
