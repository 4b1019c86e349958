package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create and list tenants (operator)"}
	cmd.AddCommand(e.addOutput(e.tenantCreateCmd()), e.addOutput(e.tenantListCmd()),
		e.addOutput(e.tenantShowCmd()), e.addOutput(e.tenantUpdateCmd()))
	return cmd
}

func (e *env) tenantCreateCmd() *cobra.Command {
	var admin, quota string
	var allow bool
	var q int64
	run := e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
		r, err := c.CreateTenant(ctx, api.CreateTenantRequest{Name: args[0], AdminEmail: admin,
			AllowClaimWithoutCode: allow, ImageQuota: q})
		if err != nil {
			return err
		}
		return e.print(r, func(w io.Writer) {
			fmt.Fprintf(w, "ID\tNAME\tADMIN\tTOKEN\n%s\t%s\t%s\t%s\n", r.Tenant.ID, r.Tenant.Name, r.Admin.Email, r.Token)
		})
	})
	cmd := &cobra.Command{
		Use:   "create NAME --admin EMAIL [--allow-claim-without-code] [--image-quota SIZE]",
		Short: "Create a tenant and its first Administrator; prints the Administrator's token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if q, err = parseQuota(quota); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&admin, "admin", "", "email of the tenant's first Administrator")
	cmd.MarkFlagRequired("admin")
	cmd.Flags().BoolVar(&allow, "allow-claim-without-code", false,
		"let the tenant claim devices by ID alone, without their claim codes (for development tenants)")
	cmd.Flags().StringVar(&quota, "image-quota", "", "most bytes of images the tenant may keep, such as 10GiB (default: unlimited)")
	return cmd
}

func (e *env) tenantListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List tenants: all for the operator, else your own",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			ts, err := c.Tenants(ctx)
			if err != nil {
				return err
			}
			return e.print(ts, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tCREATED")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.RFC3339))
				}
			})
		}),
	}
}

func (e *env) tenantShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			t, err := c.Tenant(ctx, args[0])
			if err != nil {
				return err
			}
			return e.print(t, func(w io.Writer) { tenantTable(w, t) })
		}),
	}
}

func (e *env) tenantUpdateCmd() *cobra.Command {
	var quota string
	var allow bool
	var req api.UpdateTenantRequest
	run := e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
		t, err := c.UpdateTenant(ctx, args[0], req)
		if err != nil {
			return err
		}
		return e.print(t, func(w io.Writer) { tenantTable(w, t) })
	})
	cmd := &cobra.Command{
		Use:   "update NAME|ID [--image-quota SIZE] [--allow-claim-without-code[=false]]",
		Short: "Change a tenant's settings (operator): its image quota, whether it may claim devices by ID alone",
		Long: "Change a tenant's settings (operator).\n\n" +
			"--image-quota SIZE (such as 10GiB, or unlimited) bounds the image packages it may keep.\n" +
			"--allow-claim-without-code lets its users claim devices by ID alone: then whoever learns a\n" +
			"device's ID first can claim it, so allow it only for development tenants;\n" +
			"--allow-claim-without-code=false requires claim codes again.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req = api.UpdateTenantRequest{}
			if cmd.Flags().Changed("image-quota") {
				q, err := parseQuota(quota)
				if err != nil {
					return err
				}
				req.ImageQuota = &q
			}
			if cmd.Flags().Changed("allow-claim-without-code") {
				req.AllowClaimWithoutCode = &allow
			}
			if req.ImageQuota == nil && req.AllowClaimWithoutCode == nil {
				return usage.Errorf("nothing to change: give --image-quota, --allow-claim-without-code or --allow-claim-without-code=false")
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&quota, "image-quota", "", "most bytes of images the tenant may keep, such as 10GiB, or unlimited")
	cmd.Flags().BoolVar(&allow, "allow-claim-without-code", false,
		"let the tenant claim devices by ID alone, without their claim codes")
	return cmd
}

func tenantTable(w io.Writer, t api.Tenant) {
	claims := "with claim codes only"
	if t.AllowClaimWithoutCode {
		claims = "by ID alone allowed"
	}
	quota := "unlimited"
	if t.ImageQuota > 0 {
		quota = api.FormatSize(t.ImageQuota)
	}
	fmt.Fprintf(w, "ID\t%s\nName\t%s\nCreated\t%s\nClaims\t%s\nImage quota\t%s\nImages stored\t%s\n",
		t.ID, t.Name, t.CreatedAt.Format(time.RFC3339), claims, quota, api.FormatSize(t.ImageBytes))
}

// parseQuota reads --image-quota: "" and "unlimited" are 0, no limit.
func parseQuota(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	q, err := api.ParseSize(s)
	if err != nil {
		return 0, usage.Errorf("--image-quota: %v", err)
	}
	return q, nil
}

func (e *env) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the users of your tenant"}
	cmd.AddCommand(e.addOutput(e.userAddCmd()), e.addOutput(e.userListCmd()), e.userRemoveCmd())
	return cmd
}

func (e *env) userAddCmd() *cobra.Command {
	var role, expires string
	run := e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
		r, err := c.AddUser(ctx, api.AddUserRequest{Email: args[0], Role: api.Role(role), ExpiresIn: expires})
		if err != nil {
			return err
		}
		return e.print(r, func(w io.Writer) {
			fmt.Fprintf(w, "ID\tEMAIL\tROLE\tEXPIRES\tTOKEN\n%s\t%s\t%s\t%s\t%s\n", r.User.ID, r.User.Email, r.User.Role,
				when(r.ExpiresAt, "never"), r.Token)
		})
	})
	add := &cobra.Command{
		Use:   "add EMAIL --role Administrator|Contributor|Reader",
		Short: "Add a user; prints the user's API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLifetime(expires); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	add.Flags().StringVar(&role, "role", "", "Administrator, Contributor or Reader")
	add.MarkFlagRequired("role")
	add.Flags().StringVar(&expires, "expires", "", "the token's lifetime, such as 90d or 12h (default: never expires)")
	add.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(
		[]string{"Administrator", "Contributor", "Reader"}, cobra.ShellCompDirectiveNoFileComp))
	return add
}

func (e *env) userListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List your tenant's users",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			us, err := c.Users(ctx)
			if err != nil {
				return err
			}
			return e.print(us, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tEMAIL\tROLE")
				for _, u := range us {
					fmt.Fprintf(w, "%s\t%s\t%s\n", u.ID, u.Email, u.Role)
				}
			})
		}),
	}
}

func (e *env) userRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove EMAIL|ID",
		Short: "Remove a user and revoke its tokens",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			u, err := c.RemoveUser(ctx, args[0])
			if err != nil {
				return err
			}
			e.infof("Removed %s.", u.Email)
			return nil
		}),
	}
}
