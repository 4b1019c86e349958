package console

import (
	"bytes"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
)

// The periods the error pages offer; 14d is the default.
var periods = []string{"24h", "7d", "14d", "30d", "90d"}

func reportQuery(r *http.Request) client.ReportQuery {
	q := client.ReportQuery{Since: r.URL.Query().Get("since"), Group: ident.GroupID(r.URL.Query().Get("group"))}
	if q.Since == "" {
		q.Since = "14d"
	}
	return q
}

type summaryData struct {
	Summary []api.ErrorSummary
	Max     int
	Periods []string
	Since   string
	Groups  []api.DeviceGroup
}

func (c *Console) errorSummary(w http.ResponseWriter, r *http.Request, s *request) error {
	q := reportQuery(r)
	l, err := s.api.ErrorSummary(s.ctx, q)
	if err != nil {
		return err
	}
	gs, err := s.api.Groups(s.ctx, "", "")
	if err != nil {
		return err
	}
	d := summaryData{Summary: l.Summary, Periods: periods, Since: q.Since, Groups: gs, Max: 1}
	for _, e := range l.Summary {
		d.Max = max(d.Max, e.Events)
	}
	sortBy(r, d.Summary, map[string]func(a, b api.ErrorSummary) int{
		"events":   by(func(e api.ErrorSummary) int { return e.Events }),
		"devices":  by(func(e api.ErrorSummary) int { return e.Devices }),
		"category": by(func(e api.ErrorSummary) string { return e.Category }),
		"last":     by(func(e api.ErrorSummary) int64 { return e.LastSeen.UnixMicro() }),
	})
	c.render(w, r, s, http.StatusOK, "errors", "Error reports", d)
	return nil
}

// maxDrill bounds the events a drill-down reads to find those of one signature.
const maxDrill = 10 * api.MaxPageSize

type eventsData struct {
	Events    []api.ErrorEvent
	Signature string
	Capped    bool
}

// errorEvents lists the events of one signature (or all), newest first.
func (c *Console) errorEvents(w http.ResponseWriter, r *http.Request, s *request) error {
	q := reportQuery(r)
	q.Limit = api.MaxPageSize
	sig := r.URL.Query().Get("signature")
	d := eventsData{Signature: sig}
	for read := 0; ; {
		l, err := s.api.ErrorEvents(s.ctx, q)
		if err != nil {
			return err
		}
		for _, e := range l.Events {
			if sig == "" || e.Signature == sig {
				d.Events = append(d.Events, e)
			}
		}
		read += len(l.Events)
		if l.NextPageToken == "" || len(d.Events) >= 500 {
			break
		}
		if read >= maxDrill {
			d.Capped = true
			break
		}
		q.PageToken = l.NextPageToken
	}
	sortBy(r, d.Events, map[string]func(a, b api.ErrorEvent) int{
		"device":   by(func(e api.ErrorEvent) string { return e.DeviceID }),
		"category": by(func(e api.ErrorEvent) string { return e.Category }),
		"count":    by(func(e api.ErrorEvent) int { return e.Count }),
		"last":     by(func(e api.ErrorEvent) int64 { return e.LastAt.UnixMicro() }),
	})
	c.render(w, r, s, http.StatusOK, "events", "Error events", d)
	return nil
}

// errorCSV downloads the period's events as `rampart report errors --output csv` writes them.
func (c *Console) errorCSV(w http.ResponseWriter, r *http.Request, s *request) error {
	q := reportQuery(r)
	q.Limit = api.MaxPageSize
	var all []api.ErrorEvent
	for {
		l, err := s.api.ErrorEvents(s.ctx, q)
		if err != nil {
			return err
		}
		all = append(all, l.Events...)
		if l.NextPageToken == "" {
			break
		}
		q.PageToken = l.NextPageToken
	}
	var buf bytes.Buffer
	if err := api.WriteErrorCSV(&buf, all); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rampart-errors-`+c.now().UTC().Format("20060102")+`.csv"`)
	w.Write(buf.Bytes())
	return nil
}

type auditData struct {
	Entries []api.AuditEntry
	Next    string
	Verify  *verifyResult
}

type verifyResult struct {
	OK          bool
	Message     string
	Entries     int64
	Head        string
	Checkpoints int
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *request) error {
	l, err := s.api.Audit(s.ctx, r.URL.Query().Get("page_token"), 100)
	if err != nil {
		return err
	}
	sortBy(r, l.Entries, map[string]func(a, b api.AuditEntry) int{
		"seq":    by(func(e api.AuditEntry) int64 { return e.Seq }),
		"actor":  by(func(e api.AuditEntry) string { return e.Actor }),
		"action": by(func(e api.AuditEntry) string { return e.Action }),
	})
	c.render(w, r, s, http.StatusOK, "audit", "Audit log", auditData{Entries: l.Entries, Next: l.NextPageToken})
	return nil
}

// auditVerify checks the whole chain and its signed checkpoints as `rampart audit verify`
// does, with the checkpoint key the service gives.
func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request, s *request) error {
	res, err := c.verify(s)
	if err != nil {
		var ce *client.Error
		if !isClientError(err, &ce) {
			res = &verifyResult{Message: err.Error()}
		} else {
			return err
		}
	}
	c.render(w, r, s, http.StatusOK, "audit", "Audit log", auditData{Verify: res})
	return nil
}

func (c *Console) verify(s *request) (*verifyResult, error) {
	keyText, err := s.api.CheckpointKey(s.ctx)
	if err != nil {
		return nil, err
	}
	pub, err := api.ParseCheckpointKey([]byte(keyText))
	if err != nil {
		return nil, err
	}
	var cps []api.AuditCheckpoint
	for tok := ""; ; {
		l, err := s.api.AuditCheckpoints(s.ctx, false, tok, api.MaxPageSize)
		if err != nil {
			return nil, err
		}
		cps = append(cps, l.Checkpoints...)
		if tok = l.NextPageToken; tok == "" {
			break
		}
	}
	for _, cp := range cps {
		if err := cp.Verify(pub); err != nil {
			return &verifyResult{Message: err.Error()}, nil
		}
	}
	check := &api.ChainCheck{Checkpoints: cps}
	head, seq := api.GenesisHash, int64(0)
	var first time.Time
	for tok := ""; ; {
		l, err := s.api.AuditChain(s.ctx, false, tok, api.MaxPageSize)
		if err != nil {
			return nil, err
		}
		if len(l.Entries) > 0 && seq == 0 {
			first = l.Entries[0].Time
		}
		if head, seq, err = api.VerifyChain(head, seq, l.Entries); err != nil {
			return &verifyResult{Message: err.Error()}, nil
		}
		if err := check.Entries(l.Entries); err != nil {
			return &verifyResult{Message: err.Error()}, nil
		}
		if tok = l.NextPageToken; tok == "" {
			break
		}
	}
	if err := check.Done(first, c.now()); err != nil {
		return &verifyResult{Message: err.Error()}, nil
	}
	return &verifyResult{OK: true, Entries: seq, Head: head, Checkpoints: len(cps)}, nil
}
