// Package hwdef reads Azure Sphere hardware definitions: the JSON files (Metadata, Imports,
// Peripherals with Name, Type, Mapping and AppManifestValue) that give an app's peripherals
// board-independent names. It resolves a name through its Mapping chain and the definition's
// imports, as Azure Sphere's tools do, to the value an app manifest holds, and writes the C
// header (hw/NAME.h) a C app includes.
//
// A definition is read as Azure Sphere reads it: fields it does not know are ignored; but it
// must be at most MaxSize bytes, its Metadata.Type must be "Azure Sphere Hardware Definition",
// peripheral names must be C identifiers, defined once per file, imports may not form a cycle
// and nest at most MaxDepth deep.
package hwdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Limits on what is read.
const (
	MaxSize        = 1 << 20 // one definition file
	MaxDepth       = 8       // nested imports
	MaxPeripherals = 4096    // in one file
	maxMappingHops = 64
)

// MetadataType is the Metadata.Type of every hardware definition.
const MetadataType = "Azure Sphere Hardware Definition"

// ErrInvalid is wrapped by every refusal of a definition.
var ErrInvalid = errors.New("invalid hardware definition")

// File is one hardware definition file.
type File struct {
	Metadata struct {
		Type    string `json:"Type"`
		Version int    `json:"Version"`
	} `json:"Metadata"`
	Description struct {
		Name                         string   `json:"Name"`
		MainCoreHeaderFileTopContent []string `json:"MainCoreHeaderFileTopContent"`
	} `json:"Description"`
	Imports     []Import     `json:"Imports"`
	Peripherals []Peripheral `json:"Peripherals"`
}

// Import names another definition file, looked up by its Path.
type Import struct {
	Path string `json:"Path"`
}

// Peripheral is one named peripheral: either a Mapping to another name, or an
// AppManifestValue (a number or a string) that the app manifest holds.
type Peripheral struct {
	Name             string          `json:"Name"`
	Type             string          `json:"Type"`
	Mapping          string          `json:"Mapping"`
	AppManifestValue json.RawMessage `json:"AppManifestValue"`
	Comment          string          `json:"Comment"`
}

// Definition is a loaded definition file with its imports, in order.
type Definition struct {
	Path    string // as found; "rampart:NAME.json" for one of Rampart's own
	File    File
	Imports []*Definition
}

// Name is the definition's base name without ".json": the header is hw/Name().h.
func (d *Definition) Name() string {
	return strings.TrimSuffix(filepath.Base(strings.TrimPrefix(d.Path, "rampart:")), ".json")
}

// Loader finds definition files: an import is looked up in the importing file's folder, then
// in Dirs in order, then in Builtin (Rampart's own definitions), if set.
type Loader struct {
	Dirs    []string
	Builtin fs.FS
}

// Load reads the definition at path and its imports.
func (l *Loader) Load(path string) (*Definition, error) {
	b, err := readLimited(os.DirFS(filepath.Dir(path)), filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("read hardware definition: %w", err)
	}
	return l.load(path, b, nil)
}

func (l *Loader) load(path string, b []byte, chain []string) (*Definition, error) {
	if len(chain) >= MaxDepth {
		return nil, fmt.Errorf("%w: imports nest deeper than %d: %s", ErrInvalid, MaxDepth, strings.Join(append(chain, path), " → "))
	}
	d := &Definition{Path: path}
	if err := parse(b, &d.File); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	chain = append(chain, filepath.Base(path))
	for _, imp := range d.File.Imports {
		if err := validImportPath(imp.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, seen := range chain {
			if seen == filepath.Base(imp.Path) {
				return nil, fmt.Errorf("%w: %s imports itself through %s", ErrInvalid, imp.Path, strings.Join(chain, " → "))
			}
		}
		found, ib, err := l.find(filepath.Dir(path), imp.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: import %s: %w", path, imp.Path, err)
		}
		sub, err := l.load(found, ib, chain)
		if err != nil {
			return nil, err
		}
		d.Imports = append(d.Imports, sub)
	}
	return d, nil
}

// validImportPath allows a file name or a relative path without "..": imports name files in
// the search folders, never elsewhere.
func validImportPath(p string) error {
	if p == "" || !strings.HasSuffix(p, ".json") || filepath.IsAbs(p) || strings.Contains(p, "\\") ||
		!fs.ValidPath(p) {
		return fmt.Errorf("%w: import path %q: want a relative .json path inside the definition folders", ErrInvalid, p)
	}
	return nil
}

// find looks an import up in dir, the Loader's Dirs and its Builtin set.
func (l *Loader) find(dir, p string) (string, []byte, error) {
	for _, d := range append([]string{dir}, l.Dirs...) {
		b, err := readLimited(os.DirFS(d), p)
		if err == nil {
			return filepath.Join(d, p), b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	if l.Builtin != nil {
		if b, err := readLimited(l.Builtin, p); err == nil {
			return "rampart:" + p, b, nil
		}
	}
	return "", nil, fmt.Errorf("not found in %s", strings.Join(append([]string{dir}, l.Dirs...), ", "))
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, MaxSize+1)
	n := 0
	for n < len(b) {
		k, err := f.Read(b[n:])
		n += k
		if err != nil {
			break
		}
	}
	if n > MaxSize {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrInvalid, name, MaxSize)
	}
	return b[:n], nil
}

// parse decodes and checks one file.
func parse(b []byte, f *File) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(f); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrInvalid)
	}
	if f.Metadata.Type != MetadataType {
		return fmt.Errorf("%w: Metadata.Type is %q, want %q", ErrInvalid, f.Metadata.Type, MetadataType)
	}
	if len(f.Peripherals) > MaxPeripherals {
		return fmt.Errorf("%w: %d peripherals, over the limit of %d", ErrInvalid, len(f.Peripherals), MaxPeripherals)
	}
	seen := map[string]bool{}
	for _, p := range f.Peripherals {
		if !isIdent(p.Name) {
			return fmt.Errorf("%w: peripheral name %q is not a C identifier", ErrInvalid, clip(p.Name))
		}
		if seen[p.Name] {
			return fmt.Errorf("%w: peripheral %s is defined twice", ErrInvalid, p.Name)
		}
		seen[p.Name] = true
		if (p.Mapping == "") == (len(p.AppManifestValue) == 0) {
			return fmt.Errorf("%w: peripheral %s needs either a Mapping or an AppManifestValue", ErrInvalid, p.Name)
		}
		if p.Mapping != "" && !isIdent(p.Mapping) {
			return fmt.Errorf("%w: peripheral %s maps to %q, not a C identifier", ErrInvalid, p.Name, clip(p.Mapping))
		}
		if len(p.AppManifestValue) > 0 {
			if _, err := p.value(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isIdent(s string) bool {
	if s == "" || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
