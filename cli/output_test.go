package cli

import (
	"bytes"
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
