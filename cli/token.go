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

func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "List, make and revoke API tokens"}
	cmd.AddCommand(e.addOutput(e.tokenCreateCmd()), e.addOutput(e.tokenListCmd()), e.tokenRevokeCmd())
	return cmd
}

func (e *env) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: your own, or (Administrators) any of your tenant's",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			t, err := c.RevokeToken(ctx, args[0])
			if err != nil {
				return err
			}
			e.infof("Revoked token %s of %s.", t.ID, t.Email)
			return nil
		}),
	}
}

func (e *env) tokenCreateCmd() *cobra.Command {
	var user, expires string
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		r, err := c.CreateToken(ctx, api.CreateTokenRequest{User: user, ExpiresIn: expires})
		if err != nil {
			return err
		}
		return e.print(r, func(w io.Writer) {
			fmt.Fprintf(w, "ID\tEMAIL\tEXPIRES\tTOKEN\n%s\t%s\t%s\t%s\n", r.ID, r.Email, when(r.ExpiresAt, "never"), r.Secret)
		})
	})
	create := &cobra.Command{
		Use:   "create [--expires 90d] [--user EMAIL]",
		Short: "Make a new API token for yourself (an Administrator: for --user); prints it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLifetime(expires); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	create.Flags().StringVar(&user, "user", "", "another user of your tenant, by email or ID (Administrators)")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, such as 90d or 12h (default: never expires)")
	return create
}

func (e *env) tokenListCmd() *cobra.Command {
	var user string
	list := &cobra.Command{
		Use:   "list [--user EMAIL]",
		Short: "List your API tokens (an Administrator: --user's), with their expiry and last use",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			ts, err := c.Tokens(ctx, user)
			if err != nil {
				return err
			}
			return e.print(ts, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tEMAIL\tCREATED\tEXPIRES\tLAST USED\tSTATE")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Email, t.CreatedAt.Format(time.RFC3339),
						when(t.ExpiresAt, "never"), when(t.LastUsedAt, "never"), tokenState(t, time.Now()))
				}
			})
		}),
	}
	list.Flags().StringVar(&user, "user", "", "another user of your tenant, by email or ID (Administrators)")
	return list
}

// checkLifetime refuses a malformed --expires before anything is sent.
func checkLifetime(s string) error {
	if s == "" {
		return nil
	}
	if _, err := api.ParseLifetime(s); err != nil {
		return usage.Errorf("--expires: %v", err)
	}
	return nil
}

func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func tokenState(t api.Token, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	case t.Current:
		return "active (this one)"
	}
	return "active"
}
