package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
)

// ErrBadTPMCAFile is the class of error of a file of TPM manufacturer CA certificates that
// ParseTPMCAs refuses; the error's text says why, fit to show the operator.
var ErrBadTPMCAFile = errors.New("not a file of CA certificates")

// TPMCACert is a CA certificate read by ParseTPMCAs.
type TPMCACert struct {
	Cert        *x509.Certificate
	Fingerprint string // lowercase hex SHA-256 of the DER
	Root        bool   // self-signed
}

// ParseTPMCAs reads a PEM file of one or more TPM manufacturer CA certificates, roots or
// intermediates, strictly: at most api.MaxTPMCAFile bytes and api.MaxTPMCAs certificates,
// nothing but CERTIFICATE blocks (without headers) and white space, each a DER X.509
// certificate of a CA (basic constraints, cA true) not expired at now. A certificate given
// twice is read once.
func ParseTPMCAs(b []byte, now time.Time) ([]TPMCACert, error) {
	if len(b) > api.MaxTPMCAFile {
		return nil, fmt.Errorf("%w: the file is %d bytes, limit %d", ErrBadTPMCAFile, len(b), api.MaxTPMCAFile)
	}
	var cas []TPMCACert
	seen := map[string]bool{}
	rest := bytes.TrimSpace(b)
	for n := 1; len(rest) > 0; n++ {
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: text that is not a PEM block where block %d should start", ErrBadTPMCAFile, n)
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil:
			return nil, fmt.Errorf("%w: block %d is not valid PEM", ErrBadTPMCAFile, n)
		case block.Type != "CERTIFICATE":
			return nil, fmt.Errorf("%w: block %d is %.40q, want CERTIFICATE", ErrBadTPMCAFile, n, block.Type)
		case len(block.Headers) > 0:
			return nil, fmt.Errorf("%w: block %d has PEM headers", ErrBadTPMCAFile, n)
		case n > api.MaxTPMCAs:
			return nil, fmt.Errorf("%w: more than %d certificates", ErrBadTPMCAFile, api.MaxTPMCAs)
		}
		rest = bytes.TrimSpace(rest)
		ca, err := parseTPMCA(block.Bytes, now)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrBadTPMCAFile, n, err)
		}
		if !seen[ca.Fingerprint] {
			seen[ca.Fingerprint] = true
			cas = append(cas, ca)
		}
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE block in the file", ErrBadTPMCAFile)
	}
	return cas, nil
}

func parseTPMCA(der []byte, now time.Time) (TPMCACert, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return TPMCACert{}, fmt.Errorf("not an X.509 certificate: %v", err)
	}
	subject := clipName(cert.Subject.String())
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return TPMCACert{}, fmt.Errorf("%q is not a CA certificate (no basic constraints with cA true); "+
			"add the CA that issued it instead", subject)
	}
	if now.After(cert.NotAfter) {
		return TPMCACert{}, fmt.Errorf("%q expired on %s", subject, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	sum := sha256.Sum256(der)
	root := bytes.Equal(cert.RawSubject, cert.RawIssuer) && cert.CheckSignatureFrom(cert) == nil
	return TPMCACert{Cert: cert, Fingerprint: hex.EncodeToString(sum[:]), Root: root}, nil
}
