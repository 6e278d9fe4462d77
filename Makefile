# Packaging entry points (developer's guide: "How the .deb is built").
#
#   make deb                          this machine's architecture, Bookworm (Python 3.11)
#   make deb ARCH=arm64               Raspberry Pi OS Bookworm arm64, built on any host
#   make deb ARCH=arm64 SUITE=trixie  Trixie arm64 (Python 3.13)
#   make debs                         all three targets
#   make lock                         regenerate packaging/locks/*.txt (uv, pinned)
#   make wheel                        dist/histo_appliance-<version>-py3-none-any.whl
#   make lintian                      lintian on the .deb of ARCH/SUITE
#   make offline ARCH=arm64           the .deb + every Debian package it needs, for a machine
#                                     without network (packaging/offline/README.md; root)
#
# One .deb per (suite, architecture): the private venv is bound to the suite's Python minor version
# (3.11 on Bookworm, 3.13 on Trixie: compiled extension modules are built for one), and its
# wheels to the architecture. The build never runs the target's Python, so arm64 builds on x86.
# Needs the network (PyPI) once per lock to fill build/wheelhouse/<target>; later builds of the
# same lock are offline.

SHELL := /bin/bash
ARCH ?= $(shell dpkg --print-architecture)
SUITE ?= bookworm
TARGET := $(SUITE)-$(ARCH)
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' appliance/__init__.py)
DEBSUFFIX := $(if $(filter trixie,$(SUITE)),deb13,deb12)
DEBVERSION := $(VERSION)+$(DEBSUFFIX)
# Where the .deb is written (tests use another folder, so dist/ keeps the release artefacts).
DIST ?= dist
DEB := $(DIST)/histo-appliance_$(DEBVERSION)_$(ARCH).deb
BUILDDIR := build/deb/$(TARGET)
SRCDIR := $(BUILDDIR)/histo-appliance-$(DEBVERSION)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
# gzip: a quick test build (packaging/debian/rules); unset: xz, the release artefact.
export HISTO_DEB_COMPRESSION

# command -> the Debian package that provides it (all from Debian's archive).
BUILD_TOOLS := dpkg-buildpackage:dpkg-dev dh:debhelper /usr/bin/python3:python3 \
  python3-pip:python3-pip python3-installer:python3-installer \
  python3-setuptools:python3-setuptools git:git

.PHONY: deb debs offline wheel lock wheelhouse lintian build-deps clean

deb: build-deps
	@case "$(TARGET)" in bookworm-arm64|trixie-arm64|bookworm-amd64) ;; \
	  *) echo "make deb: no target $(TARGET) (bookworm-arm64, trixie-arm64, bookworm-amd64)" >&2; exit 2 ;; esac
	packaging/wheelhouse.sh $(TARGET)
	rm -rf $(BUILDDIR)
	mkdir -p $(SRCDIR) $(DIST)
	cp -r packaging/debian $(SRCDIR)/debian
	@grep -q '^histo-appliance ($(VERSION))' packaging/debian/changelog || { \
	  echo "make deb: packaging/debian/changelog has no entry for $(VERSION) at its top" >&2; exit 1; }
	sed -i '1s/^histo-appliance ($(VERSION)) [a-z]*;/histo-appliance ($(DEBVERSION)) $(SUITE);/' \
	  $(SRCDIR)/debian/changelog
	cd $(SRCDIR) && HISTO_SRC=$(CURDIR) HISTO_TARGET=$(TARGET) \
	  HISTO_WHEELHOUSE=$(CURDIR)/build/wheelhouse/$(TARGET) \
	  DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -a$(ARCH) -b -d -us -uc >$(CURDIR)/$(BUILDDIR)/build.log 2>&1 \
	  || { tail -40 $(CURDIR)/$(BUILDDIR)/build.log >&2; exit 1; }
	cp $(BUILDDIR)/histo-appliance_$(DEBVERSION)_$(ARCH).deb $(DEB).part && mv $(DEB).part $(DEB)
	@echo "$(DEB): $$(du -h $(DEB) | cut -f1) packed," \
	  "$$(dpkg-deb -f $(DEB) Installed-Size) KiB installed"

debs:
	$(MAKE) deb ARCH=arm64 SUITE=bookworm
	$(MAKE) deb ARCH=arm64 SUITE=trixie
	$(MAKE) deb ARCH=amd64 SUITE=bookworm

offline: deb
	packaging/offline/bundle.sh $(SUITE) $(ARCH)

# Installs missing build tools from Debian's archive when root, else says what to install.
build-deps:
	@missing=""; for pair in $(BUILD_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  case "$$cmd" in \
	    python3-*) /usr/bin/python3 -c "import $${cmd#python3-}" 2>/dev/null || missing="$$missing $$pkg" ;; \
	    *) command -v "$$cmd" >/dev/null || missing="$$missing $$pkg" ;; \
	  esac; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing build tools:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing build tools; run: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

wheel:
	mkdir -p dist
	PYTHON=/usr/bin/python3 packaging/build_wheel.sh dist

wheelhouse:
	packaging/wheelhouse.sh $(TARGET)

lock:
	packaging/lock.sh

lintian: $(DEB)
	lintian --info --display-info $(DEB)

clean:
	rm -rf build/deb build/wheelhouse dist/*.deb
