package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/control"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/device/update"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/safetext"
)

// ErrModeChanged is returned by [Agent.Run] when the device gained or lost its development
// capability: stage 1 must exit with boot.ExitRestart so that stage 0 boots it again in the
// DICE mode that goes with it (Debug while the capability is held, else Normal). The Alias key
// changes with the mode, so the restarted stage 1 attests again.
var ErrModeChanged = errors.New("the development capability changed: restarting so that stage 0 measures the new DICE mode")

// apps is stage 1's side of the app host (DESIGN section 5 step 6): the host, the lock that
// keeps the update client and sideloading from writing apps/ at once, and the control socket.
type apps struct {
	a    *Agent
	host *apphost.Host
	ctl  *control.Server

	mu    sync.Mutex // held while apps/ is written or synced
	trust [32]byte   // what the keys that checked the running images were
}

// startApps makes the app host, starts the installed apps and, unless the agent runs once,
// serves the control socket.
func (a *Agent) startApps(ctx context.Context) (*apps, error) {
	s := &apps{a: a}
	extraRoots, err := a.appRoots()
	if err != nil {
		return nil, err
	}
	host, err := apphost.New(string(a.dir), apphost.Options{
		DeviceCertificate: a.deviceCertificate,
		NetworkReady:      a.reachable.Load,
		ExtraRootCAs:      extraRoots,
		VerifyImage: func(imageDir string, module, appManifest []byte) error {
			return update.VerifyApp(a.dir, a.id.DeviceID, imageDir, module, appManifest)
		},
		StorageKey: a.id.storageKey,
		Events:     s.event,
		Now:        a.opt.Now,
	})
	if err != nil {
		return nil, err
	}
	s.host = host
	s.trust = a.trustStamp()
	s.sync(ctx)
	if !a.opt.Once {
		if s.ctl, err = control.Listen(a.dir, s); err != nil {
			a.opt.Log.Printf("%v; 'rampart-device app' and 'sideload' will not reach this device", err)
		}
	}
	return s, nil
}

// close stops serving the socket and stops every app.
func (s *apps) close() {
	if s.ctl != nil {
		s.ctl.Close()
	}
	s.host.Close()
}

// event queues an app's event for error reporting, if it is an error ([appEvent]).
func (s *apps) event(e apphost.Event) {
	if ev, ok := appEvent(e); ok {
		s.a.record(ev)
	}
}

// sync makes the running apps those installed. Images that the keys trusted now refuse stay
// crashed; when those keys have changed since the last sync (tenant keys learnt, development
// capability gained or lost), crashed apps are tried again.
func (s *apps) sync(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.host.Sync(ctx); err != nil {
		s.a.opt.Log.Printf("apps: %v", err)
	}
	trust := s.a.trustStamp()
	if trust == s.trust {
		return
	}
	s.trust = trust
	for _, st := range s.host.List() {
		if st.State == apphost.StateCrashed {
			if err := s.host.Start(st.ComponentID); err != nil {
				s.a.opt.Log.Printf("apps: %v", err)
			}
		}
	}
}

// trustStamp sums what decides which images may run: the tenant keys and the capability.
func (a *Agent) trustStamp() [32]byte {
	h := sha256.New()
	for _, name := range []string{state.FileTenantKeys, state.FileCapability} {
		b, _ := state.ReadFile(a.dir.Path(name), state.MaxFileSize)
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// deviceCertificate is the app host's DeviceCertificate: cert.pem with the Alias key, if
// cert.pem is for this boot's Alias key.
func (a *Agent) deviceCertificate() (*tls.Certificate, error) {
	b, err := a.dir.ReadCert()
	if err != nil {
		return nil, err // state.ErrNoCertificate before the first attestation
	}
	c, err := a.id.ParseCertificate(b, a.now())
	if err != nil {
		return nil, err
	}
	return a.id.tlsCertificate(c), nil
}

// The control interface (package control) over the app host.

func (s *apps) List() []apphost.AppStatus { return s.host.List() }
func (s *apps) Start(name string) error   { return s.host.Start(name) }
func (s *apps) Stop(name string) error    { return s.host.Stop(name) }

// PutStorage seals a file into an app's storage (control socket).
func (s *apps) PutStorage(name, file string, data []byte) error {
	return s.host.PutStorage(name, file, data)
}

// Log returns the log of an app, found as the host finds it: by component ID, or by a name
// only one app has.
func (s *apps) Log(name string) ([]byte, error) {
	cid := ""
	for _, st := range s.host.List() {
		if st.ComponentID == name {
			cid = name
			break
		}
		if st.Name == name {
			if cid != "" {
				return nil, fmt.Errorf("two apps are named %q: give a component ID", name)
			}
			cid = st.ComponentID
		}
	}
	if cid == "" {
		return nil, fmt.Errorf("%w %q", apphost.ErrNoApp, name)
	}
	b, err := state.ReadFile(s.a.dir.Path(apphost.DirAppLogs, cid+".log"), 2*apphost.MaxLogSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Sideload installs a package as update.Sideload does, then starts it.
func (s *apps) Sideload(r io.Reader) (api.InstalledImage, error) {
	s.mu.Lock()
	im, err := update.Sideload(s.a.dir, r)
	if err == nil {
		if serr := s.host.Sync(context.Background()); serr != nil {
			s.a.opt.Log.Printf("apps: %v", serr)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return im, err
	}
	s.a.opt.Log.Printf("sideloaded app %s %s (component %s, image %s)", safetext.Line(im.Name, transport.MaxServiceText), safetext.Line(im.Version, transport.MaxServiceText), im.ComponentID, im.ImageID)
	if err := s.host.Start(im.ComponentID); err != nil {
		return im, fmt.Errorf("installed, but it does not start: %w", err)
	}
	return im, nil
}

// refreshCapability asks the service for the device's development capability (at each
// check-in, DESIGN section 4): one that the tenant keys sign for this device is stored in
// capability.json; a 404 removes the stored one; anything else leaves it as it is. When the
// check-in said which capability the device should hold (its SHA-256, or none), it asks only
// if that is not the one it holds, and removes the held one without asking. It returns
// ErrModeChanged when whether the device holds a valid capability no longer matches the mode
// stage 0 booted it in.
func (a *Agent) refreshCapability(ctx context.Context) error {
	var r transport.Response
	var err error
	switch held := a.heldCapability(); {
	case a.capability == nil: // a service that does not say: ask
		r, err = a.call(ctx, a.mtls, http.MethodGet, api.DevicePathCapability, "", nil)
	case *a.capability == "": // none for this device: as a 404, without asking
		r.Status = http.StatusNotFound
	case *a.capability == held: // the one held: nothing to ask
		return a.checkMode()
	default:
		r, err = a.call(ctx, a.mtls, http.MethodGet, api.DevicePathCapability, "", nil)
	}
	b := r.Body
	switch {
	case err != nil:
		a.opt.Log.Printf("ask for the development capability: %v", err)
	case r.Status == http.StatusNotFound:
		if removed, err := a.dir.RemoveCapability(); err != nil {
			a.opt.Log.Printf("remove %s: %v", state.FileCapability, err)
		} else if removed {
			a.opt.Log.Printf("the device no longer holds the development capability")
		}
	case r.Status != http.StatusOK:
		a.opt.Log.Printf("ask for the development capability: %v", refusal(r))
	default:
		keys, err := a.dir.ReadTenantKeys()
		if err == nil {
			_, err = capability.Verify(b, keys, a.id.DeviceID)
		}
		if err != nil {
			a.opt.Log.Printf("the service sent a development capability that does not check, ignoring it: %v", err)
			break
		}
		if stored, err := a.dir.WriteCapability(bytes.Clone(b)); err != nil {
			a.opt.Log.Printf("store the development capability: %v", err)
		} else if stored {
			a.opt.Log.Printf("the device holds the development capability: developer-signed apps are accepted, sideloading is on, and it boots in Debug mode")
		}
	}
	return a.checkMode()
}

// heldCapability returns the SHA-256, hex, of the capability the device holds, or "".
func (a *Agent) heldCapability() string {
	b, err := a.dir.ReadCapability()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkMode returns ErrModeChanged when whether the device holds a valid development
// capability no longer matches the DICE mode it booted in.
func (a *Agent) checkMode() error {
	_, err := a.dir.Development(a.id.DeviceID)
	held := err == nil
	if held != (a.id.Measurements.Mode == dice.ModeDebug) {
		return ErrModeChanged
	}
	return nil
}

// appRoots reads the optional app-ca.pem of the state folder: CA certificates that apps' TLS
// connections trust besides the system's roots, for a broker or cloud service whose certificate
// comes from a private CA.
func (a *Agent) appRoots() ([]*x509.Certificate, error) {
	b, err := state.ReadFile(a.dir.Path(state.FileAppCA), state.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var roots []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: not a PEM certificate", state.FileAppCA)
		}
		roots = append(roots, c)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", state.FileAppCA)
	}
	return roots, nil
}
