// Package safetext is the one place that decides which characters of text from outside — what
// a device, an app or a user sent — may reach a terminal, a log or the audit log as they are.
//
// Terminal escape sequences (ESC and the other C0 and C1 controls), bidirectional overrides and
// isolates (which reorder what a reader sees: "txt.exe" shown as "exe.txt"), zero-width
// characters (which make two names look alike) and invalid UTF-8 are the unsafe ones; see
// [Unsafe]. Text is either refused ([Check], for names and e-mails a person typed) or shown
// escaped ([Line] and [Block], for what a device reports: its text is evidence and is kept).
//
// An escaped character is written as Go writes it in a quoted string — \x1b, \u202e, \xff for a
// byte that is not UTF-8 — so that the reader sees that it was there.
package safetext

import (
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r must not be shown as it is: a control character (C0, DEL, C1), a
// format character (Unicode Cf: the bidirectional marks, embeddings, overrides and isolates,
// the zero-width space, joiners and no-break space, the soft hyphen, tag characters), a line or
// paragraph separator, or U+FFFD (which hides what was there).
func Unsafe(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) ||
		unicode.Is(unicode.Zp, r) || r == utf8.RuneError || r == '\u180e' // Mongolian vowel separator: Cf until Unicode 6.3
}

// Check returns an error naming the first unsafe character of s (see [Unsafe]), or the first
// byte that is not UTF-8.
func Check(s string) error {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return fmt.Errorf("byte %d is not UTF-8", i)
		case Unsafe(r):
			return fmt.Errorf("character %d (%U) is a control, format or invisible character", i, r)
		}
		i += n
	}
	return nil
}

// Line returns s escaped to show on one line: every unsafe character, tab and newline included,
// is escaped. It is cut to at most max bytes (max <= 0: no bound), on a character boundary,
// and then ends in "…".
func Line(s string, max int) string { return escape(s, max, false) }

// Block is [Line] for text of several lines (a stack trace, an app's log): tabs and newlines
// are kept, a carriage return is escaped.
func Block(s string, max int) string { return escape(s, max, true) }

func escape(s string, max int, multiline bool) string {
	if max <= 0 {
		max = int(^uint(0) >> 1)
	}
	if isSafe(s, multiline) && len(s) <= max {
		return s
	}
	b := make([]byte, 0, min(len(s), max)+8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		piece := s[i : i+n]
		switch {
		case r == utf8.RuneError && n == 1:
			piece = `\x` + strconv.FormatUint(uint64(s[i]), 16)
			if s[i] < 0x10 {
				piece = `\x0` + piece[2:]
			}
		case multiline && (r == '\n' || r == '\t'):
		case Unsafe(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e'
			piece = q[1 : len(q)-1]
		}
		if len(b)+len(piece) > max {
			return string(b) + "…"
		}
		b = append(b, piece...)
		i += n
	}
	return string(b)
}

func isSafe(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || Unsafe(r) && !(multiline && (r == '\n' || r == '\t')) {
			return false
		}
		i += n
	}
	return true
}

// Writer escapes, as [Block] does, what is written through it to w, keeping tabs and newlines:
// it is meant for tables (text/tabwriter) whose cells hold text from outside. Each Write is
// escaped on its own, so a character split across two writes is escaped as bytes.
func Writer(w io.Writer) io.Writer { return &writer{w} }

type writer struct{ w io.Writer }

func (w *writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, Block(string(p), 0)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Quote quotes s for an error message, as strconv.QuoteToASCII does (so that every character
// but printable ASCII is escaped), and cuts the quoted text to at most max bytes, then "…".
func Quote(s string, max int) string {
	if len(s) > 4*max {
		s = s[:4*max] // no need to quote what will be cut
	}
	q := strconv.QuoteToASCII(s)
	if len(q) > max {
		q = q[:max] + "…"
	}
	return q
}
