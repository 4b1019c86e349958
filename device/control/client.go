package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// ErrNotRunning is returned by a [Client] when no stage 1 answers on the socket.
var ErrNotRunning = errors.New("no running device answers on its control socket: is rampart-device run going?")

// MaxAnswer bounds what the client reads of an answer (an app's log is at most
// apphost.MaxLogSize).
const MaxAnswer = 4 << 20

// Client speaks to the control interface of the device in a state folder.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the control socket of dir.
func NewClient(dir state.Dir) *Client {
	path := dir.Path(Socket)
	return &Client{path: path, http: &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
			DisableKeepAlives: true,
		},
		Timeout: 5 * time.Minute,
	}}
}

// ServiceError is an error answer of the control interface.
type ServiceError struct {
	Status  int
	Message string
}

func (e *ServiceError) Error() string { return e.Message }

// do sends one request and decodes a JSON answer into v (if not nil), or returns the body raw.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, v any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://rampart-device"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w (no one listens on %s)", ErrNotRunning, c.path)
		}
		return nil, fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if len(b) > MaxAnswer {
		return nil, fmt.Errorf("control socket: answer larger than %d bytes", MaxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		var e errorBody
		if strictjson.Decode(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return nil, &ServiceError{Status: resp.StatusCode, Message: e.Error}
	}
	if v != nil {
		if err := strictjson.Decode(b, v); err != nil {
			return nil, fmt.Errorf("control socket: malformed answer: %v", err)
		}
	}
	return b, nil
}

// List returns the status of every installed app.
func (c *Client) List(ctx context.Context) ([]apphost.AppStatus, error) {
	var l AppList
	_, err := c.do(ctx, http.MethodGet, "/v1/apps", nil, &l)
	return l.Apps, err
}

// Start starts the app named name (or with that component ID).
func (c *Client) Start(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(name)+"/start", nil, nil)
	return err
}

// Stop stops the app named name (or with that component ID).
func (c *Client) Stop(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(name)+"/stop", nil, nil)
	return err
}

// Log returns the log of the app named name (or with that component ID).
func (c *Client) Log(ctx context.Context, name string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(name)+"/log", nil, nil)
}

// PutStorage puts data as file name in the storage of the app named app.
func (c *Client) PutStorage(ctx context.Context, app, name string, data []byte) error {
	_, err := c.do(ctx, http.MethodPut, "/v1/apps/"+url.PathEscape(app)+"/storage/"+url.PathEscape(name), bytes.NewReader(data), nil)
	return err
}

// Sideload sends an image package to be installed and started.
func (c *Client) Sideload(ctx context.Context, pkg io.Reader) (api.InstalledImage, error) {
	var im api.InstalledImage
	_, err := c.do(ctx, http.MethodPost, "/v1/sideload", pkg, &im)
	return im, err
}
