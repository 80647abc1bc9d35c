# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# The receiver role (DESIGN section 7): webhook_verify reads the body in the
# pre-content phase, from memory or a temp file, and either passes the
# request on with its body unchanged or answers 401 invalid_signature;
# $webhook_verified and $webhook_verify_error say what happened.
#
# Each verify location proxies to /echo, which proxies to /ret with the
# body it got in X-Body; /ret answers with it, so a response body equal to
# the request body shows the body reached the upstream unchanged.
# Signatures are computed here, in Perl.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use Digest::SHA qw(hmac_sha256 hmac_sha256_hex sha512_hex);
use MIME::Base64 qw(encode_base64 decode_base64);

no_shuffle();

our $StdSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
our $StdSecret2 = 'whsec_'
                  . encode_base64('another key of 32 bytes, exactly', '');
our $GhSecret = "It's a Secret to Everybody";
our $StripeSecret = 'whsec_stripe_test_secret';
our $HexSecret = 'b5ef1a2c-hex-secret';
our $VelloSecret = 'vello-secret';
our $Large = '{"data":"' . ('x' x 6000) . '"}';

# Standard Webhooks headers for "body", "dt" seconds away from now
sub std {
    my ($secret, $body, %o) = @_;
    my $prefix = $o{prefix} // 'webhook';
    my $id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    my $ts = time() + ($o{dt} // 0);
    (my $k = $secret) =~ s/^whsec_//;
    my $sig = encode_base64(hmac_sha256("$id.$ts.$body", decode_base64($k)),
                            '');
    my $sigs = $o{sigs} // "v1,$sig";
    $sigs =~ s/\{SIG\}/$sig/g;
    return "$prefix-id: $id\n$prefix-timestamp: $ts\n"
           . "$prefix-signature: $sigs\n";
}

sub stripe {
    my ($secret, $body, %o) = @_;
    my $ts = time() + ($o{dt} // 0);
    my $sig = hmac_sha256_hex("$ts.$body", $secret);
    my $v = $o{value} // "t=$ts,v1=$sig";
    $v =~ s/\{SIG\}/$sig/g;
    $v =~ s/\{T\}/$ts/g;
    return "Stripe-Signature: $v\n";
}

sub gh {
    my ($secret, $body) = @_;
    return "X-Hub-Signature-256: sha256=" . hmac_sha256_hex($body, $secret)
           . "\n";
}

webhook_setup(
    http_config => <<'_EOC_',
    log_format verify '$uri verified=$webhook_verified '
                      'error=$webhook_verify_error';
_EOC_
    config => <<'_EOC_',
    large_client_header_buffers 4 64k;
    access_log logs/access.log verify;

    location = /echo {
        client_body_buffer_size 64k;
        proxy_set_header X-Body $request_body;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ret;
    }

    location = /ret {
        return 200 $http_x_body;
    }

    location = /standard {
        webhook_verify standard secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                       tolerance=10m;
        add_header X-Verified $webhook_verified always;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /rotation {
        set $new_secret "whsec_YW5vdGhlciBrZXkgb2YgMzIgYnl0ZXMsIGV4YWN0bHk=";
        webhook_verify standard secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
                       secret=$new_secret;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /large {
        client_body_buffer_size 1k;
        webhook_verify standard secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /github {
        webhook_verify github "secret=It's a Secret to Everybody";
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /stripe {
        webhook_verify stripe secret=whsec_stripe_test_secret tolerance=10m;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /hex {
        webhook_verify hex header=X-API-SIGNATURE
                       secret=b5ef1a2c-hex-secret;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /vello {
        webhook_verify sha512 secret=vello-secret;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /vello-url {
        webhook_verify sha512 secret=vello-secret
                       url=https://example.com/hooks/$arg_tenant;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /token {
        webhook_verify token header=X-Token secret=tok-one secret=tok-two;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /denied {
        deny all;
        webhook_verify github "secret=It's a Secret to Everybody";
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /any {
        satisfy any;
        allow all;
        auth_basic "hooks";
        auth_basic_user_file /nonexistent;
        webhook_verify github "secret=It's a Secret to Everybody";
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /empty {
        webhook_verify token header=X-Token secret=$arg_s;
        add_header X-Verify-Error $webhook_verify_error always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    location = /plain {
        add_header X-Verified $webhook_verified;
        return 200 "plain";
    }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: standard: a valid request passes with its body unchanged
--- request eval
"POST /standard\n" . '{"test": 2432232314}'
--- more_headers eval
main::std($main::StdSecret, '{"test": 2432232314}')
--- error_code: 200
--- response_headers
X-Verified: 1
--- response_body chomp
{"test": 2432232314}
--- no_error_log
[error]
webhook signature rejected



=== TEST 2: standard: svix-* headers
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}', prefix => 'svix')
--- error_code: 200
--- response_body chomp
{"a":1}



=== TEST 3: standard: any one v1 entry matching passes
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}',
          sigs => 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz v1,{SIG}')
--- error_code: 200
--- response_body chomp
{"a":1}



=== TEST 4: standard: a tampered body is 401 mismatch
--- request eval
"POST /standard\n" . '{"a":2}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}')
--- error_code: 401
--- response_headers
Content-Type: application/json
X-Verified: 0
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}
--- error_log
webhook signature rejected: mismatch
--- no_error_log
[error]



=== TEST 5: standard: a wrong secret is 401 mismatch
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret2, '{"a":1}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 6: standard: a missing header is 401 missing_header
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers
webhook-id: msg_1
webhook-timestamp: 1614265330
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 7: standard: no v1 entry is 401 bad_format
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}', sigs => 'v2,{SIG} v1,@@@@')
--- error_code: 401
--- response_headers
X-Verify-Error: bad_format
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 8: standard: a timestamp that is not a number is 401 bad_format
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers
webhook-id: msg_1
webhook-timestamp: 16142x65330
webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
--- error_code: 401
--- response_headers
X-Verify-Error: bad_format



=== TEST 9: standard: a stale timestamp is 401 timestamp_out_of_tolerance
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}', dt => -3600)
--- error_code: 401
--- response_headers
X-Verify-Error: timestamp_out_of_tolerance
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 10: standard: a timestamp in the future too
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}', dt => 3600)
--- error_code: 401
--- response_headers
X-Verify-Error: timestamp_out_of_tolerance



=== TEST 11: standard: within the tolerance passes
--- request eval
"POST /standard\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}', dt => -300)
--- error_code: 200
--- response_body chomp
{"a":1}



=== TEST 12: rotation: the old secret passes
--- request eval
"POST /rotation\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret, '{"a":1}')
--- error_code: 200
--- response_body chomp
{"a":1}



=== TEST 13: rotation: the new secret (a variable) passes
--- request eval
"POST /rotation\n" . '{"a":1}'
--- more_headers eval
main::std($main::StdSecret2, '{"a":1}')
--- error_code: 200
--- response_body chomp
{"a":1}



=== TEST 14: rotation: a third secret does not
--- request eval
"POST /rotation\n" . '{"a":1}'
--- more_headers eval
main::std('whsec_' . MIME::Base64::encode_base64('x' x 32, ''), '{"a":1}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 15: a body in a temp file is checked and reaches the upstream unchanged
--- request eval
"POST /large\n" . $main::Large
--- more_headers eval
main::std($main::StdSecret, $main::Large)
--- error_code: 200
--- response_body eval
$main::Large
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]
webhook signature rejected



=== TEST 16: a tampered body in a temp file is 401
--- request eval
"POST /large\n" . $main::Large . ' '
--- more_headers eval
main::std($main::StdSecret, $main::Large . 'x')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}
--- error_log
a client request body is buffered to a temporary file



=== TEST 17: github: DESIGN's test vector passes
--- request
POST /github
Hello, World!
--- more_headers
X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 200
--- response_body chomp
Hello, World!



=== TEST 18: github: a tampered body
--- request
POST /github
Hello, World?
--- more_headers
X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 19: github: a wrong secret
--- request eval
"POST /github\n" . '{"a":1}'
--- more_headers eval
main::gh('wrong', '{"a":1}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 20: github: no header
--- request eval
"POST /github\n" . '{"a":1}'
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header



=== TEST 21: github: no sha256= prefix
--- request
POST /github
Hello, World!
--- more_headers
X-Hub-Signature-256: 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
--- error_code: 401
--- response_headers
X-Verify-Error: bad_format



=== TEST 22: stripe: a valid request passes
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- more_headers eval
main::stripe($main::StripeSecret, '{"id":"evt_1"}')
--- error_code: 200
--- response_body chomp
{"id":"evt_1"}



=== TEST 23: stripe: one of several v1 (and a v0) matching passes
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- more_headers eval
main::stripe($main::StripeSecret, '{"id":"evt_1"}',
             value => 't={T},v1=' . ('0' x 64) . ',v1={SIG},v0=abc')
--- error_code: 200
--- response_body chomp
{"id":"evt_1"}



=== TEST 24: stripe: a tampered body
--- request eval
"POST /stripe\n" . '{"id":"evt_2"}'
--- more_headers eval
main::stripe($main::StripeSecret, '{"id":"evt_1"}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}



=== TEST 25: stripe: a wrong secret
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- more_headers eval
main::stripe('whsec_other', '{"id":"evt_1"}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 26: stripe: a stale timestamp
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- more_headers eval
main::stripe($main::StripeSecret, '{"id":"evt_1"}', dt => -86400)
--- error_code: 401
--- response_headers
X-Verify-Error: timestamp_out_of_tolerance



=== TEST 27: stripe: no t=
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- more_headers eval
main::stripe($main::StripeSecret, '{"id":"evt_1"}', value => 'v1={SIG}')
--- error_code: 401
--- response_headers
X-Verify-Error: bad_format



=== TEST 28: stripe: no header
--- request eval
"POST /stripe\n" . '{"id":"evt_1"}'
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header



=== TEST 29: hex: a valid request passes (upper-case hex too)
--- request eval
"POST /hex\n" . '{"type":"x"}'
--- more_headers eval
"X-API-SIGNATURE: "
. uc(Digest::SHA::hmac_sha256_hex('{"type":"x"}', $main::HexSecret)) . "\n"
--- error_code: 200
--- response_body chomp
{"type":"x"}



=== TEST 30: hex: a wrong secret
--- request eval
"POST /hex\n" . '{"type":"x"}'
--- more_headers eval
"X-API-SIGNATURE: "
. Digest::SHA::hmac_sha256_hex('{"type":"x"}', 'other') . "\n"
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 31: hex: a short value
--- request eval
"POST /hex\n" . '{"type":"x"}'
--- more_headers
X-API-SIGNATURE: abcdef
--- error_code: 401
--- response_headers
X-Verify-Error: bad_format



=== TEST 32: sha512: secret + $scheme://$host$request_uri + body
--- request eval
"POST /vello?x=1\n" . '{"v":1}'
--- more_headers eval
"Vello-Signature: "
. Digest::SHA::sha512_hex($main::VelloSecret . 'http://localhost/vello?x=1'
                          . '{"v":1}') . "\n"
--- error_code: 200
--- response_body chomp
{"v":1}



=== TEST 33: sha512: url= as the sender registered it
--- request eval
"POST /vello-url?tenant=acme\n" . '{"v":1}'
--- more_headers eval
"Vello-Signature: "
. Digest::SHA::sha512_hex($main::VelloSecret
                          . 'https://example.com/hooks/acme' . '{"v":1}')
. "\n"
--- error_code: 200
--- response_body chomp
{"v":1}



=== TEST 34: sha512: another URL is a mismatch
--- request eval
"POST /vello-url?tenant=other\n" . '{"v":1}'
--- more_headers eval
"Vello-Signature: "
. Digest::SHA::sha512_hex($main::VelloSecret
                          . 'https://example.com/hooks/acme' . '{"v":1}')
. "\n"
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 35: sha512: no header
--- request eval
"POST /vello\n" . '{"v":1}'
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header



=== TEST 36: token: the first secret passes
--- request eval
"POST /token\n" . '{"t":1}'
--- more_headers
X-Token: tok-one
--- error_code: 200
--- response_body chomp
{"t":1}



=== TEST 37: token: the second secret passes
--- request eval
"POST /token\n" . '{"t":1}'
--- more_headers
X-Token: tok-two
--- error_code: 200
--- response_body chomp
{"t":1}



=== TEST 38: token: a prefix of a secret does not
--- request eval
"POST /token\n" . '{"t":1}'
--- more_headers
X-Token: tok-on
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch



=== TEST 39: token: no header
--- request eval
"POST /token\n" . '{"t":1}'
--- error_code: 401
--- response_headers
X-Verify-Error: missing_header



=== TEST 40: deny runs first: 403, the signature is not checked
--- request eval
"POST /denied\n" . '{"a":1}'
--- more_headers eval
main::gh('wrong', '{"a":1}')
--- error_code: 403
--- response_headers
X-Verify-Error:
--- no_error_log
webhook signature rejected
--- access_log
/denied verified=- error=-



=== TEST 41: satisfy any with a passing allow cannot skip it
--- request eval
"POST /any\n" . '{"a":1}'
--- more_headers eval
main::gh('wrong', '{"a":1}')
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- response_body chomp
{"error":"invalid_signature"}
--- access_log
/any verified=0 error=mismatch



=== TEST 42: satisfy any: a valid signature passes
--- request eval
"POST /any\n" . '{"a":1}'
--- more_headers eval
main::gh($main::GhSecret, '{"a":1}')
--- error_code: 200
--- response_body chomp
{"a":1}
--- access_log
/any verified=1 error=-



=== TEST 43: without webhook_verify the variables are not found
--- request
GET /plain
--- error_code: 200
--- response_headers
X-Verified:
--- response_body chomp
plain



=== TEST 44: a variable secret that is empty matches nothing, not even empty
--- request eval
"POST /empty\n" . '{"t":1}'
--- more_headers
X-Token:
--- error_code: 401
--- response_headers
X-Verify-Error: mismatch
--- no_error_log
[error]



=== TEST 45: hex needs header=
--- config
    location = /x {
        webhook_verify hex secret=s;
    }
--- must_die
--- error_log
scheme "hex" must have "header" parameter



=== TEST 46: an unknown scheme
--- config
    location = /x {
        webhook_verify md5 secret=s;
    }
--- must_die
--- error_log
invalid scheme "md5"



=== TEST 47: a secret is required
--- config
    location = /x {
        webhook_verify github header=X-Sig;
    }
--- must_die
--- error_log
"webhook_verify" must have "secret" parameter



=== TEST 48: tolerance only where there is a timestamp
--- config
    location = /x {
        webhook_verify github secret=s tolerance=1m;
    }
--- must_die
--- error_log
scheme "github" has no timestamp for "tolerance"



=== TEST 49: an unknown parameter
--- config
    location = /x {
        webhook_verify stripe secret=s algo=sha1;
    }
--- must_die
--- error_log
invalid parameter "algo=sha1"
