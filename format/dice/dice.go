// Package dice provides the measurements that a DICE layer certifies, and their encoding as the
// TCG DiceTcbInfo X.509 extension.
//
// Both sides of attestation need this encoding: the device's root of trust writes the
// extension into the Alias certificate it issues, and the service reads it back to compare
// with the measurements claimed in the evidence. The package uses the standard library only,
// so that it can sit inside the device's small trusted computing base.
//
// # Measurements
//
// A [Measurements] value holds the public DICE inputs of one layer (Open Profile for DICE,
// google/open-dice docs/specification.md): the SHA-512 digest of the layer's code, its
// 64-byte configuration value, the SHA-512 digest of the authority that vouched for the code,
// and the mode. The fourth DICE input, the hidden value, is secret by definition and is never
// certified.
//
// # The TcbInfo extension
//
// The extension has OID 2.23.133.5.4.1 (tcg-dice-TcbInfo, TCG "DICE Attestation
// Architecture") and is marked critical, as that specification recommends. Its value is the
// DER of a DiceTcbInfo in which Rampart uses this subset of fields, in this order, and no
// others:
//
//	DiceTcbInfo ::= SEQUENCE {
//	    fwids      [6] IMPLICIT SEQUENCE SIZE (1) OF FWID,  -- the code digest
//	    flags      [7] IMPLICIT OperationalFlags,           -- the mode
//	    vendorInfo [8] IMPLICIT OCTET STRING                -- DER of RampartVendorInfo
//	}
//	FWID ::= SEQUENCE {
//	    hashAlg OBJECT IDENTIFIER,   -- id-sha512, 2.16.840.1.101.3.4.2.3
//	    digest  OCTET STRING         -- 64 bytes: Measurements.Runtime
//	}
//	RampartVendorInfo ::= SEQUENCE {
//	    config    OCTET STRING,      -- 64 bytes: Measurements.Config
//	    authority OCTET STRING       -- 64 bytes: Measurements.Authority
//	}
//
// The mode is carried by exactly one OperationalFlags bit, or none: ModeNormal sets no bit,
// ModeNotConfigured sets notConfigured (0), ModeRecovery sets recovery (2) and ModeDebug sets
// debug (3). The BIT STRING is in DER form (trailing zero bits removed), so ModeNormal is
// encoded as an empty bit string, present rather than omitted so that a reader never has to
// guess.
//
// [ParseTcbInfo] accepts exactly the bytes [MarshalTcbInfo] produces for some
// [Measurements]: any other field, order, length or encoding is refused.
package dice

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// DigestSize is the size of every measurement digest: SHA-512, as in the Open Profile for DICE.
const DigestSize = 64

// Mode is the DICE mode of a layer. The values are those of the Open Profile for DICE.
type Mode uint8

// The DICE modes.
const (
	ModeNotConfigured Mode = 0
	ModeNormal        Mode = 1
	ModeDebug         Mode = 2
	ModeRecovery      Mode = 3
)

// Valid reports whether m is one of the four defined modes.
func (m Mode) Valid() bool { return m <= ModeRecovery }

func (m Mode) String() string {
	switch m {
	case ModeNotConfigured:
		return "not-configured"
	case ModeNormal:
		return "normal"
	case ModeDebug:
		return "debug"
	case ModeRecovery:
		return "recovery"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Measurements are the public DICE inputs of a layer, as certified in its Alias certificate
// and claimed in its attestation evidence.
type Measurements struct {
	Runtime   [DigestSize]byte // SHA-512 of the layer's code (the DICE code input)
	Config    [DigestSize]byte // the DICE configuration input
	Authority [DigestSize]byte // SHA-512 of the authority that vouched for the code
	Mode      Mode
}

// OIDTcbInfo identifies the TCG DiceTcbInfo certificate extension.
var OIDTcbInfo = asn1.ObjectIdentifier{2, 23, 133, 5, 4, 1}

// oidSHA512 is id-sha512 (NIST CSOR), the FWID hash algorithm.
var oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

// ErrMalformed is returned for an extension value that is not in Rampart's DiceTcbInfo profile.
var ErrMalformed = errors.New("malformed DICE TcbInfo")

// ErrMissing is returned by [FromCertificate] for a certificate without the TcbInfo extension.
var ErrMissing = errors.New("certificate has no DICE TcbInfo extension")

// Context-specific tags of the DiceTcbInfo fields used.
const (
	tagFWIDs      = 6
	tagFlags      = 7
	tagVendorInfo = 8
)

// flagBits maps each mode to its OperationalFlags BIT STRING in DER form.
var flagBits = map[Mode]asn1.BitString{
	ModeNormal:        {},
	ModeNotConfigured: {Bytes: []byte{0x80}, BitLength: 1}, // notConfigured (0)
	ModeRecovery:      {Bytes: []byte{0x20}, BitLength: 3}, // recovery (2)
	ModeDebug:         {Bytes: []byte{0x10}, BitLength: 4}, // debug (3)
}

type fwid struct {
	HashAlg asn1.ObjectIdentifier
	Digest  []byte
}

type vendorInfo struct {
	Config    []byte
	Authority []byte
}

// MarshalTcbInfo returns the DER DiceTcbInfo value for m.
func MarshalTcbInfo(m Measurements) ([]byte, error) {
	flags, ok := flagBits[m.Mode]
	if !ok {
		return nil, fmt.Errorf("marshal TcbInfo: invalid %v", m.Mode)
	}
	fw, err := asn1.Marshal(fwid{HashAlg: oidSHA512, Digest: m.Runtime[:]})
	if err != nil {
		return nil, err
	}
	fl, err := asn1.MarshalWithParams(flags, fmt.Sprintf("tag:%d", tagFlags))
	if err != nil {
		return nil, err
	}
	vi, err := asn1.Marshal(vendorInfo{Config: m.Config[:], Authority: m.Authority[:]})
	if err != nil {
		return nil, err
	}
	vif, err := asn1.MarshalWithParams(vi, fmt.Sprintf("tag:%d", tagVendorInfo))
	if err != nil {
		return nil, err
	}
	fws, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagFWIDs, IsCompound: true, Bytes: fw})
	if err != nil {
		return nil, err
	}
	body := append(append(fws, fl...), vif...)
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
}

// ParseTcbInfo parses a DER DiceTcbInfo value in Rampart's profile. It accepts only the exact
// encoding that [MarshalTcbInfo] produces.
func ParseTcbInfo(der []byte) (Measurements, error) {
	var m Measurements
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return m, fmt.Errorf("%w: not a single SEQUENCE", ErrMalformed)
	}
	body, err := parseFWIDs(seq.Bytes, &m)
	if err != nil {
		return m, err
	}
	if body, err = parseFlags(body, &m); err != nil {
		return m, err
	}
	if err := parseVendorInfo(body, &m); err != nil {
		return m, err
	}
	// encoding/asn1 tolerates a few non-DER forms; insist on the one encoding.
	if again, err := MarshalTcbInfo(m); err != nil || !bytes.Equal(again, der) {
		return Measurements{}, fmt.Errorf("%w: not in canonical DER form", ErrMalformed)
	}
	return m, nil
}

// parseFWIDs reads the fwids field, which must hold exactly one SHA-512 FWID: the runtime's
// measurement. It returns what follows.
func parseFWIDs(body []byte, m *Measurements) ([]byte, error) {
	var fws asn1.RawValue
	body, err := asn1.Unmarshal(body, &fws)
	if err != nil || fws.Class != asn1.ClassContextSpecific || fws.Tag != tagFWIDs || !fws.IsCompound {
		return nil, fmt.Errorf("%w: want fwids [6]", ErrMalformed)
	}
	var fw fwid
	if rest, err := asn1.Unmarshal(fws.Bytes, &fw); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: want exactly one FWID", ErrMalformed)
	}
	if !fw.HashAlg.Equal(oidSHA512) || len(fw.Digest) != DigestSize {
		return nil, fmt.Errorf("%w: FWID is not a SHA-512 digest", ErrMalformed)
	}
	copy(m.Runtime[:], fw.Digest)
	return body, nil
}

// parseFlags reads the flags field, which must name exactly one mode. It returns what follows.
func parseFlags(body []byte, m *Measurements) ([]byte, error) {
	var flags asn1.BitString
	body, err := asn1.UnmarshalWithParams(body, &flags, fmt.Sprintf("tag:%d", tagFlags))
	if err != nil {
		return nil, fmt.Errorf("%w: want flags [7]", ErrMalformed)
	}
	for mode, bits := range flagBits {
		if flags.BitLength == bits.BitLength && bytes.Equal(flags.Bytes, bits.Bytes) {
			m.Mode = mode
			return body, nil
		}
	}
	return nil, fmt.Errorf("%w: flags name no single mode", ErrMalformed)
}

// parseVendorInfo reads the vendorInfo field, the last one: the configuration and authority
// measurements.
func parseVendorInfo(body []byte, m *Measurements) error {
	var vi []byte
	body, err := asn1.UnmarshalWithParams(body, &vi, fmt.Sprintf("tag:%d", tagVendorInfo))
	if err != nil || len(body) != 0 {
		return fmt.Errorf("%w: want vendorInfo [8] as the last field", ErrMalformed)
	}
	var v vendorInfo
	if rest, err := asn1.Unmarshal(vi, &v); err != nil || len(rest) != 0 ||
		len(v.Config) != DigestSize || len(v.Authority) != DigestSize {
		return fmt.Errorf("%w: vendorInfo is not two 64-byte values", ErrMalformed)
	}
	copy(m.Config[:], v.Config)
	copy(m.Authority[:], v.Authority)
	return nil
}

// Extension returns the critical TcbInfo certificate extension for m, for
// [x509.Certificate.ExtraExtensions].
func Extension(m Measurements) (pkix.Extension, error) {
	v, err := MarshalTcbInfo(m)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: OIDTcbInfo, Critical: true, Value: v}, nil
}

// FromCertificate returns the measurements in cert's TcbInfo extension. The extension must
// appear exactly once and be marked critical.
func FromCertificate(cert *x509.Certificate) (Measurements, error) {
	var ext *pkix.Extension
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.Equal(OIDTcbInfo) {
			if ext != nil {
				return Measurements{}, fmt.Errorf("%w: extension appears twice", ErrMalformed)
			}
			ext = &cert.Extensions[i]
		}
	}
	if ext == nil {
		return Measurements{}, ErrMissing
	}
	if !ext.Critical {
		return Measurements{}, fmt.Errorf("%w: extension is not critical", ErrMalformed)
	}
	return ParseTcbInfo(ext.Value)
}
