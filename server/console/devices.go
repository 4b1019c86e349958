package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
)

// The last-seen choices of the device list's filter.
var seenChoices = []struct{ Value, Label string }{
	{"", "any time"}, {"seen:24h", "seen in the last 24 hours"}, {"seen:7d", "seen in the last 7 days"},
	{"unseen:24h", "not seen for 24 hours"}, {"unseen:7d", "not seen for 7 days"}, {"unseen:30d", "not seen for 30 days"},
}

type devicesData struct {
	Devices  []api.Device
	Next     string
	Groups   []api.DeviceGroup
	Runtimes []count
	Seen     []struct{ Value, Label string }
	Search   string
}

// pageSize is how many devices one page of the list shows.
const pageSize = 50

func (c *Console) devices(w http.ResponseWriter, r *http.Request, s *request) error {
	q := r.URL.Query()
	if id, err := ident.ParseDeviceID(strings.ToLower(strings.TrimSpace(q.Get("search")))); err == nil {
		http.Redirect(w, r, "/devices/"+string(id), http.StatusSeeOther)
		return nil
	}
	dq := client.DeviceQuery{Group: ident.GroupID(q.Get("group")), Attestation: q.Get("attestation"), Runtime: q.Get("runtime"),
		Limit: pageSize, PageToken: q.Get("page_token")}
	if kind, since, ok := strings.Cut(q.Get("seen"), ":"); ok && kind == "seen" {
		dq.SeenSince = since
	} else if ok && kind == "unseen" {
		dq.NotSeenSince = since
	}
	prefix := strings.ToLower(strings.TrimSpace(q.Get("search")))
	if prefix != "" && dq.PageToken == "" {
		if !isHexPrefix(prefix) {
			return &client.Error{Status: http.StatusBadRequest, Message: "search for a device by its ID or the start of it (hex)"}
		}
		dq.PageToken = prefix + strings.Repeat("0", 64-len(prefix)) // the first ID with this prefix follows it
	}
	l, err := s.api.Devices(s.ctx, dq)
	if err != nil {
		return err
	}
	if prefix != "" {
		l = withPrefix(l, prefix)
	}
	gs, err := s.api.Groups(s.ctx, "", "")
	if err != nil {
		return err
	}
	fleet, err := s.api.Fleet(s.ctx)
	if err != nil {
		return err
	}
	sortBy(r, l.Devices, map[string]func(a, b api.Device) int{
		"id":       by(func(d api.Device) string { return string(d.ID) }),
		"group":    by(func(d api.Device) string { return d.ProductName + "/" + d.GroupName }),
		"attested": by(func(d api.Device) int64 { return unixOrZero(d.LastAttestedAt) }),
		"result":   by(func(d api.Device) string { return d.LastAttestResult }),
	})
	c.render(w, r, s, http.StatusOK, "devices", "Devices", devicesData{Devices: l.Devices, Next: l.NextPageToken, Groups: gs,
		Runtimes: summarise(fleet.Counts).Runtimes, Seen: seenChoices, Search: prefix})
	return nil
}

func isHexPrefix(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// withPrefix keeps the devices whose ID starts with prefix; the list ends at the first that
// does not.
func withPrefix(l api.DeviceList, prefix string) api.DeviceList {
	for i, d := range l.Devices {
		if !strings.HasPrefix(string(d.ID), prefix) {
			return api.DeviceList{Devices: l.Devices[:i]}
		}
	}
	return l
}

func (c *Console) claimDevice(w http.ResponseWriter, r *http.Request, s *request) error {
	id := strings.ToLower(strings.TrimSpace(r.PostFormValue("device_id")))
	res, err := s.api.ClaimDevicesWithCodes(s.ctx, []api.ClaimDevice{{DeviceID: id, ClaimCode: strings.TrimSpace(r.PostFormValue("claim_code"))}})
	if err != nil {
		return err
	}
	msg := "Device claimed."
	if g := r.PostFormValue("group"); g != "" && len(res.Devices) == 1 {
		gid := ident.GroupID(g)
		d, err := s.api.UpdateDevice(s.ctx, id, api.UpdateDeviceRequest{DeviceGroupID: &gid})
		if err != nil {
			return err
		}
		msg = "Device claimed into " + d.ProductName + "/" + d.GroupName + "."
	}
	return c.done(w, r, s, "/devices/"+url.PathEscape(id), msg)
}

type deviceData struct {
	Device  api.Device
	Events  []api.ErrorEvent
	Attests []api.ErrorEvent // its failed attestations
	Images  map[ident.ImageID]string
}

func (c *Console) device(w http.ResponseWriter, r *http.Request, s *request) error {
	d, err := s.api.Device(s.ctx, r.PathValue("device"))
	if err != nil {
		return err
	}
	l, err := s.api.ErrorEvents(s.ctx, client.ReportQuery{Device: string(d.ID), Limit: 100})
	if err != nil {
		return err
	}
	data := deviceData{Device: d, Events: l.Events, Images: map[ident.ImageID]string{}}
	for _, e := range l.Events {
		if e.Category == api.EventAttestationFailed {
			data.Attests = append(data.Attests, e)
		}
	}
	if ims, err := s.api.Images(s.ctx, client.ImageQuery{}); err == nil {
		for _, im := range ims {
			data.Images[im.ID] = im.Name + " " + im.Version
		}
	} else {
		return err
	}
	c.render(w, r, s, http.StatusOK, "device", "Device "+string(d.ID[:12])+"…", data)
	return nil
}

func (c *Console) confirmRevoke(w http.ResponseWriter, r *http.Request, s *request) error {
	d, err := s.api.Device(s.ctx, r.PathValue("device"))
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "revoke", "Revoke device", d)
	return nil
}

func (c *Console) revokeDevice(w http.ResponseWriter, r *http.Request, s *request) error {
	if r.PostFormValue("confirm") != "yes" {
		return &client.Error{Status: http.StatusBadRequest, Message: "tick the box to confirm the revocation"}
	}
	d, err := s.api.RevokeDevice(s.ctx, r.PathValue("device"))
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/devices/"+url.PathEscape(string(d.ID)), "Device revoked: it gets no certificate and no update again.")
}

func unixOrZero(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMicro()
}
