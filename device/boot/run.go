package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// ExitRestart is the exit code with which stage 1 asks stage 0 to boot again, because an update
// has put a runtime on trial in the other slot (EX_TEMPFAIL of sysexits.h).
const ExitRestart = 75

// maxRestarts bounds the boots one [Run] does in a row, so that a runtime that asks for a
// restart every time cannot keep stage 0 looping. A stage 1 that ran for steadyRun before it
// asked does not count.
const (
	maxRestarts = 8
	steadyRun   = 10 * time.Minute
)

// Run boots the device (DESIGN section 4, A/B slots). In a loop, it:
//
//   - rolls back a trial that was started before but never committed (boot.json's tries ≥ 1:
//     the trial died, or the power went, before its health check passed);
//   - chooses the pending slot if one is on trial, else the active slot;
//   - measures and verifies the slot's runtime (with v, or [RuntimeVerifier] if v is nil); a
//     pending slot that fails verification is rolled back, an active one is an error;
//   - for a trial, counts it in boot.json before starting it;
//   - starts the runtime as stage 1 with args, forwards SIGINT and SIGTERM to it and waits;
//   - after a trial, rolls back unless the trial's stage 1 committed (the pending slot became
//     the active one), whatever its exit code, and boots the active slot again;
//   - boots again when stage 1 exits with [ExitRestart] (a runtime update on trial, or the
//     development capability gained or lost: the DICE mode changes); returns any other exit
//     code.
//
// A boot refusal and a rollback are queued as error events (BootFailure, SlotRollback) for
// stage 1 to upload. A rollback writes status.json (update result rolled_back, with the reason, for stage 1 to
// report) before clearing the trial from boot.json, so a power cut between the two rolls back
// again rather than losing the record. Every write is atomic.
func Run(dir state.Dir, v Verifier, args []string, stdout, stderr io.Writer) (int, error) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for boots := 1; ; boots++ {
		bc, slot, trial, err := chooseSlot(dir, stderr)
		if err != nil {
			return 1, err
		}
		s, err := MeasureSlot(dir, v, slot)
		if err != nil && trial {
			if _, err := rollback(dir, bc, stderr, false, fmt.Sprintf("stage 0 refused the runtime in slot %s: %v", slot, err)); err != nil {
				return 1, err
			}
			continue
		}
		if err != nil {
			record(dir, stderr, events.New(api.EventBootFailure, api.ClassOS, api.TypeUnplanned,
				fmt.Sprintf("stage 0 refused the runtime in the active slot %s: %v", slot, err)))
			return 1, err
		}
		if trial {
			bc.Tries++
			if err := dir.WriteBoot(bc); err != nil {
				s.Discard()
				return 1, fmt.Errorf("boot: count the trial of slot %s: %w", slot, err)
			}
		}
		started := time.Now()
		p, err := s.Start(args, stdout, stderr)
		if err != nil {
			return 1, err
		}
		code, signalled, err := p.waitForwarding(sigs, stderr)
		if err != nil {
			return 1, err
		}
		if trial {
			rolledBack, err := endTrial(dir, bc, slot, code, signalled, stderr)
			if err != nil {
				return 1, err
			}
			if rolledBack && signalled {
				return code, nil
			}
			if rolledBack {
				continue
			}
		}
		if signalled || code != ExitRestart {
			return code, nil
		}
		if time.Since(started) >= steadyRun {
			boots = 0 // a restart after a long run (an update, a change of mode) is not a loop
		}
		if boots >= maxRestarts {
			return 1, fmt.Errorf("boot: stage 1 asked to boot again %d times in a row; stopping", boots)
		}
	}
}

// chooseSlot reads boot.json, rolls back a trial that was started but never ended, and
// returns the slot to boot: the pending one (on trial), else the active one.
func chooseSlot(dir state.Dir, stderr io.Writer) (bc state.Boot, slot state.Slot, trial bool, err error) {
	bc, err = dir.ReadBoot()
	if err != nil {
		return bc, "", false, fmt.Errorf("boot: %w", err)
	}
	if bc.Pending != "" && bc.Tries > 0 {
		if bc, err = rollback(dir, bc, stderr, true, fmt.Sprintf("the runtime on trial in slot %s was started but never committed (it was stopped, or the power went, before its health check passed)", bc.Pending)); err != nil {
			return bc, "", false, err
		}
	}
	if bc.Pending != "" {
		return bc, bc.Pending, true, nil
	}
	return bc, bc.Active, false, nil
}

// endTrial rolls back the trial of slot, whose stage 1 exited with code, unless it committed
// (boot.json no longer names it as pending). bc is boot.json as the trial began.
func endTrial(dir state.Dir, bc state.Boot, slot state.Slot, code int, signalled bool, stderr io.Writer) (rolledBack bool, err error) {
	after, err := dir.ReadBoot()
	if err == nil && after.Pending != slot {
		return false, nil
	}
	why := fmt.Sprintf("the runtime on trial in slot %s exited with code %d before it committed", slot, code)
	if err != nil {
		why = fmt.Sprintf("boot.json is unreadable after the trial of slot %s: %v", slot, err)
		after = bc
	}
	if _, err := rollback(dir, after, stderr, signalled, why); err != nil {
		return false, err
	}
	return true, nil
}

// rollback ends the trial in bc: it records why in status.json, then clears the pending slot
// from boot.json, and returns the new boot.json. An interrupted trial (not a failed one) may be
// tried once more: the record says so the first time an image's trial is interrupted.
func rollback(dir state.Dir, bc state.Boot, stderr io.Writer, interrupted bool, why string) (state.Boot, error) {
	fmt.Fprintf(stderr, "rampart-device: %s; rolling back to slot %s\n", why, bc.Active)
	now := time.Now().UTC()
	rec := &state.RollbackRecord{At: now, Slot: bc.Pending, Reason: why}
	if h, err := ReadSlotHeader(dir, bc.Pending); err == nil {
		rec.ImageID = h.Manifest.ImageID
	}
	st, err := dir.ReadStatus()
	if err != nil {
		st = state.Status{} // unreadable: the rollback matters more than what it held
	}
	if interrupted {
		prev := st.RolledBack
		rec.Retry = rec.ImageID != "" && (prev == nil || prev.ImageID != rec.ImageID)
	}
	st.RolledBack = rec
	st.Update = &state.UpdateRecord{At: now, Result: api.UpdateRolledBack, Message: why}
	if err := dir.WriteStatus(st); err != nil {
		return bc, fmt.Errorf("boot: record the rollback: %w", err)
	}
	e := events.New(api.EventSlotRollback, api.ClassOS, api.TypeUnplanned, why)
	e.ImageID, e.FirstAt = ident.ImageID(rec.ImageID), now
	if rec.ImageID != "" {
		e.ComponentID = api.RuntimeComponentID
	}
	record(dir, stderr, e)
	bc.Pending, bc.Tries = "", 0
	if err := dir.WriteBoot(bc); err != nil {
		return bc, fmt.Errorf("boot: roll back: %w", err)
	}
	return bc, nil
}

// record queues an error event for stage 1 to upload (DESIGN section 5 step 7), in stage 0's own
// file, since stage 0 has no storage key to authenticate it with ([events.AppendBoot]). A failure to
// is said on stderr, and does not stop the boot.
func record(dir state.Dir, stderr io.Writer, e api.DeviceEvent) {
	if err := events.AppendBoot(dir, e); err != nil {
		fmt.Fprintf(stderr, "rampart-device: %v\n", err)
	}
}

// waitForwarding waits for stage 1 to exit, forwarding the signals that arrive on sigs to it,
// and reports whether any did.
func (p *Process) waitForwarding(sigs <-chan os.Signal, stderr io.Writer) (code int, signalled bool, err error) {
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := p.Wait()
		done <- result{code, err}
	}()
	for {
		select {
		case sig := <-sigs:
			signalled = true
			if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				fmt.Fprintf(stderr, "rampart-device: forward %v to stage 1: %v\n", sig, err)
			}
		case r := <-done:
			return r.code, signalled, r.err
		}
	}
}
