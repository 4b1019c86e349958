package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) productCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "product", Short: "Manage products"}
	var desc string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a product and its five default device groups",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := c.CreateProduct(cmd.Context(), api.CreateProductRequest{Name: args[0], Description: desc})
			if err != nil {
				return err
			}
			return e.print(p, func(w io.Writer) { productTable(w, p) })
		},
	}
	create.Flags().StringVar(&desc, "description", "", "one line describing the product")
	list := &cobra.Command{
		Use:   "list",
		Short: "List products",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ps, err := c.Products(cmd.Context())
			if err != nil {
				return err
			}
			return e.print(ps, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tDESCRIPTION")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\n", p.ID, p.Name, p.Description)
				}
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a product",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := c.Product(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return e.print(p, func(w io.Writer) { productTable(w, p) })
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME|ID",
		Short: "Delete a product and its device groups (which must have no devices)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := c.DeleteProduct(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			e.infof("Deleted product %s.", p.Name)
			return nil
		},
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(list), e.addOutput(show), del)
	return cmd
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
	var product string
	var req api.CreateDeviceGroupRequest
	create := &cobra.Command{
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
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.CreateGroup(cmd.Context(), req)
			if err != nil {
				return err
			}
			return e.print(g, func(w io.Writer) { groupTable(w, g) })
		},
	}
	create.Flags().StringVar(&product, "product", "", "the product (name or ID)")
	create.Flags().StringVar(&req.Description, "description", "", "one line describing the group")
	create.Flags().StringVar(&req.OSFeed, "os-feed", api.FeedRetail, "OS feed: Retail or RetailEval")
	create.Flags().StringVar(&req.UpdatePolicy, "update-policy", api.PolicyAll,
		"update policy: UpdateAll, NoApplicationUpdates or NoUpdates")
	create.Flags().BoolVar(&req.AllowCrashDumps, "allow-crash-dumps", false, "let devices upload crash details")

	var listProduct string
	list := &cobra.Command{
		Use:   "list [--product PRODUCT]",
		Short: "List device groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			gs, err := c.Groups(cmd.Context(), listProduct, "")
			if err != nil {
				return err
			}
			return e.print(gs, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tOS FEED\tUPDATE POLICY\tCRASH DUMPS")
				for _, g := range gs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", g.ID, g.FullName(), g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps)
				}
			})
		},
	}
	list.Flags().StringVar(&listProduct, "product", "", "only this product's groups (name or ID)")

	show := &cobra.Command{
		Use:   "show PRODUCT/GROUP|ID",
		Short: "Show a device group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Group(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return e.print(g, func(w io.Writer) { groupTable(w, g) })
		},
	}

	var name, desc, feed, policy string
	var crash bool
	update := &cobra.Command{
		Use:   "update PRODUCT/GROUP|ID",
		Short: "Change a device group's name or settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.UpdateDeviceGroupRequest
			f := cmd.Flags()
			for flag, dst := range map[string]**string{"name": &req.Name, "description": &req.Description,
				"os-feed": &req.OSFeed, "update-policy": &req.UpdatePolicy} {
				if f.Changed(flag) {
					v, _ := f.GetString(flag)
					*dst = &v
				}
			}
			if f.Changed("allow-crash-dumps") {
				req.AllowCrashDumps = &crash
			}
			if req == (api.UpdateDeviceGroupRequest{}) {
				return usage.Errorf("nothing to change: give --name, --description, --os-feed, --update-policy or --allow-crash-dumps")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Group(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g, err = c.UpdateGroup(cmd.Context(), g.ID, req); err != nil {
				return err
			}
			return e.print(g, func(w io.Writer) { groupTable(w, g) })
		},
	}
	update.Flags().StringVar(&name, "name", "", "new name")
	update.Flags().StringVar(&desc, "description", "", "new description")
	update.Flags().StringVar(&feed, "os-feed", "", "OS feed: Retail or RetailEval")
	update.Flags().StringVar(&policy, "update-policy", "", "update policy: UpdateAll, NoApplicationUpdates or NoUpdates")
	update.Flags().BoolVar(&crash, "allow-crash-dumps", false, "let devices upload crash details")

	del := &cobra.Command{
		Use:   "delete PRODUCT/GROUP|ID",
		Short: "Delete a device group that has no devices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			g, err := c.Group(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g, err = c.DeleteGroup(cmd.Context(), g.ID); err != nil {
				return err
			}
			e.infof("Deleted device group %s.", g.FullName())
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, update} {
		c.RegisterFlagCompletionFunc("os-feed", cobra.FixedCompletions(
			[]string{api.FeedRetail, api.FeedRetailEval}, cobra.ShellCompDirectiveNoFileComp))
		c.RegisterFlagCompletionFunc("update-policy", cobra.FixedCompletions(
			[]string{api.PolicyAll, api.PolicyRuntimeOnly, api.PolicyNone}, cobra.ShellCompDirectiveNoFileComp))
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(list), e.addOutput(show), e.addOutput(update), del)
	return cmd
}

func groupTable(w io.Writer, g api.DeviceGroup) {
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nDescription\t%s\nOS feed\t%s\nUpdate policy\t%s\nCrash dumps\t%t\n",
		g.ID, g.FullName(), g.Description, g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps)
}
