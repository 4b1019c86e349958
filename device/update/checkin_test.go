package update_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/update"
)

// setETag sets the stand-in's ETag of the update info.
func (d *device) setETag(etag string) {
	d.svc.Lock()
	d.svc.ETag = etag
	d.svc.Unlock()
}

func (d *device) tufRequests() int {
	d.svc.Lock()
	defer d.svc.Unlock()
	return d.svc.TUFRequests
}

// TestUpToDateCheckinFetchesNoMetadata: once a cycle completed, a cycle when nothing moved is one
// request (answered 304) and fetches no TUF metadata; when the service says something moved,
// the whole TUF workflow runs and installs it.
func TestUpToDateCheckinFetchesNoMetadata(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	d.group(v1)
	d.setETag(`"1"`)
	var last update.Checkin
	cycle := func() (update.Result, error) {
		c := d.client(t)
		c.Last = &last
		return c.Cycle(context.Background())
	}
	if _, err := cycle(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(last.ETag, `"1-`) || last.Expires.IsZero() || last.Who == nil {
		t.Fatalf("after a completed cycle the client keeps %+v", last)
	}
	before, reports := d.tufRequests(), d.reports()
	res, err := cycle()
	if err != nil || len(res.Changed) != 0 {
		t.Fatalf("up-to-date cycle: %+v %v", res, err)
	}
	if n := d.tufRequests() - before; n != 0 {
		t.Errorf("an up-to-date cycle made %d TUF requests, want none", n)
	}
	if d.reports() != reports {
		t.Error("an up-to-date cycle sent a report")
	}

	v2 := servicetest.App(t, v1.Custom.ComponentID, "Toaster", "2.0.0", wasm("v2"), d.svc.ImageKey)
	d.group(v2)
	d.setETag(`"2"`)
	if _, err := cycle(); err != nil {
		t.Fatal(err)
	}
	if got := d.apps(t); got[v2.Custom.ComponentID] != v2.Custom.ImageID {
		t.Errorf("installed %v, want v2", got)
	}
}

// TestUpdateFreezeRefusedDespiteNotModified: a service that keeps answering "nothing moved"
// while its repository moves on and its timestamp expires holds the device no longer than the
// timestamp it trusted: near that expiry the device asks afresh, refreshes, and refuses the
// expired metadata.
func TestUpdateFreezeRefusedDespiteNotModified(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	d.group(v1)
	d.setETag(`"frozen"`)
	var last update.Checkin
	now := time.Now()
	cycle := func() (update.Result, error) {
		c := d.client(t)
		c.Last, c.Now = &last, func() time.Time { return now }
		return c.Cycle(context.Background())
	}
	if _, err := cycle(); err != nil {
		t.Fatal(err)
	}
	v2 := servicetest.App(t, v1.Custom.ComponentID, "Toaster", "2.0.0", wasm("v2"), d.svc.ImageKey)
	d.group(v2)
	d.edit(servicetest.GroupRepo, (*servicetest.Repo).ExpireTimestamp)
	now = last.Expires.Add(-time.Minute) // the trusted timestamp is about to expire
	before := d.tufRequests()
	_, err := cycle()
	if !errors.Is(err, update.ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("cycle near the trusted timestamp's expiry: %v, want ErrRefused saying expired", err)
	}
	if d.tufRequests() == before {
		t.Error("the device trusted the service's 304 past its timestamp's expiry")
	}
	if got := d.apps(t); got[v1.Custom.ComponentID] != v1.Custom.ImageID {
		t.Errorf("installed %v, want v1 kept", got)
	}
}

// BenchmarkUpToDateCycle measures an update cycle when nothing moved: "full" as a client that
// keeps nothing between cycles makes it (the update info, then both repositories' TUF
// workflow), "conditional" with the last cycle's ETag kept. requests/op counts what the device
// sends.
func BenchmarkUpToDateCycle(b *testing.B) {
	for _, keep := range []bool{false, true} {
		name := map[bool]string{false: "full", true: "conditional"}[keep]
		b.Run(name, func(b *testing.B) {
			d := newDevice(b)
			d.group(servicetest.App(b, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey))
			d.setETag(`"1"`)
			var last update.Checkin
			c := d.client(b)
			if keep {
				c.Last = &last
			}
			if _, err := c.Cycle(context.Background()); err != nil {
				b.Fatal(err)
			}
			tuf := d.tufRequests()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Cycle(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.tufRequests()-tuf+b.N)/float64(b.N), "requests/op")
		})
	}
}
