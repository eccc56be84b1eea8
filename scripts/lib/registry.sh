# Sourced by scripts/demo.sh and bench/pack.sh: a throwaway CNCF distribution
# registry (Debian docker-registry) on loopback, plain HTTP. The caller stops
# it by pid ($REG_PID) in its EXIT trap.

# A loopback port nothing listens on (docker-registry cannot report a port 0 pick).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# start_registry DIR: config, storage and log under DIR; sets REG (host:port)
# and REG_PID.
start_registry() {
    local dir=$1 port
    port=$(free_port)
    REG=127.0.0.1:$port
    mkdir -p "$dir"
    cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: $REG
YML
    docker-registry serve "$dir/config.yml" 2>"$dir/registry.log" &
    REG_PID=$!
    wait_port "$port"
}
