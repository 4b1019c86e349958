package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
)

func isClientError(err error, ce **client.Error) bool { return errors.As(err, ce) }

// adminOnly refuses the users page to anyone but an Administrator: only they manage users.
func adminOnly(s *request) error {
	if s.who.Role != api.RoleAdministrator {
		return &client.Error{Status: http.StatusForbidden, Message: "the users page needs the Administrator role; you are " + string(s.who.Role)}
	}
	return nil
}

type usersData struct {
	Users    []api.User
	Roles    []api.Role
	NewToken string
	NewUser  string
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, s *request) error {
	if err := adminOnly(s); err != nil {
		return err
	}
	us, err := s.api.Users(s.ctx)
	if err != nil {
		return err
	}
	sortBy(r, us, map[string]func(a, b api.User) int{
		"email": by(func(u api.User) string { return strings.ToLower(u.Email) }),
		"role":  by(func(u api.User) int { return u.Role.Rank() }),
	})
	c.render(w, r, s, http.StatusOK, "users", "Users and roles", usersData{Users: us,
		Roles: []api.Role{api.RoleReader, api.RoleContributor, api.RoleAdministrator}})
	return nil
}

// addUser adds a user and shows its token on this answer alone (it is never shown again).
func (c *Console) addUser(w http.ResponseWriter, r *http.Request, s *request) error {
	res, err := s.api.AddUser(s.ctx, api.AddUserRequest{Email: strings.TrimSpace(r.PostFormValue("email")), Role: api.Role(r.PostFormValue("role")),
		ExpiresIn: strings.TrimSpace(r.PostFormValue("expires_in"))})
	if err != nil {
		return err
	}
	us, err := s.api.Users(s.ctx)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, s, http.StatusOK, "users", "Users and roles", usersData{Users: us, NewToken: res.Token, NewUser: res.User.Email,
		Roles: []api.Role{api.RoleReader, api.RoleContributor, api.RoleAdministrator}})
	return nil
}

func (c *Console) removeUser(w http.ResponseWriter, r *http.Request, s *request) error {
	u, err := s.api.RemoveUser(s.ctx, r.PathValue("user"))
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/users", "User "+u.Email+" removed; their tokens no longer work.")
}
