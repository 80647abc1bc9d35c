# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# webhook_publish mode=sync (DESIGN sections 4 and 6, Vello's dynamic
# webhook): the event goes at once, once, to the one matching subscription
# of the tenant, through the zone's webhook_deliver location and signed as
# every delivery is; the publisher waits and gets the subscriber's status
# and JSON body.  Otherwise: 504 timeout, 502 delivery_failed (with the
# reason), 404 no_subscription, 409 multiple_subscriptions, 422 for an
# array.  Nothing is stored: no attempt in /deliveries, no retry.
#
# Receivers: 127.0.0.1:19920 logs what it gets (into error.log, as
# RECEIVED lines) and proxies to 127.0.0.1:19922, which answers by path;
# nothing listens on 19923; 19921 accepts connections and never answers
# (a socket this file holds).

use Test::Nginx::Socket 'no_plan';
use WebhookTest;
use IO::Socket::INET;
use Digest::SHA qw(sha512_hex);
use Time::HiRes qw(time);

no_shuffle();

our $Blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 19921, Proto => 'tcp',
                                       Listen => 128, ReuseAddr => 1)
    or die "cannot listen on 127.0.0.1:19921: $!\n";

our $T0;

# an answer longer than the 4096 bytes a delivery keeps
$ENV{TEST_NGINX_BIG_PAD} = 'x' x 2000;

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;

    log_format  received escape=none
                'RECEIVED $request_method $request_uri '
                'ct=$http_content_type id=$http_webhook_id '
                'sig=$http_vello_signature body=$request_body.';

    server {
        listen       127.0.0.1:19920;
        access_log   logs/error.log received;

        client_body_in_single_buffer  on;

        location / {
            proxy_pass  http://127.0.0.1:19922;
        }

        location /slow/ {
            proxy_pass  http://127.0.0.1:19921;
        }
    }

    server {
        listen       127.0.0.1:19922;
        access_log   off;
        default_type application/json;

        location /meta/ {
            return 200 '{"metadata":{"video_link":"https://app.yourservice.com/meeting/12345","tag":"vip"}}';
        }

        location /created/ {
            return 201 '  {"ok" : true}\n';
        }

        location /empty/ {
            return 204;
        }

        location /plain/ {
            return 200;
        }

        location /big/ {
            set     $pad '$TEST_NGINX_BIG_PAD';
            return  200 '{"metadata":{"pad":"$pad$pad$pad"}}';
        }

        location /fail/ {
            return 500 '{"error":"boom"}';
        }

        location /text/ {
            default_type text/plain;
            return 200 "metadata: none";
        }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }

    location = /sync {
        webhook_publish  zone=hooks mode=sync timeout=1s;
        webhook_tenant   $http_x_tenant;
    }

    location = /events {
        webhook_publish  zone=hooks;
        webhook_tenant   org1;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        webhook_retry    1s;
        resolver         127.0.0.1:19923;   # targets here are addresses

        proxy_pass          $webhook_upstream_url;
        proxy_http_version  1.1;
        proxy_buffering     off;
        proxy_set_header    Host $webhook_target_host;
        proxy_set_header    webhook-id $webhook_event_id;
        proxy_set_header    Vello-Signature $webhook_signature_sha512;
    }
_EOC_
    more_headers => "Content-Type: application/json\nX-Tenant: org1\n",
);

sub slurp_log {
    my $file = servroot() . '/logs/error.log';
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# what the receiver logged for $path: (webhook-id, signature, body)
sub received {
    my ($path) = @_;
    my ($line) = grep { /RECEIVED POST \Q$path\E / } split /\n/, slurp_log();
    return () unless $line;
    my ($id, $sig, $body) = $line =~ / id=(\S*) sig=(\S*) body=(.*)\.$/;
    return ($id, $sig, $body);
}

run_tests();

__DATA__

=== TEST 1: a subscription for the dynamic webhook
--- request
POST /hooks
{"action":"record.update_metadata","target_url":"http://127.0.0.1:19920/meta/1","secret":"tok-vello-1"}
--- error_code: 201
--- save_id: meta



=== TEST 2: a subscription to a receiver that answers 500
--- request
POST /hooks
{"action":"s.fail","target_url":"http://127.0.0.1:19920/fail/1"}
--- error_code: 201



=== TEST 3: a subscription to a closed port
--- request
POST /hooks
{"action":"s.down","target_url":"http://127.0.0.1:19923/down"}
--- error_code: 201



=== TEST 4: a subscription to a receiver that never answers
--- request
POST /hooks
{"action":"s.slow","target_url":"http://127.0.0.1:19920/slow/"}
--- error_code: 201



=== TEST 5: a subscription to a receiver that answers text
--- request
POST /hooks
{"action":"s.text","target_url":"http://127.0.0.1:19920/text/"}
--- error_code: 201



=== TEST 6: a subscription to a receiver that answers 201 and JSON
--- request
POST /hooks
{"action":"s.created","target_url":"http://127.0.0.1:19920/created/"}
--- error_code: 201



=== TEST 7: a subscription to a receiver that answers 204
--- request
POST /hooks
{"action":"s.empty","target_url":"http://127.0.0.1:19920/empty/"}
--- error_code: 201



=== TEST 8: a subscription to a receiver that answers 200 and no body
--- request
POST /hooks
{"action":"s.plain","target_url":"http://127.0.0.1:19920/plain/"}
--- error_code: 201



=== TEST 9: a subscription to a receiver that answers 5000 bytes
--- request
POST /hooks
{"action":"s.big","target_url":"http://127.0.0.1:19920/big/"}
--- error_code: 201



=== TEST 10: two subscriptions that match the same action ("*" patterns too)
--- request
POST /hooks
{"action":"two.*","target_url":"http://127.0.0.1:19920/meta/2"}
--- error_code: 201



=== TEST 11: the second one
--- request
POST /hooks
{"action":"two.x","target_url":"http://127.0.0.1:19920/meta/3"}
--- error_code: 201
--- save_id: two



=== TEST 12: the publisher gets the subscriber's status and JSON body
--- request
POST /sync
{"action":"record.update_metadata","id":"rec-1","payload":{"id":"rec-1","type":"record.update_metadata","data":{"id":"639e","metadata":{}}}}
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp
{"metadata":{"video_link":"https://app.yourservice.com/meeting/12345","tag":"vip"}}



=== TEST 13: the subscriber got the payload as sent, signed, with the id; nothing is in the attempt log
--- before
my ($id, $sig, $body) = main::received('/meta/1');
my $want = '{"id":"rec-1","type":"record.update_metadata","data":{"id":"639e","metadata":{}}}';
Test::More::is($id, 'rec-1', 'sync: webhook-id is the publisher\'s id');
Test::More::is($body, $want, 'sync: the payload, byte for byte');
Test::More::is($sig, Digest::SHA::sha512_hex('tok-vello-1'
                         . 'http://127.0.0.1:19920/meta/1' . $want),
               'sync: Vello-Signature = sha512(token + url + body)');
--- request
GET /hooks/{{meta}}/deliveries
--- response_body chomp
{"attempts":[],"total":0}



=== TEST 14: no id given: one is made, and sent
--- request
POST /sync
{"action":"record.update_metadata","resource":{"n":1}}
--- error_code: 200
--- response_body_like: ^\{"metadata":



=== TEST 15: the made-up id and the default envelope reached the subscriber; nothing stored
--- before
my @lines = grep { /RECEIVED POST \/meta\/1 / } split /\n/, main::slurp_log();
Test::More::like($lines[-1] // '', qr/ id=evt_[0-9a-f]{24} /,
                 'sync: a made-up id is sent in webhook-id');
Test::More::like($lines[-1] // '', qr/ body=\{"action":"record.update_metadata","organization":"org1","user":null,"resource":\{"n":1\}\}\.$/,
                 'sync: the default envelope');
--- request
GET /hooks/{{meta}}/deliveries
--- response_body chomp
{"attempts":[],"total":0}



=== TEST 16: no subscription matches: 404
--- request
POST /sync
{"action":"record.nobody"}
--- error_code: 404
--- response_body chomp
{"error":"no_subscription","message":"no enabled subscription matches \"record.nobody\""}



=== TEST 17: another tenant's subscription does not match
--- more_headers
Content-Type: application/json
X-Tenant: org2
--- request
POST /sync
{"action":"record.update_metadata"}
--- error_code: 404
--- response_body_like: ^\{"error":"no_subscription"



=== TEST 18: two match: 409, nothing sent
--- request
POST /sync
{"action":"two.x"}
--- error_code: 409
--- response_body chomp
{"error":"multiple_subscriptions","message":"2 enabled subscriptions match \"two.x\": mode=sync needs exactly one"}



=== TEST 19: one of the two disabled
--- request
PATCH /hooks/{{two}}
{"enabled":false}
--- error_code: 200



=== TEST 20: the other one answers
--- before
my @lines = grep { /RECEIVED POST \/meta\/[23] / } split /\n/, main::slurp_log();
Test::More::is(scalar @lines, 0, 'sync: nothing was sent for the 409');
--- request
POST /sync
{"action":"two.x"}
--- error_code: 200
--- response_body_like: ^\{"metadata":



=== TEST 21: the receiver answers 500: 502 delivery_failed, bad_status
--- request
POST /sync
{"action":"s.fail","id":"f-1"}
--- error_code: 502
--- wait: 1.5
--- response_body_like: ^\{"error":"delivery_failed","message":"the subscriber answered with an error status","reason":"bad_status","status":500,"event_id":"f-1","subscription_id":"[0-9a-f]{24}"\}$



=== TEST 22: the 500 was not retried; nothing listens: 502 connect_failed
--- before
my @lines = grep { /RECEIVED POST \/fail\/1 / } split /\n/, main::slurp_log();
Test::More::is(scalar @lines, 1,
               'sync: the 500 was not retried (webhook_retry 1s)');
--- request
POST /sync
{"action":"s.down","id":"d-1"}
--- error_code: 502
--- response_body_like: ^\{"error":"delivery_failed","message":"the subscriber could not be reached","reason":"connect_failed","status":null,"event_id":"d-1",



=== TEST 23: no answer: 504 timeout, after timeout=1s
--- request eval
$main::T0 = Time::HiRes::time();
"POST /sync\n" . '{"action":"s.slow","id":"t-1"}'
--- error_code: 504
--- timeout: 15
--- response_body_like: ^\{"error":"timeout","message":"the subscriber did not answer in time","reason":"timeout","status":null,"event_id":"t-1",



=== TEST 24: the 504 came after about a second
--- before
my $took = Time::HiRes::time() - $main::T0;
Test::More::cmp_ok($took, '>=', 0.9, "sync: waited the timeout ($took s)");
Test::More::cmp_ok($took, '<', ($ENV{TEST_NGINX_USE_VALGRIND} ? 90 : 5),
                   'sync: not much longer');
--- request
GET /hooks
--- response_body_like: "action":"s.slow"



=== TEST 25: the publisher goes away while it waits: the outcome finds no one, nothing breaks
--- request
POST /sync
{"action":"s.slow","id":"gone-1"}
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 1.5
--- error_log
webhook sync delivery failed: status 0, error timeout
--- no_error_log
[alert]
[crit]



=== TEST 26: an answer that is not JSON: 502 invalid_response
--- request
POST /sync
{"action":"s.text"}
--- error_code: 502
--- response_body_like: ^\{"error":"delivery_failed","message":"the subscriber's answer is not JSON","reason":"invalid_response","status":200,



=== TEST 27: 201 with JSON: passed on as it is
--- request
POST /sync
{"action":"s.created"}
--- error_code: 201
--- response_body eval
qq(  {"ok" : true}\n)



=== TEST 28: 204: passed on, no body
--- request
POST /sync
{"action":"s.empty"}
--- error_code: 204
--- response_body chomp



=== TEST 29: 200 with no body: passed on, no body
--- request
POST /sync
{"action":"s.plain"}
--- error_code: 200
--- response_headers
Content-Length: 0
--- response_body chomp



=== TEST 30: an answer longer than 4096 bytes: 502 response_too_large
--- request
POST /sync
{"action":"s.big"}
--- error_code: 502
--- response_body_like: ^\{"error":"delivery_failed","message":"the subscriber's answer is longer than 4096 bytes","reason":"response_too_large","status":200,



=== TEST 31: an array: 422, nothing sent
--- request
POST /sync
[{"action":"s.created"}]
--- error_code: 422
--- response_body chomp
{"error":"validation_failed","message":"mode=sync publishes one event, a JSON object, not an array"}



=== TEST 32: an invalid event: 422 as for any publish
--- request
POST /sync
{"type":"bad action!"}
--- error_code: 422
--- response_body_like: ^\{"error":"validation_failed","message":"type must be



=== TEST 33: no tenant: 401
--- more_headers
Content-Type: application/json
--- request
POST /sync
{"action":"s.created"}
--- error_code: 401
--- response_body_like: ^\{"error":"unauthorized"



=== TEST 34: GET: 405
--- request
GET /sync
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 35: the asynchronous publish beside it still queues the event
--- request
POST /events
{"action":"record.update_metadata","id":"async-1"}
--- error_code: 202
--- wait: 1
--- response_body chomp
{"id":"async-1","deliveries":1}



=== TEST 36: that one is in the attempt log (the sync ones are not)
--- request
GET /hooks/{{meta}}/deliveries
--- response_body_like: ^\{"attempts":\[\{"event_id":"async-1",.*"total":1\}$



=== TEST 37: timeout= needs mode=sync
--- config
    location = /x {
        webhook_publish  zone=hooks timeout=1s;
        webhook_tenant   org1;
    }
--- must_die
--- error_log
"timeout" parameter requires "mode=sync"
