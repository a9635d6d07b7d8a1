# tamavisor build, test and boot targets.
# SPDX-License-Identifier: BSD-3-Clause

SHELL := /bin/bash

TAMAGO_VERSION ?= tamago-go1.25.7
TAMAGO_REPO    ?= https://github.com/usbarmory/tamago-go
TAMAGO_ROOT    ?= $(HOME)/.cache/tamago-go/$(TAMAGO_VERSION)
TAMAGO         ?= $(TAMAGO_ROOT)/bin/go

.PHONY: toolchain
toolchain:
	@if [ -x "$(TAMAGO)" ]; then \
		echo "toolchain: $(TAMAGO) present"; \
	elif [ "$(TAMAGO)" != "$(TAMAGO_ROOT)/bin/go" ]; then \
		echo "toolchain: TAMAGO=$(TAMAGO) is not executable" >&2; exit 1; \
	else \
		set -e; rm -rf "$(TAMAGO_ROOT).tmp"; mkdir -p "$$(dirname $(TAMAGO_ROOT))"; \
		git clone --depth 1 --branch $(TAMAGO_VERSION) $(TAMAGO_REPO) "$(TAMAGO_ROOT).tmp"; \
		cd "$(TAMAGO_ROOT).tmp/src" && GOROOT_BOOTSTRAP="$$(go env GOROOT)" ./make.bash; \
		mv "$(TAMAGO_ROOT).tmp" "$(TAMAGO_ROOT)"; \
		echo "toolchain: installed $(TAMAGO_ROOT)"; \
	fi
