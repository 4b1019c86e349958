package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// Error reporting (DESIGN section 5 step 7): stage 1 queues what goes wrong on the device —
// apps' crashes and exits, failed updates and attestations, restarts of the runtime — in the
// state folder's event queue (package events), and uploads it after each check-in and every
// Options.EventInterval while events wait.

// record queues an event, logging a failure to: reporting must not stop the device.
func (a *Agent) record(e api.DeviceEvent) {
	if err := a.events.Append(e); err != nil {
		a.opt.Log.Printf("%v", err)
	}
}

// uploader returns the agent's event uploader, which uses the current mutual-TLS client.
func (a *Agent) uploader() *events.Uploader {
	return &events.Uploader{Queue: a.events, ServiceURL: a.dev.ServiceURL, Interval: a.opt.EventInterval,
		Client: func() *http.Client { return a.client.Load() }, Log: a.opt.Log, Now: a.opt.Now}
}

// startUploads runs the uploader until ctx ends; the returned function waits for it to stop.
func (a *Agent) startUploads(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.uploader().Run(ctx, a.kick)
	}()
	return func() { <-done }
}

// online says that a check-in worked: the uploader tries at once (Options.Once: uploads now).
func (a *Agent) online(ctx context.Context) {
	if a.opt.Once {
		if _, err := a.uploader().Upload(ctx); err != nil {
			a.opt.Log.Printf("%v", err)
		}
		return
	}
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// markRunning records that stage 1 runs, reporting an unplanned restart if the last run did
// not end cleanly; the returned function, called when Run returns, clears the mark.
func (a *Agent) markRunning() (clear func()) {
	path := a.dir.Path(state.FileRunning)
	if b, err := state.ReadFile(path, 1<<10); err == nil {
		e := events.New(api.EventRuntimeRestart, api.ClassOS, api.TypeUnplanned,
			"the runtime stopped without shutting down (a crash, a kill or a power cut)")
		e.Detail = "the run that did not end started at " + string(b)
		a.record(e)
	} else if !errors.Is(err, fs.ErrNotExist) {
		a.opt.Log.Printf("read %s: %v", state.FileRunning, err)
	}
	if err := state.WriteFile(path, []byte(a.now().UTC().Format("2006-01-02T15:04:05Z")), 0o600); err != nil {
		a.opt.Log.Printf("write %s: %v", state.FileRunning, err)
	}
	return func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.opt.Log.Printf("remove %s: %v", state.FileRunning, err)
		}
	}
}

// plannedRestart records the restart that err (ErrRestart or ErrModeChanged) asks for.
func (a *Agent) plannedRestart(err error) {
	why := "the runtime restarts to try a runtime update"
	if errors.Is(err, ErrModeChanged) {
		why = "the runtime restarts because the development capability changed (DICE mode)"
	}
	a.record(events.New(api.EventRuntimeRestart, api.ClassOS, api.TypePlanned, why))
}

// attestFailed records a failed attestation: the service's reason, or that it did not answer.
func (a *Agent) attestFailed(err error) {
	desc := "no answer: " + err.Error()
	id := ""
	var ae *AttestError
	if errors.As(err, &ae) {
		desc = ae.Reason + ": " + ae.Message
		if len(ae.Nonce) > 0 {
			// The ID the service gave the same failure when it recorded it: stored once.
			id = api.AttestationFailureEventID(ae.Nonce)
		}
	}
	e := events.New(api.EventAttestationFailed, api.ClassOS, api.TypeUnplanned, desc)
	e.ID = id
	a.record(e)
}

// updateFailed records a failed update cycle.
func (a *Agent) updateFailed(err error) {
	a.record(events.New(api.EventUpdateFailed, api.ClassOS, api.TypeUnplanned, err.Error()))
}

// appEvent maps an event of the app host to an error event; false for those that are not
// errors (start, stop, the restart that follows a crash or an exit, which that reports).
//
//	trap                 AppCrash  app  unplanned  the trap
//	exit with a panic    AppCrash  app  unplanned  the panic line, and the exit code
//	exit 0               AppExit   app  planned    "exit code 0"
//	exit N               AppExit   app  unplanned  "exit code N"
//	refused              AppExit   app  unplanned  "refused: " and why the image cannot run
//	host_panic           AppCrash  os   unplanned  the host function and its panic
//	storage_refused      AppStorage app unplanned  the file that did not authenticate
func appEvent(e apphost.Event) (api.DeviceEvent, bool) {
	var out api.DeviceEvent
	switch e.Kind {
	case apphost.EventTrap:
		out = events.New(api.EventAppCrash, api.ClassApp, api.TypeUnplanned, e.Message)
		out.Detail = strings.ToValidUTF8(e.Detail, "?")
		if len(out.Detail) > api.MaxEventDetail {
			out.Detail = strings.ToValidUTF8(out.Detail[:api.MaxEventDetail], "")
		}
	case apphost.EventExit:
		switch {
		case e.Message != "":
			out = events.New(api.EventAppCrash, api.ClassApp, api.TypeUnplanned, fmt.Sprintf("%s (exit code %d)", e.Message, e.ExitCode))
		case e.ExitCode == 0:
			out = events.New(api.EventAppExit, api.ClassApp, api.TypePlanned, "exit code 0")
		default:
			out = events.New(api.EventAppExit, api.ClassApp, api.TypeUnplanned, fmt.Sprintf("exit code %d", e.ExitCode))
		}
	case apphost.EventRefused:
		out = events.New(api.EventAppExit, api.ClassApp, api.TypeUnplanned, "refused: "+e.Message)
	case apphost.EventStorageRefused:
		out = events.New(api.EventAppStorage, api.ClassApp, api.TypeUnplanned, e.Message)
	case apphost.EventHostPanic:
		out = events.New(api.EventAppCrash, api.ClassOS, api.TypeUnplanned, e.Message)
	default:
		return out, false
	}
	if ident.IsID(e.ComponentID) {
		out.ComponentID = ident.ComponentID(e.ComponentID)
	}
	if ident.IsID(e.ImageID) {
		out.ImageID = ident.ImageID(e.ImageID)
	}
	out.FirstAt, out.LastAt = e.Time, e.Time
	return out, true
}
