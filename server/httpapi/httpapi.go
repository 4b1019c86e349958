// Package httpapi provides the HTTP layer of the security service: the management API
// (`/api/v1`) and the device API, in one route table: routing, bearer-token and device
// certificate authentication, the role each route requires, strict request decoding, and the
// mapping of errors to statuses that are safe to show.
//
// It is thin: a handler decodes, authorises, calls the package that owns the rule (server/auth
// for tokens, server/deploy for deployments, server/report for error events, server/tufrepo
// for the update repositories, server/store for plain reads and writes) and encodes. What is
// HTTP stays here: statuses, headers, Range answers (the device TUF route serves what
// tufrepo.Open finds).
//
// # Requests
//
// Each route runs the same steps, in order: authenticate the token, check the route's access
// level, decode the body (bounded, strict), validate, act inside one store transaction that also
// appends the audit entry, and render JSON. An error at any step becomes a 4xx or 5xx with a body
// `{"error": "…"}`; internal error text is logged, never sent.
//
// # Tenancy
//
// Every handler reads and writes through the caller's tenant ID, so an object of another tenant
// is not found (404), never forbidden (403).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/deploy"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/logring"
	"github.com/rampart-iot/rampart/server/netlimit"
	"github.com/rampart-iot/rampart/server/notify"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// MaxBodySize bounds every request body unless a route says otherwise.
const MaxBodySize = 1 << 20

// access is what a route requires of the caller's token.
type access int

const (
	accessNone          access = iota // invalid: every route must say
	accessAnyToken                    // any valid token; the handler scopes what it shows
	accessReader                      // a tenant user with at least the Reader role
	accessContributor                 // … at least Contributor
	accessAdministrator               // … Administrator
	accessOperator                    // the operator
	accessOpen                        // anyone: no token, limited per source (the device API's nonce and attest)
	accessDevice                      // mutual TLS with a current certificate of a claimed, unrevoked device
)

func (a access) role() api.Role {
	switch a {
	case accessReader:
		return api.RoleReader
	case accessContributor:
		return api.RoleContributor
	case accessAdministrator:
		return api.RoleAdministrator
	}
	return ""
}

// Route is one endpoint of the API.
type Route struct {
	Method  string
	Path    string // net/http pattern path, with {wildcards}
	access  access
	handler handlerFunc
}

// Access names the least a caller needs: "token", "Reader", "Contributor", "Administrator",
// "operator", "open" (nothing) or "device-certificate".
func (r Route) Access() string {
	switch r.access {
	case accessAnyToken:
		return "token"
	case accessOperator:
		return "operator"
	case accessOpen:
		return "open"
	case accessDevice:
		return "device-certificate"
	}
	return string(r.access.role())
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// API serves the management API.
type API struct {
	store           *store.Store
	ca              *pki.Authority
	attest          *attest.Service
	blobs           *blob.Store
	keys            *keyring.Keyring
	tuf             *tufrepo.Service
	deploy          *deploy.Service
	log             *slog.Logger
	now             func() time.Time
	routes          []Route
	metrics         *metrics
	events          *report.Limiter   // events per device, in this replica
	reports         *report.Limiter   // failed update reports per device, in this replica
	open            *netlimit.Limiter // requests to open routes per source, in this replica
	certs           *certCache        // device certificates verified, in this replica
	uploadStall     time.Duration     // see Config.UploadStall
	gather          prometheus.Gatherer
	logs            *logring.Ring // recent log records by tenant; may be nil
	notices         *notify.Hub   // devices waiting on their notification channel, in this replica
	notifyKeepAlive time.Duration // see Config.NotifyKeepAlive

	maxImage int64 // the largest image package accepted: api.MaxImageSize, less in tests
}

// Config configures an [API].
type Config struct {
	Store    *store.Store
	CA       *pki.Authority // tenant CAs: device certificates
	Blobs    *blob.Store    // runtime releases and image packages
	Keys     *keyring.Keyring
	TUF      *tufrepo.Service
	Logger   *slog.Logger
	Registry prometheus.Registerer // may be nil
	Gatherer prometheus.Gatherer   // what GET /metrics shows the operator; may be nil
	Now      func() time.Time      // may be nil: time.Now
	Logs     *logring.Ring         // the ring Logger's handler writes to, for support data; may be nil

	// OpenRate and OpenBurst limit the requests one source may make to the open routes (nonce,
	// attest) per second; 0 means DefaultOpenRate and DefaultOpenBurst.
	OpenRate  float64
	OpenBurst int
	// UploadStall is how long an upload may go without delivering another uploadChunk bytes
	// before it is dropped; 0 means DefaultUploadStall.
	UploadStall time.Duration
	// NotifyKeepAlive is how often a device's notification stream carries a keep-alive line;
	// 0 means api.NotifyKeepAlive.
	NotifyKeepAlive time.Duration
}

// How many requests a second one source may make to the open routes, and in what bursts. A
// device asks for one nonce and attests once a day, so even thousands of devices behind one
// address stay far below.
const (
	DefaultOpenRate  = 5
	DefaultOpenBurst = 50
)

// New returns the API over a store.
func New(cfg Config) *API {
	a := &API{store: cfg.Store, ca: cfg.CA, blobs: cfg.Blobs, keys: cfg.Keys, tuf: cfg.TUF, log: cfg.Logger, now: cfg.Now, metrics: newMetrics(cfg.Registry),
		maxImage: api.MaxImageSize, events: report.NewLimiter(report.DefaultRate, report.DefaultBurst),
		reports: report.NewLimiter(failedReportRate, failedReportBurst), certs: newCertCache()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.OpenRate <= 0 {
		cfg.OpenRate = DefaultOpenRate
	}
	if cfg.OpenBurst <= 0 {
		cfg.OpenBurst = DefaultOpenBurst
	}
	a.open = netlimit.NewLimiter(cfg.OpenRate, cfg.OpenBurst)
	a.gather = cfg.Gatherer
	a.logs = cfg.Logs
	a.uploadStall = cfg.UploadStall
	if a.uploadStall <= 0 {
		a.uploadStall = DefaultUploadStall
	}
	a.attest = attest.New(a.store, a.ca, a.log, a.now)
	a.deploy = deploy.New(a.store, a.tuf)
	a.notices = notify.New(a.store, a.log, a.now)
	a.notifyKeepAlive = cfg.NotifyKeepAlive
	if a.notifyKeepAlive <= 0 {
		a.notifyKeepAlive = api.NotifyKeepAlive
	}
	a.routes = a.table()
	return a
}

// Notices returns the hub of devices waiting on their notification channel: the server runs
// its [notify.Hub.Run] so that notices from other replicas reach them.
func (a *API) Notices() *notify.Hub { return a.notices }

// Routes lists every route the API serves.
func (a *API) Routes() []Route { return a.routes }

// Register adds every route of the management API and the device API to mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes {
		if rt.access == accessNone || rt.handler == nil {
			panic("httpapi: route " + rt.Method + " " + rt.Path + " declares no access level")
		}
		mux.Handle(rt.Method+" "+rt.Path, a.serve(rt))
	}
	for _, prefix := range []string{"/api/", "/device/"} {
		mux.Handle(prefix, a.serve(Route{Method: "", Path: prefix, access: accessOpen, handler: noRoute}))
	}
}

// noRoute answers a path no route matches. Its metrics label is the prefix, never the path.
func noRoute(w http.ResponseWriter, r *http.Request, c *call) error {
	return errorf(http.StatusNotFound, "no such API route: %s %s", clip(r.Method), clip(r.URL.Path))
}

// call is the state of one request after authentication.
type call struct {
	api    *API
	user   api.User
	token  store.Token // the token the caller authenticated with
	source string
	now    time.Time
	device api.Device // on device-certificate routes: the device as the store knows it
}

// audit appends an entry for the caller's tenant in tx.
func (c *call) audit(tx *store.Tx, tenantID ident.TenantID, action, target, detail string) error {
	_, err := tx.AppendAudit(c.auditEntry(tenantID, action, target, detail))
	return err
}

// auditEntry is the audit entry of the call's action, to append.
func (c *call) auditEntry(tenantID ident.TenantID, action, target, detail string) api.AuditEntry {
	return api.AuditEntry{
		TenantID: tenantID, Time: c.now, Actor: c.user.Email, Action: action,
		Target: target, Source: c.source, Detail: detail,
	}
}

// Body deadlines: how long a request may take to send its body. Uploads are bounded by
// progress instead (see [progressBody]).
const (
	deviceBodyTimeout     = 10 * time.Second
	managementBodyTimeout = 30 * time.Second
)

func (a *API) serve(rt Route) http.Handler {
	label := rt.Method + " " + rt.Path // the route's pattern: a bounded set, no IDs
	if rt.Method == "" {
		label = "unmatched " + rt.Path
	}
	timeout := managementBodyTimeout
	if rt.access == accessOpen || rt.access == accessDevice {
		timeout = deviceBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		SecurityHeaders(w.Header())
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		// Errors mean the connection cannot take deadlines (HTTP/1 over a test recorder).
		_ = http.NewResponseController(sw).SetReadDeadline(start.Add(timeout))
		var tenant ident.TenantID
		err := a.authorise(sw, r, rt, func(c *call) error {
			tenant = c.user.TenantID
			if tenant == "" {
				tenant = c.device.TenantID
			}
			return rt.handler(sw, r, c)
		})
		if err != nil {
			status, msg := a.errorStatus(r, err, tenant)
			writeError(sw, status, msg)
		}
		if tenant != "" {
			// Kept in the tenant's ring for support data (see logring); logged at debug level.
			a.log.Debug("request", "route", label, "status", sw.status, "tenant", tenant, "source", sourceAddr(r))
		}
		a.metrics.observe(label, sw.status, time.Since(start))
	})
}

// SecurityHeaders sets what every response of the service carries: HSTS (the service is HTTPS
// only) and nosniff (a JSON error is never rendered as HTML).
func SecurityHeaders(h http.Header) {
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (a *API) authorise(w http.ResponseWriter, r *http.Request, rt Route, next func(*call) error) error {
	switch rt.access {
	case accessOpen:
		if ok, wait := a.open.Allow(netlimit.Source(r.RemoteAddr), a.now()); !ok {
			a.metrics.limited.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(max(1, wait.Round(time.Second)/time.Second))))
			return errorf(http.StatusTooManyRequests, "too many requests from your address; retry later")
		}
		return next(&call{api: a, source: sourceAddr(r), now: a.now().UTC().Truncate(time.Microsecond)})
	case accessDevice:
		d, err := a.deviceAuth(r)
		if err != nil {
			return err
		}
		return next(&call{api: a, source: sourceAddr(r), now: a.now().UTC().Truncate(time.Microsecond), device: d})
	}
	user, token, err := a.authenticate(r)
	if err != nil {
		return err
	}
	switch rt.access {
	case accessAnyToken:
	case accessOperator:
		if !user.Operator {
			return errorf(http.StatusForbidden, "only the operator may do this")
		}
	default:
		if user.TenantID == "" {
			return errorf(http.StatusForbidden, "this is an operator token without a tenant; use a tenant user's token")
		}
		if user.Role.Rank() < rt.access.role().Rank() {
			return errorf(http.StatusForbidden, "this needs the %s role; you are %s", rt.access.role(), user.Role)
		}
	}
	return next(&call{api: a, user: user, token: token, source: sourceAddr(r), now: a.now().UTC().Truncate(time.Microsecond)})
}

// sourceAddr is the caller's network address, for the audit log.
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) authenticate(r *http.Request) (api.User, store.Token, error) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix || len(h) > 512 {
		return api.User{}, store.Token{}, errorf(http.StatusUnauthorized, "missing or malformed bearer token")
	}
	t, user, err := auth.Authenticate(r.Context(), a.store, h[len(prefix):], a.now())
	if errors.Is(err, auth.ErrUnknown) || errors.Is(err, auth.ErrRevoked) || errors.Is(err, auth.ErrExpired) {
		return api.User{}, store.Token{}, errorf(http.StatusUnauthorized, "%v", err)
	}
	return user, t, err
}

// httpError is an error with a status and a message fit to show the caller.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// errorStatus maps an error to a status and a message safe to show. Store errors carry only
// what the caller sent (names, IDs), so their text is shown; anything else is logged.
func (a *API) errorStatus(r *http.Request, err error, tenant ident.TenantID) (int, string) {
	var he *httpError
	var refused *deploy.Error
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &refused) && refused.Conflict():
		return http.StatusConflict, refused.Error()
	case errors.As(err, &refused):
		return http.StatusBadRequest, refused.Error()
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrAlreadyClaimed), errors.Is(err, store.ErrInUse):
		return http.StatusConflict, err.Error()
	case errors.Is(err, context.Canceled), r.Context().Err() != nil:
		return 499, "request canceled" // the client went away: nothing for the operator to see
	}
	if tenant != "" {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "tenant", tenant)
	} else {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return http.StatusInternalServerError, "internal error"
}

// decode reads a JSON body of at most MaxBodySize bytes into v with [strictjson.Decode]:
// duplicate keys (also keys differing only in case), unknown fields, nesting deeper than
// [strictjson.MaxDepth] and trailing data are refused. The body must be sent as
// application/json; anything else, a missing Content-Type included, is answered 415.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		return decodeError(err)
	}
	if err := strictjson.Decode(data, v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// checkJSONContentType refuses a request body not labelled application/json (a charset
// parameter is allowed if it says UTF-8). A missing label is refused too: a browser may send a
// body without one across origins without asking first, and never one labelled JSON.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, "missing Content-Type: send the body as application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		cs, ok := params["charset"]
		if len(params) == 0 || len(params) == 1 && ok && strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	return errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not supported: send the body as application/json", strconv.QuoteToASCII(clip(ct)))
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", tooBig.Limit)
	}
	if errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "invalid JSON body: empty")
	}
	// encoding/json's messages name fields and types of our own structs, never data.
	return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}

// pageLimit reads ?limit=, bounded by api.MaxPageSize.
func pageLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return api.DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > api.MaxPageSize {
		return 0, errorf(http.StatusBadRequest, "invalid limit %q: want 1 to %d", clip(s), api.MaxPageSize)
	}
	return n, nil
}

func clip[T ~string](s T) string {
	if len(s) > 70 {
		return string(s[:70]) + "…"
	}
	return string(s)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// An upload must deliver uploadChunk bytes every DefaultUploadStall (or Config.UploadStall): a
// large image over a slow link takes as long as it needs, a connection that stops sending is
// dropped.
const (
	DefaultUploadStall = 30 * time.Second
	uploadChunk        = 64 << 10
)

// upload lets a route's body take as long as it keeps making progress (see DefaultUploadStall),
// instead of the fixed body deadline of other routes.
func (a *API) upload(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(a.uploadStall)) == nil {
			r.Body = &progressBody{ReadCloser: r.Body, rc: rc, stall: a.uploadStall}
		}
		return h(w, r, c)
	}
}

// progressBody moves the read deadline on each time another uploadChunk bytes arrived.
type progressBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	since int
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.since += n; b.since >= uploadChunk {
		b.since = 0
		b.rc.SetReadDeadline(time.Now().Add(b.stall))
	}
	return n, err
}
