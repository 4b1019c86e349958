package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/ident"
)

// This file is the device's side of the protocol (DESIGN section 5), spoken through package
// transport as device/agent and device/update speak it: the same client, the same requests, the
// same bounds. What a device keeps on disk (certificate, TUF metadata) the simulator keeps in
// memory, and only what the next request needs: versions, not files.

// sourceIP is the loopback address device i connects from when the fleet is spread over
// 127.0.0.0/8, so that the service's per-source limits see one source a device, as in the field.
func sourceIP(i int) net.IP {
	return net.IPv4(127, byte(1+(i>>16)%254), byte(i>>8), byte(i))
}

// newClient returns the HTTP client of device d, as transport.NewClient makes it, presenting
// cert if it is not nil and, if spread, from d's own source address. A client with the
// certificate uses the device's session cache, kept from one connection to the next, as the
// device's mutual-TLS client keeps it; one without gets a new cache, as at a device's boot.
func (r *runner) newClient(d *Device, cert *tls.Certificate) *http.Client {
	hc := transport.NewClient(r.roots, cert)
	tr := hc.Transport.(*http.Transport)
	if cert != nil {
		d.mu.Lock()
		if d.sessions == nil {
			d.sessions = tls.NewLRUClientSessionCache(8)
		}
		tr.TLSClientConfig.ClientSessionCache = d.sessions
		d.mu.Unlock()
	}
	tr.Proxy = nil
	if r.spread {
		tr.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second,
			LocalAddr: &net.TCPAddr{IP: sourceIP(d.Index)}}).DialContext
	}
	return hc
}

// call sends one request as the device does and counts it in st.
func (r *runner) call(ctx context.Context, st *Stats, hc *http.Client, method, path, contentType string, body []byte) (transport.Response, error) {
	st.addRequests(1)
	return transport.Request(withTrace(ctx, st), hc, r.fleet.server, method, path, contentType, body)
}

// withTrace counts the TLS connections a request makes in st, and those that resumed.
func withTrace(ctx context.Context, st *Stats) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			if err == nil {
				st.conn(cs.DidResume)
			}
		},
	})
}

// attest runs one attestation over a new connection: a nonce, then evidence signed with the
// Alias key; on a pass the device keeps its certificate.
func (r *runner) attest(ctx context.Context, st *Stats, d *Device) error {
	hc := r.newClient(d, nil)
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(api.NonceRequest{DeviceID: d.ID()})
	resp, err := r.call(ctx, st, hc, http.MethodPost, api.DevicePathNonce, "application/json", body)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return &StatusError{Status: resp.Status, What: "nonce"}
	}
	var nr api.NonceResponse
	if err := transport.Decode(resp.Body, &nr); err != nil {
		return fmt.Errorf("%w: nonce: %v", errMalformed, err)
	}
	d.mu.Lock()
	err = d.ensureAlias(r.fleet.server, r.fleet.caDigest, r.fleet.runtime)
	var token []byte
	if err == nil {
		token, err = d.evidence(nr.Nonce, time.Now())
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	resp, err = r.call(ctx, st, hc, http.MethodPost, api.DevicePathAttest, api.EvidenceContentType, token)
	if err != nil {
		return err
	}
	var ar api.AttestResponse
	if derr := transport.Decode(resp.Body, &ar); derr == nil && ar.Result == api.AttestFail {
		return &AttestFailure{Reason: transport.Clean(ar.Reason), Message: transport.Clean(ar.Message)}
	}
	if resp.Status != http.StatusOK {
		return &StatusError{Status: resp.Status, What: "attest"}
	}
	if ar.Result != api.AttestPass {
		return fmt.Errorf("%w: attestation result %.20q", errMalformed, ar.Result)
	}
	return d.install(ar.Certificate, ar.CAChain)
}

// install keeps the certificate the service issued, with its chain, for mutual TLS.
func (d *Device) install(certPEM, chainPEM string) error {
	var ders [][]byte
	rest := []byte(certPEM + "\n" + chainPEM)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		ders = append(ders, b.Bytes)
	}
	if len(ders) < 2 {
		return fmt.Errorf("%w: the certificate came without its chain", errMalformed)
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return fmt.Errorf("%w: certificate: %v", errMalformed, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if leaf.Subject.CommonName != string(d.id) {
		return fmt.Errorf("%w: the certificate names another device", errMalformed)
	}
	d.cert = &tls.Certificate{Certificate: ders, PrivateKey: d.alias}
	d.certUntil = leaf.NotAfter
	return nil
}

// certificate returns the device certificate, or nil if the device has none that is valid.
func (d *Device) certificate() *tls.Certificate {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cert == nil || time.Until(d.certUntil) < time.Hour {
		return nil
	}
	return d.cert
}

// checkin is one check-in over hc (mutual TLS), as a device's: the update info, which names the
// device, and when it moved a refresh of the feed's and the group's TUF repositories, and the
// update report the first time.
func (r *runner) checkin(ctx context.Context, st *Stats, d *Device, hc *http.Client) error {
	// Like the device's update client, ask with the ETag of the last complete cycle: when
	// nothing moved, the service answers 304 and the check-in ends there.
	d.mu.Lock()
	etag := d.etag
	d.mu.Unlock()
	var header http.Header
	if etag != "" {
		header = http.Header{"If-None-Match": {etag}}
	}
	st.addRequests(1)
	resp, err := transport.RequestWith(withTrace(ctx, st), hc, r.fleet.server, http.MethodGet, api.DevicePathUpdates, "", nil, header)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusNotModified && etag != "" {
		return nil
	}
	if resp.Status != http.StatusOK {
		return &StatusError{Status: resp.Status, What: "updates"}
	}
	tag := resp.Header.Get("ETag") // kept once the whole cycle has succeeded
	var info api.UpdateInfo
	if err := transport.Decode(resp.Body, &info); err != nil {
		return fmt.Errorf("%w: updates: %v", errMalformed, err)
	}
	if info.Device == nil || info.Device.DeviceID != d.ID() {
		return fmt.Errorf("%w: the update info does not name this device", errMalformed)
	}
	repos := []string{info.FeedRepo}
	if info.UpdatePolicy == api.PolicyAll && info.GroupRepo != "" {
		repos = append(repos, info.GroupRepo)
	}
	for _, repo := range repos {
		if err := r.refresh(ctx, st, d, hc, repo); err != nil {
			return err
		}
	}
	d.mu.Lock()
	reported := d.reported
	if reported {
		d.etag = tag
	}
	d.mu.Unlock()
	if reported {
		return nil
	}
	body, _ := json.Marshal(api.UpdateReport{Installed: []api.InstalledImage{}, Result: api.UpdateOK, At: time.Now().UTC()})
	if resp, err = r.call(ctx, st, hc, http.MethodPost, api.DevicePathUpdateReport, "application/json", body); err != nil {
		return err
	}
	if resp.Status/100 != 2 {
		return &StatusError{Status: resp.Status, What: "update report"}
	}
	d.mu.Lock()
	d.reported, d.etag = true, tag
	d.mu.Unlock()
	return nil
}

// refresh fetches a TUF repository's metadata as go-tuf's updater does for a device that keeps
// its trusted metadata: the first root on first use, then the next root (absent when none is
// newer) and the timestamp every time, and the snapshot and targets only when their versions
// moved. It parses what it fetches but verifies no signature: the simulator measures the
// service, and the device's verification costs the service nothing.
func (r *runner) refresh(ctx context.Context, st *Stats, d *Device, hc *http.Client, repo string) error {
	d.mu.Lock()
	if d.tuf == nil {
		d.tuf = map[string]*repoState{}
	}
	rs := d.tuf[repo]
	d.mu.Unlock()
	base := api.DevicePathTUF + repo + "/"
	fetch := func(file string) ([]byte, int, error) {
		st.addRequests(1)
		b, status, err := r.fetchMetadata(withTrace(ctx, st), hc, base+file)
		return b, status, err
	}
	if rs == nil {
		b, status, err := fetch("1.root.json")
		if err != nil || status != http.StatusOK {
			return statusOr(err, status, "first root")
		}
		root, err := metadata.Root().FromBytes(b)
		if err != nil {
			return fmt.Errorf("%w: root: %v", errMalformed, err)
		}
		rs = &repoState{root: root.Signed.Version}
	}
	for {
		_, status, err := fetch(strconv.FormatInt(rs.root+1, 10) + ".root.json")
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			break // no newer root: go-tuf's answer is a 404 (or 403)
		}
		rs.root++
	}
	b, status, err := fetch("timestamp.json")
	if err != nil || status != http.StatusOK {
		return statusOr(err, status, "timestamp")
	}
	ts, err := metadata.Timestamp().FromBytes(b)
	if err != nil || ts.Signed.Meta["snapshot.json"] == nil {
		return fmt.Errorf("%w: timestamp: %v", errMalformed, err)
	}
	rs.timestamp = ts.Signed.Version
	if v := ts.Signed.Meta["snapshot.json"].Version; v != rs.snapshot {
		if err := r.refreshTargets(fetch, rs, repo, v); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.tuf[repo] = rs
	d.mu.Unlock()
	return nil
}

// refreshTargets fetches snapshot version v, and the targets it names if they moved.
func (r *runner) refreshTargets(fetch func(string) ([]byte, int, error), rs *repoState, repo string, v int64) error {
	b, status, err := fetch(strconv.FormatInt(v, 10) + ".snapshot.json")
	if err != nil || status != http.StatusOK {
		return statusOr(err, status, "snapshot")
	}
	sn, err := metadata.Snapshot().FromBytes(b)
	if err != nil || sn.Signed.Meta["targets.json"] == nil {
		return fmt.Errorf("%w: snapshot: %v", errMalformed, err)
	}
	rs.snapshot = v
	tv := sn.Signed.Meta["targets.json"].Version
	if tv == rs.targets {
		return nil
	}
	if b, status, err = fetch(strconv.FormatInt(tv, 10) + ".targets.json"); err != nil || status != http.StatusOK {
		return statusOr(err, status, "targets")
	}
	if _, ok := r.targets.Load(repo + "@" + strconv.FormatInt(tv, 10)); !ok {
		tg, err := metadata.Targets().FromBytes(b)
		if err != nil {
			return fmt.Errorf("%w: targets: %v", errMalformed, err)
		}
		r.targets.Store(repo+"@"+strconv.FormatInt(tv, 10), tg.Signed.Targets)
	}
	rs.targets = tv
	return nil
}

func statusOr(err error, status int, what string) error {
	if err != nil {
		return err
	}
	return &StatusError{Status: status, What: what}
}

// fetchMetadata GETs a TUF file of at most 512 kB (go-tuf's bound for a root) and returns its
// bytes and the status.
func (r *runner) fetchMetadata(ctx context.Context, hc *http.Client, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.fleet.server+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 512000+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > 512000 {
		return nil, 0, fmt.Errorf("%w: %s is larger than 512 kB", errMalformed, path)
	}
	return b, resp.StatusCode, nil
}

// download fetches the group's image package, as the update client does, and checks its length.
func (r *runner) download(ctx context.Context, st *Stats, d *Device, hc *http.Client) error {
	d.mu.Lock()
	var repo string
	var rs *repoState
	for name, s := range d.tuf {
		if strings.HasPrefix(name, "group/") {
			repo, rs = name, s
		}
	}
	d.mu.Unlock()
	if rs == nil {
		return errors.New("the device follows no group repository: check in first")
	}
	v, _ := r.targets.Load(repo + "@" + strconv.FormatInt(rs.targets, 10))
	targets, _ := v.(map[string]*metadata.TargetFiles)
	name := api.TargetImagePrefix + string(r.fleet.image.ID)
	t := targets[name]
	if t == nil {
		return fmt.Errorf("the group's targets do not hold %s", name)
	}
	st.addRequests(1)
	req, err := http.NewRequestWithContext(withTrace(ctx, st), http.MethodGet, r.fleet.server+api.DevicePathTUF+repo+"/targets/"+name, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Status: resp.StatusCode, What: "download"}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, t.Length+1))
	if err != nil {
		return err
	}
	if n != t.Length {
		return fmt.Errorf("%w: downloaded %d bytes of a %d-byte package", errMalformed, n, t.Length)
	}
	st.addUnits(n)
	return nil
}

// events uploads one batch of one app crash, as the device's event queue does.
func (r *runner) events(ctx context.Context, st *Stats, d *Device, hc *http.Client) error {
	now := time.Now().UTC()
	e := api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppCrash, Class: api.ClassApp, Type: api.TypeUnplanned,
		Description: "exit code 1 (simulated)", Count: 1, FirstAt: now, LastAt: now}
	if r.fleet.image.ID != "" {
		e.ComponentID, e.ImageID = r.fleet.image.ComponentID, r.fleet.image.ID
	}
	body, _ := json.Marshal(api.EventBatch{Events: []api.DeviceEvent{e}})
	resp, err := r.call(ctx, st, hc, http.MethodPost, api.DevicePathEvents, "application/json", body)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return &StatusError{Status: resp.Status, What: "events"}
	}
	return nil
}
