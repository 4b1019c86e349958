// Package evidence provides Rampart's attestation evidence: an Entity Attestation Token
// (EAT, RFC 9711) that a device signs with its Alias key, which [Sign] makes and [Parse] and
// [Evidence.Verify] check.
//
// The device makes a token when the service asks it to attest; the service parses and verifies
// it, then appraises the claims (nonce, device, measurements, images). The format is exact: a
// token has one encoding, and [Parse] refuses every other, so that what was signed, what was
// checked and what is stored are the same bytes.
//
// # Token
//
// A token is a COSE_Sign1_Tagged item (RFC 9052: CBOR tag 18, in its one-byte form 0xd2; not
// wrapped in the CWT tag 61) in CBOR core deterministic encoding (RFC 8949 section 4.2.1):
//
//	18([
//	    protected:   bstr .cbor { 1: -7, 33: bstr },  ; alg ES256; x5chain: the Alias certificate
//	    unprotected: {},                             ; always empty
//	    payload:     bstr .cbor claims,
//	    signature:   bstr .size 64                   ; ES256: r ‖ s, each 32 bytes
//	])
//
// The x5chain header (RFC 9360) holds exactly one certificate, as a byte string: the DER X.509
// Alias certificate, issued by the device's DeviceID key for the Alias key, with the layer's
// measurements in a TCG DiceTcbInfo extension (see package
// [github.com/rampart-iot/rampart/format/dice]). Its key is ECDSA P-256.
//
// # Claims
//
// The payload is a CBOR map with exactly these seven integer keys, and the optional
// claim-proof; an absent or additional key makes the token malformed.
//
//	key     name          type                       value
//	6       iat           uint                       seconds since 1970 (RFC 8392 NumericDate, integer only, up to 9999)
//	10      eat_nonce     bstr .size (8..64)         the service's nonce; one, not an array
//	256     ueid          bstr .size 33              0x01 (type RAND) ‖ SHA-256 of the DeviceID key's SPKI
//	263     dbgstat       0 / 2                      0 (enabled) in ModeDebug, 2 (disabled-since-boot) in ModeNormal
//	273     measurements  [[65000, bstr .cbor meas]] exactly one entry, in Rampart's content-format
//	-65537  device-key    bstr                       the DeviceID public key, DER SubjectPublicKeyInfo, ECDSA P-256
//	-65538  images        [* image] (at most 64)     installed images; may be empty, never absent
//	-65539  claim-proof   bstr .size 32              optional: HMAC-SHA256 keyed with the verifier of
//	                                                 the device's claim code, over a label, the device
//	                                                 ID and the nonce (ident.ClaimProof)
//
// The negative keys are private-use claim keys (below -65536, RFC 8392). The device key lets
// the verifier check the Alias certificate and compute the device ID (lowercase hex SHA-256 of
// the SPKI); it must be in the canonical DER form, so one key has one ID, and ueid must agree
// with it. The DICE modes not-configured and recovery cannot be expressed: such a device does
// not attest.
//
// # Measurements
//
// RFC 9711 measurements are an array of [content-type, content] pairs. Rampart uses one, with
// content-type 65000 (from the CoAP Content-Formats range for experimental use) and content
// a CBOR map of measurement name to digest, with exactly these entries:
//
//	"runtime"    bstr .size 64   SHA-512 of the running runtime (the DICE code input)
//	"config"     bstr .size 64   the DICE configuration input
//	"authority"  bstr .size 64   SHA-512 of the authority that vouched for the runtime
//
// With dbgstat they must equal the TcbInfo of the Alias certificate.
//
// # Images
//
// Each installed image is a map {1: tstr, 2: bstr .size 32}: its image ID, a canonical
// lowercase UUID, and the SHA-256 of its image package. An image ID appears at most once.
//
// # The TPM claim
//
// A device whose root of trust is a TPM 2.0 adds claim -65540, a map with exactly these keys,
// each a byte string but 4:
//
//	1   EK certificate             DER X.509, at most 4096 bytes
//	2   AK public area             TPMT_PUBLIC of the attestation key
//	3   activation secret          32 bytes recovered by TPM2_ActivateCredential
//	4   PCR                        uint, 8 to 15: the PCR the runtime is measured into
//	5   PCR value                  32 bytes: its SHA-256 bank value when quoted
//	6   quote                      TPMS_ATTEST of TPM2_Quote by the AK, qualifying data = the nonce
//	7   quote signature            TPMT_SIGNATURE
//	8   event log                  TCG PC Client crypto-agile log of the PCR, at most 17 KiB
//	9   signing key public area    TPMT_PUBLIC of the key that signed the token
//	10  creation data              TPMS_CREATION_DATA of the signing key
//	11  certification              TPMS_ATTEST of the signing key's certification by the AK
//	12  certification signature    TPMT_SIGNATURE
//
// (TPM structures at most 1024 bytes each.) Such a token's protected header is exactly {1: -7}:
// no x5chain, since there is no Alias certificate; the device-key claim is the AK's public key
// and the measurements claim is the runtime's, as the last Rampart event of the log records it.
//
// # Limits and strictness
//
// [Parse] refuses a token over [MaxSize] (64 KiB) with [ErrTooLarge], and with [ErrMalformed]:
// duplicate map keys, indefinite lengths, tags (other than the outer 18), nesting deeper than 4
// arrays and maps, arrays of more than 64 elements, maps of more than 16 pairs, lengths past the
// end of the input, trailing bytes, unknown or missing claims, values of the wrong type or size,
// and any encoding other than the core deterministic one.
//
// # Verification
//
// [Parse] checks the form only. [Evidence.Verify] checks that the DeviceID key in the claims
// issued the Alias certificate ([ErrAliasNotCertified]), that the Alias key signed the token
// ([ErrBadSignature]) and that the claimed measurements are the certified ones
// ([ErrMeasurementMismatch]). Whether the nonce is fresh, the device is claimed and the
// measurements are known-good is for the service to decide afterwards.
package evidence
