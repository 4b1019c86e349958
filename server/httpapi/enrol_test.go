package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

// codedDevice is a simulated device that proves its claim code in its evidence, as a runtime
// handed the code's verifier by stage 0 does; noProof makes it a runtime that proves none.
type codedDevice struct {
	*rotDevice
	code    ident.ClaimCode
	noProof bool
}

// newCodedDevice is a device running a runtime published as a release on Retail.
func newCodedDevice(t *testing.T, w *world) *codedDevice {
	t.Helper()
	runtime := []byte("rampart-device runtime, " + t.Name())
	var seed [ident.ClaimCodeSeedSize]byte
	rand.Read(seed[:])
	d := &codedDevice{rotDevice: newRotDevice(t, runtime, 1), code: ident.NewClaimCode(seed)}
	publishRuntime(t, w, runtime, "9.9", time.Now())
	return d
}

func publishRuntime(t *testing.T, w *world, runtime []byte, version string, at time.Time) {
	t.Helper()
	sum := sha512.Sum512(runtime)
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.AddRuntimeRelease(api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: version,
			Size: int64(len(runtime)), SHA512: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("0", 64), PublishedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (d *codedDevice) evidence(t testing.TB, nonce []byte) []byte {
	t.Helper()
	spki, _ := x509.MarshalPKIXPublicKey(d.deviceKey.Public())
	c := evidence.Claims{Nonce: nonce, DeviceKey: spki, IssuedAt: time.Now(), Measurements: d.in.Measurements()}
	if !d.noProof {
		proof := ident.ClaimProof(d.code.Verifier(), nonce, d.id)
		c.ClaimProof = proof[:]
	}
	tok, err := evidence.Sign(c, d.alias, d.aliasCert)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (d *codedDevice) deviceID() ident.DeviceID { return d.id }

// attest attests d over the device API and returns the status and answer.
func (d *codedDevice) attest(t *testing.T, c *http.Client, base string) (int, api.AttestResponse) {
	t.Helper()
	return attestOver(t, c, base, d)
}

// tlsCert is the device certificate of a passed attestation with the device's Alias key.
func (d *codedDevice) tlsCert(t *testing.T, ar api.AttestResponse) (*tls.Certificate, *x509.Certificate) {
	t.Helper()
	block, _ := pem.Decode([]byte(ar.Certificate))
	if block == nil {
		t.Fatalf("no certificate in %+v", ar)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: d.alias, Leaf: leaf}, leaf
}

func claimBody(id ident.DeviceID, code string) api.ClaimDevicesRequest {
	return api.ClaimDevicesRequest{Devices: []api.ClaimDevice{{DeviceID: string(id), ClaimCode: code}}}
}

func otherCode(c ident.ClaimCode) ident.ClaimCode {
	for {
		var seed [ident.ClaimCodeSeedSize]byte
		rand.Read(seed[:])
		if o := ident.NewClaimCode(seed); o != c {
			return o
		}
	}
}

// auditActions lists the actions of a tenant's audit log on a target.
func auditActions(t *testing.T, w *world, tenantID ident.TenantID, target string) []string {
	t.Helper()
	var out []string
	err := w.st.View(context.Background(), func(tx *store.Tx) error {
		entries, err := tx.Audit(tenantID, 0, api.MaxPageSize)
		for _, e := range entries {
			if e.Target == target {
				out = append(out, e.Action)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClaimSquatterWithoutCodeCannotHoldDevice: a tenant that learned a device's ID (it is in
// every certificate a broker sees) claims it first, by ID alone or with a code it made up. By ID
// alone it is refused; with a wrong code the device, attesting, is refused, the claim is
// dropped, and the tenant that has the device claims it with its code and gets it.
func TestClaimSquatterWithoutCodeCannotHoldDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		d := newCodedDevice(t, w)
		c := ownClient(srv, nil)
		if status, body := w.do(adminB, "POST", "/api/v1/devices/claim", claimBody(d.id, "")); status != http.StatusForbidden {
			t.Fatalf("squatter's claim by ID alone: %d %s, want 403", status, body)
		}
		if status, body := w.do(adminB, "POST", "/api/v1/devices/claim", claimBody(d.id, otherCode(d.code).String())); status != http.StatusCreated {
			t.Fatalf("squatter's claim with a made-up code: %d %s", status, body)
		}
		// The rightful owner cannot claim it yet: it is taken.
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(d.id, d.code.String())); status != http.StatusConflict {
			t.Fatalf("owner's claim while squatted: %d %s, want 409", status, body)
		}
		if status, ar := d.attest(t, c, srv.URL); status != http.StatusForbidden || ar.Reason != api.ReasonClaimCodeMismatch {
			t.Fatalf("attestation into the squatter's tenant: %d %+v, want 403 %s", status, ar, api.ReasonClaimCodeMismatch)
		}
		if status, _ := w.do(adminB, "GET", "/api/v1/devices/"+string(d.id), nil); status != http.StatusNotFound {
			t.Errorf("the squatter still holds the device: %d", status)
		}
		if got := auditActions(t, w, w.b.tenant.ID, "device/"+string(d.id)); !contains(got, "device.claim.drop") {
			t.Errorf("squatter's audit for the device: %v, want device.claim.drop", got)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(d.id, d.code.String())); status != http.StatusCreated {
			t.Fatalf("owner's claim with the code: %d %s", status, body)
		}
		if status, ar := d.attest(t, c, srv.URL); status != http.StatusOK || ar.Result != api.AttestPass {
			t.Fatalf("attestation into the owner's tenant: %d %+v", status, ar)
		}
		if status, body := w.do(adminA, "GET", "/api/v1/devices/"+string(d.id), nil); status != http.StatusOK ||
			!decodeAs[api.Device](t, body).ClaimedWithCode {
			t.Errorf("owner's device: %d %s, want claimed with its code", status, body)
		}
	})
}

// TestClaimWithCodeUnprovenIsDropped: a device whose runtime proves no claim code cannot keep a
// claim made with a code, so a squatter cannot hold a device that runs an old runtime either.
func TestClaimWithCodeUnprovenIsDropped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		d := newCodedDevice(t, w)
		d.noProof = true
		if status, body := w.do(adminB, "POST", "/api/v1/devices/claim", claimBody(d.id, otherCode(d.code).String())); status != http.StatusCreated {
			t.Fatalf("claim: %d %s", status, body)
		}
		if status, ar := d.attest(t, ownClient(srv, nil), srv.URL); status != http.StatusForbidden || ar.Reason != api.ReasonClaimCodeUnproven {
			t.Fatalf("attestation without a proof: %d %+v, want 403 %s", status, ar, api.ReasonClaimCodeUnproven)
		}
		if status, _ := w.do(adminB, "GET", "/api/v1/devices/"+string(d.id), nil); status != http.StatusNotFound {
			t.Errorf("the claim was kept: %d", status)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestClaimWithoutCodeRefusedUnlessAllowed: claiming by ID alone is refused unless the operator
// allows the tenant it, which only the operator can; malformed codes and requests are refused.
func TestClaimWithoutCodeRefusedUnlessAllowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		id := deviceID(100)
		byID := api.ClaimDevicesRequest{DeviceIDs: []string{string(id)}}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", byID); status != http.StatusForbidden ||
			!strings.Contains(body, "claim code") {
			t.Fatalf("claim by ID alone: %d %s, want 403 naming the claim code", status, body)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(id, "")); status != http.StatusForbidden {
			t.Fatalf("claim with an empty code: %d %s, want 403", status, body)
		}
		allow := true
		path := "/api/v1/tenants/" + string(w.a.tenant.ID)
		for _, p := range []string{adminA, adminB, contribA} {
			if status, body := w.do(p, "PATCH", path, api.UpdateTenantRequest{AllowClaimWithoutCode: &allow}); status != http.StatusForbidden {
				t.Errorf("%s allows its tenant to claim without codes: %d %s", p, status, body)
			}
		}
		if status, body := w.do(operator, "PATCH", "/api/v1/tenants/"+ident.NewID(), api.UpdateTenantRequest{AllowClaimWithoutCode: &allow}); status != http.StatusNotFound {
			t.Errorf("an unknown tenant: %d %s", status, body)
		}
		if status, body := w.do(operator, "PATCH", path, map[string]any{}); status != http.StatusBadRequest {
			t.Errorf("an empty update: %d %s", status, body)
		}
		if status, body := w.do(operator, "PATCH", path, api.UpdateTenantRequest{AllowClaimWithoutCode: &allow}); status != http.StatusOK ||
			!decodeAs[api.Tenant](t, body).AllowClaimWithoutCode {
			t.Fatalf("operator allows: %d %s", status, body)
		}
		status, body := w.do(contribA, "POST", "/api/v1/devices/claim", byID)
		if status != http.StatusCreated || decodeAs[api.ClaimDevicesResponse](t, body).Devices[0].ClaimedWithCode {
			t.Fatalf("claim by ID alone where allowed: %d %s", status, body)
		}
		if got := auditActions(t, w, w.a.tenant.ID, "tenant/"+string(w.a.tenant.ID)); !contains(got, "tenant.update") {
			t.Errorf("tenant audit %v", got)
		}
		// Tenant B is still not allowed.
		if status, body := w.do(adminB, "POST", "/api/v1/devices/claim", api.ClaimDevicesRequest{DeviceIDs: []string{string(deviceID(101))}}); status != http.StatusForbidden {
			t.Errorf("tenant B by ID alone: %d %s", status, body)
		}
		var seed [ident.ClaimCodeSeedSize]byte
		good := ident.NewClaimCode(seed).String()
		for name, req := range map[string]any{
			"bad check symbol": claimBody(deviceID(102), good[:22]+string("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", good[22])+1)%32])),
			"short code":       claimBody(deviceID(102), "ABCDE"),
			"U in code":        claimBody(deviceID(102), "UUUUU-UUUUU-UUUUU-UUUUU"),
			"both forms":       api.ClaimDevicesRequest{DeviceIDs: []string{string(deviceID(103))}, Devices: claimBody(deviceID(102), good).Devices},
			"neither":          api.ClaimDevicesRequest{},
			"bad ID":           claimBody("xyz", good),
			"unknown field":    `{"devices":[{"device_id":"` + string(deviceID(102)) + `","code":"x"}]}`,
		} {
			if status, body := w.do(adminB, "POST", "/api/v1/devices/claim", req); status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, status, body)
			}
		}
	})
}

// TestReleasedDeviceCertificateRefused: once released, a device's certificate, though not
// expired, no longer works on the device API, even after the device is claimed again, and it is
// on its CA's CRL, which anyone may fetch; the device attests again into its new claim.
func TestReleasedDeviceCertificateRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		d := newCodedDevice(t, w)
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(d.id, d.code.String())); status != http.StatusCreated {
			t.Fatalf("claim: %d %s", status, body)
		}
		status, ar := d.attest(t, ownClient(srv, nil), srv.URL)
		if status != http.StatusOK {
			t.Fatalf("attest: %d %+v", status, ar)
		}
		cert, leaf := d.tlsCert(t, ar)
		whoami := func(cert *tls.Certificate) int {
			s, _ := get(t, ownClient(srv, cert), srv.URL+api.DevicePathWhoami)
			return s
		}
		if s := whoami(cert); s != http.StatusOK {
			t.Fatalf("whoami before release: %d", s)
		}
		release := "/api/v1/devices/" + string(d.id) + "/release"
		for _, p := range []string{contribA, readerA} {
			if status, _ := w.do(p, "POST", release, nil); status != http.StatusForbidden {
				t.Errorf("%s releases: %d, want 403", p, status)
			}
		}
		if status, _ := w.do(adminB, "POST", release, nil); status != http.StatusNotFound {
			t.Errorf("another tenant releases: %d, want 404", status)
		}
		if status, body := w.do(adminA, "POST", release, nil); status != http.StatusOK {
			t.Fatalf("release: %d %s", status, body)
		}
		if s := whoami(cert); s != http.StatusForbidden {
			t.Errorf("whoami with a released device's certificate: %d, want 403", s)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(d.id, d.code.String())); status != http.StatusCreated {
			t.Fatalf("claim again: %d %s", status, body)
		}
		if s := whoami(cert); s != http.StatusForbidden {
			t.Errorf("whoami with the certificate of the released claim, after claiming again: %d, want 403", s)
		}
		crl := fetchCRL(t, w, srv, leaf)
		if !onCRL(crl, leaf) {
			t.Errorf("the released device's certificate %x is not on its CA's CRL", leaf.SerialNumber)
		}
		status, ar = d.attest(t, ownClient(srv, nil), srv.URL)
		if status != http.StatusOK {
			t.Fatalf("attest after claiming again: %d %+v", status, ar)
		}
		if fresh, _ := d.tlsCert(t, ar); whoami(fresh) != http.StatusOK {
			t.Error("the new certificate does not work")
		}
	})
}

// fetchCRL fetches, without a token, the CRL of tenant A's CA that issued leaf, at its open
// route, and checks it is signed by that CA.
func fetchCRL(t *testing.T, w *world, srv *httptest.Server, leaf *x509.Certificate) *x509.RevocationList {
	t.Helper()
	_, body := w.do(adminA, "GET", "/api/v1/ca", nil)
	var ca *api.CA
	for _, c := range decodeAs[[]api.CA](t, body) {
		if c.Active {
			ca = &c
		}
	}
	if ca == nil {
		t.Fatalf("no active CA in %s", body)
	}
	status, der := get(t, ownClient(srv, nil), srv.URL+pki.CRLPath(w.a.tenant.ID, ca.ID))
	if status != http.StatusOK {
		t.Fatalf("GET the CRL: %d %s", status, der)
	}
	crl, err := x509.ParseRevocationList([]byte(der))
	if err != nil {
		t.Fatal(err)
	}
	_, bundle := w.do(adminA, "GET", "/api/v1/ca/bundle", nil)
	block, _ := pem.Decode([]byte(bundle))
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(caCert); err != nil || !bytes.Equal(leaf.RawIssuer, crl.RawIssuer) {
		t.Fatalf("the CRL is not the device CA's: %v", err)
	}
	return crl
}

func onCRL(crl *x509.RevocationList, leaf *x509.Certificate) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

// zeroCheck is the check symbol of the claim code of an all-zero seed.
var zeroCheck = func() string {
	var seed [ident.ClaimCodeSeedSize]byte
	c := ident.NewClaimCode(seed)
	return string(c[len(c)-1])
}()

// withdrawable publishes a release for the route matrix to withdraw.
func withdrawable(w *world) api.WithdrawReleaseRequest {
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.AddRuntimeRelease(api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: "0.9",
			Size: 1, SHA512: strings.Repeat("ab", 64), SHA256: strings.Repeat("0", 64), PublishedAt: time.Now()})
	})
	if err != nil && !errors.Is(err, store.ErrExists) {
		w.t.Fatal(err)
	}
	return api.WithdrawReleaseRequest{Feed: api.FeedRetail, Version: "0.9"}
}

// publishOver publishes a runtime release as the operator, over the management API.
func publishOver(t *testing.T, w *world, version string, runtime []byte) (int, string) {
	t.Helper()
	return w.do(operator, "POST", "/api/v1/os/releases?feed=Retail&version="+version, runtime)
}

// TestWithdrawnRuntimeFailsAttestation: once the operator withdraws a runtime release, a
// device running it fails attestation with withdrawn_runtime and is told of the newer release,
// and the release is listed as withdrawn. Only the operator withdraws.
func TestWithdrawnRuntimeFailsAttestation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		runtime := []byte("rampart-device runtime 1.0, " + t.Name())
		var seed [ident.ClaimCodeSeedSize]byte
		rand.Read(seed[:])
		d := &codedDevice{rotDevice: newRotDevice(t, runtime, 1), code: ident.NewClaimCode(seed)}
		if status, body := publishOver(t, w, "1.0", runtime); status != http.StatusCreated {
			t.Fatalf("publish 1.0: %d %s", status, body)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", claimBody(d.id, d.code.String())); status != http.StatusCreated {
			t.Fatalf("claim: %d %s", status, body)
		}
		c := ownClient(srv, nil)
		if status, ar := d.attest(t, c, srv.URL); status != http.StatusOK {
			t.Fatalf("attest on 1.0: %d %+v", status, ar)
		}
		if status, body := publishOver(t, w, "1.1", []byte("rampart-device runtime 1.1")); status != http.StatusCreated {
			t.Fatalf("publish 1.1: %d %s", status, body)
		}
		withdraw := api.WithdrawReleaseRequest{Feed: api.FeedRetail, Version: "1.0"}
		for _, p := range []string{adminA, contribA, anonymous} {
			if status, _ := w.do(p, "POST", "/api/v1/os/releases/withdraw", withdraw); status != http.StatusForbidden && status != http.StatusUnauthorized {
				t.Errorf("%s withdraws: %d", p, status)
			}
		}
		for name, req := range map[string]any{
			"unknown version": api.WithdrawReleaseRequest{Feed: api.FeedRetail, Version: "7.7"},
			"other feed":      api.WithdrawReleaseRequest{Feed: api.FeedRetailEval, Version: "1.0"},
		} {
			if status, body := w.do(operator, "POST", "/api/v1/os/releases/withdraw", req); status != http.StatusNotFound {
				t.Errorf("%s: %d %s, want 404", name, status, body)
			}
		}
		if status, body := w.do(operator, "POST", "/api/v1/os/releases/withdraw", api.WithdrawReleaseRequest{Feed: "Beta", Version: "1.0"}); status != http.StatusBadRequest {
			t.Errorf("bad feed: %d %s, want 400", status, body)
		}
		status, body := w.do(operator, "POST", "/api/v1/os/releases/withdraw", withdraw)
		if status != http.StatusOK || decodeAs[api.RuntimeRelease](t, body).WithdrawnAt == nil {
			t.Fatalf("withdraw: %d %s", status, body)
		}
		status, ar := d.attest(t, c, srv.URL)
		if status != http.StatusForbidden || ar.Reason != api.ReasonWithdrawnRuntime || !strings.Contains(ar.Message, "Retail 1.1") {
			t.Fatalf("attest on a withdrawn runtime: %d %+v, want 403 %s naming Retail 1.1", status, ar, api.ReasonWithdrawnRuntime)
		}
	})
}

// TestWithdrawnReleaseCannotBePublishedAgain: neither the withdrawn version nor the withdrawn
// runtime under another version can be published again, so the floor only rises.
func TestWithdrawnReleaseCannotBePublishedAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		runtime := []byte("rampart-device runtime 2.0 with a flaw")
		if status, body := publishOver(t, w, "2.0", runtime); status != http.StatusCreated {
			t.Fatalf("publish: %d %s", status, body)
		}
		if status, body := w.do(operator, "POST", "/api/v1/os/releases/withdraw", api.WithdrawReleaseRequest{Feed: api.FeedRetail, Version: "2.0"}); status != http.StatusOK {
			t.Fatalf("withdraw: %d %s", status, body)
		}
		if status, body := publishOver(t, w, "2.0", []byte("another runtime")); status != http.StatusConflict {
			t.Errorf("the withdrawn version again: %d %s, want 409", status, body)
		}
		if status, body := publishOver(t, w, "2.0.1", runtime); status != http.StatusConflict || !strings.Contains(body, "withdrawn") {
			t.Errorf("the withdrawn runtime as another version: %d %s, want 409", status, body)
		}
		_, body := w.do(operator, "GET", "/api/v1/os/releases", nil)
		rels := decodeAs[[]api.RuntimeRelease](t, body)
		if len(rels) != 1 || rels[0].WithdrawnAt == nil {
			t.Errorf("releases %s, want 2.0 alone, withdrawn", body)
		}
		if status, body := w.do(operator, "POST", "/api/v1/os/releases/withdraw", api.WithdrawReleaseRequest{Feed: api.FeedRetail, Version: "2.0"}); status != http.StatusOK ||
			!decodeAs[api.RuntimeRelease](t, body).WithdrawnAt.Equal(*rels[0].WithdrawnAt) {
			t.Errorf("withdrawing twice: %d %s, want the first time kept", status, body)
		}
	})
}

// withCodes is a claim of devices, each with a well-formed claim code.
func withCodes(ids []string) api.ClaimDevicesRequest {
	var seed [ident.ClaimCodeSeedSize]byte
	code := ident.NewClaimCode(seed).String()
	var req api.ClaimDevicesRequest
	for _, id := range ids {
		req.Devices = append(req.Devices, api.ClaimDevice{DeviceID: id, ClaimCode: code})
	}
	return req
}
