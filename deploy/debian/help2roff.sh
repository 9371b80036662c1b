#!/bin/sh
# help2roff.sh PROGRAM SECTION SUMMARY > PAGE: a manual page from a daemon's
# own --help (so the page never drifts from the program).
set -eu
prog=$1 section=$2 summary=$3
name=$(basename "$prog")
help=$("$prog" --help)
version=$("$prog" --version | sed 's/^[^ ]* //')
upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
printf '.TH %s %s "" "drover %s" "drover manual"\n' "$upper" "$section" "$version"
printf '.SH NAME\n%s \\- %s\n' "$(printf '%s' "$name" | sed 's/-/\\-/g')" "$summary"
printf '.SH DESCRIPTION\n.nf\n'
printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
printf '.fi\n.SH FILES\n.TP\n.I /etc/drover/\nconfiguration and CurveZMQ keys\n'
printf '.SH SEE ALSO\n.BR drover (1)\n'
