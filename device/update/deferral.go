package update

import (
	"context"
	"fmt"
	"time"
)

// Kinds of update, as the app host names them (apphost.UpdateApplication, UpdateRuntime).
const (
	KindApplication = "application"
	KindRuntime     = "runtime"
)

// AppHost is what the update client needs of the app host (apphost.Host): to warn apps of an
// update before it is installed, to learn whether they deferred it (the manifest's
// SoftwareUpdateDeferral), and to tell them when it goes ahead.
type AppHost interface {
	NotifyUpdatePending(kind string, deadline time.Time)
	Deferred(kind string) time.Time
	NotifyUpdateFinal(kind string)
}

// DefaultNotice is how long the update client waits, after it told the apps of an update and
// before it installs it, for them to defer it.
const DefaultNotice = 5 * time.Second

// deferred announces an update of kind to the apps and reports until when they deferred it:
// the zero time if the update may go ahead, and then the apps are told that it does. Unless an
// earlier deferral still holds, it waits c.Notice for their answer. A deferral that ended (an
// app did not renew it, or resumed) no longer holds: the update is announced again, and goes
// ahead unless deferred anew.
func (c *Client) deferred(ctx context.Context, kind string) time.Time {
	if c.Apps == nil {
		return time.Time{}
	}
	if until := c.Apps.Deferred(kind); until.After(c.now()) {
		return until
	}
	c.Apps.NotifyUpdatePending(kind, c.now().Add(c.Notice))
	if c.Notice > 0 {
		t := time.NewTimer(c.Notice)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if until := c.Apps.Deferred(kind); until.After(c.now()) {
		return until
	}
	c.Apps.NotifyUpdateFinal(kind)
	return time.Time{}
}

// installed tells the apps that the update of kind is no longer pending.
func (c *Client) installed(kind string) {
	if c.Apps != nil {
		c.Apps.NotifyUpdatePending(kind, time.Time{})
	}
}

func deferredLine(kind string, until time.Time) string {
	return fmt.Sprintf("%s update deferred by an app until %s", kind, until.UTC().Format(time.RFC3339))
}
