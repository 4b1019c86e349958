package httpapi

// SetMaxImageSize lowers the largest image package a accepts, so that a test can send more than
// the limit without sending 256 MiB.
func (a *API) SetMaxImageSize(n int64) { a.maxImage = n }

const RevocationRecheck = revocationRecheck
