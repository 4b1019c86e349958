package devicecli

import (
	"bytes"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

// binary is rampart-device, built once for the package's tests: the process-level tests run
// the real program, whose stage 0 starts a copy of it as stage 1.
var binary string

// blinkWasm is examples/blink built for GOOS=wasip1 GOARCH=wasm.
var blinkWasm []byte

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rampart-device-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rampart-device")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/rampart-iot/rampart/cmd/rampart-device").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build rampart-device: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// blink, the sample app, built as the app host's tests build it.
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "blink.wasm"), "github.com/rampart-iot/rampart/examples/blink")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build blink: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if blinkWasm, err = os.ReadFile(filepath.Join(dir, "blink.wasm")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	swtpmtest.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// must runs a command that must succeed.
func must(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("rampart-device %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// oneErrorLine checks that stderr is exactly one line starting with rampart-device: and
// containing want.
func oneErrorLine(t *testing.T, r result, want string) {
	t.Helper()
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rampart-device: ") || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q: want one line 'rampart-device: …%s…'", r.stderr, want)
	}
}

// initDevice runs init against svc and returns the state folder and device ID.
func initDevice(t *testing.T, svc *servicetest.Service) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "device")
	ca := filepath.Join(t.TempDir(), "service-ca.pem")
	if err := os.WriteFile(ca, svc.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	r := must(t, "init", "--state", dir, "--server", svc.URL, "--cacert", ca)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("init's last line of stdout %q is not a device ID", id)
	}
	return dir, id
}

func status(t *testing.T, dir string) statusView {
	t.Helper()
	r := must(t, "status", "--state", dir, "--output", "json")
	var v statusView
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("status --output json: %v\n%s", err, r.stdout)
	}
	return v
}

func binarySHA512(t *testing.T) string {
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(b)
	return hex.EncodeToString(sum[:])
}

func TestInitIDStatusCert(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, id := initDevice(t, svc)

	if got := strings.TrimSpace(must(t, "id", "--state", dir).stdout); got != id {
		t.Errorf("id printed %q, init printed %q", got, id)
	}

	r := run(t, "cert", "--state", dir)
	if r.code != 1 || r.stdout != "" {
		t.Errorf("cert before attestation: exit %d, stdout %q", r.code, r.stdout)
	}
	oneErrorLine(t, r, "no certificate yet: run 'rampart-device run --state "+dir+"' after the device is claimed")

	v := status(t, dir)
	if v.DeviceID != id || v.ActiveSlot != "a" || v.FactorySHA512 != binarySHA512(t) || v.ServiceURL != svc.URL {
		t.Errorf("status = %+v", v)
	}
	if v.Boot != nil || v.LastAttestation != nil || v.Certificate != nil {
		t.Errorf("status of a device never run: %+v", v)
	}
	raw := must(t, "status", "--state", dir, "--output", "json").stdout
	for _, field := range []string{`"device_id"`, `"active_slot"`, `"boot": null`, `"last_attestation": null`, `"certificate": null`} {
		if !strings.Contains(raw, field) {
			t.Errorf("status JSON lacks %s:\n%s", field, raw)
		}
	}
	table := must(t, "status", "--state", dir).stdout
	if !strings.Contains(table, "device ID") || !strings.Contains(table, id) || !strings.Contains(table, "none yet") {
		t.Errorf("status table:\n%s", table)
	}

	// init refuses a folder that is a device already.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, svc.CAPEM, 0o644)
	r = run(t, "init", "--state", dir, "--server", svc.URL, "--cacert", ca)
	if r.code != 1 {
		t.Errorf("second init: exit %d", r.code)
	}
	oneErrorLine(t, r, "already initialised")
	if got := strings.TrimSpace(must(t, "id", "--state", dir).stdout); got != id {
		t.Error("a refused init changed the device ID")
	}
}

// TestRunOnceProtocolShape runs the real two-stage program against a stand-in of the service's
// device API that checks request shapes (the end-to-end test against the real service is
// elsewhere).
func TestRunOnceProtocolShape(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, id := initDevice(t, svc)

	svc.Lock()
	svc.FailReason, svc.FailMessage = "unclaimed", "the device is not claimed by any tenant; claim it with: rampart device claim ID"
	svc.Unlock()
	r := run(t, "run", "--state", dir, "--once")
	if r.code != 1 {
		t.Fatalf("run --once of an unclaimed device: exit %d, stderr %q", r.code, r.stderr)
	}
	if want := "rampart-device: attestation failed: unclaimed: " + svc.FailMessage + "\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	v := status(t, dir)
	if a := v.LastAttestation; a == nil || a.Result != "fail" || a.Reason != "unclaimed" || a.NextAttempt.IsZero() {
		t.Errorf("status after a failed attestation: %+v", v.LastAttestation)
	}
	if b := v.Boot; b == nil || b.RuntimeSHA512 != binarySHA512(t) || b.Mode != "normal" || b.Slot != "a" {
		t.Errorf("status boot: %+v", v.Boot)
	}

	svc.Lock()
	svc.FailReason = ""
	svc.Unlock()
	r = must(t, "run", "--state", dir, "--once")
	if !strings.Contains(r.stderr, "attestation passed") || !strings.Contains(r.stderr, "checked in as "+id) {
		t.Errorf("stderr of a passing run: %q", r.stderr)
	}

	pemChain := must(t, "cert", "--state", dir).stdout
	var certs []*x509.Certificate
	for rest := []byte(pemChain); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 || certs[0].Subject.CommonName != id {
		t.Fatalf("cert printed %d certificates, want the device's (CN %s) and its CA", len(certs), id)
	}
	v = status(t, dir)
	if a := v.LastAttestation; a == nil || a.Result != "pass" {
		t.Errorf("status after a pass: %+v", a)
	}
	if c := v.Certificate; c == nil || !c.ExpiresAt.Equal(certs[0].NotAfter) || c.Expired {
		t.Errorf("status certificate %+v, want expiry %v", c, certs[0].NotAfter)
	}

	// A restart of the same runtime keeps its certificate.
	must(t, "run", "--state", dir, "--once")
	svc.Lock()
	defer svc.Unlock()
	if svc.Attests != 2 || len(svc.Checkins) != 2 {
		t.Errorf("%d attestations and %d check-ins; want 2 (one failed) and 2", svc.Attests, len(svc.Checkins))
	}
	for _, p := range svc.Problems {
		t.Errorf("the stand-in saw a malformed request: %s", p)
	}
}

func TestRunRefusesTamperedRuntime(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	f, err := os.OpenFile(filepath.Join(dir, "slots", "a", "runtime"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	r := run(t, "run", "--state", dir, "--once")
	if r.code != 1 {
		t.Errorf("run of a tampered runtime: exit %d", r.code)
	}
	oneErrorLine(t, r, "untrusted runtime")
	svc.Lock()
	defer svc.Unlock()
	if svc.Nonces != 0 {
		t.Error("the tampered runtime was started and spoke to the service")
	}
}

func TestRunUntilSIGTERM(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "run", "--state", dir, "--checkin-interval", "1h")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		svc.Lock()
		n := len(svc.Checkins)
		svc.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no check-in within a minute; stderr:\n%s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "attestation passed") {
		t.Errorf("stderr of run: %s", stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"frobnicate"},
		{"id"},
		{"status", "--state", dir, "--output", "xml"},
		{"run", "--state", dir, "--checkin-interval", "0s"},
		{"run", "--state", dir, "--bogus"},
		{"init", "--state", dir},
		{"init", "--state", dir, "--server", "http://insecure.test", "--cacert", "x.pem"},
	} {
		r := run(t, args...)
		if r.code != 2 {
			t.Errorf("rampart-device %s: exit %d, want 2", strings.Join(args, " "), r.code)
		}
		oneErrorLine(t, r, "")
	}
}

func TestNotInitialised(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nothing")
	for _, cmd := range []string{"id", "run", "status", "cert"} {
		r := run(t, cmd, "--state", dir)
		if r.code != 1 {
			t.Errorf("%s of a folder that is no device: exit %d", cmd, r.code)
		}
		oneErrorLine(t, r, "rampart-device init")
	}
}

func TestStage1ByHandIsRefused(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	r := run(t, "stage1", "--state", dir, "--once")
	if r.code != 1 {
		t.Errorf("stage1 by hand: exit %d", r.code)
	}
	oneErrorLine(t, r, "start the device with 'rampart-device run'")
}
