package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/rampart-iot/rampart/api"
)

// FuzzUpdateReport feeds arbitrary bodies to the update report's decoding and validation: no
// panic, and a report accepted once is accepted again, unchanged, after encoding it.
func FuzzUpdateReport(f *testing.F) {
	for _, s := range []string{
		`{"result":"ok"}`,
		`{"installed":[{"image_id":"0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f","component_id":"5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b","name":"Blinky","version":"1.0.0","type":"application"}],"result":"failed","message":"no space\nleft","at":"2026-01-01T00:00:00Z"}`,
		`{"installed":[{"image_id":"x","type":"runtime","slot":"c"}],"result":"rolled_back"}`,
		`{"result":"ok","result":"failed"}`, `{"result":"ok"} {}`, `[]`, ``, `{"installed":null,"result":"ok"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", api.DevicePathUpdateReport, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var rep api.UpdateReport
		if err := decode(httptest.NewRecorder(), r, &rep); err != nil {
			return
		}
		if err := validateReport(&rep); err != nil {
			return
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var again api.UpdateReport
		r = httptest.NewRequest("POST", "/", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		if err := decode(httptest.NewRecorder(), r, &again); err != nil {
			t.Fatalf("an accepted report does not decode again: %v\n%s", err, b)
		}
		if err := validateReport(&again); err != nil {
			t.Fatalf("an accepted report is refused the second time: %v\n%s", err, b)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("a report changed on the second pass:\n%s\n%s", b, b2)
		}
	})
}
