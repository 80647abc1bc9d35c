# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Delivery (DESIGN section 5): published events reach their subscribers as
# POST subrequests through the webhook_deliver location, byte for byte,
# with Content-Type and User-Agent; retries until success, failure after
# the last attempt, 410 disables, 3xx fails, X-Accel-Redirect cannot steer
# a delivery, private addresses are refused, timeouts and DNS failures are
# recorded.
#
# Three zones, each with its own deliver location:
#   hooks   webhook_retry 1s 1s, private targets allowed, X-Accel-* ignored
#   raw     one attempt of at most 1s, X-Accel-Redirect not ignored
#   strict  one attempt, private targets refused (the default)
#
# The first blocks create one subscription per case, one block publishes
# to all of them, and the next one ("--- before", while that nginx is still
# up) waits until every delivery has settled and reads what the receivers
# logged (under valgrind, the publishing block waits itself).  The blocks
# after it check each subscription's attempt log, which the state
# directories keep across the restarts.
#
# Receivers: 127.0.0.1:19851 logs what it gets (into error.log, as RECEIVED
# lines) and proxies to 127.0.0.1:19852, which answers by path; 19857 is a
# DNS server this file runs (hooks.test is 127.0.0.1); nothing listens on
# 19858; 19859 accepts connections and never answers (a socket this file
# holds).

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use File::Path qw(remove_tree);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use POSIX ();

no_shuffle();

# the IPv6 case runs where ::1 is there
our $V6 = eval {
    require IO::Socket::IP;
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
                                Listen => 1);
    close $s if $s;
    $s ? 1 : 0;
};

$ENV{TEST_NGINX_RECEIVER_V6} = $V6 ? 'listen [::1]:19851;' : '';

our $LogText;
our $Blackhole;
our $DnsPid;

# Under valgrind nginx is stopped after every block: the block that
# publishes then waits for its deliveries itself, with a slow request.
our $Sleep = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_zone  zone=raw:4m state=$TEST_NGINX_STATE_DIR-raw fsync=off;
    webhook_zone  zone=strict:4m state=$TEST_NGINX_STATE_DIR-strict fsync=off;

    log_format  received escape=none
                'RECEIVED $request_method $request_uri '
                'ct=$http_content_type ua=$http_user_agent host=$http_host '
                'id=$http_webhook_id sub=$http_x_sub attempt=$http_x_attempt '
                'action=$http_x_action tenant=$http_x_tenant '
                'target=$http_x_target upstream=$http_x_upstream '
                'token=$http_x_token secret=$http_x_secret '
                'ts=$http_x_timestamp body=$request_body.';

    server {
        listen       127.0.0.1:19851;
        $TEST_NGINX_RECEIVER_V6
        access_log   logs/error.log received;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass            http://127.0.0.1:19852;
            proxy_ignore_headers  X-Accel-Redirect;
            proxy_pass_header     X-Accel-Redirect;
        }
    }

    server {
        listen       127.0.0.1:19852;
        access_log   off;

        location /        { return 200 "ok"; }
        location /fail/   { return 500; }
        location /gone/   { return 410; }
        location /moved/  { return 302 http://127.0.0.1:19851/ok/; }

        location /flaky/ {
            if ($http_x_attempt = 1) {
                return 503;
            }

            return 200 "ok";
        }

        location /busy/ {
            add_header  Retry-After 3600 always;
            return      429;
        }

        location /xar/ {
            add_header  X-Accel-Redirect /landing always;
            return      200 "ok";
        }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    resolver          127.0.0.1:19857 ipv6=off;
    resolver_timeout  1s;

    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }

    location = /events {
        webhook_publish zone=hooks;
        webhook_tenant  org1;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        webhook_retry    1s 1s;

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    Host $webhook_target_host;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    X-Sub $webhook_subscription_id;
        proxy_set_header    X-Attempt $webhook_attempt;
        proxy_set_header    X-Action $webhook_action;
        proxy_set_header    X-Tenant $webhook_tenant;
        proxy_set_header    X-Target $webhook_target_url;
        proxy_set_header    X-Upstream $webhook_upstream_url;
        proxy_set_header    X-Token $webhook_token;
        proxy_set_header    X-Secret $webhook_secret;
        proxy_set_header    X-Timestamp $webhook_timestamp;
        proxy_ignore_headers  X-Accel-Redirect X-Accel-Expires
                              X-Accel-Limit-Rate X-Accel-Buffering
                              X-Accel-Charset;
    }

    location /raw/hooks {
        webhook_api     zone=raw;
        webhook_tenant  org1;
    }

    location = /raw/events {
        webhook_publish zone=raw;
        webhook_tenant  org1;
    }

    location = /_webhook_raw {
        internal;
        webhook_deliver          zone=raw;
        webhook_retry            off;
        webhook_attempt_timeout  1s;

        proxy_pass        $webhook_upstream_url;
        proxy_buffering   off;
        proxy_set_header  X-Sub $webhook_subscription_id;
    }

    location /strict/hooks {
        webhook_api     zone=strict;
        webhook_tenant  org1;
    }

    location = /strict/events {
        webhook_publish zone=strict;
        webhook_tenant  org1;
    }

    location = /_webhook_strict {
        internal;
        webhook_deliver        zone=strict;
        webhook_allow_private  off;
        webhook_retry          off;

        proxy_pass        $webhook_upstream_url;
        proxy_buffering   off;
        proxy_set_header  X-Sub $webhook_subscription_id;
    }

    # where an X-Accel-Redirect from a receiver would send a delivery
    location = /landing {
        internal;
        proxy_pass        http://127.0.0.1:19851/landed/;
        proxy_set_header  X-Sub $webhook_subscription_id;
    }

    # under valgrind: time for the deliveries in the block that publishes
    location = /sleep {
        proxy_pass            http://127.0.0.1:19859;
        proxy_read_timeout    12s;
    }

    location = /vars {
        return 200 "[$webhook_subscription_id][$webhook_event_id][$webhook_upstream_url]";
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# the sibling state directories of the other two zones start empty too
remove_tree(state_dir() . '-raw', state_dir() . '-strict');

# the newest attempt of a subscription has settled (or $re matches)
sub settled {
    my ($path, $re) = @_;

    my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'GET',
                                       $path);

    return $st == 200 && $body =~ $re;
}

sub wait_settled {
    my (%cases) = @_;

    my $deadline = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 20);
    my %left = %cases;

    while (%left && time < $deadline) {
        for my $path (keys %left) {
            delete $left{$path} if settled($path, $left{$path});
        }

        sleep 0.2 if %left;
    }

    return sort keys %left;
}

# A DNS server for the resolver: hooks.test is 127.0.0.1, other names do
# not exist.  A child process of this file, ended in TEST 18.
sub dns_server {
    my ($port) = @_;

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $port, Proto => 'udp')
        or POSIX::_exit(1);

    my $deadline = time + 120;

    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.5);

        my $peer = $sock->recv(my $q, 512);
        next unless defined $peer && length $q > 12;

        my ($id) = unpack('n', $q);
        my ($off, @labels) = (12);

        while ($off < length $q and my $len = ord substr($q, $off, 1)) {
            push @labels, substr($q, $off + 1, $len);
            $off += $len + 1;
        }

        my ($qtype) = unpack('n', substr($q, $off + 1, 2));
        my $question = substr($q, 12, $off + 5 - 12);
        my ($rcode, $answer) = (3, '');

        if (lc(join '.', @labels) eq 'hooks.test') {
            $rcode = 0;
            $answer = pack('nnnNnC4', 0xc00c, 1, 1, 60, 4, 127, 0, 0, 1)
                if $qtype == 1;
        }

        $sock->send(pack('nnnnnn', $id, 0x8180 | $rcode, 1,
                         length $answer ? 1 : 0, 0, 0)
                    . $question . $answer, 0, $peer);
    }

    POSIX::_exit(0);
}

sub slurp_log {
    my $file = servroot() . '/logs/error.log';
    open my $fh, '<', $file or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

sub received {
    my ($path) = @_;
    return grep { /RECEIVED \S+ \Q$path\E / } split /\n/, $main::LogText;
}

add_cleanup_handler(sub {
    if ($DnsPid) {
        kill 'TERM', $DnsPid;
        waitpid $DnsPid, 0;
        undef $DnsPid;
    }
});

run_tests();

__DATA__

=== TEST 1: a subscription with a secret and a token, to a URL with a query
--- request
POST /hooks
{"action":"ev.ok","target_url":"http://127.0.0.1:19851/ok/1?q=1","secret":"s3cr3t","authorization_token":"tok-1"}
--- error_code: 201
--- save_id: ok



=== TEST 2: a subscription to a URL with no path
--- request
POST /hooks
{"action":"ev.nopath","target_url":"http://127.0.0.1:19851"}
--- error_code: 201
--- save_id: nopath



=== TEST 3: a subscriber that fails the first attempt only
--- request
POST /hooks
{"action":"ev.flaky","target_url":"http://127.0.0.1:19851/flaky/"}
--- error_code: 201
--- save_id: flaky



=== TEST 4: a subscriber that always fails
--- request
POST /hooks
{"action":"ev.fail","target_url":"http://127.0.0.1:19851/fail/"}
--- error_code: 201
--- save_id: fail



=== TEST 5: a subscriber that is gone
--- request
POST /hooks
{"action":"ev.gone","target_url":"http://127.0.0.1:19851/gone/"}
--- error_code: 201
--- save_id: gone



=== TEST 6: a subscriber that redirects
--- request
POST /hooks
{"action":"ev.moved","target_url":"http://127.0.0.1:19851/moved/"}
--- error_code: 201
--- save_id: moved



=== TEST 7: a subscriber that answers X-Accel-Redirect (ignored here)
--- request
POST /hooks
{"action":"ev.xar","target_url":"http://127.0.0.1:19851/xar/"}
--- error_code: 201
--- save_id: xar



=== TEST 8: a subscriber that answers 429 with Retry-After
--- request
POST /hooks
{"action":"ev.busy","target_url":"http://127.0.0.1:19851/busy/"}
--- error_code: 201
--- save_id: busy



=== TEST 9: a subscriber nobody listens for
--- request
POST /hooks
{"action":"ev.refused","target_url":"http://127.0.0.1:19858/x"}
--- error_code: 201
--- save_id: refused



=== TEST 10: a subscriber on an IPv6 literal
--- skip_eval: 1: !$main::V6
--- request
POST /hooks
{"action":"ev.v6","target_url":"http://[::1]:19851/ok/v6"}
--- error_code: 201
--- save_id: v6



=== TEST 11: raw zone: a subscriber that answers X-Accel-Redirect
--- request
POST /raw/hooks
{"action":"ev.xar","target_url":"http://127.0.0.1:19851/xar/raw"}
--- error_code: 201
--- save_id: rawxar



=== TEST 12: raw zone: a subscriber that never answers
--- request
POST /raw/hooks
{"action":"ev.slow","target_url":"http://127.0.0.1:19859/slow"}
--- error_code: 201
--- save_id: slow



=== TEST 13: strict zone: a loopback subscriber (the API allows it)
--- request
POST /strict/hooks
{"action":"ev.blocked","target_url":"http://127.0.0.1:19851/blocked/"}
--- error_code: 201
--- save_id: blocked



=== TEST 14: strict zone: a name that does not resolve
--- request
POST /strict/hooks
{"action":"ev.dns","target_url":"http://hooks.invalid:19851/dns/"}
--- error_code: 201
--- save_id: dns



=== TEST 15: a subscriber by name: resolved and checked at each attempt
--- request
POST /hooks
{"action":"ev.named","target_url":"http://hooks.test:19851/named/"}
--- error_code: 201
--- save_id: named



=== TEST 16: strict zone: a name that resolves to a loopback address
--- request
POST /strict/hooks
{"action":"ev.named","target_url":"http://hooks.test:19851/named-blocked/"}
--- error_code: 201
--- save_id: namedblocked



=== TEST 17: publish to all of them
--- before
$main::Blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => 19859, Listen => 16,
                                         ReuseAddr => 1)
    or die "cannot listen on 19859: $!";
$main::DnsPid = main::dns_server(19857);
--- request eval
[
'POST /events
[{"action":"ev.ok","id":"ok-1","payload":{"n": 9007199254740993, "s": "a\u00e9\"b"}},
 {"action":"ev.ok","id":"ok-2","user":"u1","resource":{"x": [1, 2.50]}},
 {"action":"ev.nopath","id":"nopath-1","payload":[]},
 {"action":"ev.flaky","id":"flaky-1"},
 {"action":"ev.fail","id":"fail-1"},
 {"action":"ev.gone","id":"gone-1"},
 {"action":"ev.moved","id":"moved-1"},
 {"action":"ev.xar","id":"xar-1"},
 {"action":"ev.busy","id":"busy-1"},
 {"action":"ev.refused","id":"refused-1"},
 {"action":"ev.v6","id":"v6-1"},
 {"action":"ev.named","id":"named-1"}]',
'POST /raw/events
[{"action":"ev.xar","id":"rawxar-1"},{"action":"ev.slow","id":"slow-1"}]',
'POST /strict/events
[{"action":"ev.blocked","id":"blocked-1"},{"action":"ev.dns","id":"dns-1"},
 {"action":"ev.named","id":"namedblocked-1"}]',
$main::Sleep ? ('GET /sleep') : ()
]
--- error_code eval
[202, 202, 202, $main::Sleep ? (504) : ()]
--- response_body_like eval
[qr/^\[\{"id":"ok-1","deliveries":1\},\{"id":"ok-2","deliveries":1\},\{"id":"nopath-1","deliveries":1\},.*\{"id":"refused-1","deliveries":1\},\{"id":"v6-1","deliveries":[01]\},\{"id":"named-1","deliveries":1\}\]$/,
 qr/^\[\{"id":"rawxar-1","deliveries":1\},\{"id":"slow-1","deliveries":1\}\]$/,
 qr/^\[\{"id":"blocked-1","deliveries":1\},\{"id":"dns-1","deliveries":1\},\{"id":"namedblocked-1","deliveries":1\}\]$/,
 $main::Sleep ? (qr//) : ()]
--- timeout: 20



=== TEST 18: every delivery settles; what the receivers got
--- before
my $final = qr/^\{"attempts":\[\{[^}]*"state":"(?:delivered|failed)"/;
my %cases = map { ("/hooks/" . saved_id($_) . "/deliveries" => $final) }
                qw(nopath flaky fail gone moved xar refused named);
$cases{"/hooks/" . saved_id('ok') . "/deliveries"} =
    qr/"state":"delivered".*"state":"delivered"/;
$cases{"/hooks/" . saved_id('v6') . "/deliveries"} = $final if $main::V6;
$cases{"/hooks/" . saved_id('busy') . "/deliveries"} = qr/"total":1\}$/;
$cases{"/raw/hooks/" . saved_id($_) . "/deliveries"} = $final
    for qw(rawxar slow);
$cases{"/strict/hooks/" . saved_id($_) . "/deliveries"} = $final
    for qw(blocked dns namedblocked);
my ($up) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'GET', '/vars');
if ($up) {
    my @left = main::wait_settled(%cases);
    is("@left", "", "TEST 18: every delivery settled");
    sleep 1.5;    # time for a second attempt of "busy", if Retry-After failed
}
$main::LogText = main::slurp_log();
close $main::Blackhole if $main::Blackhole;
kill 'TERM', $main::DnsPid;
waitpid $main::DnsPid, 0;
undef $main::DnsPid;
--- request
GET /vars
--- response_body: [][][]



=== TEST 19: the stored payload, byte for byte, with Content-Type, User-Agent and the variables
--- request
GET /hooks/{{ok}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"ok-[12]","action":"ev\.ok","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},\{"event_id":"ok-[12]","action":"ev\.ok","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":2\}$
--- before
my @got = main::received('/ok/1?q=1');
is(scalar @got, 2, "TEST 19: two deliveries received");
my $ok = saved_id('ok');
my $now = time;
my ($one) = grep { / id=ok-1 / } @got;
my ($two) = grep { / id=ok-2 / } @got;
my $common = "ct=application/json ua=ngx_http_webhook_module/0.1 "
             . "host=127.0.0.1:19851";
like($one // '', qr/^.*RECEIVED POST \/ok\/1\?q=1 \Q$common\E id=ok-1 sub=$ok attempt=1 action=ev\.ok tenant=org1 target=http:\/\/127\.0\.0\.1:19851\/ok\/1\?q=1 upstream=http:\/\/127\.0\.0\.1:19851\/ok\/1\?q=1 token=tok-1 secret=s3cr3t ts=(\d+) body=\{"n": 9007199254740993, "s": "a\\u00e9\\"b"\}\.$/,
     "TEST 19: the payload as published, with its headers");
my ($ts) = ($one // '') =~ / ts=(\d+) /;
ok(defined $ts && abs($ts - $now) < 120, "TEST 19: the attempt's timestamp");
like($two // '', qr/ id=ok-2 .* body=\{"action":"ev\.ok","organization":"org1","user":"u1","resource":\{"x": \[1, 2\.50\]\}\}\.$/,
     "TEST 19: the default template's body");



=== TEST 20: a URL with no path is sent to /
--- before
my @got = main::received('/');
is(scalar @got, 1, "TEST 20: one delivery to /");
like($got[0] // '', qr/ host=127\.0\.0\.1:19851 id=nopath-1 .* upstream=http:\/\/127\.0\.0\.1:19851\/ .* body=\[\]\.$/,
     "TEST 20: upstream URL with /");
--- request
GET /hooks/{{nopath}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"nopath-1","action":"ev\.nopath","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$



=== TEST 21: retried after a failure until delivered
--- before
my @got = main::received('/flaky/');
is(scalar @got, 2, "TEST 21: two attempts received");
like($got[0] // '', qr/ id=flaky-1 .* attempt=1 /, "TEST 21: the first");
like($got[1] // '', qr/ id=flaky-1 .* attempt=2 /,
     "TEST 21: the second, same event id");
--- request
GET /hooks/{{flaky}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"flaky-1","action":"ev\.flaky","attempt":2,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},\{"event_id":"flaky-1","action":"ev\.flaky","attempt":1,"at":"[^"]+","status":503,"duration_ms":\d+,"error":"bad_status","state":"pending"\}\],"total":2\}$



=== TEST 22: failed after the last attempt (webhook_retry 1s 1s: three)
--- before
is(scalar main::received('/fail/'), 3, "TEST 22: three attempts received");
--- request
GET /hooks/{{fail}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"fail-1","action":"ev\.fail","attempt":3,"at":"[^"]+","status":500,"duration_ms":\d+,"error":"bad_status","state":"failed"\},\{[^}]*"attempt":2,[^}]*"status":500,[^}]*"error":"bad_status","state":"pending"\},\{[^}]*"attempt":1,[^}]*"status":500,[^}]*"error":"bad_status","state":"pending"\}\],"total":3\}$



=== TEST 23: 410 fails the delivery at once
--- before
is(scalar main::received('/gone/'), 1, "TEST 23: one attempt received");
--- request
GET /hooks/{{gone}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"gone-1","action":"ev\.gone","attempt":1,"at":"[^"]+","status":410,"duration_ms":\d+,"error":"bad_status","state":"failed"\}\],"total":1\}$



=== TEST 24: and disables the subscription
--- request
GET /hooks/{{gone}}
--- response_body_like chomp
"enabled":false,"disabled_reason":"gone"



=== TEST 25: a 3xx is a failure, not followed
--- before
is(scalar main::received('/moved/'), 3, "TEST 25: three attempts received");
is(scalar main::received('/ok/'), 0, "TEST 25: the redirect was not followed");
--- request
GET /hooks/{{moved}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"moved-1","action":"ev\.moved","attempt":3,"at":"[^"]+","status":302,"duration_ms":\d+,"error":"bad_status","state":"failed"\},\{[^}]*"status":302,[^}]*"state":"pending"\},\{[^}]*"status":302,[^}]*"state":"pending"\}\],"total":3\}$



=== TEST 26: X-Accel-Redirect ignored (proxy_ignore_headers): delivered, not redirected
--- before
my $xar = saved_id('xar');
is(scalar main::received('/xar/'), 1, "TEST 26: one attempt received");
is(scalar(grep { / sub=$xar / } main::received('/landed/')), 0,
   "TEST 26: the delivery did not land elsewhere");
--- request
GET /hooks/{{xar}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"xar-1","action":"ev\.xar","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$



=== TEST 27: Retry-After on 429 puts the next attempt off
--- before
is(scalar main::received('/busy/'), 1, "TEST 27: one attempt received");
--- request
GET /hooks/{{busy}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"busy-1","action":"ev\.busy","attempt":1,"at":"[^"]+","status":429,"duration_ms":\d+,"error":"bad_status","state":"pending"\}\],"total":1\}$



=== TEST 28: connection refused: connect_failed, no status
--- request
GET /hooks/{{refused}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"refused-1","action":"ev\.refused","attempt":3,"at":"[^"]+","status":null,"duration_ms":\d+,"error":"connect_failed","state":"failed"\},\{[^}]*"error":"connect_failed","state":"pending"\},\{[^}]*"error":"connect_failed","state":"pending"\}\],"total":3\}$



=== TEST 29: an IPv6 literal: the address in brackets, Host with it
--- skip_eval: 2: !$main::V6
--- before
if ($main::V6) {
    my @got = main::received('/ok/v6');
    like($got[0] // '', qr/ host=\[::1\]:19851 id=v6-1 .* upstream=http:\/\/\[::1\]:19851\/ok\/v6 /,
         "TEST 29: the IPv6 delivery");
}
--- request
GET /hooks/{{v6}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"v6-1","action":"ev\.v6","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$



=== TEST 30: X-Accel-Redirect not ignored: the attempt counts as redirected
--- before
my $raw = saved_id('rawxar');
is(scalar main::received('/xar/raw'), 1, "TEST 30: one attempt received");
--- request
GET /raw/hooks/{{rawxar}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"rawxar-1","action":"ev\.xar","attempt":1,"at":"[^"]+","status":null,"duration_ms":\d+,"error":"redirected","state":"failed"\}\],"total":1\}$



=== TEST 31: a subscriber that never answers: timeout at webhook_attempt_timeout
--- request
GET /raw/hooks/{{slow}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"slow-1","action":"ev\.slow","attempt":1,"at":"[^"]+","status":null,"duration_ms":1\d\d\d,"error":"timeout","state":"failed"\}\],"total":1\}$



=== TEST 32: private address refused by default: blocked_address, never contacted
--- before
is(scalar main::received('/blocked/'), 0, "TEST 32: nothing received");
--- request
GET /strict/hooks/{{blocked}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"blocked-1","action":"ev\.blocked","attempt":1,"at":"[^"]+","status":null,"duration_ms":\d+,"error":"blocked_address","state":"failed"\}\],"total":1\}$



=== TEST 33: a name that does not resolve: connect_failed
--- before
like($main::LogText, qr/webhook target "hooks\.invalid" could not be resolved/,
     "TEST 33: the resolver error is logged");
unlike($main::LogText, qr/\[(?:alert|crit|emerg)\]/,
       "TEST 33: no alert while delivering");
--- request
GET /strict/hooks/{{dns}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"dns-1","action":"ev\.dns","attempt":1,"at":"[^"]+","status":null,"duration_ms":\d+,"error":"connect_failed","state":"failed"\}\],"total":1\}$



=== TEST 34: a name: the address checked is the one used, the name in Host
--- before
my @got = main::received('/named/');
is(scalar @got, 1, "TEST 34: one delivery received");
like($got[0] // '', qr/ host=hooks\.test:19851 id=named-1 .* target=http:\/\/hooks\.test:19851\/named\/ upstream=http:\/\/127\.0\.0\.1:19851\/named\/ /,
     "TEST 34: Host is the name, the upstream URL the address");
--- request
GET /hooks/{{named}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"named-1","action":"ev\.named","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$



=== TEST 35: a name that resolves to a private address, refused by default
--- before
is(scalar main::received('/named-blocked/'), 0, "TEST 35: nothing received");
--- request
GET /strict/hooks/{{namedblocked}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"namedblocked-1","action":"ev\.named","attempt":1,"at":"[^"]+","status":null,"duration_ms":\d+,"error":"blocked_address","state":"failed"\}\],"total":1\}$
