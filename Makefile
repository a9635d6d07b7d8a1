# tamavisor: build, test and boot targets.
# SPDX-License-Identifier: BSD-3-Clause
#
#   make                    images for every tier-1 board
#   make image BOARD=...    build/<board>/tamavisor.elf
#   make qemu  [BOARD=...]  boot a board interactively (Ctrl-A X quits)
#   make test               go vet + go test -race (host)
#   make check              test, images, QEMU integration tests
#   make deps               Debian packages (QEMU, GRUB, OVMF, Bochs) and the
#                           Linux demo guest (Debian arm64 kernel, busybox)
#   make toolchain          TamaGo compiler into $(TAMAGO_ROOT)

SHELL := /bin/bash

TIER1_BOARDS := qemu-virt-arm64 qemu-q35-amd64
BOARD        ?= qemu-virt-arm64

# The partition manifest embedded into each board's image (see
# hv/manifest/FORMAT.md); its images are resolved relative to it. On
# qemu-q35-amd64 a "manifest" boot module, when GRUB passes one, replaces
# the embedded one.
MANIFEST_qemu-virt-arm64 ?= examples/demo.json
MANIFEST_qemu-q35-amd64  ?= examples/q35-demo.json
MANIFEST ?= $(MANIFEST_$(BOARD))
RESERVE_qemu-virt-arm64 := -reserve 0x08000000:16M:vgic
RESERVE_qemu-q35-amd64  := -reserve-ports 0x3f8:8:com1
BUNDLE   := cmd/tamavisor/bundle

TAMAGO_VERSION ?= tamago-go1.25.7
TAMAGO_REPO    ?= https://github.com/usbarmory/tamago-go
TAMAGO_ROOT    ?= $(HOME)/.cache/tamago-go/$(TAMAGO_VERSION)
TAMAGO_DEFAULT := $(TAMAGO_ROOT)/bin/go
TAMAGO         ?= $(TAMAGO_DEFAULT)
HOSTGO         ?= go

BUILD   := build
VERSION := 0.1.0-dev
REV     := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
PKG     := github.com/tamavisor/tamavisor

# Per-board build settings: GOARCH, build tags, link (text) address.
GOARCH_qemu-virt-arm64 := arm64
TAGS_qemu-virt-arm64   := linkcpuinit,board_qemu_virt_arm64
TEXT_qemu-virt-arm64   := 0x40210000
GOARCH_qemu-q35-amd64  := amd64
TAGS_qemu-q35-amd64    := linkcpuinit,board_qemu_q35_amd64
TEXT_qemu-q35-amd64    := 0x10001000

# Post-link step: amd64 images get the Multiboot2 header and the RAM
# reservation written by cmd/tvimage; arm64 images are used as linked.
POSTLINK_qemu-virt-arm64 = cp $(1).link $(1)
POSTLINK_qemu-q35-amd64  = $(HOSTGO) run ./cmd/tvimage mb2 -o $(1) $(1).link

# Interactive QEMU command lines (the test harness builds the same ones in
# ci/qemu; keep them in step).
QEMU_qemu-virt-arm64 := qemu-system-aarch64 -M virt,gic-version=3,virtualization=on -cpu max \
	-m 1024 -smp 2 -nographic -serial mon:stdio -kernel
QEMU_qemu-q35-amd64  := qemu-system-x86_64 -M q35 -accel tcg -cpu max -m 1024 -smp 2 \
	-nographic -serial mon:stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -device pc-testdev -no-reboot -kernel

DEBIAN_PACKAGES := qemu-system-arm qemu-system-x86 grub-pc-bin grub-efi-amd64-bin grub-common \
	xorriso mtools ovmf qemu-efi-aarch64 bochs bochsbios binutils binutils-aarch64-linux-gnu

.PHONY: hpfix check-vmx vmx-iso iso efi all images image qemu test check integration deps toolchain clean guests bundle linux-guest deps-debian

all: images

images:
	@for b in $(TIER1_BOARDS); do $(MAKE) --no-print-directory image BOARD=$$b || exit 1; done

# Guest images built by the project (ci/guests), for the manifests in
# examples/.
guests: toolchain
	@mkdir -p $(BUILD)/guests
	GOOS=tamago GOARCH=arm64 $(TAMAGO) build -trimpath -ldflags "-T 0x40010000 -R 0x1000" \
		-o $(BUILD)/guests/testguest.elf ./ci/guests/testguest
	GOOS=tamago GOARCH=amd64 $(TAMAGO) build -trimpath -ldflags "-T 0x201000 -R 0x1000" \
		-o $(BUILD)/guests/testguest-amd64.elf ./ci/guests/testguest

# The Linux demo guest: Debian's arm64 kernel (linux-image-arm64, resolved
# to the current ABI package) and busybox-static, downloaded for arm64 with
# a private apt state under $(APT64) (no change to the host's dpkg), and
# an initramfs made by cmd/mkinitramfs with ci/guests/linux/init. Nothing
# downloaded is committed.
LINUX_DIR := $(BUILD)/guests/linux
APT64     := $(BUILD)/apt-arm64
APT64_OPT  = -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
	-o Dir::Etc::SourceList=$(CURDIR)/$(APT64)/sources.list -o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State::Lists=$(CURDIR)/$(APT64)/lists -o Dir::Cache=$(CURDIR)/$(APT64)/cache \
	-o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root
DEBIAN_MIRROR ?= http://deb.debian.org/debian
DEBIAN_SUITE  ?= bookworm

linux-guest: $(LINUX_DIR)/Image $(LINUX_DIR)/initramfs.cpio.gz

$(APT64)/debs.stamp:
	@mkdir -p $(APT64)/lists/partial $(APT64)/cache/archives/partial $(APT64)/debs
	printf 'deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
		$(DEBIAN_MIRROR) $(DEBIAN_SUITE) > $(APT64)/sources.list
	printf 'deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s-security %s-security main\n' \
		$(DEBIAN_MIRROR) $(DEBIAN_SUITE) >> $(APT64)/sources.list
	apt-get $(APT64_OPT) -qq update
	set -e; kpkg=$$(apt-cache $(APT64_OPT) depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/ {print $$2; exit}'); \
		test -n "$$kpkg" || { echo "linux-guest: cannot resolve linux-image-arm64" >&2; exit 1; }; \
		cd $(APT64)/debs && rm -f *.deb && apt-get $(APT64_OPT) -qq download $$kpkg busybox-static
	touch $@

$(LINUX_DIR)/Image: $(APT64)/debs.stamp
	@mkdir -p $(LINUX_DIR) $(APT64)/x
	dpkg-deb --fsys-tarfile $(APT64)/debs/linux-image-*_arm64.deb | tar -x -C $(APT64)/x --wildcards './boot/vmlinuz-*'
	set -e; k=$$(ls $(APT64)/x/boot/vmlinuz-* | head -1); \
		if [ "$$(head -c2 $$k | od -An -tx1 | tr -d ' ')" = 1f8b ]; then gzip -dc $$k > $@.tmp; else cp $$k $@.tmp; fi; \
		echo "$$(basename $$k)" > $(LINUX_DIR)/kernel-version
	mv $@.tmp $@

$(LINUX_DIR)/initramfs.cpio.gz: $(APT64)/debs.stamp ci/guests/linux/init cmd/mkinitramfs/main.go
	@mkdir -p $(LINUX_DIR) $(APT64)/bb
	dpkg-deb -x $(APT64)/debs/busybox-static_*_arm64.deb $(APT64)/bb
	$(HOSTGO) run ./cmd/mkinitramfs -o $@ -init ci/guests/linux/init \
		file:/bin/busybox=$(APT64)/bb/bin/busybox:0755 \
		dir:/proc dir:/sys dir:/dev dir:/tmp dir:/root nod:/dev/console:c:5:1:0600

# The manifest and its images, checked and copied where go:embed finds
# them. A manifest with invalid VMs fails the build here.
bundle: guests $(if $(findstring guests/linux,$(file < $(MANIFEST))),linux-guest)
	$(HOSTGO) run ./cmd/hvmanifest bundle -o $(BUNDLE) $(RESERVE_$(BOARD)) $(MANIFEST)

# Live patches must be signed by one of HOTPATCH_KEYS (hex ed25519 public
# keys, comma-separated). By default that is this build's own key pair,
# made once under build/hotpatch and never committed; the tests sign
# their payloads with it.
HOTPATCH_KEY := $(BUILD)/hotpatch/ci
HOTPATCH_KEYS ?=
KEYS_ARG = $(if $(HOTPATCH_KEYS),$(HOTPATCH_KEYS),$$(cat $(HOTPATCH_KEY).pub))

$(HOTPATCH_KEY).pub:
	@mkdir -p $(dir $@)
	$(HOSTGO) run ./cmd/mkpatch keygen -o $(HOTPATCH_KEY)

# After linking, tvimage hpinfo writes the image's build-id and function
# symbols into it (hotpatch/selfimage), before the board's own post-link
# step, so every image made from the link output carries them.
IMAGE_DIR  ?= $(BUILD)/$(BOARD)
EXTRA_TAGS ?=
image: toolchain bundle $(HOTPATCH_KEY).pub
	@test -n "$(GOARCH_$(BOARD))" || { echo "unknown BOARD=$(BOARD) (have: $(TIER1_BOARDS))" >&2; exit 2; }
	@mkdir -p $(IMAGE_DIR)
	GOOS=tamago GOARCH=$(GOARCH_$(BOARD)) $(TAMAGO) build -trimpath \
		-tags $(TAGS_$(BOARD))$(if $(EXTRA_TAGS),$(comma)$(EXTRA_TAGS)) \
		-ldflags "-T $(TEXT_$(BOARD)) -R 0x1000 -X $(PKG)/hv.Version=$(VERSION) -X $(PKG)/hv.Revision=$(REV) -X main.hotpatchKeys=$(KEYS_ARG)" \
		-o $(IMAGE_DIR)/tamavisor.elf.link ./cmd/tamavisor
	$(HOSTGO) run ./cmd/tvimage hpinfo $(IMAGE_DIR)/tamavisor.elf.link
	$(call POSTLINK_$(BOARD),$(IMAGE_DIR)/tamavisor.elf)
	@echo "image: $(IMAGE_DIR)/tamavisor.elf"

# Live-patch test images and payloads (ci/hotpatch_apply_test.go, in
# make check): for each board, the hpfixture image in three versions
# (hotpatch/hpfixture: v0 runs, with the bug; v1 and v2 are fixed builds
# of the same tree), and the payloads cmd/mkpatch builds from them,
# signed with the build's key.
# The functions the fix changes, named as an operator names them: an
# unrelated function whose unnamed read-only data the linker moved (such
# as a FIPS self-test vector) is then reported ("changed but left out by
# -func") instead of refused, which it would be, since mkpatch cannot
# prove it the same.
HPFIX_PKG   := github.com/tamavisor/tamavisor/hotpatch/hpfixture
HPFIX_FUNCS := -func $(HPFIX_PKG).tag -func $(HPFIX_PKG).Checksum -func $(HPFIX_PKG).walk
comma := ,
HPFIX := $(BUILD)/hpfix
hpfix:
	@set -e; for b in $(TIER1_BOARDS); do \
		$(MAKE) --no-print-directory image BOARD=$$b EXTRA_TAGS=hpfixture IMAGE_DIR=$(HPFIX)/$$b/v0; \
		$(MAKE) --no-print-directory image BOARD=$$b EXTRA_TAGS=hpfixture,hpfix1 IMAGE_DIR=$(HPFIX)/$$b/v1; \
		$(MAKE) --no-print-directory image BOARD=$$b EXTRA_TAGS=hpfixture,hpfix2 IMAGE_DIR=$(HPFIX)/$$b/v2; \
		for v in v1 v2; do \
			$(HOSTGO) run ./cmd/mkpatch build -old $(HPFIX)/$$b/v0/tamavisor.elf.link -new $(HPFIX)/$$b/$$v/tamavisor.elf.link \
				$(HPFIX_FUNCS) -name hpfix-$$v -k $(HOTPATCH_KEY).key -o $(HPFIX)/$$b/hpfix-$$v.tvp; \
		done; \
	done
	@# Boot payloads as GRUB modules (qemu-q35-amd64): ci/grub/hpfix.cfg.
	@rm -rf $(HPFIX)/iso && mkdir -p $(HPFIX)/iso/boot/grub
	cp $(HPFIX)/qemu-q35-amd64/v0/tamavisor.elf $(HPFIX)/iso/boot/tamavisor.elf
	cp $(HPFIX)/qemu-q35-amd64/hpfix-v1.tvp $(HPFIX)/iso/boot/hpfix-v1.tvp
	cp $(HPFIX)/qemu-virt-arm64/hpfix-v1.tvp $(HPFIX)/iso/boot/other-arch.tvp
	cp ci/grub/hpfix.cfg $(HPFIX)/iso/boot/grub/grub.cfg
	grub-mkrescue -o $(HPFIX)/hpfix-grub.iso $(HPFIX)/iso 2>$(BUILD)/grub-mkrescue-hpfix.log || { cat $(BUILD)/grub-mkrescue-hpfix.log; exit 1; }

# GRUB rescue ISO (BIOS and UEFI) for qemu-q35-amd64: the image with and
# without the EFI boot services tag, the amd64 manifest as a module, and
# ci/grub/grub.cfg. See README "Booting".
ISO       := $(BUILD)/tamavisor.iso
ISO_DIR   := $(BUILD)/iso
MANIFEST_AMD64 ?= examples/q35.json
iso:
	$(MAKE) --no-print-directory image BOARD=qemu-q35-amd64
	@rm -rf $(ISO_DIR) && mkdir -p $(ISO_DIR)/boot/grub
	cp $(BUILD)/qemu-q35-amd64/tamavisor.elf $(ISO_DIR)/boot/tamavisor.elf
	$(HOSTGO) run ./cmd/tvimage mb2 -no-efi-bs -o $(ISO_DIR)/boot/tamavisor-nobs.elf \
		$(BUILD)/qemu-q35-amd64/tamavisor.elf.link >/dev/null
	$(HOSTGO) run ./cmd/tvimage mb2 -reloc-min 0x20000000 -o $(ISO_DIR)/boot/tamavisor-reloc-high.elf \
		$(BUILD)/qemu-q35-amd64/tamavisor.elf.link >/dev/null
	$(HOSTGO) run ./cmd/tvimage mb2 -reloc-min 0x10400000 -reloc-max 0x20400000 \
		-o $(ISO_DIR)/boot/tamavisor-reloc-overlap.elf $(BUILD)/qemu-q35-amd64/tamavisor.elf.link >/dev/null
	$(HOSTGO) run ./cmd/tvimage mb2 -reloc-align 0x1000 -reloc-min 0x10401000 -reloc-max 0x20401000 \
		-o $(ISO_DIR)/boot/tamavisor-misaligned.elf $(BUILD)/qemu-q35-amd64/tamavisor.elf.link >/dev/null
	$(HOSTGO) run ./cmd/hvmanifest check $(MANIFEST_AMD64)
	cp $(MANIFEST_AMD64) $(ISO_DIR)/boot/manifest.json
	cp ci/grub/grub.cfg $(ISO_DIR)/boot/grub/grub.cfg
	grub-mkrescue -o $(ISO).tmp $(ISO_DIR) 2>$(BUILD)/grub-mkrescue.log || { cat $(BUILD)/grub-mkrescue.log; exit 1; }
	mv $(ISO).tmp $(ISO)
	@echo "iso: $(ISO)"

# Direct UEFI boot for qemu-q35-amd64: tamavisor as a PE32+ application
# (cmd/tvimage efi) at EFI/BOOT/BOOTX64.EFI on a FAT ESP image made with
# mtools. Boot it with OVMF: -bios /usr/share/ovmf/OVMF.fd -drive
# file=build/esp.img,format=raw.
ESP := $(BUILD)/esp.img
efi:
	$(MAKE) --no-print-directory image BOARD=qemu-q35-amd64
	$(HOSTGO) run ./cmd/tvimage efi -o $(BUILD)/BOOTX64.EFI $(BUILD)/qemu-q35-amd64/tamavisor.elf.link
	rm -f $(ESP).tmp && truncate -s 16M $(ESP).tmp
	mformat -i $(ESP).tmp -T 32768 -h 64 -s 32 -v TAMAVISOR ::
	mmd -i $(ESP).tmp ::/EFI ::/EFI/BOOT
	mcopy -i $(ESP).tmp $(BUILD)/BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
	mv $(ESP).tmp $(ESP)
	@echo "efi: $(ESP) (EFI/BOOT/BOOTX64.EFI)"

# Intel VMX under Bochs (QEMU TCG has no VMX): a GRUB ISO with the amd64
# image and no manifest module, booted on Bochs' corei7_skylake_x model;
# ci's TestVMXBochs requires both x86 test guests to pass through the VMX
# backend (about 30 s). make check runs it with the other integration
# tests; check-vmx runs it alone.
VMX_ISO := $(BUILD)/tamavisor-vmx.iso
check-vmx: vmx-iso
	set -o pipefail; TAMAVISOR_BOCHS=1 $(HOSTGO) test -count=1 -v -timeout 40m -run TestVMXBochs ./ci/ 2>&1 | tee $(BUILD)/check-vmx.log

vmx-iso:
	$(MAKE) --no-print-directory image BOARD=qemu-q35-amd64
	@rm -rf $(BUILD)/vmx-iso && mkdir -p $(BUILD)/vmx-iso/boot/grub
	cp $(BUILD)/qemu-q35-amd64/tamavisor.elf $(BUILD)/vmx-iso/boot/tamavisor.elf
	cp ci/bochs/manifest.json $(BUILD)/vmx-iso/boot/manifest.json
	cp $(BUILD)/guests/testguest-amd64.elf $(BUILD)/vmx-iso/boot/testguest-amd64.elf
	$(HOSTGO) run ./cmd/hvmanifest check -cpus 1 $(RESERVE_qemu-q35-amd64) $(BUILD)/vmx-iso/boot/manifest.json
	cp ci/bochs/grub.cfg $(BUILD)/vmx-iso/boot/grub/grub.cfg
	grub-mkrescue -o $(VMX_ISO) $(BUILD)/vmx-iso 2>$(BUILD)/grub-mkrescue-vmx.log || { cat $(BUILD)/grub-mkrescue-vmx.log; exit 1; }

qemu: deps image
	$(QEMU_$(BOARD)) $(BUILD)/$(BOARD)/tamavisor.elf

test:
	$(HOSTGO) vet ./...
	GOOS=linux $(HOSTGO) build ./...
	$(HOSTGO) test -race ./...
	for t in hpfixture hpfixture,hpfix1 hpfixture,hpfix2; do $(HOSTGO) test -tags $$t ./hotpatch/hpfixture/ || exit 1; done
	@# The runtime-module registration mirrors Go 1.25's runtime: its
	@# test runs on the host with the TamaGo compiler (GOOS=linux), with
	@# the symbol table kept so the test can read its own metadata.
	@if [ -x "$(TAMAGO)" ]; then \
		echo "GOOS=linux $(TAMAGO) test -ldflags=-s=false ./hotpatch/gomodule/"; \
		GOTOOLCHAIN=local GOOS=linux $(TAMAGO) test -count=1 -ldflags=-s=false ./hotpatch/gomodule/; \
	else echo "SKIPPED hotpatch/gomodule runtime test: no TamaGo compiler at $(TAMAGO) (make toolchain)"; fi

# Image tests: when the TamaGo compiler is absent and cannot be
# installed, say so in one line and still pass the host tests. A compiler
# that is present but fails to build an image fails the check.
check: test
	@mkdir -p $(BUILD)
	@if $(MAKE) --no-print-directory toolchain >$(BUILD)/toolchain.log 2>&1; then \
		$(MAKE) --no-print-directory images && $(MAKE) --no-print-directory iso && \
		$(MAKE) --no-print-directory efi && \
		$(MAKE) --no-print-directory vmx-iso && \
		$(MAKE) --no-print-directory hpfix && \
		$(MAKE) --no-print-directory integration; \
	else \
		echo "SKIPPED image tests: no TamaGo compiler at $(TAMAGO) and 'make toolchain' failed (see $(BUILD)/toolchain.log)"; \
	fi

# QEMU integration tests: logs in build/logs/, full go test output in
# build/integration.log.
integration:
	@mkdir -p $(BUILD)
	set -o pipefail; TAMAVISOR_REQUIRE_IMAGES=1 TAMAVISOR_BOCHS=1 $(HOSTGO) test -count=1 -v -timeout 30m ./ci/ 2>&1 | tee $(BUILD)/integration.log

deps: deps-debian linux-guest

deps-debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "deps: all Debian packages present"; fi

toolchain:
	@if [ -x "$(TAMAGO)" ]; then \
		echo "toolchain: $(TAMAGO)"; \
	elif [ "$(TAMAGO)" != "$(TAMAGO_DEFAULT)" ]; then \
		echo "toolchain: TAMAGO=$(TAMAGO) is not executable" >&2; exit 1; \
	else \
		set -e; rm -rf "$(TAMAGO_ROOT).tmp"; mkdir -p "$$(dirname $(TAMAGO_ROOT))"; \
		git clone --quiet --depth 1 --branch $(TAMAGO_VERSION) $(TAMAGO_REPO) "$(TAMAGO_ROOT).tmp"; \
		cd "$(TAMAGO_ROOT).tmp/src" && GOROOT_BOOTSTRAP="$$($(HOSTGO) env GOROOT)" ./make.bash; \
		mv "$(TAMAGO_ROOT).tmp" "$(TAMAGO_ROOT)"; \
		echo "toolchain: installed $(TAMAGO_ROOT)"; \
	fi

clean:
	rm -rf $(BUILD)
