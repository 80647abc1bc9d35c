# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Secret rotation: POST P/{id}/secret/rotate answers the subscription with
# a new secret; for the grace period $webhook_signature carries one entry
# per live secret, newest first, the single-value schemes use the newest;
# a grace of 0 drops the old one at once; rotations survive a restart.

use Test::Nginx::Socket;
use WebhookTest;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(sleep time);

no_shuffle();

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs nginx running between blocks');

} else {
    plan('no_plan');
}

our $Log = File::Spec->rel2abs('t/servroot-state/043-rotate-received.log');
unlink $Log;
$ENV{TEST_NGINX_RECEIVED} = $Log;

our $OldKey = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;

    log_format  received escape=none
                '$http_webhook_id|$http_webhook_timestamp|'
                '$http_webhook_signature|$http_x_hub_signature_256|'
                '$request_body';

    server {
        listen  127.0.0.1:19881;

        client_body_in_single_buffer  on;

        location / {
            access_log  $TEST_NGINX_RECEIVED received;
            proxy_pass  http://127.0.0.1:19882;
        }
    }

    server {
        listen      127.0.0.1:19882;
        access_log  off;
        return      200;
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }

    location /short/hooks {
        webhook_api           zone=hooks;
        webhook_tenant        org1;
        webhook_secret_grace  1s;
    }

    location /nograce/hooks {
        webhook_api           zone=hooks;
        webhook_tenant        org1;
        webhook_secret_grace  0;
    }

    location = /events {
        webhook_publish  zone=hooks;
        webhook_tenant   org1;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        webhook_retry    off;

        resolver            127.0.0.1:19883;
        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    webhook-timestamp $webhook_timestamp;
        proxy_set_header    webhook-signature $webhook_signature;
        proxy_set_header    X-Hub-Signature-256 $webhook_signature_github;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub std_sig {
    my ($secret, $id, $ts, $body) = @_;
    (my $key = $secret) =~ s/^whsec_//;
    return 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body",
                                             decode_base64($key)), '');
}

# publishes one event and returns the receiver's line for it
sub deliver_one {
    my ($id) = @_;
    my ($st) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST', '/events',
        ['Content-Type: application/json'],
        "{\"action\":\"a.b\",\"id\":\"$id\",\"resource\":{\"n\":1}}");
    return "publish: $st" unless $st == 202;

    my $deadline = time + 10;
    while (time < $deadline) {
        if (open my $fh, '<', $main::Log) {
            my @hit = grep { /^\Q$id\E\|/ } <$fh>;
            close $fh;
            if (@hit) {
                chomp $hit[0];
                return $hit[0];
            }
        }
        sleep 0.1;
    }
    return "not delivered: $id";
}

run_tests();

__DATA__

=== TEST 1: a subscription with a known secret
--- request eval
"POST /hooks\n{\"action\":\"a.b\",\"target_url\":\"http://127.0.0.1:19881/r\",\"secret\":\"whsec_$main::OldKey\"}"
--- error_code: 201
--- save_id: a



=== TEST 2: rotate: a new secret, __v 1; the old one still signs beside it
--- before
my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST',
    '/hooks/' . saved_id('a') . '/secret/rotate');
is($st, 200, "TEST 2: rotate answers 200");
like($body, qr/"_id":"\Q${\ saved_id('a')}\E".*"secret":"whsec_[A-Za-z0-9+\/]{32}".*"__v":1\}$/,
     "TEST 2: the subscription, with a new secret and __v 1");
my ($new) = $body =~ /"secret":"([^"]+)"/;
isnt($new, "whsec_$main::OldKey", "TEST 2: the secret changed");
$main::NewSecret = $new;
my $line = main::deliver_one('rot-1');
my ($id, $ts, $sig, $hub, $b) = split /\|/, $line, 5;
is($sig, main::std_sig($new, $id, $ts, $b) . ' '
         . main::std_sig("whsec_$main::OldKey", $id, $ts, $b),
   "TEST 2: webhook-signature: the new secret's entry, then the old one's");
is($hub, 'sha256=' . hmac_sha256_hex($b, $new),
   "TEST 2: the single-value schemes use the newest secret");
--- request
GET /hooks/{{a}}
--- response_body_like chomp
"secret":"whsec_[A-Za-z0-9+/]{32}".*"__v":1\}$



=== TEST 3: the rotation survived the restart: still two entries
--- before
my $line = main::deliver_one('rot-2');
my ($id, $ts, $sig, $hub, $b) = split /\|/, $line, 5;
is($sig, main::std_sig($main::NewSecret, $id, $ts, $b) . ' '
         . main::std_sig("whsec_$main::OldKey", $id, $ts, $b),
   "TEST 3: after a restart, both entries, newest first");
--- request
GET /hooks/{{a}}
--- response_body_like chomp
"__v":1\}$



=== TEST 4: with webhook_secret_grace 0 the old secret stops signing at once
--- before
my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST',
    '/nograce/hooks/' . saved_id('a') . '/secret/rotate');
is($st, 200, "TEST 4: rotate answers 200");
my ($new) = $body =~ /"secret":"([^"]+)"/;
my $line = main::deliver_one('rot-3');
my ($id, $ts, $sig, $hub, $b) = split /\|/, $line, 5;
is($sig, main::std_sig($new, $id, $ts, $b) . ' '
         . main::std_sig("whsec_$main::OldKey", $id, $ts, $b),
   "TEST 4: the secret rotated out stops signing at once; the one of the "
   . "earlier rotation is still in its grace period");
--- request eval
["POST /hooks/0123456789abcdef01234567/secret/rotate", "GET /hooks/{{a}}/secret/rotate"]
--- error_code eval
[404, 405]
--- response_headers_like eval
["Content-Type: application/json", "Allow: POST"]



=== TEST 5: a secret past its grace period is dropped
--- before
my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST',
    '/short/hooks/' . saved_id('a') . '/secret/rotate');
is($st, 200, "TEST 5: rotate answers 200");
my ($new) = $body =~ /"secret":"([^"]+)"/;
my $line = main::deliver_one('rot-4');
my ($id, $ts, $sig, $hub, $b) = split /\|/, $line, 5;
is(scalar(split / /, $sig), 3, "TEST 5: within the second, three entries");
sleep 1.5;
$line = main::deliver_one('rot-5');
($id, $ts, $sig, $hub, $b) = split /\|/, $line, 5;
is($sig, main::std_sig($new, $id, $ts, $b) . ' '
         . main::std_sig("whsec_$main::OldKey", $id, $ts, $b),
   "TEST 5: after it, the secret rotated out with a 1s grace is gone");
--- request
GET /hooks/{{a}}
--- response_body_like chomp
"__v":3\}$
