package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// login is what `rampart login` saves: the service's address, a token and the CA's PEM.
type login struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	CACert string `json:"cacert,omitempty"`
}

func loginPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the saved login: %w", err)
	}
	return filepath.Join(dir, "rampart", "login.json"), nil
}

func loadLogin() (login, error) {
	var l login
	path, err := loginPath()
	if err != nil {
		return l, err
	}
	b, err := readFileLimited(path, 1<<20)
	if err != nil {
		return l, err
	}
	if err := strictjson.Decode(b, &l); err != nil {
		return l, fmt.Errorf("%s: %w (run 'rampart login' again)", path, err)
	}
	return l, nil
}

func (e *env) loginCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Check and save the service address, token and CA for later commands",
		Long: "Check the service address, token and CA given by flags or environment, and save them\n" +
			"(owner-only) so that later commands need neither.",
		Args: cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			who, err := c.Whoami(ctx)
			if err != nil {
				return err
			}
			l, err := e.newLogin()
			if err != nil {
				return err
			}
			if who.TenantName == "" && !who.Operator {
				return errors.New("the token belongs to no tenant")
			}
			if err := saveLogin(l); err != nil {
				return err
			}
			who.Email = first(who.Email, "?")
			switch {
			case who.TenantName != "":
				e.infof("Logged in to %s as %s, %s of tenant %s.", l.Server, who.Email, who.Role, who.TenantName)
			default:
				e.infof("Logged in to %s as the operator.", l.Server)
			}
			return nil
		}),
	}
}

// newLogin is what to save: the flags and environment, else what was saved before.
func (e *env) newLogin() (login, error) {
	l := login{Server: first(e.server, e.getenv("RAMPART_SERVER")), Token: first(e.token, e.getenv("RAMPART_TOKEN"))}
	saved, _ := loadLogin()
	if l.Server == "" {
		l.Server = saved.Server
	}
	if l.Token == "" {
		l.Token = saved.Token
	}
	if path := first(e.cacert, e.getenv("RAMPART_CACERT")); path != "" {
		b, err := readFileLimited(path, 1<<20)
		if err != nil {
			return l, err
		}
		l.CACert = string(b)
	} else {
		l.CACert = saved.CACert
	}
	return l, nil
}

// saveLogin writes l where loadLogin reads it, readable by its owner alone.
func saveLogin(l login) error {
	path, err := loginPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
