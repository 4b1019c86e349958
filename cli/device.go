package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

// maxClaimFile bounds a --file of device IDs: 1,000 IDs with comments to spare.
const maxClaimFile = 256 << 10

func (e *env) deviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Claim, list, move and revoke devices"}
	cmd.AddCommand(e.addOutput(e.claimCmd()), e.addOutput(e.deviceListCmd()), e.addOutput(e.deviceShowCmd()),
		e.addOutput(e.deviceUpdateCmd()), e.addOutput(e.deviceRevokeCmd()), e.addOutput(e.deviceReleaseCmd()),
		e.addOutput(e.enableDevelopmentCmd()), e.addOutput(e.disableDevelopmentCmd()))
	return cmd
}

func (e *env) deviceListCmd() *cobra.Command {
	var q struct{ product, group, pageToken, attestation, runtime, seenSince, notSeenSince string }
	var limit int
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		var group ident.GroupID
		if q.group != "" {
			g, err := findGroup(ctx, c, q.group)
			if err != nil {
				return err
			}
			group = g.ID
		}
		dq := deviceQuery(q.product, group, limit, q.pageToken)
		dq.Attestation, dq.Runtime, dq.SeenSince, dq.NotSeenSince = q.attestation, q.runtime, q.seenSince, q.notSeenSince
		l, err := c.Devices(ctx, dq)
		if err != nil {
			return err
		}
		err = e.print(l, func(w io.Writer) { deviceRows(w, l.Devices) })
		if err == nil && l.NextPageToken != "" && e.output == "table" {
			e.infof("More devices: add --page-token %s", l.NextPageToken)
		}
		return err
	})
	list := &cobra.Command{
		Use:   "list [--product P] [--device-group P/G] [--attestation pass|fail|never] [--runtime SHA512] [--seen-since T] [--not-seen-since T]",
		Short: "List devices, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > api.MaxPageSize {
				return usage.Errorf("invalid --limit %d: want 1 to %d", limit, api.MaxPageSize)
			}
			return run(cmd, args)
		},
	}
	list.Flags().StringVar(&q.product, "product", "", "only this product's devices (name or ID)")
	list.Flags().StringVar(&q.group, "device-group", "", "only this group's devices (Product/Group or ID)")
	list.Flags().StringVar(&q.attestation, "attestation", "", "only devices whose last attestation passed (pass), failed (fail), or that never attested (never)")
	list.Flags().StringVar(&q.runtime, "runtime", "", "only devices that last attested with this runtime (its SHA-512, as device show prints it)")
	list.Flags().StringVar(&q.seenSince, "seen-since", "", "only devices seen (or attested) since: 7d, 24h, a date or an RFC 3339 time")
	list.Flags().StringVar(&q.notSeenSince, "not-seen-since", "", "only devices not seen (nor attested) since: 7d, 24h, a date or an RFC 3339 time")
	list.Flags().IntVar(&limit, "limit", api.DefaultPageSize, fmt.Sprintf("devices a page (1 to %d)", api.MaxPageSize))
	list.Flags().StringVar(&q.pageToken, "page-token", "", "continue after this page token")
	return list
}

func (e *env) deviceShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a device",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.Device(ctx, args[0])
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deviceTable(w, d) })
		}),
	}
}

func (e *env) deviceUpdateCmd() *cobra.Command {
	var toGroup string
	update := &cobra.Command{
		Use:   "update ID --device-group PRODUCT/GROUP",
		Short: "Move a device into a device group",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			g, err := findGroup(ctx, c, toGroup)
			if err != nil {
				return err
			}
			d, err := c.UpdateDevice(ctx, args[0], api.UpdateDeviceRequest{DeviceGroupID: &g.ID})
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deviceTable(w, d) })
		}),
	}
	update.Flags().StringVar(&toGroup, "device-group", "", "the device group, Product/Group or ID")
	update.MarkFlagRequired("device-group")
	return update
}

func (e *env) deviceRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a device for good: no certificate and no update ever again",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.RevokeDevice(ctx, args[0])
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deviceTable(w, d) })
		}),
	}
}

func (e *env) deviceReleaseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "release ID",
		Short: "Take a device out of your tenant: its certificates stop working, and it can be claimed again with its code",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.ReleaseDevice(ctx, args[0])
			if err != nil {
				return err
			}
			e.infof("Released device %s: its certificates are revoked; it can be claimed again with its claim code", d.ID)
			return e.print(d, func(w io.Writer) { deviceTable(w, d) })
		}),
	}
}

// maxDeveloperKeyFile bounds a --developer-key file: a public key is a few hundred bytes.
const maxDeveloperKeyFile = 16 << 10

func (e *env) enableDevelopmentCmd() *cobra.Command {
	var keyFiles []string
	var keys []*ecdsa.PublicKey
	var pems []string
	run := e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
		d, err := c.EnableDevelopment(ctx, args[0], pems)
		if err != nil {
			return err
		}
		for _, k := range keys {
			e.infof("Device %s accepts images signed by developer key %s.", d.ID, imagepkg.KeyID(k))
		}
		return e.print(d, func(w io.Writer) { deviceTable(w, d) })
	})
	cmd := &cobra.Command{
		Use:   "enable-development ID [--developer-key FILE]...",
		Short: "Let a device run images signed by developer keys, sideload and boot in Debug mode",
		Long: "Enable development on a device (Administrator only): the service signs a development\n" +
			"capability for this device alone, with your tenant's image-signing key, naming the\n" +
			"developer keys whose images the device will accept. The device fetches it at its next\n" +
			"check-in. Without --developer-key, your own developer key is named: the one\n" +
			"'rampart image pack' signs with. A --developer-key FILE holds a PEM public key, as\n" +
			"'rampart image pack --print-key' prints it; give up to 8.",
		Example: "  rampart device enable-development ID\n" +
			"  rampart device enable-development ID --developer-key alice.pem --developer-key bob.pem",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := ident.ParseDeviceID(args[0]); err != nil {
				return fmt.Errorf("%v; a device prints its ID with 'rampart-device id'", err)
			}
			if len(keyFiles) > capability.MaxDeveloperKeys {
				return usage.Errorf("%d developer keys: at most %d", len(keyFiles), capability.MaxDeveloperKeys)
			}
			var err error
			if keys, pems, err = developerKeys(keyFiles); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	cmd.Flags().StringArrayVar(&keyFiles, "developer-key", nil, "a file with a developer's PEM public key (repeatable; default: yours)")
	cmd.MarkFlagFilename("developer-key", "pem")
	return cmd
}

func (e *env) disableDevelopmentCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disable-development ID",
		Short: "Stop a device accepting developer-signed images; it keeps only tenant-signed ones",
		Args:  cobra.ExactArgs(1),
		RunE: e.withClient(func(ctx context.Context, c *client.Client, args []string) error {
			d, err := c.DisableDevelopment(ctx, args[0])
			if err != nil {
				return err
			}
			return e.print(d, func(w io.Writer) { deviceTable(w, d) })
		}),
	}
}

// developerKeys reads the developer public keys in files, or takes the user's own when files
// is empty, and returns them with their PEM encodings.
func developerKeys(files []string) ([]*ecdsa.PublicKey, []string, error) {
	var keys []*ecdsa.PublicKey
	for _, f := range files {
		k, err := readDeveloperPublicKey(f)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		k, err := ownDeveloperKey()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	pems := make([]string, len(keys))
	for i, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, nil, err
		}
		pems[i] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return keys, pems, nil
}

// ownDeveloperKey is the public half of the developer key 'rampart image pack' signs with. It
// is not made here: a key made only to be named would sign nothing.
func ownDeveloperKey() (*ecdsa.PublicKey, error) {
	path, err := developerKeyPath()
	if err != nil {
		return nil, err
	}
	key, err := loadDeveloperKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("you have no developer key at %s; make one with 'rampart image pack --print-key', or name one with --developer-key", path)
	}
	if err != nil {
		return nil, err
	}
	return &key.PublicKey, nil
}

// readDeveloperPublicKey reads a PEM ECDSA P-256 public key from a file; text before the PEM
// block (as 'rampart image pack --print-key' prints) is skipped.
func readDeveloperPublicKey(path string) (*ecdsa.PublicKey, error) {
	b, err := readFileLimited(path, maxDeveloperKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read developer key: %w", err)
	}
	// The file's contents go into no error: it might be a private key given by mistake.
	bad := fmt.Errorf("%s is not a PEM ECDSA P-256 public key; 'rampart image pack --print-key' prints one", path)
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, bad
	}
	if block.Type != "PUBLIC KEY" {
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, fmt.Errorf("%s holds a private key; give the public key, as 'rampart image pack --print-key' prints it", path)
		}
		return nil, bad
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, bad
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, bad
	}
	return k, nil
}

func (e *env) claimCmd() *cobra.Command {
	var file, code, group string
	var devices []api.ClaimDevice
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		var g api.DeviceGroup
		if group != "" {
			var err error
			if g, err = findGroup(ctx, c, group); err != nil {
				return err
			}
		}
		r, err := c.ClaimDevicesIntoGroup(ctx, g.ID, devices)
		if err != nil {
			return claimHint(ctx, c, err)
		}
		if n := withoutCode(r.Devices); n > 0 {
			e.infof("warning: claimed %d device(s) by ID alone, without a claim code, as this tenant allows; "+
				"whoever learns a device's ID can claim it so", n)
		}
		return e.print(r, func(w io.Writer) { deviceRows(w, r.Devices) })
	})
	claim := &cobra.Command{
		Use:   "claim ID [--code CODE] | claim --file FILE [--device-group PRODUCT/GROUP]",
		Short: "Claim devices into your tenant with their claim codes (all or none; up to 1,000 at once)",
		Long: "Claim devices into your tenant. A device's claim code proves that whoever claims it has it in\n" +
			"hand: 'rampart-device id --claim-code' prints it, and it belongs on the device's label. A\n" +
			"device claimed with another code than its own is refused when it attests, and the claim is\n" +
			"dropped. Claiming by ID alone works only in a tenant the operator allows it\n" +
			"('rampart tenant update --allow-claim-without-code'; 'rampart server --dev' allows it for the\n" +
			"dev tenant). A --file has one device a line: ID,CODE (or ID alone); # starts a comment.\n" +
			"With --device-group the devices are claimed into that group, in the same step.",
		Example: "  rampart device claim 3f5c…e1 --code 7G2QK-X4M9T-RB0WZ-C5N8P\n" +
			"  rampart device claim --file devices.csv --device-group Toaster/Production",
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if devices, err = claimArgs(args, file, code); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	claim.Flags().StringVar(&file, "file", "", "file with one device a line: ID,CODE or ID (# starts a comment)")
	claim.Flags().StringVar(&code, "code", "", "the device's claim code (with one device ID)")
	claim.Flags().StringVar(&group, "device-group", "", "claim the devices into this device group, Product/Group or ID")
	return claim
}

// claimArgs makes the devices to claim from the arguments, --code and --file.
func claimArgs(args []string, file, code string) ([]api.ClaimDevice, error) {
	var devices []api.ClaimDevice
	switch {
	case file != "" && (len(args) > 0 || code != ""):
		return nil, usage.Errorf("give device IDs (with --code) or --file, not both")
	case code != "" && len(args) != 1:
		return nil, usage.Errorf("--code goes with one device ID; claim several with --file, one ID,CODE a line")
	case file != "":
		b, err := readFileLimited(file, maxClaimFile)
		if err != nil {
			return nil, err
		}
		if devices, err = parseClaimFile(b); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	default:
		for _, id := range args {
			if _, err := ident.ParseDeviceID(id); err != nil {
				return nil, fmt.Errorf("%v; a device prints its ID with 'rampart-device id'", err)
			}
			devices = append(devices, api.ClaimDevice{DeviceID: id})
		}
		if code != "" {
			c, err := ident.ParseClaimCode(code)
			if err != nil {
				return nil, fmt.Errorf("--code: %v", err)
			}
			devices[0].ClaimCode = c.String()
		}
	}
	if len(devices) == 0 {
		return nil, usage.Errorf("no device IDs: give them as arguments or with --file")
	}
	if len(devices) > api.MaxClaimBatch {
		return nil, fmt.Errorf("%d device IDs: at most %d can be claimed at once; split the file", len(devices), api.MaxClaimBatch)
	}
	return devices, nil
}

func withoutCode(ds []api.Device) int {
	n := 0
	for _, d := range ds {
		if !d.ClaimedWithCode {
			n++
		}
	}
	return n
}

// parseClaimFile reads a claim file: one device a line, "ID" or "ID,CODE", blanks around
// either allowed; # starts a comment. Anything else is an error naming its line.
func parseClaimFile(b []byte) ([]api.ClaimDevice, error) {
	var devices []api.ClaimDevice
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, code, hasCode := strings.Cut(line, ",")
		id = strings.TrimSpace(id)
		if _, err := ident.ParseDeviceID(id); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		d := api.ClaimDevice{DeviceID: id}
		if hasCode {
			c, err := ident.ParseClaimCode(strings.TrimSpace(code))
			if err != nil {
				return nil, fmt.Errorf("line %d: %v (want ID,CODE)", n, err)
			}
			d.ClaimCode = c.String()
		}
		devices = append(devices, d)
	}
	return devices, sc.Err()
}

func deviceRows(w io.Writer, ds []api.Device) {
	fmt.Fprintln(w, "ID\tDEVICE GROUP\tSTATE\tCLAIMED")
	for _, d := range ds {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", d.ID, groupName(d), d.State, d.ClaimedAt.Format(time.RFC3339))
	}
}

func deviceTable(w io.Writer, d api.Device) {
	fmt.Fprintf(w, "ID\t%s\nDevice group\t%s\nState\t%s\nClaimed\t%s\n", d.ID, groupName(d), d.State, d.ClaimedAt.Format(time.RFC3339))
	development := "disabled"
	if d.Development {
		development = "enabled"
	}
	fmt.Fprintf(w, "Development\t%s\n", development)
	code := "none (claimed by ID alone)"
	if d.ClaimedWithCode {
		code = "given at claim, checked at each attestation"
	}
	fmt.Fprintf(w, "Claim code\t%s\n", code)
	deviceRootRows(w, d)
	if d.RevokedAt != nil {
		fmt.Fprintf(w, "Revoked\t%s\n", d.RevokedAt.Format(time.RFC3339))
	}
	if d.LastSeenAt != nil {
		fmt.Fprintf(w, "Last seen\t%s\n", d.LastSeenAt.Format(time.RFC3339))
	}
	if d.LastAttestedAt != nil {
		result := d.LastAttestResult
		if d.LastAttestReason != "" {
			result += " (" + d.LastAttestReason + ")"
		}
		fmt.Fprintf(w, "Last attestation\t%s, %s\n", d.LastAttestedAt.Format(time.RFC3339), result)
	}
	if d.RuntimeSHA512 != "" {
		fmt.Fprintf(w, "Runtime SHA-512\t%s\n", d.RuntimeSHA512)
	}
	if d.CertificateExpiry != nil {
		fmt.Fprintf(w, "Certificate expires\t%s\n", d.CertificateExpiry.Format(time.RFC3339))
	}
	if u := d.Updates; u != nil {
		updatesTable(w, *u)
	}
}

// updatesTable prints what a device's group targets against what the device reports it has.
func updatesTable(w io.Writer, u api.DeviceUpdates) {
	if u.LastUpdateAt != nil {
		result := u.LastUpdateResult
		if u.LastUpdateMsg != "" {
			result += " (" + u.LastUpdateMsg + ")"
		}
		fmt.Fprintf(w, "Last update\t%s, %s\n", u.LastUpdateAt.Format(time.RFC3339), result)
	}
	if len(u.Targeted) == 0 && len(u.Installed) == 0 {
		return
	}
	// A line without cells ends the table above, so that its columns keep their own widths.
	fmt.Fprintln(w, "\nIMAGE\tNAME\tVERSION\tTYPE\tTARGETED\tINSTALLED")
	installed := make(map[ident.ImageID]api.InstalledImage, len(u.Installed))
	for _, im := range u.Installed {
		installed[ident.ImageID(im.ImageID)] = im
	}
	targeted := make(map[ident.ImageID]bool, len(u.Targeted))
	for _, id := range u.Targeted {
		targeted[id] = true
		im, ok := installed[id]
		if !ok {
			fmt.Fprintf(w, "%s\t-\t-\t%s\tyes\tno\n", id, api.ImageApplication)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\tyes\t%s\n", id, im.Name, im.Version, im.Type, installedAs(im))
	}
	for _, im := range u.Installed {
		if targeted[ident.ImageID(im.ImageID)] {
			continue
		}
		// The runtime comes from the group's OS feed, not its deployment.
		target := "no"
		if im.Type == api.ImageRuntime {
			target = "OS feed"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", im.ImageID, im.Name, im.Version, im.Type, target, installedAs(im))
	}
}

func installedAs(im api.InstalledImage) string {
	if im.Slot != "" {
		return "yes (slot " + im.Slot + ")"
	}
	return "yes"
}

func groupName(d api.Device) string {
	if d.GroupName == "" {
		return "-"
	}
	return d.ProductName + "/" + d.GroupName
}
