package cli_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rampart-iot/rampart/cli"
)

// postgresEnv names a PostgreSQL server (postgres://…) to run the scripts against as well.
const postgresEnv = "RAMPART_TEST_POSTGRES"

// TestMain lets the test binary also act as the `rampart` command the scripts exec.
func TestMain(m *testing.M) {
	testscript.Main(withSimulators{m}, map[string]func(){
		"rampart":     func() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"swtpm-reset": swtpmReset,
	})
}

// TestScripts runs the end-to-end scripts of testdata/script: each starts a real `rampart
// server --dev` in the background and drives it with the real command line. With
// RAMPART_TEST_POSTGRES set, the scripts run a second time with the server on PostgreSQL, each in
// a schema of its own.
func TestScripts(t *testing.T) {
	t.Parallel()
	deviceBin := buildDevice(t)
	telemetryWasm := buildWasm(t, "../examples/telemetry")
	crashWasm := buildWasm(t, "../examples/crash")
	cSDK, err := filepath.Abs("../sdk/c")
	if err != nil {
		t.Fatal(err)
	}
	examples := filepath.Join(filepath.Dir(filepath.Dir(cSDK)), "examples")
	backends := []string{"sqlite"}
	if os.Getenv(postgresEnv) != "" {
		backends = append(backends, "postgres")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/script",
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				Setup: func(env *testscript.Env) error {
					env.Setenv("RAMPART_DEVICE_BIN", deviceBin)
					env.Setenv("TELEMETRY_WASM", telemetryWasm)
					env.Setenv("CRASH_WASM", crashWasm)
					env.Setenv("RAMPART_C_SDK", cSDK)
					env.Setenv("EXAMPLES", examples)
					env.Setenv("PATH", filepath.Dir(deviceBin)+string(os.PathListSeparator)+env.Getenv("PATH"))
					return setup(env, backend)
				},
				Condition: condition(backend),
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"waitfile":     cmdWaitfile,
					"loadenv":      cmdLoadenv,
					"jsonget":      cmdJSONGet,
					"perm":         cmdPerm,
					"dbexec":       cmdDBExec,
					"concat":       cmdConcat,
					"mosquitto":    cmdMosquitto,
					"waitlog":      cmdWaitlog,
					"writefile":    cmdWritefile,
					"freeport":     cmdFreeport,
					"eventually":   cmdEventually,
					"countlines":   cmdCountLines,
					"zipcat":       cmdZipcat,
					"swtpm":        cmdSwtpm,
					"swtpmca":      cmdSwtpmCA,
					"fleet":        cmdFleet,
					"closedwindow": cmdClosedWindow,
				},
			})
		})
	}
}

// buildDevice builds the real rampart-device binary for the scripts that run a simulated device.
func buildDevice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rampart-device")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/rampart-device").CombinedOutput()
	if err != nil {
		t.Fatalf("build rampart-device: %v\n%s", err, out)
	}
	return bin
}

// buildWasm builds a sample app for GOOS=wasip1 GOARCH=wasm.
func buildWasm(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// cmdMosquitto starts a real Mosquitto broker for the script: mosquitto CAFILE CERT KEY. Its TLS
// listener on a free loopback port (in $MQTT_PORT) requires a client certificate signed by
// CAFILE and takes the certificate's CN as the user name; it logs to $WORK/mosquitto.log and is
// stopped when the script ends.
func cmdMosquitto(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: mosquitto CAFILE CERT KEY")
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	u, err := user.Current()
	ts.Check(err)
	conf := fmt.Sprintf("user %s\npersistence false\nlog_dest file %s\nlog_type all\n"+
		"listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"+
		"require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n",
		u.Username, ts.MkAbs("mosquitto.log"), port, ts.MkAbs(args[0]), ts.MkAbs(args[1]), ts.MkAbs(args[2]))
	confPath := ts.MkAbs("mosquitto.conf")
	ts.Check(os.WriteFile(confPath, []byte(conf), 0o600))
	cmd := exec.Command(bin, "-c", confPath)
	ts.Check(cmd.Start())
	ts.Defer(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			ts.Fatalf("mosquitto did not start: %s", ts.ReadFile("mosquitto.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Setenv("MQTT_PORT", strconv.Itoa(port))
}

// cmdFreeport sets NAME to a free loopback TCP port: freeport NAME.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
}

// cmdEventually runs a command every half second, for up to SECONDS, until its stdout matches
// REGEXP: eventually SECONDS REGEXP PROGRAM ARGS...
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: eventually SECONDS REGEXP PROGRAM ARGS...")
	}
	secs, err := strconv.Atoi(args[0])
	ts.Check(err)
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	var env []string
	for _, k := range []string{"PATH", "HOME", "XDG_CONFIG_HOME", "RAMPART_SERVER", "RAMPART_TOKEN", "RAMPART_CACERT"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	var out, errOut []byte
	for deadline := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		cmd := exec.Command(lookPath(ts, args[2]), args[3:]...)
		cmd.Env, cmd.Dir = env, ts.MkAbs(".")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, _ = cmd.Output()
		errOut = []byte(stderr.String())
		if re.Match(out) {
			return
		}
	}
	ts.Fatalf("%s never printed a match for %q; last:\n%s%s", strings.Join(args[2:], " "), args[1], out, errOut)
}

// cmdFleet runs a fleet of real devices, each with a state folder of its own ($WORK/NAME-I):
//
//	fleet init NAME N          rampart-device init of N devices against $RAMPART_SERVER; their
//	                           IDs go to $WORK/NAME.ids, one a line, and to $NAME_0, $NAME_1, …
//	fleet each NAME PROG ARGS  runs PROG ARGS once for each device, two at a time, with {id} and
//	                           {state} in ARGS replaced by its ID and state folder; fails if any
//	                           run fails, with its output
//	fleet start NAME PROG ARGS starts PROG ARGS for each device in the background (as each),
//	                           its output in $WORK/NAME-I.log, until fleet stop NAME or the end
//	                           of the script
//	fleet stop NAME            interrupts them and waits for them to end
func cmdFleet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 2 && args[0] == "stop" {
		stopFleet(ts, args[1])
		return
	}
	if neg || len(args) < 3 {
		ts.Fatalf("usage: fleet init NAME N | fleet each|start NAME PROGRAM ARGS... | fleet stop NAME")
	}
	name := args[1]
	env := []string{"HOME=" + ts.Getenv("HOME")}
	for _, k := range []string{"PATH", "XDG_CONFIG_HOME", "RAMPART_SERVER", "RAMPART_TOKEN", "RAMPART_CACERT"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	run := func(prog string, args ...string) (string, error) {
		cmd := exec.Command(lookPath(ts, prog), args...)
		cmd.Env, cmd.Dir = env, ts.MkAbs(".")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	switch args[0] {
	case "init":
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		var ids []string
		for i := range n {
			state := ts.MkAbs(fmt.Sprintf("%s-%d", name, i))
			if out, err := run("rampart-device", "init", "--state", state, "--server", ts.Getenv("RAMPART_SERVER"),
				"--cacert", ts.Getenv("RAMPART_CACERT")); err != nil {
				ts.Fatalf("init device %d: %v\n%s", i, err, out)
			}
			out, err := run("rampart-device", "id", "--state", state)
			if err != nil {
				ts.Fatalf("device %d id: %v\n%s", i, err, out)
			}
			id := strings.TrimSpace(out)
			ts.Setenv(fmt.Sprintf("%s_%d", name, i), id)
			ids = append(ids, id)
		}
		ts.Check(os.WriteFile(ts.MkAbs(name+".ids"), []byte(strings.Join(ids, "\n")+"\n"), 0o644))
	case "start":
		b, err := os.ReadFile(ts.MkAbs(name + ".ids"))
		ts.Check(err)
		var cmds []*exec.Cmd
		for i, id := range strings.Fields(string(b)) {
			r := strings.NewReplacer("{id}", id, "{state}", ts.MkAbs(fmt.Sprintf("%s-%d", name, i)))
			a := make([]string, len(args)-3)
			for j, arg := range args[3:] {
				a[j] = r.Replace(arg)
			}
			log, err := os.Create(ts.MkAbs(fmt.Sprintf("%s-%d.log", name, i)))
			ts.Check(err)
			cmd := exec.Command(lookPath(ts, args[2]), a...)
			cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, ts.MkAbs("."), log, log
			ts.Check(cmd.Start())
			log.Close()
			cmds = append(cmds, cmd)
		}
		fleets.Lock()
		fleets.m[ts.MkAbs(name)] = cmds
		fleets.Unlock()
		ts.Defer(func() { stopFleet(ts, name) })
	case "each":
		b, err := os.ReadFile(ts.MkAbs(name + ".ids"))
		ts.Check(err)
		ids := strings.Fields(string(b))
		errs := make([]string, len(ids))
		sem := make(chan struct{}, 2)
		done := make(chan struct{})
		for i, id := range ids {
			go func() {
				sem <- struct{}{}
				defer func() { <-sem; done <- struct{}{} }()
				r := strings.NewReplacer("{id}", id, "{state}", ts.MkAbs(fmt.Sprintf("%s-%d", name, i)))
				a := make([]string, len(args)-3)
				for j, arg := range args[3:] {
					a[j] = r.Replace(arg)
				}
				if out, err := run(args[2], a...); err != nil {
					errs[i] = fmt.Sprintf("device %d (%s): %v\n%s", i, id, err, out)
				}
			}()
		}
		for range ids {
			<-done
		}
		if failed := strings.Join(slices.DeleteFunc(errs, func(s string) bool { return s == "" }), "\n"); failed != "" {
			ts.Fatalf("%s", failed)
		}
	default:
		ts.Fatalf("usage: fleet init NAME N | fleet each NAME PROGRAM ARGS...")
	}
}

// cmdClosedWindow sets NAME to a maintenance window that is closed now and for days: a minute
// three days from today (UTC): closedwindow NAME
func cmdClosedWindow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: closedwindow NAME")
	}
	day := time.Now().UTC().AddDate(0, 0, 3).Weekday().String()[:3]
	ts.Setenv(args[0], day+" 02:00-02:01 UTC")
}

// fleets are the processes of fleet start, by $WORK/NAME.
var fleets = struct {
	sync.Mutex
	m map[string][]*exec.Cmd
}{m: map[string][]*exec.Cmd{}}

// stopFleet interrupts the processes of fleet start NAME and waits for them, killing those
// still running after 20 seconds.
func stopFleet(ts *testscript.TestScript, name string) {
	fleets.Lock()
	cmds := fleets.m[ts.MkAbs(name)]
	delete(fleets.m, ts.MkAbs(name))
	fleets.Unlock()
	for _, cmd := range cmds {
		cmd.Process.Signal(os.Interrupt)
	}
	for _, cmd := range cmds {
		t := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		t.Stop()
	}
}

// lookPath finds a program on the script's PATH (exec.Command would search the test's own).
func lookPath(ts *testscript.TestScript, name string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}

// cmdCountLines sets NAME to the number of lines of FILE matching REGEXP:
// countlines FILE REGEXP NAME.
func cmdCountLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: countlines FILE REGEXP NAME")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	n := 0
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if re.MatchString(line) {
			n++
		}
	}
	ts.Setenv(args[2], strconv.Itoa(n))
}

// cmdWaitlog waits up to a minute for a line matching REGEXP in FILE: waitlog FILE REGEXP.
func cmdWaitlog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitlog FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	for i := 0; i < 600; i++ {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(ts.MkAbs(args[0]))
	ts.Fatalf("no line matching %q in %s:\n%s", args[1], args[0], b)
}

// cmdWritefile writes its second argument (variables already expanded) to a file, making its
// folder: writefile FILE CONTENT.
func cmdWritefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: writefile FILE CONTENT")
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o700))
	ts.Check(os.WriteFile(path, []byte(args[1]+"\n"), 0o600))
}

// cmdZipcat writes the name and contents of every file in a zip to OUT, one after another:
// zipcat ZIP OUT.
func cmdZipcat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: zipcat ZIP OUT")
	}
	zr, err := zip.OpenReader(ts.MkAbs(args[0]))
	ts.Check(err)
	defer zr.Close()
	var out bytes.Buffer
	for _, f := range zr.File {
		fmt.Fprintf(&out, "== %s ==\n", f.Name)
		r, err := f.Open()
		ts.Check(err)
		_, err = io.Copy(&out, io.LimitReader(r, 16<<20))
		r.Close()
		ts.Check(err)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out.Bytes(), 0o600))
}

// cmdConcat writes the concatenation of files: concat OUT IN... (a changed build of a binary is
// the binary with bytes appended).
func cmdConcat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: concat OUT IN...")
	}
	var out []byte
	for _, in := range args[1:] {
		out = append(out, ts.ReadFile(in)...)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), out, 0o755))
}

// setup gives each script a home of its own (so `rampart login` writes under $WORK) and the
// database flag value $DB: empty for SQLite in the data folder, else a fresh PostgreSQL schema.
func setup(env *testscript.Env, backend string) error {
	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	env.Setenv("HOME", home)
	env.Setenv("XDG_CONFIG_HOME", "")
	env.Setenv("DB", "")
	if backend == "postgres" {
		dsn, drop, err := newSchema(os.Getenv(postgresEnv))
		if err != nil {
			return err
		}
		env.Defer(drop)
		env.Setenv("DB", dsn)
	}
	return nil
}

// newSchema makes an empty PostgreSQL schema and returns a URL that works in it, and a function
// that drops it.
func newSchema(server string) (dsn string, drop func(), err error) {
	u, err := url.Parse(server)
	if err != nil {
		// Not err itself: it would show the URL, password included.
		return "", nil, fmt.Errorf("%s is not a URL", postgresEnv)
	}
	db, err := sql.Open("pgx", server)
	if err != nil {
		return "", nil, err
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "rampart_clitest_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("PostgreSQL at %s cannot be used: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	}, nil
}

// condition adds [sqlite] and [postgres], true when the scripts run on that backend, and
// [ctoolchain], true when the C toolchain for wasm32-wasi apps is installed.
func condition(backend string) func(string) (bool, error) {
	return func(cond string) (bool, error) {
		switch cond {
		case "sqlite", "postgres":
			return cond == backend, nil
		case "ctoolchain":
			return haveCToolchain()
		}
		return false, fmt.Errorf("unknown condition %q", cond)
	}
}

// cmdWaitfile: waitfile FILE [REGEXP]
//
// Waits until FILE exists, is not empty, ends in a newline and, if given, matches REGEXP.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [REGEXP]")
	}
	var re *regexp.Regexp
	if len(args) == 2 {
		re = regexp.MustCompile("(?m)" + args[1])
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && b[len(b)-1] == '\n' && (re == nil || re.Match(b)) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile %s: not ready after 20s (err %v, content %q)", args[0], err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdLoadenv: loadenv FILE
//
// Sets the variables of FILE's `export NAME=VALUE` lines.
func cmdLoadenv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: loadenv FILE")
	}
	sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[0])))
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, ok := strings.CutPrefix(line, "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || k == "" {
			ts.Fatalf("loadenv %s: not an export line: %q", args[0], line)
		}
		ts.Setenv(k, v)
		n++
	}
	if n == 0 {
		ts.Fatalf("loadenv %s: no export lines", args[0])
	}
}

// cmdJSONGet: jsonget FILE PATH NAME
//
// Sets the variable NAME to the string or number at PATH in the JSON of FILE (which may be
// stdout). PATH is dot-separated object keys and array indexes: token, tenant.id, devices.0.id.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonget FILE PATH NAME")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &v))
	for _, key := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[key]; !ok {
				ts.Fatalf("jsonget %s: no field %q in %s", args[0], key, args[1])
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("jsonget %s: no element %q in %s", args[0], key, args[1])
			}
			v = x[i]
		default:
			ts.Fatalf("jsonget %s: %s does not lead to a value", args[0], args[1])
		}
	}
	switch x := v.(type) {
	case string:
		ts.Setenv(args[2], x)
	case float64:
		ts.Setenv(args[2], strconv.FormatFloat(x, 'f', -1, 64))
	default:
		ts.Fatalf("jsonget %s: %s is not a string or number", args[0], args[1])
	}
}

// cmdPerm: perm FILE MODE
//
// Checks that FILE's permission bits are MODE (octal, e.g. 0600).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := fi.Mode().Perm()
	if (got == os.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdDBExec: dbexec DATADIR STATEMENT
//
// Runs one SQL statement on the service's database behind its back, as an attacker with access
// to the database would: on $DB if set, else on DATADIR's SQLite file.
func cmdDBExec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dbexec DATADIR STATEMENT")
	}
	driver, dsn := "pgx", ts.Getenv("DB")
	if dsn == "" {
		driver, dsn = "sqlite", ts.MkAbs(filepath.Join(args[0], "rampart.db"))+"?_busy_timeout=10000"
	}
	db, err := sql.Open(driver, dsn)
	ts.Check(err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := db.ExecContext(ctx, args[1])
	ts.Check(err)
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		ts.Fatalf("dbexec: no row changed")
	}
}

// TestExitCodes checks what scripts cannot: the exit code, 2 for a usage error and 1 for any
// other, with one line on stderr and nothing on stdout. No service is needed.
func TestExitCodes(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, name := range []string{"RAMPART_SERVER", "RAMPART_TOKEN", "RAMPART_CACERT"} {
		t.Setenv(name, "")
	}
	nowhere := []string{"--server", "https://127.0.0.1:1", "--token", "rmp_x"}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", nil, 0},
		{"completion script", []string{"completion", "bash"}, 0},
		{"unknown command", []string{"frobnicate"}, 2},
		{"unknown verb", []string{"device", "frobnicate"}, 2},
		{"unknown flag", []string{"product", "list", "--bogus"}, 2},
		{"missing argument", []string{"product", "show"}, 2},
		{"missing required flag", []string{"tenant", "create", "acme"}, 2},
		{"bad flag value", []string{"device", "list", "--limit", "many"}, 2},
		{"bad log level", []string{"server", "--log-level", "loud"}, 2},
		{"bad page size", append([]string{"device", "list", "--limit", "0"}, nowhere...), 2},
		{"bad output format", append([]string{"product", "list", "--output", "xml"}, nowhere...), 2},
		{"no service address", []string{"product", "list"}, 1},
		{"service unreachable", append([]string{"product", "list"}, nowhere...), 1},
		{"bad device ID", []string{"device", "claim", "xyz"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			got := cli.Run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if got != tt.want {
				t.Errorf("rampart %s: exit code %d, want %d (stderr %q)", strings.Join(tt.args, " "), got, tt.want, stderr.String())
			}
			if tt.want == 0 {
				return
			}
			if stdout.Len() > 0 {
				t.Errorf("rampart %s: stdout %q, want nothing", strings.Join(tt.args, " "), stdout.String())
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "rampart: ") || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("rampart %s: stderr %q, want one line starting \"rampart: \"", strings.Join(tt.args, " "), msg)
			}
		})
	}
}

// cToolchain is what building the C examples needs (scripts/test-services installs it).
var cToolchain = []string{"clang", "wasm-ld", "cmake", "ninja", "/usr/lib/wasm32-wasi/libc.a"}

// haveCToolchain reports whether the C toolchain is installed. Without it the C scripts are
// skipped on a workstation, but in CI (the CI variable set) its absence is an error.
func haveCToolchain() (bool, error) {
	var missing []string
	for _, p := range cToolchain {
		if strings.HasPrefix(p, "/") {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
		} else if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if rt, _ := filepath.Glob("/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a"); len(rt) == 0 {
		missing = append(missing, "libclang_rt.builtins-wasm32.a")
	}
	if len(missing) == 0 {
		return true, nil
	}
	if os.Getenv("CI") != "" {
		return false, fmt.Errorf("CI is set and the C toolchain lacks %s: run scripts/test-services", strings.Join(missing, ", "))
	}
	return false, nil
}
