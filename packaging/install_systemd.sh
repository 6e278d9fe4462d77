#!/usr/bin/env bash
# Install what systemd/ holds into a package root, by the project's fixed mapping:
#   systemd/*.service       -> /usr/lib/systemd/system/
#   systemd/udev/*.rules    -> /usr/lib/udev/rules.d/
#   systemd/polkit/*.rules  -> /usr/share/polkit-1/rules.d/
#   systemd/*.tmpfiles      -> /usr/lib/tmpfiles.d/histo-appliance.conf
# Anything else in systemd/ is an error, so a new kind of file is not silently left out.
#   packaging/install_systemd.sh SYSTEMD_DIR PACKAGE_ROOT
set -euo pipefail
src="${1:?usage: install_systemd.sh SYSTEMD_DIR PACKAGE_ROOT}"
root="${2:?usage: install_systemd.sh SYSTEMD_DIR PACKAGE_ROOT}"
[[ -d "$src" ]] || { echo "install_systemd: no $src, no units installed" >&2; exit 0; }
shopt -s nullglob
tmpfiles=("$src"/*.tmpfiles)
if [[ ${#tmpfiles[@]} -gt 1 ]]; then
  echo "install_systemd: more than one *.tmpfiles in $src; the mapping has one" >&2
  exit 1
fi
for file in "$src"/* "$src"/udev/* "$src"/polkit/*; do
  [[ -f "$file" ]] || continue
  rel="${file#"$src"/}"
  case "$rel" in
    *.service)       install -D -m 0644 "$file" "$root/usr/lib/systemd/system/$(basename "$file")" ;;
    udev/*.rules)    install -D -m 0644 "$file" "$root/usr/lib/udev/rules.d/$(basename "$file")" ;;
    polkit/*.rules)  install -D -m 0644 "$file" "$root/usr/share/polkit-1/rules.d/$(basename "$file")" ;;
    *.tmpfiles)      install -D -m 0644 "$file" "$root/usr/lib/tmpfiles.d/histo-appliance.conf" ;;
    *.md|README*)    ;;  # notes for developers
    *) echo "install_systemd: $rel has no place in the package (see the mapping)" >&2; exit 1 ;;
  esac
done
