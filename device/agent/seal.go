package agent

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// StorageKeySize is the size of the runtime's storage key.
const StorageKeySize = 32

// StorageKey returns the runtime's storage key: a secret for what the runtime keeps at rest,
// which only this runtime (or one it was handed over to) obtains.
//
// With the software root it is HKDF-SHA512(CDI_Seal, info = "Rampart storage key"): the same
// for every runtime of the same authority and mode, as DICE's sealing CDI is. With a TPM it is
// 32 random bytes sealed by the TPM (tpm-sealed.json) to the runtime PCR's values under which
// this runtime runs — now, and after a reboot into it — so a changed runtime cannot unseal it;
// before stage 1 restarts into an update, [Agent.Run] seals it also to the values the update
// will run under (and to the old runtime's, should the update roll back).
//
// Apps' storage is sealed under keys derived from it (package apphost), and the event queue's
// lines are authenticated under one (package events); see [Agent.sealAtRest].
func (id *Identity) StorageKey() []byte { return id.storageKey }

func softwareStorageKey(cdiSeal []byte) []byte {
	k, err := hkdf.Key(sha512.New, cdiSeal, nil, "Rampart storage key", StorageKeySize)
	if err != nil {
		panic("agent: HKDF: " + err.Error()) // only for an impossible output length
	}
	return k
}

// loadStorageKey unseals the storage key, or makes a new one when there is none or this
// runtime may not have it (it was sealed for another runtime and not handed over), and seals it
// to this runtime: log's replay (value, now) and the runtime's measurement alone (after a
// reboot). A runtime on trial keeps the values it was handed with, so that the runtime before
// it still unseals the key if the trial rolls back; a committed one drops them.
func (r *tpmRoot) loadStorageKey(log *tpm.Log, value [32]byte, trial bool, logf func(string, ...any)) ([]byte, error) {
	var key []byte
	var kept [][32]byte
	s, err := r.dir.ReadSealedKey()
	switch {
	case err == nil:
		key, err = r.t.Unseal(sealedOf(s))
		if err != nil || len(key) != StorageKeySize {
			logf("the storage key sealed to an earlier runtime cannot be unsealed by this one (%v): making a new one; what the old one protected is lost", err)
			key = nil
		} else if trial {
			kept = sealedOf(s).Values
		}
	case !errors.Is(err, fs.ErrNotExist):
		logf("%v: making a new storage key", err)
	}
	if key == nil {
		key = make([]byte, StorageKeySize)
		rand.Read(key)
	}
	last := log.Events[len(log.Events)-1]
	fresh := (&tpm.Log{PCR: r.pcr, Events: [][]byte{last}}).Replay()
	values := [][32]byte{value, fresh}
	for _, v := range kept {
		if !slices.Contains(values, v) && len(values) < tpm.MaxSealedValues {
			values = append(values, v)
		}
	}
	if err := r.seal(key, values); err != nil {
		return nil, err
	}
	return key, nil
}

// seal seals key to the PCR values and writes tpm-sealed.json.
func (r *tpmRoot) seal(key []byte, values [][32]byte) error {
	s, err := r.t.Seal(key, r.pcr, values)
	if err != nil {
		return fmt.Errorf("seal the storage key: %w", err)
	}
	out := state.SealedKey{Version: state.TPMVersion, PCR: s.PCR, Public: s.Public, Private: s.Private}
	for _, v := range s.Values {
		out.Values = append(out.Values, ident.Digest(v))
	}
	return r.dir.WriteSealedKey(out)
}

func sealedOf(s state.SealedKey) *tpm.Sealed {
	out := &tpm.Sealed{PCR: s.PCR, Public: s.Public, Private: s.Private}
	for _, v := range s.Values {
		out.Values = append(out.Values, [32]byte(v))
	}
	return out
}

// handOver seals the storage key also to the PCR values under which the runtime that stage 0
// boots next will run: appended to this boot's log, after a reboot, and this runtime again
// after it, should the next one roll back. Called before stage 1 restarts for an update or a
// change of mode.
func (a *Agent) handOver() error {
	r := a.id.tpm
	if r == nil {
		return nil
	}
	next, err := boot.NextMeasurements(a.dir, nil)
	if err != nil {
		return fmt.Errorf("hand the storage key over: %w", err)
	}
	log, value, err := r.readLog()
	if err != nil {
		return fmt.Errorf("hand the storage key over: %w", err)
	}
	cur := log.Events[len(log.Events)-1]
	rec := tpm.Record(next)
	values := append([][32]byte{value, (&tpm.Log{PCR: r.pcr, Events: [][]byte{cur}}).Replay()}, tpm.Predict(log, rec)...)
	back := &tpm.Log{PCR: r.pcr, Events: append(append([][]byte{}, log.Events...), rec, cur)}
	values = append(values, back.Replay())
	return r.seal(a.id.storageKey, values)
}

// resetSealed removes what was sealed under another storage key than this runtime's (apps'
// storage and the event queue), logs why, and returns the AppStorage event that says so.
func (a *Agent) resetSealed() *api.DeviceEvent {
	e := events.New(api.EventAppStorage, api.ClassOS, api.TypeUnplanned,
		"the app storage was reset: it was sealed under a storage key this runtime does not have (a runtime that was not handed it over, or another authority or mode)")
	if a.leftFactoryImage() {
		a.opt.Log.Printf("the first release after the factory image: the factory image's sealed data (apps' storage, event queue) does not carry over to a signed release, so they start anew")
		e = events.New(api.EventAppStorage, api.ClassOS, api.TypePlanned,
			"the app storage started anew at the first release after the factory image (the factory image's storage key does not carry over)")
	} else {
		a.opt.Log.Printf("the state folder's sealed data is under another storage key than this runtime's (it was not handed over to this runtime, or the runtime's authority or mode changed): resetting the apps' storage and the event queue")
	}
	if err := apphost.ResetStorage(string(a.dir)); err != nil {
		a.opt.Log.Printf("%v", err)
	}
	if err := os.Remove(a.dir.Path(state.FileEvents)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.opt.Log.Printf("reset the event queue: %v", err)
	}
	return &e
}

// leftFactoryImage reports whether this runtime is the first release after the factory image:
// it is on trial in a slot holding a release's package, moved to from an active slot that holds
// none (the factory image pinned at init). The factory image boots under [boot.FactoryAuthority]
// and a release under its signer's, so with the software root their sealing CDIs differ by
// design (DICE's sealing CDI changes with the authority): what the factory image sealed is
// expected to be unreadable then, and its reset is planned, not an alarm.
func (a *Agent) leftFactoryImage() bool {
	bc, err := a.dir.ReadBoot()
	if err != nil || bc.Pending != a.id.Slot {
		return false
	}
	if _, err := os.Stat(a.dir.Package(a.id.Slot)); err != nil {
		return false
	}
	_, err = os.Stat(a.dir.Package(bc.Active))
	return errors.Is(err, fs.ErrNotExist)
}

// sealAtRest readies what the runtime keeps sealed under its storage key — apps' storage and
// the event queue — before anything uses it, by storage-key-id (state.FileStorageKeyID):
//
//   - none: the first runtime that seals; the apps' plain files are sealed in place;
//   - another key's: the data was sealed under a key this runtime does not have (it was not
//     handed over, or the authority or the DICE mode changed): every app's storage and the
//     queue are unreadable, so they are removed, and an AppStorage event says so (a planned
//     one at the first release after the factory image, see [Agent.leftFactoryImage]);
//   - this key's: files planted since are refused.
//
// Then stage 0's events join the queue, and each app file refused is an AppStorage event.
// Failures are logged: the runtime runs on, and the host refuses what does not authenticate.
func (a *Agent) sealAtRest() {
	key := a.id.storageKey
	want := state.StorageKeyID(key)
	got, err := a.dir.ReadStorageKeyID()
	first := errors.Is(err, fs.ErrNotExist)
	reset := !first && got != want
	if err != nil && !first {
		a.opt.Log.Printf("%v", err)
	}
	var resetEvent *api.DeviceEvent
	if reset {
		resetEvent = a.resetSealed()
	}
	if err := a.events.Adopt(); err != nil {
		a.opt.Log.Printf("%v", err)
	}
	migrated, refused, err := apphost.SealStorage(string(a.dir), key, first)
	if err != nil {
		a.opt.Log.Printf("%v", err)
	}
	if migrated > 0 {
		a.opt.Log.Printf("sealed %d files of the apps' storage written before storage was sealed", migrated)
	}
	for _, r := range refused {
		msg := fmt.Sprintf("storage file %s %v: refused and removed", r.Name, r.Err)
		a.opt.Log.Printf("app %s: %s", r.ComponentID, msg)
		e := events.New(api.EventAppStorage, api.ClassApp, api.TypeUnplanned, msg)
		if ident.IsID(r.ComponentID) {
			e.ComponentID = ident.ComponentID(r.ComponentID)
		}
		a.record(e)
	}
	if resetEvent != nil {
		a.record(*resetEvent)
	}
	if err == nil && got != want {
		if err := a.dir.WriteStorageKeyID(want); err != nil {
			a.opt.Log.Printf("%v", err)
		}
	}
}
