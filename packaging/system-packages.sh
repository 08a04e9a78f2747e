# Sourced by packaging/build and packaging/smoke-test: makes sure Debian/Ubuntu
# packages are installed, installing them with apt-get when running as root.

# need_packages WHY PACKAGE...: install the missing ones, or say which to
# install and return 1. Systems without dpkg are trusted to have them.
need_packages() {
    local why="$1" missing=()
    shift
    command -v dpkg-query >/dev/null || return 0
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$package")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "Installing ${missing[*]} ($why)..." >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >&2
    else
        echo "$why needs these system packages: ${missing[*]}" >&2
        return 1
    fi
}

# The libraries Qt's X11 platform plugin links to; the bundle carries them, so
# they must be on the machine that builds it.
QT_XCB_PACKAGES=(
    libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
    libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
)
