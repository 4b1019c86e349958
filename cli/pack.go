package cli

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/format/hwdef"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
	hardwaredefinitions "github.com/rampart-iot/rampart/sdk/c/HardwareDefinitions"
)

// packOptions are the flags of `rampart image pack`.
type packOptions struct {
	manifest, payload, output string
	version, imageID          string
	typ, componentID, name    string
	printKey, json            bool
	azureSphere               bool     // the manifest is Azure Sphere's: convert it
	hwdef                     string   // an Azure Sphere hardware definition for its $NAMEs
	hwdefDirs                 []string // where the definition's imports are looked up
}

// packResult is what `rampart image pack --json` prints; its field names are stable.
type packResult struct {
	ImageID        string `json:"image_id"`
	ComponentID    string `json:"component_id"`
	Name           string `json:"name"`
	Version        string `json:"version"`
	Type           string `json:"type"`
	PayloadSize    int64  `json:"payload_size"`
	PayloadSHA256  string `json:"payload_sha256"`
	DeveloperKeyID string `json:"developer_key_id"`
	File           string `json:"file"`
}

// developerKeyInfo is what `rampart image pack --print-key --json` prints.
type developerKeyInfo struct {
	KeyID        string `json:"key_id"`
	PublicKeyPEM string `json:"public_key_pem"`
	File         string `json:"file"`
}

// imagePackCmd is `rampart image pack`: it makes an image package on this computer, signed with
// the user's developer key. It needs no service.
func (e *env) imagePackCmd() *cobra.Command {
	var o packOptions
	cmd := &cobra.Command{
		Use:   "pack --manifest app_manifest.json --payload FILE --output FILE",
		Short: "Make an image package of an app or a runtime, signed with your developer key",
		Long: "Make an image package: check the app manifest, take the package's component ID and\n" +
			"name from it, give the image a new ID (or --image-id) and a version (--version), and\n" +
			"sign the manifest and the payload's SHA-256 with your developer key. No service is needed.\n\n" +
			"An Azure Sphere app manifest (\"$NAME\" GPIOs, \"EntryPoint\": \"/bin/app\") is converted with\n" +
			"--azure-sphere, its names resolved with --hardware-definition: the package holds the\n" +
			"converted manifest, with numbers only (docs/c-apps.md).\n\n" +
			"A runtime has no app manifest: pack it with --type runtime --component-id ID --name NAME.\n\n" +
			"The developer key is an ECDSA P-256 key in PKCS#8 PEM, made on first use, readable by\n" +
			"you only, at CONFIG/rampart/developer-key.pem, where CONFIG is $XDG_CONFIG_HOME or\n" +
			"~/.config on Linux, ~/Library/Application Support on macOS. A device accepts images\n" +
			"signed by it only while development is enabled on it; 'rampart image add' has the\n" +
			"service re-sign an image with your tenant's key. --print-key prints the key's ID and\n" +
			"public key (making the key if there is none), which enabling development needs.\n\n" +
			"stdout gets the image ID, component ID and developer key ID (--json: a JSON object).\n" +
			"The byte format is in docs/image-package.md.",
		Example: "  rampart image pack --manifest app_manifest.json --payload app.wasm --output app.rmpkg\n" +
			"  rampart image pack --manifest app_manifest.json --payload app.wasm --output app.rmpkg --version 1.2.0\n" +
			"  rampart image pack --type runtime --component-id ID --name Runtime --payload stage1 --output rt.rmpkg\n" +
			"  rampart image pack --manifest app_manifest.json --hardware-definition hw/sample_appliance.json --payload app.wasm --output app.rmpkg\n" +
			"  rampart image pack --print-key",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.printKey {
				if n := cmd.Flags().NFlag(); n > 1 && !(n == 2 && o.json) {
					return usage.Errorf("--print-key takes no other flag but --json")
				}
				return e.printDeveloperKey(o.json)
			}
			return e.pack(&o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.manifest, "manifest", "m", "", "the application's app manifest (JSON)")
	f.StringVar(&o.payload, "payload", "", "the file to pack: the app's WebAssembly module, or the runtime")
	f.StringVarP(&o.output, "output", "o", "", "the package file to write (replaced if it exists)")
	f.StringVar(&o.version, "version", "1.0.0", "the image's version: letters, digits, '.', '+', '-'")
	f.StringVar(&o.imageID, "image-id", "", "the image's ID, a lowercase UUID (default: a new one)")
	f.StringVar(&o.typ, "type", imagepkg.TypeApplication, "application or runtime")
	f.StringVar(&o.componentID, "component-id", "", "a runtime's component ID (an application's is its manifest's)")
	f.StringVar(&o.name, "name", "", "a runtime's name (an application's is its manifest's)")
	f.BoolVar(&o.azureSphere, "azure-sphere", false, "the manifest is an Azure Sphere app manifest: convert it (see docs/c-apps.md)")
	f.StringVar(&o.hwdef, "hardware-definition", "", "an Azure Sphere hardware definition (JSON) to resolve the manifest's $NAME values; implies --azure-sphere")
	f.StringArrayVar(&o.hwdefDirs, "hardware-definition-dir", nil, "a folder to look up the definition's imports in (repeatable; Rampart's own MT3620 definitions come last)")
	f.BoolVar(&o.printKey, "print-key", false, "print the developer key's ID and public key PEM, and nothing else")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions(
		[]string{imagepkg.TypeApplication, imagepkg.TypeRuntime}, cobra.ShellCompDirectiveNoFileComp))
	cmd.MarkFlagFilename("manifest", "json")
	cmd.MarkFlagFilename("hardware-definition", "json")
	cmd.MarkFlagDirname("hardware-definition-dir")
	cmd.MarkFlagFilename("payload")
	cmd.MarkFlagFilename("output")
	return cmd
}

// pack checks everything it can before it makes a key or writes a file.
func (e *env) pack(o *packOptions) error {
	m, err := o.imageManifest()
	if err != nil {
		return err
	}
	payload, err := measurePayload(o.payload, &m)
	if err != nil {
		return err
	}
	defer payload.Close()
	if err := m.Validate(); err != nil {
		return err
	}
	key, keyPath, err := e.developerKey()
	if err != nil {
		return err
	}
	err = writeAtomic(o.output, func(w io.Writer) error {
		return imagepkg.Write(w, m, e.progress(payload, m.PayloadSize, "Packing"), key)
	})
	if errors.Is(err, imagepkg.ErrPayloadMismatch) {
		return fmt.Errorf("%s changed while it was being packed; try again", o.payload)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.output, err)
	}
	e.infof("Wrote %s %s %s (%s) to %s, signed with the developer key %s.", m.Type, m.Name, m.Version, humanBytes(m.PayloadSize), o.output, keyPath)

	res := packResult{ImageID: m.ImageID, ComponentID: m.ComponentID, Name: m.Name, Version: m.Version,
		Type: m.Type, PayloadSize: m.PayloadSize, PayloadSHA256: m.PayloadSHA256.String(),
		DeveloperKeyID: imagepkg.KeyID(&key.PublicKey), File: o.output}
	if o.json {
		return e.printJSON(res)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Image ID\t%s\nComponent ID\t%s\nDeveloper key ID\t%s\n", res.ImageID, res.ComponentID, res.DeveloperKeyID)
	return tw.Flush()
}

// imageManifest checks the flags and returns the package manifest they describe, without its
// payload's size and digest.
func (o *packOptions) imageManifest() (imagepkg.Manifest, error) {
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: o.imageID, Version: o.version, Type: o.typ}
	switch {
	case o.payload == "":
		return m, usage.Errorf("give the file to pack with --payload")
	case o.output == "":
		return m, usage.Errorf("give the package file to write with --output")
	case o.imageID != "" && !ident.IsID(o.imageID):
		return m, usage.Errorf("invalid --image-id %s: want a lowercase UUID such as %s", clipFlag(o.imageID), ident.NewID())
	}
	if err := imagepkg.ValidateVersion(o.version); err != nil {
		return m, usage.Errorf("invalid --version: %v", err)
	}
	if m.ImageID == "" {
		m.ImageID = ident.NewID()
	}
	switch o.typ {
	case imagepkg.TypeApplication:
		return m, o.applicationFields(&m)
	case imagepkg.TypeRuntime:
		return m, o.runtimeFields(&m)
	}
	return m, usage.Errorf("invalid --type %s: want %s or %s", clipFlag(o.typ), imagepkg.TypeApplication, imagepkg.TypeRuntime)
}

// applicationFields fills an application's app manifest, component ID and name from its app
// manifest file.
func (o *packOptions) applicationFields(m *imagepkg.Manifest) error {
	if o.manifest == "" {
		return usage.Errorf("give the app manifest with --manifest (or pack a runtime with --type runtime)")
	}
	if o.componentID != "" || o.name != "" {
		return usage.Errorf("--component-id and --name are for a runtime: an application's come from its app manifest")
	}
	b, err := readFileLimited(o.manifest, manifest.MaxSize)
	if err != nil {
		return fmt.Errorf("read app manifest: %w", err)
	}
	var app *manifest.App
	if o.azureSphere || o.hwdef != "" {
		app, err = o.convertAzureSphere(b)
	} else {
		if len(o.hwdefDirs) > 0 {
			return usage.Errorf("--hardware-definition-dir needs --hardware-definition")
		}
		app, err = manifest.Parse(b)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", o.manifest, err)
	}
	m.App, m.ComponentID, m.Name = app, app.ComponentId, app.Name
	return nil
}

// convertAzureSphere turns an Azure Sphere app manifest into Rampart's, resolving its $NAMEs
// with the hardware definition, if one was given.
func (o *packOptions) convertAzureSphere(b []byte) (*manifest.App, error) {
	var def *hwdef.Definition
	if o.hwdef != "" {
		var err error
		l := hwdef.Loader{Dirs: o.hwdefDirs, Builtin: hardwaredefinitions.FS}
		if def, err = l.Load(o.hwdef); err != nil {
			return nil, err
		}
	}
	return hwdef.ConvertManifest(b, def)
}

// runtimeFields fills a runtime's component ID and name from the flags.
func (o *packOptions) runtimeFields(m *imagepkg.Manifest) error {
	if o.manifest != "" {
		return usage.Errorf("a runtime has no app manifest: leave out --manifest")
	}
	if !ident.IsID(o.componentID) {
		return usage.Errorf("a runtime needs --component-id, a lowercase UUID")
	}
	if err := ident.ValidateName(o.name); err != nil {
		return usage.Errorf("a runtime needs --name: %v", err)
	}
	m.ComponentID, m.Name = o.componentID, o.name
	return nil
}

// measurePayload opens the payload, a regular file within [imagepkg.MaxPayloadSize], records its
// size and SHA-256 in m, and returns it rewound for packing.
func measurePayload(path string, m *imagepkg.Manifest) (*os.File, error) {
	payload, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		payload.Close()
		return nil, err
	}
	if fi, err := payload.Stat(); err != nil {
		return fail(fmt.Errorf("read payload: %w", err))
	} else if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("payload %s is not a regular file", path))
	} else if fi.Size() > imagepkg.MaxPayloadSize {
		return fail(fmt.Errorf("payload %s is %s, over the limit of %s", path, humanBytes(fi.Size()), humanBytes(imagepkg.MaxPayloadSize)))
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(payload, imagepkg.MaxPayloadSize+1))
	if err != nil {
		return fail(fmt.Errorf("read payload: %w", err))
	}
	if n > imagepkg.MaxPayloadSize {
		return fail(fmt.Errorf("payload %s is over the limit of %s", path, humanBytes(imagepkg.MaxPayloadSize)))
	}
	m.PayloadSize, m.PayloadSHA256 = n, ident.Digest(h.Sum(nil))
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("read payload: %w", err))
	}
	return payload, nil
}

func (e *env) printDeveloperKey(asJSON bool) error {
	key, path, err := e.developerKey()
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	info := developerKeyInfo{
		KeyID:        imagepkg.KeyID(&key.PublicKey),
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		File:         path,
	}
	if asJSON {
		return e.printJSON(info)
	}
	_, err = fmt.Fprintf(e.stdout, "Developer key ID: %s\n%s", info.KeyID, info.PublicKeyPEM)
	return err
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// clipFlag quotes a flag's value for an error, short and printable.
func clipFlag(s string) string { return fmt.Sprintf("%.60q", s) }

// developerKeyPath is where the developer key lives: next to the saved login.
func developerKeyPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the developer key: %w", err)
	}
	return filepath.Join(dir, "rampart", "developer-key.pem"), nil
}

// developerKey loads the developer key, making it first if there is none.
func (e *env) developerKey() (*ecdsa.PrivateKey, string, error) {
	path, err := developerKeyPath()
	if err != nil {
		return nil, "", err
	}
	key, err := loadDeveloperKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, path, err
	}
	key, made, err := makeDeveloperKey(path)
	if err != nil {
		return nil, "", fmt.Errorf("make a developer key: %w", err)
	}
	if made {
		e.infof("Made a developer key at %s (ID %s). Keep it: images it signs run on devices in development for your tenant.",
			path, imagepkg.KeyID(&key.PublicKey))
	}
	return key, path, nil
}

// loadDeveloperKey reads the key at path, refusing one that others can read or change.
func loadDeveloperKey(path string) (*ecdsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("developer key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("developer key %s is open to other users (mode %#o); run 'chmod 600 %s' and try again", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	// Neither the file's bytes nor a parser's view of them go into an error.
	bad := fmt.Errorf("developer key %s is not a PKCS#8 PEM ECDSA P-256 private key; move it away to make a new one", path)
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, bad
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, bad
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, bad
	}
	return ek, nil
}

// makeDeveloperKey makes a key at path, whole or not at all: it is written to a file of its own
// and linked into place, so that two packs at once agree on one key. made is false if another
// was there first.
func makeDeveloperKey(path string) (key *ecdsa.PrivateKey, made bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(dir, ".developer-key-*.pem") // mode 0600
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	werr := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return nil, false, werr
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		key, err := loadDeveloperKey(path)
		return key, false, err
	} else if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// writeAtomic writes path through write: to a temporary file in the same folder, renamed into
// place only once complete, so that path is never half-written.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	bw := bufio.NewWriterSize(tmp, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
