package evidence

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// sampleTPM is a TPM claim of the right shape; its TPM structures are not real ones.
func sampleTPM() *TPM {
	return &TPM{
		EKCertificate:        []byte("ek certificate"),
		AKPublic:             []byte("ak public"),
		Activation:           bytes.Repeat([]byte{0xa1}, TPMActivationSize),
		PCR:                  15,
		PCRValue:             bytes.Repeat([]byte{0xb2}, TPMDigestSize),
		Quote:                []byte("quote"),
		QuoteSignature:       []byte("quote signature"),
		EventLog:             []byte("event log"),
		KeyPublic:            []byte("key public"),
		KeyCreateData:        []byte("create data"),
		KeyCreateAttestation: []byte("create attestation"),
		KeyCreateSignature:   []byte("create signature"),
	}
}

func TestTPMTokenRoundTrip(t *testing.T) {
	fx := newFixture(t)
	fx.claims.TPM = sampleTPM()
	b, err := SignTPM(fx.claims, fx.aliasKey)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.AliasCert != nil {
		t.Error("a TPM token has an Alias certificate")
	}
	if e.Claims.TPM == nil || e.Claims.TPM.PCR != 15 || !bytes.Equal(e.Claims.TPM.Quote, []byte("quote")) {
		t.Errorf("TPM claim read back as %+v", e.Claims.TPM)
	}
	if e.SigningKey() != nil {
		t.Error("the signing key is known before Verify")
	}
}

func TestTPMClaimMalformed(t *testing.T) {
	fx := newFixture(t)
	short := sampleTPM()
	short.Activation = short.Activation[1:]
	lowPCR := sampleTPM()
	lowPCR.PCR = 7
	for name, tpm := range map[string]*TPM{"short activation": short, "firmware PCR": lowPCR} {
		fx.claims.TPM = tpm
		if _, err := SignTPM(fx.claims, fx.aliasKey); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: SignTPM gave %v, want ErrMalformed", name, err)
		}
	}

	fx.claims.TPM = nil
	m := fx.claimMap(t)
	full := encode(t, sampleTPM().wire())
	var missing map[int64]cbor.RawMessage
	if err := cbor.Unmarshal(full, &missing); err != nil {
		t.Fatal(err)
	}
	delete(missing, 8)
	extra := map[int64]any{}
	for k, v := range missing {
		extra[k] = v
	}
	extra[8] = []byte("event log")
	extra[13] = []byte("more")
	// A software token's payload with a TPM claim must not verify as either kind.
	withTPM := fx.withPayload(t, withRaw(t, m, keyTPM, full))
	if _, err := Parse(withTPM); !errors.Is(err, ErrMalformed) {
		t.Errorf("a TPM claim beside an x5chain: %v, want ErrMalformed", err)
	}
	for name, raw := range map[string][]byte{
		"key missing":   encode(t, missing),
		"unknown key":   encode(t, extra),
		"not a map":     encode(t, []byte("tpm")),
		"PCR too large": encode(t, map[int64]any{4: 99}),
	} {
		fx.claims.TPM = nil
		if _, err := Parse(fx.withPayload(t, withRaw(t, m, keyTPM, raw))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
