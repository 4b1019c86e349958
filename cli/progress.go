package cli

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress wraps r so that reading it draws a progress line on stderr, when stderr is a
// terminal; otherwise it returns r as it is.
func (e *env) progress(r io.Reader, total int64, label string) io.Reader {
	f, ok := e.stderr.(*os.File)
	if !ok {
		return r
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return r
	}
	return &progressReader{r: r, total: total, label: label, w: f}
}

type progressReader struct {
	r     io.Reader
	w     io.Writer
	label string
	total int64
	done  int64
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || err == io.EOF || p.done == p.total {
		p.last = now
		pct := 100.0
		if p.total > 0 {
			pct = float64(p.done) * 100 / float64(p.total)
		}
		fmt.Fprintf(p.w, "\r%s: %5.1f%% of %s", p.label, pct, humanBytes(p.total))
		if p.done >= p.total || err != nil {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
