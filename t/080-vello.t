# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/vello.conf against Vello's document (shared/seeds/002,
# "Vello Events and Webhooks"), replayed: the file passes "nginx -t" as
# committed; then a copy, with only its ports, its state directory and its
# two target settings changed, is started with its own prefix under
# t/servroot-state/080-vello, and delivers to a receiver this file runs:
#
#   vello.conf    API 127.0.0.1:8080 -> 19926, publish :8081 -> 19927
#   receiver      127.0.0.1:19924 (a forked Perl server, below)
#   nothing       127.0.0.1:19925
#
# The copy allows http and loopback targets ("webhook_target_schemes https
# http", "webhook_allow_private on"), since the receiver is on 127.0.0.1.
#
# What the document shows, each checked at the receiver for its method,
# Content-Type, Vello-Signature (hex SHA-512 of token + endpoint URL + body,
# computed here with Digest::SHA) and body shape ({"id","type","data"}):
# record.created ({"object":{...}}), connection.test ({}), record.updated,
# record.cancelled, record.deleted, a retry after a failed answer, and the
# dynamic webhook record.update_metadata with the document's own record,
# whose answer ({"metadata":{"video_link":...}}) reaches the publisher.
# Then mode=sync's failures: 502 (500 answer, nothing listening, text),
# 504 (no answer within timeout=5s), 404 and 409.
#
# Everything runs in the preamble (nginx and the receiver are started and
# stopped here); the one block at the end checks that the runner's own
# nginx answers a plain location.

use Test::Nginx::Socket;
use WebhookTest;
use ConfExample;
use File::Path qw(make_path remove_tree);
use File::Spec;
use Digest::SHA qw(sha512_hex);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

# a daemon of its own: nothing to check under valgrind's supervisor, and
# mode=sync runs under valgrind in t/021-publish-sync.t
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = File::Spec->rel2abs('t/servroot-state/080-vello');
our ($Api, $Pub, $Recv, $Down) = (19926, 19927, 19924, 19925);
our $Log = "$Base/received.log";
our $RecvPid;

our $JSON = JSON::PP->new->canonical;

# The receiver: one process per connection, so a slow answer holds no
# other.  Each request is logged as one JSON line (path, lowercased
# headers, body).  The answer depends on the path and, for the endpoint
# Vello's document describes, on the event's type.
sub receiver {
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                    LocalPort => $Recv, Proto => 'tcp',
                                    Listen => 64, ReuseAddr => 1)
        or die "receiver: cannot listen on $Recv: $!\n";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid) {
        close $srv;
        return $pid;
    }

    $SIG{CHLD} = 'IGNORE';

    while (1) {
        my $c = $srv->accept or next;
        my $child = fork;
        if (!defined $child || $child) {
            close $c;
            next;
        }

        close $srv;
        serve($c);
        POSIX::_exit(0);
    }
}

sub serve {
    my ($c) = @_;

    my $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($c, $buf, 65536, length $buf);
        return unless $n;
    }

    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $path) = split / /, $line;
    my %h;
    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $h{lc $k} = $v;
    }

    my $len = $h{'content-length'} // 0;
    while (length $body < $len) {
        my $n = sysread($c, $body, $len - length $body, length $body);
        last unless $n;
    }

    open my $fh, '>>', $Log or die "$Log: $!";
    syswrite $fh, $JSON->encode({ method => $method, path => $path,
                                  headers => \%h, body => $body }) . "\n";
    close $fh;

    my ($status, $type, $out) = (200, undef, '');
    my $event = eval { JSON::PP::decode_json($body) } // {};

    if ($path eq '/webhooks/vello'
        && ($event->{type} // '') eq 'record.update_metadata')
    {
        # the document's answer, as it prints it
        ($type, $out) = ('application/json', <<'_EOF_');
{
  "metadata": {
    "video_link": "https://app.yourservice.com/meeting/12345"
  }
}
_EOF_

    } elsif ($path eq '/webhooks/fail') {
        ($status, $type, $out) = (500, 'application/json', '{"error":"x"}');

    } elsif ($path eq '/webhooks/text') {
        ($type, $out) = ('text/plain', "OK\n");

    } elsif ($path eq '/webhooks/slow') {
        sleep 8;

    } elsif ($path eq '/webhooks/flaky') {
        # the first request fails, the next ones succeed
        my $seen = () = ce_slurp($Log) =~ m{"path":"/webhooks/flaky"}g;
        $status = 503 if $seen <= 1;
    }

    my $reason = { 200 => 'OK', 500 => 'Internal Server Error',
                   503 => 'Service Unavailable' }->{$status};
    my $resp = "HTTP/1.1 $status $reason\r\nConnection: close\r\n"
               . "Content-Length: " . length($out) . "\r\n";
    $resp .= "Content-Type: $type\r\n" if $type;
    print $c "$resp\r\n$out";
    close $c;
}

sub received {
    my ($re) = @_;
    return grep { $_->{body} =~ $re || $_->{path} =~ $re }
           map { $JSON->decode($_) } grep { length } split /\n/, ce_slurp($Log);
}

# the first request at the receiver that matches, waiting up to $wait s
sub wait_received {
    my ($re, $wait) = @_;
    my $deadline = time + ($wait // 10);

    while (time < $deadline) {
        my @r = received($re);
        return $r[0] if @r;
        sleep 0.1;
    }

    return undef;
}

sub json_error_ok {
    my ($label, $st, $h, $body, $status, $error) = @_;

    is($st, $status, "$label: $status");
    like($h->{'content-type'} // '', qr{^application/json},
         "$label: application/json");
    like($body, qr/^\{"error":"\Q$error\E"/, "$label: error $error")
        or diag($body);
}

# a delivery as Vello's document has it: POST, JSON, signed, its body
# {"id":ID,"type":TYPE,"data":DATA} with DATA as published
sub delivery_ok {
    my ($label, $r, $token, $url, $type, $data_text, $id) = @_;

    ok($r, "$label: received") or return;

    is($r->{method}, 'POST', "$label: POST");
    is($r->{headers}{'content-type'}, 'application/json',
       "$label: Content-Type: application/json");
    is($r->{headers}{'vello-signature'},
       sha512_hex($token . $url . $r->{body}),
       "$label: Vello-Signature = sha512(token + endpoint URL + body)");

    my $idre = defined $id ? quotemeta $id : 'evt_[0-9a-f]{24}';
    like($r->{body},
         qr/^\{"id":"$idre","type":"\Q$type\E","data":\Q$data_text\E\}$/,
         "$label: the body is {id, type, data}");

    my $ev = eval { JSON::PP::decode_json($r->{body}) };
    ok($ev, "$label: the body is JSON") or diag($r->{body});
}

sub api {
    my ($method, $path, $body, $key) = @_;
    return http_request($Api, $method, $path,
        [ 'Authorization: Bearer ' . ($key // 'vello-key-acme'),
          'Content-Type: application/json' ], $body);
}

sub publish {
    my ($path, $body, $account) = @_;
    return http_request($Pub, 'POST', $path,
        [ 'X-Account: ' . ($account // 'acme'),
          'Content-Type: application/json' ], $body);
}

END {
    local $?;    # waitpid would make the receiver's TERM the exit status
    if ($RecvPid) {
        kill 'TERM', $RecvPid;
        waitpid $RecvPid, 0;
    }
}

# the document's record, as its record.update_metadata example has it
our $Record = '{"id":"639e9909-db32-4b5b-8159-42e1cabd7f24","object":"record",'
    . '"company":"90d491a1-50f9-42da-8c3a-9b0683f4a10d",'
    . '"office":"1aeef479-7c49-40e2-9ab6-09fd454fa226",'
    . '"resource":"f58c2d1e-b77f-439f-b7e5-d43c3265c65a",'
    . '"service":"74df9d2b-4ba3-45ef-a2be-30f87cf52e81",'
    . '"allocation":"685f7d57-cb01-4ca7-8f4e-882bf2d7ad84",'
    . '"user":"fbb70166-608d-49b9-b207-ab5c4197df4b",'
    . '"customer":"686ff2eb-36dd-450d-a03b-de859af80240",'
    . '"record_number":"b264c6ff-a8fc-4","quantity":1,"group":null,'
    . '"properties":null,"language":"fi","time":1578952635,"duration":1800,'
    . '"allocated_time_start":1578952635,"allocated_time_end":1578954435,'
    . '"payment_paid":false,"confirmation_status":"confirmed","details":{},'
    . '"metadata":{},"ip":"","created_by":null,"tos":1578952635,'
    . '"canceled":false,"archived":false,"created":1578952635,'
    . '"changed":1578952635,"version":1}';

sub main_test {
    remove_tree($Base);
    make_path($Base);

    # 1. the committed file, as it is
    ce_as_committed('vello', "$Base/as-is",
        [ qr/^\s*webhook_target_schemes\s+https;/m,
          'vello.conf as committed: https targets only' ],
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'vello.conf as committed: no private targets' ]);

    # 2. the test copy: ports, state, targets
    my $prefix = "$Base/provider";
    my $conf = ce_prepare('vello', $prefix,
        [ qr/127\.0\.0\.1:8080\b/, "127.0.0.1:$Api", 1 ],
        [ qr/127\.0\.0\.1:8081\b/, "127.0.0.1:$Pub", 1 ],
        [ qr/\bstate=state\b/, "state=$Base/state", 1 ],
        [ qr/webhook_target_schemes\s+https;/,
          'webhook_target_schemes  https http;', 1 ],
        [ qr/webhook_allow_private\s+off;/, 'webhook_allow_private  on;', 1 ]);

    open my $fh, '>', $Log or die "$Log: $!";
    close $fh;
    $RecvPid = receiver();
    ok(wait_port($Recv, 10), "receiver: listening on $Recv");

    ce_start('vello', $prefix, $conf, $Api, $Pub);

    my ($st, $h, $b);

    # 3. the subscription API (no API in the document: the module's own)
    ($st, $h, $b) = http_request($Api, 'GET', '/webhooks');
    json_error_ok('api: no key', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = api('GET', '/webhooks', undef, 'wrong');
    json_error_ok('api: a wrong key', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = ce_raw_request($Api,
        "POST /webhooks HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: Bearer vello-key-acme\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('api: nginx\'s own 413', $st, $h, $b, 413,
                  'payload_too_large');

    ($st, $h, $b) = http_request($Api, 'GET', '/elsewhere');
    json_error_ok('api: an unknown path', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = api('POST', '/webhooks',
        '{"action":"record.exploded","target_url":"http://127.0.0.1/"}');
    json_error_ok('api: an event type not in the document', $st, $h, $b,
                  422, 'validation_failed');

    # the endpoint, as the document's examples have it: every event
    my $url = "http://127.0.0.1:$Recv/webhooks/vello";
    my $token = 'vello-secure-token-1';

    ($st, $h, $b) = api('POST', '/webhooks',
        qq({"action":"*","target_url":"$url","secret":"$token"}));
    is($st, 201, 'api: the endpoint registered') or diag($b);
    my ($id) = $b =~ /"_id":"([0-9a-f]{24})"/;
    ok($id, 'api: it has an id');
    like($b, qr/"secret":"\Q$token\E"/, 'api: the token is its secret');

    ($st, $h, $b) = api('GET', '/webhooks');
    is($st, 200, 'api: list');
    like($b, qr/^\{"hooks":\[\{"_id":"$id",.*\],"total":1\}$/,
         'api: the endpoint is listed');
    unlike($b, qr/"secret"/, 'api: the list does not show the token');

    ($st, $h, $b) = api('GET', '/webhooks', undef, 'vello-key-beta');
    is($b, '{"hooks":[],"total":0}', 'api: another account sees nothing');

    ($st, $h, $b) = api('GET', "/webhooks/$id", undef, 'vello-key-beta');
    json_error_ok('api: another account\'s endpoint', $st, $h, $b, 404,
                  'not_found');

    # 4. record.created: the document's first example
    my $uuid = '7f1c2a9e-4b7d-4c3e-9a51-2d8e6f0b1c34';
    my $created = '{"object":{"id":"0b6a1f9c-1111-4e6e-8d2a-6c1d2e3f4a5b",'
                  . '"object":"record","quantity":1}}';

    ($st, $h, $b) = publish('/events',
        qq({"type":"record.created","id":"$uuid","data":$created}));
    is($st, 202, 'publish: record.created accepted') or diag($b);
    is($b, qq({"id":"$uuid","deliveries":1}), 'publish: one delivery');

    delivery_ok('record.created', wait_received(qr/"record\.created"/),
                $token, $url, 'record.created', $created, $uuid);

    # 5. connection.test, as the document shows it (data {})
    ($st, $h, $b) = publish('/events', '{"type":"connection.test","data":{}}');
    is($st, 202, 'publish: connection.test accepted') or diag($b);
    my ($test_id) = $b =~ /"id":"([^"]+)"/;

    delivery_ok('connection.test', wait_received(qr/"connection\.test"/),
                $token, $url, 'connection.test', '{}', $test_id);

    # the API's own test (DESIGN section 3): 202, the module's generic
    # envelope (not Vello's shape: the application publishes that, above)
    ($st, $h, $b) = api('POST', "/webhooks/$id/test");
    is($st, 202, 'api: /test accepted') or diag($b);
    my $r = wait_received(qr/"action":"connection\.test"/);
    ok($r, 'api /test: received');
    if ($r) {
        is($r->{body}, '{"action":"connection.test","organization":"acme",'
                       . '"user":null,"resource":null}',
           'api /test: the generic envelope');
        is($r->{headers}{'vello-signature'},
           sha512_hex($token . $url . $r->{body}), 'api /test: signed');
    }

    # 6. the other types the document lists
    for my $type (qw(record.updated record.cancelled record.deleted)) {
        my $data = qq({"object":{"id":"r-$type"}});
        ($st, $h, $b) = publish('/events',
                                qq({"type":"$type","data":$data}));
        is($st, 202, "publish: $type accepted") or diag($b);

        delivery_ok($type, wait_received(qr/"\Q$type\E"/), $token, $url,
                    $type, $data);
    }

    ($st, $h, $b) = publish('/events', '{"type":"record.exploded"}');
    json_error_ok('publish: an unknown type', $st, $h, $b, 422,
                  'validation_failed');

    # every delivery so far was answered "200 OK", and is listed so
    my $attempts = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        (undef, undef, $attempts) = api('GET', "/webhooks/$id/deliveries");
        last if $attempts =~ /"total":6\b/;
        sleep 0.2;
    }
    like($attempts, qr/"total":6\b/, 'deliveries: six attempts listed')
        or diag($attempts);
    my $ok = () = $attempts =~ /"status":200,"duration_ms":\d+,"error":null,"state":"delivered"/g;
    is($ok, 6, 'deliveries: all six answered 200 and delivered');

    # 7. "If request fails, Vello will try to resend the request"
    my $flaky = "http://127.0.0.1:$Recv/webhooks/flaky";
    ($st, $h, $b) = api('POST', '/webhooks',
        qq({"action":"record.created","target_url":"$flaky",)
        . qq("secret":"beta-token"}), 'vello-key-beta');
    is($st, 201, 'api: a second account\'s endpoint') or diag($b);
    my ($flaky_id) = $b =~ /"_id":"([0-9a-f]{24})"/;

    ($st, $h, $b) = publish('/events',
        '{"type":"record.created","id":"retry-1","data":{"object":{}}}',
        'beta');
    is($b, '{"id":"retry-1","deliveries":1}', 'publish: beta\'s event');

    $deadline = time + 15;
    my @tries;
    while (time < $deadline) {
        @tries = received(qr{^/webhooks/flaky$});
        last if @tries >= 2;
        sleep 0.2;
    }
    is(scalar @tries, 2, 'retry: sent again after a 503');
    if (@tries == 2) {
        is($tries[1]{body}, $tries[0]{body}, 'retry: the same body');
        is($tries[1]{headers}{'vello-signature'},
           $tries[0]{headers}{'vello-signature'}, 'retry: the same signature');
        delivery_ok('retry', $tries[1], 'beta-token', $flaky,
                    'record.created', '{"object":{}}', 'retry-1');
    }

    (undef, undef, $attempts) = api('GET', "/webhooks/$flaky_id/deliveries",
                                    undef, 'vello-key-beta');
    like($attempts, qr/^\{"attempts":\[\{"event_id":"retry-1","action":"record.created","attempt":2,.*"status":200,.*"state":"delivered"\},\{"event_id":"retry-1","action":"record.created","attempt":1,.*"status":503,.*"error":"bad_status","state":"pending"\}\],"total":2\}$/,
         'retry: both attempts listed') or diag($attempts);

    # 8. the dynamic webhook: the document's record in, its metadata out
    my $meta_id = 'a8d4c1e2-5f6b-4a7c-9d8e-0f1a2b3c4d5e';
    my $t0 = time;
    ($st, $h, $b) = publish('/events/sync',
        qq({"type":"record.update_metadata","id":"$meta_id","data":$Record}));
    is($st, 200, 'sync: the endpoint\'s 200') or diag($b);
    like($h->{'content-type'} // '', qr{^application/json},
         'sync: application/json');
    is($b, qq({\n  "metadata": {\n    "video_link": "https://app.yourservice.com/meeting/12345"\n  }\n}\n),
       'sync: the endpoint\'s body, as it sent it');
    my $meta = eval { JSON::PP::decode_json($b) } // {};
    is($meta->{metadata}{video_link}, 'https://app.yourservice.com/meeting/12345',
       'sync: metadata.video_link, for the Record');

    delivery_ok('record.update_metadata',
                wait_received(qr/"record\.update_metadata"/, 1),
                $token, $url, 'record.update_metadata', $Record, $meta_id);

    # nothing stored: the attempt log is as it was
    (undef, undef, $attempts) = api('GET', "/webhooks/$id/deliveries");
    like($attempts, qr/"total":6\b/, 'sync: not in the attempt log');
    unlike($attempts, qr/\Q$meta_id\E/, 'sync: no attempt of its event');

    # only record.update_metadata goes through the sync location
    ($st, $h, $b) = publish('/events/sync',
                            '{"type":"record.created","data":{}}');
    json_error_ok('sync: another type', $st, $h, $b, 422,
                  'validation_failed');

    # 9. mode=sync's failures, on the same endpoint moved about
    my %cases = (
        fail => [ 502, 'delivery_failed', 'bad_status', 500 ],
        text => [ 502, 'delivery_failed', 'invalid_response', 200 ],
        down => [ 502, 'delivery_failed', 'connect_failed', 'null' ],
        slow => [ 504, 'timeout', 'timeout', 'null' ],
    );

    for my $case (qw(fail text down slow)) {
        my $target = $case eq 'down'
                     ? "http://127.0.0.1:$Down/webhooks/down"
                     : "http://127.0.0.1:$Recv/webhooks/$case";

        ($st, $h, $b) = api('PATCH', "/webhooks/$id",
                            qq({"target_url":"$target"}));
        is($st, 200, "sync $case: the endpoint moved") or diag($b);

        my ($status, $error, $reason, $sub) = @{ $cases{$case} };
        my $t = time;
        ($st, $h, $b) = publish('/events/sync',
            qq({"type":"record.update_metadata","id":"m-$case",)
            . qq("data":$Record}));
        json_error_ok("sync $case", $st, $h, $b, $status, $error);
        like($b, qr/"reason":"$reason","status":$sub,"event_id":"m-$case","subscription_id":"$id"\}$/,
             "sync $case: the reason, the endpoint's status, the ids")
            or diag($b);

        if ($case eq 'slow') {
            my $took = time - $t;
            ok($took >= 4.5 && $took < 7, "sync slow: after timeout=5s ($took)");
        }
    }

    # no endpoint for the account, or two
    ($st, $h, $b) = publish('/events/sync',
        '{"type":"record.update_metadata","data":{}}', 'beta');
    json_error_ok('sync: no endpoint', $st, $h, $b, 404, 'no_subscription');

    ($st, $h, $b) = api('POST', '/webhooks',
        qq({"action":"record.update_metadata","target_url":"$url"}));
    is($st, 201, 'api: a second endpoint of the account') or diag($b);

    ($st, $h, $b) = publish('/events/sync',
        '{"type":"record.update_metadata","data":{}}');
    json_error_ok('sync: two endpoints', $st, $h, $b, 409,
                  'multiple_subscriptions');

    # 10. the publish listener's own errors
    ($st, $h, $b) = publish('/events', 'not json');
    json_error_ok('publish: not JSON', $st, $h, $b, 400, 'invalid_json');

    ($st, $h, $b) = http_request($Pub, 'POST', '/events', [], '{}');
    json_error_ok('publish: no account', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = http_request($Pub, 'GET', '/nowhere');
    json_error_ok('publish: an unknown path', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = ce_raw_request($Pub,
        "POST /events HTTP/1.1\r\nHost: localhost\r\nX-Account: acme\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('publish: nginx\'s own 413', $st, $h, $b, 413,
                  'payload_too_large');

    # 11. stop; nothing went wrong in the log
    ce_stop_clean(vello => $prefix);

    my @tokens = grep { /vello-secure-token-1|beta-token/ }
                 split /\n/, ce_slurp("$prefix/logs/error.log");
    is(scalar @tokens, 0, 'vello: no token in the error log');
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("vello: $@") unless $ok;
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
