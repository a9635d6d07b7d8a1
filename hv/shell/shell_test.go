// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// result is one ReadLine outcome.
type result struct {
	line string
	err  error  // matched with errors.Is
	msg  string // exact err.Error(), if set
}

func eof() result { return result{err: io.EOF} }

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", MaxLine+44)
	exact := strings.Repeat("y", MaxLine)
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{"empty", "", []result{eof()}},
		{"lf", "a\nb\n", []result{{line: "a"}, {line: "b"}, eof()}},
		{"cr", "a\rb\r", []result{{line: "a"}, {line: "b"}, eof()}},
		{"crlf", "a\r\nb\r\n", []result{{line: "a"}, {line: "b"}, eof()}},
		{"lfcr", "a\n\rb\n\r", []result{{line: "a"}, {line: "b"}, eof()}},
		{"mixed", "a\rb\nc\r\nd\n\re\r\rf", []result{
			{line: "a"}, {line: "b"}, {line: "c"}, {line: "d"}, {line: "e"},
			{line: ""}, {line: "f"}, eof()}},
		{"empty crlf lines", "\r\n\r\n", []result{{line: ""}, {line: ""}, eof()}},
		{"lf cr lf", "\n\r\n", []result{{line: ""}, {line: ""}, eof()}},
		{"cr cr", "\r\r", []result{{line: ""}, {line: ""}, eof()}},
		{"backspace", "abc\bd\x7fe\n", []result{{line: "abe"}, eof()}},
		{"backspace past start", "\b\x7fx\b\by\n", []result{{line: "y"}, eof()}},
		{"tab", "a\tb\n", []result{{line: "a b"}, eof()}},
		{"exact max", exact + "\n", []result{{line: exact}, eof()}},
		{"too long then good", long + "\r\nok\r\n", []result{
			{err: ErrLineTooLong, msg: "line too long (max 256 bytes)"},
			{line: "ok"}, eof()}},
		{"too long ignores backspace", long + "\b\b\b\b\b\b\b\b\nok\n", []result{
			{err: ErrLineTooLong}, {line: "ok"}, eof()}},
		{"binary then good", "\x00\x01\x02\r\nok\r\n", []result{
			{err: ErrBinary, msg: "ignoring non-text input (3 bytes)"},
			{line: "ok"}, eof()}},
		{"arrow key", "\x1b[A\r\nls\n", []result{
			{err: ErrBinary, msg: "ignoring non-text input (1 bytes)"},
			{line: "ls"}, eof()}},
		{"garbage mid line", "ab\xffcd\xfe\nok\n", []result{
			{err: ErrBinary, msg: "ignoring non-text input (2 bytes)"},
			{line: "ok"}, eof()}},
		{"utf-8", "caf\xc3\xa9\n", []result{{err: ErrBinary, msg: "ignoring non-text input (2 bytes)"}, eof()}},
		{"binary beats too long", long + "\x00\n", []result{{err: ErrBinary}, eof()}},
		{"ctrl-c", "abc\x03def\n", []result{{err: ErrInterrupted}, {line: "def"}, eof()}},
		{"ctrl-c in garbage", "\x00\x03ok\n", []result{{err: ErrInterrupted}, {line: "ok"}, eof()}},
		{"ctrl-c then lf", "\x03\n", []result{{err: ErrInterrupted}, {line: ""}, eof()}},
		{"partial last line", "a\nhelp", []result{{line: "a"}, {line: "help"}, eof()}},
		{"garbage at eof", "\x00", []result{{err: ErrBinary}, eof()}},
		{"too long at eof", long, []result{{err: ErrLineTooLong}, eof()}},
		{"erased at eof", "a\b", []result{eof()}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"onebyte", iotest.OneByteReader},
		{"dataerr", iotest.DataErrReader},
		{"half", iotest.HalfReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				lr := NewLineReader(rd.wrap(strings.NewReader(tt.in)))
				for i, want := range tt.want {
					line, err := lr.ReadLine()
					if want.err == nil {
						if err != nil || line != want.line {
							t.Fatalf("read %d = %q, %v; want %q, nil", i, line, err, want.line)
						}
						continue
					}
					if !errors.Is(err, want.err) || line != "" {
						t.Fatalf("read %d = %q, %v; want error %v", i, line, err, want.err)
					}
					if want.msg != "" && err.Error() != want.msg {
						t.Fatalf("read %d: error %q; want %q", i, err, want.msg)
					}
				}
				// io.EOF is sticky.
				if _, err := lr.ReadLine(); err != io.EOF {
					t.Fatalf("read after EOF: %v", err)
				}
			})
		}
	}
}

func TestLineReaderEcho(t *testing.T) {
	tests := []struct {
		in, echo string
	}{
		{"ls\r\n", "ls\r\n"},
		{"ls\n\r", "ls\r\n"},
		{"ab\bc\n", "ab\b \bc\r\n"},
		{"\x7f\x7fa\n", "a\r\n"},
		{"a\tb\n", "a b\r\n"},
		{"abc\x03", "abc^C\r\n"},
		{"a\x1b[Ab\n", "a\r\n"},
		{strings.Repeat("z", MaxLine+3) + "\n", strings.Repeat("z", MaxLine) + "\r\n"},
		{"tail", "tail\r\n"},
	}
	for _, tt := range tests {
		var echo bytes.Buffer
		lr := NewLineReader(strings.NewReader(tt.in))
		lr.Echo = &echo
		for {
			if _, err := lr.ReadLine(); err == io.EOF {
				break
			}
		}
		if got := echo.String(); got != tt.echo {
			t.Errorf("echo of %q = %q; want %q", tt.in, got, tt.echo)
		}
	}
}

// idleReader behaves like TamaGo's polled UART drivers: it returns
// (0, nil) idle times before each byte of its input.
type idleReader struct {
	in   string
	idle int
	left int // idle reads left before the next byte
}

func (r *idleReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	if r.left > 0 {
		r.left--
		return 0, nil
	}
	r.left = r.idle
	p[0], r.in = r.in[0], r.in[1:]
	return 1, nil
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

var errBroken = errors.New("broken wire")

func TestLineReaderErrors(t *testing.T) {
	// An idle UART is polled, not treated as an error.
	lr := NewLineReader(&idleReader{in: "ok\n", idle: 1000})
	if line, err := lr.ReadLine(); line != "ok" || err != nil {
		t.Errorf("idle reader = %q, %v; want \"ok\", nil", line, err)
	}

	// A read error discards the partial line and sticks.
	lr = NewLineReader(io.MultiReader(strings.NewReader("ok\npart"), iotest.ErrReader(errBroken)))
	if line, err := lr.ReadLine(); line != "ok" || err != nil {
		t.Errorf("first line = %q, %v", line, err)
	}
	for range 2 {
		if line, err := lr.ReadLine(); line != "" || !errors.Is(err, errBroken) {
			t.Errorf("after read error = %q, %v; want %v", line, err, errBroken)
		}
	}

	// An echo error is reported.
	lr = NewLineReader(iotest.OneByteReader(strings.NewReader("ab\ncd\n")))
	lr.Echo = failWriter{}
	if _, err := lr.ReadLine(); !errors.Is(err, errBroken) {
		t.Errorf("echo error: %v; want %v", err, errBroken)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"   \t  ", nil, false},
		{"help", []string{"help"}, false},
		{"  info   --json  ", []string{"info", "--json"}, false},
		{"a\tb\r\nc", []string{"a", "b", "c"}, false},
		{`say "hello world"`, []string{"say", "hello world"}, false},
		{`say 'hello world'`, []string{"say", "hello world"}, false},
		{`a"b c"d`, []string{"ab cd"}, false},
		{`"" ''`, []string{"", ""}, false},
		{`"a \"quoted\" word"`, []string{`a "quoted" word`}, false},
		{`"back\\slash"`, []string{`back\slash`}, false},
		{`"keep \n"`, []string{`keep \n`}, false},
		{`'no \"escapes'`, []string{`no \"escapes`}, false},
		{`"it's"`, []string{"it's"}, false},
		{`'say "hi"'`, []string{`say "hi"`}, false},
		{`plain\ word`, []string{`plain\`, "word"}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
		{`"ends in backslash\"`, nil, true},
		{`ok "`, nil, true},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if tt.err {
			if !errors.Is(err, ErrUnterminatedQuote) {
				t.Errorf("Split(%q) error = %v; want ErrUnterminatedQuote", tt.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Split(`x "y`); err == nil || err.Error() != `unterminated quote (" at column 3)` {
		t.Errorf("unterminated quote message: %v", err)
	}
}

// newTestShell returns a shell over in, echo off, writing to the
// returned buffer.
func newTestShell(t *testing.T, in string, cmds ...Command) (*Shell, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	s := New(strings.NewReader(in), &out)
	s.SetEcho(false)
	for _, c := range cmds {
		if err := s.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return s, &out
}

// lines splits console output at "\r\n", failing on a bare "\n".
func lines(t *testing.T, out string) []string {
	t.Helper()
	if strings.Count(out, "\n") != strings.Count(out, "\r\n") {
		t.Errorf("output has a bare LF: %q", out)
	}
	return strings.Split(out, "\r\n")
}

func TestRegister(t *testing.T) {
	run := func(*Context, []string) error { return nil }
	s, _ := newTestShell(t, "")
	tests := []struct {
		cmd  Command
		want error
	}{
		{Command{Name: "ok", Run: run}, nil},
		{Command{Name: "ok", Run: run}, ErrDuplicate},
		{Command{Name: "help", Run: run}, ErrDuplicate},
		{Command{Name: "", Run: run}, ErrInvalidCommand},
		{Command{Name: "two words", Run: run}, ErrInvalidCommand},
		{Command{Name: "-x", Run: run}, ErrInvalidCommand},
		{Command{Name: "bad\x00", Run: run}, ErrInvalidCommand},
		{Command{Name: "norun"}, ErrInvalidCommand},
	}
	for _, tt := range tests {
		if err := s.Register(tt.cmd); !errors.Is(err, tt.want) {
			t.Errorf("Register(%q) = %v; want %v", tt.cmd.Name, err, tt.want)
		}
	}
}

func TestExec(t *testing.T) {
	var gotArgs []string
	var gotJSON bool
	record := Command{Name: "rec", Args: "[args...]", Help: "record args",
		Run: func(c *Context, args []string) error {
			gotArgs, gotJSON = args, c.JSON
			return nil
		}}
	tests := []struct {
		line     string
		wantArgs []string
		wantJSON bool
		err      error
		msg      string
	}{
		{line: "rec a b", wantArgs: []string{"a", "b"}},
		{line: "rec --json a", wantArgs: []string{"a"}, wantJSON: true},
		{line: "--json rec a --json", wantArgs: []string{"a"}, wantJSON: true},
		{line: `rec "a b" 'c'`, wantArgs: []string{"a b", "c"}},
		{line: `rec "a`, err: ErrUnterminatedQuote},
		{line: "foo", err: ErrUnknownCommand, msg: `unknown command "foo" (try help)`},
		{line: "foo\x00\x1b[2J", err: ErrUnknownCommand,
			msg: `unknown command "foo\x00\x1b[2J" (try help)`},
		{line: strings.Repeat("n", 40), err: ErrUnknownCommand,
			msg: `unknown command "` + strings.Repeat("n", 32) + `..." (try help)`},
		{line: "\xff\xfe", err: ErrUnknownCommand, msg: `unknown command "\xff\xfe" (try help)`},
	}
	for _, tt := range tests {
		gotArgs, gotJSON = nil, false
		s, _ := newTestShell(t, "", record)
		err := s.Exec(tt.line)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Exec(%q) = %v; want %v", tt.line, err, tt.err)
			} else if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("Exec(%q) message %q; want %q", tt.line, err, tt.msg)
			}
			continue
		}
		if err != nil || !slices.Equal(gotArgs, tt.wantArgs) || gotJSON != tt.wantJSON {
			t.Errorf("Exec(%q) = %v, args %q json %v; want args %q json %v",
				tt.line, err, gotArgs, gotJSON, tt.wantArgs, tt.wantJSON)
		}
	}
}

func TestExecEmpty(t *testing.T) {
	s, out := newTestShell(t, "")
	for _, line := range []string{"", "   ", "--json"} {
		if err := s.Exec(line); err != nil {
			t.Errorf("Exec(%q) = %v", line, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("empty lines wrote %q", out)
	}
}

func TestCommandHelpFlag(t *testing.T) {
	ran := false
	cmd := Command{Name: "frob", Args: "[--json] NAME", Help: "frobnicate NAME",
		Run: func(*Context, []string) error { ran = true; return nil }}
	for _, flag := range []string{"-h", "--help"} {
		s, out := newTestShell(t, "", cmd)
		if err := s.Exec("frob x " + flag); err != nil {
			t.Fatal(err)
		}
		want := []string{"usage: frob [--json] NAME", "  frobnicate NAME", ""}
		if got := lines(t, out.String()); !slices.Equal(got, want) {
			t.Errorf("frob %s printed %q; want %q", flag, got, want)
		}
	}
	if ran {
		t.Error("-h ran the command")
	}
}

func TestHelp(t *testing.T) {
	nop := func(*Context, []string) error { return nil }
	cmds := []Command{
		{Name: "zeta", Args: "[--json]", Help: "last", Run: nop},
		{Name: "alpha", Help: "first", Run: nop},
		{Name: "mid", Args: "N", Help: "middle", Run: nop},
	}
	s, out := newTestShell(t, "", cmds...)
	if err := s.Exec("help"); err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^  alpha +first$`),
		regexp.MustCompile(`^  help \[--json\] \[command\] +list commands`),
		regexp.MustCompile(`^  mid N +middle$`),
		regexp.MustCompile(`^  zeta \[--json\] +last$`),
	}
	got := lines(t, out.String())
	if len(got) < len(want) {
		t.Fatalf("help printed %q", got)
	}
	for i, re := range want {
		if !re.MatchString(got[i]) {
			t.Errorf("help line %d = %q; want %v", i, got[i], re)
		}
	}

	out.Reset()
	if err := s.Exec("help --json"); err != nil {
		t.Fatal(err)
	}
	got = lines(t, out.String())
	if len(got) != 2 || got[1] != "" {
		t.Fatalf("help --json is not one line: %q", got)
	}
	var list []struct{ Name, Args, Help string }
	if err := json.Unmarshal([]byte(got[0]), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"alpha", "help", "mid", "zeta"}) || list[3].Args != "[--json]" ||
		list[3].Help != "last" {
		t.Errorf("help --json = %+v", list)
	}

	out.Reset()
	if err := s.Exec("help mid"); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out.String()); len(got) != 2 || !want[2].MatchString(got[0]) {
		t.Errorf("help mid = %q", got)
	}
	if err := s.Exec("help nope"); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("help nope = %v", err)
	}
	if err := s.Exec("help a b"); !errors.Is(err, ErrUsage) ||
		err.Error() != "usage: help [--json] [command]" {
		t.Errorf("help a b = %v", err)
	}
}

func TestRunErrorsAreOneLine(t *testing.T) {
	fail := Command{Name: "fail", Args: "[--json]", Run: func(*Context, []string) error {
		return errors.New("first\nsecond\r\nthird\rfourth\tfifth\x1b[2J")
	}}
	s, out := newTestShell(t, "fail\nfail --json\n", fail)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, out.String())
	want := []string{
		Prompt + `error: first; second; third; fourth fifth\x1b[2J`,
		Prompt + `{"error":"first\nsecond\r\nthird\rfourth\tfifth\u001b[2J"}`,
		Prompt,
		"",
	}
	if !slices.Equal(got, want) {
		t.Errorf("output lines\n got %q\nwant %q", got, want)
	}
}

func TestRunRecoversPanic(t *testing.T) {
	cmds := []Command{
		{Name: "boom", Run: func(*Context, []string) error { panic("kaboom\nline two") }},
		{Name: "nilmap", Run: func(*Context, []string) error {
			var m map[string]int
			m["x"] = 1
			return nil
		}},
		{Name: "panicnil", Run: func(*Context, []string) error { panic(nil) }},
		{Name: "ok", Run: func(c *Context, _ []string) error {
			_, err := fmt.Fprintln(c.Out, "still alive")
			return err
		}},
	}
	s, out := newTestShell(t, "boom\nnilmap\npanicnil\nok\n", cmds...)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, out.String())
	want := []string{
		`^tamavisor> error: internal: kaboom; line two$`,
		`^tamavisor> error: internal: assignment to entry in nil map$`,
		`^tamavisor> error: internal: panic called with nil argument`,
		`^tamavisor> still alive$`,
		`^tamavisor> $`,
		`^$`,
	}
	if len(got) != len(want) {
		t.Fatalf("output %q", got)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("line %d = %q; want %s", i, got[i], re)
		}
	}
	if s.Panics != 3 {
		t.Errorf("Panics = %d; want 3", s.Panics)
	}
	if err := s.Exec("boom"); !errors.Is(err, ErrInternal) {
		t.Errorf("Exec(boom) = %v; want ErrInternal", err)
	}
}

func TestRunInputErrors(t *testing.T) {
	in := strings.Repeat("a", 300) + "\r\n" + "\x00\x01\x02\r\n" + "half\x03" + `say "open` + "\r\n" + "help x\r\n"
	s, out := newTestShell(t, in)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		Prompt + "error: line too long (max 256 bytes)",
		Prompt + "error: ignoring non-text input (3 bytes)",
		Prompt + Prompt + `error: unterminated quote (" at column 5)`,
		Prompt + `error: unknown command "x"`,
		Prompt,
		"",
	}
	if got := lines(t, out.String()); !slices.Equal(got, want) {
		t.Errorf("output lines\n got %q\nwant %q", got, want)
	}
}

func TestRunExit(t *testing.T) {
	calls := 0
	quit := Command{Name: "quit", Run: func(*Context, []string) error {
		calls++
		return fmt.Errorf("bye: %w", ErrExit)
	}}
	s, out := newTestShell(t, "quit\nquit\n", quit)
	if err := s.Run(); err != nil {
		t.Fatalf("Run = %v; want nil", err)
	}
	if calls != 1 || out.String() != Prompt {
		t.Errorf("calls = %d, output %q", calls, out)
	}
}

// shortWriter accepts n bytes, then fails.
type shortWriter struct{ n int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errBroken
	}
	w.n -= len(p)
	return len(p), nil
}

func TestRunWriteError(t *testing.T) {
	for _, n := range []int{0, len(Prompt), len(Prompt) + 3} {
		s := New(strings.NewReader("help\nhelp\nhelp\n"), &shortWriter{n})
		if err := s.Run(); !errors.Is(err, errBroken) {
			t.Errorf("Run with %d-byte writer = %v; want %v", n, err, errBroken)
		}
	}
}

func TestRunReadError(t *testing.T) {
	s, _ := newTestShell(t, "")
	s.in = NewLineReader(iotest.ErrReader(errBroken))
	if err := s.Run(); !errors.Is(err, errBroken) {
		t.Errorf("Run = %v; want %v", err, errBroken)
	}
}

func TestConsoleWriter(t *testing.T) {
	var b bytes.Buffer
	cw := &consoleWriter{w: &b}
	for _, s := range []string{"a\n", "b\r\n", "c\r", "\n", "\n\n", ""} {
		if n, err := io.WriteString(cw, s); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := "a\r\nb\r\nc\r\n\r\n\r\n"; b.String() != want {
		t.Errorf("console got %q; want %q", b.String(), want)
	}
}

// TestRunTranscript drives a whole session with echo on, as an operator
// on a serial terminal would see it.
func TestRunTranscript(t *testing.T) {
	p, _ := fakePlatform()
	in := "help\r\nbogus\r\n\x00\x01\x02\r\ninfo --json\r\nuptime\r\n"
	var out bytes.Buffer
	s := New(strings.NewReader(in), &out)
	for _, c := range Standard(p) {
		if err := s.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, out.String())

	// Expected lines, as regexps; "{json}" is checked separately.
	want := []string{
		`^tamavisor> help$`,
		`^  help \[--json\] \[command\] +list commands`,
		`^  info \[--json\] +show the build`,
		`^  mem \[--json\] +show the memory map`,
		`^  poweroff +turn the machine off$`,
		`^  uptime \[--json\] +show the time`,
		`^add --json for machine-readable output`,
		`^tamavisor> bogus$`,
		`^error: unknown command "bogus" \(try help\)$`,
		`^tamavisor> $`,
		`^error: ignoring non-text input \(3 bytes\)$`,
		`^tamavisor> info --json$`,
		`{json}`,
		`^tamavisor> uptime$`,
		`^up 12\.345s$`,
		`^tamavisor> $`,
		`^$`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, re := range want {
		if re == "{json}" {
			var info map[string]any
			if err := json.Unmarshal([]byte(got[i]), &info); err != nil {
				t.Errorf("line %d: %v: %q", i, err, got[i])
			} else if info["board"] != "qemu-virt-arm64" {
				t.Errorf("info board = %v", info["board"])
			}
			continue
		}
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("line %d = %q; want %s", i, got[i], re)
		}
	}
}
