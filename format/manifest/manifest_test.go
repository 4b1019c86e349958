package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const componentID = "5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"

// minimal is the smallest valid manifest: no capabilities at all.
const minimal = `{"SchemaVersion":1,"ComponentId":"` + componentID + `","Name":"Toaster","EntryPoint":"main.wasm"}`

func TestParseFull(t *testing.T) {
	b, err := os.ReadFile("testdata/app_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &App{
		SchemaVersion: 1, ComponentId: componentID, Name: "Toaster", EntryPoint: "toaster.wasm",
		Capabilities: Capabilities{
			AllowedConnections:       []string{"telemetry.example.com:443", "10.0.0.7", "[2001:db8::1]:8883"},
			MutableStorage:           &MutableStorage{SizeKB: 64},
			Gpio:                     []int{4, 17, 1023},
			DeviceAuthentication:     true,
			SystemEventNotifications: true,
			SoftwareUpdateDeferral:   true,
		},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Parse = %+v\nwant %+v", a, want)
	}
}

func TestParseMinimalGrantsNothing(t *testing.T) {
	a, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Capabilities, Capabilities{}) {
		t.Errorf("capabilities %+v, want none", a.Capabilities)
	}
}

// with returns the minimal manifest with the top-level field key set to the JSON value v (or
// added), as text.
func with(key, v string) string {
	var m map[string]json.RawMessage
	json.Unmarshal([]byte(minimal), &m)
	m[key] = json.RawMessage(v)
	b, _ := json.Marshal(m)
	return string(b)
}

func caps(v string) string { return with("Capabilities", v) }

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "empty"},
		{"not an object", `[]`, "cannot unmarshal array"},
		{"trailing data", minimal + `{}`, "trailing data"},
		{"trailing garbage", minimal + `x`, "trailing data"},
		{"duplicate key", `{"Name":"a",` + minimal[1:], `key "Name" appears twice`},
		{"duplicate nested key", caps(`{"Gpio":[1],"Gpio":[2]}`), `Capabilities: key "Gpio" appears twice`},
		{"key in another case", with("name", `"Evil"`), `keys "Name" and "name" differ only in case`},
		{"unknown field", with("Debug", `true`), `unknown field "Debug"`},
		{"unknown capability", caps(`{"Camera":true}`), `Capabilities: unknown field "Camera"`},
		{"unknown storage field", caps(`{"MutableStorage":{"SizeKB":1,"Path":"/"}}`), `Capabilities.MutableStorage: unknown field "Path"`},
		{"invalid UTF-8", strings.Replace(minimal, "Toaster", "To\xffster", 1), "UTF-8"},
		{"too deep", caps(strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40)), "nested more than"},
		{"wrong type", with("SchemaVersion", `"1"`), "cannot unmarshal string"},
		{"fractional number", with("SchemaVersion", `1.0`), "cannot unmarshal number"},
		{"schema version 2", with("SchemaVersion", `2`), "SchemaVersion: 2 is not supported"},
		{"schema version missing", `{"ComponentId":"` + componentID + `","Name":"T","EntryPoint":"m.wasm"}`, "SchemaVersion: 0"},
		{"component ID uppercase", with("ComponentId", `"`+strings.ToUpper(componentID)+`"`), "ComponentId: "},
		{"component ID not a UUID", with("ComponentId", `"../../etc"`), "ComponentId: \"../../etc\" is not a lowercase UUID"},
		{"name empty", with("Name", `""`), "Name: invalid name"},
		{"name with slash", with("Name", `"a/b"`), "Name: invalid name"},
		{"name dot dot", with("Name", `".."`), "Name: invalid name"},
		{"entry point path", with("EntryPoint", `"../main.wasm"`), "EntryPoint: \"../main.wasm\" is not a plain file name"},
		{"entry point folder", with("EntryPoint", `"bin/main.wasm"`), "EntryPoint"},
		{"entry point hidden", with("EntryPoint", `".x.wasm"`), "starts with '.'"},
		{"entry point not wasm", with("EntryPoint", `"main.so"`), "EntryPoint"},
		{"entry point only suffix", with("EntryPoint", `".wasm"`), "EntryPoint"},
		{"entry point too long", with("EntryPoint", `"`+strings.Repeat("a", 96)+`.wasm"`), "EntryPoint"},
		{"connection with path", caps(`{"AllowedConnections":["example.com/x"]}`), `Capabilities.AllowedConnections[0]: "example.com/x" is not a host name`},
		{"connection URL", caps(`{"AllowedConnections":["ok.example","https://example.com"]}`), `AllowedConnections[1]`},
		{"connection port 0", caps(`{"AllowedConnections":["example.com:0"]}`), "outside 1–65535"},
		{"connection port 65536", caps(`{"AllowedConnections":["example.com:65536"]}`), "outside 1–65535"},
		{"connection port sign", caps(`{"AllowedConnections":["example.com:+80"]}`), "outside 1–65535"},
		{"connection port leading zero", caps(`{"AllowedConnections":["example.com:080"]}`), "outside 1–65535"},
		{"connection empty port", caps(`{"AllowedConnections":["example.com:"]}`), "empty port"},
		{"connection empty", caps(`{"AllowedConnections":[""]}`), "AllowedConnections[0]"},
		{"connection bad IPv4", caps(`{"AllowedConnections":["10.0.0.256"]}`), "AllowedConnections[0]"},
		{"connection label dash", caps(`{"AllowedConnections":["-x.example"]}`), "AllowedConnections[0]"},
		{"connection wildcard", caps(`{"AllowedConnections":["*.example.com"]}`), "AllowedConnections[0]"},
		{"connection IPv6 zone", caps(`{"AllowedConnections":["fe80::1%eth0"]}`), "AllowedConnections[0]"},
		{"connection IPv4 in brackets", caps(`{"AllowedConnections":["[10.0.0.1]:80"]}`), "AllowedConnections[0]"},
		{"connection bracket unclosed", caps(`{"AllowedConnections":["[::1:80"]}`), "no closing"},
		{"too many connections", caps(`{"AllowedConnections":[` + strings.Repeat(`"a.example",`, 64) + `"b.example"]}`), "65 entries, over the limit of 64"},
		{"storage 0", caps(`{"MutableStorage":{"SizeKB":0}}`), "Capabilities.MutableStorage.SizeKB: 0 out of range 1–65536"},
		{"storage huge", caps(`{"MutableStorage":{"SizeKB":65537}}`), "SizeKB: 65537 out of range"},
		{"storage empty object", caps(`{"MutableStorage":{}}`), "SizeKB: 0 out of range"},
		{"gpio out of range", caps(`{"Gpio":[1,2,5000]}`), "Capabilities.Gpio[2]: pin 5000 out of range 0–1023"},
		{"gpio negative", caps(`{"Gpio":[-1]}`), "Capabilities.Gpio[0]: pin -1 out of range"},
		{"gpio twice", caps(`{"Gpio":[3,4,3]}`), "Capabilities.Gpio[2]: pin 3 is listed twice (also at [0])"},
		{"gpio too many", caps(`{"Gpio":[` + strings.TrimSuffix(strings.Repeat("1,", 65), ",") + `]}`), "65 pins, over the limit of 64"},
		{"gpio not a number", caps(`{"Gpio":["5"]}`), "cannot unmarshal string"},
		{"too large", minimal + strings.Repeat(" ", MaxSize), "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted %+v", a)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for _, in := range []string{
		minimal,
		" \n" + minimal + "\n\t ",
		caps(`{"AllowedConnections":["localhost","a-b.example:1","EXAMPLE.COM:65535","192.0.2.1:80","::1","[::1]","[2001:db8::1]:443","x1.y2"]}`),
		caps(`{"AllowedConnections":[],"Gpio":[]}`),
		caps(`{"Gpio":[0,1023],"MutableStorage":{"SizeKB":65536}}`),
		caps(`null`),
		with("EntryPoint", `"my_app-1.2.wasm"`),
		with("Name", `"Field Test App_2"`),
		`{"\u004eame":"Toaster","SchemaVersion":1,"ComponentId":"` + componentID + `","EntryPoint":"main.wasm"}`,
	} {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%s): %v", in, err)
		}
	}
}

func TestValidateNil(t *testing.T) {
	var a *App
	if err := a.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil manifest: %v", err)
	}
}

// TestErrorMessagesAreShort: a long or binary value is quoted in part, printably.
func TestErrorMessagesAreShort(t *testing.T) {
	_, err := Parse([]byte(with("ComponentId", `"`+strings.Repeat("\u00e9\\u0007", 5000)+`"`)))
	if err == nil || len(err.Error()) > 300 || !utf8.ValidString(err.Error()) || strings.ContainsRune(err.Error(), 7) {
		t.Fatalf("error %q", err)
	}
}

// TestDuplicateKeyDifferingInCaseRefused: encoding/json would read "name" into Name; a manifest
// with both could mean one name to one reader and another to the next.
func TestDuplicateKeyDifferingInCaseRefused(t *testing.T) {
	for _, in := range []string{
		minimal[:len(minimal)-1] + `,"name":"Evil"}`,
		caps(`{"Gpio":[1],"GPIO":[2]}`),
		caps(`{"MutableStorage":{"SizeKB":1,"sizekb":65536}}`),
	} {
		_, err := Parse([]byte(in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "differ only in case") {
			t.Errorf("Parse(%s) = %v", in, err)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is valid, and that an accepted
// manifest encodes to JSON that parses back to the same manifest.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/app_manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(full), minimal, caps(`{"AllowedConnections":["[::1]:80"],"Gpio":[]}`),
		`{"Name":"a","Name":"b"}`, minimal + "{}", with("name", `"x"`), caps(`{"Gpio":[5000]}`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid manifest: %v", err)
		}
		enc, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		if !reflect.DeepEqual(a, back) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", a, back)
		}
	})
}
