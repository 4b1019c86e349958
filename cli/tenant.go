package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create and list tenants (operator)"}
	var admin string
	var allowCreate bool
	create := &cobra.Command{
		Use:   "create NAME --admin EMAIL [--allow-claim-without-code]",
		Short: "Create a tenant and its first Administrator; prints the Administrator's token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.CreateTenant(cmd.Context(), api.CreateTenantRequest{Name: args[0], AdminEmail: admin,
				AllowClaimWithoutCode: allowCreate})
			if err != nil {
				return err
			}
			return e.print(r, func(w io.Writer) {
				fmt.Fprintf(w, "ID\tNAME\tADMIN\tTOKEN\n%s\t%s\t%s\t%s\n", r.Tenant.ID, r.Tenant.Name, r.Admin.Email, r.Token)
			})
		},
	}
	create.Flags().StringVar(&admin, "admin", "", "email of the tenant's first Administrator")
	create.MarkFlagRequired("admin")
	create.Flags().BoolVar(&allowCreate, "allow-claim-without-code", false,
		"let the tenant claim devices by ID alone, without their claim codes (for development tenants)")

	var allowUpdate bool
	update := &cobra.Command{
		Use:   "update NAME|ID --allow-claim-without-code[=false]",
		Short: "Change a tenant's settings: whether it may claim devices by ID alone",
		Long: "Change a tenant's settings (operator). --allow-claim-without-code lets its users claim devices\n" +
			"by ID alone: then whoever learns a device's ID first can claim it, so allow it only for\n" +
			"development tenants; --allow-claim-without-code=false requires claim codes again.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("allow-claim-without-code") {
				return usage.Errorf("nothing to change: give --allow-claim-without-code or --allow-claim-without-code=false")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			t, err := c.UpdateTenant(cmd.Context(), args[0], api.UpdateTenantRequest{AllowClaimWithoutCode: &allowUpdate})
			if err != nil {
				return err
			}
			return e.print(t, func(w io.Writer) { tenantTable(w, t) })
		},
	}
	update.Flags().BoolVar(&allowUpdate, "allow-claim-without-code", false,
		"let the tenant claim devices by ID alone, without their claim codes")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants: all for the operator, else your own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ts, err := c.Tenants(cmd.Context())
			if err != nil {
				return err
			}
			return e.print(ts, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tCREATED")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339))
				}
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			t, err := c.Tenant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return e.print(t, func(w io.Writer) { tenantTable(w, t) })
		},
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(list), e.addOutput(show), e.addOutput(update))
	return cmd
}

func tenantTable(w io.Writer, t api.Tenant) {
	claims := "with claim codes only"
	if t.AllowClaimWithoutCode {
		claims = "by ID alone allowed"
	}
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nCreated\t%s\nClaims\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339), claims)
}

func (e *env) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the users of your tenant"}
	var role string
	add := &cobra.Command{
		Use:   "add EMAIL --role Administrator|Contributor|Reader",
		Short: "Add a user; prints the user's API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.AddUser(cmd.Context(), api.AddUserRequest{Email: args[0], Role: api.Role(role)})
			if err != nil {
				return err
			}
			return e.print(r, func(w io.Writer) {
				fmt.Fprintf(w, "ID\tEMAIL\tROLE\tTOKEN\n%s\t%s\t%s\t%s\n", r.User.ID, r.User.Email, r.User.Role, r.Token)
			})
		},
	}
	add.Flags().StringVar(&role, "role", "", "Administrator, Contributor or Reader")
	add.MarkFlagRequired("role")
	add.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(
		[]string{"Administrator", "Contributor", "Reader"}, cobra.ShellCompDirectiveNoFileComp))

	list := &cobra.Command{
		Use:   "list",
		Short: "List your tenant's users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			us, err := c.Users(cmd.Context())
			if err != nil {
				return err
			}
			return e.print(us, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tEMAIL\tROLE")
				for _, u := range us {
					fmt.Fprintf(w, "%s\t%s\t%s\n", u.ID, u.Email, u.Role)
				}
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove EMAIL|ID",
		Short: "Remove a user and revoke its tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			u, err := c.RemoveUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			e.infof("Removed %s.", u.Email)
			return nil
		},
	}
	cmd.AddCommand(e.addOutput(add), e.addOutput(list), remove)
	return cmd
}
