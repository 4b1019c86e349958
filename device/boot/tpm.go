package boot

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// TPMConfig makes a device whose root of trust is a TPM 2.0.
type TPMConfig struct {
	Path string // the TPM's character device (/dev/tpmrm0) or a simulator's Unix socket
	PCR  int    // the runtime PCR, 8 to 15 (tpm.DefaultPCR if 0)
}

// ErrForeignPCR is returned by stage 0 when the runtime PCR holds measurements that Rampart's
// event log does not account for. It is of class [ErrAlarm].
var ErrForeignPCR = fmt.Errorf("%w: foreign PCR measurements", ErrAlarm)

// newTPM is where init writes tpm.json before the device is complete, as newUDS for the UDS.
const newTPM = state.FileTPM + ".new"

// CheckPCR refuses a PCR that the runtime may not be measured into: only 8 to 15 are. 0 to 7
// are the platform firmware's, 16 and 23 can be reset by software (a changed runtime could erase
// its own measurement), and the others are the operating system's or DRTM's.
func CheckPCR(pcr int) error {
	if pcr < 8 || pcr > 15 {
		return fmt.Errorf("PCR %d cannot hold the runtime's measurement: give a PCR from 8 to 15 (PCRs 16 and 23 can be reset by software)", pcr)
	}
	return nil
}

// initTPM is Init for a TPM device: it makes the attestation key and the claim key in the TPM
// and keeps their TPM-wrapped blobs in tpm.json, which takes its name last.
func initTPM(dir state.Dir, f Factory) (ident.DeviceID, error) {
	c := *f.TPM
	if c.PCR == 0 {
		c.PCR = tpm.DefaultPCR
	}
	if err := CheckPCR(c.PCR); err != nil {
		return "", err
	}
	t, err := tpm.Open(c.Path)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	defer t.Close()
	if _, err := t.EKCertificate(); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	p, err := t.Provision()
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	ak, err := t.LoadAK(p.AK)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	id := ak.DeviceID()
	ak.Close()
	cfg := state.TPM{Version: state.TPMVersion, Path: c.Path, PCR: c.PCR, AK: p.AK,
		ClaimKeyPublic: p.ClaimKeyPublic, ClaimKeyPrivate: p.ClaimKeyPrivate}
	if err := dir.WriteTPM(newTPM, cfg); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := writeFactoryRuntime(dir, f.Runtime); err != nil {
		return "", err
	}
	if err := writeTrust(dir, f, id); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	for _, stale := range []string{state.FileEventLog, state.FileEventLogNew} {
		if err := os.Remove(dir.Path(stale)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("init: %w", err)
		}
	}
	if err := os.Link(dir.Path(newTPM), dir.Path(state.FileTPM)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("%s is %w: another init made a device in it meanwhile", dir, ErrInitialised)
		}
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.Remove(dir.Path(newTPM)); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := state.SyncDir(string(dir)); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	return id, nil
}

// openTPM opens the device's TPM and loads its attestation key.
func openTPM(dir state.Dir) (*tpm.TPM, *tpm.AK, state.TPM, error) {
	cfg, err := dir.ReadTPM()
	if err != nil {
		return nil, nil, cfg, err
	}
	t, err := tpm.Open(cfg.Path)
	if err != nil {
		return nil, nil, cfg, err
	}
	ak, err := t.LoadAK(cfg.AK)
	if err != nil {
		t.Close()
		return nil, nil, cfg, err
	}
	return t, ak, cfg, nil
}

func tpmDeviceID(dir state.Dir) (ident.DeviceID, error) {
	t, ak, _, err := openTPM(dir)
	if err != nil {
		return "", err
	}
	defer t.Close()
	defer ak.Close()
	return ak.DeviceID(), nil
}

func tpmClaimCode(dir state.Dir) (ident.ClaimCode, error) {
	cfg, err := dir.ReadTPM()
	if err != nil {
		return "", err
	}
	t, err := tpm.Open(cfg.Path)
	if err != nil {
		return "", err
	}
	defer t.Close()
	return t.ClaimCode(cfg.ClaimKeyPublic, cfg.ClaimKeyPrivate)
}

// measureTPM is steps 4 and 5 of the boot of a TPM device: it checks that the TPM's AK is the
// device's, computes the claim code's verifier with the claim key, and measures the runtime into
// the PCR ([MeasureIntoPCR]). It returns the AK's SPKI and the verifier.
func measureTPM(dir state.Dir, dev state.Device, m dice.Measurements) (spki []byte, verifier ident.ClaimVerifier, err error) {
	t, ak, cfg, err := openTPM(dir)
	if err != nil {
		return nil, verifier, err
	}
	defer t.Close()
	defer ak.Close()
	if id := ak.DeviceID(); id != dev.DeviceID {
		return nil, verifier, fmt.Errorf("%w: the TPM's attestation key is of device %s, but device.json names %s", ErrAlarm, id, dev.DeviceID)
	}
	code, err := t.ClaimCode(cfg.ClaimKeyPublic, cfg.ClaimKeyPrivate)
	if err != nil {
		return nil, verifier, err
	}
	if err := MeasureIntoPCR(dir, t, cfg.PCR, m); err != nil {
		return nil, verifier, err
	}
	return ak.SPKI, code.Verifier(), nil
}

// MeasureIntoPCR records the runtime's measurements m in the PCR and its event log
// (state.FileEventLog), the TPM's part of measured boot:
//
//  1. Read the PCR. If it is all zero, the TPM was reset (the machine rebooted): start a new
//     log. Else it must equal the replay of the stored log (or of the log with one more event,
//     state.FileEventLogNew, if stage 0 stopped between extending and renaming it); any other
//     value means measurements Rampart did not make, and the boot is refused ([ErrForeignPCR]).
//  2. If the log's last event is m and the PCR equals the log's replay, this is a restart of
//     the same runtime: nothing is extended.
//  3. Else write the log with m appended as state.FileEventLogNew, extend the PCR with the
//     SHA-256 of m's record ([tpm.Record]), and rename the new log over the old one. A log of
//     tpm.MaxEvents events takes no more: the device must be rebooted.
func MeasureIntoPCR(dir state.Dir, t *tpm.TPM, pcr int, m dice.Measurements) error {
	value, err := t.ReadPCR(pcr)
	if err != nil {
		return err
	}
	log, fromNew, err := currentLog(dir, pcr, value)
	if err != nil {
		return err
	}
	if fromNew { // stage 0 stopped after extending the PCR: the new log is the log
		if err := os.Rename(dir.Path(state.FileEventLogNew), dir.Path(state.FileEventLog)); err != nil {
			return fmt.Errorf("write the event log: %w", err)
		}
	}
	rec := tpm.Record(m)
	if n := len(log.Events); n > 0 && bytes.Equal(log.Events[n-1], rec) {
		return nil
	}
	if len(log.Events) == tpm.MaxEvents {
		return fmt.Errorf("%w: PCR %d holds %d runtime measurements, the most one boot of the machine may: reboot it", ErrAlarm, pcr, tpm.MaxEvents)
	}
	log.Events = append(log.Events, rec)
	if err := state.WriteFile(dir.Path(state.FileEventLogNew), log.Marshal(), 0o600); err != nil {
		return fmt.Errorf("write the event log: %w", err)
	}
	if err := t.ExtendPCR(pcr, sha256.Sum256(rec)); err != nil {
		return err
	}
	if err := os.Rename(dir.Path(state.FileEventLogNew), dir.Path(state.FileEventLog)); err != nil {
		return fmt.Errorf("write the event log: %w", err)
	}
	return state.SyncDir(string(dir))
}

// currentLog returns the stored log that accounts for the PCR's value: none after a reset, the
// event log, or the new log of an interrupted append.
func currentLog(dir state.Dir, pcr int, value [32]byte) (log *tpm.Log, fromNew bool, err error) {
	if value == ([32]byte{}) {
		return &tpm.Log{PCR: pcr}, false, nil
	}
	for _, name := range []string{state.FileEventLog, state.FileEventLogNew} {
		b, err := state.ReadFile(dir.Path(name), int64(tpm.MaxLogSize))
		if err != nil {
			continue
		}
		log, err := tpm.ParseLog(b)
		if err != nil || (len(log.Events) > 0 && log.PCR != pcr) {
			continue
		}
		log.PCR = pcr
		if log.Replay() == value {
			return log, name == state.FileEventLogNew, nil
		}
	}
	return nil, false, fmt.Errorf("%w: PCR %d holds measurements Rampart did not make; another program uses it, or the event log in %s was lost or changed: reboot the machine to clear the PCR, or give the device another PCR with a new init", ErrForeignPCR, pcr, dir.Path(state.FileEventLog))
}

// measureSlotTPM is the end of [MeasureSlot] for a TPM device: no UDS, no CDI and no Alias
// certificate; stage 1 is told that its root is the TPM and opens the TPM itself.
func measureSlotTPM(dir state.Dir, dev state.Device, slot state.Slot, path string, m dice.Measurements) (*Stage1, error) {
	spki, verifier, err := measureTPM(dir, dev, m)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	h := handoff.Handoff{Version: handoff.Version, Root: state.RootTPM, Slot: slot, DeviceIDKey: spki,
		Measurements: state.FromDice(m)}
	b, err := h.Marshal()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	return &Stage1{Dir: dir, Slot: slot, Path: path, DeviceID: dev.DeviceID, Measurements: m, handoff: b,
		claimVerifier: verifier[:]}, nil
}

// NextMeasurements returns the measurements of the runtime that stage 0 will boot next: the
// pending slot's if one is on trial, else the active one's, verified as [MeasureSlot] verifies
// it (with v, or RuntimeVerifier if nil) but without touching the UDS or the TPM. Stage 1 uses
// it to hand sealed data over to an update before it restarts.
func NextMeasurements(dir state.Dir, v Verifier) (dice.Measurements, error) {
	bc, err := dir.ReadBoot()
	if err != nil {
		return dice.Measurements{}, err
	}
	slot := bc.Active
	if bc.Pending != "" {
		slot = bc.Pending
	}
	dev, err := dir.ReadDevice()
	if err != nil {
		return dice.Measurements{}, err
	}
	if v == nil {
		keys, err := dir.ReadRuntimeKeys()
		if err != nil {
			return dice.Measurements{}, err
		}
		v = RuntimeVerifier{Boot: bc, Keys: keys}
	}
	rt, err := measure(dir.Runtime(slot))
	if err != nil {
		return dice.Measurements{}, err
	}
	authority, err := v.Verify(dir, slot, rt)
	if err != nil {
		return dice.Measurements{}, err
	}
	return dice.Measurements{Runtime: rt.SHA512, Config: dev.ConfigMeasurement(), Authority: authority, Mode: Mode(dir, dev)}, nil
}
