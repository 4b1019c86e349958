// Package mqtt is a minimal MQTT 3.1.1 client for Rampart apps: CONNECT, PUBLISH at QoS 0 or 1,
// PINGREQ and DISCONNECT (OASIS MQTT Version 3.1.1, section 3), over any io.ReadWriter — in an
// app, an [sdk.Conn] from [sdk.DialTLS], so the host does the TLS and the device certificate
// authenticates the device to the broker.
//
// It has no subscriptions, no retries and no goroutines: each call writes its packet and, where
// the protocol answers, reads until the answer. Set a read timeout on the connection to bound
// the wait.
//
// [sdk.Conn]: github.com/rampart-iot/rampart/sdk.Conn
// [sdk.DialTLS]: github.com/rampart-iot/rampart/sdk.DialTLS
package mqtt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Packet types (section 2.2.1).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typePingreq    = 12
	typePingresp   = 13
	typeDisconnect = 14
)

// MaxPacket bounds what the client reads from the broker.
const MaxPacket = 64 << 10

// Options are the CONNECT packet's fields.
type Options struct {
	ClientID  string        // may be empty: the broker then assigns one (needs a clean session)
	KeepAlive time.Duration // 0 turns keep-alive off; else whole seconds, at most 18 h
	Username  string        // optional
	Password  []byte        // optional; needs Username
}

// Client is a connected MQTT session.
type Client struct {
	w      io.Writer
	r      *bufio.Reader
	nextID uint16
}

// ConnectError is the broker's refusal of a CONNECT (section 3.2.2.3).
type ConnectError byte

func (e ConnectError) Error() string {
	reasons := [...]string{1: "unacceptable protocol version", 2: "client identifier rejected",
		3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}
	if int(e) < len(reasons) && reasons[e] != "" {
		return "mqtt: connection refused: " + reasons[e]
	}
	return fmt.Sprintf("mqtt: connection refused: code %d", byte(e))
}

// Connect sends CONNECT with a clean session over rw and waits for the broker's CONNACK.
func Connect(rw io.ReadWriter, opt Options) (*Client, error) {
	if opt.Password != nil && opt.Username == "" {
		return nil, errors.New("mqtt: a password needs a user name")
	}
	if len(opt.ClientID) > 65535 || len(opt.Username) > 65535 || len(opt.Password) > 65535 {
		return nil, errors.New("mqtt: client ID, user name or password over 65535 bytes")
	}
	ka := opt.KeepAlive / time.Second
	if ka < 0 || ka > 65535 {
		return nil, errors.New("mqtt: keep-alive out of range")
	}
	flags := byte(0x02) // clean session
	var payload []byte
	payload = appendString(payload, opt.ClientID)
	if opt.Username != "" {
		flags |= 0x80
		payload = appendString(payload, opt.Username)
	}
	if opt.Password != nil {
		flags |= 0x40
		payload = appendBytes(payload, opt.Password)
	}
	body := appendString(nil, "MQTT")
	body = append(body, 4, flags) // protocol level 4 is 3.1.1
	body = binary.BigEndian.AppendUint16(body, uint16(ka))
	body = append(body, payload...)

	c := &Client{w: rw, r: bufio.NewReader(rw), nextID: 1}
	if err := c.write(typeConnect<<4, body); err != nil {
		return nil, err
	}
	typ, ack, err := c.read()
	if err != nil {
		return nil, err
	}
	if typ>>4 != typeConnack || len(ack) != 2 {
		return nil, fmt.Errorf("mqtt: expected CONNACK, got packet type %d", typ>>4)
	}
	if ack[1] != 0 {
		return nil, ConnectError(ack[1])
	}
	return c, nil
}

// Publish sends payload to topic. At QoS 1 it waits for the broker's PUBACK; at QoS 0 it
// returns once the packet is written.
func (c *Client) Publish(topic string, payload []byte, qos byte, retain bool) error {
	if qos > 1 {
		return errors.New("mqtt: only QoS 0 and 1 are supported")
	}
	if topic == "" || len(topic) > 65535 {
		return errors.New("mqtt: invalid topic")
	}
	hdr := byte(typePublish<<4) | qos<<1
	if retain {
		hdr |= 1
	}
	body := appendString(nil, topic)
	id := c.nextID
	if qos == 1 {
		body = binary.BigEndian.AppendUint16(body, id)
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
	}
	body = append(body, payload...)
	if err := c.write(hdr, body); err != nil {
		return err
	}
	if qos == 0 {
		return nil
	}
	for {
		typ, b, err := c.read()
		if err != nil {
			return err
		}
		if typ>>4 == typePuback && len(b) == 2 && binary.BigEndian.Uint16(b) == id {
			return nil
		}
		// PINGRESP or a late PUBACK: not ours, keep waiting.
	}
}

// Ping sends PINGREQ and waits for PINGRESP.
func (c *Client) Ping() error {
	if err := c.write(typePingreq<<4, nil); err != nil {
		return err
	}
	for {
		typ, _, err := c.read()
		if err != nil {
			return err
		}
		if typ>>4 == typePingresp {
			return nil
		}
	}
}

// Disconnect sends DISCONNECT; the caller then closes the connection.
func (c *Client) Disconnect() error { return c.write(typeDisconnect<<4, nil) }

// write sends one packet: the fixed header, the remaining length and the body.
func (c *Client) write(hdr byte, body []byte) error {
	if len(body) > 268435455 {
		return errors.New("mqtt: packet too large")
	}
	pkt := append([]byte{hdr}, appendLength(nil, len(body))...)
	pkt = append(pkt, body...)
	_, err := c.w.Write(pkt)
	return err
}

// read reads one packet, refusing one over MaxPacket.
func (c *Client) read() (hdr byte, body []byte, err error) {
	hdr, err = c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("mqtt: malformed remaining length")
		}
		mult *= 128
	}
	if n > MaxPacket {
		return 0, nil, fmt.Errorf("mqtt: packet of %d bytes is over the limit", n)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return hdr, body, nil
}

// appendLength encodes a remaining length (section 2.2.3).
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
