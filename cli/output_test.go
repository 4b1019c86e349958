package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/format/safetext"
)

// TestDeviceTextEscapedInTable: a table cell holding what a device sent (here as an older
// service would have passed it on, unescaped) cannot clear the screen, recolour it or reorder
// what the administrator reads; the columns stay aligned.
func TestDeviceTextEscapedInTable(t *testing.T) {
	var out bytes.Buffer
	e := &env{stdout: &out, output: "table"}
	hostile := "\x1b[2J\x1b[32mALL GOOD\x1b[0m invoice\u202etxt.exe ad\u200bmin \u009b31m"
	err := e.print(nil, func(w io.Writer) {
		fmt.Fprintln(w, "DEVICE\tDESCRIPTION")
		fmt.Fprintf(w, "%s\t%s\n", "d1", hostile)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if err := safetext.Check(strings.NewReplacer("\n", "", "\t", "").Replace(got)); err != nil {
		t.Fatalf("table output %q: %v", got, err)
	}
	want := `d1      \x1b[2J\x1b[32mALL GOOD\x1b[0m invoice\u202etxt.exe ad\u200bmin \u009b31m`
	if !strings.Contains(got, want) {
		t.Errorf("table output %q, want a row %q", got, want)
	}
}

// TestYAMLQuotesWhatYAMLWouldReadOtherwise: strings that YAML reads as booleans, nulls,
// numbers, dates or indicators are quoted, and the structure nests as YAML's block style wants.
func TestYAMLQuotesWhatYAMLWouldReadOtherwise(t *testing.T) {
	var data any
	d := json.NewDecoder(strings.NewReader(`{"id": "0123abc", "name": "Toaster", "yes": "no", "n": null,
		"on": true, "size": 12345678901234567890, "when": "2026-01-02T03:04:05Z", "desc": "a: b # c\n\u007f",
		"groups": [{"name": "Production", "tags": []}, ["x", 1.5], {}], "empty": {}, "dash": "-", "e": "~"}`))
	d.UseNumber()
	if err := d.Decode(&data); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeYAML(&b, data, 0)
	want := `dash: "-"
desc: "a: b # c\n\u007f"
e: "~"
empty: {}
groups:
  - name: Production
    tags: []
  - - x
    - 1.5
  - {}
id: "0123abc"
"n": null
name: Toaster
"on": true
size: 12345678901234567890
when: "2026-01-02T03:04:05Z"
"yes": "no"
`
	if b.String() != want {
		t.Errorf("YAML:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestTSVKeepsOneValueACell: a value holding a tab or a newline (text a device sent) stays in
// its cell; nested lists show their length, as azsphere's tsv does.
func TestTSVKeepsOneValueACell(t *testing.T) {
	var b bytes.Buffer
	data := []any{map[string]any{"b": "x\ty\nz", "a": true, "c": []any{1.0, 2.0}, "d": nil}, "plain"}
	if err := writeTSV(&b, data); err != nil {
		t.Fatal(err)
	}
	if want := "true\tx\\ty\\nz\t2\t\nplain\n"; b.String() != want {
		t.Errorf("TSV %q, want %q", b.String(), want)
	}
}

// FuzzYAMLScalar: whatever a string holds (it may come from a device), YAML gets it on one line,
// plain only when YAML cannot read it as anything else, else double-quoted with no raw control
// character in it; a TSV cell holds no tab or newline.
func FuzzYAMLScalar(f *testing.F) {
	for _, s := range []string{"", "yes", "No", "~", "0x1f", "a: b", "- x", "\x7f\u0085\ufeff", "Toaster/Production", "e@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y := yamlScalar(s)
		if strings.ContainsAny(y, "\n\r\t") {
			t.Fatalf("%q written as %q", s, y)
		}
		if !strings.HasPrefix(y, `"`) && (y != s || !plainYAML.MatchString(y)) {
			t.Fatalf("%q written plain as %q", s, y)
		}
		for _, r := range y {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0xfeff {
				t.Fatalf("%q written with %U raw: %q", s, r, y)
			}
		}
		if c := tsvCell(s); strings.ContainsAny(c, "\t\n\r") {
			t.Fatalf("TSV cell %q", c)
		}
	})
}
