// Package control is the device's local control interface: a Unix socket, control.sock in the
// state folder, on which a running stage 1 answers `rampart-device app …` and
// `rampart-device sideload`. It exists so that the commands a developer types reach the app
// host of the running device, and nothing else can.
//
// # Who may speak
//
// The socket is mode 0600 in the state folder, which is 0700: only the device's owner (and
// root) can connect. [Listen] creates it under a temporary name, sets its mode and renames it
// into place, so that it is never reachable with a looser mode.
//
// # Protocol
//
// HTTP/1.1 over the socket, JSON in and out, one request per connection:
//
//	GET  /v1/apps               200 {"apps": [apphost.AppStatus…]}
//	POST /v1/apps/{name}/start  204                 name: the app's name or component ID
//	POST /v1/apps/{name}/stop   204
//	GET  /v1/apps/{name}/log    200 text/plain      the app's log, at most apphost.MaxLogSize
//	PUT  /v1/apps/{name}/storage/{file}  204      body: the file (application/octet-stream),
//	                            sealed into the app's storage (apphost.Host.PutStorage)
//	POST /v1/sideload           200 api.InstalledImage
//	                            body: an image package (application/octet-stream), at most
//	                            update.MaxSideload bytes
//
// Any failure is a 4xx or 5xx with {"error": "…"}: 404 for an unknown app or route, 403 when
// sideloading without the development capability, 422 for a refused package, 413 for one too
// large, 400 for a malformed request. Request headers are bounded (8 KiB) and so is every body.
package control

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/update"
)

// Socket is the socket's file name in the state folder.
const Socket = "control.sock"

// Limits of a request.
const (
	MaxHeaderBytes = 8 << 10
	MaxName        = 128 // bytes of an app's name or component ID
	MaxUpload      = update.MaxSideload
	MaxStorageFile = 1 << 20 // bytes of a file put in an app's storage
)

// Backend is what the control interface controls: stage 1's app host and installer.
type Backend interface {
	List() []apphost.AppStatus
	Start(name string) error
	Stop(name string) error
	// Log returns the log of the app named name (or with that component ID).
	Log(name string) ([]byte, error)
	// PutStorage puts a file in the storage of the app named name (or with that component ID).
	PutStorage(name, file string, data []byte) error
	// Sideload installs and starts the application package that r yields.
	Sideload(r io.Reader) (api.InstalledImage, error)
}

// AppList is the answer to GET /v1/apps.
type AppList struct {
	Apps []apphost.AppStatus `json:"apps"`
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// ErrTooLarge is returned for a sideloaded package over MaxUpload bytes.
var ErrTooLarge = errors.New("the package is too large to sideload")

// status maps a backend error to an HTTP status.
func status(err error) int {
	switch {
	case errors.Is(err, apphost.ErrNoApp):
		return http.StatusNotFound
	case errors.Is(err, update.ErrNoCapability), errors.Is(err, apphost.ErrNoStorage):
		return http.StatusForbidden
	case errors.Is(err, apphost.ErrStorageQuota), errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, update.ErrRefused):
		return http.StatusUnprocessableEntity
	case errors.Is(err, apphost.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}
