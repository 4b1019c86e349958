package console

import (
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
)

func TestSummariseCountsStatesReasonsAndRuntimes(t *testing.T) {
	sha := func(c byte) string {
		b := make([]byte, 128)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	d := summarise([]api.FleetCount{
		{GroupID: "g1", ProductName: "P", GroupName: "A", AttestResult: api.AttestPass, RuntimeSHA512: sha('a'), RuntimeVersions: []string{"Retail 1.0"}, Devices: 5},
		{GroupID: "g2", ProductName: "P", GroupName: "B", AttestResult: api.AttestPass, RuntimeSHA512: sha('a'), RuntimeVersions: []string{"Retail 1.0"}, Devices: 2},
		{GroupID: "g2", ProductName: "P", GroupName: "B", AttestResult: api.AttestPass, RuntimeSHA512: sha('b'), RuntimeVersions: []string{}, Devices: 1},
		{GroupID: "g1", ProductName: "P", GroupName: "A", AttestResult: api.AttestFail, AttestReason: "runtime-unknown", Devices: 3},
		{GroupID: "g1", ProductName: "P", GroupName: "A", AttestResult: api.AttestFail, AttestReason: "revoked", Devices: 1},
		{AttestResult: "", Devices: 4},
	})
	if d.Total != 16 || d.Passing != 8 || d.FailingN != 4 || d.Never != 4 {
		t.Errorf("totals %+v", d)
	}
	want := []count{{Key: "g1", Label: "P/A", N: 9}, {Key: "", Label: "(no group)", N: 4}, {Key: "g2", Label: "P/B", N: 3}}
	for i, w := range want {
		if i >= len(d.Groups) || d.Groups[i].Label != w.Label || d.Groups[i].N != w.N {
			t.Errorf("groups %+v, want %+v", d.Groups, want)
			break
		}
	}
	if len(d.Failing) != 2 || d.Failing[0].Label != "runtime-unknown" || d.Failing[0].N != 3 || d.Failing[1].N != 1 {
		t.Errorf("failing %+v", d.Failing)
	}
	if len(d.Runtimes) != 2 || d.Runtimes[0].Label != "Retail 1.0" || d.Runtimes[0].N != 7 ||
		d.Runtimes[1].Label != "unpublished runtime bbbbbbbbbbbb…" || d.Runtimes[1].N != 1 {
		t.Errorf("runtimes %+v", d.Runtimes)
	}
}

// TestDeploymentsPageShowsRolloutState: a deployment in waves shows its state, the wave it
// reached and why it stopped; one without waves says it went to every device at once.
func TestDeploymentsPageShowsRolloutState(t *testing.T) {
	pages := parsePages()
	ds := []api.Deployment{
		{ID: "d1", GroupName: "Toaster/Fleet", Rollout: &api.Rollout{State: api.RolloutHalted, Waves: []int{50, 100},
			Reason: "3 of 3 devices failed or crashed"}},
		{ID: "d2", GroupName: "Toaster/Production", Rollout: &api.Rollout{State: api.RolloutComplete}},
	}
	var b strings.Builder
	err := pages["deployments"].ExecuteTemplate(&b, "layout", page{Title: "Deployments", Data: deploymentsData{Deployments: ds}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<span class="tag">halted</span> wave 1 of 2, 50% of the devices: 3 of 3 devices failed or crashed`, "all at once"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the page lacks %q:\n%s", want, b.String())
		}
	}
}
