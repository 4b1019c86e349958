package api

import (
	"fmt"
	"strconv"
	"time"
)

// Token describes an API token, never its secret: its ID names it for listing and revocation.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Email      string     `json:"email"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"` // to within an hour: see SECURITY.md
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Current    bool       `json:"current"` // the token this request was made with
}

// CreateTokenRequest is the body of POST /api/v1/tokens. User, if set, is another user of the
// tenant (ID or email) for whom an Administrator makes the token; empty is the caller.
type CreateTokenRequest struct {
	User      string `json:"user,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"` // as [ParseLifetime] reads it; "" for none
}

// CreateTokenResponse describes the new token and carries its secret, shown only this once.
type CreateTokenResponse struct {
	Token
	Secret string `json:"token"`
}

// MaxTokenLifetime bounds a token's expiry: ten years.
const MaxTokenLifetime = 3650 * 24 * time.Hour

// ParseLifetime reads a token lifetime: a positive whole number and a unit, m (minutes),
// h (hours) or d (days of 24 hours), as in "90d" or "12h"; at most [MaxTokenLifetime].
func ParseLifetime(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid lifetime %q: want a number and a unit m, h or d, such as 90d or 12h", clipText(s))
	if len(s) < 2 || len(s) > 8 {
		return 0, bad
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 32)
	if err != nil || n == 0 {
		return 0, bad
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	default:
		return 0, bad
	}
	d := time.Duration(n) * unit
	if d > MaxTokenLifetime {
		return 0, fmt.Errorf("invalid lifetime %q: at most 3650d", s)
	}
	return d, nil
}

func clipText(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
