package rot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// Measurements are what an Alias certificate certifies about the layer that holds the Alias
// key: the public DICE inputs of [Inputs], in the form the service reads back.
type Measurements = dice.Measurements

// The validity of every Alias certificate. Nothing in it is secret or time-dependent: the
// certificate is as valid as the boot it describes, so NotAfter is RFC 5280's "no
// well-defined expiration date" and NotBefore a fixed epoch.
var (
	aliasNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	aliasNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// AliasCertificate returns the DER X.509 certificate in which the DeviceID key certifies the
// Alias key and the measurements of the layer that holds it. Everything but the signature is
// a function of the two keys and m:
//
//   - issuer: CN = the device ID (lowercase hex SHA-256 of the DeviceID SubjectPublicKeyInfo);
//   - subject: CN = lowercase hex of the Alias key's [Identifier];
//   - serial number: the first 16 bytes of the SHA-256 of the Alias SubjectPublicKeyInfo,
//     top bit cleared;
//   - validity: 2025-01-01T00:00:00Z to 9999-12-31T23:59:59Z;
//   - subject and authority key identifiers: the [Identifier]s of the Alias and DeviceID keys;
//   - key usage digitalSignature, basic constraints CA:FALSE (both critical);
//   - the critical TCG DiceTcbInfo extension with m (see [dice.MarshalTcbInfo]).
//
// The signature is ECDSA with SHA-256, randomised as the standard library does it.
func AliasCertificate(deviceKey, aliasKey *ecdsa.PrivateKey, m Measurements) ([]byte, error) {
	if deviceKey == nil || aliasKey == nil || deviceKey.Curve != elliptic.P256() || aliasKey.Curve != elliptic.P256() {
		return nil, errors.New("alias certificate: keys must be ECDSA P-256")
	}
	tcb, err := dice.Extension(m)
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	deviceSPKI, err := x509.MarshalPKIXPublicKey(&deviceKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	aliasSPKI, err := x509.MarshalPKIXPublicKey(&aliasKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	devicePoint, err := deviceKey.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	aliasPoint, err := aliasKey.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	deviceID, aliasID := Identifier(devicePoint), Identifier(aliasPoint)

	sum := sha256.Sum256(aliasSPKI)
	sum[0] &= 0x7f
	issuer := &x509.Certificate{
		Subject:      pkix.Name{CommonName: ident.DeviceIDFromPublicKey(deviceSPKI).String()},
		SubjectKeyId: deviceID[:],
		PublicKey:    &deviceKey.PublicKey,
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:16]),
		Subject:               pkix.Name{CommonName: hex.EncodeToString(aliasID[:])},
		NotBefore:             aliasNotBefore,
		NotAfter:              aliasNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SubjectKeyId:          aliasID[:],
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
		ExtraExtensions:       []pkix.Extension{tcb},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &aliasKey.PublicKey, deviceKey)
	if err != nil {
		return nil, fmt.Errorf("alias certificate: %w", err)
	}
	return der, nil
}
