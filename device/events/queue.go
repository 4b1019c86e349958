// Package events is the device's error reporting (DESIGN section 5 step 7): a bounded queue of
// error events on disk ([Queue]), which stage 0 and stage 1 append to, and the uploader that
// sends it to the service in batches ([Uploader]).
//
// # The queue
//
// The queue is the state folder's events.jsonl: an optional header line (what was dropped,
// whether the service wants crash detail, when a batch was last accepted), then one
// [api.DeviceEvent] a line, oldest first, each line after its MAC (see Integrity in seal.go:
// a line planted by someone without the runtime's storage key is dropped, never uploaded). Each event gets its ID (a UUID) when it is made, so a
// batch sent again after a lost answer is stored once by the service: exactly-once storage over
// at-least-once delivery.
//
// An append is one write and an fsync, so an event survives a crash right after it. A line cut
// short by a power cut is skipped when the queue is read, and the next append starts on a line
// of its own. Everything else — removing what the service accepted, dropping the oldest events
// when the queue would pass [state.MaxEventQueue] — rewrites the file atomically. Dropped
// events are counted and the count goes out with the next batch (EventBatch.Dropped).
//
// Repeats of an event (same category, class, type, component, image and description) less than
// [FoldWindow] after the last are folded into it: its Count grows and its LastAt moves, by
// appending the event again under the same ID (a later line replaces an earlier one). An event
// that has been sent is never folded into, so a count is never lost to a batch the service
// stored but whose answer was lost.
//
// Only stage 1 writes the queue. Stage 0, which has no storage key, writes its own
// boot-events.jsonl the same way, which stage 1 moves into the queue when it starts
// ([Queue.Adopt]). Readers (`rampart-device status`) may read at any time, without a key.
package events

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// FoldWindow is how soon after an event a repeat of it is folded into it.
const FoldWindow = time.Hour

// maxLine bounds one line of the queue: an event with the largest description and detail fits,
// with its MAC.
const maxLine = api.MaxEventDetail + 4*api.MaxEventDescription + 1024 + macLen

// headerKind marks the header line; headerDropped is the header of the format before it.
const (
	headerKind    = "queue"
	headerDropped = "dropped"
)

// header is the first line of events.jsonl, when there is anything to say in it.
type header struct {
	Kind            string    `json:"kind"`
	Dropped         int64     `json:"dropped,omitempty"` // since the last accepted batch
	AllowCrashDumps bool      `json:"allow_crash_dumps,omitempty"`
	LastUpload      time.Time `json:"last_upload,omitzero"`
	Count           int64     `json:"count,omitempty"` // headerDropped's count
}

// Queue is the event queue of a state folder. It is safe for concurrent use.
type Queue struct {
	mu     sync.Mutex
	dir    state.Dir
	path   string
	max    int64
	now    func() time.Time
	recent map[foldKey]api.DeviceEvent // the last event of each key appended here and not sent

	key     []byte // the MAC key of a sealed queue (OpenSealed); nil to read only, or for plain
	plain   bool   // stage 0's queue (AppendBoot): plain lines
	logf    func(string, ...any)
	logged  map[[32]byte]bool // lines that did not verify, logged already
	refused int               // lines that did not verify, counted by read
}

type foldKey struct {
	category, class, typ string
	component            ident.ComponentID
	image                ident.ImageID
	description          string
}

func keyOf(e api.DeviceEvent) foldKey {
	return foldKey{e.Category, e.Class, e.Type, e.ComponentID, e.ImageID, e.Description}
}

// Open returns the queue of dir, to read without a key: what `rampart-device status` shows. It
// counts stage 0's events too, and checks no MAC; it cannot append or upload ([OpenSealed]
// can). It touches nothing until used.
func Open(dir state.Dir) *Queue {
	return &Queue{dir: dir, path: dir.Path(state.FileEvents), max: state.MaxEventQueue, now: time.Now,
		recent: map[foldKey]api.DeviceEvent{}, logged: map[[32]byte]bool{}}
}

// errReadOnly is the error of a queue opened without a key, asked to write or upload.
var errReadOnly = errors.New("event queue: opened without the storage key, to read only")

// New returns an event that happened now: category, class and type as in package api, and a
// description of one line (longer text is cut).
func New(category, class, typ, description string) api.DeviceEvent {
	return api.DeviceEvent{Category: category, Class: class, Type: typ, Description: description}
}

// Append queues e, and syncs it to disk. It gives e an ID unless it has one, a count of 1 and
// the current time if it has none, cuts its description to one line of at most
// api.MaxEventDescription bytes and its detail to api.MaxEventDetail, and folds it into an
// earlier event of the same kind less than [FoldWindow] old.
func (q *Queue) Append(e api.DeviceEvent) error {
	if q.key == nil && !q.plain {
		return errReadOnly
	}
	e = q.normalise(e)
	q.mu.Lock()
	defer q.mu.Unlock()
	k := keyOf(e)
	if r, ok := q.recent[k]; ok && e.FirstAt.Sub(r.LastAt) < FoldWindow &&
		r.Count+e.Count <= api.MaxEventCount {
		r.Count += e.Count
		if e.LastAt.After(r.LastAt) {
			r.LastAt = e.LastAt
		}
		if r.Detail == "" {
			r.Detail = e.Detail
		}
		e = r
	}
	line, err := marshalLine(e)
	if err != nil {
		return fmt.Errorf("event queue: %w", err)
	}
	line = q.encode(line)
	// Known before the line is written, so that a rewrite that drops it forgets it too.
	prev, had := q.recent[k]
	q.recent[k] = e
	if err := q.appendLine(e.ID, line); err != nil {
		if had {
			q.recent[k] = prev
		} else {
			delete(q.recent, k)
		}
		return fmt.Errorf("event queue: %w", err)
	}
	return nil
}

func (q *Queue) normalise(e api.DeviceEvent) api.DeviceEvent {
	if e.ID == "" {
		e.ID = ident.NewID()
	}
	e.Count = max(e.Count, 1)
	if e.FirstAt.IsZero() {
		e.FirstAt = q.now()
	}
	if e.LastAt.Before(e.FirstAt) {
		e.LastAt = e.FirstAt
	}
	e.FirstAt, e.LastAt = e.FirstAt.UTC(), e.LastAt.UTC()
	e.Description = safetext.Line(strings.Join(strings.Fields(e.Description), " "), api.MaxEventDescription-len("…"))
	e.Detail = safetext.Block(e.Detail, api.MaxEventDetail-len("…"))
	return e
}

func marshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil // ends with '\n'
}

// appendLine writes line, the event id, at the end of the file and syncs it; a file that
// would pass its bound is rewritten instead, without its oldest events. A last line cut short
// by a crash is ended first, so that it cannot swallow this one.
func (q *Queue) appendLine(id string, line []byte) error {
	if len(line) > maxLine {
		q.forget(map[string]bool{id: true})
		return q.rewrite(nil, 1) // cannot happen with a normalised event; counted all the same
	}
	f, err := os.OpenFile(q.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if size+int64(len(line)) > q.max {
		f.Close()
		return q.rewrite(nil, 0, queued{id, line})
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if size == 0 {
		return state.SyncDir(filepath.Dir(q.path)) // the new file's name must survive too
	}
	return nil
}

// read returns the header and the events of the file, oldest first, a later line with an ID
// replacing the earlier one in its place. Lines that are not events (cut short, or of an
// older format) are skipped.
func (q *Queue) read() (header, []api.DeviceEvent, error) {
	h := header{Kind: headerKind}
	f, err := os.Open(q.path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil, nil
	}
	if err != nil {
		return h, nil, err
	}
	defer f.Close()
	var out []api.DeviceEvent
	at := map[string]int{}
	r := bufio.NewReaderSize(f, 64<<10)
	for first := true; ; first = false {
		ln, err := readLine(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, nil, err
		}
		ln, ok := q.decode(ln)
		if !ok {
			continue
		}
		if first {
			var fh header
			if strictjson.DecodeAnswer(ln, &fh) == nil && (fh.Kind == headerKind || fh.Kind == headerDropped) {
				h = fh
				h.Dropped += fh.Count
				h.Kind, h.Count = headerKind, 0
				continue
			}
		}
		var e api.DeviceEvent
		if strictjson.DecodeAnswer(ln, &e) != nil || !ident.IsID(e.ID) || e.Category == "" {
			continue
		}
		if i, ok := at[e.ID]; ok {
			out[i] = e
			continue
		}
		at[e.ID] = len(out)
		out = append(out, e)
	}
	return h, out, nil
}

// readLine returns the next line without its '\n'; one longer than maxLine comes back empty.
func readLine(r *bufio.Reader) ([]byte, error) {
	var ln []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(ln)+len(part) <= maxLine+1 {
			ln = append(ln, part...)
		} else {
			ln = ln[:0:0]
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(ln) > 0:
			return ln, nil
		case err != nil:
			return nil, err
		}
		return bytes.TrimSuffix(ln, []byte{'\n'}), nil
	}
}

// queued is one line of the queue, and the ID of its event.
type queued struct {
	id   string
	line []byte
}

// rewrite replaces the file, atomically, with what edit makes of its header and events, then
// the lines of add; dropped more events are counted as dropped. If that passes the bound, the
// oldest events go, and are counted, until it fills at most half of it: repeats are no longer
// folded into those (see [Queue.forget]).
func (q *Queue) rewrite(edit func(*header, []api.DeviceEvent) []api.DeviceEvent, dropped int64, add ...queued) error {
	h, evs, err := q.read()
	if err != nil {
		return err
	}
	if edit != nil {
		evs = edit(&h, evs)
	}
	h.Dropped += dropped
	lines := make([]queued, 0, len(evs)+len(add))
	var size int64
	for _, e := range evs {
		ln, err := marshalLine(e)
		if err != nil {
			return err
		}
		ln = q.encode(ln)
		lines = append(lines, queued{e.ID, ln})
		size += int64(len(ln))
	}
	for _, ln := range add {
		ln.line = bytes.TrimPrefix(ln.line, []byte{'\n'})
		lines = append(lines, ln)
		size += int64(len(ln.line))
	}
	if size+512 > q.max {
		budget := q.max / 2
		gone := map[string]bool{}
		for len(lines) > 0 && size+512 > budget {
			size -= int64(len(lines[0].line))
			gone[lines[0].id] = true
			lines = lines[1:]
			h.Dropped++
		}
		q.forget(gone)
	}
	var b bytes.Buffer
	if h.Dropped > 0 || h.AllowCrashDumps || !h.LastUpload.IsZero() {
		hl, _ := marshalLine(h)
		b.Write(q.encode(hl))
	}
	for _, ln := range lines {
		b.Write(ln.line)
	}
	return state.WriteFile(q.path, b.Bytes(), 0o600)
}

// Stats is what `rampart-device status` shows of the queue.
type Stats struct {
	Queued     int       // events waiting
	Dropped    int64     // events dropped since the last accepted batch
	LastUpload time.Time // when the service last accepted a batch; zero if never
}

// Stats reads the queue's counts. On a sealed queue, lines that do not verify are not counted.
func (q *Queue) Stats() (Stats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h, evs, err := q.readAll()
	if err != nil {
		return Stats{}, fmt.Errorf("event queue: %w", err)
	}
	return Stats{Queued: len(evs), Dropped: h.Dropped, LastUpload: h.LastUpload}, nil
}

// Events returns the queued events, oldest first, and how many were dropped.
func (q *Queue) Events() ([]api.DeviceEvent, int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h, evs, err := q.readAll()
	if err != nil {
		return nil, 0, fmt.Errorf("event queue: %w", err)
	}
	return evs, h.Dropped, nil
}

// readAll is read, and for a queue opened to read only, stage 0's events after the queue's.
func (q *Queue) readAll() (header, []api.DeviceEvent, error) {
	h, evs, err := q.read()
	if err != nil || q.key != nil || q.plain {
		return h, evs, err
	}
	_, boot, err := bootQueue(q.dir).read()
	return h, append(evs, boot...), err
}
