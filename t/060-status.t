# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# webhook_status: a zone's counters as JSON, or as Prometheus text with
# ?format=prometheus.
#
# Two zones, whose subscribers are one location of this server that
# answers 503: in "q" a failed attempt is retried an hour later, so its
# delivery stays queued; in "f" the one retry comes after a second, and
# then the delivery has failed.  Zone "s" delivers one at a time to a
# socket this file holds, which takes connections and never answers: one
# delivery stays in flight while the next one waits, due.  Zone "s" keeps
# no state, so that case is one block, and /wait (a request to the same
# socket that times out) gives the deliveries a second.  Blocks run in order and share state
# directories; the "--- before" of the block that reads the counters
# leaves the deliveries time to run.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use Time::HiRes qw(sleep);
use File::Path qw(remove_tree);
use IO::Socket::INET;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=q:1m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_zone  zone=f:1m state=$TEST_NGINX_STATE_DIR-f fsync=off;
    webhook_zone  zone=s:1m;
    webhook_zone  zone=k:1m;
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  http;
    webhook_tenant          org1;
    resolver                127.0.0.1:1;

    location = /status/q { webhook_status zone=q; }
    location = /status/f { webhook_status zone=f; }
    location = /status/s { webhook_status zone=s; }

    location /q/hooks    { webhook_api zone=q; }
    location /f/hooks    { webhook_api zone=f; }
    location = /q/events { webhook_publish zone=q; }
    location = /f/events { webhook_publish zone=f; }
    location /s/hooks    { webhook_api zone=s; }
    location = /s/events { webhook_publish zone=s; }
    location = /status/k { webhook_status zone=k; }
    location /k/hooks    { webhook_api zone=k; }
    location = /k/events { webhook_publish zone=k; }

    location = /_k {
        internal;
        webhook_deliver  zone=k;
        webhook_retry    1h;
        proxy_pass       $webhook_upstream_url;
    }

    location = /_q {
        internal;
        webhook_deliver  zone=q;
        webhook_retry    1h;
        proxy_pass       $webhook_upstream_url;
    }

    location = /_f {
        internal;
        webhook_deliver  zone=f;
        webhook_retry    1s;
        proxy_pass       $webhook_upstream_url;
    }

    location = /_s {
        internal;
        webhook_deliver      zone=s;
        webhook_concurrency  1;
        proxy_pass           $webhook_upstream_url;
    }

    location = /wait {
        proxy_pass          http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
        proxy_read_timeout  1s;
    }

    location = /r503 {
        return 503;
    }

    location = /r204 {
        return 204;
    }

    location = /r410 {
        return 410;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# webhook_setup() starts afresh the state directory it names, not this one
remove_tree(state_dir() . "-f");

our $Blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Listen => 16,
                                       ReuseAddr => 1)
    or die "blackhole: $!";

our $BlackholePort = $Blackhole->sockport;

$ENV{TEST_NGINX_BLACKHOLE_PORT} = $BlackholePort;

sub hook {
    my ($zone, $port, $path) = @_;
    $port //= $ENV{TEST_NGINX_SERVER_PORT};
    $path //= "/r503";
    return "POST /$zone/hooks\n{\"action\":\"event.created\","
           . "\"target_url\":\"http://127.0.0.1:$port$path\"}";
}

our $Z = qr/"zone_bytes":\{"used":[1-9]\d*,"free":[1-9]\d*\}/;
our $J = qr/"journal":\{"bytes":\d+,"seq":\d+,"generation":\d+,"last_snapshot":(?:null|[1-9]\d{9})\}/;
our $A0 = qr/"attempts":\{"total":0,"retries":0,"given_up":0\}/;

run_tests();

__DATA__

=== TEST 1: an empty zone: nothing counted, the slab pool measured, no snapshot yet, writable
--- request
GET /status/q
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr/^\{"zone":"q","subscriptions":0,"events":0,"deliveries":\{"queued":0,"in_flight":0,"failed":0,"succeeded":0\},$main::A0,"oldest_due_age_ms":0,$main::Z,"journal":\{"bytes":0,"seq":0,"generation":0,"last_snapshot":null\},"writable":true\}$/
--- no_error_log
[alert]



=== TEST 2: subscriptions are counted per zone
--- request eval
[main::hook("q"), main::hook("q"), main::hook("f"),
 "GET /status/q", "GET /status/f"]
--- error_code eval
[201, 201, 201, 200, 200]
--- response_body_like eval
[qr/"action"/, qr/"action"/, qr/"action"/,
 qr/^\{"zone":"q","subscriptions":2,"events":0,"deliveries":\{"queued":0,/,
 qr/^\{"zone":"f","subscriptions":1,"events":0,"deliveries":\{"queued":0,/]



=== TEST 3: an event to each zone
--- request eval
["POST /q/events\n{\"action\":\"event.created\"}",
 "POST /f/events\n{\"action\":\"event.created\"}"]
--- error_code eval
[202, 202]
--- response_body_like eval
[qr/"deliveries":2\}$/, qr/"deliveries":1\}$/]



=== TEST 4: after a 503, retried in an hour: queued, none due; after its last retry: failed; the restart that loaded the journal wrote a snapshot
--- before
sleep 4;
--- request eval
["GET /status/q", "GET /status/f"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^\{"zone":"q","subscriptions":2,"events":1,"deliveries":\{"queued":2,"in_flight":0,"failed":0,"succeeded":0\},"attempts":\{[^}]*\},"oldest_due_age_ms":0,$main::Z,"journal":\{"bytes":\d+,"seq":\d+,"generation":[1-9]\d*,"last_snapshot":(\d+)\},"writable":true\}$(??{ abs($^N - time) <= 60 ? "" : "(*FAIL)" })/,
 qr/^\{"zone":"f","subscriptions":1,"events":1,"deliveries":\{"queued":0,"in_flight":0,"failed":1,"succeeded":0\},"attempts":\{[^}]*\},"oldest_due_age_ms":0,$main::Z,$main::J,"writable":true\}$/]
--- no_error_log
[alert]



=== TEST 5: the same as Prometheus text
--- request
GET /status/f?format=prometheus
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4
--- response_body_like eval
qr/\A# TYPE webhook_subscriptions gauge
webhook_subscriptions\{zone="f"\} 1
# TYPE webhook_events gauge
webhook_events\{zone="f"\} 1
# TYPE webhook_deliveries gauge
webhook_deliveries\{zone="f",state="queued"\} 0
webhook_deliveries\{zone="f",state="in_flight"\} 0
webhook_deliveries\{zone="f",state="failed"\} 1
# TYPE webhook_delivered_total counter
webhook_delivered_total\{zone="f"\} 0
# TYPE webhook_attempts_total counter
webhook_attempts_total\{zone="f"\} \d+
# TYPE webhook_retries_total counter
webhook_retries_total\{zone="f"\} \d+
# TYPE webhook_given_up_total counter
webhook_given_up_total\{zone="f"\} \d+
# TYPE webhook_oldest_due_age_ms gauge
webhook_oldest_due_age_ms\{zone="f"\} 0
# TYPE webhook_zone_used_bytes gauge
webhook_zone_used_bytes\{zone="f"\} [1-9]\d*
# TYPE webhook_zone_free_bytes gauge
webhook_zone_free_bytes\{zone="f"\} [1-9]\d*
# TYPE webhook_journal_bytes gauge
webhook_journal_bytes\{zone="f"\} \d+
# TYPE webhook_journal_seq counter
webhook_journal_seq\{zone="f"\} \d+
# TYPE webhook_journal_generation counter
webhook_journal_generation\{zone="f"\} \d+
# TYPE webhook_last_snapshot_timestamp_seconds gauge
webhook_last_snapshot_timestamp_seconds\{zone="f"\} [1-9]\d{9}
# TYPE webhook_writable gauge
webhook_writable\{zone="f"\} 1
\z/



=== TEST 6: any other format is JSON
--- request
GET /status/q?format=xml
--- error_code: 200
--- response_body_like chomp
^\{"zone":"q",



=== TEST 7: POST is not allowed
--- request
POST /status/q
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like chomp
"error":"method_not_allowed"



=== TEST 8: one at a time to a target that never answers: one delivery in flight, the other due and waiting for its turn
--- request eval
[main::hook("s", $main::BlackholePort, "/"),
 "POST /s/events\n{\"action\":\"event.created\"}",
 "POST /s/events\n{\"action\":\"event.created\"}",
 "GET /wait",
 "GET /status/s"]
--- error_code eval
[201, 202, 202, 504, 200]
--- response_body_like eval
[qr/"action"/, qr/"deliveries":1\}$/, qr/"deliveries":1\}$/, qr/./,
 qr/^\{"zone":"s","subscriptions":1,"events":2,"deliveries":\{"queued":1,"in_flight":1,"failed":0,"succeeded":0\},$main::A0,"oldest_due_age_ms":[1-9]\d*,$main::Z,"journal":\{"bytes":0,"seq":0,"generation":0,"last_snapshot":null\},"writable":true\}$/]



=== TEST 9: counters since the zone began: one delivered, one retried, one given up (410)
--- request eval
[main::hook("k", undef, "/r204"),
 main::hook("k", undef, "/r503"),
 main::hook("k", undef, "/r410"),
 "POST /k/events\n{\"action\":\"event.created\"}",
 "GET /wait",
 "GET /status/k",
 "GET /status/k?format=prometheus"]
--- error_code eval
[201, 201, 201, 202, 504, 200, 200]
--- response_body_like eval
[qr/"action"/, qr/"action"/, qr/"action"/, qr/"deliveries":3\}$/, qr/./,
 qr/^\{"zone":"k","subscriptions":3,"events":1,"deliveries":\{"queued":1,"in_flight":0,"failed":1,"succeeded":1\},"attempts":\{"total":3,"retries":1,"given_up":1\},"oldest_due_age_ms":0,/,
 qr/^webhook_delivered_total\{zone="k"\} 1\n.*^webhook_attempts_total\{zone="k"\} 3\n.*^webhook_retries_total\{zone="k"\} 1\n.*^webhook_given_up_total\{zone="k"\} 1$/ms]
