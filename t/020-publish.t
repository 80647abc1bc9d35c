# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Publishing events (DESIGN section 4): fan-out counts, matching, arrays all
# or nothing, idempotent ids, validation, and the publisher's bytes kept
# exactly in $webhook_resource, $webhook_user, payloads and templates.
#
# Blocks run in order and share state directories: the subscriptions made
# by the first blocks are there for the later ones.  In zone "hooks" their
# targets are private addresses that the API lets through and delivery
# refuses (blocked_address), so nothing is contacted, and webhook_retry
# leaves an hour before a second attempt: every delivery made there stays
# pending, and a subscription's pending cap shows what was enqueued and what
# was not.  Zone "fid" has one subscriber on this server, which logs what
# it receives.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_zone  zone=fid:1m state=$TEST_NGINX_STATE_DIR-fid fsync=off;

    log_format  published escape=none
                'PUBLISHED action=$webhook_action tenant=$webhook_tenant '
                'id=$webhook_event_id user=$webhook_user '
                'resource=$webhook_resource.';

    log_format  received escape=none
                'RECEIVED id=$http_webhook_id body=$request_body.';
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $http_x_tenant;
        webhook_events  event.created event.confirmed event.updated
                        event.cancelled user.joined;
        webhook_allow_private on;
    }

    location = /events {
        webhook_publish zone=hooks;
        webhook_tenant  $http_x_tenant;
        webhook_events  event.created event.confirmed event.updated
                        event.cancelled user.joined;
        access_log      logs/error.log published;
    }

    location = /events/any {
        webhook_publish zone=hooks;
        webhook_tenant  $http_x_tenant;
        access_log      logs/error.log published;
    }

    location = /events/capped {
        webhook_publish     zone=hooks;
        webhook_tenant      $http_x_tenant;
        webhook_max_pending 2;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        webhook_retry    1h;
        resolver         127.0.0.1:1;
        proxy_pass       $webhook_upstream_url;
    }

    location /fid/hooks {
        webhook_api            zone=fid;
        webhook_tenant         fid;
        webhook_target_schemes http;
        webhook_allow_private  on;
    }

    location = /fid/events {
        webhook_publish zone=fid;
        webhook_tenant  fid;
    }

    location = /fid/template {
        webhook_publish zone=fid;
        webhook_tenant  fid;
        webhook_payload '{"type":"$webhook_action","id":"$webhook_event_id","org":"$webhook_tenant","data":$webhook_resource,"by":$webhook_user}';
    }

    location = /fid/_webhook {
        internal;
        webhook_deliver       zone=fid;
        webhook_allow_private on;
        resolver              127.0.0.1:1;
        proxy_pass            $webhook_upstream_url;
        proxy_set_header      webhook-id $webhook_event_id;
    }

    location = /recv {
        access_log  logs/error.log received;
        proxy_pass  http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }

    location = /ok {
        return 204;
    }
_EOC_
    more_headers => "X-Tenant: org1\nContent-Type: application/json\n",
);

sub hook {
    my ($action, $n, $extra) = @_;
    $extra //= '';
    return "POST /hooks\n{\"action\":\"$action\","
           . "\"target_url\":\"https://10.255.0.$n/hooks\"$extra}";
}

sub publish {
    my ($body, $uri) = @_;
    return "POST " . ($uri // "/events") . "\n$body";
}

our $EVT = qr/evt_[0-9a-f]{24}/;

run_tests();

__DATA__

=== TEST 1: org1 subscribes: two to event.created, event.*, *, event.cancelled, a disabled one, user.joined
--- request eval
[main::hook("event.created", 1), main::hook("event.created", 2),
 main::hook("event.*", 3), main::hook("*", 4),
 main::hook("event.cancelled", 5),
 main::hook("event.created", 6, ',"enabled":false'),
 main::hook("user.joined", 7)]
--- error_code eval
[201, 201, 201, 201, 201, 201, 201]
--- response_body_like eval
[qr/"action":"event\.created"/, qr/"action":"event\.created"/,
 qr/"action":"event\.\*"/, qr/"action":"\*"/,
 qr/"action":"event\.cancelled"/, qr/"enabled":false/,
 qr/"action":"user\.joined"/]



=== TEST 2: org2 subscribes to event.created
--- more_headers
X-Tenant: org2
Content-Type: application/json
--- request eval
main::hook("event.created", 8)
--- error_code: 201
--- response_body_like chomp
"organization":"org2"



=== TEST 3: one event: 202 with its generated id and the number of deliveries
--- request
POST /events
{"action":"event.created","resource":{"id":1}}
--- error_code: 202
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":4\}$
--- error_log eval
qr/PUBLISHED action=event\.created tenant=org1 id=evt_[0-9a-f]{24} user=null resource=\{"id":1\}\./
--- no_error_log
[alert]



=== TEST 4: each action reaches its own subscriptions, "*" and "event.*" included, never a disabled one
--- request eval
[main::publish('{"action":"event.cancelled"}'),
 main::publish('{"action":"user.joined"}'),
 main::publish('{"action":"event.updated"}'),
 main::publish('{"action":"event.confirmed"}')]
--- error_code eval
[202, 202, 202, 202]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":3\}$/,
 qr/^\{"id":"$main::EVT","deliveries":2\}$/,
 qr/^\{"id":"$main::EVT","deliveries":2\}$/,
 qr/^\{"id":"$main::EVT","deliveries":2\}$/]



=== TEST 5: tenants never reach each other's subscriptions
--- more_headers
X-Tenant: org2
--- request eval
[main::publish('{"action":"event.created"}'),
 main::publish('{"action":"user.joined"}'),
 main::publish('{"action":"event.cancelled"}')]
--- error_code eval
[202, 202, 202]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":1\}$/,
 qr/^\{"id":"$main::EVT","deliveries":0\}$/,
 qr/^\{"id":"$main::EVT","deliveries":0\}$/]



=== TEST 6: a tenant without subscriptions: 202 with no delivery
--- more_headers
X-Tenant: org3
--- request
POST /events
{"action":"event.created"}
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":0\}$



=== TEST 7: prefix patterns (no webhook_events here): "event.*" covers event.x.y, not "event" nor "eventx.created"
--- request eval
[main::publish('{"action":"event.x.y"}', "/events/any"),
 main::publish('{"action":"event"}', "/events/any"),
 main::publish('{"action":"eventx.created"}', "/events/any"),
 main::publish('{"action":"a:b_c-D.9"}', "/events/any")]
--- error_code eval
[202, 202, 202, 202]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":2\}$/,
 qr/^\{"id":"$main::EVT","deliveries":1\}$/,
 qr/^\{"id":"$main::EVT","deliveries":1\}$/,
 qr/^\{"id":"$main::EVT","deliveries":1\}$/]



=== TEST 8: aliases: "type" and "event" for action; "action" wins over them
--- request eval
[main::publish('{"type":"event.cancelled"}'),
 main::publish('{"event":"user.joined"}'),
 main::publish('{"event":{"x":1},"action":"user.joined","type":"event.created"}')]
--- error_code eval
[202, 202, 202]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":3\}$/,
 qr/^\{"id":"$main::EVT","deliveries":2\}$/,
 qr/^\{"id":"$main::EVT","deliveries":2\}$/]



=== TEST 9: an array in, an array out, in order
--- request
POST /events
[{"action":"event.created"}, {"type":"user.joined","user":"u1"} ,{"event":"event.cancelled","id":"arr-1"}]
--- error_code: 202
--- response_body_like chomp
^\[\{"id":"evt_[0-9a-f]{24}","deliveries":4\},\{"id":"evt_[0-9a-f]{24}","deliveries":2\},\{"id":"arr-1","deliveries":3\}\]$
--- error_log
PUBLISHED action=event.created tenant=org1 id=evt_



=== TEST 10: an array of one is still an array
--- request
POST /events
  [ {"action":"user.joined"} ]
--- error_code: 202
--- response_body_like chomp
^\[\{"id":"evt_[0-9a-f]{24}","deliveries":2\}\]$



=== TEST 11: all or nothing: one bad item is a 422 naming its index, and its valid neighbour was not stored
--- request eval
[main::publish('[{"id":"batch-1","action":"event.created"},{"action":"nope"}]'),
 main::publish('{"id":"batch-1","action":"user.joined"}')]
--- error_code eval
[422, 202]
--- response_body eval
['{"error":"validation_failed","message":"unknown action \"nope\"","field":"action","index":1}',
 '{"id":"batch-1","deliveries":2}']



=== TEST 12: the same id again answers the first result and enqueues nothing, whatever its body
--- request eval
[main::publish('{"id":"order-1","action":"event.created"}'),
 main::publish('{"id":"order-1","action":"event.created"}'),
 main::publish('{"id":"order-1","action":"user.joined","resource":{"x":1}}')]
--- error_code eval
[202, 202, 202]
--- response_body eval
['{"id":"order-1","deliveries":4}',
 '{"id":"order-1","deliveries":4}',
 '{"id":"order-1","deliveries":4}']



=== TEST 13: ids are scoped per tenant
--- more_headers
X-Tenant: org2
--- request eval
main::publish('{"id":"order-1","action":"event.created"}')
--- error_code: 202
--- response_body: {"id":"order-1","deliveries":1}



=== TEST 14: the same id twice in one array: the second is the first's duplicate
--- request
POST /events
[{"id":"dup-1","action":"event.created"},{"id":"dup-1","action":"user.joined"}]
--- error_code: 202
--- response_body: [{"id":"dup-1","deliveries":4},{"id":"dup-1","deliveries":4}]



=== TEST 15: with webhook_max_pending 2: a duplicate takes no pending slot, the cap then holds
--- more_headers
X-Tenant: cap
Content-Type: application/json
--- request eval
[main::hook("event.created", 9),
 main::publish('{"id":"c1","action":"event.created"}', "/events/capped"),
 main::publish('{"id":"c1","action":"event.created"}', "/events/capped"),
 main::publish('{"id":"c2","action":"event.created"}', "/events/capped"),
 main::publish('{"id":"c3","action":"event.created"}', "/events/capped")]
--- error_code eval
[201, 202, 202, 202, 202]
--- response_body_like eval
[qr/"organization":"cap"/,
 qr/^\{"id":"c1","deliveries":1\}$/,
 qr/^\{"id":"c1","deliveries":1\}$/,
 qr/^\{"id":"c2","deliveries":1\}$/,
 qr/^\{"id":"c3","deliveries":0\}$/]



=== TEST 16: with webhook_max_pending 2: a refused array took no pending slot
--- more_headers
X-Tenant: cap2
Content-Type: application/json
--- request eval
[main::hook("event.created", 10),
 main::publish('[{"id":"d1","action":"event.created"},{"id":"d2","action":"event.created"},{"action":"event.created","id":"bad id"}]', "/events/capped"),
 main::publish('{"id":"d3","action":"event.created"}', "/events/capped"),
 main::publish('{"id":"d4","action":"event.created"}', "/events/capped"),
 main::publish('{"id":"d5","action":"event.created"}', "/events/capped")]
--- error_code eval
[201, 422, 202, 202, 202]
--- response_body_like eval
[qr/"organization":"cap2"/,
 qr/^\{"error":"validation_failed","message":"(?:[^"\\]|\\.)+","field":"id","index":2\}$/,
 qr/^\{"id":"d3","deliveries":1\}$/,
 qr/^\{"id":"d4","deliveries":1\}$/,
 qr/^\{"id":"d5","deliveries":0\}$/]



=== TEST 17: validation of single events: 422 with the field, no index
--- request eval
[main::publish('{}'),
 main::publish('{"resource":{"action":"event.created"}}'),
 main::publish('{"action":1}'),
 main::publish('{"type":null}'),
 main::publish('{"action":"bad action"}'),
 main::publish('{"action":"event.unknown"}'),
 main::publish('{"action":""}'),
 main::publish('{"action":"event.created","id":"has space"}'),
 main::publish('{"action":"event.created","id":12}'),
 main::publish('{"action":"event.created","id":""}'),
 main::publish('{"action":"event.created","id":"' . ("a" x 65) . '"}')]
--- error_code eval
[422, 422, 422, 422, 422, 422, 422, 422, 422, 422, 422]
--- response_body eval
['{"error":"validation_failed","message":"action is required","field":"action"}',
 '{"error":"validation_failed","message":"action is required","field":"action"}',
 '{"error":"validation_failed","message":"action must be a string","field":"action"}',
 '{"error":"validation_failed","message":"type must be a string","field":"type"}',
 '{"error":"validation_failed","message":"action must be 1 to 128 letters, digits, \"_\", \".\", \":\" or \"-\"","field":"action"}',
 '{"error":"validation_failed","message":"unknown action \"event.unknown\"","field":"action"}',
 '{"error":"validation_failed","message":"action must be 1 to 128 letters, digits, \"_\", \".\", \":\" or \"-\"","field":"action"}',
 '{"error":"validation_failed","message":"id must be a string of 1 to 64 letters, digits, \"_\" or \"-\"","field":"id"}',
 '{"error":"validation_failed","message":"id must be a string of 1 to 64 letters, digits, \"_\" or \"-\"","field":"id"}',
 '{"error":"validation_failed","message":"id must be a string of 1 to 64 letters, digits, \"_\" or \"-\"","field":"id"}',
 '{"error":"validation_failed","message":"id must be a string of 1 to 64 letters, digits, \"_\" or \"-\"","field":"id"}']



=== TEST 18: limits of action and id: 128 and 64 characters pass, 129 does not; escapes are decoded, "\u0000" is refused
--- request eval
[main::publish('{"action":"' . ("a" x 128) . '"}', "/events/any"),
 main::publish('{"action":"' . ("a" x 129) . '"}', "/events/any"),
 main::publish('{"action":"event.created","id":"' . ("A_-9" x 16) . '"}'),
 main::publish('{"action":"ev\u0065nt.created"}'),
 main::publish('{"action":"event.cre\u0000ated"}', "/events/any"),
 main::publish('{"action\u0000x":"event.created"}', "/events/any")]
--- error_code eval
[202, 422, 202, 202, 422, 422]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":1\}$/,
 qr/^\{"error":"validation_failed","message":"(?:[^"\\]|\\.)+","field":"action"\}$/,
 qr/^\{"id":"(?:A_-9){16}","deliveries":4\}$/,
 qr/^\{"id":"$main::EVT","deliveries":4\}$/,
 qr/^\{"error":"validation_failed","message":"action must be 1 to/,
 qr/^\{"error":"validation_failed","message":"action is required","field":"action"\}$/]



=== TEST 19: arrays: empty, an item that is not an object, a bad field further on
--- request eval
[main::publish('[]'),
 main::publish('[{"action":"event.created"},5]'),
 main::publish('[{"action":"event.created"},{"action":"event.created"},{"action":"event.created","id":"x y"}]'),
 main::publish('[[{"action":"event.created"}]]')]
--- error_code eval
[422, 422, 422, 422]
--- response_body eval
['{"error":"validation_failed","message":"the array holds no event"}',
 '{"error":"validation_failed","message":"an event must be a JSON object","index":1}',
 '{"error":"validation_failed","message":"id must be a string of 1 to 64 letters, digits, \"_\" or \"-\"","field":"id","index":2}',
 '{"error":"validation_failed","message":"an event must be a JSON object","index":0}']



=== TEST 20: not JSON, or JSON that cJSON would take but RFC 8259 does not: 400 invalid_json
--- request eval
[main::publish('{"action":'),
 main::publish('{"action":"event.created"} x'),
 main::publish('{"action":"event.created","resource":01}'),
 main::publish('{"action":"event.created","resource":1.}'),
 main::publish('{"action":"event.created","resource":-.5}'),
 main::publish('{"action":"event.created","resource":"a' . "\t" . 'b"}'),
 main::publish('{"action":"event.created","resource":"\x"}'),
 main::publish("{\"action\":\"event.created\",\"resource\":\"\xff\"}"),
 main::publish('{"action":"event.created",}'),
 main::publish('[{"action":"event.created"},]'),
 main::publish('{"action":"event.created",' . "\x0b" . '"resource":1}'),
 "POST /events\n"]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body eval
[('{"error":"invalid_json","message":"the request body is not valid JSON"}') x 12]



=== TEST 21: nesting as deep as cJSON takes (1000) is published; one level more is not JSON to either
--- request eval
[main::publish('{"action":"event.created","resource":' . ("[" x 999) . ("]" x 999) . '}'),
 main::publish('{"action":"event.created","resource":' . ("[" x 1000) . ("]" x 1000) . '}')]
--- error_code eval
[202, 400]
--- response_body_like eval
[qr/^\{"id":"$main::EVT","deliveries":4\}$/,
 qr/^\{"error":"invalid_json"/]



=== TEST 22: JSON that is neither an object nor an array: 400
--- request eval
[main::publish('"x"'), main::publish('5'), main::publish('null')]
--- error_code eval
[400, 400, 400]
--- response_body eval
[('{"error":"invalid_json","message":"the request body must be a JSON object or an array of objects"}') x 3]



=== TEST 23: no tenant, or a tenant outside [A-Za-z0-9_.:@-]: 401
--- more_headers eval
["Content-Type: application/json", "X-Tenant: org 1", "X-Tenant: " . ("o" x 129)]
--- request eval
[main::publish('{"action":"event.created"}'),
 main::publish('{"action":"event.created"}'),
 main::publish('{"action":"event.created"}')]
--- error_code eval
[401, 401, 401]
--- response_body eval
[('{"error":"unauthorized","message":"no valid tenant for this request"}') x 3]



=== TEST 24: only POST: 405 with Allow
--- request eval
["GET /events", "PUT /events\n{}", "HEAD /events"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: POST", "Allow: POST", "Allow: POST"]
--- response_body eval
['{"error":"method_not_allowed","message":"events are published with POST"}',
 '{"error":"method_not_allowed","message":"events are published with POST"}',
 '']



=== TEST 25: a body over webhook_max_body_size: 413 by its Content-Length
--- config
    location = /events {
        webhook_publish        zone=hooks;
        webhook_tenant         org1;
        webhook_max_body_size  64;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        resolver         127.0.0.1:1;
        proxy_pass       $webhook_upstream_url;
    }
--- request eval
main::publish('{"action":"event.created","resource":"' . ("x" x 40) . '"}')
--- error_code: 413
--- response_body: {"error":"payload_too_large","message":"the request body is larger than 64 bytes"}



=== TEST 26: a chunked body over webhook_max_body_size: 413 once read
--- config
    location = /events {
        webhook_publish        zone=hooks;
        webhook_tenant         org1;
        webhook_max_body_size  64;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        resolver         127.0.0.1:1;
        proxy_pass       $webhook_upstream_url;
    }
--- raw_request eval
"POST /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n27\r\n" . '{"action":"event.created","resource":"x' . "\r\n28\r\n" . ("x" x 38) . '"}' . "\r\n0\r\n\r\n"
--- error_code: 413
--- response_body: {"error":"payload_too_large","message":"the request body is larger than 64 bytes"}



=== TEST 27: a chunked body within webhook_max_body_size is published
--- config
    location = /events {
        webhook_publish        zone=hooks;
        webhook_tenant         org1;
        webhook_max_body_size  64;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        resolver         127.0.0.1:1;
        proxy_pass       $webhook_upstream_url;
    }
--- raw_request eval
"POST /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n" . '{"action":"even' . "\r\na\r\n" . 't.created"' . "\r\n1\r\n}\r\n0\r\n\r\n"
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":4\}$



=== TEST 28: mode=sync with no subscription to send to: 404 (t/021 has the rest)
--- config
    location = /events {
        webhook_publish zone=hooks mode=sync;
        webhook_tenant  org-none;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        resolver         127.0.0.1:1;
        proxy_pass       $webhook_upstream_url;
    }
--- request
POST /events
{"action":"sync.nobody"}
--- error_code: 404
--- response_body: {"error":"no_subscription","message":"no enabled subscription matches \"sync.nobody\""}



=== TEST 29: $webhook_resource and $webhook_user are the publisher's bytes: big numbers, escapes, white space
--- request
POST /events
{"action":"event.created","id":"big-1","user":{"id": 9007199254740993, "name":"J\u00f6rg \"x\"\/"},"resource":[1.50, 1e400, -0, "\ud83d\ude00", {"a" : [ ] }]}
--- error_code: 202
--- response_body: {"id":"big-1","deliveries":4}
--- error_log
PUBLISHED action=event.created tenant=org1 id=big-1 user={"id": 9007199254740993, "name":"J\u00f6rg \"x\"\/"} resource=[1.50, 1e400, -0, "\ud83d\ude00", {"a" : [ ] }].



=== TEST 30: "data" is an alias of resource
--- request
POST /events
{"data":{"d":1},"action":"event.created"}
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":4\}$
--- error_log eval
qr/PUBLISHED action=event\.created tenant=org1 id=evt_[0-9a-f]{24} user=null resource=\{"d":1\}\./



=== TEST 31: "resource" wins over "data", wherever they are
--- request
POST /events
{"data":1,"action":"event.created","resource":2}
--- error_code: 202
--- error_log eval
qr/PUBLISHED action=event\.created tenant=org1 id=evt_[0-9a-f]{24} user=null resource=2\./



=== TEST 32: of a member given twice, the first counts, as it does for cJSON
--- request
POST /events
{"action":"event.created","resource":1,"resource":2,"user":"a","user":"b","action":"user.joined"}
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":4\}$
--- error_log eval
qr/PUBLISHED action=event\.created tenant=org1 id=evt_[0-9a-f]{24} user="a" resource=1\./



=== TEST 33: "\u0000" in a value is kept as sent
--- request
POST /events
{"action":"event.created","resource":"a\u0000b"}
--- error_code: 202
--- error_log eval
qr/PUBLISHED action=event\.created tenant=org1 id=evt_[0-9a-f]{24} user=null resource="a\\u0000b"\./



=== TEST 34: in an array, the variables show the first event once published
--- request
POST /events
[{"action":"event.cancelled","id":"first","user":"u1"},{"action":"user.joined","id":"second","user":"u2"}]
--- error_code: 202
--- response_body: [{"id":"first","deliveries":3},{"id":"second","deliveries":2}]
--- error_log
PUBLISHED action=event.cancelled tenant=org1 id=first user="u1" resource=null.



=== TEST 35: delivery: zone "fid" gets a subscriber on this server
--- before
File::Path::remove_tree("$ENV{TEST_NGINX_STATE_DIR}-fid");
--- request eval
"POST /fid/hooks\n{\"action\":\"*\",\"target_url\":\"http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/recv\"}"
--- error_code: 201
--- response_body_like chomp
"organization":"fid"



=== TEST 36: delivery: "payload" is the body, byte for byte
--- request
POST /fid/events
{"action":"event.created","id":"p-1","payload":{"n":9007199254740993, "s":"\u00e9\/","f":1.0E+2}}
--- error_code: 202
--- response_body: {"id":"p-1","deliveries":1}
--- wait: 2
--- error_log
RECEIVED id=p-1 body={"n":9007199254740993, "s":"\u00e9\/","f":1.0E+2}.



=== TEST 37: delivery: the default body holds user and resource as sent
--- request
POST /fid/events
{"action":"event.created","id":"p-2","user":{"id": 9007199254740993},"resource":[1.50,"x\"y"]}
--- error_code: 202
--- response_body: {"id":"p-2","deliveries":1}
--- wait: 2
--- error_log
RECEIVED id=p-2 body={"action":"event.created","organization":"fid","user":{"id": 9007199254740993},"resource":[1.50,"x\"y"]}.



=== TEST 38: delivery: webhook_payload is evaluated with the event's variables
--- request
POST /fid/template
{"action":"event.updated","id":"p-3","user":"u","resource":{"big":9007199254740993}}
--- error_code: 202
--- response_body: {"id":"p-3","deliveries":1}
--- wait: 2
--- error_log
RECEIVED id=p-3 body={"type":"event.updated","id":"p-3","org":"fid","data":{"big":9007199254740993},"by":"u"}.



=== TEST 39: delivery: a template's $webhook_event_id is the id subscribers get in webhook-id
--- request
POST /fid/template
{"action":"event.updated"}
--- error_code: 202
--- response_body_like chomp
^\{"id":"evt_[0-9a-f]{24}","deliveries":1\}$
--- wait: 2
--- error_log eval
qr/RECEIVED id=(evt_[0-9a-f]{24}) body=\{"type":"event\.updated","id":"\1","org":"fid","data":null,"by":null\}\./



=== TEST 40: delivery: in an array, each event is templated with its own variables
--- request
POST /fid/template
[{"action":"a.one","id":"p-4","resource":1},{"action":"a.two","id":"p-5","user":[2]}]
--- error_code: 202
--- response_body: [{"id":"p-4","deliveries":1},{"id":"p-5","deliveries":1}]
--- wait: 2
--- error_log
RECEIVED id=p-4 body={"type":"a.one","id":"p-4","org":"fid","data":1,"by":null}.
RECEIVED id=p-5 body={"type":"a.two","id":"p-5","org":"fid","data":null,"by":[2]}.
