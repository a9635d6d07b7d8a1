// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

// Command hvctl controls a running tamavisor from the host through the
// operator shell on its serial console, which QEMU exposes as a socket
// (-serial unix:build/tamavisor.sock,server=on,wait=off). It uploads signed
// live-patch payloads, lists them and runs their actions, or runs any
// shell command, with the same client (package console) the integration
// tests in ci/ use. It is a host program.
//
// Usage:
//
//	hvctl [-console SPEC] [-timeout DUR] [--json] COMMAND [ARGS]
//
// See usage below for the commands and the exit status.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tamavisor/tamavisor/cmd/hvctl/console"
)

const usage = `usage: hvctl [-console SPEC] [-timeout DUR] [--json] COMMAND [ARGS]

Controls a running tamavisor through the operator shell on its serial
console, which QEMU exposes as a socket:
  qemu-system-... -serial unix:build/tamavisor.sock,server=on,wait=off

commands:
  patch list                      every live-patch payload: name, state, rc, error
  patch get NAME                  one payload's state and last rc
  patch upload NAME FILE          upload a signed payload (cmd/mkpatch output)
  patch stats                     the patch engine's counters and pause times
  patch ACTION NAME [-wait] [-timeout-ms N]
                                  ACTION is check, apply, revert, replace or unload;
                                  starts it (the hypervisor runs it asynchronously);
                                  -wait waits for it to finish and fails unless rc is OK;
                                  -timeout-ms bounds its stop-the-world (default 30)
  run [--] WORD...                run any shell command line, print its output

flags:
  -console SPEC   unix:PATH or tcp:HOST:PORT; QEMU's options after a comma are
                  ignored (default $HVCTL_CONSOLE)
  -timeout DUR    how long to wait for the console to answer (default 10s)
  --json          print the hypervisor's JSON reply instead of text
                  (run: adds --json to the command line)

exit status: 0 done; 1 the hypervisor refused, or the action failed (rc not OK),
or FILE could not be read; 2 usage; 3 the console is unreachable or did not answer
`

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1 // the hypervisor said no, an action failed, a local file failed
	exitUsage   = 2
	exitConsole = 3 // the console could not be reached, went away or stayed silent
)

// consoleEnv names the console when -console is not given.
const consoleEnv = "HVCTL_CONSOLE"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is one hvctl invocation.
type cli struct {
	spec    string
	timeout time.Duration
	json    bool
	stdout  io.Writer
	stderr  io.Writer
}

// usageError is a command line hvctl cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// fileError is a local file hvctl could not read.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// run is hvctl with its arguments and output streams; it returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("hvctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.spec, "console", os.Getenv(consoleEnv), "")
	fs.DurationVar(&c.timeout, "timeout", console.DefaultTimeout, "")
	fs.BoolVar(&c.json, "json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		return c.fail(usagef("%v", err))
	}
	err := c.dispatch(fs.Args())
	if err == nil {
		return exitOK
	}
	return c.fail(err)
}

// fail reports err and returns the exit status it calls for.
func (c *cli) fail(err error) int {
	var (
		ue *usageError
		re *console.RemoteError
		ae *console.ActionError
		fe *fileError
	)
	switch {
	case errors.As(err, &ue), errors.Is(err, console.ErrSpec), errors.Is(err, console.ErrCommand):
		fmt.Fprintf(c.stderr, "hvctl: %v\n\n%s", err, usage)
		return exitUsage
	case errors.As(err, &re):
		if c.json {
			b, _ := json.Marshal(map[string]string{"error": re.Msg}) // a map of strings always encodes
			fmt.Fprintf(c.stdout, "%s\n", b)
		}
		fmt.Fprintf(c.stderr, "hvctl: %s\n", re.Msg)
		return exitFailed
	case errors.As(err, &ae), errors.As(err, &fe):
		fmt.Fprintf(c.stderr, "hvctl: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(c.stderr, "hvctl: %v\n", err)
	return exitConsole
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		return usagef("no command")
	}
	switch args[0] {
	case "patch":
		return c.patch(args[1:])
	case "run":
		words := args[1:]
		if len(words) > 0 && words[0] == "--" {
			words = words[1:]
		}
		if len(words) == 0 {
			return usagef("run: no shell command")
		}
		return c.run(words)
	case "help":
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	return usagef("unknown command %q", args[0])
}

func (c *cli) dial() (*console.Conn, error) {
	if c.spec == "" {
		return nil, usagef("no console: give -console unix:PATH or set %s", consoleEnv)
	}
	if c.timeout <= 0 {
		return nil, usagef("-timeout %v: want a positive duration", c.timeout)
	}
	if _, _, err := console.ParseSpec(c.spec); err != nil {
		return nil, err
	}
	return console.Dial(c.spec, c.timeout)
}

// run runs a shell command line made of words.
func (c *cli) run(words []string) error {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = console.Quote(w)
	}
	line := strings.Join(quoted, " ")
	if c.json {
		line += " --json"
	}
	if err := console.CheckLine(line); err != nil {
		return err
	}
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	out, err := conn.Run(line)
	var re *console.RemoteError
	if err != nil && !errors.As(err, &re) {
		return err
	}
	if out != "" && re == nil {
		fmt.Fprintln(c.stdout, out)
	}
	if re != nil {
		// Print what came before the error line; fail() prints the error.
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			fmt.Fprintln(c.stdout, out[:i])
		}
		return re
	}
	return nil
}

// positional parses fs's flags anywhere among args (Go's flag package
// stops at the first word that is not a flag) and returns the other
// words. Every word after "--" is positional.
func positional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *cli) patch(args []string) error {
	if len(args) == 0 {
		return usagef("patch: no subcommand (list, get, upload, stats, %s)", strings.Join(console.Actions, ", "))
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "list":
		if len(args) != 0 {
			return usagef("patch list takes no arguments")
		}
		conn, err := c.dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		l, err := conn.List()
		if err != nil {
			return err
		}
		return c.printList(l)
	case "stats":
		if len(args) != 0 {
			return usagef("patch stats takes no arguments")
		}
		return c.run([]string{"patch", "stats"})
	case "get":
		pos, err := splitDashDash(args)
		if err != nil || len(pos) != 1 {
			return usagef("usage: patch get NAME")
		}
		conn, err := c.dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		st, err := conn.Get(pos[0])
		if err != nil {
			return err
		}
		return c.printStatus(st)
	case "upload":
		pos, err := splitDashDash(args)
		if err != nil || len(pos) != 2 {
			return usagef("usage: patch upload NAME FILE")
		}
		raw, err := os.ReadFile(pos[1])
		if err != nil {
			return &fileError{err}
		}
		if len(raw) == 0 {
			return &fileError{fmt.Errorf("%s: empty file", pos[1])}
		}
		conn, err := c.dial()
		if err != nil {
			return err
		}
		defer conn.Close()
		st, err := conn.Upload(pos[0], raw)
		if err != nil {
			return err
		}
		return c.printStatus(st)
	}
	for _, a := range console.Actions {
		if verb == a {
			return c.action(verb, args)
		}
	}
	return usagef("patch: unknown subcommand %q (list, get, upload, stats, %s)", verb, strings.Join(console.Actions, ", "))
}

// splitDashDash returns args without one leading "--"; any other word
// starting with '-' is refused, so a misplaced flag is not taken for a
// name.
func splitDashDash(args []string) ([]string, error) {
	if len(args) > 0 && args[0] == "--" {
		return args[1:], nil
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") && a != "-" {
			return nil, usagef("unknown flag %q", a)
		}
	}
	return args, nil
}

func (c *cli) action(verb string, args []string) error {
	fs := flag.NewFlagSet("patch "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o console.ActionOptions
	fs.BoolVar(&o.Wait, "wait", false, "")
	fs.IntVar(&o.TimeoutMS, "timeout-ms", 0, "")
	pos, err := positional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: patch %s NAME [-wait] [-timeout-ms N]", verb)
	}
	if o.TimeoutMS < 0 {
		return usagef("-timeout-ms %d: want 0 or more", o.TimeoutMS)
	}
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := conn.Action(verb, pos[0], o)
	var ae *console.ActionError
	if err != nil && !errors.As(err, &ae) {
		return err
	}
	if perr := c.printStatus(st); perr != nil {
		return perr
	}
	return err
}

func (c *cli) printStatus(st console.Status) error {
	if c.json {
		raw := st.Raw
		if raw == nil {
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			raw = b
		}
		_, err := fmt.Fprintf(c.stdout, "%s\n", raw)
		return err
	}
	_, err := fmt.Fprintln(c.stdout, st)
	return err
}

func (c *cli) printList(l console.PatchList) error {
	if c.json {
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tSTATE\tRC\tERROR\n")
	for _, p := range l.Patches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.State, p.RC, p.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "%d payloads, list version %d\n", len(l.Patches), l.Version)
	return err
}
