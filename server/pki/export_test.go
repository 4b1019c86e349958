package pki

// SealPurpose exposes the additional data a tenant CA's key is sealed with, so that tests can
// open a CA key as an attacker holding both the database and the key-encryption key could, and
// forge certificates with it.
func SealPurpose(tenantID, caID string) string { return sealPurpose(tenantID, caID) }
