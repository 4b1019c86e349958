package client

import (
	"context"

	"github.com/rampart-iot/rampart/api"
)

// AddTPMCAs trusts the TPM manufacturer CA certificates of a PEM file (operator) and returns
// those added.
func (c *Client) AddTPMCAs(ctx context.Context, pem []byte) (cas []api.TPMCA, err error) {
	err = c.do(ctx, "POST", "/api/v1/tpm-cas", nil, api.AddTPMCAsRequest{PEM: string(pem)}, &cas)
	return cas, err
}

// TPMCAs lists the trusted TPM manufacturer CAs (operator).
func (c *Client) TPMCAs(ctx context.Context) (cas []api.TPMCA, err error) {
	err = c.do(ctx, "GET", "/api/v1/tpm-cas", nil, nil, &cas)
	return cas, err
}

// RemoveTPMCA stops trusting a TPM manufacturer CA (operator) and returns it.
func (c *Client) RemoveTPMCA(ctx context.Context, id string) (ca api.TPMCA, err error) {
	err = c.do(ctx, "DELETE", "/api/v1/tpm-cas/"+esc(id), nil, nil, &ca)
	return ca, err
}
