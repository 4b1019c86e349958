package client

import (
	"context"
	"net/url"
	"strings"

	"github.com/rampart-iot/rampart/api"
)

// SupportLogs returns the service's recent log records that concern the caller's tenant (an
// Administrator's token), or with tenant set, that tenant's (the operator's token).
func (c *Client) SupportLogs(ctx context.Context, tenant, since string) (l api.SupportLogs, err error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	path := "/api/v1/support/logs"
	if tenant != "" {
		path = "/api/v1/operator/support/logs"
		q.Set("tenant", tenant)
	}
	err = c.do(ctx, "GET", path, q, nil, &l)
	return l, err
}

// Health returns what the service's /healthz answers: "ok" while its store answers.
func (c *Client) Health(ctx context.Context) (string, error) {
	var b rawBody
	err := c.do(ctx, "GET", "/healthz", nil, nil, &b)
	return strings.TrimSpace(string(b)), err
}
