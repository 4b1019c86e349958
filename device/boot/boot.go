// Package boot is stage 0 of the device runtime, its "ROM": the only code that reads the UDS.
// It measures the runtime in the slot it boots, refuses one it does not trust, derives the next
// DICE layer and starts the runtime as stage 1, handing it the layer's CDIs but never the UDS
// (DESIGN section 4).
//
// Stage 0 is kept small because everything the device can prove about itself rests on it: a
// tampered stage 1 is measured differently, gets another CDI and another Alias key, and so
// cannot speak for the device.
//
// # The boot, step by step
//
//  0. Choose the slot ([Run]): the active one, or once the pending one of an A/B trial
//     (see [state.Boot]); roll back a trial that did not commit.
//  1. Read boot.json (active slot, pinned factory images) and device.json; check that the
//     service CA file is the one device.json names by hash.
//  2. Measure the slot's runtime: Code = SHA-512 of its bytes.
//  3. Ask the [Verifier] whether it may boot and under which authority ([RuntimeVerifier]):
//     the factory image pinned at init (Authority = [FactoryAuthority]), or a runtime whose
//     signed package header in the slot names its size and SHA-256 and is signed by one of
//     the runtime keys learnt at init (Authority = [SignerAuthority] of that key). Any other
//     runtime is refused with an error of class [ErrAlarm], and never started.
//  4. Read the UDS; derive the DeviceID key from it alone (rot.DeviceIDKey) and check that it
//     is the device device.json names.
//  5. Derive the layer (rot.DeriveLayer) from Code, Config = SHA-512 of device.json's canonical
//     bytes, Authority, Mode ([Mode]: Debug while the device holds a valid development
//     capability, else Normal) and Hidden = zero, and have the DeviceID key certify the Alias
//     key and the measurements (rot.AliasCertificate).
//  6. Zero the UDS and the CDIs (best effort; see Limits for the private keys), start `<runtime> stage1 --state DIR …`
//     with the [handoff.Handoff] on an inherited pipe (fd 3), forward SIGINT and SIGTERM to it,
//     and wait for it. Its exit code [ExitRestart] means "boot again" (an update set a slot on
//     trial); any other is returned.
//
// # With a TPM
//
// A device made with init --rot tpm has no UDS: steps 4 to 6 become
//
//  4. Open the TPM that tpm.json names, load the attestation key (AK) from its TPM-wrapped blob
//     and check that its SHA-256 is the device device.json names; compute the claim code with
//     the TPM's claim key.
//  5. Measure the runtime into the runtime PCR and its event log ([MeasureIntoPCR]): the record
//     is the same measurements (Code, Config, Authority, Mode) that a software device derives
//     its layer from.
//  6. Start stage 1 with a handoff that says its root is the TPM and carries the AK's public key
//     and the measurements, no CDI; stage 1 opens the TPM itself.
//
// # Limits
//
// Stage 0 executes the runtime by path after hashing it, so someone who can write to the state
// folder between the two could swap it; the folder is 0700 for that reason. A device with a
// real ROM would load the measured bytes into memory it alone controls.
package boot

import (
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// Stage1Command is the hidden subcommand of the runtime that stage 0 starts.
const Stage1Command = "stage1"

// MaxRuntimeSize bounds a runtime image, in bytes.
const MaxRuntimeSize = api.MaxRuntimeSize

// ErrAlarm is the class of boot errors that mean the device may be under attack: its software
// or configuration is not what it should be. A device must not retry these quietly.
var ErrAlarm = errors.New("security alarm")

// ErrUntrustedRuntime is returned when the active slot holds a runtime that the [Verifier]
// refuses. It is of class [ErrAlarm].
var ErrUntrustedRuntime = fmt.Errorf("%w: untrusted runtime", ErrAlarm)

// FactoryAuthority is the DICE authority input of the factory image: the SHA-512 of
// "rampart factory image". Runtimes signed by the operator have [SignerAuthority] instead.
var FactoryAuthority = sha512.Sum512([]byte("rampart factory image"))

// Stage1 is a measured and verified runtime, ready to start, with its handoff.
type Stage1 struct {
	Dir          state.Dir
	Slot         state.Slot
	Path         string // the runtime executable
	DeviceID     ident.DeviceID
	Measurements dice.Measurements
	AliasCert    []byte // DER

	handoff       []byte // secret: holds the CDIs
	claimVerifier []byte // verifier of the claim code, for handoff.ClaimVerifierFD
}

// Measure does steps 1 to 5 of the boot of the active slot: everything before stage 1
// starts. A nil v means [RuntimeVerifier] with dir's boot.json and runtime keys.
func Measure(dir state.Dir, v Verifier) (*Stage1, error) {
	bc, err := dir.ReadBoot()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	return MeasureSlot(dir, v, bc.Active)
}

// MeasureSlot is [Measure] of the given slot.
func MeasureSlot(dir state.Dir, v Verifier, slot state.Slot) (*Stage1, error) {
	bc, err := dir.ReadBoot()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	dev, err := dir.ReadDevice()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	if _, err := dir.ReadServiceCA(dev); err != nil {
		return nil, fmt.Errorf("boot: %w: %w", ErrAlarm, err)
	}
	if v == nil {
		keys, err := dir.ReadRuntimeKeys()
		if err != nil {
			return nil, fmt.Errorf("boot: %w: %w", ErrAlarm, err)
		}
		v = RuntimeVerifier{Boot: bc, Keys: keys}
	}
	path := dir.Runtime(slot)
	rt, err := measure(path)
	if err != nil {
		return nil, fmt.Errorf("boot: measure slot %s: %w", slot, err)
	}
	authority, err := v.Verify(dir, slot, rt)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	in := rot.Inputs{Code: rt.SHA512, Config: dev.ConfigMeasurement(), Authority: authority, Mode: Mode(dir, dev)}
	if dir.Root() == state.RootTPM {
		return measureSlotTPM(dir, dev, slot, path, in.Measurements())
	}

	uds, err := rot.LoadUDS(dir.Path(state.FileUDS))
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	defer clear(uds)
	deviceKey, err := rot.DeviceIDKey(uds)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	code, err := rot.ClaimCode(uds)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	verifier := code.Verifier()
	spki, err := x509.MarshalPKIXPublicKey(&deviceKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	if id := ident.DeviceIDFromPublicKey(spki); id != dev.DeviceID {
		return nil, fmt.Errorf("boot: %w: the UDS is of device %s, but device.json names %s", ErrAlarm, id, dev.DeviceID)
	}
	layer, err := rot.DeriveLayer(uds, in)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	defer func() {
		clear(layer.CDIAttest[:])
		clear(layer.CDISeal[:])
	}()
	m := in.Measurements()
	cert, err := rot.AliasCertificate(deviceKey, layer.AliasKey, m)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	h := handoff.Handoff{
		Version:      handoff.Version,
		Slot:         slot,
		CDIAttest:    layer.CDIAttest[:],
		CDISeal:      layer.CDISeal[:],
		AliasCert:    cert,
		DeviceIDKey:  spki,
		Measurements: state.FromDice(m),
	}
	b, err := h.Marshal()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	return &Stage1{Dir: dir, Slot: slot, Path: path, DeviceID: dev.DeviceID, Measurements: m, AliasCert: cert, handoff: b,
		claimVerifier: verifier[:]}, nil
}

// Mode is the DICE mode stage 0 measures (DESIGN section 4): rot.ModeDebug while the state
// folder holds a development capability (capability.json) that one of the tenant keys in
// tenant-keys.pem signed for this device, else rot.ModeNormal — also when either file is
// missing or does not check. The mode is part of the measurements that the attestation
// reports, so a device in Debug mode says so, and the service accepts that only for a device
// for which it enabled development.
func Mode(dir state.Dir, dev state.Device) rot.Mode {
	if _, err := dir.Development(dev.DeviceID); err == nil {
		return rot.ModeDebug
	}
	return rot.ModeNormal
}

// Discard zeroes the handoff, for a Stage1 that will not be started.
func (s *Stage1) Discard() { clear(s.handoff) }

// Process is a running stage 1.
type Process struct{ cmd *exec.Cmd }

// Start starts the runtime as `<runtime> stage1 --state DIR args…` and hands it the handoff
// on fd 3. The handoff is zeroed once written, whatever happens.
func (s *Stage1) Start(args []string, stdout, stderr io.Writer) (*Process, error) {
	defer s.Discard()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	cv, err := s.claimVerifierPipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("boot: %w", err)
	}
	defer cv.Close()
	var cmd *exec.Cmd
	for try := 0; ; try++ {
		cmd = exec.Command(s.Path, append([]string{Stage1Command, "--state", string(s.Dir)}, args...)...)
		cmd.ExtraFiles = []*os.File{r, cv} // fd 3 == handoff.FD, fd 4 == handoff.ClaimVerifierFD
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err = cmd.Start()
		// ETXTBSY: a process forked elsewhere in this program still holds the runtime's file
		// open for writing (it was just written) until it execs; it passes (golang.org/issue/22315).
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("boot: start stage 1: %w", err)
	}
	_, err = w.Write(s.handoff)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EPIPE) {
		err = nil // stage 1 closed fd 3 unread (or has exited already): its exit code tells the rest
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("boot: hand over to stage 1: %w", err)
	}
	return &Process{cmd: cmd}, nil
}

// claimVerifierPipe returns the read end of a pipe that holds the claim-code verifier and is
// closed for writing: 32 bytes fit any pipe's buffer, so nothing waits for stage 1 to read.
func (s *Stage1) claimVerifierPipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.Write(s.claimVerifier)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("hand over the claim verifier: %w", err)
	}
	return r, nil
}

// Signal sends sig to stage 1.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for stage 1 to exit and returns its exit code: 1 if it was killed by a signal.
func (p *Process) Wait() (int, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 {
			return code, nil
		}
		return 1, nil
	}
	if err != nil {
		return 1, fmt.Errorf("boot: wait for stage 1: %w", err)
	}
	return 0, nil
}
