package handoff

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/state"
)

func sample() *Handoff {
	return &Handoff{
		Version:     Version,
		Slot:        state.SlotA,
		CDIAttest:   bytes.Repeat([]byte{1}, 32),
		CDISeal:     bytes.Repeat([]byte{2}, 32),
		AliasCert:   []byte("DER of the alias certificate"),
		DeviceIDKey: []byte("DER of the DeviceID key"),
		Measurements: state.Measurements{Runtime: sha512.Sum512([]byte("rt")), Config: sha512.Sum512([]byte("cfg")),
			Authority: sha512.Sum512([]byte("auth")), Mode: "normal"},
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := h.Marshal()
	if !bytes.Equal(b, again) {
		t.Errorf("round trip changed the handoff:\n%s\n%s", b, again)
	}
	h.Zero()
	if !bytes.Equal(h.CDIAttest, make([]byte, 32)) || !bytes.Equal(h.CDISeal, make([]byte, 32)) {
		t.Error("Zero left the CDIs")
	}
}

func TestReadRefusesMalformed(t *testing.T) {
	good, _ := sample().Marshal()
	edit := func(f func(map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"unknown field (a smuggled UDS)", edit(func(m map[string]any) { m["uds"] = "AAAA" })},
		{"other version", edit(func(m map[string]any) { m["version"] = 2 })},
		{"short CDI", edit(func(m map[string]any) { m["cdi_attest"] = "AAAA" })},
		{"no alias certificate", edit(func(m map[string]any) { delete(m, "alias_certificate") })},
		{"bad slot", edit(func(m map[string]any) { m["slot"] = "c" })},
		{"bad mode", edit(func(m map[string]any) { m["measurements"].(map[string]any)["mode"] = "godmode" })},
		{"trailing data", append(append([]byte{}, good...), "{}"...)},
		{"too large", []byte(`{"version":1,"slot":"` + strings.Repeat("a", MaxSize) + `"}`)},
		{"empty", nil},
	} {
		if _, err := Read(bytes.NewReader(tc.in)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// FuzzRead checks that whatever Read accepts marshals back to bytes that Read accepts as the
// same handoff.
func FuzzRead(f *testing.F) {
	good, _ := sample().Marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		enc, err := h.Marshal()
		if err != nil {
			t.Fatalf("accepted handoff does not marshal: %v", err)
		}
		h2, err := Read(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded handoff refused: %v", err)
		}
		enc2, _ := h2.Marshal()
		if !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}
