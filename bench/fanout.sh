#!/usr/bin/env bash
#
# The publish and GET P/{id} rows of bench.sh, alone and quicker: GET P/{id},
# publish fan-out 1, publish fan-out 10, each beside its `return 200`
# baseline (baseline, module, module, baseline), ROUNDS times in a row (the
# backlog of black-holed deliveries grows from round to round), on ports
# 25101-25129, under build/fanout-run/.  Prints ratios by rate and by the
# worker's CPU time per operation.
#
#   bench/fanout.sh            # SECS=4 ROUNDS=2 SO=build/ngx_http_webhook_module.so
#   bench/fanout.sh perf       # perf record -g of the worker at fan-out 10
#                              # (WARM1, WARM10: seconds of publishing first)
#   bench/fanout.sh perfget    # perf record (dwarf) of the worker, GET P/{id}
#
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/fanout-run
NGINX=/usr/sbin/nginx
NDK=/usr/lib/nginx/modules/ndk_http_module.so
SECS=${SECS:-4}; ROUNDS=${ROUNDS:-2}; CONNS=32
FRONT=25101; HOLE=25103; RESOLVER=25129
PERF=${1:-}
M=$B/main
[ -f $M/logs/nginx.pid ] && kill $(cat $M/logs/nginx.pid) && sleep 1
[ -f $B/hole.pid ] && kill $(cat $B/hole.pid) 2>/dev/null
rm -rf $B; mkdir -p $M/{logs,tmp,conf} $B/lua
cp ${SO:-$ROOT/build/ngx_http_webhook_module.so} $B/ngx_http_webhook_module.so
perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:'$HOLE'", Listen => 1, ReuseAddr => 1) or die "$!"; sleep 400;' &
echo $! > $B/hole.pid
X2K=$(head -c 2000 /dev/zero | tr '\0' x)
cat > $M/conf/nginx.conf <<C
load_module $NDK;
load_module $B/ngx_http_webhook_module.so;
master_process on; daemon on; worker_processes 1; worker_rlimit_nofile 16384;
error_log logs/error.log warn; pid logs/nginx.pid;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
    default_type application/json;
    webhook_target_schemes http; webhook_allow_private on; webhook_tenant \$http_x_tenant;
    webhook_zone zone=api:256m state=$M/state-api fsync=off;
    webhook_zone zone=pub:4096m state=$M/state-pub fsync=off snapshot=1024m;
    map \$host \$bench_2k { default "$X2K"; }
    server {
        listen 127.0.0.1:$FRONT backlog=4096;
        location /a/hooks { webhook_api zone=api; webhook_max_subscriptions 1000000; }
        location /p/hooks { webhook_api zone=pub; }
        location = /p/events { webhook_publish zone=pub; webhook_max_pending 100000000; }
        location = /_pub {
            internal; webhook_deliver zone=pub; webhook_concurrency ${CONC:-1}; webhook_host_concurrency 1;
            webhook_attempt_timeout 3600s; webhook_retry 1h; resolver 127.0.0.1:$RESOLVER;
            proxy_pass \$webhook_upstream_url; proxy_http_version 1.1; proxy_buffering off;
            proxy_connect_timeout 3600s; proxy_read_timeout 3600s; proxy_send_timeout 3600s;
        }
        include baseline.conf;
    }
}
C
echo "location = /base/ready { return 404; }" > $M/conf/baseline.conf
$NGINX -p $M/ -c conf/nginx.conf || exit 1
sleep 0.5
api() { curl -s -X "$1" -H "X-Tenant: $3" -H 'Content-Type: application/json' ${4:+--data "$4"} "$2"; }
CREATE_BODY='{"action":"bench.event","target_url":"http://127.0.0.1:'$HOLE'/hook/000000"}'
EVENT_BODY='{"action":"bench.event","user":"u1","resource":{"n":12345,"s":"abcdefghijklmnopqrstuvwxyz"}}'
: > $B/ids.txt
for i in $(seq 100); do { api POST http://127.0.0.1:$FRONT/a/hooks g "$CREATE_BODY"; echo; } | sed -n 's/.*"_id":"\([0-9a-f]*\)".*/\1/p' >> $B/ids.txt; done
api POST http://127.0.0.1:$FRONT/p/hooks p1 "$CREATE_BODY" >/dev/null
for i in $(seq 10); do api POST http://127.0.0.1:$FRONT/p/hooks p10 "$CREATE_BODY" >/dev/null; done
GET_LEN=$(api GET http://127.0.0.1:$FRONT/a/hooks/$(head -1 $B/ids.txt) g | wc -c)
PUB_LEN=$(curl -s -H 'X-Tenant: p1' --data "$EVENT_BODY" http://127.0.0.1:$FRONT/p/events | wc -c)
body_of() { local n=$1 s=""; while [ $n -ge 2000 ]; do s="$s\${bench_2k}"; n=$((n-2000)); done; s="$s$(head -c $n /dev/zero | tr '\0' x)"; printf '"%s"' "$s"; }
{ echo "location = /base/GET { return 200 $(body_of $GET_LEN); }"
  echo "location = /base/PUB { return 200 $(body_of $PUB_LEN); }"
  echo "location = /base/ready { return 200; }"; } > $M/conf/baseline.conf
$NGINX -p $M/ -c conf/nginx.conf -s reload; sleep 1.5
WORKER=$(pgrep -n -P $(cat $M/logs/nginx.pid))
cat > $B/lua/post.lua <<'L'
local body = os.getenv("BODY"); local path = os.getenv("URLPATH"); local tenant = os.getenv("TENANT")
request = function() return wrk.format("POST", path, {["X-Tenant"] = tenant, ["Content-Type"] = "application/json"}, body) end
L
cat > $B/lua/get.lua <<'L'
local ids = {}
for l in io.lines(os.getenv("IDS")) do ids[#ids + 1] = l end
local path = os.getenv("URLPATH"); local tenant = os.getenv("TENANT"); local i = 0
request = function() i = i % #ids + 1; return wrk.format("GET", path .. ids[i], {["X-Tenant"] = tenant}) end
L
TICK=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' /proc/$WORKER/stat; }
run() {  # name url script -> prints rps us
  local c0 c1 n f=$B/wrk.txt
  c0=$(cpu); wrk -t1 -c$CONNS -d${SECS}s ${3:+-s $3} $2 > $f 2>&1; c1=$(cpu)
  n=$(awk '/requests in/ { print $1 }' $f)
  grep -q Non-2xx $f && echo "NON2XX in $1" >&2
  awk -v c=$((c1-c0)) -v t=$TICK -v n=$n -v s=$SECS 'BEGIN { printf "%.0f %.1f", n/s, c/t*1e6/n }'
}
export IDS=$B/ids.txt BODY=$EVENT_BODY
wrk -t1 -c32 -d1s http://127.0.0.1:$FRONT/base/GET >/dev/null
if [ "$PERF" = perfget ]; then
  TENANT=g URLPATH=/a/hooks/ wrk -t1 -c32 -d2s -s $B/lua/get.lua http://127.0.0.1:$FRONT >/dev/null
  perf record --call-graph dwarf,16384 -F 2000 -p $WORKER -o $B/perf-getd.data -- sleep 4 2>/dev/null &
  PP=$!
  TENANT=g URLPATH=/a/hooks/ wrk -t1 -c32 -d4s -s $B/lua/get.lua http://127.0.0.1:$FRONT
  wait $PP
  curl -s -H 'X-Tenant: g' http://127.0.0.1:$FRONT/a/hooks/$(head -1 $B/ids.txt) -D - 
elif [ "$PERF" = perf ]; then
  TENANT=p1 URLPATH=/p/events wrk -t1 -c32 -d${WARM1:-0}s -s $B/lua/post.lua http://127.0.0.1:$FRONT >/dev/null
  TENANT=p10 URLPATH=/p/events wrk -t1 -c32 -d${WARM10:-3}s -s $B/lua/post.lua http://127.0.0.1:$FRONT >/dev/null
  perf record -g -p $WORKER -o $B/perf.data -- sleep 8 2>/dev/null &
  PP=$!
  TENANT=p10 URLPATH=/p/events wrk -t1 -c32 -d8s -s $B/lua/post.lua http://127.0.0.1:$FRONT
  wait $PP
  if [ -n "${PERFGET:-}" ]; then
  perf record -g -p $WORKER -o $B/perf-get.data -- sleep 6 2>/dev/null &
  PP=$!
  TENANT=g URLPATH=/a/hooks/ wrk -t1 -c32 -d6s -s $B/lua/get.lua http://127.0.0.1:$FRONT
  wait $PP
  fi
else
for r in $(seq $ROUNDS); do
  for m in GET PUB1 PUB10; do
    case $m in
      GET) bu=http://127.0.0.1:$FRONT/base/GET; bs=; mu=http://127.0.0.1:$FRONT; ms=$B/lua/get.lua; export TENANT=g URLPATH=/a/hooks/ ;;
      PUB1) bu=http://127.0.0.1:$FRONT/base/PUB; bs=; mu=http://127.0.0.1:$FRONT; ms=$B/lua/post.lua; export TENANT=p1 URLPATH=/p/events ;;
      PUB10) bu=http://127.0.0.1:$FRONT/base/PUB; bs=; mu=http://127.0.0.1:$FRONT; ms=$B/lua/post.lua; export TENANT=p10 URLPATH=/p/events ;;
    esac
    read a1 ua1 < <(run base $bu $bs); read b1 ub1 < <(run $m $mu $ms)
    read b2 ub2 < <(run $m $mu $ms); read a2 ua2 < <(run base $bu $bs)
    awk -v m=$m -v a1=$a1 -v a2=$a2 -v b1=$b1 -v b2=$b2 -v ua1=$ua1 -v ua2=$ua2 -v ub1=$ub1 -v ub2=$ub2 'BEGIN {
      printf "%-6s mod %6.0f base %6.0f ratio %.2f | cpu/op mod %5.1f base %5.1f ratio %.2f\n", m, (b1+b2)/2, (a1+a2)/2, (b1+b2)/(a1+a2), (ub1+ub2)/2, (ua1+ua2)/2, (ua1+ua2)/(ub1+ub2) }'
  done
done
fi
grep -c -E '\[(error|crit|alert|emerg)\]' $M/logs/error.log
$NGINX -p $M/ -c conf/nginx.conf -s stop; kill $(cat $B/hole.pid)
