package tpm_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

// Data sealed to the runtime's PCR value is released while that runtime runs, not after
// another one is measured; handed over to the predicted value of an update, the updated
// runtime unseals it, after a reboot too; another TPM never does.
func TestSealedToTheMeasuredRuntime(t *testing.T) {
	t.Parallel()
	sim := swtpmtest.New(t)
	tp := open(t, sim)
	provision(t, tp) // the SRK
	secret := []byte("the event queue's integrity key")
	rec1, rec2 := tpm.Record(measurements(1)), tpm.Record(measurements(2))
	l := &tpm.Log{PCR: 15, Events: [][]byte{rec1}}
	if err := tp.ExtendPCR(15, sha256.Sum256(rec1)); err != nil {
		t.Fatal(err)
	}
	now, err := tp.ReadPCR(15)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tp.Seal(secret, 15, [][32]byte{now})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tp.Unseal(s); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unseal under the same runtime: %q, %v", got, err)
	}
	// The update path hands the secret over: sealed again to now and to what the new runtime
	// will run under.
	handed, err := tp.Seal(secret, 15, append([][32]byte{now}, tpm.Predict(l, rec2)...))
	if err != nil {
		t.Fatal(err)
	}

	// Another runtime is measured.
	if err := tp.ExtendPCR(15, sha256.Sum256(rec2)); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Unseal(s); !errors.Is(err, tpm.ErrPolicy) {
		t.Fatalf("a changed runtime unsealed the old runtime's secret: %v", err)
	}
	if got, err := tp.Unseal(handed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the updated runtime cannot unseal what was handed over: %v", err)
	}
	// After a reboot into the new runtime.
	sim.Reset(t)
	if err := tp.ExtendPCR(15, sha256.Sum256(rec2)); err != nil {
		t.Fatal(err)
	}
	if got, err := tp.Unseal(handed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("after a reboot: %v", err)
	}

	other := open(t, swtpmtest.Start(t, swtpmtest.B))
	provision(t, other)
	if _, err := other.Unseal(handed); err == nil {
		t.Fatal("another TPM unsealed the data")
	}
}

func TestSealRefuses(t *testing.T) {
	t.Parallel()
	tp := open(t, swtpmtest.New(t))
	provision(t, tp)
	if _, err := tp.Seal(make([]byte, tpm.MaxSealedSize+1), 15, [][32]byte{{}}); err == nil {
		t.Error("sealed too much data")
	}
	if _, err := tp.Seal([]byte("x"), 15, make([][32]byte, tpm.MaxSealedValues+1)); err == nil {
		t.Error("sealed to too many values")
	}
	if _, err := tp.Seal([]byte("x"), 15, nil); err == nil {
		t.Error("sealed to no value")
	}
}
