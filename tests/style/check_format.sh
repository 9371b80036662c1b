#!/usr/bin/env bash
# tests/style/check_format.sh — one C style, enforced: every tracked .c/.h
# file must be exactly what clang-format makes of it with the repository's
# .clang-format. Fix with `make format`. Skipped (77) only where clang-format
# or git is missing (make deps installs clang-format).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed (make deps)"; exit 77; }
if git rev-parse --git-dir >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.c' '*.h')
else
    mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.c' -o -name '*.h' \) -print)
fi
bad=()
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ "${#bad[@]}" -gt 0 ]; then
    echo "not formatted as .clang-format says (run: make format):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
echo "ok: ${#files[@]} files formatted"
