package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/api"
)

// The cookies: the session, and the CSRF token of the sign-in form (before there is a session).
// The __Host- prefix makes the browser refuse them unless Secure, for this host alone, on /.
const (
	sessionCookie = "__Host-rampart-session"
	loginCookie   = "__Host-rampart-login"
	csrfField     = "csrf"
)

// Session lifetimes: a session ends after sessionIdle without a request, and after sessionMax
// in any case. maxSessions bounds the sessions one replica keeps.
const (
	sessionIdle = time.Hour
	sessionMax  = 12 * time.Hour
	maxSessions = 10000
)

// session is a signed-in browser: the user's API token (never sent to the browser) and the
// CSRF token its forms carry.
type session struct {
	key     [32]byte // SHA-256 of the cookie's value
	token   string
	csrf    string
	who     api.Whoami
	started time.Time
	seen    time.Time
	flash   string // shown once, on the next page
}

type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session for a token and sets its cookie.
func (ss *sessions) start(w http.ResponseWriter, token string, who api.Whoami) {
	id := randomToken()
	now := ss.now()
	s := &session{key: sha256.Sum256([]byte(id)), token: token, csrf: randomToken(), who: who, started: now, seen: now}
	ss.mu.Lock()
	ss.expire(now)
	if len(ss.m) >= maxSessions {
		ss.evictOldest()
	}
	ss.m[s.key] = s
	ss.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax / time.Second)})
}

// get returns the request's live session, or nil.
func (ss *sessions) get(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(ck.Value) > 100 {
		return nil
	}
	key := sha256.Sum256([]byte(ck.Value))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[key]
	if s == nil {
		return nil
	}
	if now.Sub(s.seen) > sessionIdle || now.Sub(s.started) > sessionMax {
		delete(ss.m, key)
		return nil
	}
	s.seen = now
	return s
}

func (ss *sessions) drop(s *session) {
	ss.mu.Lock()
	delete(ss.m, s.key)
	ss.mu.Unlock()
}

// setFlash keeps a message for the session's next page; takeFlash returns it once.
func (ss *sessions) setFlash(s *session, msg string) {
	ss.mu.Lock()
	s.flash = msg
	ss.mu.Unlock()
}

func (ss *sessions) takeFlash(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (ss *sessions) expire(now time.Time) {
	for k, s := range ss.m {
		if now.Sub(s.seen) > sessionIdle || now.Sub(s.started) > sessionMax {
			delete(ss.m, k)
		}
	}
}

func (ss *sessions) evictOldest() {
	var oldest *session
	for _, s := range ss.m {
		if oldest == nil || s.seen.Before(oldest.seen) {
			oldest = s
		}
	}
	if oldest != nil {
		delete(ss.m, oldest.key)
	}
}

func (s *session) checkCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
