package apphost

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Timeouts of the connection capability.
const (
	dialTimeout  = 30 * time.Second // resolve, connect and TLS handshake
	writeTimeout = 30 * time.Second
)

// Dialer opens outbound connections for apps; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// allowedConnection reports whether entries (the manifest's AllowedConnections) let an app
// connect to host:port. An entry "host" allows any port; "host:port" that port only. Names
// compare case-insensitively and without a trailing dot; IP addresses compare as addresses.
func allowedConnection(entries []string, host string, port int) bool {
	host = normHost(host)
	if host == "" {
		return false
	}
	for _, e := range entries {
		eh, ep := e, ""
		if net.ParseIP(strings.Trim(e, "[]")) == nil {
			if h, p, err := net.SplitHostPort(e); err == nil {
				eh, ep = h, p
			}
		}
		if normHost(eh) != host {
			continue
		}
		if ep == "" || ep == strconv.Itoa(port) {
			return true
		}
	}
	return false
}

// normHost returns the canonical form of a host name or IP address for comparison, or "" for
// something that is neither.
func normHost(h string) string {
	h = strings.Trim(h, "[]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || len(h) > maxHostLen {
		return ""
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return ""
		}
	}
	return h
}

// dialArgs reads and checks net_dial's host and port, and whether the manifest allows them.
func dialArgs(c *call, hostPtr, hostLen, port uint32) (string, int32) {
	host, ok := c.string(hostPtr, hostLen, maxHostLen+2)
	if !ok || port == 0 || port > 65535 || normHost(host) == "" {
		return "", ErrInvalid
	}
	if !allowedConnection(c.run.img.manifest.Capabilities.AllowedConnections, host, int(port)) {
		return "", ErrDenied
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(int(port))), 0
}

// hostNetDial: net_dial(host, host_len, port) → handle, a TCP connection the host resolved and
// opened, if AllowedConnections lists host or host:port.
func hostNetDial(c *call, a []uint32) int32 {
	addr, code := dialArgs(c, a[0], a[1], a[2])
	if code != 0 {
		return code
	}
	if !c.run.canOpen() {
		return ErrLimit
	}
	conn, code := c.run.dial(addr)
	if code != 0 {
		return code
	}
	return c.run.addConn(conn)
}

// Flags of net_dial_tls.
const flagDeviceCert = 1

// hostNetDialTLS: net_dial_tls(host, host_len, port, flags) → handle, a TLS connection the host
// opened and verified against its roots and host. With flags&1, the host presents the device
// certificate, which needs DeviceAuthentication; its key stays in the host.
func hostNetDialTLS(c *call, a []uint32) int32 {
	flags := a[3]
	if flags&^flagDeviceCert != 0 {
		return ErrInvalid
	}
	useCert := flags&flagDeviceCert != 0
	if useCert && !c.run.img.manifest.Capabilities.DeviceAuthentication {
		return ErrDenied
	}
	addr, code := dialArgs(c, a[0], a[1], a[2])
	if code != 0 {
		return code
	}
	host, _, _ := net.SplitHostPort(addr)
	h := c.run.app.h
	cfg := &tls.Config{RootCAs: h.roots, ServerName: host, MinVersion: tls.VersionTLS12}
	if useCert {
		if h.opt.DeviceCertificate == nil {
			return ErrUnavailable
		}
		cert, err := h.opt.DeviceCertificate()
		if err != nil || cert == nil {
			return ErrUnavailable
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if !c.run.canOpen() {
		return ErrLimit
	}
	conn, code := c.run.dial(addr)
	if code != 0 {
		return code
	}
	tc := tls.Client(conn, cfg)
	ctx, cancel := context.WithTimeout(c.run.ctx, dialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		c.run.app.log.line("host", "TLS to "+addr+": "+err.Error())
		return tlsErrorCode(err)
	}
	return c.run.addConn(tc)
}

// tlsErrorCode maps a handshake error to ErrTLS when TLS itself refused and ErrIO or
// ErrTimeout when the network failed.
func tlsErrorCode(err error) int32 {
	var verr *tls.CertificateVerificationError
	var alert tls.AlertError
	var rerr tls.RecordHeaderError
	switch {
	case errors.As(err, &verr), errors.As(err, &alert), errors.As(err, &rerr):
		return ErrTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case strings.HasPrefix(err.Error(), "tls: "):
		return ErrTLS
	}
	return ErrIO
}

// hostNetWrite: net_write(handle, buf, buf_len) → n, at most MaxIO bytes written.
func hostNetWrite(c *call, a []uint32) int32 {
	conn := c.run.conn(a[0])
	if conn == nil {
		return ErrInvalid
	}
	p, ok := c.bytes(a[1], min(a[2], MaxIO))
	if !ok {
		return ErrInvalid
	}
	data := append([]byte(nil), p...) // the guest's memory is not ours to hold while blocked
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := conn.Write(data)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ErrTimeout
		}
		if n == 0 {
			return ErrIO
		}
	}
	return int32(n)
}

// hostNetRead: net_read(handle, buf, buf_len, timeout_ms) → n, at most MaxIO bytes read; 0 at
// the end of the stream; ErrTimeout after timeout_ms (a negative timeout waits until data
// arrives, the peer closes or the app stops).
func hostNetRead(c *call, a []uint32) int32 {
	conn := c.run.conn(a[0])
	if conn == nil {
		return ErrInvalid
	}
	n := min(a[2], MaxIO)
	if _, ok := c.bytes(a[1], n); !ok {
		return ErrInvalid
	}
	timeout := int32(a[3])
	if timeout >= 0 {
		conn.SetReadDeadline(time.Now().Add(time.Duration(timeout) * time.Millisecond))
	} else {
		conn.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, n)
	got, err := conn.Read(buf)
	if got > 0 {
		if !c.mem.Write(a[1], buf[:got]) {
			return ErrInvalid
		}
		return int32(got)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrClosed):
		return ErrIO
	case errors.Is(err, io.EOF):
		return 0
	}
	return ErrIO
}

// hostNetClose: net_close(handle) → 0.
func hostNetClose(c *call, a []uint32) int32 {
	if !c.run.closeConn(a[0]) {
		return ErrInvalid
	}
	return 0
}
