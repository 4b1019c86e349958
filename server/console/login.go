package console

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/client"
)

// loginPage shows the sign-in form, with a CSRF token that is also set as a cookie (the form
// has no session yet to hold it).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	// A browser that loads the form twice (two tabs, a request of its own in between) keeps
	// one token, so that either form works.
	tok := randomToken()
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) == len(tok) {
		tok = ck.Value
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: 600})
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, nil, status, "login", "Sign in", map[string]any{"CSRF": tok, "Error": msg})
}

// login checks the token with the API and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := sameOrigin(r); err != nil {
		c.refuse(w, err.Error())
		return
	}
	ck, err := r.Cookie(loginCookie)
	form := r.PostFormValue(csrfField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		c.refuse(w, "this sign-in form is stale or did not come from the console: reload the page and try again")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" || len(token) > 400 {
		c.showLogin(w, r, http.StatusUnauthorized, "Give an API token (rampart login or rampart token create makes one).")
		return
	}
	cl, err := client.NewWithHTTPClient("https://console.invalid", token, &http.Client{Transport: inProcess{c.api}})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	who, err := cl.Whoami(r.Context())
	if err != nil {
		c.showLogin(w, r, http.StatusUnauthorized, "This token is not valid: "+err.Error())
		return
	}
	if who.TenantID == "" {
		c.showLogin(w, r, http.StatusForbidden, "This is an operator token; the console is for a tenant's users: sign in with a tenant user's token.")
		return
	}
	clearCookie(w, loginCookie)
	c.sessions.start(w, token, who)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *request) error {
	c.sessions.drop(s.sess)
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
