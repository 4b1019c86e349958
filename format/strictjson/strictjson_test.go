package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type inner struct {
	Pins []int             `json:"pins"`
	Tags map[string]string `json:"tags,omitempty"`
}

type Embedded struct {
	Owner string `json:"owner,omitempty"`
}

type doc struct {
	Embedded
	Name  string          `json:"name"`
	Count int             `json:"count,omitempty"`
	Inner *inner          `json:"inner,omitempty"`
	List  []inner         `json:"list,omitempty"`
	Raw   json.RawMessage `json:"raw,omitempty"`
	Any   any             `json:"any,omitempty"`
	NoTag string
	//lint:ignore U1000 an unexported field: the decoder must treat its key as unknown
	hidden string
}

func nest(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestDuplicateKeyDifferingInCaseRefused(t *testing.T) {
	for _, in := range []string{
		`{"name":"a","Name":"b"}`,
		`{"name":"a","NAME":"b"}`,
		`{"inner":{"pins":[1],"Pins":[2]}}`,
		`{"inner":{"pins":[],"tags":{"k":"1","K":"2"}}}`,
		`{"raw":{"x":1,"X":2}}`,
		`{"any":{"x":1,"X":2}}`,
		"{\"inner\":{\"tags\":{\"k\":\"1\",\"\u212a\":\"2\"}}}", // the Kelvin sign folds to k
	} {
		var d doc
		err := Decode([]byte(in), &d)
		if err == nil || !strings.Contains(err.Error(), "differ only in case") {
			t.Errorf("Decode(%s) = %v, want a refusal of keys differing in case", in, err)
		}
		if err := DecodeAnswer([]byte(in), &d); err == nil {
			t.Errorf("DecodeAnswer(%s) accepted it", in)
		}
	}
}

func TestDuplicateKeyRefused(t *testing.T) {
	for _, in := range []string{
		`{"name":"a","name":"b"}`,
		`{"list":[{"pins":[]},{"pins":[1],"pins":[2]}]}`,
		`{"any":[{"a":{"b":1,"b":2}}]}`,
		`{"owner":"a","owner":"b"}`,
	} {
		var d doc
		if err := Decode([]byte(in), &d); err == nil || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("Decode(%s) = %v", in, err)
		}
	}
}

func TestKeyInAnotherCaseRefused(t *testing.T) {
	var d doc
	if err := Decode([]byte(`{"Name":"x"}`), &d); err == nil || !strings.Contains(err.Error(), `unknown field "Name"`) {
		t.Errorf("Decode: %v", err)
	}
	// encoding/json would take "Name" for the field name: an answer may not say it either.
	if err := DecodeAnswer([]byte(`{"Name":"x"}`), &d); err == nil || !strings.Contains(err.Error(), "only in case") {
		t.Errorf("DecodeAnswer: %v", err)
	}
}

func TestUnknownFieldRefused(t *testing.T) {
	for in, want := range map[string]string{
		`{"admin":true}`:                       `unknown field "admin"`,
		`{"inner":{"pins":[],"path":"/"}}`:     `inner: unknown field "path"`,
		`{"list":[{"pins":[]},{"x":1}]}`:       `list[1]: unknown field "x"`,
		`{"hidden":"x"}`:                       `unknown field "hidden"`,
		"{\"a\\u0000\\u202e\":1}":              `unknown field "a\x00\u202e"`,
		`{"inner":{"pins":[],"tags":{"a":1}}}`: "cannot unmarshal number",
	} {
		var d doc
		err := Decode([]byte(in), &d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want %q", in, err, want)
		}
	}
}

func TestUnknownFieldSkippedInAnswer(t *testing.T) {
	var d doc
	if err := DecodeAnswer([]byte(`{"name":"x","added_later":{"a":[1]}}`), &d); err != nil || d.Name != "x" {
		t.Errorf("DecodeAnswer: %v, %+v", err, d)
	}
}

func TestTrailingDataRefused(t *testing.T) {
	for _, in := range []string{`{"name":"a"}{}`, `{"name":"a"} x`, `{"name":"a"}]`, `{} {"name":"b"}`, `{}0`} {
		var d doc
		if err := Decode([]byte(in), &d); err == nil || !strings.Contains(err.Error(), "trailing data") {
			t.Errorf("Decode(%q) = %v", in, err)
		}
		if err := DecodeAnswer([]byte(in), &d); err == nil {
			t.Errorf("DecodeAnswer(%q) accepted it", in)
		}
	}
}

func TestDeepJSONRefused(t *testing.T) {
	var d doc
	for _, in := range []string{
		`{"any":` + nest(MaxDepth) + `}`,
		`{"raw":` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth) + `}`,
		nest(100000),
	} {
		err := Decode([]byte(in), &d)
		if err == nil || !strings.Contains(err.Error(), "nested more than 32 levels") {
			t.Errorf("Decode(%.50s…) = %v", in, err)
		}
	}
	if err := Decode([]byte(`{"any":`+nest(MaxDepth-1)+`}`), &d); err != nil {
		t.Errorf("%d levels refused: %v", MaxDepth, err)
	}
}

func TestInvalidUTF8Refused(t *testing.T) {
	var d doc
	if err := Decode([]byte("{\"name\":\"a\xffb\"}"), &d); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Decode: %v", err)
	}
}

func TestMalformedRefused(t *testing.T) {
	for _, in := range []string{``, ` `, `{`, `{"name":`, `{"name":"a",}`, `[1,]`, `{"name":'a'}`, `nul`} {
		var d doc
		if err := Decode([]byte(in), &d); err == nil {
			t.Errorf("Decode(%q) accepted it", in)
		}
	}
	if err := Decode([]byte(`{}`), doc{}); err == nil {
		t.Error("Decode accepted a non-pointer")
	}
}

func TestDecodeAccepts(t *testing.T) {
	in := `{"owner":"o","name":"n","count":2,"inner":{"pins":[1,2],"tags":{"a":"b","B":"c"}},` +
		`"list":[{"pins":null}],"raw":{"x":[1]},"any":[1,"a",{"b":null}],"NoTag":"t"}` + "\n"
	var d doc
	if err := Decode([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	want := doc{Embedded: Embedded{Owner: "o"}, Name: "n", Count: 2,
		Inner: &inner{Pins: []int{1, 2}, Tags: map[string]string{"a": "b", "B": "c"}},
		List:  []inner{{}}, Raw: json.RawMessage(`{"x":[1]}`), Any: []any{1.0, "a", map[string]any{"b": nil}}, NoTag: "t"}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v\nwant %+v", d, want)
	}
}

func TestDecodeReader(t *testing.T) {
	var d doc
	if err := DecodeReader(strings.NewReader(`{"name":"abc"}`), 14, &d); err != nil || d.Name != "abc" {
		t.Errorf("within the limit: %v", err)
	}
	if err := DecodeReader(strings.NewReader(`{"name":"abcd"}`), 14, &d); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

func TestErrorsAreShortAndPrintable(t *testing.T) {
	key := strings.Repeat("\u202e\x1b[31m", 1000)
	in, _ := json.Marshal(map[string]int{key: 1})
	var d doc
	err := Decode(in, &d)
	if err == nil || len(err.Error()) > 200 || strings.ContainsAny(err.Error(), "\x1b\u202e") {
		t.Fatalf("error %q", err)
	}
}

// FuzzDecode checks that Decode never panics, that what it accepts encoding/json accepts too,
// and that an accepted text re-encodes to one Decode accepts and reads back the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"owner":"o","name":"n","inner":{"pins":[1],"tags":{"a":"b"}},"list":[{}],"raw":[{"x":1}],"any":{"y":[true]}}`,
		`{"name":"a","Name":"b"}`, `{"name":"a","name":"b"}`, `{"name":"a"}{}`, `{"x":1}`,
		`{"any":` + nest(40) + `}`, "{\"name\":\"\xff\"}", `{"raw":{"a":1,"A":2}}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		if err := Decode(b, &d); err != nil {
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error is not UTF-8: %q", err)
			}
			return
		}
		var loose doc
		if err := json.Unmarshal(b, &loose); err != nil {
			t.Fatalf("Decode accepted what encoding/json refuses: %v", err)
		}
		enc, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var again doc
		if err := Decode(enc, &again); err != nil {
			t.Fatalf("re-encoded %s refused: %v", enc, err)
		}
		enc2, _ := json.Marshal(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed %s into %s", enc, enc2)
		}
	})
}
