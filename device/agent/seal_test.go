package agent

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
)

// TestStorageFromChangedRuntimeIsUnreadable (software root): the first runtime that seals
// seals the apps' plain files; a restart of the same runtime (or one of the same authority and
// mode: the same CDI_Seal) reads them and the queue; a runtime with another CDI_Seal reads
// neither: the device logs it, resets app storage and the queue, and queues an AppStorage
// event saying so.
func TestStorageFromChangedRuntimeIsUnreadable(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	const cid = "0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f"
	folder := d.dir.Path(apphost.DirAppData, cid)
	os.MkdirAll(folder, 0o700)
	os.WriteFile(filepath.Join(folder, "config.json"), []byte("from before sealing"), 0o600)

	start := func(h func([]byte)) (*Agent, *bytes.Buffer) {
		var logged bytes.Buffer
		ho := d.handoff(t)
		if h != nil {
			h(ho.CDISeal)
		}
		a, err := New(d.dir, ho, Options{Once: true, Log: log.New(&logged, "", 0)})
		if err != nil {
			t.Fatal(err)
		}
		a.sealAtRest()
		return a, &logged
	}

	a, _ := start(nil)
	if b, err := apphost.ReadStorageFile(string(d.dir), a.id.StorageKey(), cid, "config.json"); err != nil || string(b) != "from before sealing" {
		t.Fatalf("the plain file after the first sealing start: %q, %v", b, err)
	}
	if err := a.events.Append(events.New(api.EventUpdateFailed, api.ClassOS, api.TypeUnplanned, "queued before")); err != nil {
		t.Fatal(err)
	}

	a, logged := start(nil) // a restart
	if _, err := apphost.ReadStorageFile(string(d.dir), a.id.StorageKey(), cid, "config.json"); err != nil {
		t.Errorf("after a restart of the same runtime: %v\n%s", err, logged)
	}
	if es, _, _ := a.events.Events(); len(es) != 1 || es[0].Description != "queued before" {
		t.Errorf("queue after a restart: %+v", es)
	}

	a, logged = start(func(cdi []byte) { cdi[0] ^= 1 }) // another authority or mode
	if _, err := apphost.ReadStorageFile(string(d.dir), a.id.StorageKey(), cid, "config.json"); err == nil {
		t.Error("a runtime with another CDI_Seal read the app's file")
	}
	if _, err := os.Stat(d.dir.Path(apphost.DirAppData)); !os.IsNotExist(err) {
		t.Errorf("the app storage was not reset: %v", err)
	}
	if !strings.Contains(logged.String(), "resetting the apps' storage and the event queue") {
		t.Errorf("the reset is not logged:\n%s", logged)
	}
	es, _, _ := a.events.Events()
	if len(es) != 1 || es[0].Category != api.EventAppStorage || es[0].Class != api.ClassOS || !strings.Contains(es[0].Description, "app storage was reset") {
		t.Errorf("queue after the change: %+v; want only the AppStorage reset event", es)
	}
	if id, _ := d.dir.ReadStorageKeyID(); id != state.StorageKeyID(a.id.StorageKey()) {
		t.Error("storage-key-id does not name the new key")
	}
}

// TestPlantedStorageFileIsRefusedAtStart: a plain file put in an app's storage after the
// first sealing start is refused when stage 1 starts, and reported as an AppStorage event.
func TestPlantedStorageFileIsRefusedAtStart(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	a := d.agent(t, Options{})
	a.sealAtRest()
	const cid = "0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f"
	os.MkdirAll(d.dir.Path(apphost.DirAppData, cid), 0o700)
	os.WriteFile(d.dir.Path(apphost.DirAppData, cid, "config.json"), []byte(`{"broker": "evil.example"}`), 0o600)
	a = d.agent(t, Options{})
	a.sealAtRest()
	if _, err := os.Stat(d.dir.Path(apphost.DirAppData, cid, "config.json")); !os.IsNotExist(err) {
		t.Errorf("the planted file is still there: %v", err)
	}
	es, _, _ := a.events.Events()
	if len(es) != 1 || es[0].Category != api.EventAppStorage || es[0].Class != api.ClassApp || string(es[0].ComponentID) != cid || !strings.Contains(es[0].Description, "config.json") {
		t.Errorf("queued: %+v; want one AppStorage event naming the file", es)
	}
}

// TestFirstReleaseAfterFactoryImageStartsStorageAnew (software root): the factory image boots
// under the factory authority and a release under its signer's, so the first release's sealing
// CDI differs by design. Its reset of the apps' storage is logged as the factory hand-over and
// reported as a planned AppStorage event, not as an unplanned one that would alarm every new
// device's owner; a reset of a release on trial after another release stays unplanned.
func TestFirstReleaseAfterFactoryImageStartsStorageAnew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		fromRelease bool
		wantType    string
		wantLog     string
	}{
		{"after the factory image", false, api.TypePlanned, "the first release after the factory image"},
		{"after another release", true, api.TypeUnplanned, "resetting the apps' storage and the event queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := servicetest.New(t)
			d := newDevice(t, svc)
			start := func(flip bool) (*Agent, *bytes.Buffer) {
				var logged bytes.Buffer
				ho := d.handoff(t)
				if flip {
					ho.CDISeal[0] ^= 1
				}
				a, err := New(d.dir, ho, Options{Once: true, Log: log.New(&logged, "", 0)})
				if err != nil {
					t.Fatal(err)
				}
				a.sealAtRest()
				return a, &logged
			}
			a, _ := start(false) // the factory image seals
			bc, err := d.dir.ReadBoot()
			if err != nil {
				t.Fatal(err)
			}
			// An update put a release in the running slot and set it on trial; the active slot
			// is the other one, with or without a release's package.
			other := state.SlotB
			if a.id.Slot == state.SlotB {
				other = state.SlotA
			}
			bc.Active, bc.Pending, bc.Tries = other, a.id.Slot, 1
			if err := d.dir.WriteBoot(bc); err != nil {
				t.Fatal(err)
			}
			write := func(slot state.Slot) {
				os.MkdirAll(filepath.Dir(d.dir.Package(slot)), 0o700)
				if err := os.WriteFile(d.dir.Package(slot), []byte("a release's package header"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(a.id.Slot)
			if tc.fromRelease {
				write(other)
			}
			a, logged := start(true) // the release: another authority, another CDI_Seal
			if !strings.Contains(logged.String(), tc.wantLog) {
				t.Errorf("log %q; want %q", logged, tc.wantLog)
			}
			es, _, _ := a.events.Events()
			if len(es) != 1 || es[0].Category != api.EventAppStorage || es[0].Type != tc.wantType {
				t.Errorf("queue: %+v; want one AppStorage event of type %s", es, tc.wantType)
			}
		})
	}
}
