package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
)

func (e *env) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create and list tenants (operator)"}
	var admin, quota string
	create := &cobra.Command{
		Use:   "create NAME --admin EMAIL",
		Short: "Create a tenant and its first Administrator; prints the Administrator's token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := parseQuota(quota)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.CreateTenant(cmd.Context(), api.CreateTenantRequest{Name: args[0], AdminEmail: admin, ImageQuota: q})
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
	create.Flags().StringVar(&quota, "image-quota", "", "most bytes of images the tenant may keep, such as 10GiB (default: unlimited)")

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
			return e.print(t, func(w io.Writer) {
				printTenant(w, t)
			})
		},
	}
	cmd.AddCommand(e.addOutput(create), e.addOutput(list), e.addOutput(show), e.addOutput(e.tenantUpdateCmd()))
	return cmd
}

func (e *env) tenantUpdateCmd() *cobra.Command {
	var quota string
	update := &cobra.Command{
		Use:   "update NAME|ID --image-quota SIZE",
		Short: "Change a tenant's settings (operator)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.UpdateTenantRequest
			if cmd.Flags().Changed("image-quota") {
				q, err := parseQuota(quota)
				if err != nil {
					return err
				}
				req.ImageQuota = &q
			}
			if req.ImageQuota == nil {
				return usagef("nothing to change: give --image-quota")
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			t, err := c.UpdateTenant(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return e.print(t, func(w io.Writer) { printTenant(w, t) })
		},
	}
	update.Flags().StringVar(&quota, "image-quota", "", "most bytes of images the tenant may keep, such as 10GiB, or unlimited")
	return update
}

func printTenant(w io.Writer, t api.Tenant) {
	quota := "unlimited"
	if t.ImageQuota > 0 {
		quota = api.FormatSize(t.ImageQuota)
	}
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nCreated\t%s\nImage quota\t%s\nImages stored\t%s\n",
		t.ID, t.Name, t.CreatedAt.Format(time.RFC3339), quota, api.FormatSize(t.ImageBytes))
}

// parseQuota reads --image-quota: "" and "unlimited" are 0, no limit.
func parseQuota(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	q, err := api.ParseSize(s)
	if err != nil {
		return 0, usagef("--image-quota: %v", err)
	}
	return q, nil
}

func (e *env) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the users of your tenant"}
	var role, expires string
	add := &cobra.Command{
		Use:   "add EMAIL --role Administrator|Contributor|Reader",
		Short: "Add a user; prints the user's API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLifetime(expires); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.AddUser(cmd.Context(), api.AddUserRequest{Email: args[0], Role: api.Role(role), ExpiresIn: expires})
			if err != nil {
				return err
			}
			return e.print(r, func(w io.Writer) {
				fmt.Fprintf(w, "ID\tEMAIL\tROLE\tEXPIRES\tTOKEN\n%s\t%s\t%s\t%s\t%s\n", r.User.ID, r.User.Email, r.User.Role,
					when(r.ExpiresAt, "never"), r.Token)
			})
		},
	}
	add.Flags().StringVar(&role, "role", "", "Administrator, Contributor or Reader")
	add.MarkFlagRequired("role")
	add.Flags().StringVar(&expires, "expires", "", "the token's lifetime, such as 90d or 12h (default: never expires)")
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
