package rot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"go/build"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/ident"
)

// openDice is testdata/open-dice.json: google/open-dice's known answers.
type openDice struct {
	Source    string `json:"source"`
	UDS       string `json:"uds"`
	Mode      uint8  `json:"mode"`
	CDIAttest string `json:"cdi_attest"`
	CDISeal   string `json:"cdi_seal"`
	AsymSalt  string `json:"asym_salt"`
	IDSalt    string `json:"id_salt"`
}

func loadOpenDice(t *testing.T) openDice {
	t.Helper()
	b, err := os.ReadFile("testdata/open-dice.json")
	if err != nil {
		t.Fatal(err)
	}
	var v openDice
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v.Source, "google/open-dice") {
		t.Fatalf("testdata does not cite its source: %q", v.Source)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenDiceKnownAnswers(t *testing.T) {
	v := loadOpenDice(t)
	uds := unhex(t, v.UDS)
	in := Inputs{Mode: Mode(v.Mode)} // every other input zero
	if got := CDIAttest(uds, in); hex.EncodeToString(got[:]) != v.CDIAttest {
		t.Errorf("CDI_Attest = %x, want %s", got, v.CDIAttest)
	}
	if got := CDISeal(uds, in); hex.EncodeToString(got[:]) != v.CDISeal {
		t.Errorf("CDI_Seal = %x, want %s", got, v.CDISeal)
	}
}

func TestOpenDiceConstants(t *testing.T) {
	v := loadOpenDice(t)
	if got := hex.EncodeToString(asymSalt[:]); got != v.AsymSalt {
		t.Errorf("ASYM_SALT = %s, want %s", got, v.AsymSalt)
	}
	if got := hex.EncodeToString(idSalt[:]); got != v.IDSalt {
		t.Errorf("ID_SALT = %s, want %s", got, v.IDSalt)
	}
}

// hkdfSHA512 is an independent HKDF-SHA512 for outputs of at most 64 bytes (one HMAC block), to
// check the derivations against RFC 5869 rather than against themselves.
func hkdfSHA512(ikm, salt []byte, info string, n int) []byte {
	ext := hmac.New(sha512.New, salt)
	ext.Write(ikm)
	return expandSHA512(ext.Sum(nil), info, n)
}

func expandSHA512(prk []byte, info string, n int) []byte {
	exp := hmac.New(sha512.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)[:n]
}

func TestKeySeedAndIdentifierFollowRFC5869(t *testing.T) {
	cdi := bytes.Repeat([]byte{0x5a}, 32)
	if got, want := KeySeed(cdi), hkdfSHA512(cdi, asymSalt[:], "Key Pair", 32); !bytes.Equal(got[:], want) {
		t.Errorf("KeySeed = %x, want %x", got, want)
	}
	pub := bytes.Repeat([]byte{0xa5}, 65)
	want := hkdfSHA512(pub, idSalt[:], "ID", 20)
	want[0] &= 0x7f
	if got := Identifier(pub); !bytes.Equal(got[:], want) {
		t.Errorf("Identifier = %x, want %x", got, want)
	}
	for i := range 64 {
		if id := Identifier([]byte{byte(i)}); id[0]&0x80 != 0 {
			t.Fatalf("Identifier(%d) has its top bit set: %x", i, id)
		}
	}
}

// TestCDIInputs checks which inputs each CDI depends on: CDI_Attest on all of them, CDI_Seal
// on authority, mode and hidden only, so that sealed data survives a code update.
func TestCDIInputs(t *testing.T) {
	uds := bytes.Repeat([]byte{7}, UDSSize)
	base := Inputs{Mode: ModeNormal}
	tests := []struct {
		name                       string
		change                     func(*Inputs)
		attestChanges, sealChanges bool
	}{
		{"code", func(in *Inputs) { in.Code[0] = 1 }, true, false},
		{"config", func(in *Inputs) { in.Config[63] = 1 }, true, false},
		{"authority", func(in *Inputs) { in.Authority[10] = 1 }, true, true},
		{"hidden", func(in *Inputs) { in.Hidden[5] = 1 }, true, true},
		{"mode", func(in *Inputs) { in.Mode = ModeDebug }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.change(&in)
			if changed := CDIAttest(uds, in) != CDIAttest(uds, base); changed != tt.attestChanges {
				t.Errorf("CDI_Attest changed = %v, want %v", changed, tt.attestChanges)
			}
			if changed := CDISeal(uds, in) != CDISeal(uds, base); changed != tt.sealChanges {
				t.Errorf("CDI_Seal changed = %v, want %v", changed, tt.sealChanges)
			}
		})
	}
}

func TestKeyFromSeed(t *testing.T) {
	seed := [32]byte{1, 2, 3}
	k1, k2 := KeyFromSeed(seed), KeyFromSeed(seed)
	if !k1.Equal(k2) {
		t.Fatal("same seed gave two keys")
	}
	if KeyFromSeed([32]byte{1, 2, 4}).Equal(k1) {
		t.Fatal("two seeds gave the same key")
	}
	// The first candidate, computed independently, is the scalar (it is in range for this seed).
	want := expandSHA512(seed[:], "Rampart P-256 key\x00", 32)
	got, err := k1.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("scalar = %x, want first candidate %x", got, want)
	}
	// The key works.
	digest := sha256.Sum256([]byte("message"))
	sig, err := ecdsa.SignASN1(rand.Reader, k1, digest[:])
	if err != nil || !ecdsa.VerifyASN1(&k1.PublicKey, digest[:], sig) {
		t.Fatalf("derived key does not sign: %v", err)
	}
	if k1.Curve != elliptic.P256() {
		t.Fatal("not P-256")
	}
}

func TestKeyFromCandidatesRejectsOutOfRange(t *testing.T) {
	n := elliptic.P256().Params().N
	nMinus1 := new(big.Int).Sub(n, big.NewInt(1)).FillBytes(make([]byte, 32))
	tests := []struct {
		name       string
		candidates [][]byte
		want       []byte
	}{
		{"first in range", [][]byte{nMinus1}, nMinus1},
		{"zero rejected", [][]byte{make([]byte, 32), nMinus1}, nMinus1},
		{"n rejected", [][]byte{n.FillBytes(make([]byte, 32)), nMinus1}, nMinus1},
		{"all ones rejected", [][]byte{bytes.Repeat([]byte{0xff}, 32), nMinus1}, nMinus1},
		{"one accepted", [][]byte{big.NewInt(1).FillBytes(make([]byte, 32))}, big.NewInt(1).FillBytes(make([]byte, 32))},
		{
			"several rejected",
			[][]byte{make([]byte, 32), n.FillBytes(make([]byte, 32)), bytes.Repeat([]byte{0xff}, 32), {31: 2}},
			[]byte{31: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []byte
			k := keyFromCandidates(func(i byte) []byte {
				asked = append(asked, i)
				return tt.candidates[i]
			})
			got, _ := k.Bytes()
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("scalar = %x, want %x", got, tt.want)
			}
			if len(asked) != len(tt.candidates) || asked[len(asked)-1] != byte(len(tt.candidates)-1) {
				t.Fatalf("candidates asked %v, want 0..%d in order", asked, len(tt.candidates)-1)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic when every candidate is out of range")
		}
	}()
	keyFromCandidates(func(byte) []byte { return make([]byte, 32) })
}

func TestDeviceIDKey(t *testing.T) {
	uds := bytes.Repeat([]byte{0x11}, UDSSize)
	k1, err := DeviceIDKey(uds)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := DeviceIDKey(bytes.Clone(uds))
	if !k1.Equal(k2) {
		t.Fatal("same UDS gave two DeviceID keys")
	}
	if !k1.Equal(KeyFromSeed(KeySeed(uds))) {
		t.Fatal("DeviceID key is not KeyFromSeed(KeySeed(UDS))")
	}
	other := bytes.Clone(uds)
	other[31] ^= 1
	if k3, _ := DeviceIDKey(other); k3.Equal(k1) {
		t.Fatal("another UDS gave the same DeviceID key")
	}
}

func TestBadUDSRefused(t *testing.T) {
	tests := []struct {
		name string
		uds  []byte
		want error
	}{
		{"all zero", make([]byte, UDSSize), ErrZeroUDS},
		{"nil", nil, ErrBadUDS},
		{"short", bytes.Repeat([]byte{1}, UDSSize-1), ErrBadUDS},
		{"long", bytes.Repeat([]byte{1}, UDSSize+1), ErrBadUDS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DeviceIDKey(tt.uds); !errors.Is(err, tt.want) {
				t.Errorf("DeviceIDKey: got %v, want %v", err, tt.want)
			}
			if _, err := DeriveLayer(tt.uds, Inputs{Mode: ModeNormal}); !errors.Is(err, tt.want) {
				t.Errorf("DeriveLayer: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDeriveLayer(t *testing.T) {
	uds := bytes.Repeat([]byte{0x22}, UDSSize)
	in := Inputs{Code: sha512.Sum512([]byte("runtime v1")), Mode: ModeNormal}
	l1, err := DeriveLayer(uds, in)
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := DeriveLayer(uds, in)
	if l1.CDIAttest != l2.CDIAttest || l1.CDISeal != l2.CDISeal || !l1.AliasKey.Equal(l2.AliasKey) {
		t.Fatal("same UDS and inputs gave two layers")
	}
	if l1.CDIAttest != CDIAttest(uds, in) || l1.CDISeal != CDISeal(uds, in) {
		t.Fatal("layer CDIs differ from CDIAttest/CDISeal")
	}
	if !l1.AliasKey.Equal(KeyFromSeed(KeySeed(l1.CDIAttest[:]))) {
		t.Fatal("Alias key is not KeyFromSeed(KeySeed(CDI_Attest))")
	}
	dev, _ := DeviceIDKey(uds)
	if dev.Equal(l1.AliasKey) {
		t.Fatal("Alias key equals DeviceID key")
	}

	// Another runtime: another Alias key and CDI_Attest, the same DeviceID key and CDI_Seal.
	in2 := in
	in2.Code = sha512.Sum512([]byte("runtime v1, tampered"))
	l3, _ := DeriveLayer(uds, in2)
	if l3.AliasKey.Equal(l1.AliasKey) || l3.CDIAttest == l1.CDIAttest {
		t.Fatal("another runtime gave the same Alias key")
	}
	if l3.CDISeal != l1.CDISeal {
		t.Fatal("another runtime from the same authority changed CDI_Seal")
	}
	if dev2, _ := DeviceIDKey(uds); !dev2.Equal(dev) {
		t.Fatal("DeviceID key changed with the runtime")
	}

	// Debug mode: another Alias key.
	in3 := in
	in3.Mode = ModeDebug
	if l4, _ := DeriveLayer(uds, in3); l4.AliasKey.Equal(l1.AliasKey) {
		t.Fatal("debug mode gave the normal-mode Alias key")
	}

	in.Mode = 4
	if _, err := DeriveLayer(uds, in); !errors.Is(err, ErrBadMode) {
		t.Fatalf("mode 4: got %v, want ErrBadMode", err)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeNotConfigured: "not-configured", ModeNormal: "normal", ModeDebug: "debug", ModeRecovery: "recovery", 9: "mode(9)"} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", m, m.String(), want)
		}
	}
}

// TestSmallTCB keeps the root of trust and the certificate encoding it uses on the standard
// library: they are the trusted computing base. (ident checks e-mail addresses with safetext.)
func TestSmallTCB(t *testing.T) {
	allowed := map[string]bool{
		"github.com/rampart-iot/rampart/format/dice":     true,
		"github.com/rampart-iot/rampart/format/safetext": true,
		"github.com/rampart-iot/rampart/ident":           true,
	}
	for _, dir := range []string{".", "../../format/dice", "../../ident", "../../format/safetext"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") && !allowed[imp] {
				t.Errorf("%s imports %s: the root of trust must stay on the standard library", pkg.ImportPath, imp)
			}
		}
	}
}

func TestClaimCodeIsTheDevicesOwn(t *testing.T) {
	uds1, uds2 := bytes.Repeat([]byte{1}, UDSSize), bytes.Repeat([]byte{2}, UDSSize)
	c1, err := ClaimCode(uds1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ClaimCode(uds1)
	c2, _ := ClaimCode(uds2)
	if c1 != again || c1 == c2 {
		t.Fatalf("claim codes %s, %s, %s: want stable per UDS and different across devices", c1, again, c2)
	}
	if _, err := ident.ParseClaimCode(string(c1)); err != nil {
		t.Fatalf("derived code %s does not parse: %v", c1, err)
	}
	if _, err := ClaimCode(make([]byte, UDSSize)); err == nil {
		t.Fatal("a claim code from an all-zero UDS")
	}
}
