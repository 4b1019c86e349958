// Package console provides Rampart's web console: server-rendered pages, served by `rampart
// server` at `/` on the same origin as the API, for reading the fleet and making the changes the
// CLI makes.
//
// The console is a client of the same rules. Every page calls the management API in the same
// process, through [client.Client], with the signed-in user's own API token: authentication,
// the role each change needs, tenancy (another tenant's object is 404) and the audit entry of a
// change are the API's, never the console's own. The console adds only what a browser needs:
// a session, CSRF protection and a strict Content-Security-Policy.
//
// # Sessions
//
// A user signs in with an API token. The console keeps the token in memory, in this replica, and
// gives the browser a random session ID in a cookie that is HttpOnly, Secure and
// SameSite=Strict, with the __Host- prefix. Every POST must carry the session's CSRF token and,
// when the browser sends one, an Origin of this service.
//
// # Assets
//
// Templates, the style sheet and the one script (which shows times in the user's zone) are
// embedded in the binary; nothing is fetched from elsewhere.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a [Console].
type Config struct {
	API    http.Handler // the service's handler of /api/v1
	Logger *slog.Logger // may be nil
	Now    func() time.Time
}

// Console serves the web console.
type Console struct {
	api      http.Handler
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New returns the console over the API handler.
func New(cfg Config) *Console {
	c := &Console{api: cfg.API, log: cfg.Logger, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.sessions = newSessions(c.now)
	c.pages = parsePages()
	c.mux = http.NewServeMux()
	c.routes()
	return c
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	c.mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.Handle("POST /logout", c.change(c.logout))
	c.mux.Handle("GET /{$}", c.read(c.overview))
	c.mux.Handle("GET /products", c.read(c.products))
	c.mux.Handle("POST /products", c.change(c.createProduct))
	c.mux.Handle("GET /products/{product}", c.read(c.product))
	c.mux.Handle("POST /products/{product}/device-groups", c.change(c.createGroup))
	c.mux.Handle("POST /device-groups/{group}", c.change(c.updateGroup))
	c.mux.Handle("GET /devices", c.read(c.devices))
	c.mux.Handle("POST /devices/claim", c.change(c.claimDevice))
	c.mux.Handle("GET /devices/{device}", c.read(c.device))
	c.mux.Handle("GET /devices/{device}/revoke", c.read(c.confirmRevoke))
	c.mux.Handle("POST /devices/{device}/revoke", c.change(c.revokeDevice))
	c.mux.Handle("GET /images", c.read(c.images))
	c.mux.Handle("GET /deployments", c.read(c.deployments))
	c.mux.Handle("POST /deployments", c.change(c.createDeployment))
	c.mux.Handle("GET /errors", c.read(c.errorSummary))
	c.mux.Handle("GET /errors/events", c.read(c.errorEvents))
	c.mux.Handle("GET /errors.csv", c.read(c.errorCSV))
	c.mux.Handle("GET /audit", c.read(c.audit))
	c.mux.Handle("GET /audit/verify", c.read(c.auditVerify))
	c.mux.Handle("GET /users", c.read(c.users))
	c.mux.Handle("POST /users", c.change(c.addUser))
	c.mux.Handle("POST /users/{user}/remove", c.change(c.removeUser))
	c.mux.Handle("/", c.read(func(w http.ResponseWriter, r *http.Request, s *request) error {
		return errNotFound
	}))
}

// ServeHTTP serves the console, with its security headers on every answer.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// ContentSecurityPolicy allows the console's own scripts, styles and images only: no inline
// script or style, no framing, forms posted only to the console.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// request is one signed-in request: the session and an API client with its token.
type request struct {
	sess *session
	api  *client.Client
	ctx  context.Context
	who  api.Whoami
}

var errNotFound = &client.Error{Status: http.StatusNotFound, Message: "not found"}

// pageFunc serves a page of a signed-in user.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *request) error

// read serves a page that changes nothing: it needs a session.
func (c *Console) read(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.signedIn(w, r)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// change serves a POST: it needs a session, the session's CSRF token and a same-origin request.
func (c *Console) change(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := sameOrigin(r); err != nil {
			c.refuse(w, err.Error())
			return
		}
		s, ok := c.signedIn(w, r)
		if !ok {
			return
		}
		if !s.sess.checkCSRF(r.PostFormValue(csrfField)) {
			c.refuse(w, "this form is stale or did not come from the console: reload the page and try again")
			return
		}
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

func (c *Console) refuse(w http.ResponseWriter, msg string) {
	http.Error(w, msg, http.StatusForbidden)
}

// sameOrigin refuses a request whose Origin (sent by browsers on every POST) or Sec-Fetch-Site
// names another site.
func sameOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
		return errors.New("cross-origin request refused")
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return errors.New("cross-site request refused")
	}
	return nil
}

// signedIn finds the request's session, or sends the browser to sign in.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request) (*request, bool) {
	sess := c.sessions.get(r)
	if sess == nil {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		} else {
			http.Error(w, "not signed in: sign in again", http.StatusUnauthorized)
		}
		return nil, false
	}
	cl, err := client.NewWithHTTPClient("https://console.invalid", sess.token, &http.Client{Transport: inProcess{c.api}})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	ctx := context.WithValue(r.Context(), remoteKey{}, r.RemoteAddr)
	return &request{sess: sess, api: cl, ctx: ctx, who: sess.who}, true
}

// fail renders an error page: the API's status and message (which it made safe to show).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *request, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var ce *client.Error
	if errors.As(err, &ce) {
		status, msg = ce.Status, ce.Message
		if status == http.StatusUnauthorized {
			// The token was revoked or expired since sign-in.
			c.sessions.drop(s.sess)
		}
	} else {
		c.log.Error("console page failed", "path", r.URL.Path, "err", err)
	}
	title := http.StatusText(status)
	c.render(w, r, s, status, "error", title, map[string]any{"Status": status, "Message": msg})
}
