package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/client"
)

// clientRun is the body of a command that talks to the service.
type clientRun func(ctx context.Context, c *client.Client, args []string) error

// withClient returns a cobra RunE that builds the client from flags, environment and the saved
// login ([env.client]), then runs run with it. Commands check their flags and arguments before
// they call it, so that a usage error needs no service.
func (e *env) withClient(run clientRun) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := e.client()
		if err != nil {
			return err
		}
		return run(cmd.Context(), c, args)
	}
}
