# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/standard-webhooks.conf and conf-examples/receiver.conf, run
# as whole files: both pass "nginx -t" as committed; then a copy of each,
# with only its ports, its state directory and (standard-webhooks.conf) its
# two target settings changed, is started with its own prefix under
# t/servroot-state/070-conf-examples, and the provider delivers to the
# receiver:
#
#   standard-webhooks.conf  API + status 127.0.0.1:8080, publish :8081
#   receiver.conf           receiver 127.0.0.1:8090, stand-in app :8091
#
# are moved to free ports in 19900-19919.  The committed provider accepts
# only https targets at public addresses; the copy here allows http and
# loopback ("webhook_target_schemes https http", "webhook_allow_private
# on"), since its subscriber is the receiver on 127.0.0.1.
#
# A subscription of tenant org1 (API key k-org1) to the receiver's
# /incoming/standard, with the receiver's own secret: a published event is
# signed (webhook-id, webhook-timestamp, webhook-signature), passes
# webhook_verify and reaches the app; the same headers with a changed body
# get the module's 401 JSON.  GitHub and Stripe signatures made here are
# checked the same way; nginx's own 413 and 404 are JSON; webhook_status
# counts what happened.
#
# Everything runs in the preamble (two separate nginx processes, started
# and stopped here); the one block at the end checks that the runner's own
# nginx, with the module loaded, answers a plain location.

use Test::Nginx::Socket;
use WebhookTest;
use ConfExample;
use File::Path qw(make_path remove_tree);
use File::Spec;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(sleep time);

# two daemons of their own: nothing to check under valgrind's supervisor,
# and the module's code paths run under valgrind in the other files
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = File::Spec->rel2abs('t/servroot-state/070-conf-examples');

sub json_error_ok {
    my ($label, $st, $h, $body, $status, $error) = @_;

    is($st, $status, "$label: $status");
    like($h->{'content-type'} // '', qr{^application/json},
         "$label: application/json");
    like($body, qr/^\{"error":"\Q$error\E"/, "$label: error $error");
}

# Standard Webhooks headers: (id, timestamp, signature) over $body
sub std_headers {
    my ($secret, $id, $ts, $body) = @_;
    (my $k = $secret) =~ s/^whsec_//;
    my $sig = encode_base64(hmac_sha256("$id.$ts.$body", decode_base64($k)),
                            '');
    return ("webhook-id: $id", "webhook-timestamp: $ts",
            "webhook-signature: v1,$sig");
}

sub main_test {
    remove_tree($Base);
    make_path($Base);

    # 1. the committed files, as they are
    ce_as_committed('standard-webhooks', "$Base/as-is-standard-webhooks",
        [ qr/^\s*webhook_target_schemes\s+https;/m,
          'standard-webhooks.conf as committed: https targets only' ],
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'standard-webhooks.conf as committed: no private targets' ]);
    ce_as_committed('receiver', "$Base/as-is-receiver");

    # 2. the test copies
    my ($api, $pub, $recv, $app) = ce_free_ports(4, 19900, 19919);
    my %port = (8080 => $api, 8081 => $pub, 8090 => $recv, 8091 => $app);

    my $std_conf = ce_prepare('standard-webhooks', "$Base/provider",
        [ qr/127\.0\.0\.1:8080\b/, "127.0.0.1:$api", 1 ],
        [ qr/127\.0\.0\.1:8081\b/, "127.0.0.1:$pub", 1 ],
        [ qr/\bstate=state\b/, "state=$Base/state", 1 ],
        # the receiver is plain http on loopback (see the top of this file)
        [ qr/webhook_target_schemes\s+https;/,
          'webhook_target_schemes  https http;', 1 ],
        [ qr/webhook_allow_private\s+off;/, 'webhook_allow_private  on;', 1 ]);

    my $recv_conf = ce_prepare('receiver', "$Base/receiver",
        [ qr/127\.0\.0\.1:8090\b/, "127.0.0.1:$recv", 1 ],
        [ qr/127\.0\.0\.1:8091\b/, "127.0.0.1:$app", 3 ]);

    my $recv_text = ce_slurp($recv_conf);
    my %secret;
    for my $kind (qw(standard github stripe)) {
        ($secret{$kind}) = $recv_text =~ m{/incoming/$kind\s+"([^"]+)";};
        ok(defined $secret{$kind}, "receiver.conf: the $kind secret");
    }

    ce_start('receiver', "$Base/receiver", $recv_conf, $recv, $app);
    ce_start('standard-webhooks', "$Base/provider", $std_conf, $api, $pub);

    # 3. the receiver alone, with signatures made here
    my $body = '{"type":"ping","n":1}';
    my $now = time;
    my ($st, $h, $b);

    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/standard',
        [ 'Content-Type: application/json',
          std_headers($secret{standard}, 'msg_test1', int $now, $body) ],
        $body);
    is($st, 200, 'receiver: a signed standard webhook reaches the app');
    is($b, qq({"received":true}\n), 'receiver: the app answered');

    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/standard',
        [ 'Content-Type: application/json' ], $body);
    json_error_ok('receiver: no signature', $st, $h, $b, 401,
                  'invalid_signature');

    my $sig = 'sha256=' . hmac_sha256_hex($body, $secret{github});
    ($st) = http_request($recv, 'POST', '/incoming/github',
        [ "X-Hub-Signature-256: $sig" ], $body);
    is($st, 200, 'receiver: a signed github webhook reaches the app');

    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/github',
        [ "X-Hub-Signature-256: $sig" ], '{"type":"ping","n":2}');
    json_error_ok('receiver: github, changed body', $st, $h, $b, 401,
                  'invalid_signature');

    my $t = int $now;
    $sig = "t=$t,v1=" . hmac_sha256_hex("$t.$body", $secret{stripe});
    ($st) = http_request($recv, 'POST', '/incoming/stripe',
        [ "Stripe-Signature: $sig" ], $body);
    is($st, 200, 'receiver: a signed stripe webhook reaches the app');

    $t -= 3600;
    $sig = "t=$t,v1=" . hmac_sha256_hex("$t.$body", $secret{stripe});
    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/stripe',
        [ "Stripe-Signature: $sig" ], $body);
    json_error_ok('receiver: stripe, an hour old', $st, $h, $b, 401,
                  'invalid_signature');

    ($st, $h, $b) = ce_raw_request($recv,
        "POST /incoming/standard HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('receiver: nginx\'s own 413', $st, $h, $b, 413,
                  'payload_too_large');

    # 4. the provider: API, publish, delivery to the receiver
    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ 'Content-Type: application/json' ],
        '{"action":"event.created","target_url":"http://127.0.0.1/"}');
    json_error_ok('provider: no API key', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = ce_raw_request($api,
        "POST /hooks HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: Bearer k-org1\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('provider: nginx\'s own 413', $st, $h, $b, 413,
                  'payload_too_large');

    ($st, $h, $b) = http_request($api, 'GET', '/nowhere');
    json_error_ok('provider: unknown path', $st, $h, $b, 404, 'not_found');

    my $target = "http://127.0.0.1:$recv/incoming/standard";
    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ 'Authorization: Bearer k-org1', 'Content-Type: application/json' ],
        qq({"action":"event.created","target_url":"$target",)
        . qq("secret":"$secret{standard}"}));
    is($st, 201, 'provider: subscription created') or diag($b);
    my ($id) = $b =~ /"_id":"([0-9a-f]{24})"/;
    ok($id, 'provider: the subscription has an id');

    my $payload = '{"order":42,"state":"created"}';
    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ 'X-Tenant: org1', 'Content-Type: application/json' ],
        qq({"action":"event.created","payload":$payload}));
    is($st, 202, 'provider: event published') or diag($b);
    my ($evt) = $b =~ /"id":"([^"]+)"/;
    like($b, qr/"deliveries":1\b/, 'provider: one delivery');

    my $attempts = '';
    my $deadline = time + 15;
    while (time < $deadline) {
        (undef, undef, $attempts) = http_request($api, 'GET',
            "/hooks/$id/deliveries", [ 'Authorization: Bearer k-org1' ]);
        last if $attempts =~ /"status":\d/;
        sleep 0.2;
    }
    like($attempts, qr/"event_id":"\Q$evt\E"/,
         'provider: the attempt is listed');
    like($attempts, qr/"status":200\b/,
         'provider: the receiver answered 200') or diag($attempts);
    like($attempts, qr/"error":null/, 'provider: no error');

    # what the receiver and its app logged
    my $app_log = ce_slurp("$Base/receiver/logs/app.log");
    my ($line) = grep { /id=\Q$evt\E / } split /\n/, $app_log;
    ok($line, 'receiver: the app got the event, with its webhook-id')
        or diag($app_log);
    $line //= '';
    my ($ts) = $line =~ / ts=(\d+) /;
    my ($got_sig) = $line =~ / sig=(v1,\S+) /;
    like($line, qr/length=\Q@{[length $payload]}\E$/,
         'receiver: the payload\'s length');

    my @expected = std_headers($secret{standard}, $evt, $ts // 0, $payload);
    is("webhook-signature: $got_sig", $expected[2],
       'provider: webhook-signature is v1,HMAC(id.timestamp.payload)');

    my $access = ce_slurp("$Base/receiver/logs/access.log");
    like($access,
         qr{"POST /incoming/standard HTTP/1\.1" 200 verified=1 error=- upstream=200},
         'receiver: the delivery verified, logged');

    # the same headers with a changed body: the module's 401
    my @sent = ("webhook-id: $evt", "webhook-timestamp: " . ($ts // 0),
                "webhook-signature: " . ($got_sig // ''));
    (my $tampered = $payload) =~ s/42/43/;
    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/standard',
                                 [ @sent ], $tampered);
    json_error_ok('receiver: the delivery, body changed', $st, $h, $b, 401,
                  'invalid_signature');
    is($b, '{"error":"invalid_signature"}', 'receiver: the module\'s body');

    ($st, $h, $b) = http_request($recv, 'POST', '/incoming/standard',
                                 [ @sent ], $payload);
    is($st, 200, 'receiver: the delivery as sent verifies (a replay '
                 . 'within the tolerance)');

    $access = ce_slurp("$Base/receiver/logs/access.log");
    like($access, qr/ 401 verified=0 error=mismatch /,
         'receiver: a mismatch logged');
    like($access, qr/ 401 verified=0 error=missing_header /,
         'receiver: a missing header logged');
    like($access, qr/ 401 verified=0 error=timestamp_out_of_tolerance /,
         'receiver: an old timestamp logged');

    # 5. the status
    ($st, $h, $b) = http_request($api, 'GET', '/status');
    is($st, 200, 'provider: status');
    like($b, qr/"zone":"hooks"/, 'provider: status of zone hooks');
    like($b, qr/"subscriptions":1\b/, 'provider: one subscription');
    like($b, qr/"queued":0,"in_flight":0,"failed":0/,
         'provider: nothing queued, in flight or failed') or diag($b);
    like($b, qr/"succeeded":[1-9]\d*\},"attempts":\{"total":[1-9]/,
         'provider: deliveries and attempts counted') or diag($b);
    like($b, qr/"writable":true/, 'provider: the state is writable');

    ($st, $h, $b) = http_request($api, 'GET', '/status?format=prometheus');
    like($b, qr/^webhook_\w+\{zone="hooks"\} /m, 'provider: prometheus text');

    # 6. stop both; nothing went wrong in their logs
    ce_stop_clean(provider => "$Base/provider", receiver => "$Base/receiver");

    ok(-s "$Base/state/snapshot" || glob("$Base/state/journal-*"),
       'provider: the state is on disk');
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("conf examples: $@") unless $ok;
}

run_tests();

__DATA__

=== TEST 1: the runner's nginx, with the module loaded, answers
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
