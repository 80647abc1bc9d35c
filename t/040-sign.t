# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Signatures (DESIGN section 5): set_webhook_signature against the two
# published test vectors and against answers Perl computes on its own
# (Digest::SHA, MIME::Base64), wrong and undecodable secrets; then the
# $webhook_signature* variables of a delivery, checked against the body
# and the timestamp the receiver got.
#
# Receiver: 127.0.0.1:19891 logs what it gets (into error.log, as SIGNED
# lines) and proxies to 19892, which answers 200; 19893 accepts
# connections and never answers (under valgrind, nginx stops after every
# block, so the publishing block waits itself, with a slow request);
# 19895 is a resolver address nothing asks.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use Digest::SHA ();
use MIME::Base64 ();
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

no_shuffle();

our $LogText = '';
our $Blackhole;
our $Sleep = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;

our $Secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $Url = 'http://127.0.0.1:19891/signed/';

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;

    log_format  signed escape=none
                'SIGNED id=$http_webhook_id ts=$http_webhook_timestamp '
                'sig=$http_webhook_signature hex=$http_x_hex '
                'github=$http_x_hub_signature_256 stripe=$http_stripe_signature '
                'sha512=$http_x_sha512 body=$request_body.';

    server {
        listen       127.0.0.1:19891;
        access_log   logs/error.log signed;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19892;
        }
    }

    server {
        listen       127.0.0.1:19892;
        access_log   off;

        location / {
            return  200 "ok";
        }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    resolver  127.0.0.1:19895 ipv6=off;

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
        proxy_set_header    X-Hex $webhook_signature_hex;
        proxy_set_header    X-Hub-Signature-256 $webhook_signature_github;
        proxy_set_header    Stripe-Signature $webhook_signature_stripe;
        proxy_set_header    X-Sha512 $webhook_signature_sha512;
    }

    location = /standard {
        set_webhook_signature  $sig standard
                               whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                               msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330
                               '{"test": 2432232314}';
        return 200 $sig;
    }

    location = /standard/noprefix {
        set_webhook_signature  $sig standard MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                               msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330
                               '{"test": 2432232314}';
        return 200 $sig;
    }

    location = /github {
        set_webhook_signature  $sig github "It's a Secret to Everybody"
                               "Hello, World!";
        return 200 $sig;
    }

    # values come from variables, set in order before and after
    location = /vars {
        set                    $secret $arg_secret;
        set_webhook_signature  $sig hex $secret $arg_payload;
        set                    $out "[$sig]";
        return 200 $out;
    }

    location = /hex {
        set_webhook_signature  $sig hex whsec_abc '{"a":1}';
        return 200 $sig;
    }

    location = /stripe {
        set_webhook_signature  $sig stripe whsec_abc 1700000000 '{"a":1}';
        return 200 $sig;
    }

    location = /sha512 {
        set_webhook_signature  $sig sha512 whsec_abc
                               https://example.com/hook '{"a":1}';
        return 200 $sig;
    }

    location = /standard/wrong {
        set_webhook_signature  $sig standard
                               whsec_NfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                               msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330
                               '{"test": 2432232314}';
        return 200 $sig;
    }

    location = /standard/bad {
        set_webhook_signature  $sig standard whsec_not*base64!
                               msg_1 1614265330 '{}';
        return 200 "[$sig]";
    }

    location = /sleep {
        proxy_pass          http://127.0.0.1:19893;
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
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

sub standard {
    my ($secret, $id, $ts, $payload) = @_;
    $secret =~ s/^whsec_//;
    return 'v1,' . MIME::Base64::encode_base64(
        Digest::SHA::hmac_sha256("$id.$ts.$payload",
                                 MIME::Base64::decode_base64($secret)), '');
}

run_tests();

__DATA__

=== TEST 1: standard: the Standard Webhooks test vector
--- request
GET /standard
--- response_body chomp
v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
--- no_error_log
[error]



=== TEST 2: standard: the "whsec_" prefix is optional
--- request
GET /standard/noprefix
--- response_body chomp
v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=



=== TEST 3: github: GitHub's test vector
--- request
GET /github
--- response_body chomp
sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- no_error_log
[error]



=== TEST 4: hex: keyed with the secret string as it is, "whsec_" included
--- request
GET /hex
--- response_body eval
Digest::SHA::hmac_sha256_hex('{"a":1}', 'whsec_abc')



=== TEST 5: stripe: t=, then v1= over "{timestamp}.{payload}"
--- request
GET /stripe
--- response_body eval
't=1700000000,v1=' . Digest::SHA::hmac_sha256_hex('1700000000.{"a":1}',
                                                  'whsec_abc')



=== TEST 6: sha512: a plain hash of secret, url and payload
--- request
GET /sha512
--- response_body eval
Digest::SHA::sha512_hex('whsec_abchttps://example.com/hook{"a":1}')



=== TEST 7: values from variables, in "set" order
--- request
GET /vars?secret=k3y&payload=hello
--- response_body eval
'[' . Digest::SHA::hmac_sha256_hex('hello', 'k3y') . ']'



=== TEST 8: another secret gives another signature
--- request
GET /standard/wrong
--- response_body eval
main::standard('whsec_NfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
               'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
               '{"test": 2432232314}')



=== TEST 9: another secret gives another hex signature
--- request
GET /vars?secret=k3y2&payload=hello
--- response_body_like eval
'^\[(?!' . Digest::SHA::hmac_sha256_hex('hello', 'k3y') . ')[0-9a-f]{64}\]$'



=== TEST 10: standard: a secret that does not decode: empty, one error line
--- request
GET /standard/bad
--- response_body chomp
[]
--- error_log
set_webhook_signature: the secret does not decode as a standard webhooks key
--- no_error_log eval
qr/\[error\].*not\*base64/



=== TEST 11: an unknown scheme is refused at configuration
--- config
    location = /x {
        set_webhook_signature  $sig md5 secret data;
        return 200 $sig;
    }
--- must_die
--- error_log
unknown signature scheme "md5"



=== TEST 12: too few data values for the scheme are refused
--- config
    location = /x {
        set_webhook_signature  $sig stripe secret data;
        return 200 $sig;
    }
--- must_die
--- error_log
signature scheme "stripe" takes a secret and 2 data values



=== TEST 13: a subscription with the test vector's secret
--- request eval
"POST /hooks
{\"action\":\"ev.sig\",\"target_url\":\"$main::Url\",\"secret\":\"$main::Secret\"}"
--- error_code: 201
--- save_id: sig



=== TEST 14: a subscription whose secret is no base64
--- request
POST /hooks
{"action":"ev.sig","target_url":"http://127.0.0.1:19891/bad/","secret":"s3cr3t!"}
--- error_code: 201
--- save_id: bad



=== TEST 15: publish to both
--- before
$main::Blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => 19893, Listen => 16,
                                         ReuseAddr => 1)
    or die "cannot listen on 19893: $!";
--- request eval
[
'POST /events
[{"action":"ev.sig","id":"sig-1","payload":{"n": 1, "s": "a\u00e9\"b"}}]',
$main::Sleep ? ('GET /sleep') : ()
]
--- error_code eval
[202, $main::Sleep ? (504) : ()]
--- response_body_like eval
[qr/^\[\{"id":"sig-1","deliveries":2\}\]$/, $main::Sleep ? (qr//) : ()]
--- timeout: 20



=== TEST 16: both deliveries settle
--- before
my ($up) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'GET', '/log');
if ($up) {
    my @left = main::wait_delivered(
        '/hooks/' . saved_id('sig') . '/deliveries',
        '/hooks/' . saved_id('bad') . '/deliveries');
    is("@left", "", "TEST 16: every delivery settled");
}
$main::LogText = main::slurp_log();
close $main::Blackhole if $main::Blackhole;
--- request
GET /log
--- response_body chomp
up



=== TEST 17: what the receiver got is signed, with the timestamp it got
--- before
my ($line) = grep { /SIGNED id=sig-1 / && !/ sig= / }
             split /\n/, $main::LogText;
$line //= '';
my ($id, $ts, $sig, $hex, $gh, $stripe, $sha512, $body) = $line =~
    /SIGNED id=(\S*) ts=(\d*) sig=(\S*) hex=(\S*) github=(\S*) stripe=(\S*) sha512=(\S*) body=(.*)\.$/;
is($id, 'sig-1', 'TEST 17: the event id');
ok(defined $ts && abs($ts - time) < 120, 'TEST 17: the timestamp');
is($body, '{"n": 1, "s": "a\u00e9\"b"}', 'TEST 17: the payload');
is($sig, main::standard($main::Secret, $id, $ts, $body // ''),
   'TEST 17: webhook-signature');
is($hex, Digest::SHA::hmac_sha256_hex($body // '', $main::Secret),
   'TEST 17: hex');
is($gh, 'sha256=' . Digest::SHA::hmac_sha256_hex($body // '', $main::Secret),
   'TEST 17: github');
is($stripe, "t=$ts,v1="
            . Digest::SHA::hmac_sha256_hex("$ts." . ($body // ''),
                                           $main::Secret),
   'TEST 17: stripe, with the same timestamp');
is($sha512, Digest::SHA::sha512_hex($main::Secret . $main::Url
                                    . ($body // '')),
   'TEST 17: sha512');
--- request
GET /log
--- response_body chomp
up



=== TEST 18: an undecodable secret: no standard signature, the others stay
--- before
my ($line) = grep { m{SIGNED id=sig-1 .* sig= hex=} } split /\n/,
                  $main::LogText;
$line //= '';
my ($body) = $line =~ / body=(.*)\.$/;
my $hex = Digest::SHA::hmac_sha256_hex($body // '', 's3cr3t!');
like($line, qr/ sig= hex=[0-9a-f]{64} /, 'TEST 18: empty signature');
like($line, qr/ hex=\Q$hex\E /, 'TEST 18: hex still signs');
my @err = grep { /does not decode as a standard webhooks key/ }
          split /\n/, $main::LogText;
is(scalar @err, 1, 'TEST 18: one error line');
unlike($main::LogText, qr/s3cr3t!/, 'TEST 18: the secret is not logged');
--- request
GET /log
--- response_body chomp
up
