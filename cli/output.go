package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	jmespath "github.com/jmespath-community/go-jmespath"
	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/internal/usage"
)

// The formats every listing and show has besides its own (table, json, csv), as azsphere has
// them; --query selects from any of them but the table.
var extraFormats = []string{"yaml", "tsv"}

// addQuery adds --query, a JMESPath expression applied to what --output json would print.
func (e *env) addQuery(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.query, "query", "",
		"JMESPath expression applied to the JSON output, as azsphere's --query (implies --output json unless --output is given)")
}

// checkQuery runs before a command with --output: a malformed --query or one given with a
// format it cannot apply to is a usage error, and --query alone means --output json.
func (e *env) checkQuery(cmd *cobra.Command) error {
	if e.query == "" {
		return nil
	}
	if _, err := jmespath.Compile(e.query); err != nil {
		return usage.Errorf("invalid --query %s: %v", clipFlag(e.query), err)
	}
	out := cmd.Flags().Lookup("output")
	if !out.Changed {
		e.output = "json"
	}
	if e.output == "table" || e.output == "csv" {
		return usage.Errorf("--query selects from JSON: give --output json, yaml or tsv (not %s)", e.output)
	}
	return nil
}

// printData writes v as JSON, YAML or TSV, after --query if it was given.
func (e *env) printData(v any) error {
	if e.query == "" && e.output == "json" {
		return e.printJSON(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if e.query != "" {
		// JMESPath compares numbers as float64, so the query sees them so.
		if err := json.Unmarshal(b, &data); err != nil {
			return err
		}
		if data, err = jmespath.Search(e.query, data); err != nil {
			return fmt.Errorf("--query: %v", err)
		}
	} else {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			return err
		}
	}
	switch e.output {
	case "yaml":
		var buf bytes.Buffer
		writeYAML(&buf, data, 0)
		_, err = e.stdout.Write(buf.Bytes())
		return err
	case "tsv":
		return writeTSV(e.stdout, data)
	}
	return e.printJSON(data)
}

// writeYAML writes a JSON value (as encoding/json decodes it) as YAML in block style. Every
// string that YAML could read as anything else (a number, a boolean, null, a date, a key, an
// indicator) is written double-quoted with JSON's escapes, which YAML's double-quoted style
// shares, so that the document reads back as exactly the JSON value. indent is the column of
// the value's first line when it is a mapping or a sequence.
func writeYAML(w *bytes.Buffer, v any, indent int) {
	pad := strings.Repeat("  ", indent)
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			w.WriteString("{}\n")
			return
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				w.WriteString(pad)
			}
			w.WriteString(yamlScalar(k) + ":")
			writeYAMLChild(w, v[k], indent, false)
		}
	case []any:
		if len(v) == 0 {
			w.WriteString("[]\n")
			return
		}
		for i, item := range v {
			if i > 0 {
				w.WriteString(pad)
			}
			w.WriteString("-")
			writeYAMLChild(w, item, indent, true)
		}
	default:
		w.WriteString(yamlScalar(v) + "\n")
	}
}

// writeYAMLChild writes the value after "key:" or "-": a scalar or an empty collection on the
// same line; else a block indented one level more, which after "-" (inline) starts on the same
// line and after "key:" on the next.
func writeYAMLChild(w *bytes.Buffer, v any, indent int, inline bool) {
	nested := false
	switch c := v.(type) {
	case map[string]any:
		nested = len(c) > 0
	case []any:
		nested = len(c) > 0
	}
	if nested && !inline {
		w.WriteString("\n" + strings.Repeat("  ", indent+1))
	} else {
		w.WriteString(" ")
	}
	writeYAML(w, v, indent+1)
}

// plainYAML is the strings written without quotes: a letter first, then letters, digits and
// _ . / @ - alone, none of which YAML reads as anything but a string (the words below aside).
var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_./@-]*$`)

// yamlWords are what YAML 1.1 or 1.2 reads as a boolean or null, compared lower-cased.
var yamlWords = []string{"y", "n", "yes", "no", "on", "off", "true", "false", "null"}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		if v {
			return "true"
		}
		return "false"
	case json.Number:
		return yamlNumber(v.String())
	case float64:
		b, _ := json.Marshal(v)
		return yamlNumber(string(b))
	case string:
		if plainYAML.MatchString(v) && !slices.Contains(yamlWords, strings.ToLower(v)) {
			return v
		}
		return yamlQuote(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writeTSV writes data as azsphere's --output tsv does: a row for each element of a list (or one
// row for anything else); a row of an object is its values in the order of its sorted keys, a
// nested list shows its length and a nested object nothing. Tabs, newlines and other controls
// in a value are escaped, so that a value is always one cell.
func writeTSV(w io.Writer, data any) error {
	rows, ok := data.([]any)
	if !ok {
		rows = []any{data}
	}
	var b strings.Builder
	for _, row := range rows {
		var cells []any
		switch r := row.(type) {
		case map[string]any:
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				cells = append(cells, r[k])
			}
		case []any:
			cells = r
		default:
			cells = []any{r}
		}
		for i, c := range cells {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(tsvCell(c))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tsvCell(v any) string {
	switch v := v.(type) {
	case nil, map[string]any:
		return ""
	case []any:
		return fmt.Sprint(len(v))
	case string:
		return safetext.Line(v, 0)
	case bool:
		return fmt.Sprint(v)
	case json.Number:
		return v.String()
	case float64:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return safetext.Line(fmt.Sprint(v), 0)
}

// yamlNumber writes a JSON number so that YAML 1.1 reads it as a number too: an exponent needs
// a point before it and a sign after it there (1e10 is written 1.0e+10).
func yamlNumber(n string) string {
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return n
	}
	mant, exp := n[:i], n[i+1:]
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if exp[0] != '+' && exp[0] != '-' {
		exp = "+" + exp
	}
	return mant + "e" + exp
}

// yamlQuote writes s double-quoted with JSON's escapes (\u003c for < and so on, which YAML reads
// too), and escapes as well what JSON leaves as it is but YAML does not allow in a document: DEL,
// the C1 controls, U+FEFF, U+FFFE and U+FFFF.
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	var out strings.Builder
	for _, r := range string(b) {
		if r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfeff || r == 0xfffe || r == 0xffff {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}
