# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Abuse that reaches deliveries and the zone:
#   - values that look like header or request-line injection (a token
#     "a: b, Evil: 1", a percent-encoded CR/LF in the URL) arrive as they
#     were registered, in their own header, and add no header;
#   - one dead "*" subscriber under a flood of large events: its pending
#     deliveries stop at webhook_max_pending (the attempt log says
#     pending_limit), the events it cannot take are not stored, and the
#     zone (256k, far less than the flood) keeps room for another tenant;
#   - a huge fan-out: webhook_max_subscriptions bounds it (403), one event
#     to 200 subscriptions is 200 deliveries;
#   - POST P/{id}/test hammered: at most one a second, the rest 429;
#   - a state file whose record passes its crc32 but holds a CR/LF in a
#     URL: nginx refuses to start on it, naming the file.
#
# Receivers: 127.0.0.1:19970 logs what it gets (RCV lines in
# logs/received.log) and proxies to 19973, which answers 200; nothing
# listens on 19971.  Blocks run in order; a "--- before" runs while the
# previous block's nginx is still up.  Needs nginx between blocks: not
# under valgrind.

use Test::Nginx::Socket;
use WebhookTest;
use Compress::Zlib qw(crc32);
use File::Path ();
use Time::HiRes qw(sleep time);

no_shuffle();

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs nginx running between blocks');

} else {
    plan('no_plan');
}

our $Received = File::Spec->rel2abs('t/servroot-state/096-received.log');
unlink $Received;
$ENV{TEST_NGINX_RECEIVED} = $Received;

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_zone  zone=flood:256k state=$TEST_NGINX_STATE_DIR-flood fsync=off;

    log_format  rcv escape=json
                'RCV $request_uri|$http_x_token|$http_x_action|'
                '$http_webhook_id|evil=$http_evil|$http_host';

    server {
        listen       127.0.0.1:19970;
        access_log   $TEST_NGINX_RECEIVED rcv;

        location / {
            proxy_pass  http://127.0.0.1:19973;
        }
    }

    server {
        listen      127.0.0.1:19973;
        access_log  off;
        return      200;
    }
_EOC_
    config => <<'_EOC_',
    webhook_target_schemes  https http;
    webhook_allow_private   127.0.0.0/8;

    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }

    location = /events {
        webhook_publish  zone=hooks;
        webhook_tenant   org1;
    }

    location /fan/hooks {
        webhook_api                zone=hooks;
        webhook_tenant             fan;
        webhook_max_subscriptions  200;
    }

    location = /fan/events {
        webhook_publish  zone=hooks;
        webhook_tenant   fan;
    }

    location = /status {
        webhook_status  zone=hooks;
    }

    location /dead/hooks {
        webhook_api     zone=flood;
        webhook_tenant  dead;
    }

    location = /dead/events {
        webhook_publish      zone=flood;
        webhook_tenant       dead;
        webhook_max_pending  5;
    }

    location /good/hooks {
        webhook_api     zone=flood;
        webhook_tenant  good;
    }

    location = /good/events {
        webhook_publish      zone=flood;
        webhook_tenant       good;
        webhook_max_pending  5;
    }

    location = /flood/status {
        webhook_status  zone=flood;
    }

    location = /_webhook {
        internal;
        webhook_deliver        zone=hooks;
        webhook_retry          1h;
        webhook_allow_private  on;
        resolver               127.0.0.1:19979;
        proxy_pass             $webhook_upstream_url;
        proxy_set_header       Host $webhook_target_host;
        proxy_set_header       X-Token $webhook_token;
        proxy_set_header       X-Action $webhook_action;
        proxy_set_header       webhook-id $webhook_event_id;
        proxy_buffering        off;
    }

    location = /_flood {
        internal;
        webhook_deliver        zone=flood;
        webhook_retry          1h;
        webhook_allow_private  on;
        resolver               127.0.0.1:19979;
        proxy_pass             $webhook_upstream_url;
        proxy_buffering        off;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# the second zone's directory: as fresh as webhook_setup() makes the first
File::Path::remove_tree(state_dir() . '-flood');

our $Big = 'x' x 4000;

sub received {
    open my $fh, '<', $Received or return ();
    my @lines = grep { /^RCV / } <$fh>;
    close $fh;
    chomp @lines;
    return @lines;
}

sub wait_received {
    my ($re, $secs) = @_;
    my $deadline = time + ($secs // 10);
    while (time < $deadline) {
        my @l = grep { $_ =~ $re } received();
        return @l if @l;
        sleep 0.1;
    }
    return ();
}

sub port { $ENV{TEST_NGINX_SERVER_PORT} }

# the frame of a state file holding "needle": "needle" replaced by
# "with" (same length), the frame's crc32 made right again
sub tamper {
    my ($needle, $with) = @_;

    die "lengths differ" unless length $needle == length $with;

    for my $file (snapshot_file(), journal_files()) {
        next unless -f $file;

        open my $fh, '+<:raw', $file or die "$file: $!";
        local $/;
        my $data = <$fh>;

        my $pos = index $data, $needle;
        next if $pos < 0;

        my $p = $file =~ /snapshot$/ ? 56 : 0;

        while ($p + 17 <= length $data) {
            my ($len) = unpack 'V', substr($data, $p, 4);
            my $end = $p + 16 + $len;

            if ($pos >= $p && $pos < $end) {
                substr($data, $pos, length $needle) = $with;
                substr($data, $p + 4, 4) =
                    pack 'V', crc32(substr($data, $p + 8, 8 + $len));

                seek $fh, 0, 0;
                print $fh $data;
                close $fh;

                return $file;
            }

            $p = $end;
        }

        close $fh;
    }

    return undef;
}

run_tests();

__DATA__

=== TEST 1: a token and a URL that look like header injection are valid values
--- request eval
"POST /hooks\n" . '{"action":"event.created","target_url":"http://127.0.0.1:19970/in?q=%0d%0aEvil:%201","authorization_token":"a: b, Evil: 1"}'
--- error_code: 201
--- save_id: inj
--- response_body_like: "target_url":"http://127\.0\.0\.1:19970/in\?q=%0d%0aEvil:%201","secret":"whsec_[^"]+","authorization_token":"a: b, Evil: 1"



=== TEST 2: a "*" subscriber nobody answers, in the small zone
--- request eval
"POST /dead/hooks\n" . '{"action":"*","target_url":"http://127.0.0.1:19971/dead"}'
--- error_code: 201
--- save_id: dead



=== TEST 3: another tenant in the same zone
--- request eval
"POST /good/hooks\n" . '{"action":"*","target_url":"http://127.0.0.1:19970/good"}'
--- error_code: 201
--- save_id: good



=== TEST 4: a huge fan-out is bounded by webhook_max_subscriptions: 200 created, the next 403
--- request eval
[(map { "POST /fan/hooks\n" . qq({"action":"*","target_url":"http://127.0.0.1:19971/f$_"}) } 1 .. 201)]
--- error_code eval
[(map { 201 } 1 .. 200), 403]
--- response_body_like eval
[(map { qr/"organization":"fan"/ } 1 .. 200),
 qr/^\{"error":"limit_reached","message":"[^"]+"\}$/]



=== TEST 5: one event to 200 subscriptions, a flood of 300 large events for the dead subscriber, then the other tenant publishes
--- request eval
["POST /events\n" . '{"action":"event.created","id":"inj-1"}',
 "POST /fan/events\n" . '{"action":"fan.out"}',
 (map { "POST /dead/events\n" . qq({"action":"flood.$_","resource":"$main::Big"}) } 1 .. 300),
 "POST /good/events\n" . '{"action":"good.one","id":"good-1"}']
--- error_code eval
[202, 202, (map { 202 } 1 .. 300), 202]
--- response_body_like eval
[qr/^\{"id":"inj-1","deliveries":1\}$/,
 qr/^\{"id":"evt_[0-9a-f]{24}","deliveries":200\}$/,
 (map { qr/^\{"id":"evt_[0-9a-f]{24}","deliveries":[01]\}$/ } 1 .. 300),
 qr/^\{"id":"good-1","deliveries":1\}$/]
--- timeout: 30



=== TEST 6: what the receiver got: the values as registered, in their own headers, no Evil header; the dead subscriber capped; /test hammered
--- before
my @l = main::wait_received(qr/^RCV \/in\?/);
is(scalar @l, 1, "TEST 6: one delivery of the injection-looking subscription");
is($l[0], 'RCV /in?q=%0d%0aEvil:%201|a: b, Evil: 1|event.created|inj-1|evil=|127.0.0.1:19970',
   "TEST 6: URL, token, action and id arrive exactly as registered, no Evil header");
is(scalar(grep { !/\|evil=\|/ } main::received()), 0, "TEST 6: no delivery carried an Evil header");

my @g = main::wait_received(qr/^RCV \/good\|/);
is(scalar @g, 1, "TEST 6: the other tenant of the flooded zone got its delivery");

my ($s, $h, $b) = http_request(main::port(), 'GET', '/flood/status');
my ($q, $f) = $b =~ /"queued":(\d+),"in_flight":(\d+)/;
ok(defined $q && $q + $f <= 5, "TEST 6: the dead subscriber's pending deliveries stop at 5 ($b)");
my ($ev) = $b =~ /"events":(\d+)/;
ok(defined $ev && $ev <= 6, "TEST 6: the events it could not take are not stored ($ev)");
my ($free) = $b =~ /"free":(\d+)/;
ok($free > 64 * 1024, "TEST 6: the 256k zone keeps room ($free bytes free)");

($s, $h, $b) = http_request(main::port(), 'GET',
                            '/dead/hooks/' . saved_id('dead') . '/deliveries');
is($s, 200, "TEST 6: the dead subscriber's attempt log");
like($b, qr/"error":"pending_limit"/, "TEST 6: ... says pending_limit");
like($b, qr/"total":20\}$/, "TEST 6: ... and keeps its 20 last entries only");

my (%codes, $bad);
my $start = time;
for (1 .. 30) {
    my ($st, undef, $body) = http_request(main::port(), 'POST',
        '/hooks/' . saved_id('inj') . '/test', ['Content-Type: application/json']);
    $codes{$st}++;
    $bad++ if $st == 429 && $body !~ /^\{"error":"too_many_requests","message":"[^"]+"\}$/;
    $bad++ if $st == 202 && $body !~ /^\{"id":"evt_[0-9a-f]{24}","deliveries":1\}$/;
}
my $secs = time - $start;
is(($codes{202} // 0) + ($codes{429} // 0), 30, "TEST 6: /test hammered: only 202 and 429");
ok(($codes{202} // 0) >= 1 && ($codes{202} // 0) <= int($secs) + 1,
   "TEST 6: at most one 202 a second (" . ($codes{202} // 0) . " in ${secs}s)");
ok(!$bad, "TEST 6: JSON bodies");
--- request
GET /status
--- error_code: 200
--- response_body_like: ^\{"zone":"hooks","subscriptions":201,



=== TEST 7: a crc-valid state record with a CR/LF in a URL: nginx refuses to start, naming the file
--- before
kill_nginx_hard();
my $file = main::tamper('%0d%0aEvil:%201', "\r\nEvil:%2010000");
ok($file, "TEST 7: the subscription's record was found in the state" . ($file ? " ($file)" : ''));
--- request
GET /status
--- must_die
--- error_log eval
qr/state (?:snapshot|journal) "[^"]+".* cannot be applied/
