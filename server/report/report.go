// Package report provides the service's side of error reporting: it checks the events a device
// sends, groups them by signature, limits how fast one device may send them, decides how a batch
// is stored ([Add]: duplicates, the daily cap, folding, the EventsDropped event), turns the
// service's own attestation failures into events, and deletes events past their retention.
//
// The policy is here; the store only stores. [Add] runs inside the caller's store transaction
// over the store's event primitives (insert, fold into the newest event of a signature, count
// a device's events per UTC day), so a batch is stored whole or not at all, with the request's
// audit entry or attestation record.
//
// # Signatures
//
// One crash on ten thousand devices should be one line with a count, so every event carries a
// signature: the first 16 hex digits of SHA-256 over its category, its component ID and its
// normalised description, separated by NUL bytes. [Normalize] lowercases a description, turns
// every run of white space into one space, and replaces what varies between occurrences of
// one fault, in this order:
//
//	| what                                   | example                 | becomes   |
//	|----------------------------------------|-------------------------|-----------|
//	| UUID                                   | 5e1a2b3c-4d5e-4f60-…    | <uuid>    |
//	| hex number with 0x                     | 0x7ffe12a0              | <addr>    |
//	| hex run of 8+ digits, letters and 0-9  | deadbeef01, a digest    | <hex>     |
//	| duration (Go syntax)                   | 1.5s, 200ms, 1h30m      | <duration>|
//	| decimal number standing alone          | 2, 11, 3.14             | N         |
//
// A number inside a word stays ("wasm32", "x86_64"): it names, not counts. So "exit code 2" and
// "Exit code 3" share the signature of "exit code N".
//
// # Attestation failures
//
// The service records each failed attestation itself (store.RecordAttestation). For a claimed
// device, [AttestationFailure] also makes it an event of category AttestationFailed, in the same
// transaction, so that reports, grouping, the daily cap and retention treat it like any other
// event and the report queries read one table.
//
// # Limits
//
// Each device may send [DefaultRate] events an hour with bursts of [DefaultBurst] (a token
// bucket per device, in the memory of each replica: [Limiter]); the store keeps at most
// [DailyCap] events per device and UTC day one by one; [Add] folds the rest into the newest event
// of their signature from the last day. Events a device dropped, and folded events with no such
// event, are counted in an event of category EventsDropped.
package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	addrRE     = regexp.MustCompile(`\b0x[0-9a-f]+\b`)
	hexRE      = regexp.MustCompile(`\b[0-9a-f]{8,}\b`)
	durationRE = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+\b`)
	numberRE   = regexp.MustCompile(`\b\d+(?:\.\d+)?\b`)
	spaceRE    = regexp.MustCompile(`\s+`)
)

// Normalize returns the form of an event description that its signature is computed from; see
// the package documentation for the rules.
func Normalize(description string) string {
	s := strings.ToLower(description)
	s = uuidRE.ReplaceAllString(s, "<uuid>")
	s = addrRE.ReplaceAllString(s, "<addr>")
	s = hexRE.ReplaceAllStringFunc(s, func(h string) string {
		if strings.ContainsAny(h, "0123456789") && strings.ContainsAny(h, "abcdef") {
			return "<hex>"
		}
		return h // a word ("deadbeef") or a decimal number, left to the rules below
	})
	s = durationRE.ReplaceAllString(s, "<duration>")
	s = numberRE.ReplaceAllString(s, "N")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// Signature returns the signature of events of a category, component and description: 16 hex
// digits.
func Signature(category, componentID, description string) string {
	h := sha256.Sum256([]byte(category + "\x00" + componentID + "\x00" + Normalize(description)))
	return hex.EncodeToString(h[:8])
}

// ParseSince reads the start of a report's period: a duration back from now ("24h", "90m", or
// days: "7d"), an RFC 3339 time, or a date (YYYY-MM-DD, midnight UTC). "" is the beginning of
// time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 36500 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid since %q: want a duration (7d, 24h) or a time (2026-01-02 or 2026-01-02T15:04:05Z)", clip(s))
}
