package mqtt

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestConnectPublish checks the bytes on the wire against the examples of the MQTT 3.1.1
// specification's packet layouts, with a broker played by the test.
func TestConnectPublish(t *testing.T) {
	client, broker := net.Pipe()
	defer client.Close()
	defer broker.Close()
	broker.SetDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() {
		c, err := Connect(client, Options{ClientID: "dev", KeepAlive: 60 * time.Second, Username: "u", Password: []byte("p")})
		if err != nil {
			done <- err
			return
		}
		if err := c.Publish("a/b", []byte("hi"), 0, false); err != nil {
			done <- err
			return
		}
		if err := c.Publish("a/b", []byte("hi"), 1, true); err != nil {
			done <- err
			return
		}
		done <- c.Disconnect()
	}()
	expect := func(wantHex string) {
		t.Helper()
		want, _ := hex.DecodeString(wantHex)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(broker, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got % x, want % x", got, want)
		}
	}
	// CONNECT: protocol "MQTT" level 4, flags user+password+clean, keep-alive 60.
	expect("1015" + "00044d515454" + "04" + "c2" + "003c" + "0003646576" + "000175" + "000170")
	broker.Write([]byte{0x20, 2, 0, 0})             // CONNACK accepted
	expect("3007" + "0003612f62" + "6869")          // PUBLISH QoS 0
	expect("3309" + "0003612f62" + "0001" + "6869") // PUBLISH QoS 1, retain, id 1
	broker.Write([]byte{0xd0, 0})                   // a PINGRESP first: skipped
	broker.Write([]byte{0x40, 2, 0, 1})             // PUBACK 1
	expect("e000")                                  // DISCONNECT
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConnectRefused(t *testing.T) {
	client, broker := net.Pipe()
	defer client.Close()
	go func() {
		io.CopyN(io.Discard, broker, 17) // the CONNECT
		broker.Write([]byte{0x20, 2, 0, 5})
		broker.Close()
	}()
	_, err := Connect(client, Options{ClientID: "dev"})
	var ce ConnectError
	if !errors.As(err, &ce) || ce != 5 || err.Error() != "mqtt: connection refused: not authorized" {
		t.Errorf("got %v", err)
	}
}

func TestMalformedAnswers(t *testing.T) {
	for name, answer := range map[string][]byte{
		"not a CONNACK":   {0x30, 2, 0, 0},
		"length too long": {0x20, 0xff, 0xff, 0xff, 0xff, 0x01},
		"over MaxPacket":  {0x20, 0x80, 0x80, 0x10},
		"truncated":       {0x20, 2, 0},
		"nothing":         {},
	} {
		t.Run(name, func(t *testing.T) {
			client, broker := net.Pipe()
			defer client.Close()
			go func() {
				io.CopyN(io.Discard, broker, 17) // the CONNECT
				broker.Write(answer)
				broker.Close()
			}()
			if _, err := Connect(client, Options{ClientID: "dev"}); err == nil {
				t.Error("Connect succeeded")
			}
		})
	}
}

func TestRemainingLength(t *testing.T) {
	// Section 2.2.3's boundaries.
	for n, want := range map[int]string{0: "00", 127: "7f", 128: "8001", 16383: "ff7f", 16384: "808001", 268435455: "ffffff7f"} {
		if got := hex.EncodeToString(appendLength(nil, n)); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
}

// FuzzRead feeds the packet reader what a hostile broker might send: it must return a packet
// within MaxPacket or an error, never panic or over-allocate.
func FuzzRead(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add([]byte{0x40, 2, 0, 1})
	f.Add([]byte{0x20, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0x80, 0x80, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &Client{r: bufio.NewReader(bytes.NewReader(b))}
		for {
			_, body, err := c.read()
			if err != nil {
				return
			}
			if len(body) > MaxPacket {
				t.Fatalf("a packet of %d bytes", len(body))
			}
		}
	})
}
