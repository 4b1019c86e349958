package devicecli

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
	"github.com/rampart-iot/rampart/internal/usage"
)

// statusView is `status --output json`. Its field names are stable.
type statusView struct {
	DeviceID        string           `json:"device_id"`
	RootOfTrust     string           `json:"root_of_trust"` // software or tpm
	TPM             *tpmView         `json:"tpm,omitempty"` // with the TPM root
	ServiceURL      string           `json:"service_url"`
	ActiveSlot      string           `json:"active_slot"`
	FactorySHA512   string           `json:"factory_sha512,omitempty"` // pinned for the active slot
	Boot            *bootView        `json:"boot"`                     // null before the first run
	LastAttestation *attestationView `json:"last_attestation"`         // null before the first attempt
	Certificate     *certView        `json:"certificate"`              // null without cert.pem
	PendingSlot     string           `json:"pending_slot,omitempty"`   // a runtime update on trial
	// InstalledImages are the images installed from packages: the active slot's runtime
	// (unless it is the factory image), then the apps. Never null.
	InstalledImages []api.InstalledImage `json:"installed_images"`
	LastUpdate      *updateView          `json:"last_update"`           // null before the first
	RolledBack      *rollbackView        `json:"rolled_back,omitempty"` // the last runtime rolled back
	Events          eventsView           `json:"events"`
	// Notify is the notification channel's state while stage 1 runs (null if it never tried).
	Notify *notifyView `json:"notify"`
}

// notifyView is the notification channel: open, or closed with the error, since At.
type notifyView struct {
	At    time.Time `json:"at"`
	Open  bool      `json:"open"`
	Error string    `json:"error,omitempty"`
}

// eventsView is the error-event queue: events waiting for upload, events dropped (the queue
// was full, or the service refused them) since the last accepted batch, and when the service
// last accepted a batch (null if never).
type eventsView struct {
	Queued     int        `json:"queued"`
	Dropped    int64      `json:"dropped"`
	LastUpload *time.Time `json:"last_upload"`
}

// tpmView is the TPM of a device whose root of trust is one.
type tpmView struct {
	Path string `json:"path"`
	PCR  int    `json:"pcr"`
}

type updateView struct {
	At       time.Time `json:"at"`
	Result   string    `json:"result"` // ok, failed or rolled_back
	Message  string    `json:"message,omitempty"`
	Reported bool      `json:"reported"`
}

type rollbackView struct {
	At      time.Time `json:"at"`
	Slot    string    `json:"slot"`
	ImageID string    `json:"image_id,omitempty"`
	Reason  string    `json:"reason"`
}

type bootView struct {
	At              time.Time `json:"at"`
	Slot            string    `json:"slot"`
	RuntimeSHA512   string    `json:"runtime_sha512"`
	ConfigSHA512    string    `json:"config_sha512"`
	AuthoritySHA512 string    `json:"authority_sha512"`
	Mode            string    `json:"mode"`
}

type attestationView struct {
	At          time.Time `json:"at"`
	Result      string    `json:"result"`
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastPass    time.Time `json:"last_pass,omitzero"`
}

type certView struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

func (e *env) statusCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "status --state DIR [--output table|json]",
		Short: "Show the device: ID, boot measurements, attestation, certificate, installed images, updates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usage.Errorf("invalid --output %q: want table or json", output)
			}
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			v, err := readStatus(d, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			v.table(tw)
			return tw.Flush()
		},
	}
	stateFlag(cmd, &dir)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// readChannels reads how the device talks to the service in the background: its error-event
// queue and its notification channel.
func (v *statusView) readChannels(d state.Dir) error {
	es, err := events.Open(d).Stats()
	if err != nil {
		return err
	}
	v.Events = eventsView{Queued: es.Queued, Dropped: es.Dropped}
	if !es.LastUpload.IsZero() {
		v.Events.LastUpload = &es.LastUpload
	}
	n, err := d.ReadNotify()
	if n != nil {
		v.Notify = &notifyView{At: n.At, Open: n.Open, Error: n.Error}
	}
	return err
}

// readStatus gathers the status from the state folder, without reading the UDS.
func readStatus(d state.Dir, now time.Time) (*statusView, error) {
	dev, err := d.ReadDevice()
	if err != nil {
		return nil, err
	}
	bc, err := d.ReadBoot()
	if err != nil {
		return nil, err
	}
	st, err := d.ReadStatus()
	if err != nil {
		return nil, err
	}
	v := &statusView{DeviceID: string(dev.DeviceID), RootOfTrust: d.Root(), ServiceURL: dev.ServiceURL,
		ActiveSlot: string(bc.Active), PendingSlot: string(bc.Pending)}
	if v.RootOfTrust == state.RootTPM {
		cfg, err := d.ReadTPM()
		if err != nil {
			return nil, err
		}
		v.TPM = &tpmView{Path: cfg.Path, PCR: cfg.PCR}
	}
	if v.InstalledImages, err = update.Installed(d, bc.Active); err != nil {
		return nil, err
	}
	if v.InstalledImages == nil {
		v.InstalledImages = []api.InstalledImage{}
	}
	if u := st.Update; u != nil {
		v.LastUpdate = &updateView{At: u.At, Result: u.Result, Message: u.Message, Reported: u.Reported}
	}
	if r := st.RolledBack; r != nil {
		v.RolledBack = &rollbackView{At: r.At, Slot: string(r.Slot), ImageID: r.ImageID, Reason: r.Reason}
	}
	if err := v.readChannels(d); err != nil {
		return nil, err
	}
	if pin, ok := bc.Factory[bc.Active]; ok {
		v.FactorySHA512 = pin.String()
	}

	if b := st.Boot; b != nil {
		m := b.Measurements
		v.Boot = &bootView{At: b.At, Slot: string(b.Slot), RuntimeSHA512: m.Runtime.String(),
			ConfigSHA512: m.Config.String(), AuthoritySHA512: m.Authority.String(), Mode: m.Mode}
	}
	if a := st.Attestation; a != nil {
		v.LastAttestation = &attestationView{At: a.At, Result: a.Result, Reason: a.Reason, Message: a.Message,
			NextAttempt: a.NextAttempt, LastPass: a.LastPass}
	}
	b, err := d.ReadCert()
	switch {
	case errors.Is(err, state.ErrNoCertificate):
	case err != nil:
		return nil, err
	default:
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s holds no PEM certificate", d.Path(state.FileCert))
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Path(state.FileCert), err)
		}
		v.Certificate = &certView{Subject: c.Subject.String(), Issuer: c.Issuer.String(),
			NotBefore: c.NotBefore.UTC(), ExpiresAt: c.NotAfter.UTC(), Expired: !now.Before(c.NotAfter)}
	}
	return v, nil
}

func (v *statusView) table(w io.Writer) {
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	row("device ID", "%s", v.DeviceID)
	if v.TPM != nil {
		row("root of trust", "tpm (%s, runtime measured into PCR %d)", v.TPM.Path, v.TPM.PCR)
	} else {
		row("root of trust", "%s", v.RootOfTrust)
	}
	row("service", "%s", v.ServiceURL)
	row("active slot", "%s", v.ActiveSlot)
	if v.PendingSlot != "" {
		row("pending slot", "%s (a runtime update on trial)", v.PendingSlot)
	}
	if b := v.Boot; b != nil {
		row("last boot", "%s (slot %s, mode %s)", ts(b.At), b.Slot, b.Mode)
		row("runtime SHA-512", "%s", b.RuntimeSHA512)
		row("config SHA-512", "%s", b.ConfigSHA512)
		row("authority SHA-512", "%s", b.AuthoritySHA512)
	} else {
		row("last boot", "never: run 'rampart-device run'")
		row("factory SHA-512", "%s", v.FactorySHA512)
	}
	if a := v.LastAttestation; a != nil {
		row("last attestation", "%s at %s", a.Result, ts(a.At))
		if a.Reason != "" {
			row("reason", "%s", a.Reason)
		}
		if a.Message != "" {
			row("message", "%s", a.Message)
		}
		if !a.NextAttempt.IsZero() {
			row("next attempt", "%s", ts(a.NextAttempt))
		}
	} else {
		row("last attestation", "none")
	}
	if len(v.InstalledImages) == 0 {
		row("installed images", "none")
	}
	for _, im := range v.InstalledImages {
		where := ""
		if im.Slot != "" {
			where = ", slot " + im.Slot
		}
		row(im.Type, "%s %s (image %s%s)", im.Name, im.Version, im.ImageID, where)
	}
	if u := v.LastUpdate; u != nil {
		row("last update", "%s at %s", u.Result, ts(u.At))
		if u.Message != "" {
			row("update message", "%s", u.Message)
		}
	} else {
		row("last update", "none")
	}
	last := "never"
	if v.Events.LastUpload != nil {
		last = ts(*v.Events.LastUpload)
	}
	row("error events", "%d queued, %d dropped; last upload %s", v.Events.Queued, v.Events.Dropped, last)
	switch n := v.Notify; {
	case n == nil:
		row("notification", "never opened (rampart-device run keeps it open)")
	case n.Open:
		row("notification", "open since %s", ts(n.At))
	default:
		row("notification", "closed since %s: %s", ts(n.At), n.Error)
	}
	if c := v.Certificate; c != nil {
		state := "valid"
		if c.Expired {
			state = "expired"
		}
		row("certificate", "%s until %s", state, ts(c.ExpiresAt))
	} else {
		row("certificate", "none yet")
	}
}
