package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/rampart-iot/rampart/format/dice"
)

// The tests here make the TPM structures in software, as a TPM would make them, to test each
// check on its own; the service's tests make them with a TPM simulator.

// softTPM holds the keys of a TPM made in software.
type softTPM struct {
	ak, key       *ecdsa.PrivateKey
	akPub, keyPub []byte
}

const (
	akAttributes  = tpm2.FlagSignerDefault
	keyAttributes = tpm2.FlagSign | tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin |
		tpm2.FlagUserWithAuth
)

func tpmPublic(t testing.TB, k *ecdsa.PrivateKey, attrs tpm2.KeyProp) []byte {
	t.Helper()
	pub := tpm2.Public{Type: tpm2.AlgECC, NameAlg: tpm2.AlgSHA256, Attributes: attrs,
		ECCParameters: &tpm2.ECCParams{
			Sign:    &tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256},
			CurveID: tpm2.CurveNISTP256,
			Point:   tpm2.ECPoint{XRaw: k.X.FillBytes(make([]byte, 32)), YRaw: k.Y.FillBytes(make([]byte, 32))},
		}}
	b, err := pub.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newSoftTPM(t testing.TB) *softTPM {
	s := &softTPM{ak: newKey(t), key: newKey(t)}
	s.akPub = tpmPublic(t, s.ak, akAttributes)
	s.keyPub = tpmPublic(t, s.key, keyAttributes)
	return s
}

// sign makes a TPMT_SIGNATURE of b by k.
func tpmSign(t testing.TB, k *ecdsa.PrivateKey, b []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(b)
	r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig, err := tpm2.Signature{Alg: tpm2.AlgECDSA, ECC: &tpm2.SignatureECC{HashAlg: tpm2.AlgSHA256, R: r, S: s}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func name(t testing.TB, public []byte) tpm2.Name {
	t.Helper()
	pub, err := tpm2.DecodePublic(public)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pub.Name()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attestation(t testing.TB, signer []byte, ad tpm2.AttestationData) []byte {
	t.Helper()
	ad.Magic, ad.QualifiedSigner = 0xff544347, name(t, signer)
	b, err := ad.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventLog encodes a crypto-agile event log, SHA-256 only, of the given events of pcr.
func eventLog(pcr int, typ uint32, data ...[]byte) []byte {
	le := binary.LittleEndian
	var spec bytes.Buffer
	spec.WriteString("Spec ID Event03\x00")
	spec.Write(le.AppendUint32(nil, 0))                                           // platform class
	spec.Write([]byte{0, 2, 0, 2})                                                // minor, major, errata, uintn size
	spec.Write(le.AppendUint32(nil, 1))                                           // one algorithm
	spec.Write(le.AppendUint16(le.AppendUint16(nil, uint16(tpm2.AlgSHA256)), 32)) // SHA-256, 32 bytes
	spec.WriteByte(0)                                                             // no vendor info
	var b bytes.Buffer
	b.Write(le.AppendUint32(nil, 0))
	b.Write(le.AppendUint32(nil, 3)) // EV_NO_ACTION
	b.Write(make([]byte, 20))
	b.Write(le.AppendUint32(nil, uint32(spec.Len())))
	b.Write(spec.Bytes())
	for _, d := range data {
		sum := sha256.Sum256(d)
		b.Write(le.AppendUint32(nil, uint32(pcr)))
		b.Write(le.AppendUint32(nil, typ))
		b.Write(le.AppendUint32(nil, 1))
		b.Write(le.AppendUint16(nil, uint16(tpm2.AlgSHA256)))
		b.Write(sum[:])
		b.Write(le.AppendUint32(nil, uint32(len(d))))
		b.Write(d)
	}
	return b.Bytes()
}

// replay is the PCR value after extending a reset PCR with each record's SHA-256.
func replay(records ...[]byte) []byte {
	var pcr [32]byte
	for _, r := range records {
		sum := sha256.Sum256(r)
		pcr = sha256.Sum256(append(pcr[:], sum[:]...))
	}
	return pcr[:]
}

// tpmFixture is a valid TPM token's parts: the claims (with the TPM claim made for them) and
// the signing key.
type tpmFixture struct {
	soft   *softTPM
	claims Claims
	boot   []dice.Measurements
}

func newTPMFixture(t testing.TB) *tpmFixture {
	t.Helper()
	fx := newFixture(t)
	s := newSoftTPM(t)
	spki, err := x509.MarshalPKIXPublicKey(&s.ak.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	earlier := fx.claims.Measurements
	earlier.Runtime = sha512.Sum512([]byte("runtime 0.9"))
	c := fx.claims
	c.DeviceKey = spki
	f := &tpmFixture{soft: s, claims: c, boot: []dice.Measurements{earlier, c.Measurements}}
	f.remake(t)
	return f
}

// remake makes the TPM claim for f's claims and boot measurements.
func (f *tpmFixture) remake(t testing.TB) {
	t.Helper()
	s := f.soft
	var records [][]byte
	for _, m := range f.boot {
		records = append(records, MeasurementRecord(m))
	}
	pcrValue := replay(records...)
	pcrDigest := sha256.Sum256(pcrValue)
	quote := attestation(t, s.akPub, tpm2.AttestationData{Type: tpm2.TagAttestQuote, ExtraData: f.claims.Nonce,
		AttestedQuoteInfo: &tpm2.QuoteInfo{PCRSelection: tpm2.PCRSelection{Hash: tpm2.AlgSHA256, PCRs: []int{15}},
			PCRDigest: pcrDigest[:]}})
	keyName := name(t, s.keyPub)
	createData := creationData(t, 15, pcrDigest[:])
	createDigest := sha256.Sum256(createData)
	certify := attestation(t, s.akPub, tpm2.AttestationData{Type: tpm2.TagAttestCreation,
		AttestedCreationInfo: &tpm2.CreationInfo{Name: keyName, OpaqueDigest: createDigest[:]}})
	f.claims.TPM = &TPM{
		EKCertificate: []byte("ek certificate"), AKPublic: s.akPub,
		Activation: bytes.Repeat([]byte{0xa1}, TPMActivationSize),
		PCR:        15, PCRValue: pcrValue,
		Quote: quote, QuoteSignature: tpmSign(t, s.ak, quote),
		EventLog:  eventLog(15, EventTypeRuntime, records...),
		KeyPublic: s.keyPub, KeyCreateData: createData,
		KeyCreateAttestation: certify, KeyCreateSignature: tpmSign(t, s.ak, certify),
	}
}

// creationData is a TPMS_CREATION_DATA recording pcr with the digest of its value.
func creationData(t testing.TB, pcr int, pcrDigest []byte) []byte {
	t.Helper()
	cd := tpm2.CreationData{PCRSelection: tpm2.PCRSelection{Hash: tpm2.AlgSHA256, PCRs: []int{pcr}},
		PCRDigest: pcrDigest, ParentNameAlg: tpm2.AlgSHA256}
	b, err := cd.EncodeCreationData()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recertify makes the AK certify the signing key's creation with other creation data.
func (f *tpmFixture) recertify(t testing.TB, createData []byte) {
	t.Helper()
	keyName := name(t, f.soft.keyPub)
	digest := sha256.Sum256(createData)
	certify := attestation(t, f.soft.akPub, tpm2.AttestationData{Type: tpm2.TagAttestCreation,
		AttestedCreationInfo: &tpm2.CreationInfo{Name: keyName, OpaqueDigest: digest[:]}})
	f.claims.TPM.KeyCreateData, f.claims.TPM.KeyCreateAttestation = createData, certify
	f.claims.TPM.KeyCreateSignature = tpmSign(t, f.soft.ak, certify)
}

func (f *tpmFixture) token(t testing.TB) []byte {
	t.Helper()
	b, err := SignTPM(f.claims, f.soft.key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTPMEvidenceVerifies(t *testing.T) {
	f := newTPMFixture(t)
	e := mustParse(t, f.token(t))
	if err := e.Verify(); err != nil {
		t.Fatal(err)
	}
	if !e.SigningKey().Equal(&f.soft.key.PublicKey) {
		t.Error("SigningKey is not the TPM signing key")
	}
	if got := e.BootMeasurements(); len(got) != 2 || got[0] != f.boot[0] || got[1] != f.boot[1] {
		t.Errorf("BootMeasurements = %v, want %v", got, f.boot)
	}
}

func TestMeasurementRecordRoundTrip(t *testing.T) {
	m := newFixture(t).claims.Measurements
	b := MeasurementRecord(m)
	if len(b) != 209 || !bytes.HasPrefix(b, []byte("RAMPART-RUNTIME\x00")) {
		t.Fatalf("record is %d bytes: %x", len(b), b)
	}
	if got, err := ParseMeasurementRecord(b); err != nil || got != m {
		t.Errorf("ParseMeasurementRecord = %v, %v; want %v", got, err, m)
	}
	for _, bad := range [][]byte{b[:208], append(bytes.Clone(b), 0), append([]byte("RAMPART-RUNTIMEX"), b[16:]...)} {
		if _, err := ParseMeasurementRecord(bad); err == nil {
			t.Errorf("ParseMeasurementRecord(%x…) accepted", bad[:20])
		}
	}
}

// TestTPMEvidenceRefused changes one part of a valid TPM token at a time: each is refused with
// its class of error.
func TestTPMEvidenceRefused(t *testing.T) {
	other := newSoftTPM(t)
	tests := map[string]struct {
		change func(t *testing.T, f *tpmFixture)
		want   error
	}{
		"device key is not the AK": {func(t *testing.T, f *tpmFixture) {
			f.claims.DeviceKey, _ = x509.MarshalPKIXPublicKey(&other.ak.PublicKey)
		}, ErrMalformed},
		"AK not restricted": {func(t *testing.T, f *tpmFixture) {
			f.soft.akPub = tpmPublic(t, f.soft.ak, keyAttributes)
			f.remake(t)
		}, ErrMalformed},
		"AK exportable": {func(t *testing.T, f *tpmFixture) {
			f.soft.akPub = tpmPublic(t, f.soft.ak, akAttributes&^tpm2.FlagFixedTPM)
			f.remake(t)
		}, ErrMalformed},
		"AK public area with trailing bytes": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.AKPublic = append(bytes.Clone(f.claims.TPM.AKPublic), 0)
		}, ErrMalformed},
		"signing key exportable": {func(t *testing.T, f *tpmFixture) {
			f.soft.keyPub = tpmPublic(t, f.soft.key, keyAttributes&^tpm2.FlagFixedTPM)
			f.remake(t)
		}, ErrKeyNotCertified},
		"signing key certified by another AK": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.KeyCreateSignature = tpmSign(t, other.ak, f.claims.TPM.KeyCreateAttestation)
		}, ErrKeyNotCertified},
		"certification of another key": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.KeyPublic = tpmPublic(t, other.key, keyAttributes)
		}, ErrKeyNotCertified},
		"signing key made under an earlier runtime": {func(t *testing.T, f *tpmFixture) {
			earlier := sha256.Sum256(replay(MeasurementRecord(f.boot[0])))
			f.recertify(t, creationData(t, 15, earlier[:]))
		}, ErrKeyNotCertified},
		"signing key's creation data of another PCR": {func(t *testing.T, f *tpmFixture) {
			digest := sha256.Sum256(f.claims.TPM.PCRValue)
			f.recertify(t, creationData(t, 14, digest[:]))
		}, ErrKeyNotCertified},
		"signing key certified without its creation": {func(t *testing.T, f *tpmFixture) {
			keyName := name(t, f.soft.keyPub)
			certify := attestation(t, f.soft.akPub, tpm2.AttestationData{Type: tpm2.TagAttestCertify,
				AttestedCertifyInfo: &tpm2.CertifyInfo{Name: keyName, QualifiedName: keyName}})
			f.claims.TPM.KeyCreateAttestation, f.claims.TPM.KeyCreateSignature = certify, tpmSign(t, f.soft.ak, certify)
		}, ErrKeyNotCertified},
		"quote by another key": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.QuoteSignature = tpmSign(t, other.ak, f.claims.TPM.Quote)
		}, ErrBadQuote},
		"quote over another nonce": {func(t *testing.T, f *tpmFixture) {
			nonce := f.claims.Nonce
			f.claims.Nonce = bytes.Repeat([]byte{0x99}, 32)
			f.remake(t)
			f.claims.Nonce = nonce
		}, ErrBadQuote},
		"PCR value not the quoted one": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.PCRValue = bytes.Repeat([]byte{1}, 32)
		}, ErrBadQuote},
		"quote over another PCR": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.PCR = 14
		}, ErrBadQuote},
		"event log that does not replay": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.EventLog = eventLog(15, EventTypeRuntime, MeasurementRecord(f.boot[1]))
		}, ErrEventLogMismatch},
		"event log of another event type": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.EventLog = eventLog(15, 0x0d, MeasurementRecord(f.boot[0]), MeasurementRecord(f.boot[1]))
		}, ErrEventLogMismatch},
		"event log with no event": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.EventLog = eventLog(15, EventTypeRuntime)
		}, ErrEventLogMismatch},
		"event log of another PCR": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.EventLog = eventLog(14, EventTypeRuntime, MeasurementRecord(f.boot[0]), MeasurementRecord(f.boot[1]))
		}, ErrEventLogMismatch},
		"event log of foreign events": {func(t *testing.T, f *tpmFixture) {
			f.boot = nil
			f.remake(t)
			f.claims.TPM.EventLog = eventLog(15, EventTypeRuntime, []byte("grub"))
			f.claims.TPM.PCRValue = replay([]byte("grub"))
		}, ErrBadQuote}, // the quote is over the reset PCR: first the quote fails
		"event log garbage": {func(t *testing.T, f *tpmFixture) {
			f.claims.TPM.EventLog = []byte("garbage event log")
		}, ErrEventLogMismatch},
		"last event not the claimed measurements": {func(t *testing.T, f *tpmFixture) {
			f.boot = []dice.Measurements{f.boot[1], f.boot[0]}
			f.remake(t)
		}, ErrMeasurementMismatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newTPMFixture(t)
			tc.change(t, f)
			b, err := SignTPM(f.claims, f.soft.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := mustParse(t, b).Verify(); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("token signed by the AK", func(t *testing.T) {
		f := newTPMFixture(t)
		b, err := SignTPM(f.claims, f.soft.ak)
		if err != nil {
			t.Fatal(err)
		}
		if err := mustParse(t, b).Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify = %v, want ErrBadSignature", err)
		}
	})
}

// FuzzTPMVerify changes the TPM structures of a valid token: Verify must not panic, and must
// refuse with one of its classes whatever it is given.
func FuzzTPMVerify(f *testing.F) {
	fx := newTPMFixture(f)
	tpm := fx.claims.TPM
	f.Add(uint8(0), tpm.AKPublic)
	f.Add(uint8(1), tpm.Quote)
	f.Add(uint8(2), tpm.QuoteSignature)
	f.Add(uint8(3), tpm.EventLog)
	f.Add(uint8(4), tpm.KeyPublic)
	f.Add(uint8(5), tpm.KeyCreateAttestation)
	f.Add(uint8(6), tpm.KeyCreateSignature)
	f.Add(uint8(3), eventLog(15, EventTypeRuntime, bytes.Repeat([]byte{1}, 300)))
	f.Fuzz(func(t *testing.T, field uint8, b []byte) {
		if len(b) == 0 || len(b) > MaxTPMStructureSize && field != 3 || len(b) > MaxEventLogSize {
			return
		}
		c := fx.claims
		tpm := *c.TPM
		c.TPM = &tpm
		for i, p := range []*[]byte{&tpm.AKPublic, &tpm.Quote, &tpm.QuoteSignature, &tpm.EventLog, &tpm.KeyPublic,
			&tpm.KeyCreateAttestation, &tpm.KeyCreateSignature} {
			if int(field)%7 == i {
				*p = b
			}
		}
		token, err := SignTPM(c, fx.soft.key)
		if err != nil {
			return
		}
		e, err := Parse(token)
		if err != nil {
			t.Fatalf("a token SignTPM made does not parse: %v", err)
		}
		err = e.Verify()
		if err == nil {
			return
		}
		for _, class := range []error{ErrMalformed, ErrKeyNotCertified, ErrBadSignature, ErrBadQuote,
			ErrEventLogMismatch, ErrMeasurementMismatch} {
			if errors.Is(err, class) {
				return
			}
		}
		t.Fatalf("error outside the classes: %v", err)
	})
}
