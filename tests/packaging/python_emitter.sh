#!/usr/bin/env bash
# The Python emitter as a user outside the repository gets it: a wheel and an sdist built by
# `python -m build`, checked by `twine check --strict`, each installed into a fresh venv in a
# temporary folder and imported there (never the sources: the venv lives outside the repo and
# the check runs from another folder). Offline: the emitter's dependencies come from the wheel
# cache scripts/install-deps.sh fills, and build runs without isolation on the project's venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="$root/.venv/bin/python"
wheels="${BRIDGE_CACHE:-$HOME/.cache/agent-bridge}/wheels"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cp -r "$root/emitters/python" "$tmp/src"   # build writes egg-info next to the sources
rm -rf "$tmp/src/build" "$tmp/src"/src/*.egg-info
"$py" -m build --no-isolation --outdir "$tmp/dist" "$tmp/src" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
wheel=("$tmp"/dist/*.whl) sdist=("$tmp"/dist/*.tar.gz)
[[ -f "${wheel[0]}" && -f "${sdist[0]}" ]] || { ls "$tmp/dist" >&2; echo "no wheel or no sdist" >&2; exit 1; }
"$py" -m twine check --strict "${wheel[0]}" "${sdist[0]}"

# What each must hold: the schemas the validation reads, the type marker, the README.
in_wheel="$("$py" -m zipfile -l "${wheel[0]}")" in_sdist="$(tar -tzf "${sdist[0]}")"
grep -q "agent_events/schemas/tool_completed.schema.json" <<<"$in_wheel" || { echo "wheel lacks the schemas" >&2; exit 1; }
grep -q "agent_events/py.typed" <<<"$in_wheel" || { echo "wheel lacks py.typed" >&2; exit 1; }
grep -q "/src/agent_events/schemas/envelope.schema.json" <<<"$in_sdist" || { echo "sdist lacks the schemas" >&2; exit 1; }

for artefact in "${wheel[0]}" "${sdist[0]}"; do
  venv="$tmp/venv-$(basename "$artefact")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$wheels" "$artefact"
  (cd "$tmp" && "$venv/bin/python" - <<'PY'
import agent_events, os, sys
from agent_events import Emitter, EnvelopeValidator, EventInvalid

where = os.path.dirname(agent_events.__file__)
assert where.startswith(sys.prefix), f"imported from {where}, not from the fresh venv"
# A payload without a required field is refused before any broker is asked, naming the field.
try:
    EnvelopeValidator().encode({"type": "tool_completed", "user_id": "u", "run_id": "r", "thread_id": "t",
                                "ts": 1, "payload": {"tool": "search"}})
except EventInvalid as e:
    assert "status" in str(e), str(e)
else:
    raise AssertionError("an invalid payload passed")
print("imported", agent_events.__name__, "from", where, "Emitter:", Emitter.__name__)
PY
  )
done
echo "python emitter package: ok"
