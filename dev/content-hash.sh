#!/usr/bin/env bash
# The content hash of a scripts folder with standard tools (what `aurora-migrate hash DIR` prints):
# SHA-256 over the lines `relative/path NUL sha256:<hex of the file without BOM, CRLF as LF> LF`,
# sorted by path (byte order).
set -euo pipefail
cd "$1"
find . -type f -name '*.sql' ! -path '*/.*' | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
  sum=$(perl -0777 -pe 's/\A\xEF\xBB\xBF//; s/\r\n/\n/g' "$f" | sha256sum | cut -d' ' -f1)
  printf '%s\0sha256:%s\n' "$f" "$sum"
done | sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
