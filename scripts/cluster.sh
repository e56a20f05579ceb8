#!/usr/bin/env bash
# Starts a local three-node chatstate cluster in the foreground:
# HTTP on 127.0.0.1:8080-8082, Raft on 127.0.0.1:8089-8091, data under
# ./data/n1..n3. Each line of output is prefixed with its node's id.
# Ctrl-C stops all three gracefully.
set -euo pipefail
bin=${CHATSTATED:-./bin/chatstated}
data=${DATA:-./data}
pids=()

stop() {
	trap - INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait
}
trap stop INT TERM

start() { # id http raft [join]
	local id=$1 http=$2 raft=$3 join=${4:-}
	mkdir -p "$data/$id"
	"$bin" --id "$id" --data "$data/$id" --http "$http" --raft "$raft" ${join:+--join "$join"} \
		> >(sed -u "s/^/[$id] /") 2>&1 &
	pids+=($!)
}

start n1 127.0.0.1:8080 127.0.0.1:8089
start n2 127.0.0.1:8081 127.0.0.1:8090 127.0.0.1:8080
start n3 127.0.0.1:8082 127.0.0.1:8091 127.0.0.1:8080,127.0.0.1:8081
wait
