package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// login is what `rampart login` saves for one service: its address, a token and the CA's PEM.
type login struct {
	Server string `json:"server"`
	Token  string `json:"token"`
	CACert string `json:"cacert,omitempty"`
}

// loginFile is the saved logins: the latest at the top (as the file held before there were
// several), and one for each other service logged in to before.
type loginFile struct {
	login
	Others []login `json:"others,omitempty"`
}

// maxLogins bounds the services one login file remembers.
const maxLogins = 32

// forServer is the saved login for server: the latest when server is "" or its own.
// A token is only ever sent to the service it was saved for.
func (f loginFile) forServer(server string) login {
	if server == "" || server == f.Server {
		return f.login
	}
	for _, o := range f.Others {
		if o.Server == server {
			return o
		}
	}
	return login{Server: server}
}

// with makes l the latest login, keeping one login per server.
func (f loginFile) with(l login) loginFile {
	others := []login{}
	if f.Server != "" && f.Server != l.Server {
		others = append(others, f.login)
	}
	for _, o := range f.Others {
		if o.Server != l.Server && o.Server != f.Server {
			others = append(others, o)
		}
	}
	return loginFile{login: l, Others: others[:min(len(others), maxLogins-1)]}
}

func loginPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the saved login: %w", err)
	}
	return filepath.Join(dir, "rampart", "login.json"), nil
}

func loadLogin() (loginFile, error) {
	var l loginFile
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
			"(owner-only) so that later commands need neither. They are saved in rampart/login.json in\n" +
			"your config folder ($XDG_CONFIG_HOME or ~/.config on Linux), one login per service: the\n" +
			"latest is used when no --server or RAMPART_SERVER is given, and a token is sent only to the\n" +
			"service it was saved for.",
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

// newLogin is what to save: the flags and environment, else what was saved before for the
// same service.
func (e *env) newLogin() (login, error) {
	l := login{Server: first(e.server, e.getenv("RAMPART_SERVER")), Token: first(e.token, e.getenv("RAMPART_TOKEN"))}
	file, _ := loadLogin()
	if l.Server == "" {
		l.Server = file.Server
	}
	saved := file.forServer(l.Server)
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

// saveLogin makes l the latest login where loadLogin reads it, in place of any earlier login to
// the same service, readable by its owner alone.
func saveLogin(l login) error {
	path, err := loginPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	file, err := loadLogin()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		file = loginFile{} // unreadable: replaced, as 'run rampart login again' says
	}
	b, _ := json.MarshalIndent(file.with(l), "", "  ")
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
