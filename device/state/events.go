package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// FileEvents is the event log: what happened on the device (app exits, traps, refusals…), one
// JSON object a line, oldest first, kept for the error reporter to upload (DESIGN section 5
// step 7).
const FileEvents = "events.jsonl"

// MaxEventLog bounds events.jsonl. When an event would take it past this, the oldest events
// are dropped until it fills at most half of it, and the drops are counted.
const MaxEventLog = 1 << 20

// MaxEvent bounds one event's line; a larger event is dropped (and counted).
const MaxEvent = 16 << 10

// EventDropped is the Kind of the record that may start events.jsonl: Count events were
// dropped, in all, to keep the log within MaxEventLog.
const EventDropped = "dropped"

// DroppedRecord is the first line of events.jsonl once events have been dropped.
type DroppedRecord struct {
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"` // EventDropped
	Count int64     `json:"count"`
}

// EventLog appends events to events.jsonl, bounded. It is safe for concurrent use by one
// process.
type EventLog struct {
	mu   sync.Mutex
	path string
	max  int64
	now  func() time.Time
}

// EventLog returns the folder's event log.
func (d Dir) EventLog() *EventLog {
	return &EventLog{path: d.Path(FileEvents), max: MaxEventLog, now: time.Now}
}

// Append writes v as one line of JSON at the end of the log, and syncs it, so that an event
// survives a crash right after it. If the log would grow past its bound, its oldest events are
// dropped first: the log keeps a count of them in its first line ([DroppedRecord]).
func (l *EventLog) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(line) > MaxEvent {
		return l.rewrite(nil, 1)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size()+int64(len(line)) > l.max {
		f.Close()
		return l.rewrite(line, 0)
	}
	if err == nil {
		_, err = f.Write(line)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// rewrite replaces the log, atomically, with a dropped record, the newest events that fit in
// half the bound, and line; dropped more events are counted as dropped.
func (l *EventLog) rewrite(line []byte, dropped int64) error {
	events, count, err := readEvents(l.path, 2*l.max)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("event log: %w", err)
	}
	count += dropped
	budget := l.max/2 - int64(len(line))
	keep := len(events)
	var size int64
	for keep > 0 && size+int64(len(events[keep-1]))+1 <= budget {
		size += int64(len(events[keep-1])) + 1
		keep--
	}
	count += int64(keep)
	var b bytes.Buffer
	if count > 0 {
		rec, _ := json.Marshal(DroppedRecord{Time: l.now().UTC(), Kind: EventDropped, Count: count})
		b.Write(rec)
		b.WriteByte('\n')
	}
	for _, e := range events[keep:] {
		b.Write(e)
		b.WriteByte('\n')
	}
	b.Write(line)
	if err := WriteFile(l.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// ReadEvents returns the events in events.jsonl, oldest first, and how many were dropped.
func (d Dir) ReadEvents() ([]json.RawMessage, int64, error) {
	events, dropped, err := readEvents(d.Path(FileEvents), 2*MaxEventLog)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	return events, dropped, err
}

// readEvents reads an event log: its lines that hold a JSON object, and the count of its
// dropped record. A line cut short by a crash is skipped.
func readEvents(path string, limit int64) ([]json.RawMessage, int64, error) {
	b, err := ReadFile(path, limit)
	if err != nil {
		return nil, 0, err
	}
	var out []json.RawMessage
	var dropped int64
	for i, ln := range bytes.Split(b, []byte{'\n'}) {
		if len(ln) == 0 || !json.Valid(ln) {
			continue
		}
		if i == 0 {
			var rec DroppedRecord
			if json.Unmarshal(ln, &rec) == nil && rec.Kind == EventDropped {
				dropped = rec.Count
				continue
			}
		}
		out = append(out, json.RawMessage(ln))
	}
	return out, dropped, nil
}
