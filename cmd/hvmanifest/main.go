// cmd/hvmanifest: host tool that checks and bundles partition manifests.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/manifest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  hvmanifest check  [-cpus N] [-ram BYTES] [-reserve BASE:SIZE[:NAME]]... [-reserve-ports PORT:COUNT[:NAME]]... manifest.json
  hvmanifest bundle -o DIR [-cpus N] [-ram BYTES] [-reserve BASE:SIZE[:NAME]]... [-reserve-ports PORT:COUNT[:NAME]]... manifest.json
`

// reserveFlag collects -reserve BASE:SIZE[:NAME] windows.
type reserveFlag []manifest.Window

func (r *reserveFlag) String() string { return fmt.Sprint(*r) }

func (r *reserveFlag) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return errors.New("want BASE:SIZE[:NAME]")
	}
	base, err := manifest.ParseNumber(parts[0])
	if err != nil {
		return err
	}
	size, err := manifest.ParseNumber(parts[1])
	if err != nil {
		return err
	}
	name := "reserved"
	if len(parts) == 3 && parts[2] != "" {
		name = parts[2]
	}
	*r = append(*r, manifest.Window{Name: name, Base: hv.IPA(base), Size: size})
	return nil
}

// portsFlag collects -reserve-ports PORT:COUNT[:NAME] I/O port ranges
// the hypervisor keeps.
type portsFlag []hv.Region

func (p *portsFlag) String() string { return fmt.Sprint(*p) }

func (p *portsFlag) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return errors.New("want PORT:COUNT[:NAME]")
	}
	base, err := manifest.ParseNumber(parts[0])
	if err != nil {
		return err
	}
	size, err := manifest.ParseNumber(parts[1])
	if err != nil {
		return err
	}
	if size < 1 || base >= manifest.PortSpace || size > manifest.PortSpace-base {
		return fmt.Errorf("ports %#x count %#x: want at least 1 port, ending at or below %#x", base, size, manifest.PortSpace)
	}
	name := "reserved"
	if len(parts) == 3 && parts[2] != "" {
		name = parts[2]
	}
	*p = append(*p, hv.Region{Name: name, Kind: hv.IOPort, Base: hv.PA(base), Size: size})
	return nil
}

// numberFlag is a byte count in manifest number syntax ("768M").
type numberFlag uint64

func (n *numberFlag) String() string { return fmt.Sprint(uint64(*n)) }

func (n *numberFlag) Set(s string) error {
	v, err := manifest.ParseNumber(s)
	*n = numberFlag(v)
	return err
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	switch cmd {
	case "check", "bundle":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hvmanifest: unknown command %q\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("hvmanifest "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts Options
	var ram numberFlag
	var reserved reserveFlag
	var hostPorts portsFlag
	var out string
	fs.IntVar(&opts.CPUs, "cpus", 0, "number of physical CPUs (0: not checked)")
	fs.Var(&ram, "ram", "host RAM for guests, e.g. 768M (0: not checked)")
	fs.Var(&reserved, "reserve", "guest-physical window the hypervisor emulates, BASE:SIZE[:NAME] (repeatable)")
	fs.Var(&hostPorts, "reserve-ports", "x86 I/O ports the hypervisor keeps, PORT:COUNT[:NAME], e.g. 0x3f8:8:com1 (repeatable)")
	if cmd == "bundle" {
		fs.StringVar(&out, "o", "", "bundle directory (required)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 || (cmd == "bundle" && out == "") || opts.CPUs < 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	opts.GuestRAM, opts.Reserved, opts.HostPorts = uint64(ram), reserved, hostPorts
	path := fs.Arg(0)

	var c *Checked
	var err error
	if cmd == "check" {
		c, err = Check(path, opts)
	} else {
		c, err = Bundle(path, out, opts)
	}
	if c != nil && c.Report != nil {
		for _, r := range c.Report.Rejected {
			for _, line := range strings.Split(r.Error(), "\n") {
				fmt.Fprintf(stderr, "%s: %s\n", path, line)
			}
		}
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "%s: %s\n", path, line)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", path, c.Summary())
	if cmd == "bundle" {
		fmt.Fprintf(stdout, "%s: bundled into %s\n", path, out)
	}
	return 0
}
