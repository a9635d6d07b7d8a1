// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// Prompt is printed before each command line.
const Prompt = "tamavisor> "

// Global flags, recognised anywhere on a command line.
const (
	flagJSON      = "--json"
	flagHelpShort = "-h"
	flagHelpLong  = "--help"
)

var (
	// ErrExit, returned by a command, makes Shell.Run return nil.
	ErrExit = errors.New("exit")
	// ErrUnknownCommand reports a command name that is not registered.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrUsage reports a command called with arguments it does not take.
	// Context.Usage wraps it with the command's usage line.
	ErrUsage = errors.New("usage")
	// ErrInternal reports a command that panicked. The shell wraps it
	// with the panic value.
	ErrInternal = errors.New("internal")
	// ErrDuplicate reports a second command registered under one name.
	ErrDuplicate = errors.New("shell: duplicate command")
	// ErrInvalidCommand reports a Command that Register cannot accept.
	ErrInvalidCommand = errors.New("shell: invalid command")
)

// Command is one entry of the shell's command table.
type Command struct {
	// Name is what the operator types: printable ASCII, no spaces, not
	// starting with '-'.
	Name string
	// Args is the usage synopsis after the name, e.g. "[--json]".
	Args string
	// Help is a one-line description.
	Help string
	// Run executes the command with the words after its name. The
	// global flags (--json, -h, --help) have already been handled.
	Run func(c *Context, args []string) error
}

// Context is what a running command gets from the shell.
type Context struct {
	// Out is the console. Write lines ending in "\n"; the shell makes
	// them "\r\n". Write errors are kept by the shell and reported after
	// the command, so a command need not check each write.
	Out io.Writer
	// JSON is set when the command line carried --json. A command that
	// supports it writes one line of JSON instead of text.
	JSON bool
	// Shell is the shell running the command.
	Shell *Shell

	cmd *Command
}

// Usage returns an error wrapping ErrUsage that gives the command's
// usage line, for a command called with arguments it does not take.
func (c *Context) Usage() error {
	if c.cmd == nil {
		return ErrUsage
	}
	return fmt.Errorf("%w: %s", ErrUsage, usageLine(c.cmd))
}

func usageLine(cmd *Command) string {
	if cmd.Args == "" {
		return cmd.Name
	}
	return cmd.Name + " " + cmd.Args
}

// Shell is the operator shell: a command table over a console. It is not
// safe for concurrent use; register every command before calling Run.
type Shell struct {
	// Panics counts commands that panicked and were recovered.
	Panics int

	in   *LineReader
	out  *consoleWriter
	cmds map[string]Command
}

// New returns a shell that reads command lines from in and writes to
// out, with echo on and the built-in help command registered.
func New(in io.Reader, out io.Writer) *Shell {
	cw := &consoleWriter{w: out}
	lr := NewLineReader(in)
	lr.Echo = cw
	s := &Shell{in: lr, out: cw, cmds: make(map[string]Command)}
	s.cmds["help"] = Command{
		Name: "help",
		Args: "[--json] [command]",
		Help: "list commands, or show the usage of one",
		Run:  s.help,
	}
	return s
}

// ReadLine reads one more line from the console for a running command
// that takes data after its command line (patch upload), through the
// same reader as the command lines, with the same limits (MaxLine, text
// only).
func (s *Shell) ReadLine() (string, error) { return s.in.ReadLine() }

// SetEcho turns the echo of typed characters on or off. Echo is for
// people on a terminal; a program driving the console may not want it.
func (s *Shell) SetEcho(on bool) {
	if on {
		s.in.Echo = s.out
	} else {
		s.in.Echo = nil
	}
}

// Register adds cmd to the command table. It fails with ErrDuplicate if
// the name is taken and with ErrInvalidCommand if the name cannot be
// typed as one word or Run is nil.
func (s *Shell) Register(cmd Command) error {
	if err := validName(cmd.Name); err != nil {
		return fmt.Errorf("%w %s: %v", ErrInvalidCommand, quoteName(cmd.Name), err)
	}
	if cmd.Run == nil {
		return fmt.Errorf("%w %q: no Run function", ErrInvalidCommand, cmd.Name)
	}
	if _, ok := s.cmds[cmd.Name]; ok {
		return fmt.Errorf("%w %q", ErrDuplicate, cmd.Name)
	}
	s.cmds[cmd.Name] = cmd
	return nil
}

func validName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if name[0] == '-' {
		return errors.New("name starts with '-'")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= asciiDEL || c == '"' || c == '\'' {
			return fmt.Errorf("byte %#02x at %d cannot be typed in a word", c, i)
		}
	}
	return nil
}

// Commands returns the command table sorted by name.
func (s *Shell) Commands() []Command {
	cmds := make([]Command, 0, len(s.cmds))
	for _, name := range slices.Sorted(maps.Keys(s.cmds)) {
		cmds = append(cmds, s.cmds[name])
	}
	return cmds
}

// Exec runs one command line and returns the command's error, without
// printing it. An empty line does nothing. If the command succeeds but
// writing its output failed, Exec returns the write error.
//
// The line is split into words by Split. The words --json, -h and
// --help are global flags, so no command receives them as arguments:
// --json is removed wherever it appears and sets Context.JSON; -h or
// --help after the command name prints the command's usage instead of
// running it.
func (s *Shell) Exec(line string) error {
	_, err := s.exec(line)
	return err
}

// exec is Exec that also reports whether the line asked for JSON, so
// that Run can print the error in the same form.
func (s *Shell) exec(line string) (asJSON bool, err error) {
	words, err := Split(line)
	if err != nil {
		return false, err
	}
	words = slices.DeleteFunc(words, func(w string) bool {
		if w == flagJSON {
			asJSON = true
			return true
		}
		return false
	})
	if len(words) == 0 {
		return asJSON, nil
	}
	cmd, ok := s.cmds[words[0]]
	if !ok {
		return asJSON, fmt.Errorf("%w %s (try help)", ErrUnknownCommand, quoteName(words[0]))
	}
	c := &Context{Out: s.out, JSON: asJSON, Shell: s, cmd: &cmd}
	args := words[1:]
	if slices.Contains(args, flagHelpShort) || slices.Contains(args, flagHelpLong) {
		s.out.printf("usage: %s\n  %s\n", usageLine(&cmd), cmd.Help)
		return asJSON, s.out.err
	}
	if err := s.call(&cmd, c, args); err != nil {
		return asJSON, err
	}
	return asJSON, s.out.err
}

// call runs cmd, turning a panic into an error wrapping ErrInternal: a
// broken command must not take the console down with it.
func (s *Shell) call(cmd *Command, c *Context, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.Panics++
			err = fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	return cmd.Run(c, args)
}

// Run is the shell's main loop: it prints Prompt, reads a line, runs it
// and prints any error as one line, "error: <message>" or, if the line
// carried --json, {"error":"<message>"}. Input errors (an over-long line,
// non-text bytes, an unterminated quote) are reported the same way and
// the loop goes on; Ctrl-C just gives a new prompt.
//
// Run returns nil at the end of input or when a command returns ErrExit.
// It returns an error if reading or writing the console fails.
func (s *Shell) Run() error {
	for {
		s.out.printf("%s", Prompt)
		if s.out.err != nil {
			return fmt.Errorf("shell: writing console: %w", s.out.err)
		}
		line, err := s.in.ReadLine()
		if s.out.err != nil {
			return fmt.Errorf("shell: writing console: %w", s.out.err)
		}
		var asJSON bool
		switch {
		case err == nil:
			asJSON, err = s.exec(line)
		case err == io.EOF:
			s.out.printf("\n")
			return nil
		case errors.Is(err, ErrInterrupted):
			err = nil
		case errors.Is(err, ErrLineTooLong), errors.Is(err, ErrBinary):
			// Reported below; the next line is read normally.
		default:
			return fmt.Errorf("shell: reading console: %w", err)
		}
		if errors.Is(err, ErrExit) {
			return nil
		}
		if err != nil {
			s.printError(err, asJSON)
		}
		if s.out.err != nil {
			return fmt.Errorf("shell: writing console: %w", s.out.err)
		}
	}
}

// printError writes err as exactly one console line.
func (s *Shell) printError(err error, asJSON bool) {
	if asJSON {
		// Encoding a struct of one string cannot fail; a write error
		// is kept in s.out.
		_ = writeJSON(s.out, struct {
			Error string `json:"error"`
		}{err.Error()})
		return
	}
	s.out.printf("error: %s\n", oneLine(err.Error()))
}

// help is the built-in help command.
func (s *Shell) help(c *Context, args []string) error {
	cmds := s.Commands()
	switch len(args) {
	case 0:
	case 1:
		cmd, ok := s.cmds[args[0]]
		if !ok {
			return fmt.Errorf("%w %s", ErrUnknownCommand, quoteName(args[0]))
		}
		cmds = []Command{cmd}
	default:
		return c.Usage()
	}

	if c.JSON {
		type entry struct {
			Name string `json:"name"`
			Args string `json:"args"`
			Help string `json:"help"`
		}
		list := make([]entry, 0, len(cmds))
		for _, cmd := range cmds {
			list = append(list, entry{cmd.Name, cmd.Args, cmd.Help})
		}
		return writeJSON(c.Out, list)
	}

	tw := tabwriter.NewWriter(c.Out, 0, 8, 2, ' ', 0)
	for _, cmd := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", usageLine(&cmd), cmd.Help)
	}
	if len(args) == 0 {
		fmt.Fprintf(tw, "add --json for machine-readable output, -h for a command's usage\n")
	}
	return tw.Flush()
}
