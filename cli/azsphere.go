package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/internal/usage"
)

// azsphereSpellings makes the commands and flags of scripts written for azsphere work as they
// are, beside Rampart's own names: cobra aliases, flag aliases and small commands that call
// Rampart's. docs/azsphere.md maps each of them.
func (e *env) azsphereSpellings(root *cobra.Command) {
	sub := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil || c.Name() != path[len(path)-1] {
			panic("cli: no command " + strings.Join(path, " "))
		}
		return c
	}

	// device-group deployment create|list: Rampart's `deployment` under the group's noun.
	dep := e.deploymentCmd()
	dep.Short = "Deploy images to device groups (azsphere's spelling of 'rampart deployment')"
	sub("device-group").AddCommand(dep)
	for _, create := range []*cobra.Command{sub("deployment", "create"), sub("device-group", "deployment", "create")} {
		imagesAfterFlag(create)
	}

	// The object a command acts on, as a flag as well as an argument.
	for _, c := range []struct {
		path       []string
		flag, what string
	}{
		{[]string{"device", "show"}, "device", "the device's ID"},
		{[]string{"device", "update"}, "device", "the device's ID"},
		{[]string{"device", "revoke"}, "device", "the device's ID"},
		{[]string{"device", "enable-development"}, "device", "the device's ID"},
		{[]string{"device", "disable-development"}, "device", "the device's ID"},
		{[]string{"product", "create"}, "name", "the product's name"},
		{[]string{"product", "show"}, "product", "the product's name or ID"},
		{[]string{"product", "delete"}, "product", "the product's name or ID"},
		{[]string{"device-group", "create"}, "name", "the group's name (with --product)"},
		{[]string{"device-group", "show"}, "device-group", "the group, Product/Group or ID"},
		{[]string{"device-group", "update"}, "device-group", "the group, Product/Group or ID"},
		{[]string{"image", "download"}, "image", "the image's ID"},
		{[]string{"device-group", "delete"}, "device-group", "the group, Product/Group or ID"},
		{[]string{"image", "show"}, "image", "the image's ID"},
		{[]string{"deployment", "show"}, "deployment", "the deployment's ID"},
	} {
		argFlag(sub(c.path...), c.flag, c.what)
	}
	claimDeviceFlag(sub("device", "claim"))

	flagAliases(sub("image", "add"), map[string]string{"image": "file"})
	imageAddFlags(sub("image", "add"))
	ca := sub("ca")
	ca.Aliases = append(ca.Aliases, "ca-certificate")
	flagAliases(sub("ca", "download"), map[string]string{"destination": "output"})
	flagAliases(sub("ca", "crl"), map[string]string{"destination": "output"})
	flagAliases(sub("image", "download"), map[string]string{"destination": "output"})
	for _, verb := range []string{"create", "update"} {
		flagAliases(sub("device-group", verb), map[string]string{"allow-crash-dumps-collection": "allow-crash-dumps"})
	}

	sub("tenant").AddCommand(e.downloadErrorReportCmd())
	root.AddCommand(e.imagePackageCmd(), e.roleCmd())
}

// imageAddFlags gives `image add` azsphere's --force and --temporary. --force uploads an image
// that uses a Beta API there; Rampart has none, so it is taken and changes nothing. --temporary
// marks a factory image that may be deleted later; Rampart keeps every image for good, so it is
// refused with why, not ignored: a script that relies on deleting the image would fill the quota.
func imageAddFlags(cmd *cobra.Command) {
	var force, temporary bool
	cmd.Flags().BoolVar(&force, "force", false, "accepted for azsphere's scripts: Rampart has no Beta APIs, so nothing needs forcing")
	cmd.Flags().BoolVar(&temporary, "temporary", false, "azsphere's temporary image: refused, Rampart keeps every image")
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if temporary {
			return usage.Errorf("--temporary: Rampart keeps every image for good (no image is deleted later), so there are no temporary images; leave the flag out")
		}
		if force {
			fmt.Fprintln(cmd.ErrOrStderr(), "--force: Rampart has no Beta APIs; the image is checked like any other")
		}
		return run(cmd, args)
	}
}

// flagAliases lets cmd take each key of aliases as another name of the flag it maps to.
func flagAliases(cmd *cobra.Command, aliases map[string]string) {
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := aliases[name]; ok {
			return pflag.NormalizedName(to)
		}
		return pflag.NormalizedName(name)
	})
	for from, to := range aliases {
		f := cmd.Flags().Lookup(to)
		f.Usage += " (or --" + from + ")"
	}
}

// argFlag lets cmd, which takes one argument, take it as --name instead, as azsphere does
// (`device show --device ID`). A missing argument names what is missing.
func argFlag(cmd *cobra.Command, name, what string) {
	var value string
	cmd.Flags().StringVar(&value, name, "", what+", instead of the argument")
	run := cmd.RunE
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		switch {
		case cmd.Flags().Changed(name) && len(args) > 0:
			return usage.Errorf("give %s as an argument or with --%s, not both", what, name)
		case cmd.Flags().Changed(name) && value == "":
			return usage.Errorf("--%s is empty: give %s (was it an empty shell variable?)", name, what)
		case cmd.Flags().Changed(name):
			return nil
		case len(args) == 0:
			return usage.Errorf("missing %s: give it as an argument or with --%s (was it an empty shell variable?)", what, name)
		case len(args) > 1:
			return usage.Errorf("%d arguments: give one, %s", len(args), what)
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed(name) {
			args = []string{value}
		}
		return run(cmd, args)
	}
}

// claimDeviceFlag lets `device claim` take its device as --device ID, as azsphere does.
func claimDeviceFlag(cmd *cobra.Command) {
	var ids []string
	cmd.Flags().StringArrayVar(&ids, "device", nil, "a device ID, instead of the argument (repeatable)")
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("device") && slices.Contains(ids, "") {
			return usage.Errorf("--device is empty: give the device's ID (was it an empty shell variable?)")
		}
		return run(cmd, append(args, ids...))
	}
}

// imagesAfterFlag lets `deployment create` take azsphere's `--images ID ID...`: the IDs after
// the first are arguments to cobra, and are added to --images here.
func imagesAfterFlag(cmd *cobra.Command) {
	run := cmd.RunE
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 && !cmd.Flags().Changed("images") {
			return usage.Errorf("unexpected %s: give the images with --images ID [ID...]", clipFlag(args[0]))
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		for _, id := range args {
			if err := cmd.Flags().Set("images", id); err != nil {
				return err
			}
		}
		return run(cmd, nil)
	}
}

// downloadErrorReportCmd is azsphere's `tenant download-error-report`: the CSV of
// `rampart report errors --output csv`, written to a file.
func (e *env) downloadErrorReportCmd() *cobra.Command {
	var dest, since string
	cmd := &cobra.Command{
		Use:   "download-error-report --destination FILE",
		Short: "Write your tenant's error events as CSV, in Azure Sphere's columns (as 'rampart report errors --output csv')",
		Long: "Write the error events of your tenant's devices, newest first, as CSV with the columns of\n" +
			"Azure Sphere's download-error-report and the device group last. Without --since, every event\n" +
			"the service still keeps (14 days unless its operator set --event-retention).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dest == "" {
				return usage.Errorf("--destination is empty: give the CSV file to write")
			}
			if err := checkSince(since); err != nil {
				return err
			}
			return e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
				q, err := reportQuery(ctx, c, since, "")
				if err != nil {
					return err
				}
				all, err := allErrorEvents(ctx, c, q)
				if err != nil {
					return err
				}
				if err := writeAtomic(dest, func(w io.Writer) error { return api.WriteErrorCSV(w, all) }); err != nil {
					return err
				}
				e.infof("Wrote %s to %s.", plural(len(all), "error event"), dest)
				return nil
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&dest, "destination", "", "the CSV file to write")
	cmd.Flags().StringVar(&since, "since", "", "only events that ended since: a duration (7d, 24h) or a date (2026-01-02)")
	cmd.MarkFlagRequired("destination")
	cmd.MarkFlagFilename("destination", "csv")
	return cmd
}

// imagePackageCmd is azsphere's `image-package` noun, whose pack-application makes what
// `rampart image pack` makes.
func (e *env) imagePackageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image-package", Short: "Pack applications with azsphere's flags (see 'rampart image pack')"}
	var o packOptions
	var dir, apiSet, hwdefName string
	var hwdefDirs, executables []string
	pack := &cobra.Command{
		Use:   "pack-application --package-directory DIR --destination FILE",
		Short: "Pack an application's package directory, as azsphere does, into a Rampart image package",
		Long: "Pack an application as azsphere's image-package pack-application does: the package directory\n" +
			"holds the app manifest (app_manifest.json unless --application-manifest) and the module its\n" +
			"EntryPoint names. An Azure Sphere manifest is converted, its $NAMEs resolved with the hardware\n" +
			"definition --target-definition-filename found in --hardware-definitions; the package is signed\n" +
			"with your developer key, as by 'rampart image pack'. --target-api-set is accepted and not\n" +
			"needed: Rampart has one API set.",
		Example: "  rampart image-package pack-application --package-directory out/approot --destination app.imagepackage \\\n" +
			"    --hardware-definitions hw --target-definition-filename sample_appliance.json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" || o.output == "" {
				return usage.Errorf("give the package directory with --package-directory and the file to write with --destination")
			}
			if o.manifest == "" {
				o.manifest = filepath.Join(dir, "app_manifest.json")
			}
			if err := packageDirFields(&o, dir, hwdefName, hwdefDirs); err != nil {
				return err
			}
			return e.pack(&o)
		},
	}
	f := pack.Flags()
	f.StringVar(&dir, "package-directory", "", "the folder holding the app manifest and the app's module")
	f.StringVar(&o.output, "destination", "", "the image package to write")
	f.StringVar(&o.manifest, "application-manifest", "", "the app manifest (default: app_manifest.json in the package directory)")
	f.StringSliceVar(&hwdefDirs, "hardware-definitions", nil, "folders to find the hardware definition and its imports in")
	f.StringVar(&hwdefName, "target-definition-filename", "", "the hardware definition's file name, found in --hardware-definitions")
	f.StringVar(&apiSet, "target-api-set", "", "accepted for azsphere's scripts; Rampart has one API set")
	f.StringSliceVar(&executables, "executables", nil, "accepted for azsphere's scripts; the module is the manifest's EntryPoint")
	f.StringVar(&o.version, "version", "1.0.0", "the image's version")
	o.typ = "application"
	pack.MarkFlagDirname("package-directory")
	cmd.AddCommand(pack)
	return cmd
}

// packageDirFields fills the options of `rampart image pack` from an azsphere package
// directory: the payload is the file the manifest's EntryPoint names there, and a manifest in
// Azure Sphere's form is converted.
func packageDirFields(o *packOptions, dir, hwdefName string, hwdefDirs []string) error {
	b, err := readFileLimited(o.manifest, 64<<10)
	if err != nil {
		return fmt.Errorf("read app manifest: %w", err)
	}
	var m struct {
		EntryPoint    string `json:"EntryPoint"`
		SchemaVersion any    `json:"SchemaVersion"`
	}
	// Only EntryPoint is read here; the whole manifest is checked strictly when it is packed.
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", o.manifest, err)
	}
	entry := strings.TrimPrefix(m.EntryPoint, "/")
	if entry == "" || !filepath.IsLocal(entry) {
		return fmt.Errorf("%s: EntryPoint %s is not a file in the package directory", o.manifest, clipFlag(m.EntryPoint))
	}
	o.payload = filepath.Join(dir, filepath.FromSlash(entry))
	if strings.HasPrefix(m.EntryPoint, "/") {
		o.azureSphere = true // Azure Sphere's EntryPoint is a path in the image: "/bin/app"
	}
	if hwdefName != "" {
		o.azureSphere = true
		o.hwdefDirs = hwdefDirs
		o.hwdef = hwdefName
		for _, d := range hwdefDirs {
			if p := filepath.Join(d, hwdefName); fileExists(p) {
				o.hwdef = p
				break
			}
		}
		if !fileExists(o.hwdef) {
			return fmt.Errorf("hardware definition %s is in none of --hardware-definitions %s", hwdefName, strings.Join(hwdefDirs, ", "))
		}
	} else if len(hwdefDirs) > 0 {
		return usage.Errorf("--hardware-definitions needs --target-definition-filename: the definition to use")
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// roleCmd is azsphere's `role` noun over Rampart's users, who hold one role each.
func (e *env) roleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Users' roles, as azsphere names them (a Rampart user has one role; see 'rampart user')",
	}
	var user, role string
	userFlags := func(c *cobra.Command, withRole bool) *cobra.Command {
		c.Flags().StringVar(&user, "user", "", "the user's e-mail")
		c.MarkFlagRequired("user")
		if withRole {
			c.Flags().StringVar(&role, "role", "", "Administrator, Contributor or Reader")
			c.MarkFlagRequired("role")
			c.RegisterFlagCompletionFunc("role", cobra.FixedCompletions(
				[]string{"Administrator", "Contributor", "Reader"}, cobra.ShellCompDirectiveNoFileComp))
		}
		return c
	}
	add := userFlags(&cobra.Command{
		Use:   "add --user EMAIL --role ROLE",
		Short: "Give a user a role: add the user with it (printing the user's token once) if there is none",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			u, err := findUser(ctx, c, user)
			if err == nil {
				if string(u.Role) == role {
					e.infof("%s already has the %s role.", u.Email, u.Role)
					return e.print(u, func(w io.Writer) { roleRows(w, []api.User{u}) })
				}
				return fmt.Errorf("%s has the %s role, and a Rampart user has one role: 'rampart role remove --user %s --role %s' first, then add it with %s",
					u.Email, u.Role, u.Email, u.Role, role)
			}
			if !client.IsNotFound(err) {
				return err
			}
			r, err := c.AddUser(ctx, api.AddUserRequest{Email: user, Role: api.Role(role)})
			if err != nil {
				return err
			}
			return e.print(r, func(w io.Writer) {
				fmt.Fprintf(w, "ID\tEMAIL\tROLE\tTOKEN\n%s\t%s\t%s\t%s\n", r.User.ID, r.User.Email, r.User.Role, r.Token)
			})
		}),
	}, true)
	remove := userFlags(&cobra.Command{
		Use:   "remove --user EMAIL --role ROLE",
		Short: "Take a user's role away: the user is removed and its tokens revoked",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			u, err := findUser(ctx, c, user)
			if err != nil {
				return err
			}
			if string(u.Role) != role {
				return fmt.Errorf("%s has the %s role, not %s", u.Email, u.Role, role)
			}
			if _, err := c.RemoveUser(ctx, u.ID); err != nil {
				return err
			}
			e.infof("Removed %s (%s) and revoked its tokens.", u.Email, u.Role)
			return nil
		}),
	}, true)
	show := userFlags(&cobra.Command{
		Use:   "show --user EMAIL",
		Short: "Show a user's role",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			u, err := findUser(ctx, c, user)
			if err != nil {
				return err
			}
			return e.print(u, func(w io.Writer) { roleRows(w, []api.User{u}) })
		}),
	}, false)
	list := &cobra.Command{
		Use:   "list",
		Short: "List your tenant's users and their roles",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			us, err := c.Users(ctx)
			if err != nil {
				return err
			}
			return e.print(us, func(w io.Writer) { roleRows(w, us) })
		}),
	}
	cmd.AddCommand(e.addOutput(add), remove, e.addOutput(show), e.addOutput(list))
	return cmd
}

// findUser finds a user of the caller's tenant by e-mail, case aside.
func findUser(ctx context.Context, c *client.Client, email string) (api.User, error) {
	us, err := c.Users(ctx)
	if err != nil {
		return api.User{}, err
	}
	for _, u := range us {
		if strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	return api.User{}, &client.Error{Status: 404, Message: fmt.Sprintf("no user %s in your tenant ('rampart role list' lists them)", clipFlag(email))}
}

func roleRows(w io.Writer, us []api.User) {
	fmt.Fprintln(w, "EMAIL\tROLE")
	for _, u := range us {
		fmt.Fprintf(w, "%s\t%s\n", u.Email, u.Role)
	}
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
