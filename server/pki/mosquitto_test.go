package pki_test

// These tests put a tenant's device certificates in front of a relying party that users really
// run: the Mosquitto MQTT broker, configured with the tenant's CA bundle and
// require_certificate. They show that what the Authority issues and what Bundle returns are
// enough for a stock broker to let a tenant's devices in and keep everyone else out.

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/mqtttest"
	"github.com/rampart-iot/rampart/server/pki"
)

// broker is a running Mosquitto with one TLS listener on 127.0.0.1.
type broker struct {
	*mqtttest.Broker
	addr  string
	roots *x509.CertPool // verifies the broker's own certificate
}

// startBroker starts a broker that requires a client certificate issued by one of the CAs in
// bundle, and names each client by its certificate's CN. It is stopped when the test ends.
func startBroker(t *testing.T, bundle []byte) *broker {
	t.Helper()
	return startBrokerWithCRL(t, bundle, nil)
}

// startBrokerWithCRL is startBroker that also checks client certificates against the CRLs in
// crl (PEM), when it is not nil.
func startBrokerWithCRL(t *testing.T, bundle, crl []byte) *broker {
	t.Helper()
	mqtttest.Binary(t, "mosquitto") // skips in -short mode before making keys
	dir := t.TempDir()
	// The broker's own identity, made as the security service makes its own.
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.ServerTLS(tlsDir, newKEK(t), []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(mustRead(t, filepath.Join(tlsDir, pki.CAFile))) {
		t.Fatal("no service CA")
	}
	cafile := filepath.Join(dir, "tenant-ca-bundle.pem")
	if err := os.WriteFile(cafile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mqtttest.Config{CAFile: cafile,
		CertFile: filepath.Join(tlsDir, pki.CertFile), KeyFile: filepath.Join(tlsDir, pki.CertKeyFile)}
	if crl != nil {
		cfg.CRLFile = filepath.Join(dir, "tenant-crl.pem")
		if err := os.WriteFile(cfg.CRLFile, crl, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := mqtttest.Start(t, cfg)
	return &broker{Broker: b, addr: b.Addr, roots: roots}
}

// clientCert is a device's TLS credential: the certificate the Authority issued and the key it
// certifies. It is always presented, even when the broker's list of acceptable CAs does not name
// its issuer, so that the broker, not Go's client, is what refuses it.
func clientCert(cert *x509.Certificate, key crypto.Signer) *tls.Config {
	c := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	return &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }}
}

// ---- A minimal MQTT 3.1.1 client (OASIS MQTT Version 3.1.1, section 3) ----
//
// Just what the tests need: CONNECT/CONNACK, SUBSCRIBE/SUBACK at QoS 1, PUBLISH at QoS 1 with its
// PUBACK, DISCONNECT. No retries, no keep-alive, one goroutine per connection; every packet
// exchange has a deadline.

type mqttConn struct {
	c      *tls.Conn
	r      *bufio.Reader
	nextID uint16
}

// mqttConnect opens a TLS connection to the broker with tc's client certificate and sends
// CONNECT with a clean session; it fails unless the broker answers CONNACK with return code 0.
func mqttConnect(b *broker, tc *tls.Config, clientID string) (*mqttConn, error) {
	tc = tc.Clone()
	tc.RootCAs, tc.ServerName = b.roots, "127.0.0.1"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.addr, tc)
	if err != nil {
		return nil, err
	}
	m := &mqttConn{c: c, r: bufio.NewReader(c), nextID: 1}
	// Variable header: protocol name, level 4 (3.1.1), flags (clean session), keep-alive 60 s.
	body := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	if err := m.send(0x10, append(body, mqttString(clientID)...)); err != nil {
		// In TLS 1.3 the broker judges the client's certificate after the client has finished
		// its handshake, so a refusal may first show as this write failing on a connection the
		// broker already closed. The broker's alert, which says why, is still there to read.
		_, _, rerr := m.receive()
		c.Close()
		return nil, errors.Join(err, rerr)
	}
	typ, ack, err := m.receive()
	switch {
	case err != nil:
	case typ != 0x20 || len(ack) != 2:
		err = fmt.Errorf("want CONNACK, got packet %#x %x", typ, ack)
	case ack[1] != 0:
		err = fmt.Errorf("CONNACK return code %d", ack[1])
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// send writes one packet: fixed header byte, remaining length (7 bits a byte), body.
func (m *mqttConn) send(header byte, body []byte) error {
	pkt := []byte{header}
	for n := len(body); ; {
		b := byte(n % 128)
		if n /= 128; n > 0 {
			b |= 0x80
		}
		if pkt = append(pkt, b); n == 0 {
			break
		}
	}
	m.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := m.c.Write(append(pkt, body...))
	return err
}

// receive reads one packet and returns its fixed header byte and body.
func (m *mqttConn) receive() (byte, []byte, error) {
	m.c.SetDeadline(time.Now().Add(10 * time.Second))
	header, err := m.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for shift := 0; ; shift += 7 {
		b, err := m.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		if n |= int(b&0x7f) << shift; b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(m.r, body)
	return header, body, err
}

func (m *mqttConn) packetID() []byte {
	m.nextID++
	return binary.BigEndian.AppendUint16(nil, m.nextID)
}

// subscribe subscribes to topic at QoS 1 and waits for the broker to grant it.
func (m *mqttConn) subscribe(topic string) error {
	id := m.packetID()
	if err := m.send(0x82, append(append(id, mqttString(topic)...), 1)); err != nil {
		return err
	}
	typ, ack, err := m.receive()
	if err == nil && (typ != 0x90 || len(ack) != 3 || !bytes.Equal(ack[:2], id) || ack[2] > 1) {
		err = fmt.Errorf("SUBSCRIBE %s: got packet %#x %x, want SUBACK granting QoS 1", topic, typ, ack)
	}
	return err
}

// publish publishes payload on topic at QoS 1 and waits for the broker's PUBACK.
func (m *mqttConn) publish(topic string, payload []byte) error {
	id := m.packetID()
	if err := m.send(0x32, append(append(mqttString(topic), id...), payload...)); err != nil {
		return err
	}
	typ, ack, err := m.receive()
	if err == nil && (typ != 0x40 || !bytes.Equal(ack, id)) {
		err = fmt.Errorf("PUBLISH: got packet %#x %x, want PUBACK %x", typ, ack, id)
	}
	return err
}

// message waits for a PUBLISH and acknowledges it.
func (m *mqttConn) message() (topic string, payload []byte, err error) {
	typ, body, err := m.receive()
	if err != nil {
		return "", nil, err
	}
	if typ>>4 != 3 || len(body) < 2 {
		return "", nil, fmt.Errorf("got packet %#x, want PUBLISH", typ)
	}
	n := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+n {
		return "", nil, errors.New("short PUBLISH")
	}
	topic, body = string(body[2:2+n]), body[2+n:]
	if qos := typ >> 1 & 3; qos > 0 {
		if len(body) < 2 {
			return "", nil, errors.New("short PUBLISH")
		}
		if err := m.send(0x40, body[:2]); err != nil {
			return "", nil, err
		}
		body = body[2:]
	}
	return topic, body, nil
}

func (m *mqttConn) close() {
	m.send(0xe0, nil) // DISCONNECT
	m.c.Close()
}

// ---- Tests ----

// device is a device of a tenant with a current certificate.
type device struct {
	id   string
	cert *x509.Certificate
	tls  *tls.Config
}

func issueDevice(t *testing.T, a *pki.Authority, tenantID ident.TenantID) device {
	t.Helper()
	id, key := newDevice(t)
	cert, _, err := a.IssueDevice(t.Context(), tenantID, id, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return device{id: string(id), cert: cert, tls: clientCert(cert, key)}
}

// connectAndPublish connects as d and publishes one message at QoS 1.
func connectAndPublish(b *broker, d device) error {
	m, err := mqttConnect(b, d.tls, "pub-"+d.id[:16])
	if err != nil {
		return err
	}
	defer m.close()
	return m.publish("devices/"+d.id+"/telemetry", []byte(`{"t":21.5}`))
}

// assertRefused checks that the broker refused d's certificate with the TLS alert that names
// the reason, rather than failing for some other cause.
func assertRefused(t *testing.T, b *broker, d device, alert string) {
	t.Helper()
	err := connectAndPublish(b, d)
	if err == nil {
		t.Fatal("the broker let the device in and took its message")
	}
	if !strings.Contains(err.Error(), "remote error: tls: "+alert) {
		t.Fatalf("refused with %q, want the TLS alert %q", err, alert)
	}
}

func TestMosquittoAcceptsDeviceCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tn := e.tenant(t, "acme")
	b := startBroker(t, bundle(t, e.ca, tn.ID))
	sensor, display := issueDevice(t, e.ca, tn.ID), issueDevice(t, e.ca, tn.ID)

	// The display subscribes, the sensor publishes: the message must arrive, proving the broker
	// took the sensor in as a client, not merely finished a handshake.
	sub, err := mqttConnect(b, display.tls, "sub-"+display.id[:16])
	if err != nil {
		t.Fatalf("display: %v", err)
	}
	defer sub.close()
	if err := sub.subscribe("devices/+/telemetry"); err != nil {
		t.Fatal(err)
	}
	if err := connectAndPublish(b, sensor); err != nil {
		t.Fatalf("sensor: %v", err)
	}
	topic, payload, err := sub.message()
	if err != nil {
		t.Fatalf("display received nothing: %v", err)
	}
	if topic != "devices/"+sensor.id+"/telemetry" || string(payload) != `{"t":21.5}` {
		t.Errorf("display received %q on %q", payload, topic)
	}
	// use_identity_as_username: the broker knows each client by its device ID.
	for _, d := range []device{sensor, display} {
		if !strings.Contains(b.Log(), "u'"+d.id+"'") {
			t.Errorf("the broker did not name a client by device ID %s", d.id)
		}
	}
}

func TestMosquittoRefusesOtherTenantsCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	b := startBroker(t, bundle(t, e.ca, acme.ID))
	// The control: the same broker lets acme's devices in.
	if err := connectAndPublish(b, issueDevice(t, e.ca, acme.ID)); err != nil {
		t.Fatalf("acme's device: %v", err)
	}
	assertRefused(t, b, issueDevice(t, e.ca, globex.ID), "unknown certificate authority")
	// A certificate naming acme, signed by a CA of its own making.
	id, key := newDevice(t)
	fakeCA, fakeKey := selfMadeCA(t, acme.ID)
	forged := sign(t, deviceTemplate(acme.ID, id), fakeCA, key.Public(), fakeKey)
	assertRefused(t, b, device{id: string(id), cert: forged, tls: clientCert(forged, key)}, "unknown certificate authority")
}

func TestMosquittoRefusesExpiredCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tn := e.tenant(t, "acme")
	twoDaysAgo := e.clock(-48 * time.Hour)
	expired := issueDevice(t, twoDaysAgo, tn.ID) // makes the tenant's CA, then a certificate
	if time.Now().Before(expired.cert.NotAfter) {
		t.Fatalf("certificate valid until %v: not expired", expired.cert.NotAfter)
	}
	b := startBroker(t, bundle(t, e.ca, tn.ID))
	if err := connectAndPublish(b, issueDevice(t, e.ca, tn.ID)); err != nil {
		t.Fatalf("current certificate of the same CA: %v", err)
	}
	assertRefused(t, b, expired, "expired certificate")
}

func TestMosquittoRefusesClientWithoutCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tn := e.tenant(t, "acme")
	b := startBroker(t, bundle(t, e.ca, tn.ID))
	if err := connectAndPublish(b, issueDevice(t, e.ca, tn.ID)); err != nil {
		t.Fatalf("device certificate: %v", err)
	}
	m, err := mqttConnect(b, &tls.Config{}, "anonymous")
	if err == nil {
		m.close()
		t.Fatal("the broker let in a client without a certificate")
	}
	if !strings.Contains(err.Error(), "remote error: tls: certificate required") {
		t.Fatalf("refused with %q, want the TLS alert %q", err, "certificate required")
	}
}

func TestMosquittoAfterRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tn := e.tenant(t, "acme")
	before := issueDevice(t, e.ca, tn.ID)
	oldBroker := startBroker(t, bundle(t, e.ca, tn.ID))
	e.rotate(t, e.ca, tn.ID)
	after := issueDevice(t, e.ca, tn.ID)

	// A broker still holding the old bundle does not know the new CA yet...
	if err := connectAndPublish(oldBroker, before); err != nil {
		t.Fatalf("old bundle, certificate from before rotation: %v", err)
	}
	assertRefused(t, oldBroker, after, "unknown certificate authority")
	// ...and once given the new bundle, it takes devices of both CAs.
	newBroker := startBroker(t, bundle(t, e.ca, tn.ID))
	for name, d := range map[string]device{"before rotation": before, "after rotation": after} {
		if err := connectAndPublish(newBroker, d); err != nil {
			t.Errorf("new bundle, certificate from %s: %v", name, err)
		}
	}
}
