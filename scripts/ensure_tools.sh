#!/bin/sh
# Install the system programs Kara uses when they are missing:
#   lame      required (the default decoder, as in the original project)
#   chromium  optional (only the listening-page test uses it; skipped with a message if absent)
# apt-get on Debian/Ubuntu (as root or with passwordless sudo), brew on macOS;
# otherwise print the command to run and stop.
set -u

have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif have sudo && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

APT_UPDATED=0
apt_install() {
    have apt-get || return 1
    if [ "$APT_UPDATED" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! have lame; then
    echo "kara setup: installing lame"
    if [ "$(uname -s)" = Darwin ] && have brew; then
        brew install lame
    else
        apt_install lame
    fi
    if ! have lame; then
        # Not fatal: kara.yaml's fallback decoder (soundfile) still decodes, and the tests
        # that need the lame program skip, saying why. The user is told how to get it.
        echo "kara setup: WARNING: could not install lame (needs root, sudo or Homebrew)." >&2
        echo "  Install it, then rerun: sudo apt-get install lame   |   brew install lame" >&2
        echo "  Until then Kara decodes with its fallback decoder (soundfile)." >&2
    fi
fi

if ! have chromium && ! have chromium-browser && ! have google-chrome; then
    if [ "$(uname -s)" != Darwin ]; then
        echo "kara setup: installing chromium (for the listening-page test)"
        apt_install chromium || apt_install chromium-browser || \
            echo "kara setup: chromium not installed; the listening-page test will be skipped"
    fi
fi
exit 0
