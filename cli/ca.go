package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
)

func (e *env) caCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Your tenant's device certificate authorities"}
	cmd.AddCommand(e.caDownloadCmd(), e.addOutput(e.caListCmd()), e.addOutput(e.caRotateCmd()), e.crlCmd())
	return cmd
}

func (e *env) caDownloadCmd() *cobra.Command {
	var file string
	download := &cobra.Command{
		Use:   "download [--output FILE]",
		Short: "Write the PEM bundle of every device CA still trusted (for brokers and relying parties)",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			pem, err := c.CABundle(ctx)
			if err != nil {
				return err
			}
			return e.writeOut(file, pem, "the CA bundle")
		}),
	}
	download.Flags().StringVarP(&file, "output", "o", "", "file to write (default: stdout)")
	return download
}

// writeOut writes b to stdout when file is empty or "-", else to file, saying so as what.
func (e *env) writeOut(file string, b []byte, what string) error {
	if file == "" || file == "-" {
		_, err := e.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return err
	}
	e.infof("Wrote %s to %s.", what, file)
	return nil
}

func (e *env) caListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List your tenant's device CAs, newest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			cas, err := c.CAs(ctx)
			if err != nil {
				return err
			}
			return e.print(cas, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tACTIVE\tNOT AFTER\tSHA-256 FINGERPRINT")
				for _, ca := range cas {
					fmt.Fprintf(w, "%s\t%t\t%s\t%s\n", ca.ID, ca.Active, ca.NotAfter.Format(time.RFC3339), ca.Fingerprint)
				}
			})
		}),
	}
}

func (e *env) caRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Make a new active CA; the old ones stay trusted until they expire",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			ca, err := c.RotateCA(ctx)
			if err != nil {
				return err
			}
			return e.print(ca, func(w io.Writer) {
				fmt.Fprintf(w, "ID\t%s\nSubject\t%s\nNot after\t%s\nFingerprint\t%s\n", ca.ID, ca.Subject, ca.NotAfter.Format(time.RFC3339), ca.Fingerprint)
			})
		}),
	}
}

func (e *env) crlCmd() *cobra.Command {
	var file, caID string
	cmd := &cobra.Command{
		Use:   "crl [--output FILE] [--ca ID]",
		Short: "Write your tenant's certificate revocation lists (for brokers and relying parties)",
		Long: "Write the CRLs of your tenant's device CAs: the certificates of revoked and released devices.\n" +
			"Without --ca, the CRL of every CA still trusted, in PEM: what a broker's crlfile takes.\n" +
			"With --ca ID, that CA's CRL in DER: what the URL in its device certificates' CRL\n" +
			"distribution point serves, without a token. A CRL is current for 4 hours and the service\n" +
			"signs a new one at once when a device is revoked or released: fetch it every hour.",
		Args: cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			b, err := c.CRL(ctx, caID)
			if err != nil {
				return err
			}
			return e.writeOut(file, b, "the CRL")
		}),
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "file to write (default: stdout)")
	cmd.Flags().StringVar(&caID, "ca", "", "only this CA's CRL, in DER (IDs: 'rampart ca list')")
	return cmd
}

func (e *env) osCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "os", Short: "Device runtime releases on the OS feeds (operator)"}
	cmd.AddCommand(e.addOutput(e.osPublishCmd()), e.addOutput(e.osListCmd()), e.addOutput(e.withdrawCmd()))
	return cmd
}

func (e *env) osPublishCmd() *cobra.Command {
	var feed, version, file string
	var f *os.File
	var size int64
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		rel, err := c.PublishRelease(ctx, feed, version, e.progress(f, size, "publish"), size)
		if err != nil {
			return err
		}
		return e.print(rel, func(w io.Writer) { releaseRows(w, []api.RuntimeRelease{rel}) })
	})
	publish := &cobra.Command{
		Use:   "publish --feed Retail|RetailEval --version V --file PATH",
		Short: "Publish a runtime release; devices running it then pass attestation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if f, err = os.Open(file); err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if size = fi.Size(); size > api.MaxRuntimeSize {
				return fmt.Errorf("%s is %d bytes; a runtime may be at most %d", file, size, api.MaxRuntimeSize)
			}
			return run(cmd, args)
		},
	}
	publish.Flags().StringVar(&feed, "feed", "", "Retail or RetailEval")
	publish.Flags().StringVar(&version, "version", "", "release version, e.g. 1.2.0")
	publish.Flags().StringVar(&file, "file", "", "the runtime executable")
	for _, name := range []string{"feed", "version", "file"} {
		publish.MarkFlagRequired(name)
	}
	return publish
}

func (e *env) osListCmd() *cobra.Command {
	var feed string
	list := &cobra.Command{
		Use:   "list [--feed F]",
		Short: "List runtime releases, newest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			rels, err := c.Releases(ctx, feed)
			if err != nil {
				return err
			}
			return e.print(rels, func(w io.Writer) { releaseRows(w, rels) })
		}),
	}
	list.Flags().StringVar(&feed, "feed", "", "only this feed")
	return list
}

func (e *env) withdrawCmd() *cobra.Command {
	var feed, version string
	cmd := &cobra.Command{
		Use:   "withdraw --feed Retail|RetailEval --version V",
		Short: "Withdraw a runtime release: devices running it fail attestation; it is never published again",
		Long: "Withdraw a runtime release (operator): it leaves its OS feed, so no device is offered it,\n" +
			"devices running it fail attestation with reason withdrawn_runtime and are told of the newest\n" +
			"release on the feed, and neither its version nor its runtime can be published again.\n" +
			"Publish the fixed release first, so that devices have something to update to.",
		Args: cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			rel, err := c.WithdrawRelease(ctx, feed, version)
			if err != nil {
				return err
			}
			return e.print(rel, func(w io.Writer) { releaseRows(w, []api.RuntimeRelease{rel}) })
		}),
	}
	cmd.Flags().StringVar(&feed, "feed", "", "Retail or RetailEval")
	cmd.Flags().StringVar(&version, "version", "", "the release's version")
	cmd.MarkFlagRequired("feed")
	cmd.MarkFlagRequired("version")
	return cmd
}

func releaseRows(w io.Writer, rels []api.RuntimeRelease) {
	fmt.Fprintln(w, "FEED\tVERSION\tSIZE\tSHA-512\tPUBLISHED\tWITHDRAWN")
	for _, r := range rels {
		withdrawn := "-"
		if r.WithdrawnAt != nil {
			withdrawn = r.WithdrawnAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s…\t%s\t%s\n", r.Feed, r.Version, r.Size, r.SHA512[:16], r.PublishedAt.Format(time.RFC3339), withdrawn)
	}
}
