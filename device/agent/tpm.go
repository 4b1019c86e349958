package agent

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// tpmRoot is stage 1's hold on a TPM root of trust: the open TPM, the loaded AK, and the
// signing key it made for this start.
type tpmRoot struct {
	dir state.Dir
	pcr int
	t   *tpm.TPM
	ak  *tpm.AK
	key *tpm.Key
	ek  []byte // DER EK certificate
}

func (r *tpmRoot) close() error {
	err := errors.Join(r.key.Close(), r.ak.Close())
	return errors.Join(err, r.t.Close())
}

// newTPMIdentity is [NewIdentity] for a handoff whose root is the TPM. It opens the TPM that
// tpm.json names and loads the AK, and requires that the AK is the device's (its public key is
// the handed one, its hash device.json's device ID), that the handed measurements are the last
// event of the PCR's log and that the PCR holds exactly that log, and that the configuration
// is dev's. Then it makes this start's signing key, certified by the AK, and unseals the
// storage key ([Identity.StorageKey]).
func newTPMIdentity(dir state.Dir, h *handoff.Handoff, dev state.Device, logf func(string, ...any)) (*Identity, error) {
	cfg, err := dir.ReadTPM()
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	m, err := h.Measurements.Dice()
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	if m.Config != dev.ConfigMeasurement() {
		return nil, errors.New("handoff: device.json changed since stage 0 measured it")
	}
	t, err := tpm.Open(cfg.Path)
	if err != nil {
		return nil, err
	}
	r := &tpmRoot{dir: dir, pcr: cfg.PCR, t: t}
	fail := func(err error) (*Identity, error) {
		if r.key != nil {
			r.key.Close()
		}
		if r.ak != nil {
			r.ak.Close()
		}
		t.Close()
		return nil, err
	}
	if err := t.FlushTransient(); err != nil {
		return fail(err)
	}
	if r.ak, err = t.LoadAK(cfg.AK); err != nil {
		return fail(err)
	}
	if !bytes.Equal(r.ak.SPKI, h.DeviceIDKey) {
		return fail(errors.New("handoff: the attestation key is not the TPM's"))
	}
	if id := r.ak.DeviceID(); id != dev.DeviceID {
		return fail(fmt.Errorf("handoff: the TPM's attestation key is of device %s, but device.json names %s", id, dev.DeviceID))
	}
	log, value, err := r.readLog()
	if err != nil {
		return fail(err)
	}
	if log.Replay() != value {
		return fail(fmt.Errorf("PCR %d does not hold the event log stage 0 wrote: was the TPM reset since the boot? Start the device again", cfg.PCR))
	}
	if last, ok := log.Last(); !ok || last != m {
		return fail(errors.New("handoff: the measurements are not the event log's last event"))
	}
	if r.ek, err = t.EKCertificate(); err != nil {
		return fail(err)
	}
	if r.key, err = r.ak.NewKey(cfg.PCR); err != nil {
		return fail(err)
	}
	bc, err := dir.ReadBoot()
	if err != nil {
		return fail(err)
	}
	storageKey, err := r.loadStorageKey(log, value, bc.Pending == h.Slot, logf)
	if err != nil {
		return fail(err)
	}
	id := &Identity{DeviceID: dev.DeviceID, DeviceKey: r.ak.SPKI, Slot: h.Slot, Measurements: m,
		Root: state.RootTPM, signer: r.key, tpm: r, storageKey: storageKey}
	if len(h.ClaimVerifier) == len(ident.ClaimVerifier{}) {
		id.claimVerifier = (*ident.ClaimVerifier)(h.ClaimVerifier)
	}
	return id, nil
}

// readLog reads the event log and the PCR's value.
func (r *tpmRoot) readLog() (*tpm.Log, [32]byte, error) {
	var value [32]byte
	b, err := state.ReadFile(r.dir.Path(state.FileEventLog), int64(tpm.MaxLogSize))
	if err != nil {
		return nil, value, fmt.Errorf("read the event log: %w", err)
	}
	log, err := tpm.ParseLog(b)
	if err != nil {
		return nil, value, err
	}
	if len(log.Events) > 0 && log.PCR != r.pcr {
		return nil, value, fmt.Errorf("the event log is of PCR %d, not the runtime PCR %d", log.PCR, r.pcr)
	}
	value, err = r.t.ReadPCR(r.pcr)
	return log, value, err
}

// TPMKeys are what the nonce request of a TPM device carries: its EK certificate and AK.
func (id *Identity) TPMKeys() *api.TPMKeys {
	if id.tpm == nil {
		return nil
	}
	return &api.TPMKeys{EKCertificate: id.tpm.ek, AKPublic: id.tpm.ak.Public}
}

// TPMEvidence returns the attestation token of a TPM device: [Identity.Evidence]'s claims and
// the TPM claim — the secret recovered from the service's credential challenge, a quote of the
// runtime PCR over the nonce, the event log, and the signing key's certification by the AK —
// signed by the TPM signing key.
func (id *Identity) TPMEvidence(nonce []byte, cred *api.TPMCredential, now time.Time, images []evidence.Image) ([]byte, error) {
	r := id.tpm
	if r == nil {
		return nil, errors.New("TPM evidence from a device whose root is not a TPM")
	}
	if cred == nil {
		return nil, errors.New("the service sent no credential challenge for the TPM's keys")
	}
	secret, err := r.ak.Activate(cred.Credential, cred.Secret)
	if err != nil {
		return nil, err
	}
	log, value, err := r.readLog()
	if err != nil {
		return nil, err
	}
	quote, sig, err := r.ak.Quote(nonce, r.pcr)
	if err != nil {
		return nil, err
	}
	cp := r.key.Certification
	c := id.claims(nonce, now, images)
	c.TPM = &evidence.TPM{
		EKCertificate: r.ek, AKPublic: r.ak.Public, Activation: secret,
		PCR: r.pcr, PCRValue: value[:], Quote: quote, QuoteSignature: sig, EventLog: log.Marshal(),
		KeyPublic: cp.Public, KeyCreateData: cp.CreateData, KeyCreateAttestation: cp.CreateAttestation,
		KeyCreateSignature: cp.CreateSignature,
	}
	return evidence.SignTPM(c, id.signer)
}
