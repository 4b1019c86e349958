package tufrepo

import (
	"strconv"
	"strings"
	"testing"
)

// format is the path parse reads q from.
func (q request) format() string {
	file := q.role + ".json"
	switch {
	case q.role == "":
		dir, base := "", q.target
		if i := strings.LastIndexByte(q.target, '/'); i >= 0 {
			dir, base = q.target[:i+1], q.target[i+1:]
		}
		if q.sha256 != "" {
			base = q.sha256 + "." + base
		}
		file = "targets/" + dir + base
	case q.version != 0:
		file = strconv.FormatInt(q.version, 10) + "." + file
	}
	return q.repo() + "/" + file
}

// FuzzParse: every path parse accepts names one file, which it reads back the same, and is
// bounded; nothing makes it panic.
func FuzzParse(f *testing.F) {
	const id = "3b281487-76e6-4106-b386-a20f6cc0455d"
	for _, p := range []string{
		"group/" + id + "/1.root.json", "group/" + id + "/root.json", "feed/Retail/timestamp.json",
		"feed/RetailEval/12.snapshot.json", "group/" + id + "/snapshot.json", "group/" + id + "/3.targets.json",
		"group/" + id + "/targets/images/" + id,
		"group/" + id + "/targets/images/" + strings.Repeat("ab", 32) + "." + id,
		"feed/Retail/targets/runtime/1.2.3", "group/" + id + "/0.root.json", "group/" + id + "/01.root.json",
		"group/" + id + "/1.timestamp.json", "group/" + strings.ToUpper(id) + "/root.json", "feed/Beta/root.json",
		"group/" + id + "/targets/", "group/" + id + "//root.json", "",
		"group/" + id + "/4.bin-07.json", "group/" + id + "/targets/bins/07/" + id, "feed/Retail/2.bin-07.json",
		"group/" + id + "/1.bin-7.json", "group/" + id + "/1.bin-100.json",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		q, ok := parse(path)
		if !ok {
			return
		}
		if got := q.format(); got != path {
			t.Errorf("parse(%q) = %+v, which reads back as %q", path, q, got)
		}
		if len(path) > maxPath || q.role == "" && q.target == "" || q.version < 0 {
			t.Errorf("parse(%q) accepted %+v", path, q)
		}
	})
}
