package ident

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/format/safetext"
)

func TestParseDeviceID(t *testing.T) {
	good := strings.Repeat("0a", 32)
	for in, ok := range map[string]bool{
		good:                               true,
		strings.ToUpper(good):              false,
		good[:63]:                          false,
		good + "0":                         false,
		strings.Repeat("g", 64):            false,
		"":                                 false,
		"../" + good[3:]:                   false,
		strings.Repeat("é", 32):            false,
		string(DeviceIDFromPublicKey(nil)): true,
	} {
		if _, err := ParseDeviceID(in); (err == nil) != ok {
			t.Errorf("ParseDeviceID(%q): err %v, want ok=%v", in, err, ok)
		}
	}
}

func TestValidateName(t *testing.T) {
	for in, ok := range map[string]bool{
		"Toaster": true, "Field Test OS Evaluation": true, "a_b-c 9": true, strings.Repeat("x", 50): true,
		"": false, strings.Repeat("x", 51): false, " x": false, "x ": false, "a/b": false, "a.b": false,
		"semi;colon": false, "tab\t": false, "é": false, "nul\x00": false, "..": false,
	} {
		if err := ValidateName(in); (err == nil) != ok {
			t.Errorf("ValidateName(%q): err %v, want ok=%v", in, err, ok)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	for in, ok := range map[string]bool{
		"a@b": true, "alice@acme.example": true,
		"": false, "@b": false, "a@": false, "a@b@c": false, "a b@c": false, "a/b@c": false,
		strings.Repeat("a", 250) + "@b.cd": false,
	} {
		if err := ValidateEmail(in); (err == nil) != ok {
			t.Errorf("ValidateEmail(%q): err %v, want ok=%v", in, err, ok)
		}
	}
}

func TestNewIDIsCanonical(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewID()
		if !IsID(id) || id[14] != '4' || seen[id] {
			t.Fatalf("NewID() = %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "not-an-id", strings.ToUpper(NewID()), NewID() + "0"} {
		if IsID(bad) {
			t.Errorf("IsID(%q) = true", bad)
		}
	}
}

func TestDigestText(t *testing.T) {
	d := SHA256([]byte("rampart"))
	b, _ := d.MarshalText()
	var back Digest
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("round trip: %v", err)
	}
	if err := back.UnmarshalText([]byte("zz")); err == nil {
		t.Error("a malformed digest was accepted")
	}
}

// FuzzValidateName checks that an accepted name is short, printable ASCII of the allowed kind,
// and that a refusal's message stays short and valid UTF-8 whatever the input.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"Toaster", "", " x", "a/b", strings.Repeat("x", 51), "\xff\xfe", "Toast\u202eer", "Toa\u200bster"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName(s)
		if err == nil {
			if len(s) == 0 || len(s) > MaxNameLen || strings.ContainsAny(s, "/\\.\x00") || safetext.Check(s) != nil {
				t.Fatalf("accepted %q", s)
			}
			return
		}
		if msg := err.Error(); len(msg) > 200 || !utf8.ValidString(msg) {
			t.Fatalf("error message %q", msg)
		}
	})
}

// TestBidiOverrideInNameRefused: "Prod\u202euction" shows as another name than it is.
func TestBidiOverrideInNameRefused(t *testing.T) {
	for _, s := range []string{"Prod\u202euction", "Prod\u2066x\u2069", "a\u200fb", "a\u061cb"} {
		if err := ValidateName(s); err == nil {
			t.Errorf("ValidateName(%q) accepted it", s)
		}
	}
}

// TestZeroWidthInEmailRefused: "ad\u200bmin@example.com" looks like admin@example.com and is
// another user.
func TestZeroWidthInEmailRefused(t *testing.T) {
	for _, s := range []string{"ad\u200bmin@example.com", "admin\u200c@example.com", "admin@exa\u200dmple.com",
		"\ufeffadmin@example.com", "admin@example.com\u2060", "ad\u202emin@example.com", "adm\u0085in@example.com",
		"ad\xffmin@example.com", "admin@example.com\u00a0", "ad\u00admin@example.com"} {
		if err := ValidateEmail(s); err == nil {
			t.Errorf("ValidateEmail(%q) accepted it", s)
		}
	}
	for _, s := range []string{"admin@example.com", "ünïcödé@exämple.org", "a+b@c"} {
		if err := ValidateEmail(s); err != nil {
			t.Errorf("ValidateEmail(%q): %v", s, err)
		}
	}
}

// FuzzValidateEmail checks that an accepted address has no unsafe character and one '@', and
// that a refusal's message stays short and printable.
func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"admin@example.com", "ad\u200bmin@example.com", "@", "a@b@c", "\xff@x", "a b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateEmail(s)
		if err == nil {
			if safetext.Check(s) != nil || strings.Count(s, "@") != 1 || len(s) > MaxEmailLen || strings.ContainsAny(s, " /") {
				t.Fatalf("accepted %q", s)
			}
			return
		}
		if msg := err.Error(); len(msg) > 300 || safetext.Check(msg) != nil {
			t.Fatalf("error message %q", msg)
		}
	})
}
