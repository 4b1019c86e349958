package state

import (
	"errors"
	"io/fs"
	"time"
)

// Notify is the state of the notification channel (notify.json), written by stage 1 when the
// channel opens or closes. It is a file of its own, not a part of status.json, so that a
// runtime rolled back to one without the channel still reads its status.
type Notify struct {
	At    time.Time `json:"at"`
	Open  bool      `json:"open"`
	Error string    `json:"error,omitempty"`
}

// ReadNotify reads notify.json; nil if there is none (the channel never opened).
func (d Dir) ReadNotify() (*Notify, error) {
	var n Notify
	err := d.readJSON(FileNotify, &n)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// WriteNotify writes notify.json.
func (d Dir) WriteNotify(n Notify) error { return d.writeJSON(FileNotify, n) }
