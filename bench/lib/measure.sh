# Sourced by the benches: run a command and report what it cost.
#
# measure CMD...  prints "NS HWM_KB WRITTEN" for one run of CMD:
#   NS       wall time in nanoseconds;
#   HWM_KB   peak RSS (VmHWM) of CMD's own process, sampled every 20 ms
#            (helpers it starts, e.g. podman, are not counted);
#   WRITTEN  bytes CMD and every child it waited for sent to storage
#            (`write_bytes` of /proc/self/io of a subshell, read before and
#            after: the kernel adds a reaped child's counters to its parent).
#            Daemons (dockerd, a registry) write on their own account.

_write_bytes() {
    local k v
    WB=0
    while read -r k v; do
        if [ "$k" = write_bytes: ]; then WB=$v; fi
    done <"/proc/$BASHPID/io"
}

measure() {
    (
        local before start end pid hwm=0 k v state
        _write_bytes
        before=$WB
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 &
        pid=$!
        while :; do
            state=
            while read -r k v _; do
                case $k in
                    State:) state=$v ;;
                    VmHWM:) hwm=$v ;;
                esac
            done 2>/dev/null <"/proc/$pid/status" || break
            [ "$state" = Z ] && break
            sleep 0.02
        done
        wait "$pid" || echo "bench: $* failed" >&2
        end=$(date +%s%N)
        _write_bytes
        echo "$((end - start)) $hwm $((WB - before))"
    )
}

# median A B C…: the middle value (numbers).
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

secs() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1e9 }'; }
