package events

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
)

// # Integrity
//
// Stage 1 opens the queue with the runtime's storage key ([OpenSealed]): each line of
// events.jsonl, the header included, is
//
//	base64url(HMAC-SHA256(key, json)) ' ' json
//
// with key = HKDF-SHA256(storage key, salt none, info "Rampart event queue", 32 bytes). A line
// whose MAC does not verify — planted in the state folder by someone without the key, written
// under another runtime's key, changed, or cut short by a power cut — is dropped with a log line
// and never uploaded; the next rewrite leaves it out. A header that does not verify is
// replaced by an empty one (no crash detail).
//
// Stage 0 has no storage key. It queues its events (BootFailure, SlotRollback) in
// boot-events.jsonl instead, plain, at most [state.MaxBootEvents] bytes ([AppendBoot]); at its
// start stage 1 moves them into the queue ([Queue.Adopt]), only of those two categories.
// The same IDs are kept, so a crash while moving them queues none twice.

// macLen is the length of a line's MAC, encoded, and the space after it.
const macLen = 43 + 1

var macEncoding = base64.RawURLEncoding

// queueKey derives the queue's MAC key from the storage key.
func queueKey(storageKey []byte) ([]byte, error) {
	if len(storageKey) < 32 {
		return nil, errors.New("event queue: no storage key")
	}
	return hkdf.Key(sha256.New, storageKey, nil, "Rampart event queue", 32)
}

// OpenSealed returns the queue of dir, for stage 1, whose lines are authenticated under a key
// derived from storageKey (see Integrity). logf, if not nil, is told of each line dropped.
func OpenSealed(dir state.Dir, storageKey []byte, logf func(string, ...any)) (*Queue, error) {
	k, err := queueKey(storageKey)
	if err != nil {
		return nil, err
	}
	q := Open(dir)
	q.dir, q.key, q.logf = dir, k, logf
	return q, nil
}

// mac returns the MAC of a line's JSON.
func (q *Queue) mac(js []byte) []byte {
	m := hmac.New(sha256.New, q.key)
	m.Write(js)
	return m.Sum(nil)
}

// encode returns the line for js (JSON ending in '\n'): with its MAC on a sealed queue.
func (q *Queue) encode(js []byte) []byte {
	if q.key == nil {
		return js
	}
	out := make([]byte, 0, macLen+len(js))
	out = macEncoding.AppendEncode(out, q.mac(bytes.TrimSuffix(js, []byte{'\n'})))
	out = append(out, ' ')
	return append(out, js...)
}

// decode returns the JSON of line (without its '\n'), false if a sealed queue's line does not
// verify. A reader without a key takes the JSON without checking its MAC.
func (q *Queue) decode(ln []byte) ([]byte, bool) {
	sealed := len(ln) > macLen && ln[macLen-1] == ' ' && ln[0] != '{'
	if q.key == nil {
		if sealed {
			return ln[macLen:], true
		}
		return ln, true
	}
	if sealed {
		m, err := macEncoding.DecodeString(string(ln[:macLen-1]))
		if err == nil && hmac.Equal(m, q.mac(ln[macLen:])) {
			return ln[macLen:], true
		}
	}
	q.refuse(ln)
	return nil, false
}

// refuse logs, once per line, a line that does not verify.
func (q *Queue) refuse(ln []byte) {
	q.refused++
	if q.logf == nil || len(bytes.TrimSpace(ln)) == 0 {
		return
	}
	sum := sha256.Sum256(ln)
	if q.logged[sum] {
		return
	}
	if len(q.logged) >= 1024 {
		clear(q.logged)
	}
	q.logged[sum] = true
	q.logf("event queue: dropping a record that does not authenticate under this runtime's storage key (planted in the state folder, written by another runtime, or cut short): %.80q", ln)
}

// AppendBoot queues e for stage 1 from stage 0, which has no storage key (see Integrity).
func AppendBoot(dir state.Dir, e api.DeviceEvent) error {
	q := Open(dir)
	q.path, q.max, q.plain = dir.Path(state.FileBootEvents), state.MaxBootEvents, true
	return q.Append(e)
}

// bootQueue is stage 0's queue of dir, to read.
func bootQueue(dir state.Dir) *Queue {
	q := Open(dir)
	q.path, q.max = dir.Path(state.FileBootEvents), state.MaxBootEvents
	return q
}

// Adopt moves stage 0's events into the queue, of the categories stage 0 records
// (BootFailure, SlotRollback) only, and rewrites the queue without the lines that do not
// verify. Stage 1 calls it once, at its start.
func (q *Queue) Adopt() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.key == nil {
		return errors.New("event queue: adopt stage 0's events: no storage key")
	}
	_, boot, err := bootQueue(q.dir).read()
	if err != nil {
		return fmt.Errorf("event queue: stage 0's events: %w", err)
	}
	for _, e := range boot {
		if e.Class != api.ClassOS || (e.Category != api.EventBootFailure && e.Category != api.EventSlotRollback) {
			if q.logf != nil {
				q.logf("event queue: dropping a %.40q event from %s: stage 0 records none", e.Category, state.FileBootEvents)
			}
			continue
		}
		js, err := marshalLine(q.normalise(e))
		if err != nil {
			return fmt.Errorf("event queue: %w", err)
		}
		if err := q.appendLine(e.ID, q.encode(js)); err != nil {
			return fmt.Errorf("event queue: %w", err)
		}
	}
	if err := os.Remove(q.dir.Path(state.FileBootEvents)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("event queue: %w", err)
	}
	q.refused = 0
	if _, _, err := q.read(); err != nil {
		return fmt.Errorf("event queue: %w", err)
	}
	if q.refused > 0 {
		if err := q.rewrite(nil, 0); err != nil {
			return fmt.Errorf("event queue: %w", err)
		}
	}
	return nil
}
