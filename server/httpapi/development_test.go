package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

// developerKeyPEM is a fresh developer public key, as 'rampart image pack --print-key' prints it.
func developerKeyPEM(t testing.TB) string {
	t.Helper()
	return publicPEM(t, &devKey(t).PublicKey)
}

func publicPEM(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// issueIn gives a tenant's device a certificate for a fresh key.
func issueIn(t *testing.T, w *world, tenantID ident.TenantID, device ident.DeviceID) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
	cert, _, err := pki.NewAuthority(w.st, kek, nil).IssueDevice(context.Background(), tenantID, device, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

// tlsWorldOn is tlsWorld on a backend.
func tlsWorldOn(t *testing.T, backend string) (*world, *httptest.Server) {
	w := newWorld(t, backend)
	srv := httptest.NewUnstartedServer(w.h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return w, srv
}

func enableDevelopment(t *testing.T, w *world, principal string, device ident.DeviceID, keys ...string) (int, string) {
	t.Helper()
	return w.do(principal, "POST", "/api/v1/devices/"+string(device)+"/enable-development",
		api.EnableDevelopmentRequest{DeveloperKeys: keys})
}

// deviceState reads a device of tenant A and how many audit entries of action A has.
func deviceState(t *testing.T, w *world, device ident.DeviceID, action string) (api.Device, int) {
	t.Helper()
	var d api.Device
	n := 0
	err := w.st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		if d, err = tx.Device(w.a.tenant.ID, device); err != nil {
			return err
		}
		entries, err := tx.Audit(w.a.tenant.ID, 0, api.MaxPageSize)
		for _, e := range entries {
			if e.Action == action && e.Target == "device/"+string(device) {
				n++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, n
}

func TestEnableDevelopmentNeedsAdministrator(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		key := developerKeyPEM(t)
		for _, p := range []string{readerA, contribA} {
			if status, body := enableDevelopment(t, w, p, w.a.device, key); status != http.StatusForbidden ||
				!strings.Contains(body, "needs the Administrator role") {
				t.Errorf("as %s: %d %s, want 403", p, status, body)
			}
		}
		if status, body := enableDevelopment(t, w, adminB, w.a.device, key); status != http.StatusNotFound {
			t.Errorf("as another tenant's Administrator: %d %s, want 404", status, body)
		}
		if d, n := deviceState(t, w, w.a.device, "device.enable-development"); d.Development || n != 0 {
			t.Fatalf("after refusals: development %v, %d audit entries", d.Development, n)
		}
		status, body := enableDevelopment(t, w, adminA, w.a.device, key)
		if got := decodeAs[api.Device](t, body); status != http.StatusOK || !got.Development || got.ID != w.a.device {
			t.Fatalf("as the Administrator: %d %s", status, body)
		}
		if d, n := deviceState(t, w, w.a.device, "device.enable-development"); !d.Development || n != 1 {
			t.Errorf("after enabling: development %v, %d audit entries, want on and 1", d.Development, n)
		}
		if status, body := w.do(contribA, "POST", "/api/v1/devices/"+string(w.a.device)+"/disable-development", nil); status != http.StatusForbidden {
			t.Errorf("disable as a Contributor: %d %s, want 403", status, body)
		}
	})
}

func TestEnableDevelopmentOnRevokedDeviceRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/revoke", nil); status != http.StatusOK {
			t.Fatalf("revoke: %d %s", status, body)
		}
		status, body := enableDevelopment(t, w, adminA, w.a.device, developerKeyPEM(t))
		if status != http.StatusConflict || !strings.Contains(body, "revoked") {
			t.Errorf("enable on a revoked device: %d %s, want 409", status, body)
		}
		if d, n := deviceState(t, w, w.a.device, "device.enable-development"); d.Development || n != 0 {
			t.Errorf("development %v, %d audit entries, want off and none", d.Development, n)
		}
	})
}

func TestCapabilitySignedWithTenantKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		c := ownClient(srv, issue(t, w, w.a.device))
		if status, body := get(t, c, srv.URL+api.DevicePathCapability); status != http.StatusNotFound ||
			!strings.Contains(body, `"error":"no development capability"`) {
			t.Errorf("before enabling: %d %s, want 404", status, body)
		}
		dev1, dev2 := developerKeyPEM(t), developerKeyPEM(t)
		if status, body := enableDevelopment(t, w, adminA, w.a.device, dev1, dev2); status != http.StatusOK {
			t.Fatalf("enable: %d %s", status, body)
		}
		resp, err := c.Get(srv.URL + api.DevicePathCapability)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw bytes.Buffer
		raw.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("capability: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw.String())
		}
		tenantKeys, err := w.keys.Public(context.Background(), w.a.tenant.ID, keyring.Image)
		if err != nil {
			t.Fatal(err)
		}
		trusted := map[string]*ecdsa.PublicKey{}
		for _, k := range tenantKeys {
			trusted[capability.KeyID(k)] = k
		}
		got, err := capability.Verify(raw.Bytes(), trusted, w.a.device)
		if err != nil {
			t.Fatalf("the capability does not verify with the tenant's image key: %v", err)
		}
		if got.TenantID != string(w.a.tenant.ID) || got.DeviceID != w.a.device || len(got.DeveloperKeys) != 2 ||
			got.DeveloperKeys[0] != dev1 || got.DeveloperKeys[1] != dev2 || got.IssuedAt.IsZero() {
			t.Errorf("capability %+v", got)
		}
		if _, err := capability.Verify(raw.Bytes(), trusted, w.b.device); err == nil {
			t.Error("the capability verifies for another device")
		}
		bKeys, _ := w.keys.Public(context.Background(), w.b.tenant.ID, keyring.Image)
		if _, err := capability.Verify(raw.Bytes(), map[string]*ecdsa.PublicKey{capability.KeyID(bKeys[0]): bKeys[0]}, w.a.device); err == nil {
			t.Error("the capability verifies with another tenant's key")
		}
	})
}

// TestCapabilityOfAnotherDeviceNotServed: with development enabled on tenant A's device, a
// second device of A and tenant B's device each get 404 for their own (none), never A's.
func TestCapabilityOfAnotherDeviceNotServed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		if status, body := enableDevelopment(t, w, adminA, w.a.device, developerKeyPEM(t)); status != http.StatusOK {
			t.Fatalf("enable: %d %s", status, body)
		}
		sibling := deviceID(3)
		err := w.st.Update(context.Background(), func(tx *store.Tx) error {
			_, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{sibling}, time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, cert := range map[string]*tls.Certificate{
			"a second device of the tenant": issue(t, w, sibling),
			"another tenant's device":       issueIn(t, w, w.b.tenant.ID, w.b.device),
		} {
			status, body := get(t, ownClient(srv, cert), srv.URL+api.DevicePathCapability)
			if status != http.StatusNotFound || strings.Contains(body, "payload") || strings.Contains(body, string(w.a.device)) {
				t.Errorf("%s: %d %s, want 404 without A's capability", name, status, body)
			}
		}
		if status, body := get(t, ownClient(srv, nil), srv.URL+api.DevicePathCapability); status != http.StatusUnauthorized {
			t.Errorf("without a certificate: %d %s, want 401", status, body)
		}
	})
}

func TestDisableDevelopmentRemovesCapability(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		c := ownClient(srv, issue(t, w, w.a.device))
		if status, body := enableDevelopment(t, w, adminA, w.a.device, developerKeyPEM(t)); status != http.StatusOK {
			t.Fatalf("enable: %d %s", status, body)
		}
		if status, body := get(t, c, srv.URL+api.DevicePathCapability); status != http.StatusOK {
			t.Fatalf("capability after enabling: %d %s", status, body)
		}
		status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/disable-development", nil)
		if got := decodeAs[api.Device](t, body); status != http.StatusOK || got.Development {
			t.Fatalf("disable: %d %s", status, body)
		}
		if status, body := get(t, c, srv.URL+api.DevicePathCapability); status != http.StatusNotFound {
			t.Errorf("capability after disabling: %d %s, want 404", status, body)
		}
		if d, n := deviceState(t, w, w.a.device, "device.disable-development"); d.Development || n != 1 {
			t.Errorf("after disabling: development %v, %d audit entries, want off and 1", d.Development, n)
		}
		if status, body := w.do(adminB, "POST", "/api/v1/devices/"+string(w.a.device)+"/disable-development", nil); status != http.StatusNotFound {
			t.Errorf("disable by another tenant: %d %s, want 404", status, body)
		}
	})
}

func TestEnableDevelopmentMalformedKeysRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		good := developerKeyPEM(t)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		edPub, _, _ := ed25519.GenerateKey(rand.Reader)
		priv, _ := x509.MarshalPKCS8PrivateKey(devKey(t))
		nine := make([]string, capability.MaxDeveloperKeys+1)
		for i := range nine {
			nine[i] = good
		}
		q, _ := json.Marshal(good)
		quoted := string(q)
		keys := func(ks ...string) string {
			b, _ := json.Marshal(api.EnableDevelopmentRequest{DeveloperKeys: ks})
			return string(b)
		}
		for name, body := range map[string]string{
			"no keys":                 keys(),
			"no developer_keys field": `{}`,
			"null keys":               `{"developer_keys":null}`,
			"nine keys":               keys(nine...),
			"not PEM":                 keys("ecdsa-sha2-nistp256 AAAA"),
			"a P-384 key":             keys(publicPEM(t, &p384.PublicKey)),
			"an Ed25519 key":          keys(publicPEM(t, edPub)),
			"a private key":           keys(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}))),
			"two keys in one string":  keys(good + good),
			"trailing text":           keys(good + "and more"),
			"garbage in the PEM":      keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
			"a PEM header":            keys(strings.Replace(good, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)),
			"a good key after a bad":  keys(good, "nonsense"),
			"an oversized key":        keys(good + strings.Repeat(" ", 2<<10)),
			"an unknown field":        `{"developer_keys":[` + quoted + `],"debug":true}`,
			"developer_keys twice":    `{"developer_keys":[],"developer_keys":[` + quoted + `]}`,
			"trailing data":           keys(good) + `{}`,
			"a string, not an array":  `{"developer_keys":` + quoted + `}`,
		} {
			t.Run(name, func(t *testing.T) {
				status, resp := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/enable-development", body)
				if status != http.StatusBadRequest {
					t.Errorf("%d %s, want 400", status, resp)
				}
				if strings.Contains(resp, "AAAA") || strings.Contains(resp, "BEGIN") {
					t.Errorf("the refusal repeats the key: %s", resp)
				}
			})
		}
		if d, n := deviceState(t, w, w.a.device, "device.enable-development"); d.Development || n != 0 {
			t.Errorf("after refusals: development %v, %d audit entries, want off and none", d.Development, n)
		}
		if status, body := enableDevelopment(t, w, adminA, w.a.device, good); status != http.StatusOK {
			t.Errorf("a good key: %d %s", status, body)
		}
	})
}

// TestDebugAttestationPassesOnlyWithDevelopment: a device booted in Debug mode fails attestation
// until an Administrator enables development on it, and again once it is disabled.
func TestDebugAttestationPassesOnlyWithDevelopment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		d := claimedRotDevice(t, w, rot.ModeDebug)
		c := ownClient(srv, nil)
		attest := func() (int, api.AttestResponse) { return attestOver(t, c, srv.URL, d) }
		if status, ar := attest(); status != http.StatusForbidden || ar.Reason != api.ReasonDebugNotAllowed {
			t.Errorf("Debug mode before enabling development: %d %+v, want 403 %s", status, ar, api.ReasonDebugNotAllowed)
		}
		if status, body := enableDevelopment(t, w, adminA, d.id, developerKeyPEM(t)); status != http.StatusOK {
			t.Fatalf("enable: %d %s", status, body)
		}
		if status, ar := attest(); status != http.StatusOK || ar.Result != api.AttestPass || ar.Mode != "debug" {
			t.Errorf("Debug mode with development: %d %+v, want a pass", status, ar)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(d.id)+"/disable-development", nil); status != http.StatusOK {
			t.Fatalf("disable: %d %s", status, body)
		}
		if status, ar := attest(); status != http.StatusForbidden || ar.Reason != api.ReasonDebugNotAllowed {
			t.Errorf("Debug mode after disabling development: %d %+v, want 403 %s", status, ar, api.ReasonDebugNotAllowed)
		}
	})
}

// claimedRotDevice is a simulated device claimed into tenant A, running a runtime published as
// a release.
func claimedRotDevice(t *testing.T, w *world, mode rot.Mode) *rotDevice {
	t.Helper()
	runtime := []byte("rampart-device runtime, " + t.Name())
	d := newRotDevice(t, runtime, mode)
	sum := sha512.Sum512(runtime)
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{d.id}, time.Now()); err != nil {
			return err
		}
		return tx.AddRuntimeRelease(api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: "9.9",
			Size: int64(len(runtime)), SHA512: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("0", 64), PublishedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// evidencer is a simulated device: its ID, and evidence it signs for a nonce.
type evidencer interface {
	deviceID() ident.DeviceID
	evidence(t testing.TB, nonce []byte) []byte
}

func (d *rotDevice) deviceID() ident.DeviceID { return d.id }

// attestOver attests a device over the device API, as its runtime would: a nonce, then evidence.
func attestOver(t *testing.T, c *http.Client, base string, d evidencer) (int, api.AttestResponse) {
	t.Helper()
	nreq, _ := json.Marshal(api.NonceRequest{DeviceID: d.deviceID()})
	resp, err := c.Post(base+api.DevicePathNonce, "application/json", bytes.NewReader(nreq))
	if err != nil {
		t.Fatal(err)
	}
	var n api.NonceResponse
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	resp, err = c.Post(base+api.DevicePathAttest, api.EvidenceContentType, bytes.NewReader(d.evidence(t, n.Nonce)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar api.AttestResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	return resp.StatusCode, ar
}

// rotDevice is a simulated device whose keys and Alias certificate are derived as the runtime
// derives them (device/rot).
type rotDevice struct {
	id        ident.DeviceID
	deviceKey *ecdsa.PrivateKey
	alias     *ecdsa.PrivateKey
	aliasCert []byte
	in        rot.Inputs
}

func newRotDevice(t testing.TB, runtime []byte, mode rot.Mode) *rotDevice {
	t.Helper()
	uds := make([]byte, rot.UDSSize)
	rand.Read(uds)
	dk, err := rot.DeviceIDKey(uds)
	if err != nil {
		t.Fatal(err)
	}
	in := rot.Inputs{Code: sha512.Sum512(runtime), Mode: mode}
	layer, err := rot.DeriveLayer(uds, in)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := rot.AliasCertificate(dk, layer.AliasKey, in.Measurements())
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(dk.Public())
	return &rotDevice{id: ident.DeviceIDFromPublicKey(spki), deviceKey: dk, alias: layer.AliasKey, aliasCert: cert, in: in}
}

func (d *rotDevice) evidence(t testing.TB, nonce []byte) []byte {
	t.Helper()
	spki, _ := x509.MarshalPKIXPublicKey(d.deviceKey.Public())
	tok, err := evidence.Sign(evidence.Claims{Nonce: nonce, DeviceKey: spki, IssuedAt: time.Now(),
		Measurements: d.in.Measurements()}, d.alias, d.aliasCert)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestWhoamiNamesTheCapability: a check-in says which development capability the device should
// hold — the SHA-256 of what the capability route answers, or "" for none — so that a device
// holding it asks no more; enabling and disabling move it. The update info says the same as
// whoami, and its ETag moves with it, so that a device's up-to-date check-in (a 304) never
// hides a new capability.
func TestWhoamiNamesTheCapability(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		c := ownClient(srv, issue(t, w, w.a.device))
		get(t, c, srv.URL+api.DevicePathUpdates) // publishes the repositories the device follows
		etag := ""
		whoami := func() string {
			t.Helper()
			status, body := get(t, c, srv.URL+api.DevicePathWhoami)
			who := decodeAs[api.DeviceWhoami](t, body)
			if status != http.StatusOK || who.CapabilitySHA256 == nil || who.DeviceID != w.a.device {
				t.Fatalf("whoami: %d %s", status, body)
			}
			req, _ := http.NewRequest("GET", srv.URL+api.DevicePathUpdates, nil)
			req.Header.Set("If-None-Match", etag)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			info := decodeAs[api.UpdateInfo](t, string(b))
			if resp.StatusCode != http.StatusOK || info.Device == nil || !reflect.DeepEqual(*info.Device, who) {
				t.Fatalf("update info with the last ETag: %d %s, want 200 naming the device as whoami does (%s)", resp.StatusCode, b, body)
			}
			etag = resp.Header.Get("ETag")
			return *who.CapabilitySHA256
		}
		if d := whoami(); d != "" {
			t.Errorf("before enabling: capability %q, want none", d)
		}
		if status, body := enableDevelopment(t, w, adminA, w.a.device, developerKeyPEM(t)); status != http.StatusOK {
			t.Fatalf("enable: %d %s", status, body)
		}
		status, body := get(t, c, srv.URL+api.DevicePathCapability)
		sum := sha256.Sum256([]byte(body))
		if d := whoami(); status != http.StatusOK || d != hex.EncodeToString(sum[:]) {
			t.Errorf("after enabling: capability %q, want the SHA-256 of the capability served (%d)", d, status)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/disable-development", nil); status != http.StatusOK {
			t.Fatalf("disable: %d %s", status, body)
		}
		if d := whoami(); d != "" {
			t.Errorf("after disabling: capability %q, want none", d)
		}
	})
}
