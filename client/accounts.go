package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/rampart-iot/rampart/api"
)

// UpdateTenant changes a tenant's settings (operator only).
func (c *Client) UpdateTenant(ctx context.Context, ref string, req api.UpdateTenantRequest) (t api.Tenant, err error) {
	err = c.do(ctx, "PATCH", "/api/v1/tenants/"+esc(ref), nil, req, &t)
	return t, err
}

// Tokens lists a user's tokens: the caller's if user is "", else (Administrators) that user's.
func (c *Client) Tokens(ctx context.Context, user string) (ts []api.Token, err error) {
	v := url.Values{}
	if user != "" {
		v.Set("user", user)
	}
	err = c.do(ctx, "GET", "/api/v1/tokens", v, nil, &ts)
	return ts, err
}

// CreateToken makes a token and returns it with its secret, shown only this once.
func (c *Client) CreateToken(ctx context.Context, req api.CreateTokenRequest) (r api.CreateTokenResponse, err error) {
	err = c.do(ctx, "POST", "/api/v1/tokens", nil, req, &r)
	return r, err
}

// RevokeToken revokes a token by its ID.
func (c *Client) RevokeToken(ctx context.Context, id string) (t api.Token, err error) {
	err = c.do(ctx, "DELETE", "/api/v1/tokens/"+esc(id), nil, nil, &t)
	return t, err
}

// auditPath is the audit routes' root: the tenant's chain, or the operator's.
func auditPath(operator bool) string {
	if operator {
		return "/api/v1/operator/audit"
	}
	return "/api/v1/audit"
}

func pageValues(pageToken string, limit int) url.Values {
	v := url.Values{}
	if pageToken != "" {
		v.Set("page_token", pageToken)
	}
	if limit > 0 {
		v.Set("limit", fmt.Sprint(limit))
	}
	return v
}

// AuditChain returns one page of an audit chain, oldest first: the tenant's, or with operator
// the operator's.
func (c *Client) AuditChain(ctx context.Context, operator bool, pageToken string, limit int) (l api.AuditList, err error) {
	err = c.do(ctx, "GET", auditPath(operator), pageValues(pageToken, limit), nil, &l)
	return l, err
}

// AuditHead returns the number and hash of an audit chain's last entry.
func (c *Client) AuditHead(ctx context.Context, operator bool) (h api.AuditHead, err error) {
	err = c.do(ctx, "GET", auditPath(operator)+"/head", nil, nil, &h)
	return h, err
}

// AuditCheckpoints returns one page of an audit chain's signed checkpoints, oldest first.
func (c *Client) AuditCheckpoints(ctx context.Context, operator bool, pageToken string, limit int) (l api.AuditCheckpointList, err error) {
	err = c.do(ctx, "GET", auditPath(operator)+"/checkpoints", pageValues(pageToken, limit), nil, &l)
	return l, err
}

// CheckpointKey returns the public key that signs audit checkpoints, as PEM.
func (c *Client) CheckpointKey(ctx context.Context) (string, error) {
	var k api.AuditCheckpointKey
	err := c.do(ctx, "GET", "/api/v1/audit/checkpoint-key", nil, nil, &k)
	return k.PublicKey, err
}
