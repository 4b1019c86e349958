package manifest

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
)

// maxDepth bounds the nesting of a strictly decoded JSON text; Rampart's documents nest three
// levels deep.
const maxDepth = 16

// DecodeStrict decodes the JSON text data into v (a pointer to a struct) and refuses what
// encoding/json alone lets through: invalid UTF-8, an object key given twice (encoding/json
// keeps the last), a key that is not spelled exactly as a field's json tag (encoding/json
// matches case-insensitively), unknown fields, nesting deeper than 16 levels and anything after
// the value. The image package's manifest and the app manifest are both read with it.
//
// Its errors name the offending key by its path (Capabilities.Gpio) and quote no more than a
// short, printable excerpt of the input.
func DecodeStrict(data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return errors.New("DecodeStrict needs a pointer")
	}
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkValue(dec, t.Elem(), "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// checkValue reads one JSON value from dec, checking the keys of objects against t's fields
// (t nil: a value of no known type, whose keys are checked for duplicates only).
func checkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%snested more than %d levels deep", at(path), maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = structFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			key, _ := tok.(string)
			if seen[key] {
				return fmt.Errorf("%skey %s appears twice", at(path), quote(key))
			}
			seen[key] = true
			var ft reflect.Type
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					return fmt.Errorf("%sunknown field %s", at(path), quote(key))
				}
			}
			if err := checkValue(dec, ft, join(path, key), depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, et, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar; encoding/json checks its type
	}
	_, err = dec.Token() // the closing delimiter
	return jsonError(err)
}

// structFields maps the json names of t's exported fields to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
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
	return path + ": "
}

// jsonError turns encoding/json's errors into messages without its "json: " prefix. Its
// messages name fields and types of Rampart's structs, never the input's text.
func jsonError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("empty or truncated JSON")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// quote quotes s for an error message: short and printable whatever s holds.
func quote(s string) string {
	const max = 60
	if len(s) > max {
		return strconv.QuoteToASCII(s[:max]) + "…"
	}
	return strconv.QuoteToASCII(s)
}
