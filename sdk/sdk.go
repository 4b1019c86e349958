// Package sdk is what a Rampart app calls to reach beyond its sandbox: the log, GPIO pins,
// outbound connections (plain or TLS, optionally with the device certificate), private storage,
// system events and update deferral.
//
// An app is a Go program built with
//
//	GOOS=wasip1 GOARCH=wasm go build -o app.wasm ./myapp
//
// and run by the device's app host, which grants each call only if the app's manifest declares
// the capability it needs; a call the manifest does not grant returns [ErrDenied]. Each call
// here is a thin wrapper around one host function of the "rampart" import module (see package
// device/apphost for the ABI).
//
// Built for any other GOOS, the package compiles but every call returns [ErrNoHost], so that
// code using it can be vetted and unit-tested on a workstation.
//
// # Output
//
// What an app writes to stdout and stderr goes to its log on the device, as do [Log] and
// [Logf]; a panic's first line is also reported as the reason the app stopped.
package sdk

import (
	"errors"
	"fmt"
	"strconv"
)

// Error is an error code returned by a host function.
type Error int32

// The host's error codes. They are the ABI: device/apphost defines the same values.
const (
	ErrDenied      Error = -1  // the manifest does not grant this
	ErrInvalid     Error = -2  // a bad argument: name, pin, port, handle, buffer
	ErrQuota       Error = -3  // the write would exceed the MutableStorage quota
	ErrIO          Error = -4  // the host's I/O failed (connection refused, reset, disk)
	ErrTimeout     Error = -5  // nothing arrived in time
	ErrNotFound    Error = -6  // no such file, or nothing pending to defer
	ErrTooSmall    Error = -7  // the buffer is too small for the answer
	ErrTLS         Error = -8  // the TLS handshake failed (server not trusted, name mismatch, refused)
	ErrLimit       Error = -9  // too many open connections
	ErrUnavailable Error = -10 // the device has no certificate yet: try again later
)

// ErrNoHost is returned by every call when the package is not built for wasip1.
var ErrNoHost = errors.New("sdk: not running in the Rampart app host: build with GOOS=wasip1 GOARCH=wasm")

// errNoHost is what the stub host functions return.
const errNoHost = -1000

func (e Error) Error() string {
	switch e {
	case ErrDenied:
		return "rampart: not granted by the app manifest"
	case ErrInvalid:
		return "rampart: invalid argument"
	case ErrQuota:
		return "rampart: storage quota exceeded"
	case ErrIO:
		return "rampart: I/O error"
	case ErrTimeout:
		return "rampart: timeout"
	case ErrNotFound:
		return "rampart: not found"
	case ErrTooSmall:
		return "rampart: buffer too small"
	case ErrTLS:
		return "rampart: TLS handshake failed"
	case ErrLimit:
		return "rampart: too many open connections"
	case ErrUnavailable:
		return "rampart: no device certificate yet"
	}
	return "rampart: error " + strconv.Itoa(int(e))
}

// Timeout reports whether e is [ErrTimeout], as net.Error does.
func (e Error) Timeout() bool { return e == ErrTimeout }

// check turns a host function's result into a count or an error.
func check(r int32) (int, error) {
	switch {
	case r >= 0:
		return int(r), nil
	case r == errNoHost:
		return 0, ErrNoHost
	}
	return 0, Error(r)
}

// Level is a log message's severity.
type Level int32

// The log levels.
const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

// MaxLogMessage is the longest message the host keeps; longer ones are cut.
const MaxLogMessage = 4096

// Log writes msg to the app's log at level. Logging needs no capability.
func Log(level Level, msg string) error {
	if len(msg) > MaxLogMessage {
		msg = msg[:MaxLogMessage]
	}
	_, err := check(hostLog(int32(level), strPtr(msg), uint32(len(msg))))
	return err
}

// Logf writes a formatted message to the app's log at LevelInfo.
func Logf(format string, args ...any) { Log(LevelInfo, fmt.Sprintf(format, args...)) }
