// Package pki provides the security service's certificates: the service's own TLS identity (a
// CA of its own and a server certificate it signs, made on first start, as step-ca's init does),
// and later each tenant's device CA.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the service's TLS identity inside the data folder.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	CertFile    = "server.pem"
	CertKeyFile = "server-key.pem"
)

// ServerTLS loads the service's TLS certificate from dir, making a CA (10 years) and a server
// certificate (1 year, renewed here when less than 30 days are left) for hosts on first use.
// The private keys are written owner-only; the CA's is also sealed with kek (one kept in plain
// text by an older version is sealed here).
func ServerTLS(dir string, kek *KEK, hosts []string, now time.Time) (tls.Certificate, error) {
	ca, caKey, err := loadOrMakeCA(dir, kek, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, CertKeyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil && cert.Leaf != nil && cert.Leaf.NotAfter.Sub(now) > 30*24*time.Hour && coversHosts(cert.Leaf, hosts) {
		return cert, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("load server certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "Rampart security service"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sign server certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteFileAtomic(certPath, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// sealedKeyType is the PEM type of a private key sealed with the KEK.
const sealedKeyType = "RAMPART SEALED PRIVATE KEY"

// serviceCAPurpose binds the service CA's sealed key to its use.
const serviceCAPurpose = "service-ca"

func loadOrMakeCA(dir string, kek *KEK, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, key, err := loadCA(certPath, keyPath, kek)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return cert, key, err
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Rampart service CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeSealedKey(keyPath, kek, key); err != nil {
		return nil, nil, err
	}
	if err := WriteFileAtomic(certPath, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err = x509.ParseCertificate(der)
	return cert, key, err
}

// loadCA reads the service CA's certificate and key. A key in plain text (as versions before
// the key was sealed wrote it) is sealed in place.
func loadCA(certPath, keyPath string, kek *KEK) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || kb == nil {
		return nil, nil, fmt.Errorf("load service CA: %s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("load service CA: %w", err)
	}
	der := kb.Bytes
	if kb.Type == sealedKeyType {
		if der, err = kek.Open(serviceCAPurpose, kb.Bytes); err != nil {
			return nil, nil, fmt.Errorf("open the service CA key %s (is this the right key-encryption key?): %w", keyPath, err)
		}
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	key, ok := parsed.(*ecdsa.PrivateKey)
	if err != nil || !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("load service CA: %s is not the ECDSA key of %s", keyPath, certPath)
	}
	if kb.Type != sealedKeyType {
		if err := writeSealedKey(keyPath, kek, key); err != nil {
			return nil, nil, fmt.Errorf("seal the service CA key: %w", err)
		}
	}
	return cert, key, nil
}

// writeSealedKey writes key sealed with kek, owner-only.
func writeSealedKey(path string, kek *KEK, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, pemBlock(sealedKeyType, kek.Seal(serviceCAPurpose, der)), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, pemBlock("PRIVATE KEY", der), 0o600)
}

// WriteFileAtomic writes data to a temporary file beside path and renames it into place, so a crash
// leaves either the old file or the new one.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// PEMCertificate encodes a DER certificate as PEM.
func PEMCertificate(der []byte) []byte { return pemBlock("CERTIFICATE", der) }
