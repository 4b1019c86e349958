package console

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
)

// count is one labelled number of the overview, with a link to the devices it counts.
type count struct {
	Key   string
	Label string
	Href  string
	N     int
}

type overviewData struct {
	Total    int
	Groups   []count
	Passing  int
	FailingN int
	Never    int
	Failing  []count // by reason
	Runtimes []count
	Chart    chart
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *request) error {
	fleet, err := s.api.Fleet(s.ctx)
	if err != nil {
		return err
	}
	d := summarise(fleet.Counts)
	if d.Chart, err = c.failureChart(s, 14); err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "overview", "Overview", d)
	return nil
}

// summarise folds the fleet's counts into the overview's tables.
func summarise(counts []api.FleetCount) overviewData {
	var d overviewData
	groups, failing, runtimes := map[string]*count{}, map[string]*count{}, map[string]*count{}
	add := func(m map[string]*count, key, label, href string, n int) {
		if m[key] == nil {
			m[key] = &count{Key: key, Label: label, Href: href}
		}
		m[key].N += n
	}
	for _, fc := range counts {
		d.Total += fc.Devices
		g := "(no group)"
		if fc.GroupID != "" {
			g = fc.ProductName + "/" + fc.GroupName
		}
		add(groups, string(fc.GroupID), g, "/devices?group="+string(fc.GroupID), fc.Devices)
		switch fc.AttestResult {
		case api.AttestPass:
			d.Passing += fc.Devices
			v := strings.Join(fc.RuntimeVersions, ", ")
			if v == "" {
				v = "unpublished runtime " + fc.RuntimeSHA512[:min(12, len(fc.RuntimeSHA512))] + "…"
			}
			add(runtimes, fc.RuntimeSHA512, v, "/devices?runtime="+fc.RuntimeSHA512, fc.Devices)
		case api.AttestFail:
			d.FailingN += fc.Devices
			reason := fc.AttestReason
			if reason == "" {
				reason = "(no reason)"
			}
			add(failing, reason, reason, "/devices?attestation=fail", fc.Devices)
		default:
			d.Never += fc.Devices
		}
	}
	d.Groups, d.Failing, d.Runtimes = sorted(groups), sorted(failing), sorted(runtimes)
	return d
}

func sorted(m map[string]*count) []count {
	var out []count
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// chart is a bar chart drawn as SVG by the template: one bar a day.
type chart struct {
	Bars   []bar
	Max    int
	Total  int
	Capped bool // more events than the chart reads: it shows the newest
	Width  int
	Height int
}

type bar struct {
	X, Y, W, H int
	Day        string
	N          int
}

// maxChartEvents bounds the error events one overview reads (newest first).
const maxChartEvents = 10 * api.MaxPageSize

// failureChart counts the error events (devices' failures: crashes, failed updates and
// attestations, …) by the UTC day they last happened, over the last days days.
func (c *Console) failureChart(s *request, days int) (chart, error) {
	now := c.now().UTC()
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(days - 1))
	perDay := make([]int, days)
	q := client.ReportQuery{Since: start.Format(time.RFC3339), Limit: api.MaxPageSize}
	ch := chart{Width: 700, Height: 180}
	for read := 0; ; {
		l, err := s.api.ErrorEvents(s.ctx, q)
		if err != nil {
			return ch, err
		}
		for _, e := range l.Events {
			if i := int(e.LastAt.Sub(start) / (24 * time.Hour)); i >= 0 && i < days {
				perDay[i] += e.Count
			}
		}
		read += len(l.Events)
		if l.NextPageToken == "" {
			break
		}
		if read >= maxChartEvents {
			ch.Capped = true
			break
		}
		q.PageToken = l.NextPageToken
	}
	ch.Max = 1
	for _, n := range perDay {
		ch.Max = max(ch.Max, n)
		ch.Total += n
	}
	const top, bottom, left = 10, 30, 40
	slot := (ch.Width - left) / days
	for i, n := range perDay {
		h := n * (ch.Height - top - bottom) / ch.Max
		ch.Bars = append(ch.Bars, bar{X: left + i*slot + 2, W: slot - 4, Y: ch.Height - bottom - h, H: h,
			Day: start.AddDate(0, 0, i).Format("Jan 2"), N: n})
	}
	return ch, nil
}

// plural is "1 device", "2 devices".
func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
