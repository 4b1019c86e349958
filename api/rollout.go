package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// Rollouts (DESIGN section 7). A deployment with waves reaches its device group's devices in
// steps: each device falls in one of RolloutBins bins, drawn from its device ID and the
// deployment ID ([RolloutBin]), and a wave of P percent covers the bins 0 to P-1. The group's
// TUF repository delegates each bin to its own targets role ([BinRole]), whose targets are the
// new deployment's images for the bins of the waves reached so far and the previous
// deployment's for the others (RATIONALE.md, "Rollout waves as delegated bin roles").

// RolloutBins is how many bins a rollout splits a group's devices into: one per percent.
const RolloutBins = 100

// Rollout limits.
const (
	MaxWaves      = 10
	MaxWaveWait   = 30 * 24 * time.Hour
	MaxMinDevices = 1_000_000
)

// RolloutBin returns the bin of a device in a deployment's rollout: HMAC-SHA256 keyed with the
// deployment ID over the device ID, its first 8 bytes taken modulo RolloutBins. The deployment
// ID is a random UUID, so which devices come first cannot be known before the deployment
// exists, differs from one deployment to the next, and is spread evenly (the modulo's bias is
// below 1e-17).
func RolloutBin(deployment ident.DeploymentID, device ident.DeviceID) int {
	m := hmac.New(sha256.New, []byte("rampart rollout bin\x00"+string(deployment)))
	m.Write([]byte(device))
	return int(binary.BigEndian.Uint64(m.Sum(nil)[:8]) % RolloutBins)
}

// BinRole is the name of the delegated TUF targets role of a rollout bin: "bin-00" to "bin-99".
func BinRole(bin int) string { return fmt.Sprintf("bin-%02d", bin) }

// BinTargetPrefix is what the name of every target of a bin's role starts with: the role is
// trusted for "bins/NN/*" alone, so a bin's metadata served as another's names targets no
// device of that other bin accepts.
func BinTargetPrefix(bin int) string { return fmt.Sprintf("bins/%02d/", bin) }

// ParseBinRole returns the bin of a bin role's name, and whether name is one.
func ParseBinRole(name string) (int, bool) {
	if len(name) != 6 || name[:4] != "bin-" || name[4] < '0' || name[4] > '9' || name[5] < '0' || name[5] > '9' {
		return 0, false
	}
	return int(name[4]-'0')*10 + int(name[5]-'0'), true
}

// TargetsRolloutField is the field of a group's top-level targets metadata that names the
// deployment being rolled out, when its targets are delegated to bin roles. It is signed with
// the rest of the targets metadata.
const TargetsRolloutField = "rampart_rollout"

// TargetsUrgentField, true in a group's top-level targets metadata (signed), says that the
// deployment it serves is urgent: devices install it outside their maintenance window too.
const TargetsUrgentField = "rampart_urgent"

// RolloutMeta is the value of TargetsRolloutField.
type RolloutMeta struct {
	DeploymentID string `json:"deployment_id"`
	Bins         int    `json:"bins"`
}

// Rollout states.
const (
	RolloutRolling   = "rolling"   // waves are promoted as their health gates pass
	RolloutPaused    = "paused"    // stopped by an administrator; resume goes on
	RolloutHalted    = "halted"    // stopped by a health gate; resume goes on
	RolloutComplete  = "complete"  // every device is targeted: the group's deployment
	RolloutCancelled = "cancelled" // ended: the group is back to the previous deployment
)

// Rollout is how a deployment reaches its group: all at once (no waves, state complete) or in
// waves.
type Rollout struct {
	State string `json:"state"`
	// Waves are the cumulative percentages of the group's devices of each wave, the last 100;
	// empty for a deployment without waves.
	Waves []int `json:"waves,omitempty"`
	// Wave is the index in Waves of the wave reached.
	Wave            int       `json:"wave"`
	WaveStartedAt   time.Time `json:"wave_started_at"`
	WaveWaitSeconds int64     `json:"wave_wait_seconds,omitempty"`
	MaxFailure      float64   `json:"max_failure_percent,omitempty"`
	MinDevices      int       `json:"min_devices,omitempty"`
	RollbackOnHalt  bool      `json:"rollback_on_halt,omitempty"`
	// PreviousID is the deployment the group had when this one was made: what devices outside
	// the waves keep, and what the group goes back to on cancel (or on halt, with
	// RollbackOnHalt). Empty when there was none.
	PreviousID ident.DeploymentID `json:"previous_deployment_id,omitempty"`
	Reason     string             `json:"reason,omitempty"` // why it halted, paused or was cancelled
	ChangedAt  time.Time          `json:"changed_at"`
	// Revision grows with every change of the rollout.
	Revision int64 `json:"revision"`
}

// Percent is the share of the group's devices the rollout targets now.
func (r Rollout) Percent() int {
	switch {
	case r.State == RolloutCancelled:
		return 0
	case len(r.Waves) == 0 || r.State == RolloutComplete:
		return 100
	case r.State == RolloutHalted && r.RollbackOnHalt:
		return 0
	}
	return r.Waves[min(r.Wave, len(r.Waves)-1)]
}

// WaveStatus is what `deployment show` reports of one wave: its devices (the group's devices
// in its bins, not in an earlier wave's), how many report the deployment installed, how many
// report a failed or rolled-back update since the deployment was made, and how many crashes
// of the deployment's images they reported.
type WaveStatus struct {
	Percent  int  `json:"percent"`
	Reached  bool `json:"reached"`
	Targeted int  `json:"targeted"`
	Updated  int  `json:"updated"`
	Failed   int  `json:"failed"`
	Crashes  int  `json:"crashes"`
}

// DeploymentStatus is `deployment show`'s answer: the deployment and its waves' progress.
type DeploymentStatus struct {
	Deployment
	Waves []WaveStatus `json:"waves"`
}

// Rollout actions: POST /api/v1/deployments/{id}/{action}.
const (
	RolloutPause   = "pause"
	RolloutResume  = "resume"
	RolloutCancel  = "cancel"
	RolloutPromote = "promote"
)
