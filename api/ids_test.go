package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// TestIDsEncodeAsStrings checks that the ID types of package ident leave the wire form as it
// was: plain JSON strings, in and out.
func TestIDsEncodeAsStrings(t *testing.T) {
	d := api.Deployment{ID: "d1", TenantID: "t1", GroupID: "g1", GroupName: "P/G",
		ImageIDs: []ident.ImageID{"i1", "i2"}, CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), CreatedBy: "a@b"}
	const want = `{"id":"d1","tenant_id":"t1","device_group_id":"g1","device_group_name":"P/G","image_ids":["i1","i2"],"created_at":"2025-01-02T03:04:05Z","created_by":"a@b"}`
	got, err := json.Marshal(d)
	if err != nil || string(got) != want {
		t.Fatalf("Marshal = %s, %v; want %s", got, err, want)
	}
	var back api.Deployment
	if err := json.Unmarshal(got, &back); err != nil || back.ID != d.ID || back.GroupID != d.GroupID || back.ImageIDs[1] != "i2" {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", back, err, d)
	}
}
