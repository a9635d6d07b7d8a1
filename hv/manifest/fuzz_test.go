// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"errors"
	"flag"
	"github.com/tamavisor/tamavisor/internal/seedcorpus"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tamavisor/tamavisor/hv"
)

// FuzzParse feeds arbitrary bytes to Parse. Parse must not panic, must
// return either a Manifest or an error made of FieldErrors; a Manifest
// must survive Validate under several Limits (each VM lands in exactly
// one list) and an Encode/Parse round trip unchanged. Seeds live in
// testdata/fuzz/FuzzParse (see TestSeedCorpus).
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s.data))
	}
	limits := []Limits{{}, qemuLimits(), pcLimits(), {CPUs: 1, GuestRAM: 1 << 20, IPABits: 32,
		ImageSize: func(name string) (int64, bool) { return int64(len(name)) - 2, len(name)%3 != 0 },
		Reserved:  []Window{{Name: "all", Base: 0, Size: 1<<64 - 1}},
		HostPorts: []hv.Region{{Name: "all", Kind: hv.IOPort, Base: 0, Size: PortSpace}}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatal("manifest and error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q holds no FieldError", err)
			}
			return
		}
		for _, lim := range limits {
			rep := m.Validate(lim)
			if len(rep.Valid)+len(rep.Rejected) != len(m.VMs) {
				t.Fatalf("%d + %d != %d VMs", len(rep.Valid), len(rep.Rejected), len(m.VMs))
			}
			for _, r := range rep.Rejected {
				if r.Err == nil {
					t.Fatal("rejection without error")
				}
			}
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Encode()): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed the manifest:\n%s", out)
		}
	})
}

// seeds are the committed FuzzParse corpus, valid and invalid.
var seeds = []struct{ name, data string }{
	{"valid-example", example},
	{"valid-minimal", `{"vms":[{"name":"t","id":1,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"k"}]}`},
	{"valid-empty", `{"vms":[]}`},
	{"valid-conflicts", `{"vms":[
 {"name":"a","id":1,"vcpus":[{"cpu":0}],"memory":{"base":"0x40000000","size":"64M"},"kernel":"k",
  "devices":[{"name":"d","base":"0x9040000","size":"4K","irqs":[40]}]},
 {"name":"b","id":1,"vcpus":[{"cpu":3}],"memory":{"base":"0x40000000","size":"64M"},"kernel":"nope",
  "console":{"base":"0x40000000","irq":40},
  "devices":[{"name":"d","base":"0x9040000","size":"4K","pa":"0x9040000","irqs":[40]}]}]}`},
	{"valid-x86", exampleX86},
	{"valid-port-conflicts", `{"vms":[
 {"name":"a","id":1,"vcpus":[{"cpu":0}],"memory":{"base":"0x100000","size":"64M"},"kernel":"k",
  "console":{"port":"0x3f8","irq":4},
  "devices":[{"name":"com2","ports":[{"base":"0x2f8","size":8}]},{"name":"com1","ports":[{"base":"0x3f8","size":8}]}]},
 {"name":"b","id":2,"vcpus":[{"cpu":1}],"memory":{"base":0,"size":"64M"},"kernel":"k",
  "console":{"port":"0x2f8","irq":3},
  "devices":[{"name":"d","base":"0x9040000","size":"4K","irqs":[40],"ports":[{"base":"0x2f8","size":8},{"base":"0x2fc","size":"0xfd04"}]}]},
 {"name":"c","id":3,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"k",
  "devices":[{"name":"com2","ports":[{"base":"0x2f8","size":1}]}]}]}`},
	{"invalid-ports", `{"vms":[{"name":"a","id":1,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"k",
 "console":{"base":"0x9000000","port":"0x3f9","irq":16},
 "devices":[{"name":"d","pa":"0x1000","ports":[{"base":"0xffff","size":2},{"base":1,"size":0},{"size":"1K"},{"base":1,"size":1,"x":0}]},{"name":"e","ports":[]}]}]}`},
	{"invalid-syntax", "{\"vms\": [\n  {\"name\": \"a\",}\n]}"},
	{"invalid-unknown-field", `{"vms":[{"name":"a","id":1,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"k","autostrat":true}]}`},
	{"invalid-repeated-key", `{"vms":[{"name":"a","name":"b"}],"vms":[]}`},
	{"invalid-numbers", `{"vms":[{"name":"a","id":"0x100","vcpus":[{"cpu":-1}],"memory":{"base":"0xfffffffffffff000","size":"16G"},"kernel":"k",
 "console":{"base":"1K","irq":1020},"devices":[{"name":"d","base":"12Q","size":1e3,"irqs":[31]}]}]}`},
	{"invalid-types", `{"vms":[{"name":7,"id":[],"vcpus":{},"memory":[],"kernel":null,"autostart":"yes"}]}`},
	{"invalid-nesting", `{"vms":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}`},
	{"invalid-trailing", `{"vms":[]}{"vms":[]}`},
	{"invalid-escapes", `{"vms":[{"name":"\u0061","id":1,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"\ud800\n"}]}`},
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzParse holds the seeds, in
// Go's corpus file format; "go test -run TestSeedCorpus -write-corpus"
// rewrites them.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	for _, s := range seeds {
		_, err := Parse([]byte(s.data))
		if valid := strings.HasPrefix(s.name, "valid-"); valid != (err == nil) {
			t.Errorf("seed %s: Parse error %v", s.name, err)
		}
		seedcorpus.Sync(t, dir, s.name, seedcorpus.Bytes([]byte(s.data)), *writeCorpus)
	}
}

func TestFSImageSize(t *testing.T) {
	fsys := fstest.MapFS{
		"images/Image": {Data: []byte("kernel")},
		"images/empty": {Data: nil},
		"images/dir":   {Mode: 0o755 | 1<<31},
	}
	size := FSImageSize(fsys)
	for name, want := range map[string]int64{"images/Image": 6, "images/empty": 0} {
		if got, ok := size(name); !ok || got != want {
			t.Errorf("%s: %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"images/dir", "images/nope", "../images/Image", "/images/Image", ""} {
		if _, ok := size(name); ok {
			t.Errorf("%q found", name)
		}
	}
}
