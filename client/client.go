// Package client is a Go client of Rampart's management API (`/api/v1`). The `rampart` command,
// the fleet simulator and the tests use it; so may anyone who automates a Rampart service.
//
//	c, err := client.New("https://rampart.example:8443", token, caPEM)
//	products, err := c.Products(ctx)
//
// Errors the service returns are [*Error] values carrying the HTTP status and the service's
// message.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// Client talks to one Rampart service with one token. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client of the service at server (an https:// URL) that trusts caPEM (nil for the
// system's roots) and sends token.
func New(server, token string, caPEM []byte) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid server address %q: want https://HOST[:PORT]", server)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the CA certificate file holds no PEM certificate")
		}
		tlsConf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.ResponseHeaderTimeout = RequestTimeout // counted once the request is sent
	// No overall timeout: a request without a body of its own must finish within
	// RequestTimeout (see do); an upload or a download only has to make progress.
	return &Client{base: u, token: token, hc: &http.Client{Transport: tr}}, nil
}

// NewWithHTTPClient returns a client of the service at server that sends its requests with hc
// (its transport decides what the client trusts). The console uses it to call the API in the
// same process.
func NewWithHTTPClient(server, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid server address %q: want https://HOST[:PORT]", server)
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// RequestTimeout bounds a request that sends and receives JSON only. StallTimeout bounds how
// long an upload or a download may go without moving a byte: a 256 MiB image over a slow link
// takes as long as it takes, a stalled one fails.
const (
	RequestTimeout = 2 * time.Minute
	StallTimeout   = 2 * time.Minute
)

// stallWatch cancels a context when touch was not called for StallTimeout.
type stallWatch struct {
	timer *time.Timer
}

func watchStall(ctx context.Context) (context.Context, *stallWatch, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stallWatch{timer: time.AfterFunc(StallTimeout, func() {
		cancel(fmt.Errorf("no progress for %s", StallTimeout))
	})}
	return ctx, w, func() { w.timer.Stop(); cancel(nil) }
}

func (w *stallWatch) touch() { w.timer.Reset(StallTimeout) }

// progressReader touches a stallWatch on every read that moves bytes.
type progressReader struct {
	r io.Reader
	w *stallWatch
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.w.touch()
	}
	return n, err
}

// Error is an error answer of the service.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err is a 404 from the service.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// maxResponse bounds what the client reads of an answer.
const maxResponse = 64 << 20

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.base.JoinPath(path)
	u.RawQuery = query.Encode()
	var body io.Reader
	contentType := "application/json"
	switch in := in.(type) {
	case nil:
	case upload:
		var watch *stallWatch
		var stop context.CancelFunc
		ctx, watch, stop = watchStall(ctx)
		defer stop()
		body, contentType = progressReader{in.r, watch}, "application/octet-stream"
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	if _, ok := in.(upload); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if up, ok := in.(upload); ok {
		req.ContentLength = up.size
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Rampart service: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e api.Error
		if strictjson.DecodeAnswer(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*rawBody); ok {
		*raw = data
		return nil
	}
	if err := strictjson.DecodeAnswer(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func esc[T ~string](s T) string { return url.PathEscape(string(s)) }

// Whoami describes the client's token.
func (c *Client) Whoami(ctx context.Context) (w api.Whoami, err error) {
	err = c.do(ctx, "GET", "/api/v1/whoami", nil, nil, &w)
	return w, err
}

// CreateTenant makes a tenant and its first Administrator (operator only).
func (c *Client) CreateTenant(ctx context.Context, req api.CreateTenantRequest) (r api.CreateTenantResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/tenants", nil, req, &r)
	return r, err
}

// Tenants lists the tenants the token may see: all for the operator, else its own.
func (c *Client) Tenants(ctx context.Context) (ts []api.Tenant, err error) {
	err = c.do(ctx, "GET", "/api/v1/tenants", nil, nil, &ts)
	return ts, err
}

// Tenant returns a tenant by ID or name.
func (c *Client) Tenant(ctx context.Context, ref string) (t api.Tenant, err error) {
	err = c.do(ctx, "GET", "/api/v1/tenants/"+esc(ref), nil, nil, &t)
	return t, err
}

// AddUser adds a user to the token's tenant and returns its token.
func (c *Client) AddUser(ctx context.Context, req api.AddUserRequest) (r api.AddUserResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/users", nil, req, &r)
	return r, err
}

// Users lists the tenant's users.
func (c *Client) Users(ctx context.Context) (us []api.User, err error) {
	err = c.do(ctx, "GET", "/api/v1/users", nil, nil, &us)
	return us, err
}

// RemoveUser removes a user (by ID or email) and revokes its tokens.
func (c *Client) RemoveUser(ctx context.Context, ref string) (u api.User, err error) {
	err = c.do(ctx, "DELETE", "/api/v1/users/"+esc(ref), nil, nil, &u)
	return u, err
}

// CreateProduct makes a product with its five default device groups.
func (c *Client) CreateProduct(ctx context.Context, req api.CreateProductRequest) (p api.Product, err error) {
	err = c.do(ctx, "POST", "/api/v1/products", nil, req, &p)
	return p, err
}

// Products lists the tenant's products.
func (c *Client) Products(ctx context.Context) (ps []api.Product, err error) {
	err = c.do(ctx, "GET", "/api/v1/products", nil, nil, &ps)
	return ps, err
}

// Product returns a product by ID or name.
func (c *Client) Product(ctx context.Context, ref string) (p api.Product, err error) {
	err = c.do(ctx, "GET", "/api/v1/products/"+esc(ref), nil, nil, &p)
	return p, err
}

// DeleteProduct deletes a product (by ID or name) and its device groups, which must be empty.
func (c *Client) DeleteProduct(ctx context.Context, ref string) (p api.Product, err error) {
	err = c.do(ctx, "DELETE", "/api/v1/products/"+esc(ref), nil, nil, &p)
	return p, err
}

// Groups lists device groups, of one product (ID or name) if product is not empty, and with one
// name if name is not empty.
func (c *Client) Groups(ctx context.Context, product, name string) (gs []api.DeviceGroup, err error) {
	q := url.Values{}
	if product != "" {
		q.Set("product", product)
	}
	if name != "" {
		q.Set("name", name)
	}
	err = c.do(ctx, "GET", "/api/v1/device-groups", q, nil, &gs)
	return gs, err
}

// Group returns a device group by ID, or by `Product/Group` name.
func (c *Client) Group(ctx context.Context, ref string) (api.DeviceGroup, error) {
	product, name, ok := strings.Cut(ref, "/")
	if !ok {
		var g api.DeviceGroup
		err := c.do(ctx, "GET", "/api/v1/device-groups/"+esc(ref), nil, nil, &g)
		return g, err
	}
	gs, err := c.Groups(ctx, product, name)
	if err != nil {
		return api.DeviceGroup{}, err
	}
	if len(gs) != 1 {
		return api.DeviceGroup{}, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("device group %q not found", ref)}
	}
	return gs[0], nil
}

// CreateGroup makes a device group.
func (c *Client) CreateGroup(ctx context.Context, req api.CreateDeviceGroupRequest) (g api.DeviceGroup, err error) {
	err = c.do(ctx, "POST", "/api/v1/device-groups", nil, req, &g)
	return g, err
}

// UpdateGroup changes a device group's name or settings.
func (c *Client) UpdateGroup(ctx context.Context, id ident.GroupID, req api.UpdateDeviceGroupRequest) (g api.DeviceGroup, err error) {
	err = c.do(ctx, "PATCH", "/api/v1/device-groups/"+esc(id), nil, req, &g)
	return g, err
}

// NotifyGroup asks the devices of a group that keep their notification channel open to check
// in now.
func (c *Client) NotifyGroup(ctx context.Context, id ident.GroupID) (n api.GroupNotice, err error) {
	err = c.do(ctx, "POST", "/api/v1/device-groups/"+esc(id)+"/notify", nil, struct{}{}, &n)
	return n, err
}

// DeleteGroup deletes an empty device group.
func (c *Client) DeleteGroup(ctx context.Context, id ident.GroupID) (g api.DeviceGroup, err error) {
	err = c.do(ctx, "DELETE", "/api/v1/device-groups/"+esc(id), nil, nil, &g)
	return g, err
}

// ClaimDevices claims devices into the tenant, all or none.
func (c *Client) ClaimDevices(ctx context.Context, ids []string) (r api.ClaimDevicesResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/claim", nil, api.ClaimDevicesRequest{DeviceIDs: ids}, &r)
	return r, err
}

// ClaimDevicesWithCodes claims devices, each with its claim code (or none, where the tenant
// allows claiming by ID alone).
func (c *Client) ClaimDevicesWithCodes(ctx context.Context, devices []api.ClaimDevice) (r api.ClaimDevicesResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/claim", nil, api.ClaimDevicesRequest{Devices: devices}, &r)
	return r, err
}

// ClaimDevicesIntoGroup claims devices, each with its claim code (or none, where the tenant
// allows claiming by ID alone), and puts them in one of the tenant's device groups, in one
// transaction: all or none.
func (c *Client) ClaimDevicesIntoGroup(ctx context.Context, group ident.GroupID, devices []api.ClaimDevice) (r api.ClaimDevicesResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/claim", nil, api.ClaimDevicesRequest{Devices: devices, DeviceGroupID: group}, &r)
	return r, err
}

// ReleaseDevice takes a device out of the tenant: its certificates are revoked and it can be
// claimed again with its claim code.
func (c *Client) ReleaseDevice(ctx context.Context, id string) (d api.Device, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/"+esc(id)+"/release", nil, nil, &d)
	return d, err
}

// DeviceQuery selects a page of devices. Product and Group are IDs (or a product name).
// Attestation is pass, fail or never; Runtime a runtime's SHA-512; SeenSince and NotSeenSince
// what `since` reads in reports (7d, 24h, a time); empty fields do not filter.
type DeviceQuery struct {
	Product      string
	Group        ident.GroupID
	Attestation  string
	Runtime      string
	SeenSince    string
	NotSeenSince string
	Limit        int
	PageToken    string
}

// Devices returns one page of the tenant's devices.
func (c *Client) Devices(ctx context.Context, q DeviceQuery) (l api.DeviceList, err error) {
	v := url.Values{}
	for k, s := range map[string]string{"product": q.Product, "device_group": string(q.Group), "page_token": q.PageToken,
		"attestation": q.Attestation, "runtime": q.Runtime, "seen_since": q.SeenSince, "not_seen_since": q.NotSeenSince} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	err = c.do(ctx, "GET", "/api/v1/devices", v, nil, &l)
	return l, err
}

// Device returns a device.
func (c *Client) Device(ctx context.Context, id string) (d api.Device, err error) {
	err = c.do(ctx, "GET", "/api/v1/devices/"+esc(id), nil, nil, &d)
	return d, err
}

// UpdateDevice changes a device's group.
func (c *Client) UpdateDevice(ctx context.Context, id string, req api.UpdateDeviceRequest) (d api.Device, err error) {
	err = c.do(ctx, "PATCH", "/api/v1/devices/"+esc(id), nil, req, &d)
	return d, err
}

// RevokeDevice revokes a device for good.
func (c *Client) RevokeDevice(ctx context.Context, id string) (d api.Device, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/"+esc(id)+"/revoke", nil, nil, &d)
	return d, err
}

// Audit returns one page of the tenant's audit log, oldest first, after pageToken ("" from the start).
func (c *Client) Audit(ctx context.Context, pageToken string, limit int) (l api.AuditList, err error) {
	v := url.Values{}
	if pageToken != "" {
		v.Set("page_token", pageToken)
	}
	if limit > 0 {
		v.Set("limit", fmt.Sprint(limit))
	}
	err = c.do(ctx, "GET", "/api/v1/audit", v, nil, &l)
	return l, err
}

// CAs lists the tenant's device CAs, newest first.
func (c *Client) CAs(ctx context.Context) (cas []api.CA, err error) {
	err = c.do(ctx, "GET", "/api/v1/ca", nil, nil, &cas)
	return cas, err
}

// CABundle returns the PEM of every device CA of the tenant still trusted.
func (c *Client) CABundle(ctx context.Context) ([]byte, error) {
	var b rawBody
	err := c.do(ctx, "GET", "/api/v1/ca/bundle", nil, nil, &b)
	return b, err
}

// CRL returns the tenant's certificate revocation lists: with a CA ID, that CA's CRL in DER;
// with "", the CRL of every CA still trusted, in PEM.
func (c *Client) CRL(ctx context.Context, caID string) ([]byte, error) {
	var q url.Values
	if caID != "" {
		q = url.Values{"ca": {caID}}
	}
	var b rawBody
	err := c.do(ctx, "GET", "/api/v1/ca/crl", q, nil, &b)
	return b, err
}

// RotateCA makes a new active device CA.
func (c *Client) RotateCA(ctx context.Context) (ca api.CA, err error) {
	err = c.do(ctx, "POST", "/api/v1/ca/rotate", nil, nil, &ca)
	return ca, err
}

// PublishRelease publishes a runtime release of size bytes read from r (operator only).
func (c *Client) PublishRelease(ctx context.Context, feed, version string, r io.Reader, size int64) (rel api.RuntimeRelease, err error) {
	q := url.Values{"feed": {feed}, "version": {version}}
	err = c.do(ctx, "POST", "/api/v1/os/releases", q, upload{r, size}, &rel)
	return rel, err
}

// WithdrawRelease withdraws a runtime release (operator only).
func (c *Client) WithdrawRelease(ctx context.Context, feed, version string) (rel api.RuntimeRelease, err error) {
	err = c.do(ctx, "POST", "/api/v1/os/releases/withdraw", nil, api.WithdrawReleaseRequest{Feed: feed, Version: version}, &rel)
	return rel, err
}

// Releases lists runtime releases of a feed ("" for all), newest first.
func (c *Client) Releases(ctx context.Context, feed string) (rels []api.RuntimeRelease, err error) {
	q := url.Values{}
	if feed != "" {
		q.Set("feed", feed)
	}
	err = c.do(ctx, "GET", "/api/v1/os/releases", q, nil, &rels)
	return rels, err
}

// rawBody receives an answer's bytes as they are.
type rawBody []byte

// upload sends a stream as the request body instead of JSON.
type upload struct {
	r    io.Reader
	size int64
}

// AddImage uploads an image package of size bytes read from r. The service re-signs it with the
// tenant's image-signing key. Uploading the same package again returns the stored image;
// another package under a stored image ID is refused (409).
func (c *Client) AddImage(ctx context.Context, r io.Reader, size int64) (im api.Image, err error) {
	err = c.do(ctx, "POST", "/api/v1/images", nil, upload{r, size}, &im)
	return im, err
}

// ImageQuery selects images; empty fields do not filter.
type ImageQuery struct {
	ComponentID ident.ComponentID
	Type        string
}

// Images lists the tenant's images, newest first.
func (c *Client) Images(ctx context.Context, q ImageQuery) (ims []api.Image, err error) {
	v := url.Values{}
	if q.ComponentID != "" {
		v.Set("component", string(q.ComponentID))
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	err = c.do(ctx, "GET", "/api/v1/images", v, nil, &ims)
	return ims, err
}

// Image returns an image.
func (c *Client) Image(ctx context.Context, id ident.ImageID) (im api.Image, err error) {
	err = c.do(ctx, "GET", "/api/v1/images/"+esc(id), nil, nil, &im)
	return im, err
}

// DownloadImage writes the package of an image, as the service stored it (re-signed), to w,
// passing it through wrap (for progress; nil for none) as it arrives. It returns the image and
// an error if the bytes written are not the image's size and SHA-256; the caller then throws
// away what was written.
func (c *Client) DownloadImage(ctx context.Context, id ident.ImageID, w io.Writer, wrap func(r io.Reader, size int64) io.Reader) (api.Image, error) {
	im, err := c.Image(ctx, id)
	if err != nil {
		return im, err
	}
	u := c.base.JoinPath("/api/v1/images/" + esc(id) + "/package")
	ctx, watch, stop := watchStall(ctx)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return im, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return im, fmt.Errorf("cannot reach the Rampart service: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if strictjson.DecodeAnswer(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("download image %s: %s", id, resp.Status)
		}
		return im, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	var body io.Reader = progressReader{io.LimitReader(resp.Body, im.Size+1), watch}
	if wrap != nil {
		body = wrap(body, im.Size)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), body)
	if err != nil {
		return im, fmt.Errorf("download image %s: %w", id, unwrapURLError(err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != im.Size || got != im.SHA256 {
		return im, fmt.Errorf("download image %s: got %d bytes with SHA-256 %s, want %d bytes with %s; try again",
			id, n, got, im.Size, im.SHA256)
	}
	return im, nil
}

// CreateDeployment deploys images to a device group (Administrator only).
func (c *Client) CreateDeployment(ctx context.Context, req api.CreateDeploymentRequest) (d api.Deployment, err error) {
	err = c.do(ctx, "POST", "/api/v1/deployments", nil, req, &d)
	return d, err
}

// Deployments lists deployments, of one device group (by ID) if groupID is not empty, newest
// first.
func (c *Client) Deployments(ctx context.Context, groupID ident.GroupID) (ds []api.Deployment, err error) {
	v := url.Values{}
	if groupID != "" {
		v.Set("device_group", string(groupID))
	}
	err = c.do(ctx, "GET", "/api/v1/deployments", v, nil, &ds)
	return ds, err
}

// Deployment returns a deployment.
func (c *Client) Deployment(ctx context.Context, id ident.DeploymentID) (api.Deployment, error) {
	d, err := c.DeploymentStatus(ctx, id)
	return d.Deployment, err
}

// DeploymentStatus returns a deployment with its waves' progress.
func (c *Client) DeploymentStatus(ctx context.Context, id ident.DeploymentID) (d api.DeploymentStatus, err error) {
	err = c.do(ctx, "GET", "/api/v1/deployments/"+esc(id), nil, nil, &d)
	return d, err
}

// ControlDeployment pauses, resumes, cancels or promotes a deployment's rollout
// (api.RolloutPause, …; Administrator only).
func (c *Client) ControlDeployment(ctx context.Context, id ident.DeploymentID, action string) (d api.Deployment, err error) {
	err = c.do(ctx, "POST", "/api/v1/deployments/"+esc(id)+"/"+esc(action), nil, nil, &d)
	return d, err
}

// EnableDevelopment enables development on a device (Administrator only): the service signs a
// development capability naming the developer public keys (PEM) whose images the device accepts.
func (c *Client) EnableDevelopment(ctx context.Context, id string, developerKeys []string) (d api.Device, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/"+esc(id)+"/enable-development", nil,
		api.EnableDevelopmentRequest{DeveloperKeys: developerKeys}, &d)
	return d, err
}

// DisableDevelopment disables development on a device and deletes its capability (Administrator
// only).
func (c *Client) DisableDevelopment(ctx context.Context, id string) (d api.Device, err error) {
	err = c.do(ctx, "POST", "/api/v1/devices/"+esc(id)+"/disable-development", nil, nil, &d)
	return d, err
}

// ReportQuery selects error events. Since is a duration back from now (7d, 24h), an RFC 3339
// time or a date; Group is a device group ID and Device a device ID; empty fields do not filter.
type ReportQuery struct {
	Since     string
	Group     ident.GroupID
	Device    string
	Limit     int
	PageToken string
}

func (q ReportQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"since": q.Since, "device_group": string(q.Group), "device": q.Device, "page_token": q.PageToken} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	return v
}

// ErrorEvents returns one page of the tenant's error events, newest first.
func (c *Client) ErrorEvents(ctx context.Context, q ReportQuery) (l api.ErrorEventList, err error) {
	err = c.do(ctx, "GET", "/api/v1/reports/errors", q.values(), nil, &l)
	return l, err
}

// ErrorSummary returns the tenant's error events grouped by signature, most frequent first
// (q.Device and q.PageToken are not used).
func (c *Client) ErrorSummary(ctx context.Context, q ReportQuery) (l api.ErrorSummaryList, err error) {
	q.Device, q.PageToken = "", ""
	err = c.do(ctx, "GET", "/api/v1/reports/summary", q.values(), nil, &l)
	return l, err
}

// Fleet counts the tenant's devices by device group, last attestation and runtime.
func (c *Client) Fleet(ctx context.Context) (f api.FleetSummary, err error) {
	err = c.do(ctx, "GET", "/api/v1/reports/fleet", nil, nil, &f)
	return f, err
}
