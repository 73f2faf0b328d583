#!/usr/bin/env bash
# SessionStart: one line per expkit run in this project that finished or failed since the last session.
# Fast and silent when there is nothing to say; never an error, and never sets expkit up (that is slow).
data="${CLAUDE_PLUGIN_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/expkit}"
exe="$data/venv/bin/expkit"
[ -x "$exe" ] || exit 0
cd "${CLAUDE_PROJECT_DIR:-$PWD}" 2>/dev/null || exit 0
timeout 8 "$exe" runs digest 2>/dev/null || true
exit 0
