package safetext

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLineEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcödé 日本":    "plain text, ünïcödé 日本",
		"red \x1b[31mALERT\x1b[0m":  `red \x1b[31mALERT\x1b[0m`,
		"invoice\u202egpj.exe":      `invoice\u202egpj.exe`,
		"a\u2066b\u2069c\u200fd":    `a\u2066b\u2069c\u200fd`,
		"ad\u200bmin\ufeff":         `ad\u200bmin\ufeff`,
		"c1\u009bcsi":               `c1\u009bcsi`,
		"two\nlines\r\tand tab":     `two\nlines\r\tand tab`,
		"bad \xff byte \x01":        `bad \xff byte \x01`,
		"sep\u2028x":                `sep\u2028x`,
		"replacement \ufffd hidden": `replacement \ufffd hidden`,
	} {
		if got := Line(in, 0); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBlockKeepsLines(t *testing.T) {
	in := "panic: boom\n\tmain.go:12\r\n\x1b]0;title\x07"
	want := "panic: boom\n\tmain.go:12\\r\n\\x1b]0;title\\a"
	if got := Block(in, 0); got != want {
		t.Errorf("Block = %q, want %q", got, want)
	}
}

func TestLineBound(t *testing.T) {
	if got := Line(strings.Repeat("é", 100), 11); got != "ééééé…" {
		t.Errorf("cut: %q", got)
	}
	if got := Line(strings.Repeat("\x1b", 100), 9); got != `\x1b\x1b…` {
		t.Errorf("cut escapes: %q", got)
	}
	if got := Line("short", 5); got != "short" {
		t.Errorf("at the bound: %q", got)
	}
}

func TestCheck(t *testing.T) {
	for _, s := range []string{"a\u202eb", "zero\u200bwidth", "\x1b[2J", "c1\u0085", "tab\t", "\xff", "word\u2060joiner", "\U000e0041tag"} {
		if err := Check(s); err == nil {
			t.Errorf("Check(%q) accepted it", s)
		}
	}
	for _, s := range []string{"", "Toaster 2", "ünïcödé@example.com", "日本"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q): %v", s, err)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := Writer(&b)
	in := []byte("NAME\tDESC\nx\t\x1b[31m\u202e\n")
	if n, err := w.Write(in); err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := b.String(); got != "NAME\tDESC\nx\t\\x1b[31m\\u202e\n" {
		t.Errorf("wrote %q", got)
	}
}

// FuzzLine checks that what Line and Block return is valid UTF-8 with no unsafe character,
// within the bound, and the input itself when that was safe.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m", "a\u202eb", "\xff\xfe", "x\ny\tz\r", strings.Repeat("é", 40)} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%200 + 1
		if max < 1 {
			max += 200
		}
		for _, multiline := range []bool{false, true} {
			got := escape(s, max, multiline)
			if !utf8.ValidString(got) {
				t.Fatalf("not UTF-8: %q", got)
			}
			if len(strings.TrimSuffix(got, "…")) > max {
				t.Fatalf("%d bytes over the bound %d", len(got), max)
			}
			for _, r := range got {
				if Unsafe(r) && !(multiline && (r == '\n' || r == '\t')) {
					t.Fatalf("unsafe %U left in %q", r, got)
				}
			}
			if Check(s) == nil && len(s) <= max && !strings.ContainsAny(s, "\n\t") && got != s {
				t.Fatalf("safe %q changed into %q", s, got)
			}
		}
	})
}

func TestQuote(t *testing.T) {
	if got := Quote("a\u202eb", 20); got != `"a\u202eb"` {
		t.Errorf("Quote = %s", got)
	}
	if got := Quote(strings.Repeat("\x1c", 1000), 20); len(got) > 20+len("…") || strings.ContainsRune(got, 0x1c) {
		t.Errorf("Quote of a long text = %q", got)
	}
}
