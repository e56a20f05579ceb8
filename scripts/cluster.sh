#!/usr/bin/env bash
# Starts a local three-node chatstate cluster in the foreground:
# HTTP on 127.0.0.1:8080-8082, Raft on 127.0.0.1:8089-8091, data under
# ./data/n1..n3. Each line of output is prefixed with its node's id.
# Ctrl-C (or SIGTERM to this script) stops all three gracefully; the
# script exits once all three have.
#
# Signals: job control (set -m) puts each node in its own process group,
# so Ctrl-C reaches only this script, which sends each node exactly one
# SIGTERM (a second signal would make chatstated exit at once, skipping
# the graceful shutdown). The prefixing filters ignore INT and TERM so
# that the nodes' shutdown logs still get through; they end when their
# node closes its output.
set -euo pipefail
set -m
bin=${CHATSTATED:-./bin/chatstated}
data=${DATA:-./data}
pids=()

stop() {
	trap - INT TERM
	echo "stopping the cluster..." >&2
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap stop INT TERM

start() { # id http raft [join]
	local id=$1 http=$2 raft=$3 join=${4:-}
	mkdir -p "$data/$id"
	"$bin" --id "$id" --data "$data/$id" --http "$http" --raft "$raft" ${join:+--join "$join"} \
		> >(trap '' INT TERM; exec sed -u "s/^/[$id] /") 2>&1 &
	pids+=($!)
}

start n1 127.0.0.1:8080 127.0.0.1:8089
start n2 127.0.0.1:8081 127.0.0.1:8090 127.0.0.1:8080
start n3 127.0.0.1:8082 127.0.0.1:8091 127.0.0.1:8080,127.0.0.1:8081

# wait returns early when a signal runs the trap: keep waiting until every
# node has exited, and report the first failure.
status=0
for pid in "${pids[@]}"; do
	while true; do
		set +e
		wait "$pid"
		rc=$?
		set -e
		if kill -0 "$pid" 2>/dev/null; then continue; fi # interrupted by the trap
		break
	done
	if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
done
wait # the output filters
exit "$status"
