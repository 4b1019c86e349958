package devicecli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

// The real program with the TPM root: init --rot tpm, id and claim code, status naming the
// root, a run that attests with the TPM claim, and a certificate for the TPM signing key.
func TestTPMInitRunCert(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	sim := swtpmtest.New(t)
	dir := filepath.Join(t.TempDir(), "device")
	ca := filepath.Join(t.TempDir(), "service-ca.pem")
	if err := os.WriteFile(ca, svc.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	r := must(t, "init", "--state", dir, "--server", svc.URL, "--cacert", ca, "--rot", "tpm", "--tpm", sim.Path, "--pcr", "14")
	id := strings.TrimSpace(r.stdout)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("init printed %q", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(must(t, "id", "--state", dir, "--claim-code").stdout), "\n")
	if len(lines) != 2 || lines[0] != id || len(lines[1]) != 23 {
		t.Fatalf("id --claim-code: %q", lines)
	}
	v := status(t, dir)
	if v.RootOfTrust != "tpm" || v.TPM == nil || v.TPM.Path != sim.Path || v.TPM.PCR != 14 {
		t.Fatalf("status: root %q, TPM %+v", v.RootOfTrust, v.TPM)
	}
	if table := must(t, "status", "--state", dir).stdout; !regexp.MustCompile(`root of trust +tpm \(` + regexp.QuoteMeta(sim.Path) + `, runtime measured into PCR 14\)`).MatchString(table) {
		t.Errorf("status table:\n%s", table)
	}

	must(t, "run", "--state", dir, "--once")
	svc.Lock()
	if len(svc.Evidence) != 1 || svc.Evidence[0].Claims.TPM == nil || svc.Evidence[0].Claims.TPM.PCR != 14 {
		svc.Unlock()
		t.Fatal("the device did not attest with the TPM claim of PCR 14")
	}
	key := svc.Evidence[0].SigningKey()
	svc.Unlock()
	blk, _ := pem.Decode([]byte(must(t, "cert", "--state", dir).stdout))
	if blk == nil {
		t.Fatal("cert printed no PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(c.PublicKey) || c.Subject.CommonName != id {
		t.Fatal("the device certificate is not for the TPM signing key of this device")
	}
	if _, err := os.Stat(filepath.Join(dir, "uds")); err == nil {
		t.Fatal("a TPM device has a UDS")
	}
}

func TestInitRootOfTrustFlags(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	ca := filepath.Join(t.TempDir(), "service-ca.pem")
	if err := os.WriteFile(ca, svc.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	sim := swtpmtest.New(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rot", "tpm"}, "--rot tpm needs --tpm PATH"},
		{[]string{"--rot", "hsm"}, `invalid --rot "hsm": want software or tpm`},
		{[]string{"--tpm", sim.Path}, "--tpm and --pcr need --rot tpm"},
		{[]string{"--rot", "tpm", "--tpm", sim.Path, "--pcr", "16"}, "PCR 16 cannot hold the runtime's measurement"},
		{[]string{"--rot", "tpm", "--tpm", sim.Path, "--pcr", "7"}, "give a PCR from 8 to 15"},
		{[]string{"--rot", "tpm", "--tpm", filepath.Join(t.TempDir(), "none")}, "open the TPM"},
	} {
		dir := filepath.Join(t.TempDir(), "device")
		r := run(t, append([]string{"init", "--state", dir, "--server", svc.URL, "--cacert", ca}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("init %v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "tpm.json")); err == nil {
			t.Errorf("init %v left a device behind", c.args)
		}
	}
}
