// Command probe is the app of the app host's tests. What it does depends on its name (its
// only argument): "crasher" exits 1 at once, "looper" spins forever without a host call,
// "hog" allocates until it runs out of memory, "ticker" logs "tick N" every 20 ms; any other
// name reads the file "script" from its storage and runs it, a command a line, logging
// "RESULT <command> => <answer>" for each and "DONE" at the end, then sleeps.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/sdk"
)

var sink [][]byte

func main() {
	switch os.Args[0] {
	case "crasher":
		os.Exit(1)
	case "looper":
		sdk.Logf("looping")
		n := 0
		for {
			n++
		}
	case "hog":
		for i := 0; ; i++ {
			sink = append(sink, make([]byte, 1<<20))
			if i%4 == 0 {
				fmt.Println("allocated", i+1, "MiB")
			}
		}
	case "ticker":
		for i := 0; ; i++ {
			sdk.Logf("tick %d", i)
			time.Sleep(20 * time.Millisecond)
		}
	case "panicker":
		panic("probe panics on purpose")
	}
	script, err := sdk.Storage.Read("script")
	if err != nil {
		sdk.Logf("no script: %v", err)
		os.Exit(3)
	}
	sc := bufio.NewScanner(strings.NewReader(string(script)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		sdk.Logf("RESULT %s => %s", line, do(strings.Fields(line)))
	}
	sdk.Logf("DONE")
	for {
		time.Sleep(time.Hour)
	}
}

func answer(err error) string {
	if err == nil {
		return "ok"
	}
	var e sdk.Error
	if errors.As(err, &e) {
		return "err " + strconv.Itoa(int(e))
	}
	return "error " + err.Error()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func do(f []string) string {
	switch f[0] {
	case "dial":
		c, err := sdk.Dial(f[1], atoi(f[2]))
		if err != nil {
			return answer(err)
		}
		defer c.Close()
		return echo(c)
	case "dialtls":
		c, err := sdk.DialTLS(f[1], atoi(f[2]), f[3] == "1")
		if err != nil {
			return answer(err)
		}
		defer c.Close()
		return echo(c)
	case "put":
		return answer(sdk.Storage.Write(f[1], []byte(strings.Repeat("x", atoi(f[2])))))
	case "get":
		b, err := sdk.Storage.Read(f[1])
		if err != nil {
			return answer(err)
		}
		return "ok " + string(b)
	case "del":
		return answer(sdk.Storage.Delete(f[1]))
	case "list":
		names, err := sdk.Storage.List()
		if err != nil {
			return answer(err)
		}
		return "ok " + strings.Join(names, ",")
	case "set":
		return answer(sdk.GPIO.Set(atoi(f[1]), f[2] == "1"))
	case "pin":
		v, err := sdk.GPIO.Get(atoi(f[1]))
		if err != nil {
			return answer(err)
		}
		return fmt.Sprintf("ok %v", v)
	case "events":
		e, ok, err := sdk.Events.Next()
		if err != nil || !ok {
			return answer(err) + " none"
		}
		return fmt.Sprintf("ok %s %s", e.Type, e.Kind)
	case "defer":
		return answer(sdk.DeferUpdate(f[1], time.Duration(atoi(f[2]))*time.Minute))
	case "resume":
		return answer(sdk.ResumeUpdate(f[1]))
	case "sleep":
		time.Sleep(time.Duration(atoi(f[1])) * time.Millisecond)
		return "ok"
	}
	return "unknown command"
}

// echo writes "ping\n" and returns what comes back, up to a newline.
func echo(c *sdk.Conn) string {
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "write " + answer(err)
	}
	c.SetReadTimeout(5 * time.Second)
	var got []byte
	buf := make([]byte, 64)
	for !strings.Contains(string(got), "\n") {
		n, err := c.Read(buf)
		if err != nil {
			return "read " + answer(err)
		}
		got = append(got, buf[:n]...)
	}
	return "ok " + strings.TrimSpace(string(got))
}
