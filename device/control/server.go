package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
)

// Server serves the control interface on the socket of a state folder.
type Server struct {
	path string
	ln   *net.UnixListener
	srv  *http.Server
	done chan struct{}
}

// Listen creates control.sock in dir, mode 0600, and serves b on it until Close. A socket left
// by a stage 1 that died is replaced; one that answers is not (another stage 1 serves it).
func Listen(dir state.Dir, b Backend) (*Server, error) {
	path := dir.Path(Socket)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another rampart-device run is serving it", path)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+Socket+"."+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, ln: ln, done: make(chan struct{}),
		srv: &http.Server{
			Handler:           Handler(b),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    MaxHeaderBytes,
		}}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, ends open connections and removes the socket.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// Handler returns the control interface's HTTP handler over b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		apps := b.List()
		if apps == nil {
			apps = []apphost.AppStatus{}
		}
		writeJSON(w, http.StatusOK, AppList{Apps: apps})
	})
	app := func(do func(name string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name, ok := appName(w, r)
			if !ok {
				return
			}
			if err := do(name); err != nil {
				writeError(w, status(err), err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /v1/apps/{name}/start", app(b.Start))
	mux.HandleFunc("POST /v1/apps/{name}/stop", app(b.Stop))
	mux.HandleFunc("GET /v1/apps/{name}/log", func(w http.ResponseWriter, r *http.Request) {
		name, ok := appName(w, r)
		if !ok {
			return
		}
		log, err := b.Log(name)
		if err != nil {
			writeError(w, status(err), err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(log)
	})
	mux.HandleFunc("PUT /v1/apps/{name}/storage/{file}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := appName(w, r)
		if !ok {
			return
		}
		body := &limited{r: r.Body, n: MaxStorageFile}
		data, err := io.ReadAll(body)
		if body.over {
			err = fmt.Errorf("%w: a storage file of more than %d bytes", ErrTooLarge, MaxStorageFile)
		}
		if err == nil {
			err = b.PutStorage(name, r.PathValue("file"), data)
		}
		if err != nil {
			writeError(w, status(err), err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/sideload", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxUpload {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, r.ContentLength, int64(MaxUpload)))
			return
		}
		body := &limited{r: r.Body, n: MaxUpload}
		im, err := b.Sideload(body)
		if body.over {
			err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, int64(MaxUpload))
		}
		if err != nil {
			writeError(w, status(err), err)
			return
		}
		writeJSON(w, http.StatusOK, im)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// appName returns the {name} of a request, checked: 1 to MaxName printable characters.
func appName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	ok := name != "" && len(name) <= MaxName
	for _, c := range name {
		if !unicode.IsPrint(c) {
			ok = false
		}
	}
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Errorf("an app name is 1 to %d printable characters", MaxName))
	}
	return name, ok
}

// limited reads at most n bytes of r, and then reports an error and sets over if more follow.
type limited struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.over = true
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
