package httpapi

import (
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/store"
)

// Token routes: a user lists, makes and revokes its own tokens; an Administrator does so for any
// user of its tenant. Another user's token, to anyone else, is not found. The operator, whose
// tenant ID is "", manages its own tokens the same way, and its changes go to its own audit chain.

// lifetime reads an optional token lifetime.
func lifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := api.ParseLifetime(s)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "expires_in: %v", err)
	}
	return d, nil
}

func expiryDetail(t store.Token) string {
	if t.ExpiresAt == nil {
		return ""
	}
	return ", token " + t.ID + " expires " + t.ExpiresAt.Format(time.RFC3339)
}

// tokenOwner returns the user whose tokens a request is about: ref (an ID or email) if given
// and the caller is an Administrator, else the caller. A user of another tenant is not found.
func tokenOwner(tx *store.Tx, c *call, ref string) (api.User, error) {
	if ref == "" || ref == c.user.ID || ref == c.user.Email {
		return c.user, nil
	}
	if c.user.Role != api.RoleAdministrator {
		return api.User{}, errorf(http.StatusForbidden, "only an Administrator may manage another user's tokens")
	}
	u, err := tx.User(c.user.TenantID, ref)
	return u, notFound(err, "user %q not found", clip(ref))
}

func (c *call) tokenInfo(t store.Token, u api.User) api.Token {
	return api.Token{ID: t.ID, UserID: u.ID, Email: u.Email, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Current: t.ID == c.token.ID}
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	var out []api.Token
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		u, err := tokenOwner(tx, c, r.URL.Query().Get("user"))
		if err != nil {
			return err
		}
		ts, err := tx.Tokens(c.user.TenantID, u.ID)
		for _, t := range ts {
			out = append(out, c.tokenInfo(t, u))
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(out))
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	life, err := lifetime(req.ExpiresIn)
	if err != nil {
		return err
	}
	var resp api.CreateTokenResponse
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		u, err := tokenOwner(tx, c, req.User)
		if err != nil {
			return err
		}
		t, secret, err := auth.Mint(tx, u.ID, c.now, life)
		if err != nil {
			return err
		}
		resp = api.CreateTokenResponse{Token: c.tokenInfo(t, u), Secret: secret}
		return c.audit(tx, c.user.TenantID, "token.create", "token/"+t.ID, u.Email+expiryDetail(t))
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("token")
	var info api.Token
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		t, err := tx.TokenByID(c.user.TenantID, id)
		if err != nil {
			return err
		}
		if t.UserID != c.user.ID && c.user.Role != api.RoleAdministrator {
			return store.ErrNotFound // another user's token: not found, as in another tenant
		}
		u, err := tx.User(c.user.TenantID, t.UserID)
		if err != nil {
			return err
		}
		if t.RevokedAt != nil { // revoked already: nothing changes, nothing to audit
			info = c.tokenInfo(t, u)
			return nil
		}
		if t, err = tx.RevokeToken(c.user.TenantID, id, c.now); err != nil {
			return err
		}
		info = c.tokenInfo(t, u)
		return c.audit(tx, c.user.TenantID, "token.revoke", "token/"+t.ID, u.Email)
	})
	if err != nil {
		return notFound(err, "token %q not found; 'rampart token list' shows your tokens' IDs", clip(id))
	}
	return writeJSON(w, http.StatusOK, info)
}
