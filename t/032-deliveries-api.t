# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# The delivery side of the subscription API (DESIGN sections 3 and 5):
# POST /hooks/{id}/test, GET /hooks/{id}/deliveries, POST
# /hooks/{id}/deliveries/{event_id}/retry; DELETE drops queued deliveries;
# a disabled subscription gets nothing new and its queued deliveries end as
# failed ("disabled"); delivery over TLS with proxy_ssl_verify, to a name
# (SNI and verification by name, the port of $webhook_target_host stripped
# by proxy), and a certificate for another name: "tls_failed".
#
# Zones, each with its own deliver location:
#   hooks   webhook_retry 1s (two attempts), http and https targets
#   q       webhook_retry 3s 3s 3s 3s: a delivery stays queued for seconds
#   quiet   like hooks' TLS setup, one attempt, error_log at "crit": the
#           error recorded for tenants must not depend on what is logged
#
# Receivers (logging what they get into a file outside the servroot, which
# the runner recreates for every block, as RECV lines), all proxying to
# 19876, which answers by path:
#   19871  http
#   19872  https, a certificate for localhost signed by this file's CA
#   19873  https, a certificate for wrong.test signed by the same CA
#   19874  nothing listens (connection refused)
#   19879  (udp) a DNS server this file runs: localhost is 127.0.0.1
# The CA and certificates are made at start with the openssl CLI.
#
# Blocks run in order and share the state directories; "--- before" code
# runs while the previous block's nginx is still up and waits, bounded,
# for deliveries to settle.  Under valgrind the runner stops nginx after
# every block, so the file is skipped there.

use Test::Nginx::Socket;
use WebhookTest;
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use JSON::PP ();
use POSIX ();

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_zone  zone=q:1m state=$TEST_NGINX_STATE_DIR-q fsync=off;
    webhook_zone  zone=quiet:1m state=$TEST_NGINX_STATE_DIR-quiet fsync=off;

    log_format  received escape=none
                'RECV port=$server_port $request_method $request_uri '
                'status=$status sni=$ssl_server_name host=$http_host '
                'id=$http_webhook_id action=$http_x_action '
                'ct=$http_content_type body=$request_body.';

    server {
        listen       127.0.0.1:19871;
        access_log   $TEST_NGINX_RECV_LOG received;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19876;
        }
    }

    server {
        listen               127.0.0.1:19872 ssl;
        ssl_certificate      $TEST_NGINX_CERT_DIR/localhost.crt;
        ssl_certificate_key  $TEST_NGINX_CERT_DIR/localhost.key;
        access_log           $TEST_NGINX_RECV_LOG received;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19876;
        }
    }

    server {
        listen               127.0.0.1:19873 ssl;
        ssl_certificate      $TEST_NGINX_CERT_DIR/wrong.crt;
        ssl_certificate_key  $TEST_NGINX_CERT_DIR/wrong.key;
        access_log           $TEST_NGINX_RECV_LOG received;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19876;
        }
    }

    server {
        listen      127.0.0.1:19876;
        access_log  off;

        location /        { return 200 "ok"; }
        location /flip/   { return $TEST_NGINX_FLIP_STATUS; }
        location /q/      { return $TEST_NGINX_Q_STATUS; }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $http_x_tenant;
    }

    location = /events {
        webhook_publish zone=hooks;
        webhook_tenant  $http_x_tenant;
    }

    location = /_webhook {
        internal;
        webhook_deliver        zone=hooks;
        webhook_retry          1s;
        webhook_allow_private  on;

        resolver          127.0.0.1:19879 ipv6=off;
        resolver_timeout  2s;

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    Host $webhook_target_host;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    X-Action $webhook_action;

        proxy_ssl_verify               on;
        proxy_ssl_trusted_certificate  $TEST_NGINX_CERT_DIR/ca.crt;
        proxy_ssl_server_name          on;
        proxy_ssl_name                 $webhook_target_host;
    }

    location /q/hooks {
        webhook_api     zone=q;
        webhook_tenant  $http_x_tenant;
    }

    location = /q/events {
        webhook_publish zone=q;
        webhook_tenant  $http_x_tenant;
    }

    location = /_webhook_q {
        internal;
        webhook_deliver        zone=q;
        webhook_retry          3s 3s 3s 3s;
        webhook_allow_private  on;

        resolver          127.0.0.1:19879 ipv6=off;

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    X-Action $webhook_action;
    }

    location /quiet/hooks {
        webhook_api     zone=quiet;
        webhook_tenant  $http_x_tenant;
    }

    location = /quiet/events {
        webhook_publish zone=quiet;
        webhook_tenant  $http_x_tenant;
    }

    location = /_webhook_quiet {
        internal;
        webhook_deliver        zone=quiet;
        webhook_retry          off;
        webhook_allow_private  on;

        # what a production server often has: only critical messages
        error_log  logs/error.log crit;

        resolver          127.0.0.1:19879 ipv6=off;
        resolver_timeout  2s;

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    Host $webhook_target_host;

        proxy_ssl_verify               on;
        proxy_ssl_trusted_certificate  $TEST_NGINX_CERT_DIR/ca.crt;
        proxy_ssl_server_name          on;
        proxy_ssl_name                 $webhook_target_host;
    }
_EOC_
    more_headers => "X-Tenant: org1\nContent-Type: application/json\n",
);

# the runner stops nginx after every block under valgrind: the "--- before"
# code that waits for the previous block's deliveries cannot work there
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs nginx running between blocks');

} else {
    plan('no_plan');
}

our $Port = $ENV{TEST_NGINX_SERVER_PORT};
our $CertDir = state_dir() . '-cert';
our $RecvLog = state_dir() . '-recv.log';
our @TestEvents;      # the ids /test answered, in order
our $DeletedAt;
our $QSeen;       # attempts received for drop and dis when deleted/disabled
our $DnsPid;

remove_tree(state_dir() . '-q', state_dir() . '-quiet', $CertDir);
unlink $RecvLog;

$ENV{TEST_NGINX_CERT_DIR} = $CertDir;
$ENV{TEST_NGINX_RECV_LOG} = $RecvLog;
$ENV{TEST_NGINX_FLIP_STATUS} = 500;
$ENV{TEST_NGINX_Q_STATUS} = 503;

# A CA, and two server certificates it signs: localhost and wrong.test.
sub openssl {
    my @args = @_;
    my $out = `openssl @args 2>&1`;
    die "openssl @args: $out" if $?;
}

sub make_certs {
    make_path($CertDir);

    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1",
            "-nodes -days 2 -subj /CN=webhook-test-ca",
            "-addext basicConstraints=critical,CA:TRUE",
            "-addext keyUsage=critical,keyCertSign,cRLSign",
            "-keyout $CertDir/ca.key -out $CertDir/ca.crt");

    for my $name (['localhost', 'localhost'], ['wrong', 'wrong.test']) {
        my ($file, $dns) = @$name;

        open my $fh, '>', "$CertDir/$file.ext" or die "$CertDir: $!";
        print $fh "subjectAltName=DNS:$dns\nbasicConstraints=CA:FALSE\n"
                  . "extendedKeyUsage=serverAuth\n";
        close $fh;

        openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1",
                "-nodes -subj /CN=$dns",
                "-keyout $CertDir/$file.key -out $CertDir/$file.csr");
        openssl("x509 -req -days 2 -in $CertDir/$file.csr",
                "-CA $CertDir/ca.crt -CAkey $CertDir/ca.key -set_serial",
                ($file eq 'localhost' ? 1 : 2),
                "-extfile $CertDir/$file.ext -out $CertDir/$file.crt");
    }
}

make_certs();

# A DNS server for the resolver: localhost is 127.0.0.1, other names do
# not exist.  A child process of this file; it ends with it.
sub dns_server {
    my ($port) = @_;

    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $port, Proto => 'udp')
        or die "cannot listen on udp 127.0.0.1:$port: $!";

    my $parent = $$;
    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid) {
        close $sock;
        return $pid;
    }

    my $deadline = time + 300;

    while (time < $deadline && getppid() == $parent) {
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

        if (lc(join '.', @labels) eq 'localhost') {
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

$DnsPid = dns_server(19879);

add_cleanup_handler(sub {
    if ($DnsPid) {
        kill 'TERM', $DnsPid;
        waitpid $DnsPid, 0;
        undef $DnsPid;
    }
});

# the event ids /test answers, also as {{evt0}}, {{evt1}}
add_response_body_check(sub {
    my ($block, $body) = @_;

    if (defined $body && $body =~ /^\{"id":"(evt_[0-9a-f]{24})",/) {
        push @TestEvents, $1;
        $WebhookTest::Saved{"evt" . $#TestEvents} = $1;
    }
});

# what the receivers logged for a path (a prefix of the request URI)
sub received {
    my ($path) = @_;

    open my $fh, '<', $RecvLog or return ();
    my @lines = grep { /^RECV port=\d+ \S+ \Q$path\E/ } <$fh>;
    close $fh;
    chomp @lines;

    return @lines;
}

sub get_json {
    my ($path, $tenant) = @_;

    my ($st, $h, $body) = http_request($Port, 'GET', $path,
                                       ['X-Tenant: ' . ($tenant // 'org1')]);

    return ($st, $body);
}

# waits (bounded) until every path's body matches its pattern; returns the
# paths that never did
sub wait_for {
    my (%cases) = @_;

    my $deadline = time + 15;
    my %left = %cases;

    while (%left && time < $deadline) {
        for my $path (keys %left) {
            my ($st, $body) = get_json($path);
            delete $left{$path} if $st == 200 && $body =~ $left{$path};
        }

        sleep 0.1 if %left;
    }

    return sort keys %left;
}

sub deliveries { "/hooks/" . saved_id($_[0]) . "/deliveries" }

our $AT = qr/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

run_tests();

__DATA__

=== TEST 1: a subscription for /test, to an action never published
--- request
POST /hooks
{"action":"ev.t","target_url":"http://127.0.0.1:19871/ok/t"}
--- error_code: 201
--- save_id: t



=== TEST 2: a subscriber nobody listens for
--- request
POST /hooks
{"action":"ev.refused","target_url":"http://127.0.0.1:19874/refused"}
--- error_code: 201
--- save_id: refused



=== TEST 3: a subscriber that answers 500 (200 from TEST 17 on)
--- request
POST /hooks
{"action":"ev.flip","target_url":"http://127.0.0.1:19871/flip/"}
--- error_code: 201
--- save_id: flip



=== TEST 4: an https subscriber by name, with a certificate for that name
--- request
POST /hooks
{"action":"ev.tls","target_url":"https://localhost:19872/tls/"}
--- error_code: 201
--- save_id: tls



=== TEST 5: an https subscriber whose certificate is for another name
--- request
POST /hooks
{"action":"ev.wrong","target_url":"https://localhost:19873/wrong/"}
--- error_code: 201
--- save_id: wrong



=== TEST 6: zone quiet: the same wrong certificate
--- request
POST /quiet/hooks
{"action":"ev.quiet","target_url":"https://localhost:19873/quiet/"}
--- error_code: 201
--- save_id: quiet



=== TEST 7: zone q: a subscriber to delete while a delivery is queued
--- request
POST /q/hooks
{"action":"ev.drop","target_url":"http://127.0.0.1:19871/q/drop"}
--- error_code: 201
--- save_id: drop



=== TEST 8: zone q: a subscriber to disable while a delivery is queued
--- request
POST /q/hooks
{"action":"ev.dis","target_url":"http://127.0.0.1:19871/q/dis"}
--- error_code: 201
--- save_id: dis



=== TEST 9: /test: 202 with a new event id and one delivery; a second one within the second: 429
--- request eval
["POST /hooks/{{t}}/test", "POST /hooks/{{t}}/test"]
--- error_code eval
[202, 429]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body_like eval
[qr/^\{"id":"evt_[0-9a-f]{24}","deliveries":1\}$/,
 qr/^\{"error":"too_many_requests","message":"(?:[^"\\]|\\.)+"\}$/]



=== TEST 10: /test on another tenant's subscription: 404
--- more_headers
X-Tenant: org2
--- request
POST /hooks/{{t}}/test
--- error_code: 404
--- response_body_like chomp
^\{"error":"not_found","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 11: GET /test: 405 with Allow
--- request
GET /hooks/{{t}}/test
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like chomp
^\{"error":"method_not_allowed","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 12: the receiver got one connection.test event: the default body, the id /test answered
--- before
my @left = main::wait_for(main::deliveries('t') => qr/"state":"delivered"/);
is("@left", "", "TEST 12: the test event was delivered");
sleep 0.3;    # time for a second delivery, if the 429 had made one
my @got = main::received('/ok/t');
is(scalar @got, 1, "TEST 12: one request received");
is(scalar @main::TestEvents, 1, "TEST 12: /test answered one event id");
like($got[0] // '', qr/^RECV port=19871 POST \/ok\/t status=200 sni= host=127\.0\.0\.1:19871 id=\Q$main::TestEvents[0]\E action=connection\.test ct=application\/json body=\{"action":"connection\.test","organization":"org1","user":null,"resource":null\}\.$/,
     "TEST 12: the connection.test body and its event id");
--- request
GET /hooks/{{t}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"{{evt0}}","action":"connection\.test","attempt":1,"at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$



=== TEST 13: a second later /test is accepted again, with a new event id
--- before
sleep 1.1;
--- request
POST /hooks/{{t}}/test
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":1\}$



=== TEST 14: /deliveries: newest first, both test events
--- before
my @left = main::wait_for(main::deliveries('t') => qr/"total":2\}$/);
is("@left", "", "TEST 14: the second test event was delivered");
isnt($main::TestEvents[1] // '', $main::TestEvents[0],
     "TEST 14: a new event id");
--- request
GET /hooks/{{t}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"{{evt1}}","action":"connection\.test","attempt":1,"at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},\{"event_id":"{{evt0}}",[^}]*"state":"delivered"\}\],"total":2\}$



=== TEST 15: /deliveries of another tenant's subscription: 404; other methods: 405
--- more_headers
X-Tenant: org2
--- request eval
["GET /hooks/{{t}}/deliveries", "POST /hooks/{{t}}/deliveries"]
--- error_code eval
[404, 405]
--- response_headers eval
["Content-Type: application/json", "Allow: GET, HEAD"]
--- response_body_like eval
[qr/^\{"error":"not_found","message":"(?:[^"\\]|\\.)+"\}$/,
 qr/^\{"error":"method_not_allowed","message":"(?:[^"\\]|\\.)+"\}$/]



=== TEST 16: publish to refused, flip, tls, wrong and quiet; a retry of a pending delivery: 409, of an unknown event: 404
--- request eval
['POST /events
[{"action":"ev.refused","id":"refused-1"},{"action":"ev.flip","id":"flip-1"},
 {"action":"ev.tls","id":"tls-1"},{"action":"ev.wrong","id":"wrong-1"}]',
 'POST /quiet/events
{"action":"ev.quiet","id":"quiet-1"}',
 "POST /hooks/{{flip}}/deliveries/flip-1/retry",
 "POST /hooks/{{flip}}/deliveries/nope-1/retry"]
--- error_code eval
[202, 202, 409, 404]
--- response_body_like eval
[qr/^\[\{"id":"refused-1","deliveries":1\},\{"id":"flip-1","deliveries":1\},\{"id":"tls-1","deliveries":1\},\{"id":"wrong-1","deliveries":1\}\]$/,
 qr/^\{"id":"quiet-1","deliveries":1\}$/,
 qr/^\{"error":"conflict","message":"(?:[^"\\]|\\.)+"\}$/,
 qr/^\{"error":"not_found","message":"(?:[^"\\]|\\.)+"\}$/]



=== TEST 17: failed after the last attempt, then retried (the receiver now answers 200): 202
--- before
my $final = qr/^\{"attempts":\[\{[^}]*"state":"(?:delivered|failed)"/;
my @left = main::wait_for(
    map({ (main::deliveries($_) => $final) } qw(refused flip tls wrong)),
    "/quiet/hooks/" . saved_id('quiet') . "/deliveries" => $final);
is("@left", "", "TEST 17: every delivery settled");
my ($st, $body) = main::get_json(main::deliveries('flip'));
like($body, qr/^\{"attempts":\[\{"event_id":"flip-1","action":"ev\.flip","attempt":2,"at":"$main::AT","status":500,"duration_ms":\d+,"error":"bad_status","state":"failed"\},\{"event_id":"flip-1","action":"ev\.flip","attempt":1,"at":"$main::AT","status":500,"duration_ms":\d+,"error":"bad_status","state":"pending"\}\],"total":2\}$/,
     "TEST 17: failed after two attempts");
is(scalar main::received('/flip/'), 2, "TEST 17: two attempts received");
$ENV{TEST_NGINX_FLIP_STATUS} = 200;
--- request
POST /hooks/{{flip}}/deliveries/flip-1/retry
--- error_code: 202
--- response_body chomp
{"id":"flip-1"}



=== TEST 18: the retried delivery starts again from attempt 1 and is delivered; newest first
--- before
my @left = main::wait_for(main::deliveries('flip') => qr/"total":3\}$/);
is("@left", "", "TEST 18: the retried delivery settled");
my @got = main::received('/flip/');
is(scalar @got, 3, "TEST 18: three attempts received");
like($got[2] // '', qr/ status=200 .* id=flip-1 /, "TEST 18: the third answered 200");
my ($st, $body) = main::get_json(main::deliveries('flip'));
my $log = eval { JSON::PP::decode_json($body) } // { attempts => [] };
my @at = map { $_->{at} } @{ $log->{attempts} };
is(scalar @at, 3, "TEST 18: three entries");
ok($at[0] ge $at[1] && $at[1] ge $at[2], "TEST 18: newest first (@at)");
--- request
GET /hooks/{{flip}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"flip-1","action":"ev\.flip","attempt":1,"at":"$main::AT","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},\{"event_id":"flip-1","action":"ev\.flip","attempt":2,"at":"$main::AT","status":500,"duration_ms":\d+,"error":"bad_status","state":"failed"\},\{"event_id":"flip-1","action":"ev\.flip","attempt":1,"at":"$main::AT","status":500,"duration_ms":\d+,"error":"bad_status","state":"pending"\}\],"total":3\}$/



=== TEST 19: a retry of a delivery that has been delivered: 409, not queued again
--- request
POST /hooks/{{flip}}/deliveries/flip-1/retry
--- error_code: 409
--- response_body_like chomp
^\{"error":"conflict","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 20: a retry on another tenant's subscription: 404
--- more_headers
X-Tenant: org2
--- request
POST /hooks/{{flip}}/deliveries/flip-1/retry
--- error_code: 404
--- response_body_like chomp
^\{"error":"not_found","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 21: connection refused: no status (null), connect_failed, pending then failed
--- before
is(scalar main::received('/flip/'), 3, "TEST 21: nothing more for flip");
--- request
GET /hooks/{{refused}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"refused-1","action":"ev\.refused","attempt":2,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"connect_failed","state":"failed"\},\{"event_id":"refused-1","action":"ev\.refused","attempt":1,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"connect_failed","state":"pending"\}\],"total":2\}$/



=== TEST 22: TLS to a name: verified against the CA, SNI and Host from the name
--- before
my @got = main::received('/tls/');
is(scalar @got, 1, "TEST 22: one delivery received");
like($got[0] // '', qr/^RECV port=19872 POST \/tls\/ status=200 sni=localhost host=localhost:19872 id=tls-1 action=ev\.tls ct=application\/json body=\{"action":"ev\.tls","organization":"org1","user":null,"resource":null\}\.$/,
     "TEST 22: over TLS, SNI localhost");
--- request
GET /hooks/{{tls}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"tls-1","action":"ev\.tls","attempt":1,"at":"$main::AT","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}\],"total":1\}$/



=== TEST 23: a certificate for another name: tls_failed, no request sent
--- before
is(scalar main::received('/wrong/'), 0, "TEST 23: nothing received");
--- request
GET /hooks/{{wrong}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"wrong-1","action":"ev\.wrong","attempt":2,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"tls_failed","state":"failed"\},\{"event_id":"wrong-1","action":"ev\.wrong","attempt":1,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"tls_failed","state":"pending"\}\],"total":2\}$/



=== TEST 24: the same with the deliver location's error_log at crit: still tls_failed
--- before
is(scalar main::received('/quiet/'), 0, "TEST 24: nothing received");
--- request
GET /quiet/hooks/{{quiet}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"quiet-1","action":"ev\.quiet","attempt":1,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"tls_failed","state":"failed"\}\],"total":1\}$/



=== TEST 25: zone q: one event for each subscriber, both answer 503
--- request
POST /q/events
[{"action":"ev.drop","id":"drop-1"},{"action":"ev.dis","id":"dis-1"}]
--- error_code: 202
--- response_body chomp
[{"id":"drop-1","deliveries":1},{"id":"dis-1","deliveries":1}]



=== TEST 26: while both are queued: DELETE one, disable the other; a new event reaches no one
--- before
my $first = qr/^\{"attempts":\[\{[^}]*"status":503,[^}]*"state":"pending"\}/;
my @left = main::wait_for(
    "/q/hooks/" . saved_id('drop') . "/deliveries" => $first,
    "/q/hooks/" . saved_id('dis') . "/deliveries" => $first);
is("@left", "", "TEST 26: a first attempt of each, 503, still pending");
--- request eval
["DELETE /q/hooks/{{drop}}",
 'PATCH /q/hooks/{{dis}}
{"enabled":false}',
 'POST /q/events
[{"action":"ev.dis","id":"dis-2"},{"action":"ev.drop","id":"drop-2"}]']
--- error_code eval
[204, 200, 202]
--- response_body_like eval
[qr/^$/, qr/"enabled":false,"disabled_reason":"manual"/,
 qr/^\[\{"id":"dis-2","deliveries":0\},\{"id":"drop-2","deliveries":0\}\]$/]



=== TEST 27: the receivers now answer 200
--- before
$main::DeletedAt = time;
$main::QSeen = scalar(main::received('/q/drop')) . ' '
               . scalar(main::received('/q/dis'));
$ENV{TEST_NGINX_Q_STATUS} = 200;
--- request
GET /q/hooks/{{drop}}
--- error_code: 404



=== TEST 28: the disabled subscription's queued delivery ends as failed, "disabled"; nothing reached either receiver again
--- before
my @left = main::wait_for("/q/hooks/" . saved_id('dis') . "/deliveries"
                          => qr/"state":"failed"/);
is("@left", "", "TEST 28: the disabled subscription's delivery ended");
# the deleted one's next attempt was due at most 3.6 s after its last,
# which was before the DELETE
sleep 0.1 while time < $main::DeletedAt + 4;
my @drop = main::received('/q/drop');
my @dis = main::received('/q/dis');
is(scalar(@drop) . ' ' . scalar(@dis), $main::QSeen,
   "TEST 28: no attempt since the DELETE and the PATCH");
ok(@drop >= 1 && !grep({ !/ status=503 .* id=drop-1 / } @drop),
   "TEST 28: the deleted subscriber: only the 503 attempts of drop-1");
ok(@dis >= 1 && !grep({ !/ status=503 .* id=dis-1 / } @dis),
   "TEST 28: the disabled subscriber: only the 503 attempts of dis-1");
--- request
GET /q/hooks/{{dis}}/deliveries
--- response_body_like eval
qr/^\{"attempts":\[\{"event_id":"dis-1","action":"ev\.dis","attempt":\d+,"at":"$main::AT","status":null,"duration_ms":\d+,"error":"disabled","state":"failed"\}(?:,\{"event_id":"dis-1","action":"ev\.dis","attempt":\d+,"at":"$main::AT","status":503,"duration_ms":\d+,"error":"bad_status","state":"pending"\})+\],"total":\d+\}$/



=== TEST 29: /test on a disabled subscription: 409, nothing queued
--- request eval
["POST /q/hooks/{{dis}}/test", "GET /q/hooks/{{dis}}/deliveries"]
--- error_code eval
[409, 200]
--- response_body_like eval
[qr/^\{"error":"conflict","message":"the subscription is disabled"\}$/,
 qr/^\{"attempts":\[\{"event_id":"dis-1",[^\]]*\],"total":\d+\}$/]
