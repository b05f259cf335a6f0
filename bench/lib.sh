# Shared helpers of the benchmark scripts in bench/; sourced, not run.
# Needs `target_dir` set by the caller.

say() { printf '\n==> %s\n' "$*" >&2; }

need_tools() { # need_tools HINT TOOL...: exit 1 naming the first missing tool
    local hint=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null || {
            echo "error: $t not found ($hint)" >&2
            exit 1
        }
    done
}

pin() { # pin CPU COMMAND...: taskset when the core exists
    local cpu=$1
    shift
    if taskset -c "$cpu" true 2>/dev/null; then
        taskset -c "$cpu" "$@"
    else
        "$@"
    fi
}

build_seawall() { # sets `seawall`: $SEAWALL, or a fresh release build
    seawall=${SEAWALL:-$target_dir/release/seawall}
    if [[ -z "${SEAWALL:-}" ]]; then
        say "cargo build --release -p seawall"
        cargo build --release -q -p seawall
    fi
}
