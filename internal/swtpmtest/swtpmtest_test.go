package swtpmtest_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"

	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.Main(m)) }

func openChannel(t *testing.T, path string) transport.TPMCloser {
	t.Helper()
	rwc, err := tpmutil.OpenTPM(path)
	if err != nil {
		t.Fatal(err)
	}
	tpm := transport.FromReadWriteCloser(rwc)
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

type cmdChannel struct {
	rwc interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		Close() error
	}
}

func (c cmdChannel) Read(p []byte) (int, error)      { return c.rwc.Read(p) }
func (c cmdChannel) Write(p []byte) (int, error)     { return c.rwc.Write(p) }
func (c cmdChannel) Close() error                    { return c.rwc.Close() }
func (c cmdChannel) MeasurementLog() ([]byte, error) { return nil, nil }

func ekCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	rwc, err := tpmutil.OpenTPM(path)
	if err != nil {
		t.Fatal(err)
	}
	tpm, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: cmdChannel{rwc}})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	eks, err := tpm.EKs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ek := range eks {
		if ek.Certificate != nil {
			return ek.Certificate
		}
	}
	t.Fatal("no EK certificate in the TPM")
	return nil
}

// Two TPMs: distinct EKs, both certified by the test CA.
func TestTwoTPMsCertifiedByTheTestCA(t *testing.T) {
	t.Parallel()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	rest := swtpmtest.CAPEM(t)
	var n int
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			roots.AddCert(c)
		} else {
			inter.AddCert(c)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("test CA has %d certificates, want intermediate and root", n)
	}
	a := ekCert(t, swtpmtest.Start(t, swtpmtest.A).Path)
	b := ekCert(t, swtpmtest.Start(t, swtpmtest.B).Path)
	a2 := ekCert(t, swtpmtest.New(t).Path)
	if bytes.Equal(a.Raw, b.Raw) {
		t.Fatal("TPMs A and B have the same EK certificate")
	}
	if !bytes.Equal(a.Raw, a2.Raw) {
		t.Fatal("two copies of TPM A have different EK certificates")
	}
	for _, c := range []*x509.Certificate{a, b} {
		// EK certificates carry TPM-specific critical extensions that Go's verifier does not
		// know; the chain itself is what this test checks.
		c.UnhandledCriticalExtensions = nil
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("EK certificate does not chain to the test CA: %v", err)
		}
	}
}

func readPCR(t *testing.T, tpm transport.TPM, index int) []byte {
	t.Helper()
	sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(index)),
	}}}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.PCRValues.Digests[0].Buffer
}

// Reset returns the PCRs to zero, as a reboot does.
func TestResetClearsPCRs(t *testing.T) {
	t.Parallel()
	sim := swtpmtest.New(t)
	tpm := openChannel(t, sim.Path)
	d := sha256.Sum256([]byte("measurement"))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(15), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256, Digest: d[:],
		}}},
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)
	if bytes.Equal(readPCR(t, tpm, 15), zero) {
		t.Fatal("PCR 15 still zero after extend")
	}
	sim.Reset(t)
	if got := readPCR(t, tpm, 15); !bytes.Equal(got, zero) {
		t.Fatalf("PCR 15 after reset = %x, want zero", got)
	}
}
