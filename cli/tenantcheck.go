package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rampart-iot/rampart/internal/usage"
)

// checkTenant makes azsphere's --tenant safe to keep in a script. A Rampart token belongs to one
// tenant, so there is nothing to select; but a script that names a tenant must never act in
// another one. When global is the flag cmd was given (a command's own --tenant, as in
// get-support-data, means something else), the token's tenant must be the one named, by name or
// ID, before the command runs.
func (e *env) checkTenant(cmd *cobra.Command, global *pflag.Flag) error {
	if f := cmd.Flags().Lookup("tenant"); f != global || !global.Changed {
		return nil
	}
	if strings.TrimSpace(e.tenant) == "" {
		return usage.Errorf("--tenant is empty: give the tenant's name or ID, or leave the flag out (was it an empty shell variable?)")
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	who, err := c.Whoami(cmd.Context())
	if err != nil {
		return fmt.Errorf("check --tenant: %w", err)
	}
	switch {
	case who.TenantID == "":
		return usage.Errorf("--tenant %s: this token is the operator's, which acts in no tenant; leave --tenant out, or use a token of a user of %s", e.tenant, e.tenant)
	case strings.EqualFold(e.tenant, who.TenantName) || strings.EqualFold(e.tenant, string(who.TenantID)):
		return nil
	}
	return usage.Errorf("--tenant %s, but this token is of tenant %s (%s); nothing was done: use a token of a user of %s, or change --tenant",
		e.tenant, who.TenantName, who.TenantID, e.tenant)
}
