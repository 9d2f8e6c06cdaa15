# SPDX-License-Identifier: GPL-2.0
#
# kernel::sg: a Rust scatter-gather table API, overlaid onto a real Linux tree.
#
#   make run     build the kernel, boot it in QEMU and show kernel::sg at work
#   make test    everything that must pass; ends with "N passed, N failed"
#   make patches the overlay as a git format-patch series, checked by checkpatch --strict
#   make series-import  take back the series after editing its git branch (see README)
#   make bench   kernel::sg against C and kernel::scatterlist, into results/ (a GCC kernel,
#                and one with Clang 22 and CONFIG_RUST_INLINE_HELPERS)
#   make gates   only the kernel's gates (checkpatch, rustfmtcheck, CLIPPY=1, rustdoc, htmldocs)
#
# Knobs (make VAR=value):
#   KERNEL=7.3        Debian linux-source-$(KERNEL) to build against (7.3 is the one supported)
#   KERNEL_DEB=...    exact Debian version of it (default: the pinned one below)
#   KDIR=/path        your own kernel tree instead (the overlay edits it in place)
#   CACHE=...         downloads, toolchain pieces, kernel trees and builds
#   OUT=...           logs and results of test/run
#   KVM=1             boot with KVM instead of TCG (hangs under nested virtualisation)
#   GATES_AGAIN=1     run the gates even if they ran clean on exactly these files before
#   IOMMU=1           make run: put the edu device behind an emulated IOMMU (VT-d; SMMUv3 on arm64)
#   ARCH=arm64        make run: build for arm64 and boot QEMU's virt machine instead
#   SETUPS="direct"   make test: boot only these set-ups (the table: scripts/setups.sh)

CACHE      ?= $(HOME)/.cache/kernel-sg
KERNEL     ?= 7.3
KERNEL_DEB_7.3 := 7.3.4-1~bpo13+1
KERNEL_DEB ?= $(KERNEL_DEB_$(KERNEL))
OUT        ?= $(CURDIR)/out
KVM        ?= 0
IOMMU      ?= 0
JOBS       ?= $(shell nproc)

ifeq ($(origin KDIR),undefined)
KDIR       := $(CACHE)/src/linux-$(KERNEL)
BUILD      ?= $(CACHE)/build/linux-$(KERNEL)
KERNEL_SRC := kernel-src
else
KDIR       := $(abspath $(KDIR))
BUILD      ?= $(CACHE)/build/kdir-$(shell printf '%s' '$(KDIR)' | sha1sum | cut -c1-12)
KERNEL_SRC :=
endif

GATES_AGAIN ?= 0

export CACHE KERNEL KERNEL_DEB KDIR BUILD OUT KVM JOBS IOMMU GATES_AGAIN
SCRIPTS := $(CURDIR)/scripts

.PHONY: all deps kernel-src overlay build test gates run patches series-import bench clean help
all: help

help:
	@sed -n '3,/^$$/s/^# \{0,1\}//p' Makefile

deps:
	@$(SCRIPTS)/deps.sh

kernel-src: deps
	@$(SCRIPTS)/kernel-src.sh

overlay: $(KERNEL_SRC)
	@$(SCRIPTS)/overlay.py

build: deps overlay
	@$(SCRIPTS)/build.sh

test: build
	@$(SCRIPTS)/test.sh

gates: build
	@$(SCRIPTS)/gates.sh

run: deps overlay
	@$(SCRIPTS)/run.sh $(ARCH)

patches: build
	@$(SCRIPTS)/patches.sh

series-import:
	@$(SCRIPTS)/series-import.py

bench: deps overlay
	@$(SCRIPTS)/bench.sh

clean:
	rm -rf $(OUT) $(CACHE)/build
