# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Interop: the official libraries from the npm registry (t/interop, pinned
# in package-lock.json, installed by `make test`) against the module.
#
# 1. Deliveries signed by the module ($webhook_signature with webhook-id and
#    webhook-timestamp, $webhook_signature_github, $webhook_signature_stripe)
#    are recorded by a receiver and must be accepted by standardwebhooks'
#    verify, @octokit/webhooks-methods' verify and stripe's constructEvent
#    (t/interop/verify.js).
# 2. Requests signed by those libraries (t/interop/sign.js) must pass
#    webhook_verify standard|github|stripe (200 through to an echo), and a
#    tampered body, a wrong secret, a stale timestamp and a missing header
#    must be rejected both by webhook_verify (401) and by the library.
#
# Receiver: 127.0.0.1:19896 logs what it gets (into error.log, as RECV
# lines) and proxies to 19897, which answers 200; 19899 accepts
# connections and never answers (under valgrind, the publishing block waits
# itself, with a slow request); 19898 is a resolver address nothing asks.
#
# Node and the libraries are installed by `make deps`/`make test`: if they
# are missing this file fails, it does not skip.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use IO::Socket::INET;
use File::Spec ();
use File::Temp ();
use Time::HiRes qw(sleep time);

no_shuffle();

our $Interop = File::Spec->rel2abs('t/interop');

BEGIN {
    my $dir = File::Spec->rel2abs('t/interop');
    my $v = `node --version 2>&1` // '';
    my @problems;
    push @problems, "node is missing (make deps installs it): $v"
        unless $? == 0 && $v =~ /^v(\d+)\./ && $1 >= 18;
    for my $m ('standardwebhooks', 'stripe', '@octokit/webhooks-methods') {
        push @problems, "$dir/node_modules/$m is missing (make test runs"
                        . " npm ci --prefix t/interop)"
            unless -d "$dir/node_modules/$m";
    }
    if (@problems) {
        Test::More::fail("interop prerequisites: $_") for @problems;
        Test::More::done_testing();
        exit 1;
    }
}

our $LogText = '';
our $Blackhole;
our $Sleep = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;

# delivery subscriptions: A signs every scheme; B's secret is no base64
# (no standard signature), for github and stripe keyed with a plain string
our $SecretA = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $SecretB = "It's a Secret to Everybody";
our $UrlA = 'http://127.0.0.1:19896/a/';
our $UrlB = 'http://127.0.0.1:19896/b/';

# receiver locations
our $StdSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $StdOther = 'whsec_YW5vdGhlciBrZXkgb2YgMzIgYnl0ZXMsIGV4YWN0bHk=';
our $GhSecret = 'gh-interop secret';
our $StripeSecret = 'whsec_stripe_interop_secret';

# UTF-8 bytes on purpose: the libraries hash the UTF-8 encoding
our $Body = '{"id":"evt_1","text":"caf' . "\xc3\xa9" . ' \"q\"","n":[1,2]}';
our $Tampered = '{"id":"evt_1","text":"caf' . "\xc3\xa9" . ' \"q\"","n":[1,3]}';

# name => [scheme, secret the library signs with, body it signs,
#          body sent, timestamp offset, header left out, secret the
#          receiver has]
our %Cases = (
    'standard-ok'       => ['standard', $StdSecret, $Body, $Body, 0, undef],
    'standard-tampered' => ['standard', $StdSecret, $Body, $Tampered, 0, undef],
    'standard-secret'   => ['standard', $StdOther, $Body, $Body, 0, undef],
    'standard-stale'    => ['standard', $StdSecret, $Body, $Body, -3600, undef],
    'standard-missing'  => ['standard', $StdSecret, $Body, $Body, 0,
                            'webhook-signature'],
    'github-ok'         => ['github', $GhSecret, $Body, $Body, 0, undef],
    'github-tampered'   => ['github', $GhSecret, $Body, $Tampered, 0, undef],
    'github-secret'     => ['github', 'another secret', $Body, $Body, 0, undef],
    'github-missing'    => ['github', $GhSecret, $Body, $Body, 0,
                            'X-Hub-Signature-256'],
    'stripe-ok'         => ['stripe', $StripeSecret, $Body, $Body, 0, undef],
    'stripe-tampered'   => ['stripe', $StripeSecret, $Body, $Tampered, 0, undef],
    'stripe-secret'     => ['stripe', 'whsec_another', $Body, $Body, 0, undef],
    'stripe-stale'      => ['stripe', $StripeSecret, $Body, $Body, -3600, undef],
    'stripe-missing'    => ['stripe', $StripeSecret, $Body, $Body, 0,
                            'Stripe-Signature'],
);

our %ReceiverSecret = (standard => $StdSecret, github => $GhSecret,
                       stripe => $StripeSecret);

# runs a node script; returns (exit status, stdout, stderr)
sub node {
    my ($script, @args) = @_;
    my $err = File::Temp->new;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', $err or die "stderr: $!";
        exec 'node', "$main::Interop/$script", @args or die "exec node: $!";
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my $rc = $? >> 8;
    seek $err, 0, 0;
    my $stderr = <$err> // '';
    return ($rc, $out, $stderr);
}

# the headers and body of a case, signed once by the library
our %Req;
sub req {
    my ($name) = @_;
    return $Req{$name} if $Req{$name};
    my $c = $Cases{$name} or die "no case $name";
    my ($scheme, $secret, $signed, $sent, $dt, $drop) = @$c;
    my ($rc, $out, $err) = node('sign.js', $scheme, $secret, $signed,
                                int(time) + $dt);
    die "sign.js $scheme failed ($rc): $err" if $rc != 0 || $out eq '';
    my @h = grep { !defined $drop || !/^\Q$drop\E:/i } split /\n/, $out;
    return $Req{$name} = { scheme => $scheme, body => $sent,
                           headers => join('', map { "$_\n" } @h) };
}

# what the library says about headers + body: 0 accepted, 1 rejected
sub lib_verify {
    my ($scheme, $secret, $headers, $body) = @_;
    my $f = File::Temp->new;
    binmode $f;
    print $f $headers, "\n", $body;
    close $f;
    my ($rc, $out, $err) = node('verify.js', $scheme, $secret, $f->filename);
    Test::More::diag("verify.js $scheme: exit $rc: $err") if $rc > 1;
    return wantarray ? ($rc, $err) : $rc;
}

sub lib_check {
    my ($name, $want) = @_;
    my $r = req($name);
    my ($rc, $err) = lib_verify($r->{scheme},
                                $ReceiverSecret{$r->{scheme}},
                                $r->{headers}, $r->{body});
    Test::More::is($rc, $want, "$name: the library "
                   . ($want ? 'rejects' : 'accepts') . " it too")
        or Test::More::diag($err);
}

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;

    log_format  recv escape=none
                'RECV uri=$uri id=$http_webhook_id ts=$http_webhook_timestamp '
                'sig=$http_webhook_signature '
                'github=$http_x_hub_signature_256 stripe=$http_stripe_signature '
                'body=$request_body.';

    server {
        listen       127.0.0.1:19896;
        access_log   logs/error.log recv;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19897;
        }
    }

    server {
        listen       127.0.0.1:19897;
        access_log   off;

        location / {
            return  200 "ok";
        }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    resolver  127.0.0.1:19898 ipv6=off;

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
        webhook_retry    off;

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    webhook-timestamp $webhook_timestamp;
        proxy_set_header    webhook-signature $webhook_signature;
        proxy_set_header    X-Hub-Signature-256 $webhook_signature_github;
        proxy_set_header    Stripe-Signature $webhook_signature_stripe;
    }

    location = /echo {
        client_body_buffer_size 64k;
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ret;
    }

    location = /ret {
        return 200 $http_x_body;
    }

    location = /standard {
        webhook_verify standard secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /github {
        webhook_verify github "secret=gh-interop secret";
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /stripe {
        webhook_verify stripe secret=whsec_stripe_interop_secret tolerance=5m;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /sleep {
        proxy_pass          http://127.0.0.1:19899;
        proxy_read_timeout  8s;
    }

    location = /log {
        return 200 "up";
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# the newest attempt of each path has settled
sub wait_delivered {
    my (@paths) = @_;

    my $deadline = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 20);
    my %left = map { $_ => 1 } @paths;

    while (%left && time < $deadline) {
        for my $path (keys %left) {
            my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT},
                                               'GET', $path);
            delete $left{$path}
                if $st == 200
                   && $body =~ /^\{"attempts":\[\{[^}]*"state":"(?:delivered|failed)"/;
        }

        sleep 0.2 if %left;
    }

    return sort keys %left;
}

sub slurp_log {
    my $file = servroot() . '/logs/error.log';
    open my $fh, '<', $file or return '';
    binmode $fh;
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# the delivery the receiver got at "uri": (headers as a recorded request, body)
sub recorded {
    my ($uri) = @_;
    my ($line) = grep { /^RECV uri=\Q$uri\E / } split /\n/, $main::LogText;
    return unless defined $line;
    my ($id, $ts, $sig, $gh, $stripe, $body) = $line =~
        /^RECV uri=\S+ id=(\S*) ts=(\S*) sig=(.*?) github=(\S*) stripe=(\S*) body=(.*)\.$/
        or return;
    my %h;
    $h{'webhook-id'} = $id if $id ne '-';
    $h{'webhook-timestamp'} = $ts if $ts ne '-';
    $h{'webhook-signature'} = $sig if $sig ne '-';
    $h{'X-Hub-Signature-256'} = $gh if $gh ne '-';
    $h{'Stripe-Signature'} = $stripe if $stripe ne '-';
    return (\%h, $body);
}

sub headers_text {
    my ($h, @names) = @_;
    return join '', map { "$_: $h->{$_}\n" } grep { defined $h->{$_} } @names;
}

our @std_names = qw(webhook-id webhook-timestamp webhook-signature);

# the module's delivery, checked by the library; the same with a tampered
# body must be rejected (so an acceptance means something)
sub check_delivery {
    my ($uri, $scheme, $secret, @names) = @_;
    my ($h, $body) = recorded($uri);
    Test::More::ok($h, "$scheme: the receiver recorded $uri")
        or return Test::More::diag($main::LogText);
    Test::More::ok(defined $h->{$_}, "$scheme: $uri got $_") for @names;
    my ($rc, $err) = lib_verify($scheme, $secret, headers_text($h, @names),
                                $body);
    Test::More::is($rc, 0, "$scheme: the library accepts the module's"
                           . " delivery to $uri")
        or Test::More::diag("$err\n" . headers_text($h, @names) . "\n$body");
    ($rc) = lib_verify($scheme, $secret, headers_text($h, @names),
                       $body . ' ');
    Test::More::is($rc, 1, "$scheme: the library rejects it with a tampered"
                           . " body");
    ($rc) = lib_verify($scheme, $scheme eq 'standard' ? $StdOther : 'x',
                       headers_text($h, @names), $body);
    Test::More::is($rc, 1, "$scheme: the library rejects it with another"
                           . " secret");
}

run_tests();

__DATA__

=== TEST 1: subscription A: a whsec_ secret, every scheme signs
--- request eval
"POST /hooks
{\"action\":\"ev.interop\",\"target_url\":\"$main::UrlA\",\"secret\":\"$main::SecretA\"}"
--- error_code: 201
--- save_id: a



=== TEST 2: subscription B: a plain-string secret (github, stripe)
--- request eval
"POST /hooks
{\"action\":\"ev.interop\",\"target_url\":\"$main::UrlB\",\"secret\":\"$main::SecretB\"}"
--- error_code: 201
--- save_id: b



=== TEST 3: publish one event to both
--- before
$main::Blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => 19899, Listen => 16,
                                         ReuseAddr => 1)
    or die "cannot listen on 19899: $!";
--- request eval
[
"POST /events
[{\"action\":\"ev.interop\",\"id\":\"evt-interop-1\",\"payload\":$main::Body}]",
$main::Sleep ? ('GET /sleep') : ()
]
--- error_code eval
[202, $main::Sleep ? (504) : ()]
--- response_body_like eval
[qr/^\[\{"id":"evt-interop-1","deliveries":2\}\]$/, $main::Sleep ? (qr//) : ()]
--- timeout: 20



=== TEST 4: both deliveries settle
--- before
my ($up) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'GET', '/log');
if ($up) {
    my @left = main::wait_delivered(
        '/hooks/' . saved_id('a') . '/deliveries',
        '/hooks/' . saved_id('b') . '/deliveries');
    is("@left", "", "TEST 4: every delivery settled");
}
$main::LogText = main::slurp_log();
close $main::Blackhole if $main::Blackhole;
--- request
GET /log
--- response_body chomp
up



=== TEST 5: the payload arrived as published
--- before
my ($h, $body) = main::recorded('/a/');
is($body, $main::Body, 'TEST 5: the body the receiver got');
--- request
GET /log
--- response_body chomp
up



=== TEST 6: standardwebhooks verifies the module's $webhook_signature
--- before
main::check_delivery("/a/", "standard", $main::SecretA, @main::std_names);
--- request
GET /log
--- response_body chomp
up



=== TEST 7: @octokit/webhooks-methods verifies $webhook_signature_github
--- before
main::check_delivery('/a/', 'github', $main::SecretA, 'X-Hub-Signature-256');
main::check_delivery('/b/', 'github', $main::SecretB, 'X-Hub-Signature-256');
--- request
GET /log
--- response_body chomp
up



=== TEST 8: stripe's constructEvent verifies $webhook_signature_stripe
--- before
main::check_delivery('/a/', 'stripe', $main::SecretA, 'Stripe-Signature');
main::check_delivery('/b/', 'stripe', $main::SecretB, 'Stripe-Signature');
--- request
GET /log
--- response_body chomp
up



=== TEST 9: standard: signed by standardwebhooks, passes webhook_verify
--- before
main::lib_check('standard-ok', 0);
--- request eval
"POST /standard\n" . main::req('standard-ok')->{body}
--- more_headers eval
main::req('standard-ok')->{headers}
--- error_code: 200
--- response_body eval
$main::Body
--- no_error_log
webhook signature rejected



=== TEST 10: standard: a tampered body
--- before
main::lib_check('standard-tampered', 1);
--- request eval
"POST /standard\n" . main::req('standard-tampered')->{body}
--- more_headers eval
main::req('standard-tampered')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 11: standard: a wrong secret
--- before
main::lib_check('standard-secret', 1);
--- request eval
"POST /standard\n" . main::req('standard-secret')->{body}
--- more_headers eval
main::req('standard-secret')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 12: standard: a stale timestamp
--- before
main::lib_check('standard-stale', 1);
--- request eval
"POST /standard\n" . main::req('standard-stale')->{body}
--- more_headers eval
main::req('standard-stale')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: timestamp_out_of_tolerance
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 13: standard: no webhook-signature header
--- before
main::lib_check('standard-missing', 1);
--- request eval
"POST /standard\n" . main::req('standard-missing')->{body}
--- more_headers eval
main::req('standard-missing')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 14: github: signed by @octokit/webhooks-methods, passes webhook_verify
--- before
main::lib_check('github-ok', 0);
--- request eval
"POST /github\n" . main::req('github-ok')->{body}
--- more_headers eval
main::req('github-ok')->{headers}
--- error_code: 200
--- response_body eval
$main::Body
--- no_error_log
webhook signature rejected



=== TEST 15: github: a tampered body
--- before
main::lib_check('github-tampered', 1);
--- request eval
"POST /github\n" . main::req('github-tampered')->{body}
--- more_headers eval
main::req('github-tampered')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 16: github: a wrong secret
--- before
main::lib_check('github-secret', 1);
--- request eval
"POST /github\n" . main::req('github-secret')->{body}
--- more_headers eval
main::req('github-secret')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 17: github: no X-Hub-Signature-256 header
--- before
main::lib_check('github-missing', 1);
--- request eval
"POST /github\n" . main::req('github-missing')->{body}
--- more_headers eval
main::req('github-missing')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 18: stripe: signed by stripe's generateTestHeaderString, passes webhook_verify
--- before
main::lib_check('stripe-ok', 0);
--- request eval
"POST /stripe\n" . main::req('stripe-ok')->{body}
--- more_headers eval
main::req('stripe-ok')->{headers}
--- error_code: 200
--- response_body eval
$main::Body
--- no_error_log
webhook signature rejected



=== TEST 19: stripe: a tampered body
--- before
main::lib_check('stripe-tampered', 1);
--- request eval
"POST /stripe\n" . main::req('stripe-tampered')->{body}
--- more_headers eval
main::req('stripe-tampered')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 20: stripe: a wrong secret
--- before
main::lib_check('stripe-secret', 1);
--- request eval
"POST /stripe\n" . main::req('stripe-secret')->{body}
--- more_headers eval
main::req('stripe-secret')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 21: stripe: a stale timestamp
--- before
main::lib_check('stripe-stale', 1);
--- request eval
"POST /stripe\n" . main::req('stripe-stale')->{body}
--- more_headers eval
main::req('stripe-stale')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: timestamp_out_of_tolerance
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 22: stripe: no Stripe-Signature header
--- before
main::lib_check('stripe-missing', 1);
--- request eval
"POST /stripe\n" . main::req('stripe-missing')->{body}
--- more_headers eval
main::req('stripe-missing')->{headers}
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header
--- response_body chomp
{"error":"invalid_signature"}
