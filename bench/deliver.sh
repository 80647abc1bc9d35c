#!/usr/bin/env bash
#
# Delivery throughput vs. plain proxying, one nginx worker, loopback only.
# See bench/README.md.  Usage:
#
#   bench/deliver.sh                # N=100000 events, 2 x 10 s baselines (~40 s)
#   N=20000 BASE_SECS=5 bench/deliver.sh
#   PERF=1 bench/deliver.sh         # + perf record of the worker while it delivers
#   PERF=syscalls bench/deliver.sh  # + syscalls per request / per delivery
#   KA_BASE=1 bench/deliver.sh      # + a GET baseline over upstream keepalive
#   STATE=0 bench/deliver.sh        # memory-only zone: the journal's cost
#   CONCURRENCY=64 bench/deliver.sh # webhook_concurrency (default 256)
#
# Everything lives under build/bench/ (nginx prefix, logs, state, perf data);
# ports 19881 (front: baselines, API, publish) and 19882 (receiver); 19889
# is named as the (unused) resolver.  Results: stdout and
# bench/RESULTS-deliver.md.  BENCH_DIR, FRONT_PORT, RECV_PORT, RESOLVER_PORT
# and OUT change the directory, the ports and the results file (bench.sh
# does).  Bounded: the whole run is killed after 170 s.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_DIR:-$ROOT/build/bench}
NGINX=${NGINX:-/usr/sbin/nginx}
NDK=${NDK:-/usr/lib/nginx/modules/ndk_http_module.so}
MODULE_SRC=${MODULE:-$ROOT/build/ngx_http_webhook_module.so}

N=${N:-100000}              # events published (one subscription: N deliveries)
BATCH=${BATCH:-100}         # events per publish request
BASE_SECS=${BASE_SECS:-10}  # wrk duration of the baseline
BASE_CONNS=${BASE_CONNS:-32}
CONCURRENCY=${CONCURRENCY:-256}
DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-90}   # give up waiting for deliveries (s)
PERF=${PERF:-0}
STATE=${STATE:-1}           # 0: memory-only zone (no journal), to measure its cost
KA_BASE=${KA_BASE:-0}       # 1: also a GET baseline over upstream keepalive

FRONT=${FRONT_PORT:-19881}
RECV=${RECV_PORT:-19882}
RESOLVER=${RESOLVER_PORT:-19889}
OUT=${OUT:-$ROOT/bench/RESULTS-deliver.md}

[ -n "${BENCH_INNER:-}" ] || exec timeout -k 5 170 env BENCH_INNER=1 bash "$0" "$@"

die() { echo "deliver.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }'; }
fratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

[ -x "$NGINX" ] || die "no $NGINX"
[ "$PERF" = 0 ] || command -v perf >/dev/null \
    || die "perf not installed (apt-get install linux-perf)"
[ -f "$MODULE_SRC" ] || die "no $MODULE_SRC (make -C $ROOT build)"
command -v wrk >/dev/null || die "wrk not installed"
[ "$BATCH" -gt 0 ] && [ $((N % BATCH)) -eq 0 ] || die "N must be a multiple of BATCH"

for p in $FRONT $RECV; do
    if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
        die "port $p is in use"
    fi
done

# a fresh prefix; the module is copied so that a concurrent rebuild
# cannot change it under a running nginx
rm -rf "$B"
mkdir -p "$B"/{logs,tmp,conf} || die "cannot create $B"
cp "$MODULE_SRC" "$B/ngx_http_webhook_module.so"

cat >"$B/conf/nginx.conf" <<EOF
load_module $NDK;
load_module $B/ngx_http_webhook_module.so;

master_process      on;
daemon              on;
worker_processes    1;
worker_rlimit_nofile 16384;
error_log           logs/error.log warn;
pid                 logs/nginx.pid;

events {
    worker_connections  8192;
}

http {
    access_log  off;

    client_body_temp_path  tmp/body;
    proxy_temp_path        tmp/proxy;
    fastcgi_temp_path      tmp/fastcgi;
    uwsgi_temp_path        tmp/uwsgi;
    scgi_temp_path         tmp/scgi;

    webhook_zone  zone=bench:512m $( [ "$STATE" = 1 ] && echo "state=$B/state fsync=off" );

    upstream receiver_ka {
        server     127.0.0.1:$RECV;
        keepalive  64;
    }

    # one line per request the receiver answers: cheap to count
    log_format  count  '\$status';

    # the receiver
    server {
        listen       127.0.0.1:$RECV backlog=4096;
        access_log   off;

        location /base { return 200 "ok"; }

        location /hook {
            access_log  logs/hook.log count buffer=64k flush=100ms;
            return      200 "ok";
        }
    }

    server {
        listen       127.0.0.1:$FRONT backlog=4096;

        # the baseline: the same proxy settings as the deliver location
        location = /base {
            proxy_pass          http://127.0.0.1:$RECV;
            proxy_http_version  1.1;
            proxy_buffering     off;
        }

        # not a fair baseline (deliveries cannot reuse connections): the
        # headroom connection reuse would give (KA_BASE=1)
        location = /base-ka {
            proxy_pass          http://receiver_ka/base;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
            proxy_buffering     off;
        }

        location /hooks {
            webhook_api             zone=bench;
            webhook_tenant          bench;
            webhook_target_schemes  http;
            webhook_allow_private   on;
        }

        location = /events {
            webhook_publish      zone=bench;
            webhook_tenant       bench;
            webhook_max_pending  $((N + 1000));
            client_max_body_size 16m;
            client_body_buffer_size 64k;
        }

        location = /_webhook {
            internal;
            webhook_deliver           zone=bench;
            webhook_allow_private     on;
            webhook_concurrency       $CONCURRENCY;
            webhook_host_concurrency  0;
            webhook_retry             1s 1s;
            resolver                  127.0.0.1:$RESOLVER;   # unused: IP-literal target

            proxy_pass          \$webhook_upstream_url;
            proxy_http_version  1.1;
            proxy_buffering     off;
        }
    }
}
EOF

NG="$NGINX -p $B/ -c conf/nginx.conf"

$NG -t -q 2>"$B/logs/nginx-t.log" || { cat "$B/logs/nginx-t.log"; die "nginx -t failed"; }

# PERF=1: perf record of the worker while it delivers (with call graphs);
# PERF=syscalls: syscalls of the worker per baseline request and per delivery
perf_start() {   # $1: output name
    case "$PERF" in
    1)  perf record -F 499 --call-graph "${PERF_CG:-dwarf,16384}" -p "$WORKER" -o "$B/perf.data" \
            >"$B/logs/perf.log" 2>&1 & ;;
    syscalls)
        perf stat -e 'syscalls:sys_enter_*' -x, -p "$WORKER" \
            -o "$B/logs/syscalls-$1.csv" >/dev/null 2>&1 & ;;
    *)  return ;;
    esac
    PERF_PID=$!
    sleep 0.5
}

perf_stop() {
    [ -n "${PERF_PID:-}" ] || return
    kill -INT "$PERF_PID" 2>/dev/null
    wait "$PERF_PID" 2>/dev/null
    PERF_PID=
}

stop_nginx() {
    perf_stop
    if [ -f "$B/logs/nginx.pid" ]; then
        $NG -s stop 2>/dev/null
        for _ in $(seq 50); do [ -f "$B/logs/nginx.pid" ] || break; sleep 0.1; done
    fi
}
trap stop_nginx EXIT
trap "exit 1" TERM INT

$NG 2>>"$B/logs/nginx-start.log" || { cat "$B/logs/nginx-start.log"; die "nginx did not start"; }

for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$FRONT/base" && break
    sleep 0.1
done

MASTER=$(cat "$B/logs/nginx.pid")
WORKER=$(pgrep -P "$MASTER" | head -1)
[ -n "$WORKER" ] || die "no worker"

# --- 1. baselines -----------------------------------------------------------
#
# GET: what the design target is stated against; POST: the same request a
# delivery makes (a ~110-byte JSON body), so the receiver's work is the same.

cat >"$B/tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"action":"bench.event","organization":"bench","user":null,"resource":{"n":12345,"s":"abcdefghijklmnopqrstuvwxyz"}}'
LUA

cpu() { awk '{ print $14 + $15 }' "/proc/$WORKER/stat"; }

baseline() {   # $1: get|post; sets RPS, REQS_DONE, US_PER, PCT, ERR
    local script=() c0 c1
    local uri=/base
    [ "$1" = post ] && script=(-s "$B/tmp/post.lua")
    [ "$1" = ka ] && uri=/base-ka
    [ "$PERF" = syscalls ] && perf_start "base-$1"
    c0=$(cpu)
    wrk -t1 -c"$BASE_CONNS" -d"${BASE_SECS}s" "${script[@]}" \
        "http://127.0.0.1:$FRONT$uri" >"$B/logs/wrk-$1.txt" 2>&1
    c1=$(cpu)
    perf_stop
    RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$B/logs/wrk-$1.txt")
    [ -n "$RPS" ] || { cat "$B/logs/wrk-$1.txt"; die "wrk failed"; }
    REQS_DONE=$(awk '/requests in/ { print $1 }' "$B/logs/wrk-$1.txt")
    ERR=$(grep -E 'Non-2xx|Socket errors' "$B/logs/wrk-$1.txt" | tr '\n' ' ')
    US_PER=$(awk -v c="$((c1 - c0))" -v t="$TICK" -v n="$REQS_DONE" \
             'BEGIN { printf "%.0f", (n > 0 ? c / t * 1e6 / n : 0) }')
    PCT=$(awk -v c="$((c1 - c0))" -v t="$TICK" -v s="$BASE_SECS" \
          'BEGIN { printf "%.0f", c / t / s * 100 }')
}

TICK=$(getconf CLK_TCK)

wrk -t1 -c"$BASE_CONNS" -d2s "http://127.0.0.1:$FRONT/base" >/dev/null 2>&1   # warm-up

baseline get
BASE_RPS=$RPS BASE_REQS=$REQS_DONE BASE_US_PER=$US_PER BASE_PCT=$PCT BASE_ERR=$ERR
baseline post
POST_RPS=$RPS POST_REQS=$REQS_DONE POST_US_PER=$US_PER POST_PCT=$PCT POST_ERR=$ERR
if [ "$KA_BASE" = 1 ]; then
    baseline ka
    KA_ROW="| (GET over upstream keepalive, for reference only) | $RPS req/s ${ERR:+($ERR)} | $US_PER us ($PCT % busy) |"
fi

# --- 2. one subscription to the receiver ----------------------------------

SUB=$(curl -s -X POST -H 'Content-Type: application/json' \
      --data "{\"action\":\"*\",\"target_url\":\"http://127.0.0.1:$RECV/hook\"}" \
      "http://127.0.0.1:$FRONT/hooks")
SUB_ID=$(printf '%s' "$SUB" | sed -n 's/.*"_id":"\([0-9a-f]*\)".*/\1/p')
[ -n "$SUB_ID" ] || die "subscription not created: $SUB"

# --- 3. publish N events, BATCH per request --------------------------------

REQS=$((N / BATCH))
perl -e '
    my ($n) = @ARGV;
    print "[", join(",", map {
        qq({"action":"bench.event","resource":{"n":$_,"s":"abcdefghijklmnopqrstuvwxyz"}})
    } 1 .. $n), "]";
' "$BATCH" >"$B/tmp/batch.json"

{
    for _ in $(seq "$REQS"); do
        echo "url = \"http://127.0.0.1:$FRONT/events\""
        echo "output = \"/dev/null\""
    done
} >"$B/tmp/curl-urls.txt"

count() { local c; c=$(wc -l <"$B/logs/hook.log" 2>/dev/null); echo "${c:-0}"; }

perf_start deliver

CPU0=$(awk '{ print $14 + $15 }' "/proc/$WORKER/stat")
T0=$(now)
curl -s -S -Z --parallel-max 4 -H 'Content-Type: application/json' \
     --data-binary @"$B/tmp/batch.json" -w '%{http_code}\n' \
     -K "$B/tmp/curl-urls.txt" >"$B/logs/publish-codes.txt" 2>"$B/logs/publish-curl.log"
T1=$(now)
D1=$(count)
CPU1=$(awk '{ print $14 + $15 }' "/proc/$WORKER/stat")

OK=$(grep -c '^202$' "$B/logs/publish-codes.txt")
[ "$OK" -eq "$REQS" ] || die "publish: $OK of $REQS requests answered 202 ($(sort "$B/logs/publish-codes.txt" | uniq -c | tr '\n' ' ' | head -c 300))"

# --- 4. wait until the receiver has seen all N ------------------------------

DEADLINE=$(awk -v t="$T1" -v d="$DELIVER_TIMEOUT" 'BEGIN { printf "%.0f", t + d }')
while :; do
    C=$(count)
    T2=$(now)
    [ "$C" -ge "$N" ] && break
    if [ "${T2%.*}" -ge "$DEADLINE" ]; then
        die "only $C of $N delivered after ${DELIVER_TIMEOUT}s (see $B/logs/error.log)"
    fi
    sleep 0.02
done
CPU2=$(awk '{ print $14 + $15 }' "/proc/$WORKER/stat")

perf_stop

sleep 0.3
C=$(count)
ERRLINES=$(grep -c -E '\[(error|crit|alert|emerg)\]' "$B/logs/error.log")

PUB_S=$(fsub "$T1" "$T0")
ALL_S=$(fsub "$T2" "$T0")
DRAIN_S=$(fsub "$T2" "$T1")
PUB_RATE=$(fdiv "$N" "$PUB_S")
E2E_RATE=$(fdiv "$N" "$ALL_S")
DRAIN_RATE=$(fdiv "$((N - D1))" "$DRAIN_S")
CPU_US_PER=$(awk -v c="$((CPU2 - CPU1))" -v t="$TICK" -v n="$((N - D1))" \
             'BEGIN { printf "%.0f", (n > 0 ? c / t * 1e6 / n : 0) }')
CPU_PCT=$(awk -v c="$((CPU2 - CPU1))" -v t="$TICK" -v s="$DRAIN_S" \
          'BEGIN { printf "%.0f", (s > 0 ? c / t / s * 100 : 0) }')

VER=$($NGINX -v 2>&1 | sed 's/.*: //')
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet -- src ngx_http_webhook_module.c 2>/dev/null || echo "+dirty")
REV="$REV (.so of $(date -u -r "$MODULE_SRC" '+%H:%M:%S UTC'))"

R_GET_E2E=$(fratio "$E2E_RATE" "$BASE_RPS")
R_GET_DRAIN=$(fratio "$DRAIN_RATE" "$BASE_RPS")
R_POST_DRAIN=$(fratio "$DRAIN_RATE" "$POST_RPS")

RESULT=$(cat <<EOF
| measure | value | worker CPU per op |
|---|---|---|
| baseline GET (wrk -t1 -c$BASE_CONNS ${BASE_SECS}s, plain proxy_pass) | **$BASE_RPS req/s** ${BASE_ERR:+($BASE_ERR)} | $BASE_US_PER us ($BASE_PCT % busy) |
| baseline POST, delivery-sized JSON body | $POST_RPS req/s ${POST_ERR:+($POST_ERR)} | $POST_US_PER us ($POST_PCT % busy) |
${KA_ROW:+$KA_ROW
}| publish: $N events, $REQS requests of $BATCH (4 parallel) | ${PUB_S} s = $PUB_RATE events/s | ($D1 delivered meanwhile) |
| deliveries, end to end: first publish to last received | ${ALL_S} s = $E2E_RATE deliveries/s | |
| deliveries, drain: publish done to last received | $((N - D1)) in ${DRAIN_S} s = **$DRAIN_RATE deliveries/s** | $CPU_US_PER us ($CPU_PCT % busy) |
| **ratio drain / GET baseline** | **$R_GET_DRAIN** (end to end: $R_GET_E2E) | |
| ratio drain / POST baseline | $R_POST_DRAIN | |
| received by the receiver / error-log errors | $C of $N / $ERRLINES | |

\`nproc\` $(nproc), CPU $CPU_MODEL, $VER, module $REV, webhook_concurrency $CONCURRENCY, $( [ "$STATE" = 1 ] && echo "state= fsync=off" || echo "memory-only zone" ), $DATE
EOF
)

if [ "$PERF" = syscalls ]; then
    SYSC=$(awk -F, -v ng="$BASE_REQS" -v np="$POST_REQS" -v nd="$N" '
        FNR == 1 { f++ }
        /syscalls:sys_enter_/ && $1 + 0 > 0 {
            name = $3; sub(/.*sys_enter_/, "", name);
            c[name, f] = $1; names[name] = 1
        }
        END {
            for (n in names) {
                g = c[n, 1] / ng; p = c[n, 2] / np; d = c[n, 3] / nd;
                if (g >= 0.05 || p >= 0.05 || d >= 0.05)
                    printf "| %s | %.2f | %.2f | %.2f |\n", n, g, p, d
                tg += c[n, 1]; tp += c[n, 2]; td += c[n, 3]
            }
            printf "| **all** | **%.2f** | **%.2f** | **%.2f** |\n", tg / ng, tp / np, td / nd
        }' "$B/logs/syscalls-base-get.csv" "$B/logs/syscalls-base-post.csv" \
           "$B/logs/syscalls-deliver.csv" | sort -t'|' -k5 -rn)
    RESULT="$RESULT

Worker syscalls (perf stat; the delivery column includes the publishing, ~1 % of it):

| syscall | per GET request | per POST request | per delivery |
|---|---|---|---|
$SYSC"
fi

echo
echo "$RESULT"

{
    echo "# Delivery throughput (bench/deliver.sh)"
    echo
    echo "$RESULT"
    if [ "$PERF" = 1 ]; then
        echo
        echo "Profile of the worker from the first publish to the last delivery"
        echo "(perf data: $B/perf.data; e.g. perf report -i ... --children --sort sym)."
        echo
        echo "CPU by object:"
        echo
        echo '```'
        perf report -i "$B/perf.data" --no-children -g none --sort dso 2>/dev/null \
            | grep '%' | head -6
        echo '```'
        echo
        echo "Inclusive (children) share of the module's functions and the main syscalls:"
        echo
        echo '```'
        perf report -i "$B/perf.data" --children -g none --sort sym 2>/dev/null \
            | grep '%' | grep -E 'ngx_http_webhook_|__x64_sys_' | head -30
        echo '```'
        echo
        echo "Self time in the module, by source line:"
        echo
        echo '```'
        perf report -i "$B/perf.data" --no-children -g none --sort sym,srcline \
            --dsos ngx_http_webhook_module.so 2>/dev/null | grep '%' | head -15
        echo '```'
    fi
} >"$OUT"

[ "$C" -eq "$N" ] || echo "WARNING: receiver got $C requests for $N events" >&2
exit 0
