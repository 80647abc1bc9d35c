#!/usr/bin/env bash
#
# make bench: every figure of issue 6 beside a baseline measured in the same
# run, loopback only, bounded in time.  See bench/README.md.  Usage:
#
#   make bench                          # the whole run (~5-7 min), RESULTS.md
#   SECS=3 SCALE_N=200000 bench/bench.sh   # shorter, smaller (a try-out)
#   ONLY=api,publish,deliver,latency,scale bench/bench.sh   # some parts only
#
# Ports 25000-25029 on 127.0.0.1; everything under build/bench-run/.
# Results: stdout and bench/RESULTS.md (OUT=... to write elsewhere).
# Bounded: the whole run is killed after 600 s.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/bench-run
NGINX=${NGINX:-/usr/sbin/nginx}
NDK=${NDK:-/usr/lib/nginx/modules/ndk_http_module.so}
MODULE_SRC=${MODULE:-$ROOT/build/ngx_http_webhook_module.so}
OUT=${OUT:-$ROOT/bench/RESULTS.md}

SECS=${SECS:-5}             # each wrk run
CONNS=${CONNS:-32}
SCALE_N=${SCALE_N:-1000000} # subscriptions of the scale part
SCALE_MID=${SCALE_MID:-100000}
PENDING_N=${PENDING_N:-100000}
DELIVER_N=${DELIVER_N:-50000}
LAT_N=${LAT_N:-300}         # latency: events, one every LAT_GAP ms
LAT_GAP=${LAT_GAP:-20}
ONLY=${ONLY:-api,publish,deliver,latency,scale}

FRONT=25001     # main instance: API, publish, baselines
HOLE=25003      # a listener that never accepts: deliveries that never end
LAT_RECV_PORT=25004   # the latency receiver (perl)
SCALE=25011     # scale instance
DLV_FRONT=25021 # bench/deliver.sh
DLV_RECV=25022
RESOLVER=25029  # named, never used (IP-literal targets)

[ -n "${BENCH_INNER:-}" ] || exec timeout -k 5 600 env BENCH_INNER=1 bash "$0" "$@"

T_START=$(date +%s.%N)

die() { echo "bench.sh: $*" >&2; exit 1; }
log() { echo "[$(date -u +%T)] $*" >&2; }
now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
favg() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a + b) / 2 }'; }
has() { case ",$ONLY," in *",$1,"*) return 0;; esac; return 1; }
# "met" / "NOT met" for ratio $1 >= $2 (or <= with $3 = le)
verdict() {
    awk -v a="$1" -v b="$2" -v le="${3:-}" 'BEGIN {
        ok = (le == "le") ? (a <= b) : (a >= b); print (ok ? "met" : "**not met**") }'
}

[ -x "$NGINX" ] || die "no $NGINX"
[ -f "$MODULE_SRC" ] || die "no $MODULE_SRC (make build)"
command -v wrk >/dev/null || die "wrk not installed (make deps-bench)"
command -v curl >/dev/null || die "curl not installed"

for p in $FRONT $HOLE $LAT_RECV_PORT $SCALE $DLV_FRONT $DLV_RECV; do
    if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
        die "port $p is in use"
    fi
done

rm -rf "$B"
mkdir -p "$B"/{main,scale}/{logs,tmp,conf} "$B/lua" || die "cannot create $B"
cp "$MODULE_SRC" "$B/ngx_http_webhook_module.so"

PIDS=()
NGINXES=()
cleanup() {
    local p
    for p in "${NGINXES[@]}"; do
        if [ -f "$p/logs/nginx.pid" ]; then
            kill -TERM "$(cat "$p/logs/nginx.pid")" 2>/dev/null
        fi
    done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${NGINXES[@]}"; do
        for _ in $(seq 50); do [ -f "$p/logs/nginx.pid" ] || break; sleep 0.1; done
    done
}
trap cleanup EXIT
trap "exit 1" TERM INT

# the black hole: accepts nothing, so a delivery to it neither ends nor costs
perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:'$HOLE'",
                                  Listen => 1, ReuseAddr => 1) or die "$!";
    sleep 700;' &
PIDS+=($!)

common_conf() {   # $1: prefix
    cat <<EOF
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
EOF
}

http_common() {
    cat <<EOF
    access_log  off;
    client_body_temp_path  tmp/body;
    proxy_temp_path        tmp/proxy;
    fastcgi_temp_path      tmp/fastcgi;
    uwsgi_temp_path        tmp/uwsgi;
    scgi_temp_path         tmp/scgi;
    default_type           application/json;
    webhook_target_schemes http;
    webhook_allow_private  on;
    webhook_tenant         \$http_x_tenant;
EOF
}

# a deliver location that sends to the black hole, one at a time
hole_deliver() {   # $1: location, $2: zone
    cat <<EOF
        location = $1 {
            internal;
            webhook_deliver           zone=$2;
            webhook_concurrency       1;
            webhook_host_concurrency  1;
            webhook_attempt_timeout   3600s;
            webhook_retry             1h;
            resolver                  127.0.0.1:$RESOLVER;
            proxy_pass                \$webhook_upstream_url;
            proxy_http_version        1.1;
            proxy_buffering           off;
            proxy_connect_timeout     3600s;
            proxy_read_timeout        3600s;
            proxy_send_timeout        3600s;
        }
EOF
}

start_nginx() {   # $1: prefix
    local p=$1
    $NGINX -p "$p/" -c conf/nginx.conf -t -q 2>"$p/logs/nginx-t.log" \
        || { cat "$p/logs/nginx-t.log"; die "nginx -t failed ($p)"; }
    $NGINX -p "$p/" -c conf/nginx.conf 2>>"$p/logs/nginx-start.log" \
        || { cat "$p/logs/nginx-start.log"; die "nginx did not start ($p)"; }
    NGINXES+=("$p")
}

wait_http() {   # $1: url
    for _ in $(seq 100); do
        curl -s -o /dev/null -f "$1" && return 0
        sleep 0.05
    done
    die "no answer from $1"
}

api() {   # $1: method, $2: url, $3: tenant, [$4: body]; prints the body
    curl -s -X "$1" -H "X-Tenant: $3" -H 'Content-Type: application/json' \
         ${4:+--data "$4"} "$2"
}

json_field() {   # $1: field; stdin: JSON
    { cat; echo; } | sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p' | head -1
}

TICK=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$WORKER/stat"; }

set_worker() {   # $1: prefix; the newest worker of that nginx (after a
                 # reload the old one may wait for a delivery to the black hole)
    local m
    m=$(cat "$1/logs/nginx.pid")
    for _ in $(seq 100); do
        WORKER=$(pgrep -n -P "$m")
        [ -n "$WORKER" ] && return
        sleep 0.1
    done
    die "no worker for $m"
}

# wrk -t1 -cCONNS -dSECS; sets RPS, US (worker CPU per request, us) and
# WRK_ERR ("" or the error lines)
wrk_run() {   # $1: name, $2: url, [$3: lua script]
    local c0 c1 n
    WRK_N=$((WRK_N + 1))
    local f="$B/wrk-$WRK_N.txt"
    echo "$1" >"$f.name"
    export RUN="r${WRK_N}x"   # tenants of creates: new ones every run
    c0=$(cpu)
    wrk -t1 -c"$CONNS" -d"${SECS}s" ${3:+-s "$3"} "$2" >"$f" 2>&1
    c1=$(cpu)
    RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
    [ -n "$RPS" ] || { cat "$f"; die "wrk failed ($1)"; }
    n=$(awk '/requests in/ { print $1 }' "$f")
    US=$(awk -v c="$((c1 - c0))" -v t="$TICK" -v n="$n" \
         'BEGIN { printf "%.1f", (n > 0 ? c / t * 1e6 / n : 0) }')
    WRK_ERR=$(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' \n' ' ')
}

# baseline A, module B, module B, baseline A: the mean of each
ROWS=""
WRK_N=0
pair() {   # $1: label, $2: baseline url, $3: module url, $4: lua (base), $5: lua (module), $6: target, $7: note
    local a1 a2 b1 b2 e="" r ua ub cr v
    wrk_run "$1-base1" "$2" "$4"; a1=$RPS; ua=$US; e="$e$WRK_ERR"
    wrk_run "$1-mod1" "$3" "$5"; b1=$RPS; ub=$US; e="$e$WRK_ERR"
    wrk_run "$1-mod2" "$3" "$5"; b2=$RPS; ub="$ub $US"; e="$e$WRK_ERR"
    wrk_run "$1-base2" "$2" "$4"; a2=$RPS; ua="$ua $US"; e="$e$WRK_ERR"
    PAIR_BASE=$(favg "$a1" "$a2")
    PAIR_MOD=$(favg "$b1" "$b2")
    r=$(fratio "$PAIR_MOD" "$PAIR_BASE")
    ua=$(echo "$ua" | awk '{ printf "%.1f", ($1 + $2) / 2 }')
    ub=$(echo "$ub" | awk '{ printf "%.1f", ($1 + $2) / 2 }')
    cr=$(fratio "$ua" "$ub")
    PAIR_RATIO=$r
    PAIR_CPU_RATIO=$cr
    v=${6:+>= $6: $(verdict "$r" "$6")}
    case "$e" in
    *Non-2xx*) v="**invalid: non-2xx answers (see $B/wrk-*.txt)**" ;;
    esac
    ROWS="$ROWS| $1 | $PAIR_MOD/s ($b1, $b2) | $PAIR_BASE/s ($a1, $a2) | **$r** | $ub / $ua us = $cr | $v ${7:-}${e:+ wrk: $e} |
"
    log "$1: $PAIR_MOD/s vs $PAIR_BASE/s = $r (CPU/op $ub vs $ua us: $cr)"
}

# "return 200" with a body of N bytes: a 2000-byte map value repeated (a
# configuration token is limited to 4 KB) plus a literal tail
body_of() {   # $1: size
    local n=$1 s=""
    while [ "$n" -ge 2000 ]; do s="$s\${bench_2k}"; n=$((n - 2000)); done
    s="$s$(head -c "$n" /dev/zero | tr '\0' x)"
    printf '"%s"' "$s"
}

# --- the main instance -------------------------------------------------------

M=$B/main
{
    common_conf
    cat <<EOF

http {
$(http_common)

    webhook_zone  zone=api:1024m state=$M/state-api  fsync=off;
    webhook_zone  zone=sync:1024m state=$M/state-sync fsync=on;
    webhook_zone  zone=pub:4096m state=$M/state-pub  fsync=off snapshot=1024m;
    webhook_zone  zone=lat:32m   state=$M/state-lat  fsync=off;

    map \$host \$bench_2k { default "$(head -c 2000 /dev/zero | tr '\0' x)"; }

    server {
        listen       127.0.0.1:$FRONT backlog=4096;

        location /a/hooks {
            webhook_api                zone=api;
            webhook_max_subscriptions  1000000;
        }

        location /s/hooks {
            webhook_api                zone=sync;
            webhook_max_subscriptions  1000000;
        }

        location = /a/status { webhook_status zone=api; }
        location /p/hooks { webhook_api zone=pub; }
        location /l/hooks { webhook_api zone=lat; }

        location = /p/events {
            webhook_publish      zone=pub;
            webhook_max_pending  100000000;
        }

$(hole_deliver /_pub pub)

        location = /l/events { webhook_publish zone=lat; }

        location = /_lat {
            internal;
            webhook_deliver     zone=lat;
            resolver            127.0.0.1:$RESOLVER;
            proxy_pass          \$webhook_upstream_url;
            proxy_http_version  1.1;
            proxy_buffering     off;
            proxy_set_header    webhook-id \$webhook_event_id;
        }

        include  baseline.conf;
    }
}
EOF
} >"$M/conf/nginx.conf"
echo "location = /base/ready { return 404; }" >"$M/conf/baseline.conf"

SCALE_PART=0
if has api || has publish || has latency; then
    start_nginx "$M"
    wait_http "http://127.0.0.1:$FRONT/a/status"
fi

CREATE_BODY='{"action":"bench.event","target_url":"http://127.0.0.1:'$HOLE'/hook/000000"}'
EVENT_BODY='{"action":"bench.event","user":"u1","resource":{"n":12345,"s":"abcdefghijklmnopqrstuvwxyz"}}'

# lua: POST $BODY to $PATH, tenant = $TENANT .. floor(n / 1000), at most $STOP
cat >"$B/lua/post.lua" <<'LUA'
local body = os.getenv("BODY")
local path = os.getenv("URLPATH")
local tenant = os.getenv("TENANT")
local per = tonumber(os.getenv("PER") or "1000")
local stop = tonumber(os.getenv("STOP") or "0")
local run = os.getenv("RUN") or ""
local n = tonumber(os.getenv("FROM") or "0")
local sent = n
local got = 0
local bad = 0
request = function()
    local t = tenant
    if per > 0 then t = tenant .. run .. math.floor(sent / per) end
    sent = sent + 1
    return wrk.format("POST", path, {["X-Tenant"] = t,
                      ["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, rbody)
    got = got + 1
    if status >= 300 then
        bad = bad + 1
        if bad < 5 then io.stderr:write(status .. " " .. rbody .. "\n") end
    end
    if stop > 0 and got >= stop then wrk.thread:stop() end
end
LUA

# lua: GET one of the ids in $IDS (a file), tenant $TENANT
cat >"$B/lua/get.lua" <<'LUA'
local ids = {}
for l in io.lines(os.getenv("IDS")) do ids[#ids + 1] = l end
local path = os.getenv("URLPATH")
local tenant = os.getenv("TENANT")
local i = 0
request = function()
    i = i % #ids + 1
    return wrk.format("GET", path .. ids[i], {["X-Tenant"] = tenant})
end
LUA

cat >"$B/lua/base-get.lua" <<'LUA'
local path = os.getenv("URLPATH")
request = function()
    return wrk.format("GET", path, {["X-Tenant"] = "g"})
end
LUA

# --- 1. subscription API ------------------------------------------------------

if has api; then
    log "api: setting up"
    : >"$B/ids.txt"
    for i in $(seq 100); do
        api POST "http://127.0.0.1:$FRONT/a/hooks" g "$CREATE_BODY" \
            | json_field _id >>"$B/ids.txt"
    done
    [ "$(grep -c '^[0-9a-f]\{24\}$' "$B/ids.txt")" -eq 100 ] || die "setup: ids"
    ID1=$(head -1 "$B/ids.txt")
    GET_LEN=$(api GET "http://127.0.0.1:$FRONT/a/hooks/$ID1" g | wc -c)
    LIST_BODY=$(api GET "http://127.0.0.1:$FRONT/a/hooks?limit=100" g)
    LIST_LEN=$(printf '%s' "$LIST_BODY" | wc -c)
    LIST_N=$(printf '%s' "$LIST_BODY" | grep -o '"_id"' | wc -l)
    [ "$LIST_N" -eq 100 ] || die "setup: list has $LIST_N items"
    POST_LEN=$(api POST "http://127.0.0.1:$FRONT/a/hooks" g "$CREATE_BODY" | wc -c)
    PUB_LEN=$(curl -s -H 'X-Tenant: nobody' --data "$EVENT_BODY" \
              "http://127.0.0.1:$FRONT/p/events" | wc -c)
fi

if has publish; then
    log "publish: setting up"
    api POST "http://127.0.0.1:$FRONT/p/hooks" p1 "$CREATE_BODY" >/dev/null
    for i in $(seq 10); do
        api POST "http://127.0.0.1:$FRONT/p/hooks" p10 "$CREATE_BODY" >/dev/null
    done
    PUB1_LEN=$(curl -s -H 'X-Tenant: p1' --data "$EVENT_BODY" \
              "http://127.0.0.1:$FRONT/p/events" | wc -c)
fi

if has api || has publish; then
    {
        for v in GET:$GET_LEN LIST:$LIST_LEN POST:$POST_LEN PUB:${PUB1_LEN:-$PUB_LEN}; do
            echo "location = /base/${v%%:*} { return 200 $(body_of "${v#*:}"); }"
        done
        echo "location = /base/ready { return 200; }"
    } >"$M/conf/baseline.conf" 2>/dev/null
    $NGINX -p "$M/" -c conf/nginx.conf -s reload || die "reload failed"
    wait_http "http://127.0.0.1:$FRONT/base/ready"
    set_worker "$M"
    # the old worker may still accept a moment after the new one answers
    for v in GET:$GET_LEN LIST:$LIST_LEN; do
        for _ in $(seq 100); do
            l=$(curl -s "http://127.0.0.1:$FRONT/base/${v%%:*}" | wc -c)
            [ "$l" -eq "${v#*:}" ] && break
            sleep 0.05
        done
        [ "$l" -eq "${v#*:}" ] || die "baseline ${v%%:*}: $l bytes, not ${v#*:}"
    done
    sleep 0.5
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$FRONT/base/GET" >/dev/null 2>&1   # warm-up
fi

if has api; then
    URLPATH=/a/hooks/ TENANT=g IDS=$B/ids.txt \
    pair "API GET P/{id} (100 ids in turn), $GET_LEN bytes" \
        "http://127.0.0.1:$FRONT/base/GET" "http://127.0.0.1:$FRONT" \
        "" "$B/lua/get.lua" 0.8
    R_GET=$PAIR_RATIO

    URLPATH="/a/hooks?limit=100" \
    pair "API GET P?limit=100 (list of 100), $LIST_LEN bytes" \
        "http://127.0.0.1:$FRONT/base/LIST" "http://127.0.0.1:$FRONT" \
        "" "$B/lua/base-get.lua"
    R_LIST=$PAIR_RATIO

    export BODY=$CREATE_BODY TENANT=c PER=1000
    # the same script for both: the baseline only gets another path
    sed 's|os.getenv("URLPATH")|"/base/POST"|' "$B/lua/post.lua" >"$B/lua/post-base.lua"
    URLPATH=/a/hooks \
    pair "API POST P (create), state fsync=off, $POST_LEN bytes" \
        "http://127.0.0.1:$FRONT" "http://127.0.0.1:$FRONT" \
        "$B/lua/post-base.lua" "$B/lua/post.lua" 0.5
    R_POST_OFF=$PAIR_RATIO

    URLPATH=/s/hooks \
    pair "API POST P (create), state fsync=on" \
        "http://127.0.0.1:$FRONT" "http://127.0.0.1:$FRONT" \
        "$B/lua/post-base.lua" "$B/lua/post.lua" "" \
        "(each answer waits for an fsync; one fsync serves all waiting)"
    R_POST_ON=$PAIR_RATIO
    unset BODY TENANT PER
fi

# --- 2. publishing --------------------------------------------------------------

if has publish; then
    sed 's|os.getenv("URLPATH")|"/base/PUB"|' "$B/lua/post.lua" >"$B/lua/pub-base.lua"
    export BODY=$EVENT_BODY PER=0
    TENANT=p1 URLPATH=/p/events \
    pair "publish, fan-out 1, $PUB1_LEN bytes" \
        "http://127.0.0.1:$FRONT" "http://127.0.0.1:$FRONT" \
        "$B/lua/pub-base.lua" "$B/lua/post.lua" 0.5
    R_PUB1=$PAIR_RATIO
    TENANT=p10 URLPATH=/p/events \
    pair "publish, fan-out 10 (events/s)" \
        "http://127.0.0.1:$FRONT" "http://127.0.0.1:$FRONT" \
        "$B/lua/pub-base.lua" "$B/lua/post.lua" 0.5
    R_PUB10=$PAIR_RATIO
    unset BODY PER
fi

# --- 3. latency, publish to receiver, at low load ------------------------------

if has latency; then
    log "latency: $LAT_N events, one every $LAT_GAP ms"
    # a receiver with microsecond timestamps ($msec has milliseconds only)
    perl -MIO::Socket::INET -MTime::HiRes=time -e '
        my ($port, $out) = @ARGV;
        my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
                                      Listen => 128, ReuseAddr => 1) or die "$!";
        open(my $fh, ">", $out) or die; $fh->autoflush(1);
        while (my $c = $l->accept) {
            my ($id, $len) = ("-", 0);
            while (my $h = <$c>) {
                last if $h eq "\r\n";
                $id = $1 if $h =~ /^webhook-id:\s*(\S+)/i;
                $len = $1 if $h =~ /^content-length:\s*(\d+)/i;
            }
            my $t = time;
            read($c, my $b, $len) if $len;
            print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            close $c;
            printf $fh "%s %.6f\n", $id, $t;
        }' "$LAT_RECV_PORT" "$B/lat-recv.txt" &
    PIDS+=($!)
    sleep 0.3
    api POST "http://127.0.0.1:$FRONT/l/hooks" lt \
        '{"action":"*","target_url":"http://127.0.0.1:'$LAT_RECV_PORT'/hook"}' >/dev/null
    perl -MIO::Socket::INET -MTime::HiRes=time,sleep -e '
        my ($port, $n, $gap, $out) = @ARGV;
        open(my $fh, ">", $out) or die;
        for my $i (1 .. $n) {
            my $body = qq({"id":"lat-$i","action":"bench.event","resource":{"n":$i}});
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
            my $t = time;
            print $s "POST /l/events HTTP/1.1\r\nHost: x\r\nX-Tenant: lt\r\n"
                   . "Content-Type: application/json\r\nConnection: close\r\n"
                   . "Content-Length: " . length($body) . "\r\n\r\n$body";
            my $r = <$s>;
            printf $fh "lat-%d %.6f\n", $i, $t;
            close $s;
            sleep($gap / 1000);
        }' "$FRONT" "$LAT_N" "$LAT_GAP" "$B/lat-sent.txt"
    sleep 1
    LAT=$(awk '
        FNR == NR { sent[$1] = $2; next }
        ($1 in sent) { d[++n] = ($2 - sent[$1]) * 1000 }
        END {
            if (n == 0) { print "0 0 0 0"; exit }
            # insertion sort is fine for a few hundred
            for (i = 2; i <= n; i++) { v = d[i]; for (j = i - 1; j >= 1 && d[j] > v; j--) d[j + 1] = d[j]; d[j + 1] = v }
            p50 = d[int((n - 1) * 0.50) + 1]; p99 = d[int((n - 1) * 0.99) + 1]
            printf "%d %.1f %.1f %.1f\n", n, p50, p99, d[n]
        }' "$B/lat-sent.txt" "$B/lat-recv.txt")
    read -r LAT_RECV LAT_P50 LAT_P99 LAT_MAX <<<"$LAT"
    log "latency: $LAT_RECV received, p50 $LAT_P50 ms, p99 $LAT_P99 ms"
fi

MAIN_ERRORS=$(grep -c -E '\[(error|crit|alert|emerg)\]' "$M/logs/error.log" 2>/dev/null)

if [ -f "$M/logs/nginx.pid" ]; then
    $NGINX -p "$M/" -c conf/nginx.conf -s stop
    for _ in $(seq 100); do [ -f "$M/logs/nginx.pid" ] || break; sleep 0.1; done
fi

# --- 4. delivery: bench/deliver.sh ---------------------------------------------

if has deliver; then
    log "deliver: bench/deliver.sh N=$DELIVER_N"
    N=$DELIVER_N BASE_SECS=$SECS FRONT_PORT=$DLV_FRONT RECV_PORT=$DLV_RECV \
    RESOLVER_PORT=$RESOLVER BENCH_DIR=$B/deliver OUT=$B/RESULTS-deliver.md \
        "$ROOT/bench/deliver.sh" >"$B/deliver.txt" 2>&1 \
        || { cat "$B/deliver.txt"; die "deliver.sh failed"; }
    DLV_TABLE=$(sed -n '/^| measure/,/^$/p' "$B/RESULTS-deliver.md")
    R_DLV=$(grep -o 'ratio drain / GET baseline\*\* | \*\*[0-9.]*' "$B/RESULTS-deliver.md" | grep -o '[0-9.]*$')
    R_DLV_POST=$(sed -n 's/^| ratio drain \/ POST baseline | \([0-9.]*\).*/\1/p' "$B/RESULTS-deliver.md")
    R_DLV_E2E=$(sed -n 's/.*(end to end: \([0-9.]*\)).*/\1/p' "$B/RESULTS-deliver.md")
    log "deliver: drain/GET $R_DLV, end to end/GET $R_DLV_E2E"
fi

# --- 5. scale -----------------------------------------------------------------

if has scale; then
    S=$B/scale
    {
        common_conf
        cat <<EOF

http {
$(http_common)

    webhook_zone  zone=big:2048m  state=$S/state-big   fsync=off;
    webhook_zone  zone=small:2048m state=$S/state-small fsync=off;

    server {
        listen       127.0.0.1:$SCALE backlog=4096;

        location /big/hooks   { webhook_api zone=big; }
        location /small/hooks { webhook_api zone=small; }
        location = /big/status   { webhook_status zone=big; }
        location = /small/status { webhook_status zone=small; }

        location = /big/events {
            webhook_publish      zone=big;
            webhook_max_pending  100000000;
            client_max_body_size 16m;
        }
        location = /small/events {
            webhook_publish      zone=small;
            webhook_max_pending  100000000;
        }

$(hole_deliver /_big big)
$(hole_deliver /_small small)
    }
}
EOF
    } >"$S/conf/nginx.conf"

    start_nginx "$S"
    wait_http "http://127.0.0.1:$SCALE/big/status"

    status() { curl -s "http://127.0.0.1:$SCALE/$1/status"; }
    used() { status "$1" | sed -n 's/.*"used":\([0-9]*\).*/\1/p'; }
    subs() { status "$1" | sed -n 's/.*"subscriptions":\([0-9]*\).*/\1/p'; }

    # the strings of one subscription as the store keeps them
    ONE=$(api POST "http://127.0.0.1:$SCALE/small/hooks" u0 "$CREATE_BODY")
    STR_LEN=$(printf '%s' "$ONE" | perl -ne '
        my $n = 0;
        for my $f (qw(_id action target_url secret organization)) {
            /"$f":"([^"]*)"/ and $n += length $1;
        }
        print $n')
    for i in $(seq 9); do
        api POST "http://127.0.0.1:$SCALE/small/hooks" "u$i" "$CREATE_BODY" >/dev/null
    done

    U0=$(used big)
    log "scale: creating $SCALE_MID subscriptions"
    export BODY=$CREATE_BODY URLPATH=/big/hooks TENANT=u PER=1000 RUN=
    SCALE_C0=$(now)
    # wrk stops sending at STOP, but runs its whole duration: interrupt it
    create_until() {   # $1: from, $2: to
        STOP=$(($2 - $1)) FROM=$1 wrk -t1 -c"$CONNS" -d400s -s "$B/lua/post.lua" \
            "http://127.0.0.1:$SCALE" >"$B/wrk-create-$2.txt" 2>&1 &
        local w=$! c
        while kill -0 "$w" 2>/dev/null; do
            c=$(subs big)
            [ "${c:-0}" -ge $(($2 - 40)) ] && { sleep 0.3; break; }
            sleep 0.2
        done
        kill -INT "$w" 2>/dev/null
        wait "$w"
    }
    create_until 0 "$SCALE_MID"
    N1=$(subs big)
    U1=$(used big)
    log "scale: $N1 subscriptions, zone used $U1 (was $U0); creating up to $SCALE_N"
    create_until "$SCALE_MID" "$SCALE_N"
    SCALE_C1=$(now)
    N2=$(subs big)
    U2=$(used big)
    CREATE_RATE=$(awk -v n="$N2" -v s="$(fsub "$SCALE_C1" "$SCALE_C0")" 'BEGIN { printf "%.0f", n / s }')
    log "scale: $N2 subscriptions, zone used $U2 ($CREATE_RATE created/s)"
    unset BODY URLPATH TENANT PER
    PER1=$(awk -v a="$U1" -v b="$U0" -v n="$N1" 'BEGIN { printf "%.0f", (a - b) / n }')
    PER2=$(awk -v a="$U2" -v b="$U0" -v n="$N2" 'BEGIN { printf "%.0f", (a - b) / n }')
    BEYOND1=$((PER1 - STR_LEN - 4))
    BEYOND2=$((PER2 - STR_LEN - 4))

    # the publisher's own subscription in each zone, whose deliveries the
    # black hole keeps pending: PENDING_N of them in each zone
    perl -e 'print "[", join(",", map { q({"action":"bench.event","resource":{"n":1}}) } 1 .. 100), "]"' \
        >"$B/batch.json"
    for _ in $(seq $(( (PENDING_N + 99) / 100 ))); do
        echo "url = \"http://127.0.0.1:$SCALE/big/events\""
        echo "output = \"/dev/null\""
    done >"$B/curl-urls.txt"
    sed 's|/big/|/small/|' "$B/curl-urls.txt" >"$B/curl-urls-small.txt"
    for z in big small; do
        api POST "http://127.0.0.1:$SCALE/$z/hooks" pp "$CREATE_BODY" >/dev/null
    done
    log "scale: $PENDING_N pending deliveries in each zone"
    curl -s -Z --parallel-max 4 -H 'X-Tenant: pp' -H 'Content-Type: application/json' \
        --data-binary @"$B/batch.json" -K "$B/curl-urls.txt" >/dev/null
    curl -s -Z --parallel-max 4 -H 'X-Tenant: pp' -H 'Content-Type: application/json' \
        --data-binary @"$B/batch.json" -K "$B/curl-urls-small.txt" >/dev/null

    pending() {
        local st
        st=$(status "$1")
        echo $(( $(printf '%s' "$st" | sed -n 's/.*"queued":\([0-9]*\).*/\1/p') \
                 + $(printf '%s' "$st" | sed -n 's/.*"in_flight":\([0-9]*\).*/\1/p') ))
    }
    PENDING=$(pending big)
    EVENTS=$(status big | sed -n 's/.*"events":\([0-9]*\).*/\1/p')
    NSUBS=$(subs big)
    log "scale: $NSUBS subscriptions, $PENDING pending deliveries; restarting"

    restart() {   # sets START_CMD (nginx's own start) and START_READY
        local t0 t1 t2 got
        kill -TERM "$(cat "$S/logs/nginx.pid")"
        for _ in $(seq 600); do [ -f "$S/logs/nginx.pid" ] || break; sleep 0.05; done
        [ -f "$S/logs/nginx.pid" ] && die "scale nginx did not stop"
        sync
        t0=$(now)
        $NGINX -p "$S/" -c conf/nginx.conf 2>>"$S/logs/nginx-start.log" \
            || { tail "$S/logs/nginx-start.log"; die "restart failed"; }
        t1=$(now)
        for _ in $(seq 1000); do
            curl -s -o /dev/null -f "http://127.0.0.1:$SCALE/big/status" && break
            sleep 0.01
        done
        t2=$(now)
        got=$(subs big)
        [ "$got" = "$NSUBS" ] || die "after restart: $got subscriptions, not $NSUBS"
        START_CMD=$(fsub "$t1" "$t0")
        START_READY=$(fsub "$t2" "$t0")
    }
    STATE_BYTES1=$(du -sb "$S/state-big" | cut -f1)
    restart
    START1_CMD=$START_CMD START1_READY=$START_READY
    STATE_BYTES2=$(du -sb "$S/state-big" | cut -f1)
    restart
    START2_CMD=$START_CMD START2_READY=$START_READY
    PENDING_AFTER=$(pending big)
    log "scale: start $START1_READY s (journal), $START2_READY s (snapshot); $PENDING_AFTER pending"
    set_worker "$S"

    # publishing beside 1M unrelated subscriptions, against beside 10, with
    # the same backlog of pending deliveries in both zones
    export BODY=$EVENT_BODY PER=0 TENANT=pp
    URLPATH=/small/events wrk -t1 -c"$CONNS" -d1s -s "$B/lua/post.lua" \
        "http://127.0.0.1:$SCALE" >/dev/null 2>&1
    sed 's|os.getenv("URLPATH")|"/small/events"|' "$B/lua/post.lua" >"$B/lua/pub-small.lua"
    URLPATH=/big/events \
    pair "publish, fan-out 1, beside $N2 unrelated subscriptions (baseline: beside 10)" \
        "http://127.0.0.1:$SCALE" "http://127.0.0.1:$SCALE" \
        "$B/lua/pub-small.lua" "$B/lua/post.lua" 0.9 \
        "(the unrelated ones: 1000 other tenants of 1000, same action)"
    R_PUB_SCALE=$PAIR_RATIO
    unset BODY PER TENANT

    SCALE_ERRORS=$(grep -c -E '\[(error|crit|alert|emerg)\]' "$S/logs/error.log")
    SCALE_PART=1
fi

# --- results --------------------------------------------------------------------

T_END=$(date +%s.%N)
VER=$($NGINX -v 2>&1 | sed 's/.*: //')
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src ngx_http_webhook_module.c 2>/dev/null || echo "+dirty")
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "# Benchmarks (make bench)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') in $(fsub "$T_END" "$T_START") s: \`nproc\` $(nproc), $CPU_MODEL,"
    echo "Linux $(uname -r), $VER, module $REV; load average before the results: $LOAD."
    echo
    echo "Every figure is measured beside its baseline in the same run, by the same nginx"
    echo "(1 worker), with wrk -t1 -c$CONNS for ${SECS} s per run, in the order baseline,"
    echo "module, module, baseline (the mean of each pair, the two runs in brackets)."
    echo "Baselines are \`return 200\` locations with a body of the same size as the module's"
    echo "answer. Absolute numbers depend on the machine and what else runs on it;"
    echo "the ratios, both measured in the same run, are what count."
    echo
    if [ -n "$ROWS" ]; then
        echo "## Subscription API and publishing (ops/s)"
        echo
        echo "| measure | module | baseline | ratio | worker CPU per op: module / baseline = ratio | target (on the ratio) |"
        echo "|---|---|---|---|---|---|"
        printf '%s' "$ROWS"
        echo
        echo "Creates use a new tenant every 1000 (webhook_max_subscriptions). Publishing"
        echo "goes to subscriptions whose receiver never accepts (one delivery in flight),"
        echo "so the figures are the cost of accepting events, not of delivering them; the"
        echo "undelivered backlog grows to millions of deliveries during the runs, so the"
        echo "publishing zone has snapshot=1024m: with the default 64m, snapshots of that"
        echo "backlog (serialized under the zone's lock) stall the worker for about a second"
        echo "each, which a real queue that drains does not see. At fan-out 10 the deliveries"
        echo "accepted per second are ten times the events."
        echo
    fi
    if has deliver; then
        echo "## Delivery (bench/deliver.sh, N=$DELIVER_N)"
        echo
        echo "$DLV_TABLE"
        echo
        echo "Target: deliveries >= 1.0 of plain proxy_pass: drain/GET **$R_DLV**:" \
             "$(verdict "${R_DLV:-0}" 1.0) (end to end, publishing included: $R_DLV_E2E;" \
             "drain/POST: $R_DLV_POST)."
        echo
    fi
    if has latency; then
        echo "## Latency, publish to receiver, at low load"
        echo
        echo "$LAT_N events, one every $LAT_GAP ms (a new connection each), one subscription to a"
        echo "receiver on loopback: from sending the publish request (a perl client) to the"
        echo "moment a small perl receiver has read the request's headers. Received $LAT_RECV of $LAT_N:"
        echo "**p50 $LAT_P50 ms, p99 $LAT_P99 ms** (max $LAT_MAX ms)."
        echo
    fi
    if [ "$SCALE_PART" = 1 ]; then
        echo "## Scale"
        echo
        echo "One zone (\`big\`, 2048m, state fsync=off) filled through the API (wrk, tenants u0..u999"
        echo "of 1000 each, $CREATE_RATE creates/s overall); \`webhook_status\` zone bytes used"
        echo "(page granularity) before and after. Strings of one subscription (id, tenant,"
        echo "action, target_url, secret): $STR_LEN bytes, + 4 for a tenant share."
        echo
        echo "| measure | value | target |"
        echo "|---|---|---|"
        echo "| zone bytes per subscription at $N1 | $PER1 (beyond its strings: **$BEYOND1**) | <= 512: $(verdict "$BEYOND1" 512 le) |"
        echo "| zone bytes per subscription at $N2 | $PER2 (beyond its strings: **$BEYOND2**) | <= 512: $(verdict "$BEYOND2" 512 le) |"
        echo "| start with $N2 subscriptions, $PENDING pending deliveries ($EVENTS events), from the snapshots written while creating and the journal ($STATE_BYTES1 bytes of state) | nginx returned after $START1_CMD s, API answered after **$START1_READY s** | < 3 s: $(verdict "$START1_READY" 3 le) |"
        echo "| the same again, from the snapshot that start wrote ($STATE_BYTES2 bytes) | $START2_CMD s, API after **$START2_READY s** | < 3 s: $(verdict "$START2_READY" 3 le) |"
        echo "| pending deliveries after the restarts | $PENDING_AFTER | all back |"
        echo
        echo "Publish rate beside $N2 unrelated subscriptions against beside 10 (two zones of the"
        echo "same nginx, measured alternately): ratio **$R_PUB_SCALE**, target >= 0.9:" \
             "$(verdict "$R_PUB_SCALE" 0.9) (in the table above)."
        echo
    fi
    echo "error-log lines (error and worse): main ${MAIN_ERRORS:-0}, scale ${SCALE_ERRORS:-0}."
    echo
    echo '## Notes on the targets (profiled 2026-11-22 with perf; ranges over 5 runs on this shared machine)'
    echo 
    echo '- **API GET P/{id}** (target 0.8): 0.77-1.17 by rate, 0.78-0.89 by worker CPU per'
    echo '  request. The module adds 1-2 us per request over `return 200`, spread over its own'
    echo '  work with no single hot spot: the tenant variable, routing, the lookup under the'
    echo '  zone'\''s lock, copying the subscription into the request pool, building the JSON (a'
    echo '  length pass and a write pass with escaping, two ISO timestamps). Loopback TCP in'
    echo '  the kernel is most of the time of both.'
    echo '- **Publish, fan-out 10** (target 0.5, in events/s): 0.28-0.51 by rate, 0.32-0.37 by'
    echo '  CPU per event. Ten deliveries per event at about 1.5 us each: a slab allocation in'
    echo '  a zone that grows through the run (page faults on first touch are ~8 % of the'
    echo '  worker, because the black-holed backlog never drains), inserts into the due and'
    echo '  deliveries trees, 24 bytes each in the journal record. Since the last two runs the'
    echo '  events tree is keyed by creation for generated ids (it walked cold nodes for every'
    echo '  insert: 7-11 % of the worker at fan-out 10 before).'
    echo '- **Publish beside 1M unrelated subscriptions** (target 0.9): 0.95-1.52 by rate,'
    echo '  0.79-0.97 by CPU per event: the bigger zone'\''s lookups (a tenant tree of 1001 instead'
    echo '  of 11, more cache and TLB misses) cost up to ~2 us more per event.'
    echo '- **Start-up** (target 3 s): 2.5-2.6 s for the first start, which replays the'
    echo '  snapshots written while creating plus the journal and writes a fresh ~190 MB'
    echo '  snapshot; 1.2-1.4 s from that snapshot. The rest is page faults of the fresh zone'
    echo '  (~0.6 GB touched), reading, checking and writing the snapshot, and the events tree.'
    echo '- The list of 100 (no target) builds 25 KB of JSON per request; `fsync=on` creates'
    echo '  (no target) wait for an fsync each (one fsync serves all that wait).'
} >"$OUT"

cat "$OUT"
exit 0
