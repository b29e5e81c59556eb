#!/usr/bin/env sh
# Installs the system packages cardsmith needs, where it can (Debian/Ubuntu as root);
# otherwise says exactly what to install. Usage: scripts/system-deps.sh build|test
set -eu
want="fonts-noto-cjk fonts-dejavu-core fonts-noto-color-emoji"  # PDF: CJK text, code, emoji
# tests read PDFs back (poppler) and open the preview page in a headless browser (chromium)
[ "${1:-build}" = test ] && want="$want poppler-utils chromium"
missing=""
for pkg in $want; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
elif command -v apt-get >/dev/null 2>&1; then
    echo "cardsmith needs these system packages:$missing" >&2
    echo "install them with:  sudo apt-get install$missing" >&2
    exit 1
else
    echo "cardsmith needs a CJK font (Noto Sans CJK SC), DejaVu Sans Mono and Noto Color Emoji for the PDF," >&2
    echo "and poppler's pdftotext/pdffonts and Chromium for the tests. Install them with your package" >&2
    echo "manager (Debian: fonts-noto-cjk fonts-dejavu-core fonts-noto-color-emoji poppler-utils chromium; macOS: brew install poppler" >&2
    echo "and font-noto-sans-cjk-sc)." >&2
    exit 1
fi
