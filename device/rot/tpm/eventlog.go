package tpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
)

// The event log's limits and constants.
const (
	// MaxEvents bounds the Rampart events in one log: a device that boots more runtimes than
	// this without a reset of its TPM (a reboot) refuses to boot another. It is the most the
	// service reads, and such a log fits the evidence's bound (evidence.MaxEventLogSize).
	MaxEvents = evidence.MaxTPMEvents
	// EventTag is the event type of Rampart's events: EV_EVENT_TAG of the TCG PC Client
	// Platform Firmware Profile.
	EventTag = evidence.EventTypeRuntime
	// RecordSize is the size of a measurement record: label, three SHA-512s and the mode.
	RecordSize = evidence.MeasurementRecordSize

	evNoAction   = 0x00000003
	algSHA256    = 0x000b
	specIDHeader = "Spec ID Event03\x00"
	// headerSize is the size of the Spec ID event Rampart writes (one algorithm).
	headerSize = 4 + 4 + 20 + 4 + specIDSize
	specIDSize = 16 + 4 + 1 + 1 + 1 + 1 + 4 + 4 + 1
	// eventSize is the size of one Rampart event in the log.
	eventSize = 4 + 4 + 4 + 2 + 32 + 4 + RecordSize
)

// MaxLogSize is the largest event log Rampart writes or reads.
const MaxLogSize = headerSize + MaxEvents*eventSize

// Record is the event data of a runtime's measurement, as format/evidence reads it back
// ([evidence.MeasurementRecord]):
//
//	"RAMPART-RUNTIME\x00" ‖ runtime SHA-512 ‖ config SHA-512 ‖ authority SHA-512 ‖ mode (1 byte)
//
// The PCR is extended with its SHA-256.
func Record(m dice.Measurements) []byte { return evidence.MeasurementRecord(m) }

// ParseRecord reads a measurement record, refusing an undefined mode.
func ParseRecord(b []byte) (dice.Measurements, error) {
	m, err := evidence.ParseMeasurementRecord(b)
	if err == nil && m.Mode > dice.ModeRecovery {
		err = fmt.Errorf("measurement record: invalid mode %d", m.Mode)
	}
	return m, err
}

// Log is an event log of one PCR's Rampart events, in the TCG PC Client crypto-agile format
// (a Spec ID event naming SHA-256 alone, then TCG_PCR_EVENT2 events), as TCG tools and
// go-attestation's ParseEventLog read it.
type Log struct {
	PCR    int
	Events [][]byte // each event's data: a measurement record
}

// Marshal encodes the log.
func (l *Log) Marshal() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	// TCG_PCR_EVENT: PCR 0, EV_NO_ACTION, a zero SHA-1 digest, the Spec ID event.
	b.Write(le.AppendUint32(nil, 0))
	b.Write(le.AppendUint32(nil, evNoAction))
	b.Write(make([]byte, 20))
	b.Write(le.AppendUint32(nil, specIDSize))
	b.WriteString(specIDHeader)
	b.Write(le.AppendUint32(nil, 0)) // platformClass: client
	b.Write([]byte{0, 2, 0, 2})      // spec version 2.0, errata 0, uintnSize 2 (UINT64)
	b.Write(le.AppendUint32(nil, 1)) // numberOfAlgorithms
	b.Write(le.AppendUint16(nil, algSHA256))
	b.Write(le.AppendUint16(nil, sha256.Size))
	b.WriteByte(0) // vendorInfoSize
	for _, e := range l.Events {
		d := sha256.Sum256(e)
		b.Write(le.AppendUint32(nil, uint32(l.PCR)))
		b.Write(le.AppendUint32(nil, EventTag))
		b.Write(le.AppendUint32(nil, 1))
		b.Write(le.AppendUint16(nil, algSHA256))
		b.Write(d[:])
		b.Write(le.AppendUint32(nil, uint32(len(e))))
		b.Write(e)
	}
	return b.Bytes()
}

// ParseLog reads a log that [Log.Marshal] wrote, strictly: the exact header, then events of the
// one PCR, each with one SHA-256 digest that is the digest of its data, a measurement record;
// at most [MaxEvents] of them, and nothing after.
func ParseLog(b []byte) (*Log, error) {
	if len(b) > MaxLogSize {
		return nil, fmt.Errorf("event log: larger than %d bytes", MaxLogSize)
	}
	empty := (&Log{}).Marshal()
	if len(b) < len(empty) || !bytes.Equal(b[:len(empty)], empty) {
		return nil, errors.New("event log: not a Rampart log (the Spec ID header differs)")
	}
	b = b[len(empty):]
	le := binary.LittleEndian
	l := &Log{PCR: -1}
	for len(b) > 0 {
		if len(l.Events) == MaxEvents {
			return nil, fmt.Errorf("event log: more than %d events", MaxEvents)
		}
		if len(b) < eventSize {
			return nil, errors.New("event log: truncated event")
		}
		pcr := int(le.Uint32(b[0:]))
		if l.PCR == -1 {
			l.PCR = pcr
		}
		switch {
		case pcr != l.PCR:
			return nil, fmt.Errorf("event log: events of PCRs %d and %d", l.PCR, pcr)
		case le.Uint32(b[4:]) != EventTag:
			return nil, fmt.Errorf("event log: event type %#x, want EV_EVENT_TAG", le.Uint32(b[4:]))
		case le.Uint32(b[8:]) != 1 || le.Uint16(b[12:]) != algSHA256:
			return nil, errors.New("event log: an event's digests are not SHA-256 alone")
		case int(le.Uint32(b[46:])) != RecordSize:
			return nil, fmt.Errorf("event log: event of %d bytes, want %d", le.Uint32(b[46:]), RecordSize)
		}
		data := b[50:eventSize]
		if d := sha256.Sum256(data); !bytes.Equal(d[:], b[14:46]) {
			return nil, errors.New("event log: an event's digest is not that of its data")
		}
		if _, err := ParseRecord(data); err != nil {
			return nil, fmt.Errorf("event log: %w", err)
		}
		l.Events = append(l.Events, bytes.Clone(data))
		b = b[eventSize:]
	}
	if l.PCR == -1 {
		l.PCR = 0
	}
	return l, nil
}

// Replay returns the PCR value the log's events give from a PCR of zeros.
func (l *Log) Replay() [32]byte {
	var pcr [32]byte
	for _, e := range l.Events {
		d := sha256.Sum256(e)
		pcr = sha256.Sum256(append(pcr[:], d[:]...))
	}
	return pcr
}

// Last returns the measurements of the log's last event.
func (l *Log) Last() (dice.Measurements, bool) {
	if len(l.Events) == 0 {
		return dice.Measurements{}, false
	}
	m, err := ParseRecord(l.Events[len(l.Events)-1])
	return m, err == nil
}
