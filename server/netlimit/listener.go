package netlimit

import (
	"net"
	"sync"
)

// Default connection caps of the service.
const (
	DefaultPerSource = 64
	DefaultTotal     = 10_000
)

// Listener caps the connections held open at once: per source (see [Source]) and in total. A
// connection over either cap is closed as soon as it is accepted, before TLS, so it costs no
// handshake; Rejected counts those.
type Listener struct {
	net.Listener
	perSource, total int
	rejected         func(reason string)

	mu    sync.Mutex
	open  int
	count map[string]int
}

// Listen wraps ln so that at most perSource connections of one source and total in all are
// open at once. rejected, if not nil, is called with "source" or "total" for each connection
// refused.
func Listen(ln net.Listener, perSource, total int, rejected func(reason string)) *Listener {
	if rejected == nil {
		rejected = func(string) {}
	}
	return &Listener{Listener: ln, perSource: perSource, total: total, rejected: rejected, count: map[string]int{}}
}

// Accept returns the next connection within the caps, closing those over them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := Source(c.RemoteAddr().String())
		if reason := l.take(src); reason != "" {
			l.rejected(reason)
			c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.release(src) }}, nil
	}
}

func (l *Listener) take(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return "total"
	case l.count[src] >= l.perSource:
		return "source"
	}
	l.open++
	l.count[src]++
	return ""
}

func (l *Listener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.count[src]--; l.count[src] <= 0 {
		delete(l.count, src)
	}
}

// conn gives its slot back once, when closed.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
