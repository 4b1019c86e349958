package boot_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

func pubPEM(t *testing.T, k *ecdsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func signCapability(t *testing.T, key *ecdsa.PrivateKey, id ident.DeviceID) []byte {
	t.Helper()
	dev, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, err := capability.Sign(capability.Development{Format: 1, TenantID: "00000000-0000-4000-8000-000000000001",
		DeviceID: id, DeveloperKeys: []string{pubPEM(t, &dev.PublicKey)}, IssuedAt: time.Now().UTC()}, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDebugModeOnlyWithCapability: stage 0 measures Debug mode only while the state folder holds
// a capability that a tenant key in tenant-keys.pem signed for this device. Anything else —
// no capability, one for another device, one signed by another key, a tampered one, no tenant
// keys to check it with — boots in Normal mode, with the Alias key of Normal mode.
func TestDebugModeOnlyWithCapability(t *testing.T) {
	t.Parallel()
	tenant, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := ident.DeviceIDFromPublicKey([]byte("another device"))
	for _, tc := range []struct {
		name       string
		tenantKeys bool
		capability func(id ident.DeviceID) []byte
		want       dice.Mode
	}{
		{"no capability", true, nil, rot.ModeNormal},
		{"valid capability", true, func(id ident.DeviceID) []byte { return signCapability(t, tenant, id) }, rot.ModeDebug},
		{"capability for another device", true, func(ident.DeviceID) []byte { return signCapability(t, tenant, other) }, rot.ModeNormal},
		{"capability signed by a stranger", true, func(id ident.DeviceID) []byte { return signCapability(t, stranger, id) }, rot.ModeNormal},
		{"tampered capability", true, func(id ident.DeviceID) []byte {
			b := signCapability(t, tenant, id)
			b[len(b)/2] ^= 1
			return b
		}, rot.ModeNormal},
		{"no tenant keys", false, func(id ident.DeviceID) []byte { return signCapability(t, tenant, id) }, rot.ModeNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, dumpHandoff)
			dev, err := d.ReadDevice()
			if err != nil {
				t.Fatal(err)
			}
			normal, err := boot.Measure(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tenantKeys {
				if _, err := d.WriteTenantKeys([]string{pubPEM(t, &tenant.PublicKey)}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.capability != nil {
				if err := os.WriteFile(d.Path(state.FileCapability), tc.capability(dev.DeviceID), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := boot.Measure(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Measurements.Mode != tc.want {
				t.Errorf("mode %v, want %v", s.Measurements.Mode, tc.want)
			}
			certified, err := dice.FromCertificate(mustParse(t, s.AliasCert))
			if err != nil || certified.Mode != tc.want {
				t.Errorf("the Alias certificate says mode %v (%v), want %v", certified.Mode, err, tc.want)
			}
			if sameKey := aliasKey(t, s).Equal(aliasKey(t, normal)); sameKey != (tc.want == rot.ModeNormal) {
				t.Errorf("mode %v: Alias key equal to Normal mode's: %v", tc.want, sameKey)
			}
		})
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
