package sdk

import (
	"errors"
	"io"
	"runtime"
	"time"
)

// Conn is an outbound connection opened by the host on the app's behalf: TCP, or TLS that the
// host terminates. It is an io.ReadWriteCloser; it is not safe for concurrent use.
type Conn struct {
	handle  int32
	timeout time.Duration
	closed  bool
}

// MaxIO is the most the host moves in one Read or Write; longer writes are split.
const MaxIO = 64 << 10

// Dial opens a TCP connection to host:port. The manifest's AllowedConnections must list host
// (any port) or host:port; the host resolves the name and connects.
func Dial(host string, port int) (*Conn, error) {
	if port <= 0 || port > 65535 {
		return nil, ErrInvalid
	}
	h, err := check(hostNetDial(strPtr(host), uint32(len(host)), int32(port)))
	runtime.KeepAlive(host)
	if err != nil {
		return nil, err
	}
	return &Conn{handle: int32(h)}, nil
}

// DialTLS opens a TLS connection to host:port, allowed as for [Dial]. The host does the TLS:
// it verifies the server's certificate against the device's trusted roots and host. With
// deviceAuth, it also presents the device certificate, whose private key the app never sees;
// that needs the DeviceAuthentication capability, and fails with [ErrUnavailable] until the
// device has a certificate.
func DialTLS(host string, port int, deviceAuth bool) (*Conn, error) {
	if port <= 0 || port > 65535 {
		return nil, ErrInvalid
	}
	var flags int32
	if deviceAuth {
		flags |= 1
	}
	h, err := check(hostNetDialTLS(strPtr(host), uint32(len(host)), int32(port), flags))
	runtime.KeepAlive(host)
	if err != nil {
		return nil, err
	}
	return &Conn{handle: int32(h)}, nil
}

// SetReadTimeout bounds how long each later Read waits for data; zero (the default) waits
// until data arrives or the connection closes.
func (c *Conn) SetReadTimeout(d time.Duration) { c.timeout = d }

// Read reads up to len(p) bytes. It returns io.EOF when the peer has closed the connection
// and [ErrTimeout] when the read timeout passes first.
func (c *Conn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, errClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > MaxIO {
		p = p[:MaxIO]
	}
	ms := int32(-1)
	if c.timeout > 0 {
		ms = int32(min(c.timeout.Milliseconds(), 1<<31-1))
		ms = max(ms, 1)
	}
	n, err := check(hostNetRead(c.handle, bytesPtr(p), uint32(len(p)), ms))
	runtime.KeepAlive(p)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, or returns why it could not.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, errClosed
	}
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+MaxIO)]
		n, err := check(hostNetWrite(c.handle, bytesPtr(chunk), uint32(len(chunk))))
		runtime.KeepAlive(chunk)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	_, err := check(hostNetClose(c.handle))
	return err
}

var errClosed = errors.New("rampart: use of closed connection")
