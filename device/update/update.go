// Package update is the device's update client (DESIGN section 5, step 5): it asks the service
// which TUF repositories the device follows, refreshes them with go-tuf, downloads the images it
// lacks (resumable, length-bounded), verifies them twice — against the TUF target's length and
// hashes, then as image packages signed by a trusted key — installs them atomically and reports
// what it has.
//
// Stage 1's check-in is step 1, [Client.CheckIn]: once it has an answer, a runtime on trial
// commits, and [Client.Apply] runs the other steps. [Client.Cycle] is both at once.
//
// # The cycle
//
//  1. GET api.DevicePathUpdates over mutual TLS: the feed repository (runtime releases), the
//     group repository (the group's deployment), the update policy, the tenant's image keys
//     and who the service takes the device for. Policy NoUpdates: nothing more. When nothing
//     moved since the last cycle that completed, the answer is 304 and the cycle ends here
//     (see "Up-to-date check-ins").
//  2. Runtime, for UpdateAll and NoApplicationUpdates: refresh the feed repository
//     ([Client.refresh]: on first use its "1.root.json" is fetched over the mutually
//     authenticated channel and kept as tuf/<repo>/root.json; afterwards go-tuf walks the root
//     chain from there and refuses expired, rolled-back or mixed-and-matched metadata). The
//     newest release (by version) is installed unless it is the running runtime or a runtime
//     whose trial was rolled back: download, verify, write into the inactive slot (runtime and
//     package.hdr, synced), set boot.json's pending slot, and have stage 1 exit with
//     boot.ExitRestart so that stage 0 tries it ([state.Boot] describes the trial).
//  3. Apps, for UpdateAll with a group: refresh the group repository; every target is an app
//     the device must have. Each one missing is downloaded, verified with the image keys, and
//     installed ([Client.installApp]); apps that are no longer deployed are removed.
//  4. Report (POST api.DevicePathUpdateReport): the installed images and the result, after a
//     cycle that changed something, was deferred or failed, and for a result not reported yet
//     (a rollback recorded by stage 0, a commit).
//
// Policy NoApplicationUpdates (the Development group's) leaves apps/ untouched: sideloaded apps
// ([Sideload]) are neither replaced nor removed.
//
// # Apps first
//
// Before it installs an update of the runtime or of apps, the client tells the app host
// (Client.Apps), which passes it on to apps with SystemEventNotifications, and waits
// Client.Notice for them to defer it (SoftwareUpdateDeferral). A deferred update is skipped,
// and reported as deferred, until the deferral ends; the app host bounds deferrals.
//
// # Development
//
// The cycle keeps the tenant's image keys of the update info in tenant-keys.pem. While the
// device holds a development capability signed by one of them for this device
// (capability.json), app packages signed by one of its developer keys are accepted too
// ([AppKeys]); without it, a developer-signed package is refused as any unknown signer is.
//
// # Verification
//
// A package is installed only if its bytes match the TUF target (length and SHA-256, and
// SHA-512 when given), its header is signed by a trusted key — the tenant's image keys for
// apps, the operator's runtime keys (runtime-keys.pem) for the runtime — its manifest names the
// image, component and type that the signed TUF metadata names, and its payload streams to the
// size and SHA-256 of the manifest. A failure of any of these is of class [ErrRefused]: the
// image is not installed, the download is discarded, and the failure is reported.
//
// # Maintenance windows
//
// The update info names the group's maintenance window (api.Window), if it has one. An
// application update found outside it is not installed: the cycle reports it deferred and sets
// Result.WindowOpens, for stage 1 to check in again then; unless the group's signed targets
// metadata says the deployment is urgent (api.TargetsUrgentField). Runtime updates do not wait
// for the window. A window the device cannot parse is ignored, and logged.
//
// # Up-to-date check-ins
//
// After a cycle that completed (nothing failed, nothing deferred, no runtime pending) the
// client keeps, in [Client.Last], the ETag of the update info, the earliest expiry of the
// timestamp metadata it trusted and who the answer said the device is. The next cycle sends the
// ETag in If-None-Match, and the service answers 304 when neither the answer (who the device is
// included) nor either repository's timestamp moved: the cycle then fetches no TUF metadata and
// changes nothing, so an up-to-date check-in is one request.
//
// A 304 is trusted only while the timestamp metadata the device verified is valid for more than
// refreshBefore: after that the cycle asks without the ETag and refreshes both repositories,
// whatever the service would say. So the TUF protections hold as they do without the shortcut:
// a service (or anyone in its place) that answers 304 for ever freezes the device no longer than
// the signed timestamp's expiry (at most 24 hours), after which go-tuf refuses the stale
// metadata; and a 304 changes no trusted metadata, so nothing can be rolled back or mixed
// through it. Whenever the service says something moved, the whole TUF workflow runs.
//
// # Power cuts
//
// Every step leaves a state that boots the old image and that the next cycle completes: see
// [Client.installApp] and [Client.installRuntime]. [Client.Hook] names the steps for tests.
package update

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/format/safetext"
)

// ErrRefused is the class of update failures that mean an image or its metadata is not what
// it should be. Retrying will not help until the service offers something else.
var ErrRefused = errors.New("update refused")

// Steps of an install, at which [Client.Hook] is called.
const (
	StepDownloaded       = "downloaded"        // a package is complete in downloads/ and matches its TUF target
	StepAppUnpacked      = "app-unpacked"      // an app's files are written in a temporary folder
	StepAppInstalled     = "app-installed"     // …renamed to apps/COMPONENT/IMAGE
	StepAppSwitched      = "app-switched"      // apps/COMPONENT/current names it
	StepAppCleaned       = "app-cleaned"       // the app's other versions are removed
	StepAppUninstalled   = "app-uninstalled"   // an undeployed app's current file is removed
	StepRuntimeWritten   = "runtime-written"   // the new runtime is in the inactive slot, its header not yet
	StepRuntimeInstalled = "runtime-installed" // …and its header
	StepRuntimePending   = "runtime-pending"   // boot.json names the slot as pending
)

// Client is the update client of one stage 1.
type Client struct {
	Dir        state.Dir
	ServiceURL string       // https://HOST[:PORT]
	HTTP       *http.Client // mutual TLS with the device certificate
	Slot       state.Slot   // the slot this stage 1 was booted from
	Log        *log.Logger  // progress; nil for none
	Now        func() time.Time
	// Hook, if not nil, is called at each Step… of an install. Tests stop the client there,
	// as a power cut would.
	Hook func(step string)
	// Apps, if not nil, is told of each update before it is installed, and an update that an
	// app deferred is skipped until the deferral ends (reported as deferred).
	Apps AppHost
	// Notice is how long to give apps to defer an update once told of it (DefaultNotice is
	// what stage 1 uses).
	Notice time.Duration
	// Last, if not nil, is what the last completed cycle learnt, kept by the caller from one
	// cycle to the next; CheckIn reads it and Apply updates it (see "Up-to-date check-ins").
	Last *Checkin

	expires time.Time // the earliest expiry of the timestamps refreshed in this cycle
}

// Checkin is what a completed cycle learnt: the ETag of its update info, the earliest expiry
// of the timestamp metadata it trusted (zero when it refreshed no repository), and who the
// update info said the device is, which a 304 leaves as it was.
type Checkin struct {
	ETag    string
	Expires time.Time
	Who     *api.DeviceWhoami
}

// refreshBefore is how long before the trusted timestamp metadata expires a cycle refreshes the
// repositories even when the service says nothing moved.
const refreshBefore = time.Hour

// conditional returns the ETag to send in If-None-Match, or "" if this cycle must ask afresh.
func (c *Client) conditional() string {
	if c.Last == nil || c.Last.ETag == "" {
		return ""
	}
	if !c.Last.Expires.IsZero() && !c.now().Before(c.Last.Expires.Add(-refreshBefore)) {
		return ""
	}
	return c.Last.ETag
}

// Result is what a cycle did.
type Result struct {
	Changed  []string // what was installed or removed, one line each
	Deferred []string // updates that apps deferred, one line each
	// Restart is set when a runtime is pending in the other slot: stage 1 must exit with
	// boot.ExitRestart for stage 0 to try it.
	Restart bool
	// WindowOpens, if not zero, is when the group's maintenance window next opens: an
	// application update waits for it (see "Maintenance windows").
	WindowOpens time.Time
}

func (c *Client) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log.Printf(format, args...)
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) hook(step string) {
	if c.Hook != nil {
		c.Hook(step)
	}
}

// Cycle runs one update cycle (see the package doc): [Client.CheckIn], then [Client.Apply].
func (c *Client) Cycle(ctx context.Context) (Result, error) {
	ans, err := c.CheckIn(ctx)
	if err != nil {
		return Result{}, c.finish(ctx, Result{}, err)
	}
	return c.Apply(ctx, ans)
}

// Answer is the service's answer to a check-in ([Client.CheckIn]): who the device is, and what
// [Client.Apply] needs of the update info.
type Answer struct {
	// Who is the device as the service knows it: from the update info, or from the last
	// completed cycle's when nothing moved since. Nil from an older service, which names the
	// device only in api.DevicePathWhoami.
	Who *api.DeviceWhoami

	info        api.UpdateInfo
	keys        map[string]*ecdsa.PublicKey
	etag        string
	notModified bool
	err         error // the update info came but could not be used; Who is nil
}

// NotModified reports whether the service said nothing moved since the last completed cycle:
// applying the answer then installs nothing.
func (a *Answer) NotModified() bool { return a.notModified }

// CheckIn asks the service for the update info (step 1 of the cycle), with the ETag of the last
// completed cycle when it may (see "Up-to-date check-ins"). The answer is the device's
// check-in: it says who the service takes the device for, and a runtime on trial may commit
// once it has one. It returns an error only when the request got no answer, or the service
// refused the device certificate (a transport.Error with Status 401 or 403). Any other failure
// (another status, update info that does not check) comes as an Answer without Who, for the
// caller to ask whoami, and for Apply to record and report as the cycle's failure.
func (c *Client) CheckIn(ctx context.Context) (*Answer, error) {
	etag := c.conditional()
	var last Checkin
	if c.Last != nil {
		last, *c.Last = *c.Last, Checkin{} // kept again only if the cycle completes
	}
	info, keys, etag, err := c.updateInfo(ctx, etag)
	if errors.Is(err, errNotModified) {
		*c.Last = last
		return &Answer{Who: last.Who, etag: etag, notModified: true}, nil
	}
	var te *transport.Error
	switch {
	case err == nil:
		return &Answer{Who: info.Device, info: info, keys: keys, etag: etag}, nil
	case errors.As(err, &te) && (te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden),
		errors.As(err, new(noAnswer)):
		return nil, err
	}
	// The service answered, but not with update info the device can use (a 5xx, an unknown
	// policy, a malformed key): the check-in may still work, by whoami, and Apply records and
	// reports the failure as an update failure.
	return &Answer{err: err}, nil
}

// noAnswer marks the error of an update-info request that got no answer at all.
type noAnswer struct{ error }

func (e noAnswer) Unwrap() error { return e.error }

// Apply runs the rest of the cycle on a check-in's answer: it reports a result not reported
// yet, then, unless nothing moved, refreshes the repositories and installs what they name. It
// returns what changed, and an error if any part failed; the parts are independent, so a
// refused app does not hold back a runtime update, and the result is reported either way.
func (c *Client) Apply(ctx context.Context, ans *Answer) (Result, error) {
	var res Result
	if err := c.reportPending(ctx); err != nil {
		// The service is out of reach: keep the result to report, and try again later.
		return res, fmt.Errorf("report the last update result: %w", err)
	}
	if ans.notModified {
		return res, nil
	}
	if ans.err != nil {
		return res, c.finish(ctx, res, ans.err)
	}
	info := ans.info
	// The tenant's keys check the development capability (stage 0 and stage 1) and installed
	// apps before each run.
	if _, err := c.Dir.WriteTenantKeys(info.ImageKeys); err != nil {
		c.logf("write %s: %v", state.FileTenantKeys, err)
	}
	var errs []error
	if info.UpdatePolicy != api.PolicyNone {
		if err := c.runtimeUpdate(ctx, info.FeedRepo, &res); err != nil {
			errs = append(errs, fmt.Errorf("runtime update: %w", err))
		}
	}
	if info.UpdatePolicy == api.PolicyAll && info.GroupRepo != "" {
		if err := c.appUpdate(ctx, info.GroupRepo, info.MaintenanceWindow, c.trustedAppKeys(ans.keys), &res); err != nil {
			errs = append(errs, fmt.Errorf("app update: %w", err))
		}
	}
	c.forgetOtherGroups(info.GroupRepo)
	if len(errs) == 0 {
		c.keepDownloads(nil) // every download was installed, or is no longer wanted
	}
	if c.Last != nil && len(errs) == 0 && len(res.Deferred) == 0 && !res.Restart {
		*c.Last = Checkin{ETag: ans.etag, Expires: c.expires, Who: ans.Who}
	}
	return res, c.finish(ctx, res, errors.Join(errs...))
}

// finish records the cycle's result if it changed something or failed, and reports it.
func (c *Client) finish(ctx context.Context, res Result, err error) error {
	if len(res.Changed) == 0 && len(res.Deferred) == 0 && err == nil {
		return nil
	}
	rec := state.UpdateRecord{At: c.now().UTC(), Result: api.UpdateOK, Message: strings.Join(append(res.Changed, res.Deferred...), "; ")}
	if err != nil {
		rec.Result, rec.Message = api.UpdateFailed, err.Error()
	}
	rec.Message = clean(rec.Message)
	c.setUpdate(rec)
	if rerr := c.report(ctx, rec); rerr != nil {
		c.logf("report the update result: %v", rerr)
	} else {
		rec.Reported = true
		c.setUpdate(rec)
	}
	return err
}

// reportPending reports a result that was recorded but not reported: a rollback stage 0
// recorded, a commit, or a report that failed before. It returns an error if the service could
// not be reached, so that the cycle stops before it records a result over this one. A report
// that the service rejects (transport.ErrRejected: a 4xx) is logged and dropped: sending it
// again would not help.
func (c *Client) reportPending(ctx context.Context) error {
	st, err := c.Dir.ReadStatus()
	if err != nil || st.Update == nil || st.Update.Reported {
		return nil
	}
	rec := *st.Update
	if err := c.report(ctx, rec); err != nil {
		if !errors.Is(err, transport.ErrRejected) {
			return err
		}
		c.logf("the service refused the report of the %s update result, dropping it: %v", rec.Result, err)
	}
	rec.Reported = true
	c.setUpdate(rec)
	return nil
}

func (c *Client) setUpdate(rec state.UpdateRecord) {
	err := c.Dir.EditStatus(func(st *state.Status) { st.Update = &rec })
	if err != nil {
		c.logf("write status.json: %v", err)
	}
}

// report sends the installed images and rec to the service.
func (c *Client) report(ctx context.Context, rec state.UpdateRecord) error {
	bc, err := c.Dir.ReadBoot()
	if err != nil {
		return err
	}
	installed, err := Installed(c.Dir, bc.Active)
	if err != nil {
		return err
	}
	body, err := json.Marshal(api.UpdateReport{Installed: installed, Result: rec.Result, Message: rec.Message, At: rec.At})
	if err != nil {
		return err
	}
	r, err := c.call(ctx, http.MethodPost, api.DevicePathUpdateReport, body)
	if err != nil {
		return err
	}
	if r.Status/100 != 2 {
		return transport.Refusal(r)
	}
	return nil
}

// errNotModified is updateInfo's answer when nothing moved since the ETag it sent.
var errNotModified = errors.New("update info not modified")

// updateInfo asks the service which repositories the device follows, and checks the answer.
// With etag set it asks only if anything moved since, and returns errNotModified if not. It
// returns the answer's ETag ("" if none).
func (c *Client) updateInfo(ctx context.Context, etag string) (api.UpdateInfo, map[string]*ecdsa.PublicKey, string, error) {
	var info api.UpdateInfo
	var header http.Header
	if etag != "" {
		header = http.Header{"If-None-Match": {etag}}
	}
	r, err := transport.RequestWith(ctx, c.HTTP, c.ServiceURL, http.MethodGet, api.DevicePathUpdates, "", nil, header)
	if err != nil {
		return info, nil, "", fmt.Errorf("ask for updates: %w", noAnswer{err})
	}
	if r.Status == http.StatusNotModified && etag != "" {
		return info, nil, etag, errNotModified
	}
	if r.Status != http.StatusOK {
		return info, nil, "", fmt.Errorf("ask for updates: %w", transport.Refusal(r))
	}
	if err := transport.Decode(r.Body, &info); err != nil {
		return info, nil, "", fmt.Errorf("ask for updates: %w", err)
	}
	if !api.ValidPolicy(info.UpdatePolicy) {
		return info, nil, "", fmt.Errorf("ask for updates: unknown update policy %.40q", info.UpdatePolicy)
	}
	if err := checkRepo(info.FeedRepo); err != nil || !strings.HasPrefix(info.FeedRepo, "feed/") {
		return info, nil, "", fmt.Errorf("ask for updates: feed repository %.80q is not feed/NAME", info.FeedRepo)
	}
	if info.GroupRepo != "" {
		if err := checkRepo(info.GroupRepo); err != nil || !strings.HasPrefix(info.GroupRepo, "group/") {
			return info, nil, "", fmt.Errorf("ask for updates: group repository %.80q is not group/ID", info.GroupRepo)
		}
	}
	keys, err := parseKeys(info.ImageKeys)
	if err != nil {
		return info, nil, "", fmt.Errorf("ask for updates: image keys: %w", err)
	}
	tag := r.Header.Get("ETag")
	if len(tag) > maxETag {
		tag = ""
	}
	return info, keys, tag, nil
}

// maxETag bounds the ETag a device keeps: the service's are 66 bytes.
const maxETag = 128

// call sends one request over mutual TLS and returns the answer, read up to
// transport.MaxResponse.
func (c *Client) call(ctx context.Context, method, path string, body []byte) (transport.Response, error) {
	return transport.Request(ctx, c.HTTP, c.ServiceURL, method, path, "application/json", body)
}

// maxMessage bounds the message of an update report, in bytes (the service takes 1024).
const maxMessage = 1000

// clean makes text safe to print on one line, escaped with [safetext.Line], and at most
// maxMessage bytes.
func clean(s string) string { return safetext.Line(s, maxMessage) }
