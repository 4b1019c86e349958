// Package strictjson is the one JSON decoder for everything Rampart did not write itself: HTTP
// request bodies, the device's state files, its control socket, app and image manifests,
// capabilities, and the service's answers to a device.
//
// encoding/json alone accepts an object key given twice (the last wins), keys that differ only
// in case (it matches struct fields case-insensitively), unknown fields, anything after the
// value, invalid UTF-8 (replaced silently) and any nesting depth. Each of those lets two parsers
// read one text differently, so [Decode] refuses them all before encoding/json sees the text.
//
// # Errors
//
// Errors name the offending key by its path (Capabilities.Gpio[1]) and quote at most a short,
// printable excerpt of the input, so they are safe to send back to whoever sent the text.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/format/safetext"
)

// MaxDepth bounds the nesting of objects and arrays; Rampart's documents nest four levels deep.
const MaxDepth = 32

// ErrTooLarge is wrapped by [DecodeReader] when the text is over its limit.
var ErrTooLarge = errors.New("JSON text too large")

// Decode decodes the JSON text data into v (a pointer) and refuses invalid UTF-8, an object key
// given twice (also when the two differ only in case), a key not spelled exactly as its field's
// json tag, unknown fields, nesting deeper than [MaxDepth] and anything after the value.
func Decode(data []byte, v any) error {
	return decode(data, v, false)
}

// DecodeAnswer is [Decode] for the service's answers to a device: unknown fields are skipped,
// since a device in the field must keep understanding a service that has grown its answers.
// Everything else is refused as Decode does, including a key that differs only in case from a
// field's, which encoding/json would otherwise take for that field.
func DecodeAnswer(data []byte, v any) error {
	return decode(data, v, true)
}

// DecodeReader reads at most limit bytes from r and decodes them with [Decode]. A longer text
// is an error wrapping [ErrTooLarge].
func DecodeReader(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: over the limit of %d bytes", ErrTooLarge, limit)
	}
	return Decode(data, v)
}

func decode(data []byte, v any, allowUnknown bool) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return errors.New("strictjson: Decode needs a pointer")
	}
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	c := checker{dec: json.NewDecoder(bytes.NewReader(data)), allowUnknown: allowUnknown}
	if err := c.value(t.Elem(), "", 0); err != nil {
		return err
	}
	if _, err := c.dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !allowUnknown {
		dec.DisallowUnknownFields()
	}
	return jsonError(dec.Decode(v))
}

// checker walks a JSON text token by token, checking each object's keys against the type the
// text will be decoded into.
type checker struct {
	dec          *json.Decoder
	allowUnknown bool
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// value reads one JSON value, checking the keys of objects against t's fields (t nil: a value
// of no known type, whose keys are checked for duplicates only).
func (c *checker) value(t reflect.Type, path string, depth int) error {
	tok, err := c.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if _, open := tok.(json.Delim); open && depth >= MaxDepth {
		return fmt.Errorf("%snested more than %d levels deep", at(path), MaxDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler)) {
		t = nil // decodes itself: only duplicates and depth are checked
	}
	switch tok {
	case json.Delim('{'):
		err = c.object(t, path, depth)
	case json.Delim('['):
		err = c.array(t, path, depth)
	default:
		return nil // a scalar; encoding/json checks its type
	}
	if err != nil {
		return err
	}
	_, err = c.dec.Token() // the closing delimiter
	return jsonError(err)
}

func (c *checker) object(t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = structFields(t)
	}
	var elem reflect.Type
	if t != nil && t.Kind() == reflect.Map {
		elem = t.Elem()
	}
	seen := map[string]string{} // folded key → key as given
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key, _ := tok.(string)
		if first, dup := seen[fold(key)]; dup {
			if first == key {
				return fmt.Errorf("%skey %s appears twice", at(path), safetext.Quote(key, 60))
			}
			return fmt.Errorf("%skeys %s and %s differ only in case", at(path), safetext.Quote(first, 60), safetext.Quote(key, 60))
		}
		seen[fold(key)] = key
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				if err := c.unknown(fields, path, key); err != nil {
					return err
				}
			}
		}
		if err := c.value(ft, join(path, key), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// unknown decides about a key that names no field: refused, unless unknown fields are allowed
// and the key is not a field's name in another case (which encoding/json would decode into it).
func (c *checker) unknown(fields map[string]reflect.Type, path, key string) error {
	if !c.allowUnknown {
		return fmt.Errorf("%sunknown field %s", at(path), safetext.Quote(key, 60))
	}
	for name := range fields {
		if fold(name) == fold(key) {
			return fmt.Errorf("%skey %s differs from field %s only in case", at(path), safetext.Quote(key, 60), safetext.Quote(name, 60))
		}
	}
	return nil
}

func (c *checker) array(t reflect.Type, path string, depth int) error {
	var et reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		et = t.Elem()
	}
	for i := 0; c.dec.More(); i++ {
		if err := c.value(et, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
			return err
		}
	}
	return nil
}

// structFields maps the json names of t's exported fields, and those of its embedded structs,
// to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			for k, v := range structFields(ft) {
				if _, own := m[k]; !own {
					m[k] = v
				}
			}
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

// fold maps a key to the form encoding/json compares field names in (Unicode simple case
// folding, K and the Kelvin sign alike).
func fold(s string) string {
	return strings.ToLower(strings.ToUpper(s))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// at prefixes an error with the path it is at, if any.
func at(path string) string {
	if path == "" {
		return ""
	}
	return quoteShort(path) + ": "
}

// jsonError turns encoding/json's errors into messages without its "json: " prefix. Its
// messages name fields and types of Rampart's structs, never the input's text.
func jsonError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("empty or truncated JSON")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// quoteShort leaves a path as it is when it is short and plain ASCII, and quotes it otherwise.
func quoteShort(s string) string {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' {
			return safetext.Quote(s, 60)
		}
	}
	if len(s) > 120 {
		return safetext.Quote(s, 60)
	}
	return s
}
