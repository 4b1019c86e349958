package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
)

// page is what every template gets: the title, the signed-in user, the CSRF token for its
// forms, a message from the last change, and the page's own data.
type page struct {
	Title string
	Who   api.Whoami
	CSRF  string
	Flash string
	Nav   string
	Query url.Values
	Data  any
}

// Can says whether the user's role is at least role: the page shows a change only to those
// the API would let make it (and the API refuses the others anyway).
func (p page) Can(role string) bool { return p.Who.Role.Rank() >= api.Role(role).Rank() }

var funcs = template.FuncMap{
	"time": func(t any) template.HTML {
		var tm time.Time
		switch v := t.(type) {
		case time.Time:
			tm = v
		case *time.Time:
			if v == nil {
				return "never"
			}
			tm = *v
		}
		if tm.IsZero() {
			return "never"
		}
		tm = tm.UTC()
		return template.HTML(`<time datetime="` + tm.Format(time.RFC3339) + `">` + tm.Format("2006-01-02 15:04 UTC") + `</time>`)
	},
	"inc": func(i int) int { return i + 1 },
	"short": func(s any) string {
		str := fmt.Sprint(s)
		if len(str) > 12 {
			return str[:12] + "…"
		}
		return str
	},
	"sorthref": sortHref,
	"param":    withParam,
	"plural":   plural,
}

// parsePages parses each page's template with the layout.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, e := range names {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, path.Join("templates", e.Name())))
	}
	return pages
}

// render writes a page; s is nil before sign-in.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *request, status int, name, title string, data any) {
	p := page{Title: title, Data: data, Nav: navOf(r.URL.Path), Query: r.URL.Query()}
	if s != nil {
		p.Who, p.CSRF, p.Flash = s.who, s.sess.csrf, c.sessions.takeFlash(s.sess)
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func navOf(p string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return strings.TrimSuffix(seg, ".csv")
}

// done ends a change: the message is shown on the page the browser is sent to.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *request, to, msg string) error {
	c.sessions.setFlash(s.sess, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// sortHref is the query of the current page sorted by key: ascending, or descending when it is
// sorted ascending by key already.
func sortHref(q url.Values, key string) string {
	v := url.Values{}
	for k, vs := range q {
		if k != "sort" && k != "page_token" {
			v[k] = vs
		}
	}
	if q.Get("sort") == key {
		key = "-" + key
	}
	v.Set("sort", key)
	return "?" + v.Encode()
}

// withParam is the query q with key set to value.
func withParam(q url.Values, key, value string) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set(key, value)
	return "?" + v.Encode()
}
