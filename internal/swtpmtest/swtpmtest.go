// Package swtpmtest starts swtpm, a TPM 2.0 simulator, for tests: a fresh simulator per test on a
// temporary Unix socket, with an endorsement key (EK) certificate issued by a test CA made for the
// test binary.
//
// The first simulator a test binary asks for is provisioned once with swtpm_setup
// --create-ek-cert, through swtpm_localca and a CA of its own in a temporary folder; every test
// then runs on a copy of that provisioned state, so tests do not share a TPM and do not pay for
// provisioning again. Two distinct TPMs are offered ([A] and [B], with different endorsement and
// storage seeds but EK certificates from the same test CA), for attacks that move a device's state
// to another chip.
//
// Nothing is skipped: without swtpm the tests fail and say how to install it (scripts/test-services
// does).
package swtpmtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"
)

// Which names one of the two provisioned TPMs.
type Which int

// The two distinct TPMs a test binary can start.
const (
	A Which = iota
	B
)

// InstallHint says how to get what this package runs.
const InstallHint = "install the Debian packages swtpm and swtpm-tools (scripts/test-services does)"

var tools = []string{"swtpm", "swtpm_setup", "swtpm_localca", "swtpm_ioctl"}

// provisioned is the test binary's CA and templates, made once.
type provisioned struct {
	root      string
	caPEM     []byte
	templates [2]string
}

var (
	provOnce sync.Once
	prov     *provisioned
	provErr  error
)

// Main runs the tests and then removes the templates and test CA that [New] made. Use it from
// TestMain: os.Exit(swtpmtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Cleanup removes the templates and test CA, for a TestMain of its own.
func Cleanup() {
	if prov != nil {
		os.RemoveAll(prov.root)
	}
}

// Provision makes (once per process) the test CA and the two provisioned TPM templates, and
// returns the folder holding them. It is what [New] calls; tests that drive the real binaries use
// it with [Launch].
func Provision() error {
	provOnce.Do(func() { prov, provErr = provision() })
	return provErr
}

func provision() (*provisioned, error) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: %s", tool, InstallHint)
		}
	}
	root, err := os.MkdirTemp("", "rampart-swtpm-")
	if err != nil {
		return nil, err
	}
	p := &provisioned{root: root}
	ca := filepath.Join(root, "ca")
	if err := os.Mkdir(ca, 0o700); err != nil {
		return nil, err
	}
	files := map[string]string{
		"localca.conf": fmt.Sprintf("statedir = %[1]s\nsigningkey = %[1]s/signkey.pem\n"+
			"issuercert = %[1]s/issuercert.pem\ncertserial = %[1]s/certserial\n", ca),
		"localca.options": "--platform-manufacturer Rampart\n--platform-version 2.1\n--platform-model Test\n",
	}
	files["setup.conf"] = fmt.Sprintf("create_certs_tool = %s\ncreate_certs_tool_config = %s\n"+
		"create_certs_tool_options = %s\nactive_pcr_banks = sha256\n",
		mustLook("swtpm_localca"), filepath.Join(root, "localca.conf"), filepath.Join(root, "localca.options"))
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	for i := range p.templates {
		dir := filepath.Join(root, fmt.Sprintf("tpm%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		cmd := exec.Command("swtpm_setup", "--tpm2", "--tpmstate", dir, "--create-ek-cert",
			"--config", filepath.Join(root, "setup.conf"), "--pcr-banks", "sha256")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("swtpm_setup: %v\n%s", err, out)
		}
		p.templates[i] = dir
	}
	// The EK certificates are issued by the local CA's intermediate, which the root signed: the
	// test CA is both, intermediate first.
	for _, name := range []string{"issuercert.pem", "swtpm-localca-rootca-cert.pem"} {
		b, err := os.ReadFile(filepath.Join(ca, name))
		if err != nil {
			return nil, err
		}
		p.caPEM = append(p.caPEM, bytes.TrimSpace(b)...)
		p.caPEM = append(p.caPEM, '\n')
	}
	return p, nil
}

func mustLook(tool string) string {
	p, err := exec.LookPath(tool)
	if err != nil {
		return tool
	}
	return p
}

// CAPEM returns the test CA that issued every EK certificate of this test binary's TPMs: the
// issuing intermediate and its root, as PEM.
func CAPEM(t testing.TB) []byte {
	t.Helper()
	b, err := TestCA()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCA is [CAPEM] for a caller without a testing.TB.
func TestCA() ([]byte, error) {
	if err := Provision(); err != nil {
		return nil, err
	}
	return bytes.Clone(prov.caPEM), nil
}

// Sim is one running simulator.
type Sim struct {
	// Path is the TPM's command socket: what a device is given as its TPM.
	Path string
	// Ctrl is the control socket (power, reset).
	Ctrl string
	// State is the folder holding the simulator's persistent state.
	State string

	cmd  *exec.Cmd
	done chan error
}

// New starts a fresh copy of TPM A for the test and stops it when the test ends.
func New(t testing.TB) *Sim { t.Helper(); return Start(t, A) }

// Start starts a fresh copy of the given TPM for the test and stops it when the test ends.
func Start(t testing.TB, which Which) *Sim {
	t.Helper()
	if err := Provision(); err != nil {
		t.Fatal(err)
	}
	s, remove, err := StartCopy(which)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(remove)
	return s
}

// StartCopy is [Start] for a caller without a testing.TB, such as a test script's command:
// remove stops the simulator and removes its folders.
func StartCopy(which Which) (s *Sim, remove func(), err error) {
	if err := Provision(); err != nil {
		return nil, nil, err
	}
	sockDir, err := os.MkdirTemp("", "swtpm-") // short: socket paths are limited to 108 bytes
	if err != nil {
		return nil, nil, err
	}
	state := filepath.Join(sockDir, "state")
	if err := copyDir(prov.templates[which], state); err != nil {
		os.RemoveAll(sockDir)
		return nil, nil, err
	}
	if s, err = Launch(state, sockDir); err != nil {
		os.RemoveAll(sockDir)
		return nil, nil, err
	}
	return s, func() { s.Close(); os.RemoveAll(sockDir) }, nil
}

// Template returns the provisioned state folder of the given TPM, to be copied (never used in
// place) by callers of [Launch].
func Template(which Which) (string, error) {
	if err := Provision(); err != nil {
		return "", err
	}
	return prov.templates[which], nil
}

// Launch runs swtpm on the state folder, with its sockets in sockDir, and waits until it answers.
func Launch(state, sockDir string) (*Sim, error) {
	s := &Sim{
		Path:  filepath.Join(sockDir, "tpm.sock"),
		Ctrl:  filepath.Join(sockDir, "ctrl.sock"),
		State: state,
		done:  make(chan error, 1),
	}
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+s.Path,
		"--ctrl", "type=unixio,path="+s.Ctrl,
		"--tpmstate", "dir="+state,
		"--flags", "not-need-init,startup-clear")
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start swtpm: %w (%s)", err, InstallHint)
	}
	go func() { s.done <- s.cmd.Wait() }()
	// Poll for the sockets; the loop is bounded and its length is not asserted by any test.
	for range 500 {
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("swtpm exited: %v: %s", err, stderr.String())
		default:
		}
		if answers(s.Ctrl) && answers(s.Path) {
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	return nil, errors.New("swtpm did not open its sockets")
}

// answers reports whether a Unix socket accepts a connection: its file appears before swtpm
// listens on it.
func answers(p string) bool {
	c, err := net.Dial("unix", p)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Close stops the simulator; its state folder stays.
func (s *Sim) Close() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
	return nil
}

// Reset power-cycles the TPM through the control channel (TPM_Init) and starts it again with
// TPM2_Startup(CLEAR), as a reboot of the machine would: PCRs go back to zero, keys stored in the
// TPM's persistent state survive.
func (s *Sim) Reset(t testing.TB) {
	t.Helper()
	if err := s.reset(); err != nil {
		t.Fatal(err)
	}
}

// PowerCycle is [Sim.Reset] for a caller without a testing.TB, such as a command a test script
// runs between two steps of a device's boot.
func (s *Sim) PowerCycle() error { return s.reset() }

func (s *Sim) reset() error {
	if out, err := exec.Command("swtpm_ioctl", "--unix", s.Ctrl, "-i").CombinedOutput(); err != nil {
		return fmt.Errorf("swtpm_ioctl -i: %v: %s", err, out)
	}
	rwc, err := tpmutil.OpenTPM(s.Path)
	if err != nil {
		return err
	}
	tpm := transport.FromReadWriteCloser(rwc)
	defer tpm.Close()
	if _, err := (tpm2.Startup{StartupType: tpm2.TPMSUClear}).Execute(tpm); err != nil {
		return fmt.Errorf("TPM2_Startup after reset: %w", err)
	}
	return nil
}

func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == ".lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
