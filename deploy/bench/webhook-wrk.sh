#!/usr/bin/env bash
# webhook-wrk.sh - load `abusegw serve` (SQLite) with signed RT status-change
# webhooks from wrk on loopback and print wrk's latency distribution.
#
#   deploy/bench/webhook-wrk.sh [DURATION] [CONNECTIONS] [BODIES]   # default 15s 16 150000
#
# Every request carries a different, correctly signed body (distinct RT
# transaction ids), so each one is verified and recorded as a new delivery
# (until BODIES requests have been sent; later ones are answered as repeats).
# The connector's RT URL points at a closed port: reading tickets back happens
# behind the 202 and is not what this measures.
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-15s}; conns=${2:-16}; n=${3:-150000}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
go build -o "$tmp/abusegw" ./cmd/abusegw
cat >"$tmp/abusegw.yaml" <<YAML
database: {url: "sqlite://$tmp/bench.db${SQLITE_OPTS:-}", max_open_conns: ${MAX_CONNS:-0}}
http: {listen: "127.0.0.1:$port"}
log: {level: warn}
connectors:
  - {name: rt, type: rt, url: "http://127.0.0.1:9/", token: unused, queue: Abuse, webhook_secret: bench-secret}
sync: {schedule: ""}
YAML
python3 - "$tmp/hooks.txt" "$n" <<'PY'
import hmac, hashlib, json, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        b = json.dumps({"actor": "desk", "case_key": "c%d/open-dns" % i, "old_status": "open", "queue": "Abuse",
                        "status": "resolved", "ticket": 1000 + i, "time": "2026-11-27 12:00:00", "transaction": 500000 + i},
                       sort_keys=True, separators=(",", ":"))
        s = hmac.new(b"bench-secret", b.encode(), hashlib.sha256).hexdigest()
        f.write("sha256=%s %s\n" % (s, b))
PY
cat >"$tmp/hooks.lua" <<LUA
-- Bodies and signatures are read at start (a Lua chunk may hold only 65536
-- constants). Two wrk threads: each takes every other body, so no body is
-- sent twice until all have been used.
local nthreads = 0
function setup(thread) thread:set("tid", nthreads); nthreads = nthreads + 1 end
function init(args)
  sigs, bodies, n = {}, {}, 0
  for line in io.lines("$tmp/hooks.txt") do
    n = n + 1
    local sp = line:find(" ")
    sigs[n], bodies[n] = line:sub(1, sp - 1), line:sub(sp + 1)
  end
  counter = 0
end
function request()
  counter = counter + 1
  local i = ((counter * 2 + tid) % n) + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Abusegw-Signature"] = sigs[i]}, bodies[i])
end
LUA
"$tmp/abusegw" serve --config "$tmp/abusegw.yaml" >"$tmp/serve.log" 2>&1 & pid=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.2; done
wrk -t2 -c"$conns" -d"$dur" --latency -s "$tmp/hooks.lua" "http://127.0.0.1:$port/webhooks/rt"
echo "deliveries recorded: $(sqlite3 "$tmp/bench.db" 'SELECT count(*) FROM webhook_deliveries' 2>/dev/null || echo '?')"
