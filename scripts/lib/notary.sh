# Sourced: a throwaway notary-server (memory storage, local signer, TLS on
# loopback with a self-generated CA) and a `notary` client bound to it.
# notary_start DIR PORT; then notary_cli (client) and notary_stop.
notary_certs() {
    local d=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.crt" -days 3 -subj "/CN=notary test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=localhost 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/server.crt" -days 3 -extfile "$d/ext.cnf" 2>/dev/null
}

notary_start() {
    NOTARY_DIR=$1 NOTARY_PORT=$2
    mkdir -p "$NOTARY_DIR"
    notary_certs "$NOTARY_DIR"
    cat >"$NOTARY_DIR/server.json" <<JSON
{"server":{"http_addr":"127.0.0.1:$NOTARY_PORT","tls_cert_file":"$NOTARY_DIR/server.crt","tls_key_file":"$NOTARY_DIR/server.key"},
 "trust_service":{"type":"local","key_algorithm":"ecdsa"},
 "storage":{"backend":"memory"},"logging":{"level":"error"}}
JSON
    notary-server -config "$NOTARY_DIR/server.json" >"$NOTARY_DIR/server.log" 2>&1 &
    NOTARY_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$NOTARY_PORT") 2>/dev/null && break
        sleep 0.1
    done
    export NOTARY_ROOT_PASSPHRASE=root-pass NOTARY_TARGETS_PASSPHRASE=targets-pass \
        NOTARY_SNAPSHOT_PASSPHRASE=snapshot-pass NOTARY_DELEGATION_PASSPHRASE=delegation-pass
    NOTARY_URL="https://127.0.0.1:$NOTARY_PORT"
}

notary_cli() {
    notary -s "$NOTARY_URL" -d "$NOTARY_DIR/trust" --tlscacert "$NOTARY_DIR/ca.crt" "$@" >/dev/null
}

notary_fetch() { # GUN ROLE OUT
    curl -sf --cacert "$NOTARY_DIR/ca.crt" "$NOTARY_URL/v2/$1/_trust/tuf/$2.json" -o "$3"
}

notary_stop() {
    kill "$NOTARY_PID" 2>/dev/null || true
    wait "$NOTARY_PID" 2>/dev/null || true
}
