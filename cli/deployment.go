package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) deploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Deploy images to device groups"}

	var group string
	var images []string
	create := &cobra.Command{
		Use:   "create --device-group PRODUCT/GROUP --images ID[,ID...]",
		Short: "Deploy images to a device group: its devices converge to its newest deployment",
		Long: "Deploy up to 10 application images, one of each component, to a device group. The\n" +
			"group's newest deployment is what its devices converge to: they install what they lack\n" +
			"and remove the apps no longer deployed. Needs the Administrator role.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(images) == 0 {
				return usage.Errorf("give the images to deploy with --images ID[,ID...]")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Group(cmd.Context(), group)
			if err != nil {
				return err
			}
			d, err := c.CreateDeployment(cmd.Context(), api.CreateDeploymentRequest{DeviceGroupID: g.ID, ImageIDs: images})
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
		},
	}
	create.Flags().StringVar(&group, "device-group", "", "the device group, Product/Group or ID")
	create.Flags().StringSliceVar(&images, "images", nil, "the image IDs, comma-separated (at most 10)")
	create.MarkFlagRequired("device-group")
	create.MarkFlagRequired("images")

	var listGroup string
	list := &cobra.Command{
		Use:   "list [--device-group PRODUCT/GROUP]",
		Short: "List deployments, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			groupID := ""
			if listGroup != "" {
				g, err := c.Group(cmd.Context(), listGroup)
				if err != nil {
					return err
				}
				groupID = g.ID
			}
			ds, err := c.Deployments(cmd.Context(), groupID)
			if err != nil {
				return err
			}
			return e.print(ds, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tDEVICE GROUP\tIMAGES\tCREATED\tCREATED BY")
				for _, d := range ds {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", d.ID, d.GroupName, len(d.ImageIDs), d.CreatedAt.Format(time.RFC3339), d.CreatedBy)
				}
			})
		},
	}
	list.Flags().StringVar(&listGroup, "device-group", "", "only this group's deployments (Product/Group or ID)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a deployment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			d, err := c.Deployment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
		},
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(list), e.addOutput(show))
	return cmd
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
