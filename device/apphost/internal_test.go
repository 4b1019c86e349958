package apphost

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAllowedConnection(t *testing.T) {
	entries := []string{"mqtt.example.com:8883", "api.example.com", "10.0.0.1:80", "[2001:db8::1]:443", "2001:db8::2", "Upper.Example.COM."}
	cases := []struct {
		host string
		port int
		want bool
	}{
		{"mqtt.example.com", 8883, true},
		{"MQTT.example.com.", 8883, true},
		{"mqtt.example.com", 1883, false}, // host:port allows that port only
		{"api.example.com", 1, true},      // a bare host allows any port
		{"api.example.com", 65535, true},
		{"example.com", 443, false},
		{"evil.api.example.com", 443, false},
		{"api.example.com.evil.net", 443, false},
		{"10.0.0.1", 80, true},
		{"10.0.0.1", 81, false},
		{"010.0.0.1", 80, false}, // not an IP address to Go, and not the name listed
		{"2001:db8::1", 443, true},
		{"[2001:db8::1]", 443, true},
		{"2001:db8:0::1", 443, true}, // the same address
		{"2001:db8::1", 80, false},
		{"2001:db8::2", 9, true},
		{"upper.example.com", 1, true},
		{"", 80, false},
		{"api.example.com:80", 80, false},
		{"api.example.com/x", 80, false},
		{"api.example.com\x00", 80, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s:%d", c.host, c.port), func(t *testing.T) {
			if got := allowedConnection(entries, c.host, c.port); got != c.want {
				t.Errorf("allowedConnection(%q, %d) = %v, want %v", c.host, c.port, got, c.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for range 11 {
		d = nextBackoff(d, time.Second)
		got = append(got, d)
	}
	want := "[1s 2s 4s 8s 16s 32s 1m4s 2m8s 4m16s 5m0s 5m0s]"
	if fmt.Sprint(got) != want {
		t.Errorf("backoffs %v, want %s", got, want)
	}
	if d := nextBackoff(maxBackoff, healthyAfter); d != minBackoff {
		t.Errorf("after a healthy run: %s, want %s", d, minBackoff)
	}
	if d := nextBackoff(4*time.Second, healthyAfter-time.Second); d != 8*time.Second {
		t.Errorf("after a short run: %s, want 8s", d)
	}
}

func TestAppLogIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "applogs", "x.log")
	l := newAppLog(path, time.Now)
	l.max = 4096
	for i := range 1000 {
		l.line("INFO", fmt.Sprintf("line %d", i))
	}
	l.line("INFO", strings.Repeat("y", 10000)) // one line larger than the whole log
	l.line("INFO", "last")
	l.close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 4096 {
		t.Errorf("log is %d bytes, over its 4096", len(b))
	}
	if !strings.HasSuffix(string(b), " INFO: last\n") {
		t.Errorf("the newest line is lost: ...%q", b[max(0, len(b)-100):])
	}
	if strings.Contains(string(b), "line 0\n") {
		t.Error("the oldest lines were kept")
	}
}

func TestStreamFindsPanicLine(t *testing.T) {
	l := newAppLog(filepath.Join(t.TempDir(), "x.log"), time.Now)
	defer l.close()
	s := &stream{log: l, source: "stderr"}
	fmt.Fprint(s, "starting\npan")
	fmt.Fprint(s, "ic: boom\x00\n\ngoroutine 1 [running]:\npanic: second")
	if got := s.flush(); got != `panic: boom\x00` {
		t.Errorf("panic line %q", got)
	}
}

// TestInterfaceRecordsAreBounded: net_interfaces gives at most MaxInterfaces records, leaves
// out names an app could not hold or print, and hardware addresses too long for a record.
func TestInterfaceRecordsAreBounded(t *testing.T) {
	var ifs []NetInterface
	for _, name := range []string{"", "name-of-sixteen!", "tab\tname", "é0"} {
		ifs = append(ifs, NetInterface{Name: name, Up: true})
	}
	ifs = append(ifs, NetInterface{Name: "ib0", Up: true, Connected: true, HardwareAddr: make([]byte, 20)})
	for i := range 40 {
		ifs = append(ifs, NetInterface{Name: fmt.Sprintf("eth%d", i), Up: true, Connected: true, HasIP: true,
			HardwareAddr: []byte{2, 0, 0, 0, 0, byte(i)}})
	}
	recs := interfaceRecords(ifs, false)
	if len(recs) != MaxInterfaces {
		t.Fatalf("%d records, want %d", len(recs), MaxInterfaces)
	}
	if got := string(bytes.TrimRight(recs[0][:16], "\x00")); got != "ib0" || recs[0][18] != 0 || recs[0][17] != mediumUnspecified {
		t.Errorf("first record %q %v: want ib0 without its 20-byte address", got, recs[0])
	}
	if r := recs[1]; string(bytes.TrimRight(r[:16], "\x00")) != "eth0" || r[16] != netifUp|netifConnected|netifIP ||
		r[17] != mediumEthernet || r[18] != 6 || r[25] != 0 {
		t.Errorf("eth0's record %v", r)
	}
	if r := interfaceRecords(ifs[5:6], true)[0]; r[16] != netifUp|netifConnected|netifIP|netifInternet {
		t.Errorf("with the service reached, eth0's status is %#x", r[16])
	}
}

// FuzzOpenStorageFile: opening never panics, and what opens is what was sealed.
func FuzzOpenStorageFile(f *testing.F) {
	key := bytes.Repeat([]byte{1}, 32)
	sealed, _ := sealFile(key, "c", "n", []byte("data"))
	f.Add(sealed)
	f.Add([]byte("plain"))
	f.Add([]byte(sealMagic))
	f.Add(sealed[:SealOverhead-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := openFile(key, "c", "n", b)
		if err != nil {
			return
		}
		again, _ := sealFile(key, "c", "n", data)
		if back, err := openFile(key, "c", "n", again); err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip: %q, %v", back, err)
		}
	})
}
