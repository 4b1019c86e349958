package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) deploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Deploy images to device groups"}
	cmd.AddCommand(e.addOutput(e.deploymentCreateCmd()), e.addOutput(e.deploymentListCmd()),
		e.addOutput(e.deploymentShowCmd()))
	return cmd
}

func (e *env) deploymentCreateCmd() *cobra.Command {
	var group string
	var images []string
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		g, err := c.Group(ctx, group)
		if err != nil {
			return err
		}
		d, err := c.CreateDeployment(ctx, api.CreateDeploymentRequest{DeviceGroupID: g.ID, ImageIDs: imageIDs(images)})
		if err != nil {
			return err
		}
		return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
	})
	cmd := &cobra.Command{
		Use:   "create --device-group PRODUCT/GROUP --images ID[,ID...]",
		Short: "Deploy images to a device group: its devices converge to its newest deployment",
		Long: "Deploy up to 10 application images, one of each component, to a device group. The\n" +
			"group's newest deployment is what its devices converge to: they install what they lack\n" +
			"and remove the apps no longer deployed. Needs the Administrator role.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(images) == 0 {
				return usage.Errorf("give the images to deploy with --images ID[,ID...]")
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&group, "device-group", "", "the device group, Product/Group or ID")
	cmd.Flags().StringSliceVar(&images, "images", nil, "the image IDs, comma-separated (at most 10)")
	cmd.MarkFlagRequired("device-group")
	cmd.MarkFlagRequired("images")
	return cmd
}

func (e *env) deploymentListCmd() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "list [--device-group PRODUCT/GROUP]",
		Short: "List deployments, newest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			var groupID ident.GroupID
			if group != "" {
				g, err := c.Group(ctx, group)
				if err != nil {
					return err
				}
				groupID = g.ID
			}
			ds, err := c.Deployments(ctx, groupID)
			if err != nil {
				return err
			}
			return e.print(ds, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tDEVICE GROUP\tIMAGES\tCREATED\tCREATED BY")
				for _, d := range ds {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", d.ID, d.GroupName, len(d.ImageIDs), d.CreatedAt.Format(time.RFC3339), d.CreatedBy)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&group, "device-group", "", "only this group's deployments (Product/Group or ID)")
	return cmd
}

func (e *env) deploymentShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a deployment",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.Deployment(ctx, ident.DeploymentID(args[0]))
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
		}),
	}
}

func deploymentTable(w io.Writer, d api.Deployment) {
	fmt.Fprintf(w, "ID\t%s\nDevice group\t%s\nCreated\t%s by %s\n", d.ID, d.GroupName, d.CreatedAt.Format(time.RFC3339), d.CreatedBy)
	for i, id := range d.ImageIDs {
		label := ""
		if i == 0 {
			label = "Images"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, id)
	}
}

// imageIDs reads the --images flag's values as image IDs.
func imageIDs(flag []string) []ident.ImageID {
	ids := make([]ident.ImageID, len(flag))
	for i, s := range flag {
		ids[i] = ident.ImageID(s)
	}
	return ids
}
