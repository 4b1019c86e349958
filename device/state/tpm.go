package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rampart-iot/rampart/ident"
)

// The TPM root of trust's files (a device made with init --rot tpm has them instead of uds).
const (
	// FileTPM is tpm.json ([TPM]): which TPM, which PCR, and the TPM-wrapped blobs of the
	// device's keys.
	FileTPM = "tpm.json"
	// FileEventLog is the event log of the runtime PCR, in the TCG crypto-agile format.
	FileEventLog = "tpm-eventlog"
	// FileEventLogNew is the event log with one more event, written before stage 0 extends the
	// PCR and renamed over FileEventLog after.
	FileEventLogNew = FileEventLog + ".new"
)

// The roots of trust.
const (
	RootSoftware = "software"
	RootTPM      = "tpm"
)

// TPMVersion is tpm.json's version.
const TPMVersion = 1

// TPM is tpm.json. Its blobs are wrapped by the TPM's storage root key: no other TPM can load
// them, so the file is no secret and copying it gives nothing.
type TPM struct {
	Version         int    `json:"version"`
	Path            string `json:"tpm"` // the TPM's character device or simulator socket
	PCR             int    `json:"pcr"` // the runtime PCR, 8 to 15
	AK              []byte `json:"ak"`
	ClaimKeyPublic  []byte `json:"claim_key_public"`
	ClaimKeyPrivate []byte `json:"claim_key_private"`
}

// Check validates t.
func (t TPM) Check() error {
	switch {
	case t.Version != TPMVersion:
		return fmt.Errorf("tpm.json version %d, want %d", t.Version, TPMVersion)
	case t.Path == "":
		return errors.New("tpm.json names no TPM")
	case t.PCR < 8 || t.PCR > 15:
		return fmt.Errorf("tpm.json: PCR %d, want 8 to 15", t.PCR)
	case len(t.AK) == 0 || len(t.ClaimKeyPublic) == 0 || len(t.ClaimKeyPrivate) == 0:
		return errors.New("tpm.json: a key blob is missing")
	}
	return nil
}

// ReadTPM reads and checks tpm.json.
func (d Dir) ReadTPM() (TPM, error) {
	var t TPM
	if err := d.readJSON(FileTPM, &t); err != nil {
		return TPM{}, err
	}
	if err := t.Check(); err != nil {
		return TPM{}, err
	}
	return t, nil
}

// WriteTPM writes tpm.json, or with name another file of its format (init writes it under a
// temporary name first).
func (d Dir) WriteTPM(name string, t TPM) error {
	if err := t.Check(); err != nil {
		return err
	}
	return d.writeJSON(name, t)
}

// Root returns the device's root of trust: [RootTPM] if the folder has tpm.json, else
// [RootSoftware].
func (d Dir) Root() string {
	if _, err := os.Lstat(d.Path(FileTPM)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return RootTPM
	}
	return RootSoftware
}

// FileSealed is tpm-sealed.json ([SealedKey]): the runtime's storage key, sealed by the TPM to
// the runtime PCR values under which it may be released.
const FileSealed = "tpm-sealed.json"

// SealedKey is tpm-sealed.json. Public and Private are wrapped by the TPM's storage root key;
// Values are the PCR values the key is sealed to.
type SealedKey struct {
	Version int            `json:"version"`
	PCR     int            `json:"pcr"`
	Values  []ident.Digest `json:"values"`
	Public  []byte         `json:"public"`
	Private []byte         `json:"private"`
}

// ReadSealedKey reads tpm-sealed.json.
func (d Dir) ReadSealedKey() (SealedKey, error) {
	var s SealedKey
	if err := d.readJSON(FileSealed, &s); err != nil {
		return SealedKey{}, err
	}
	if s.Version != TPMVersion || len(s.Values) == 0 || len(s.Values) > 8 || len(s.Public) == 0 || len(s.Private) == 0 {
		return SealedKey{}, fmt.Errorf("%s is not a sealed key", d.Path(FileSealed))
	}
	return s, nil
}

// WriteSealedKey writes tpm-sealed.json.
func (d Dir) WriteSealedKey(s SealedKey) error { return d.writeJSON(FileSealed, s) }
