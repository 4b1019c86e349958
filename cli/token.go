package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "List, make and revoke API tokens"}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token: your own, or (Administrators) any of your tenant's",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			t, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			e.infof("Revoked token %s of %s.", t.ID, t.Email)
			return nil
		},
	}
	cmd.AddCommand(e.tokenCreateCmd(), e.tokenListCmd(), revoke)
	return cmd
}

func (e *env) tokenCreateCmd() *cobra.Command {
	var user, expires string
	create := &cobra.Command{
		Use:   "create [--expires 90d] [--user EMAIL]",
		Short: "Make a new API token for yourself (an Administrator: for --user); prints it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLifetime(expires); err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			r, err := c.CreateToken(cmd.Context(), api.CreateTokenRequest{User: user, ExpiresIn: expires})
			if err != nil {
				return err
			}
			return e.print(r, func(w io.Writer) {
				fmt.Fprintf(w, "ID\tEMAIL\tEXPIRES\tTOKEN\n%s\t%s\t%s\t%s\n", r.ID, r.Email, when(r.ExpiresAt, "never"), r.Secret)
			})
		},
	}
	create.Flags().StringVar(&user, "user", "", "another user of your tenant, by email or ID (Administrators)")
	create.Flags().StringVar(&expires, "expires", "", "lifetime, such as 90d or 12h (default: never expires)")
	return e.addOutput(create)
}

func (e *env) tokenListCmd() *cobra.Command {
	var listUser string
	list := &cobra.Command{
		Use:   "list [--user EMAIL]",
		Short: "List your API tokens (an Administrator: --user's), with their expiry and last use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			ts, err := c.Tokens(cmd.Context(), listUser)
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
		},
	}
	list.Flags().StringVar(&listUser, "user", "", "another user of your tenant, by email or ID (Administrators)")
	return e.addOutput(list)
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
