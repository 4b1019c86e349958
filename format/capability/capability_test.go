package capability

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(k *ecdsa.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

var device = ident.DeviceID(strings.Repeat("ab", 32))

func fixture(t testing.TB) (Development, *ecdsa.PrivateKey, map[string]*ecdsa.PublicKey) {
	tenant, dev := key(t), key(t)
	d := Development{Format: 1, TenantID: ident.NewID(), DeviceID: device, DeveloperKeys: []string{pemOf(dev)},
		IssuedAt: time.Now().UTC().Truncate(time.Second)}
	return d, tenant, map[string]*ecdsa.PublicKey{KeyID(&tenant.PublicKey): &tenant.PublicKey}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	d, k, trusted := fixture(t)
	b, err := Sign(d, k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(b, trusted, device)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := got.Keys()
	if err != nil || len(keys) != 1 || got.TenantID != d.TenantID || !got.IssuedAt.Equal(d.IssuedAt) {
		t.Fatalf("got %+v %v", got, err)
	}
}

func TestCapabilitySignedByAnotherKey(t *testing.T) {
	d, _, trusted := fixture(t)
	mallory := key(t)
	b, _ := Sign(d, mallory)
	if _, err := Verify(b, trusted, device); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	// Claiming a trusted key's ID does not help.
	var w wire
	json.Unmarshal(b, &w)
	for id := range trusted {
		w.KeyID = id
	}
	forged, _ := json.Marshal(w)
	if _, err := Verify(forged, trusted, device); !errors.Is(err, ErrInvalid) {
		t.Fatalf("forged key ID: err %v", err)
	}
}

func TestCapabilityForAnotherDevice(t *testing.T) {
	d, k, trusted := fixture(t)
	b, _ := Sign(d, k)
	if _, err := Verify(b, trusted, ident.DeviceID(strings.Repeat("cd", 32))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
}

func TestCapabilityTamperedPayload(t *testing.T) {
	d, k, trusted := fixture(t)
	b, _ := Sign(d, k)
	var w wire
	json.Unmarshal(b, &w)
	w.Payload = bytes.Replace(w.Payload, []byte(d.TenantID), []byte(ident.NewID()), 1)
	tampered, _ := json.Marshal(w)
	if _, err := Verify(tampered, trusted, device); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
}

func TestCapabilityMalformedRefused(t *testing.T) {
	d, k, trusted := fixture(t)
	good, _ := Sign(d, k)
	for name, b := range map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("\xff{"),
		"oversized":     bytes.Repeat([]byte(" "), MaxSize+1),
		"unknown field": bytes.Replace(good, []byte(`{"payload"`), []byte(`{"x":1,"payload"`), 1),
		"trailing":      append(append([]byte{}, good...), []byte("{}")...),
	} {
		if _, err := Verify(b, trusted, device); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	d.DeveloperKeys = []string{"not a key"}
	if _, err := Sign(d, k); !errors.Is(err, ErrInvalid) {
		t.Errorf("a capability with a malformed developer key was signed")
	}
}

func FuzzVerify(f *testing.F) {
	d, k, trusted := fixture(f)
	good, _ := Sign(d, k)
	f.Add(good)
	f.Add([]byte(`{"payload":"","key_id":"","signature":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Verify(b, trusted, device)
		if err == nil && (got.DeviceID != device || got.Format != 1) {
			t.Fatalf("accepted %+v", got)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error outside ErrInvalid: %v", err)
		}
	})
}
