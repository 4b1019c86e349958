package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) deploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Deploy images to device groups"}
	cmd.AddCommand(e.addOutput(e.deploymentCreateCmd()), e.addOutput(e.deploymentListCmd()),
		e.addOutput(e.deploymentShowCmd()))
	for _, c := range []struct{ action, short string }{
		{api.RolloutPause, "Pause a rollout: no wave is promoted until it is resumed"},
		{api.RolloutResume, "Resume a paused or halted rollout; the wave's wait starts again"},
		{api.RolloutCancel, "Cancel a rollout: every device of the group goes back to the previous deployment"},
		{api.RolloutPromote, "Promote a rollout to its next wave now, whatever its wait and health gate"},
	} {
		cmd.AddCommand(e.addOutput(e.deploymentControlCmd(c.action, c.short)))
	}
	return cmd
}

func (e *env) deploymentCreateCmd() *cobra.Command {
	var group string
	var images []string
	var r rolloutFlags
	var urgent bool
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		g, err := findGroup(ctx, c, group)
		if err != nil {
			return err
		}
		req := api.CreateDeploymentRequest{DeviceGroupID: g.ID, ImageIDs: imageIDs(images), Urgent: urgent}
		if err := r.apply(&req); err != nil {
			return err
		}
		d, err := c.CreateDeployment(ctx, req)
		if err != nil {
			return err
		}
		return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
	})
	cmd := &cobra.Command{
		Use:   "create --device-group PRODUCT/GROUP --images ID[,ID...] [--waves 1%,10%,100% ...]",
		Short: "Deploy images to a device group: its devices converge to its newest deployment",
		Long: "Deploy up to 10 application images, one of each component, to a device group. The\n" +
			"group's newest deployment is what its devices converge to: they install what they lack\n" +
			"and remove the apps no longer deployed. Needs the Administrator role.\n\n" +
			"With --waves the deployment rolls out in waves of the group's devices (the last 100%),\n" +
			"each device's wave drawn from its ID and the deployment's; the others keep the previous\n" +
			"deployment. A wave is promoted after --wave-wait if, among its devices that have had the\n" +
			"deployment that long, at most --max-failure failed to install, rolled back or crashed an\n" +
			"app of the deployment, with at least --min-devices counted; otherwise the rollout halts,\n" +
			"and with --rollback-on-halt its devices go back to the previous deployment. Follow it\n" +
			"with 'rampart deployment show ID'; steer it with pause, resume, promote and cancel.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(images) == 0 {
				return usage.Errorf("give the images to deploy with --images ID[,ID...]")
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringVar(&group, "device-group", "", "the device group, Product/Group or ID")
	cmd.Flags().StringSliceVar(&images, "images", nil, "the image IDs, comma-separated (at most 10)")
	r.add(cmd)
	cmd.Flags().BoolVar(&urgent, "urgent", false, "devices install it at once, outside their group's maintenance window too")
	cmd.MarkFlagRequired("device-group")
	cmd.MarkFlagRequired("images")
	return cmd
}

func (e *env) deploymentListCmd() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "list [--device-group PRODUCT/GROUP]",
		Short: "List deployments, newest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			var groupID ident.GroupID
			if group != "" {
				g, err := findGroup(ctx, c, group)
				if err != nil {
					return err
				}
				groupID = g.ID
			}
			ds, err := c.Deployments(ctx, groupID)
			if err != nil {
				return err
			}
			return e.print(ds, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tDEVICE GROUP\tIMAGES\tSTATE\tCREATED\tCREATED BY")
				for _, d := range ds {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, d.GroupName, len(d.ImageIDs), rolloutState(d.Rollout),
						d.CreatedAt.Format(time.RFC3339), d.CreatedBy)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&group, "device-group", "", "only this group's deployments (Product/Group or ID)")
	return cmd
}

func (e *env) deploymentShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a deployment and how far its rollout went: state, and each wave's devices",
		Long: "Show a deployment and its rollout: its state (rolling, paused, halted, complete or\n" +
			"cancelled) and why, the wave reached, and for each wave the group's devices in it, how many\n" +
			"report the deployment installed, how many report a failed or rolled-back update since it was\n" +
			"made, and how many crashes of its images they reported.",
		Args: cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.DeploymentStatus(ctx, ident.DeploymentID(args[0]))
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) {
				deploymentTable(w, d.Deployment)
				wavesTable(w, d)
			})
		}),
	}
}

// deploymentControlCmd is `deployment pause|resume|cancel|promote ID`.
func (e *env) deploymentControlCmd(action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: short,
		Long:  short + ". Needs the Administrator role; audited.",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.ControlDeployment(ctx, ident.DeploymentID(args[0]), action)
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deploymentTable(w, d) })
		}),
	}
}

func deploymentTable(w io.Writer, d api.Deployment) {
	fmt.Fprintf(w, "ID\t%s\nDevice group\t%s\nCreated\t%s by %s\n", d.ID, d.GroupName, d.CreatedAt.Format(time.RFC3339), d.CreatedBy)
	for i, id := range d.ImageIDs {
		label := ""
		if i == 0 {
			label = "Images"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, id)
	}
	if d.Urgent {
		fmt.Fprintln(w, "Urgent\tyes: installed outside maintenance windows too")
	}
	r := d.Rollout
	if r == nil {
		return
	}
	state := r.State
	if r.Reason != "" {
		state += ": " + r.Reason
	}
	fmt.Fprintf(w, "State\t%s\n", state)
	if len(r.Waves) == 0 {
		return
	}
	fmt.Fprintf(w, "Wave\t%d of %d (%d%% of the devices), since %s\n", r.Wave+1, len(r.Waves), r.Waves[r.Wave],
		r.WaveStartedAt.Format(time.RFC3339))
	if r.State == api.RolloutRolling {
		next := r.WaveStartedAt.Add(time.Duration(r.WaveWaitSeconds) * time.Second)
		fmt.Fprintf(w, "Next wave\tno sooner than %s, if the gate holds\n", next.Format(time.RFC3339))
	}
	rollback := "keep the deployment on halt"
	if r.RollbackOnHalt {
		rollback = "roll back on halt"
	}
	fmt.Fprintf(w, "Gate\twave wait %s, max failure %g%%, min devices %d, %s\n",
		time.Duration(r.WaveWaitSeconds)*time.Second, r.MaxFailure, r.MinDevices, rollback)
	prev := string(r.PreviousID)
	if prev == "" {
		prev = "none (devices not reached have no apps)"
	}
	fmt.Fprintf(w, "Previous\t%s\n", prev)
}

// wavesTable writes each wave's progress.
func wavesTable(w io.Writer, d api.DeploymentStatus) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "WAVE\tUP TO\tREACHED\tDEVICES\tUPDATED\tFAILED\tCRASHES")
	for i, ws := range d.Waves {
		reached := "no"
		if ws.Reached {
			reached = "yes"
		}
		fmt.Fprintf(w, "%d\t%d%%\t%s\t%d\t%d\t%d\t%d\n", i+1, ws.Percent, reached, ws.Targeted, ws.Updated, ws.Failed, ws.Crashes)
	}
}

// rolloutState is a deployment's state in a listing: "rolling 10%", "complete", ...
func rolloutState(r *api.Rollout) string {
	switch {
	case r == nil:
		return ""
	case len(r.Waves) > 0 && r.State != api.RolloutComplete && r.State != api.RolloutCancelled:
		return fmt.Sprintf("%s %d%%", r.State, r.Waves[r.Wave])
	}
	return r.State
}

// rolloutFlags are deployment create's rollout flags.
type rolloutFlags struct {
	waves          []string
	wait           time.Duration
	maxFailure     string
	minDevices     int
	rollbackOnHalt bool
	cmd            *cobra.Command
}

func (r *rolloutFlags) add(cmd *cobra.Command) {
	r.cmd = cmd
	f := cmd.Flags()
	f.StringSliceVar(&r.waves, "waves", nil, "roll out in waves: cumulative shares of the group's devices, e.g. 1%,10%,50%,100%")
	f.DurationVar(&r.wait, "wave-wait", time.Hour, "with --waves: how long a wave's devices must have had it before the next wave")
	f.StringVar(&r.maxFailure, "max-failure", "5%", "with --waves: the most devices of the waves reached that may fail or crash")
	f.IntVar(&r.minDevices, "min-devices", 20, "with --waves: the fewest devices that must count before a wave is promoted")
	f.BoolVar(&r.rollbackOnHalt, "rollback-on-halt", false, "with --waves: on a halt, the devices reached go back to the previous deployment")
}

// apply sets req's rollout fields from the flags.
func (r *rolloutFlags) apply(req *api.CreateDeploymentRequest) error {
	if len(r.waves) == 0 {
		for _, name := range []string{"wave-wait", "max-failure", "min-devices", "rollback-on-halt"} {
			if r.cmd.Flags().Changed(name) {
				return usage.Errorf("--%s applies only with --waves: give the waves, e.g. --waves 10%%,100%%", name)
			}
		}
		return nil
	}
	for _, w := range r.waves {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(w), "%"))
		if err != nil {
			return usage.Errorf("invalid --waves %q: want whole percentages such as 1%%,10%%,100%%", clipArg(w))
		}
		req.Waves = append(req.Waves, n)
	}
	if r.wait < 0 || r.wait%time.Second != 0 {
		return usage.Errorf("invalid --wave-wait %s: want whole seconds, e.g. 30m or 1h", r.wait)
	}
	mf, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(r.maxFailure), "%"), 64)
	if err != nil {
		return usage.Errorf("invalid --max-failure %q: want a percentage such as 5%%", clipArg(r.maxFailure))
	}
	wait := int64(r.wait / time.Second)
	req.WaveWaitSeconds, req.MaxFailurePercent, req.MinDevices, req.RollbackOnHalt = &wait, &mf, &r.minDevices, r.rollbackOnHalt
	return nil
}

// imageIDs reads the --images flag's values as image IDs.
func imageIDs(flag []string) []ident.ImageID {
	ids := make([]ident.ImageID, len(flag))
	for i, s := range flag {
		ids[i] = ident.ImageID(s)
	}
	return ids
}
