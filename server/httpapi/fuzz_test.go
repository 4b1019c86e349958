package httpapi_test

import (
	"net/http"
	"testing"
)

// fuzzRoute feeds arbitrary bodies to one route: every answer must be a success or a 4xx, never a
// 5xx, and a refused body must leave the audit log as it was.
func fuzzRoute(f *testing.F, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	w := newWorld(f, "sqlite")
	f.Fuzz(func(t *testing.T, body []byte) {
		w.t = t
		_, before := w.do(readerA, "GET", "/api/v1/audit?limit=1000", nil)
		status, resp := w.do(adminA, "POST", path, body)
		if status >= 500 {
			t.Fatalf("body %q: %d %s", body, status, resp)
		}
		if status >= 400 {
			if _, after := w.do(readerA, "GET", "/api/v1/audit?limit=1000", nil); after != before {
				t.Fatalf("a refused body (%d %s) changed the audit log", status, resp)
			}
		}
		if status == http.StatusOK {
			t.Fatalf("POST answered 200, want 201 or 4xx")
		}
	})
}

func FuzzClaimDevices(f *testing.F) {
	fuzzRoute(f, "/api/v1/devices/claim",
		`{"device_ids":["`+string(deviceID(1))+`"]}`,
		`{"device_ids":[]}`, `{"device_ids":null}`, `{"device_ids":["x"]}`, `{}`, `[`, `{"device_ids":[1]}`)
}

func FuzzCreateProduct(f *testing.F) {
	fuzzRoute(f, "/api/v1/products",
		`{"name":"Kettle"}`, `{"name":"Kettle","description":"hot"}`, `{"name":""}`, `{"name":"a","x":1}`, `null`)
}

func FuzzCreateDeployment(f *testing.F) {
	const id = "3b281487-76e6-4106-b386-a20f6cc0455d"
	fuzzRoute(f, "/api/v1/deployments",
		`{"device_group_id":"`+id+`","image_ids":["`+id+`"]}`,
		`{"device_group_id":"`+id+`","image_ids":["`+id+`"],"waves":[1,10,100],"wave_wait_seconds":3600,"max_failure_percent":5,"min_devices":20,"rollback_on_halt":true}`,
		`{"device_group_id":"`+id+`","image_ids":["`+id+`"],"waves":[100,1]}`,
		`{"waves":[1e300],"max_failure_percent":-1e308}`, `{"min_devices":3}`, `{"waves":null}`)
}
