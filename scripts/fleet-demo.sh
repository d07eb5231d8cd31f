#!/usr/bin/env bash
# make fleet-demo: a three-member etcd cluster, two demo backends and three
# l7lb instances of one fleet, all on loopback; prints what to try and
# stops everything on Ctrl-C (or after DEMO_SECONDS, when set).
set -euo pipefail
cd "$(dirname "$0")/.."
L7LB=./l7lb ETCD=.cache/bin/etcd
dir=$(mktemp -d /tmp/l7lb-fleet-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

wait_port() { # host:port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "fleet-demo: nothing listens on $1 (logs in $dir)" >&2; exit 1
}

cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  "$ETCD" --name "e$i" --data-dir "$dir/e$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$cluster" --initial-cluster-state new --log-level warn >"$dir/e$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do wait_port "127.0.0.1:2379$i"; done
etcd="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"

# Two backends: each a demo proxy that answers with its own servers' names.
for i in 1 2; do
  "$L7LB" demo --listen "127.0.0.1:1809$i" --tls-listen "127.0.0.1:1849$i" >"$dir/backend$i.log" 2>&1 &
  pids+=($!)
  wait_port "127.0.0.1:1809$i"
done

cat >"$dir/shared.yaml" <<YAML
servers:
  web1: http://127.0.0.1:18091
  web2: http://127.0.0.1:18092
routes:
  - path: /api/*
    servers: [web2]
default_servers: [web1, web2]
sticky: {secrets: [demo-secret-1]}
YAML
for _ in $(seq 50); do
  "$L7LB" fleet push --etcd "$etcd" --prefix /l7lb/demo --config "$dir/shared.yaml" && break
  sleep 0.2
done

for i in 1 2 3; do
  cat >"$dir/lb$i.yaml" <<YAML
listen: 127.0.0.1:1808$i
admin: 127.0.0.1:1819$i
fleet:
  etcd: [http://127.0.0.1:23791, http://127.0.0.1:23792, http://127.0.0.1:23793]
  prefix: /l7lb/demo
  name: lb$i
  cache: $dir/lb$i.cache.json
YAML
  "$L7LB" serve --config "$dir/lb$i.yaml" --access-log=false >"$dir/lb$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do wait_port "127.0.0.1:1808$i"; done
sleep 1
"$L7LB" fleet status --instance "$dir/lb1.yaml" || true

cat <<TXT

l7lb fleet demo: etcd on 127.0.0.1:23791-23793, instances lb1..lb3 on
127.0.0.1:18081-18083, files and logs in $dir. Try:

  curl -s http://127.0.0.1:18081/api/x      # web2, on every instance (18082, 18083)
  sed -i 's/servers: \[web2\]/servers: [web1]/' $dir/shared.yaml
  $L7LB fleet push --instance $dir/lb1.yaml --config $dir/shared.yaml
  curl -s http://127.0.0.1:18083/api/x      # web1 now
  $L7LB fleet drain web1 --instance $dir/lb1.yaml
  $L7LB fleet status --instance $dir/lb1.yaml
  tail $dir/lb2.log

Ctrl-C stops everything.
TXT
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else wait; fi
