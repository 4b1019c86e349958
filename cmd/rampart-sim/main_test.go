package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/internal/devserver"
)

// devEnv starts a --dev service and returns its settings as dev.env names them.
func devEnv(t *testing.T) map[string]string {
	t.Helper()
	s := devserver.Start(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CA, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"RAMPART_SERVER": s.URL, "RAMPART_TOKEN": s.Token, "RAMPART_CACERT": ca}
}

// TestJSONSummaryShape: --output json prints one object with the run's settings and, for each
// operation, its counts, rate, percentiles and errors by kind.
func TestJSONSummaryShape(t *testing.T) {
	env := devEnv(t)
	var out, errOut strings.Builder
	code := run([]string{"--server", env["RAMPART_SERVER"], "--token", env["RAMPART_TOKEN"], "--cacert", env["RAMPART_CACERT"],
		"--devices", "3", "--concurrency", "2", "--scenario", "checkin", "--output", "json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr not quiet when it is not a terminal: %q", errOut.String())
	}
	var sum map[string]any
	dec := json.NewDecoder(strings.NewReader(out.String()))
	if err := dec.Decode(&sum); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object (%v): %s", err, out.String())
	}
	for _, k := range []string{"server", "devices", "concurrency", "scenario", "operations"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary without %q", k)
		}
	}
	ops, _ := sum["operations"].([]any)
	names := map[string]bool{}
	for _, o := range ops {
		row, _ := o.(map[string]any)
		for _, k := range []string{"operation", "ok", "errors", "seconds", "per_second", "p50_ms", "p99_ms", "mean_ms", "errors_by_kind"} {
			if _, ok := row[k]; !ok {
				t.Errorf("operation %v without %q", row["operation"], k)
			}
		}
		if _, ok := row["errors_by_kind"].(map[string]any); !ok {
			t.Errorf("operation %v: errors_by_kind is not an object", row["operation"])
		}
		names[row["operation"].(string)] = true
	}
	for _, want := range []string{"claim", "attest", "checkin"} {
		if !names[want] {
			t.Errorf("no %s operation in %s", want, out.String())
		}
	}
}

func TestSettingsRequired(t *testing.T) {
	for _, k := range []string{"RAMPART_SERVER", "RAMPART_TOKEN", "RAMPART_CACERT"} {
		t.Setenv(k, "")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no service address"},
		{[]string{"--server", "https://127.0.0.1:1"}, "no API token"},
		{[]string{"--server", "https://127.0.0.1:1", "--token", "x"}, "no service CA"},
		{[]string{"--server", "https://127.0.0.1:1", "--token", "x", "--cacert", "/nonexistent"}, "read CA certificate"},
	} {
		var out, errOut strings.Builder
		if code := run(c.args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}
