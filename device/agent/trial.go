package agent

import (
	"context"
	"fmt"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
)

// commit ends this runtime's trial after its health check passed: it records the result for
// the update client to report, then makes the slot the active one in boot.json. In that order:
// a power cut between the two leaves the trial uncommitted, and stage 0's rollback then
// replaces the record.
func (a *Agent) commit() error {
	bc, err := a.dir.ReadBoot()
	if err != nil {
		return fmt.Errorf("commit the runtime on trial: %w", err)
	}
	if bc.Pending != a.id.Slot {
		a.trial = false
		return fmt.Errorf("commit the runtime on trial: boot.json no longer names slot %s as pending", a.id.Slot)
	}
	what := "the factory runtime"
	image := ""
	if h, err := boot.ReadSlotHeader(a.dir, a.id.Slot); err == nil {
		image = h.Manifest.ImageID
		what = fmt.Sprintf("runtime %s (image %s)", h.Manifest.Version, image)
	}
	msg := fmt.Sprintf("%s in slot %s passed its health check and is committed", what, a.id.Slot)
	err = a.dir.EditStatus(func(st *state.Status) {
		st.Update = &state.UpdateRecord{At: a.now().UTC(), Result: api.UpdateOK, Message: msg}
		if st.RolledBack != nil && st.RolledBack.ImageID == image {
			st.RolledBack = nil
		}
	})
	if err != nil {
		return fmt.Errorf("commit the runtime on trial: %w", err)
	}
	bc.Active, bc.Pending, bc.Tries = a.id.Slot, "", 0
	if err := a.dir.WriteBoot(bc); err != nil {
		return fmt.Errorf("commit the runtime on trial: %w", err)
	}
	a.trial = false
	a.opt.Log.Printf("%s", msg)
	return nil
}

// updateClient is the update client over the current mutual-TLS connection.
func (a *Agent) updateClient() *update.Client {
	return &update.Client{Dir: a.dir, ServiceURL: a.dev.ServiceURL, HTTP: a.mtls, Slot: a.id.Slot,
		Log: a.opt.Log, Now: a.opt.Now, Last: &a.last}
}

// updateCycle runs the rest of the update cycle on the answer of the check-in before it, or a
// whole cycle if there was none.
func (a *Agent) updateCycle(ctx context.Context) (update.Result, error) {
	c := a.updateClient()
	ans := a.answer
	a.answer = nil
	if a.apps != nil {
		c.Apps = a.apps.host
		for _, st := range a.apps.host.List() {
			if st.State == apphost.StateRunning {
				c.Notice = update.DefaultNotice // give running apps a chance to defer
				break
			}
		}
		a.apps.mu.Lock()
		defer a.apps.mu.Unlock()
	}
	if ans == nil {
		return c.Cycle(ctx)
	}
	return c.Apply(ctx, ans)
}
