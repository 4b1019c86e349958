package state

// FileEvents is the event queue: the error events waiting to be uploaded, one JSON object a
// line after its MAC under a key derived from the runtime's storage key, oldest first, at most
// [MaxEventQueue] bytes. Its format and the one way it is written
// are package [github.com/rampart-iot/rampart/device/events]'s (DESIGN section 5 step 7).
const FileEvents = "events.jsonl"

// FileBootEvents holds the error events of stage 0, which has no storage key to authenticate
// them with, until stage 1 moves them into [FileEvents]: at most [MaxBootEvents] bytes.
const FileBootEvents = "boot-events.jsonl"

// MaxBootEvents bounds boot-events.jsonl.
const MaxBootEvents = 64 << 10

// FileRunning exists while stage 1 runs: found at its start, it says the last run did not end
// cleanly (a crash, a kill or a power cut), which is reported as an unplanned restart.
const FileRunning = "stage1.running"

// MaxEventQueue bounds events.jsonl. When an event would take it past this, the oldest events
// are dropped until it fills at most half of it, and the drops are counted.
const MaxEventQueue = 1 << 20
