package pki

import "github.com/rampart-iot/rampart/ident"

// SealPurpose exposes the additional data a tenant CA's key is sealed with, so that tests can
// open a CA key as an attacker holding both the database and the key-encryption key could, and
// forge certificates with it.
func SealPurpose(tenantID ident.TenantID, caID string) string { return sealPurpose(tenantID, caID) }

// StoreReads is how many store reads a has made to verify certificates.
func StoreReads(a *Authority) int64 { return a.reads.Load() }
