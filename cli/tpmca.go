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

// tpmCACmd is `rampart tpm-ca`: the TPM manufacturer CAs the operator trusts.
func (e *env) tpmCACmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tpm-ca", Short: "TPM manufacturer CAs that endorsement keys must chain to (operator)"}
	cmd.AddCommand(e.addOutput(e.tpmCAAddCmd()), e.addOutput(e.tpmCAListCmd()), e.addOutput(e.tpmCARemoveCmd()))
	return cmd
}

func (e *env) tpmCAAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add FILE",
		Short: "Trust the CA certificates of a PEM file: roots, or intermediates with their root",
		Long: "Trust the TPM manufacturer CA certificates in a PEM file (one or more CERTIFICATE blocks,\n" +
			"at most 256 KiB). A TPM device's endorsement key certificate must chain, through added\n" +
			"intermediates, to an added root. Certificates trusted already are left as they are.",
		Args: cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			pem, err := readFileLimited(args[0], api.MaxTPMCAFile)
			if err != nil {
				return fmt.Errorf("read %s: %w", args[0], err)
			}
			cas, err := c.AddTPMCAs(ctx, pem)
			if err != nil {
				return err
			}
			return e.printTPMCAs(cas)
		}),
	}
}

func (e *env) tpmCAListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the trusted TPM manufacturer CAs",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			cas, err := c.TPMCAs(ctx)
			if err != nil {
				return err
			}
			return e.printTPMCAs(cas)
		}),
	}
}

func (e *env) tpmCARemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Stop trusting a TPM manufacturer CA: devices whose endorsement key chains only to it fail attestation",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			ca, err := c.RemoveTPMCA(ctx, args[0])
			if err != nil {
				return err
			}
			return e.printTPMCAs([]api.TPMCA{ca})
		}),
	}
}

func (e *env) printTPMCAs(cas []api.TPMCA) error {
	return e.print(cas, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tKIND\tSUBJECT\tNOT AFTER\tSHA-256 FINGERPRINT")
		for _, ca := range cas {
			kind := "intermediate"
			if ca.Root {
				kind = "root"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", ca.ID, kind, ca.Subject, ca.NotAfter.Format(time.DateOnly), ca.Fingerprint)
		}
	})
}

// deviceRootRows writes the root of trust of `rampart device show`.
func deviceRootRows(w io.Writer, d api.Device) {
	switch d.RootOfTrust {
	case "":
		fmt.Fprintf(w, "Root of trust\tnot known until the device passes attestation\n")
	case api.RootOfTrustTPM:
		fmt.Fprintf(w, "Root of trust\ttpm\nEK fingerprint\t%s\n", d.EKFingerprint)
	default:
		fmt.Fprintf(w, "Root of trust\t%s\n", d.RootOfTrust)
	}
}
