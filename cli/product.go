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
)

func (e *env) productCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "product", Short: "Manage products"}
	cmd.AddCommand(e.addOutput(e.productCreateCmd()), e.addOutput(e.productListCmd()),
		e.addOutput(e.productShowCmd()), e.productDeleteCmd())
	return cmd
}

func (e *env) productCreateCmd() *cobra.Command {
	var desc string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a product and its five default device groups",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			p, err := c.CreateProduct(ctx, api.CreateProductRequest{Name: args[0], Description: desc})
			if err != nil {
				return err
			}
			return e.print(p, func(w io.Writer) { productTable(w, p) })
		}),
	}
	cmd.Flags().StringVar(&desc, "description", "", "one line describing the product")
	return cmd
}

func (e *env) productListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List products",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			ps, err := c.Products(ctx)
			if err != nil {
				return err
			}
			return e.print(ps, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tDESCRIPTION")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\n", p.ID, p.Name, p.Description)
				}
			})
		}),
	}
}

func (e *env) productShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a product",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			p, err := findProduct(ctx, c, args[0])
			if err != nil {
				return err
			}
			return e.print(p, func(w io.Writer) { productTable(w, p) })
		}),
	}
}

func (e *env) productDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME|ID",
		Short: "Delete a product and its device groups (which must have no devices)",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			p, err := c.DeleteProduct(ctx, args[0])
			if err != nil {
				return err
			}
			e.infof("Deleted product %s.", p.Name)
			return nil
		}),
	}
}

func productTable(w io.Writer, p api.Product) {
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nDescription\t%s\nCreated\t%s\n", p.ID, p.Name, p.Description, p.CreatedAt.Format("2006-01-02T15:04:05Z07:00"))
}

func (e *env) groupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "device-group",
		Aliases: []string{"dg"},
		Short:   "Manage device groups (named Product/Group or by ID)",
	}
	create, update := e.groupCreateCmd(), e.groupUpdateCmd()
	for _, c := range []*cobra.Command{create, update} {
		c.RegisterFlagCompletionFunc("os-feed", cobra.FixedCompletions(
			[]string{api.FeedRetail, api.FeedRetailEval}, cobra.ShellCompDirectiveNoFileComp))
		c.RegisterFlagCompletionFunc("update-policy", cobra.FixedCompletions(
			[]string{api.PolicyAll, api.PolicyRuntimeOnly, api.PolicyNone}, cobra.ShellCompDirectiveNoFileComp))
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(e.groupListCmd()), e.addOutput(e.groupShowCmd()),
		e.addOutput(update), e.groupDeleteCmd(), e.addOutput(e.groupNotifyCmd()))
	return cmd
}

func (e *env) groupNotifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "notify PRODUCT/GROUP|ID",
		Short: "Ask the group's online devices to check in now",
		Long: "Ask the group's devices to check in now, instead of at their check-in interval. Devices\n" +
			"that keep their notification channel open (every running rampart-device does) check in\n" +
			"within seconds, spread over up to 30 seconds in a large group; the others at their interval.\n" +
			"A new deployment does this by itself.",
		Args: cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			g, err := findGroup(ctx, c, args[0])
			if err != nil {
				return err
			}
			n, err := c.NotifyGroup(ctx, g.ID)
			if err != nil {
				return err
			}
			return e.print(n, func(w io.Writer) {
				fmt.Fprintf(w, "Device group\t%s\nNotified\t%s\n", n.DeviceGroupName, n.At.UTC().Format(time.RFC3339))
			})
		}),
	}
}

func (e *env) groupCreateCmd() *cobra.Command {
	var product string
	var req api.CreateDeviceGroupRequest
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		g, err := c.CreateGroup(ctx, req)
		if err != nil {
			return productHint(ctx, c, req.Product, err)
		}
		return e.print(g, func(w io.Writer) { groupTable(w, g) })
	})
	cmd := &cobra.Command{
		Use:   "create NAME --product PRODUCT | create PRODUCT/NAME",
		Short: "Create a device group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Product, req.Name = product, args[0]
			if p, n, ok := strings.Cut(args[0], "/"); ok {
				if product != "" && product != p {
					return usage.Errorf("the group %q names product %q but --product says %q", args[0], p, product)
				}
				req.Product, req.Name = p, n
			}
			if req.Product == "" {
				return usage.Errorf("which product? give --product NAME or name the group PRODUCT/GROUP")
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&product, "product", "", "the product (name or ID)")
	cmd.Flags().StringVar(&req.Description, "description", "", "one line describing the group")
	cmd.Flags().StringVar(&req.OSFeed, "os-feed", api.FeedRetail, "OS feed: Retail or RetailEval")
	cmd.Flags().StringVar(&req.UpdatePolicy, "update-policy", api.PolicyAll,
		"update policy: UpdateAll, NoApplicationUpdates or NoUpdates")
	cmd.Flags().BoolVar(&req.AllowCrashDumps, "allow-crash-dumps", false, "let devices upload crash details")
	cmd.Flags().BoolVar(&req.RequireTPM, "require-tpm", false, "pass only devices whose root of trust is a TPM")
	cmd.Flags().StringVar(&req.MaintenanceWindow, "maintenance-window", "", "install application updates only then, e.g. 'Sat 02:00-04:00 UTC'")
	return cmd
}

func (e *env) groupListCmd() *cobra.Command {
	var product string
	cmd := &cobra.Command{
		Use:   "list [--product PRODUCT]",
		Short: "List device groups",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			gs, err := c.Groups(ctx, product, "")
			if err != nil {
				return productHint(ctx, c, product, err)
			}
			return e.print(gs, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tOS FEED\tUPDATE POLICY\tCRASH DUMPS")
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", g.ID, g.FullName(), g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&product, "product", "", "only this product's groups (name or ID)")
	return cmd
}

func (e *env) groupShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show PRODUCT/GROUP|ID",
		Short: "Show a device group",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			g, err := findGroup(ctx, c, args[0])
			if err != nil {
				return err
			}
			return e.print(g, func(w io.Writer) { groupTable(w, g) })
		}),
	}
}

func (e *env) groupUpdateCmd() *cobra.Command {
	var req api.UpdateDeviceGroupRequest
	var crash, requireTPM bool
	run := e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
		g, err := findGroup(ctx, c, args[0])
		if err != nil {
			return err
		}
		if g, err = c.UpdateGroup(ctx, g.ID, req); err != nil {
			return err
		}
		return e.print(g, func(w io.Writer) { groupTable(w, g) })
	})
	cmd := &cobra.Command{
		Use:   "update PRODUCT/GROUP|ID",
		Short: "Change a device group's name or settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req = api.UpdateDeviceGroupRequest{}
			f := cmd.Flags()
			for flag, dst := range map[string]**string{"name": &req.Name, "description": &req.Description,
				"os-feed": &req.OSFeed, "update-policy": &req.UpdatePolicy, "maintenance-window": &req.MaintenanceWindow} {
				if f.Changed(flag) {
					v, _ := f.GetString(flag)
					*dst = &v
				}
			}
			if f.Changed("allow-crash-dumps") {
				req.AllowCrashDumps = &crash
			}
			if f.Changed("require-tpm") {
				req.RequireTPM = &requireTPM
			}
			if req == (api.UpdateDeviceGroupRequest{}) {
				return usage.Errorf("nothing to change: give --name, --description, --os-feed, --update-policy, " +
					"--allow-crash-dumps, --require-tpm or --maintenance-window")
			}
			return run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.String("name", "", "new name")
	f.String("description", "", "new description")
	f.String("os-feed", "", "OS feed: Retail or RetailEval")
	f.String("update-policy", "", "update policy: UpdateAll, NoApplicationUpdates or NoUpdates")
	f.BoolVar(&crash, "allow-crash-dumps", false, "let devices upload crash details")
	f.BoolVar(&requireTPM, "require-tpm", false, "pass only devices whose root of trust is a TPM (--require-tpm=false to allow software again)")
	f.String("maintenance-window", "", "install application updates only then, e.g. 'Sat 02:00-04:00 UTC' ('' for any time); urgent deployments do not wait")
	return cmd
}

func (e *env) groupDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete PRODUCT/GROUP|ID",
		Short: "Delete a device group that has no devices",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			g, err := findGroup(ctx, c, args[0])
			if err != nil {
				return err
			}
			if g, err = c.DeleteGroup(ctx, g.ID); err != nil {
				return err
			}
			e.infof("Deleted device group %s.", g.FullName())
			return nil
		}),
	}
}

func groupTable(w io.Writer, g api.DeviceGroup) {
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nDescription\t%s\nOS feed\t%s\nUpdate policy\t%s\nCrash dumps\t%t\nRequire TPM\t%t\n",
		g.ID, g.FullName(), g.Description, g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps, g.RequireTPM)
	if g.MaintenanceWindow != "" {
		fmt.Fprintf(w, "Maintenance window\t%s\n", g.MaintenanceWindow)
	}
}
