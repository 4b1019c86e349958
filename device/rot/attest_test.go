package rot_test

import (
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// attest is what a device does: derive its keys from the UDS and the measured runtime, certify
// the Alias key, and sign evidence with it.
func attest(t testing.TB, uds []byte, in rot.Inputs, claimed rot.Measurements) []byte {
	t.Helper()
	deviceKey, err := rot.DeviceIDKey(uds)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := rot.DeriveLayer(uds, in)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := rot.AliasCertificate(deviceKey, layer.AliasKey, in.Measurements())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&deviceKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := evidence.Sign(evidence.Claims{
		Nonce:        []byte("a nonce from the service"),
		DeviceKey:    spki,
		IssuedAt:     time.Now(),
		Measurements: claimed,
	}, layer.AliasKey, cert)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestEvidenceFromRootOfTrust: evidence made from the root of trust's keys and certificate
// verifies, and names the device that the UDS makes.
func TestEvidenceFromRootOfTrust(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uds")
	if err := rot.CreateUDS(path); err != nil {
		t.Fatal(err)
	}
	uds, err := rot.LoadUDS(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []rot.Mode{rot.ModeNormal, rot.ModeDebug} {
		in := rot.Inputs{Code: sha512.Sum512([]byte("runtime")), Mode: mode}
		e, err := evidence.Parse(attest(t, uds, in, in.Measurements()))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		deviceKey, _ := rot.DeviceIDKey(uds)
		spki, _ := x509.MarshalPKIXPublicKey(&deviceKey.PublicKey)
		if e.DeviceID != ident.DeviceIDFromPublicKey(spki) {
			t.Fatal("evidence names another device")
		}
		if e.Claims.Measurements != in.Measurements() {
			t.Fatalf("measurements %+v", e.Claims.Measurements)
		}
	}
}

// TestTamperedRuntimeCannotClaimGenuineMeasurements: a runtime other than the genuine one gets
// another CDI, so its Alias certificate carries its own measurements, and claiming the genuine
// ones is caught.
func TestTamperedRuntimeCannotClaimGenuineMeasurements(t *testing.T) {
	uds := make([]byte, rot.UDSSize)
	uds[0] = 1
	genuine := rot.Inputs{Code: sha512.Sum512([]byte("runtime")), Mode: rot.ModeNormal}
	tampered := genuine
	tampered.Code = sha512.Sum512([]byte("runtime with a backdoor"))
	e, err := evidence.Parse(attest(t, uds, tampered, genuine.Measurements()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); !errors.Is(err, evidence.ErrMeasurementMismatch) {
		t.Fatalf("got %v, want ErrMeasurementMismatch", err)
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "rot")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "uds")

	// Once, at init.
	if err := rot.CreateUDS(path); err != nil {
		fmt.Println(err)
		return
	}
	// At every boot, in stage 0.
	uds, err := rot.LoadUDS(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	deviceKey, _ := rot.DeviceIDKey(uds)
	in := rot.Inputs{Code: sha512.Sum512([]byte("stage 1 image")), Mode: rot.ModeNormal}
	layer, _ := rot.DeriveLayer(uds, in)
	cert, _ := rot.AliasCertificate(deviceKey, layer.AliasKey, in.Measurements())
	// Stage 1 receives layer.CDIAttest and layer.CDISeal, and cert; never the UDS.

	spki, _ := x509.MarshalPKIXPublicKey(&deviceKey.PublicKey)
	c, _ := x509.ParseCertificate(cert)
	fmt.Println("issued by the device:", c.Issuer.CommonName == ident.DeviceIDFromPublicKey(spki).String())
	// Output: issued by the device: true
}
