package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// dumpBoth is a stage 1 that stores its handoff and the claim verifier stage 0 hands it.
const dumpBoth = "#!/bin/sh\ncat <&3 > \"$3/handoff.out\"\ncat <&4 > \"$3/claim.out\"\n"

// TestEvidenceProvesTheDevicesClaimCode: the real stage 0 hands stage 1 the verifier of the
// device's own claim code (never the code), and the evidence proves that code for its nonce.
func TestEvidenceProvesTheDevicesClaimCode(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: svc.URL, ServiceCA: svc.CAPEM, Runtime: strings.NewReader(dumpBoth)}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("boot: exit %d, %v", code, err)
	}
	raw, _ := os.ReadFile(d.Path("handoff.out"))
	cv, _ := os.ReadFile(d.Path("claim.out"))
	code, err := boot.ClaimCode(d)
	if err != nil {
		t.Fatal(err)
	}
	want := code.Verifier()
	if !bytes.Equal(cv, want[:]) {
		t.Fatalf("stage 0 handed %x, want the verifier of the device's code %x", cv, want)
	}
	if bytes.Contains(cv, []byte(code)) || bytes.Contains(raw, []byte(code)) {
		t.Fatal("stage 0 handed the claim code itself")
	}
	h, err := handoff.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h.ClaimVerifier = handoff.ReadClaimVerifier(bytes.NewReader(cv))
	dev, _ := d.ReadDevice()
	id, err := NewIdentity(h, dev)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	tok, err := id.Evidence(nonce, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evidence.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !ident.CheckClaimProof(want, nonce, id.DeviceID, ev.Claims.ClaimProof) {
		t.Error("the evidence does not prove the device's claim code")
	}
	// A stage 0 older than claim codes hands none: the evidence then carries no proof.
	h2, _ := handoff.Read(bytes.NewReader(raw))
	h2.ClaimVerifier = handoff.ReadClaimVerifier(bytes.NewReader(nil))
	id2, err := NewIdentity(h2, dev)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ = id2.Evidence(nonce, time.Now(), nil)
	if ev, err := evidence.Parse(tok); err != nil || ev.Claims.ClaimProof != nil {
		t.Errorf("evidence without a verifier: %v, proof %x", err, ev.Claims.ClaimProof)
	}
}
