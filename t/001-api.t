# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# The subscription API: each route, its status codes and JSON bodies.
# Blocks run in order and share one state directory, so what a block
# creates is there for the next ones (nginx is restarted between blocks).

use Test::Nginx::Socket 'no_plan';
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=on;

    map $http_authorization $tenant {
        default         "";
        "Bearer k1"     org1;
        "Bearer k2"     org2;
        "Bearer bad"    "org one";
    }
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $tenant;
        webhook_events  event.created event.confirmed event.updated
                        event.cancelled user.joined;
    }
_EOC_
    more_headers => "Authorization: Bearer k1\nContent-Type: application/json\n",
);

run_tests();

__DATA__

=== TEST 1: create a subscription: 201 with the full subscription
--- request
POST /hooks
{"action":"event.created","target_url":"https://example.com/hooks/1"}
--- error_code: 201
--- response_headers_like
Content-Type: application/json
Location: /hooks/[0-9a-f]{24}
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","action":"event\.created","target_url":"https://example\.com/hooks/1","secret":"whsec_[A-Za-z0-9+/]{32}","scope":"organization","organization":"org1","enabled":true,"createdAt":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","updatedAt":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","__v":0\}$
--- save_id: a
--- no_error_log
[error]
[alert]



=== TEST 2: get it back by id, with its secret
--- request
GET /hooks/{{a}}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{a}}","action":"event\.created","target_url":"https://example\.com/hooks/1","secret":"whsec_[A-Za-z0-9+/]{32}","scope":"organization","organization":"org1","enabled":true,.*"__v":0\}$



=== TEST 3: create with a given secret, token and description (aliases)
--- request
POST /hooks
{"type":"event.cancelled","url":"https://example.com/hooks/2","secret":"s3cr3t","authorization_token":"tok-1","description":"second"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","action":"event\.cancelled","target_url":"https://example\.com/hooks/2","secret":"s3cr3t","authorization_token":"tok-1","description":"second","scope":"organization","organization":"org1","enabled":true,.*"__v":0\}$
--- save_id: b



=== TEST 4: the list omits secrets and tokens, in creation order
--- request
GET /hooks
--- error_code: 200
--- response_body_like chomp
^\{"hooks":\[\{"_id":"{{a}}","action":"event\.created","target_url":"https://example\.com/hooks/1","scope":"organization","organization":"org1","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\},\{"_id":"{{b}}","action":"event\.cancelled","target_url":"https://example\.com/hooks/2","description":"second","scope":"organization","organization":"org1","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\}\],"total":2\}$



=== TEST 5: PUT replaces action and target_url, keeps the secret, bumps __v
--- request
PUT /hooks/{{a}}
{"action":"event.updated","target_url":"https://example.com/hooks/1b","secret":"ignored"}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{a}}","action":"event\.updated","target_url":"https://example\.com/hooks/1b","secret":"whsec_[A-Za-z0-9+/]{32}","scope":"organization","organization":"org1","enabled":true,"createdAt":"([^"]+)","updatedAt":"(?!\1)[^"]+","__v":1\}$



=== TEST 6: PUT without target_url is refused and changes nothing
--- request eval
["PUT /hooks/{{a}}\n{\"action\":\"event.created\"}", "GET /hooks/{{a}}"]
--- error_code eval
[422, 200]
--- response_body_like eval
[qr/^\{"error":"validation_failed","message":"(?:[^"\\]|\\.)+","field":"target_url"\}$/, qr/"action":"event\.updated".*"__v":1\}$/]



=== TEST 7: PATCH enabled=false disables it manually
--- request
PATCH /hooks/{{a}}
{"enabled":false}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{a}}","action":"event\.updated","target_url":"https://example\.com/hooks/1b",.*"enabled":false,"disabled_reason":"manual",.*"__v":2\}$



=== TEST 8: PATCH enabled=true clears the reason
--- request
PATCH /hooks/{{a}}
{"enabled":true,"description":"back"}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{a}}",.*"description":"back","scope":"organization","organization":"org1","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":3\}$



=== TEST 9: another tenant sees neither the list nor the id
--- more_headers
Authorization: Bearer k2
--- request eval
["GET /hooks", "GET /hooks/{{a}}", "DELETE /hooks/{{a}}", "PATCH /hooks/{{a}}\n{\"enabled\":false}"]
--- error_code eval
[200, 404, 404, 404]
--- response_body eval
["{\"hooks\":[],\"total\":0}", "{\"error\":\"not_found\",\"message\":\"subscription not found\"}", "{\"error\":\"not_found\",\"message\":\"subscription not found\"}", "{\"error\":\"not_found\",\"message\":\"subscription not found\"}"]



=== TEST 10: no tenant: 401
--- more_headers
X-Nothing: 1
--- request
GET /hooks
--- error_code: 401
--- response_body_like chomp
^\{"error":"unauthorized","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 10b: a tenant with characters outside [A-Za-z0-9_.:@-]: 401
--- more_headers
Authorization: Bearer bad
--- request
GET /hooks
--- error_code: 401
--- response_body_like chomp
^\{"error":"unauthorized"



=== TEST 11: DELETE answers 204 and the subscription is gone
--- request eval
["DELETE /hooks/{{b}}", "GET /hooks/{{b}}", "DELETE /hooks/{{b}}"]
--- error_code eval
[204, 404, 404]
--- response_body eval
["", "{\"error\":\"not_found\",\"message\":\"subscription not found\"}", "{\"error\":\"not_found\",\"message\":\"subscription not found\"}"]



=== TEST 12: the deletion survived the restart; the other one is intact
--- request
GET /hooks
--- error_code: 200
--- response_body_like chomp
^\{"hooks":\[\{"_id":"{{a}}","action":"event\.updated",.*"__v":3\}\],"total":1\}$



=== TEST 13: methods not allowed answer 405 with Allow
--- request eval
["DELETE /hooks", "POST /hooks/{{a}}\n{}", "PUT /hooks\n{}"]
--- error_code eval
[405, 405, 405]
--- response_headers_like eval
["Allow: GET, HEAD, POST", "Allow: GET, HEAD, PUT, PATCH, DELETE", "Allow: GET, HEAD, POST"]
--- response_body_like eval
[qr/^\{"error":"method_not_allowed"/, qr/^\{"error":"method_not_allowed"/, qr/^\{"error":"method_not_allowed"/]



=== TEST 14: ids of the wrong shape and unknown sub-paths are 404
--- request eval
["GET /hooks/123", "GET /hooks/ZZZZZZZZZZZZZZZZZZZZZZZZ", "GET /hooks/{{a}}/nothing", "GET /hooks/0123456789abcdef01234567"]
--- error_code eval
[404, 404, 404, 404]
--- response_body_like eval
[qr/"error":"not_found"/, qr/"error":"not_found"/, qr/"error":"not_found"/, qr/"error":"not_found"/]



=== TEST 15: bodies that are not JSON objects: 400 invalid_json
--- request eval
["POST /hooks\n{\"action\":", "POST /hooks\n[1,2]", "POST /hooks\n\"x\"", "POST /hooks\n"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[qr/^\{"error":"invalid_json","message":"(?:[^"\\]|\\.)+"\}$/, qr/^\{"error":"invalid_json"/, qr/^\{"error":"invalid_json"/, qr/^\{"error":"invalid_json"/]



=== TEST 16: a body over webhook_max_body_size: 413 payload_too_large
--- config
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $tenant;
        webhook_max_body_size 64;
    }
--- request eval
"POST /hooks\n{\"action\":\"event.created\",\"target_url\":\"https://example.com/" . ("x" x 100) . "\"}"
--- error_code: 413
--- response_body_like chomp
^\{"error":"payload_too_large"



=== TEST 17: the per-tenant limit answers 403 limit_reached
--- config
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $tenant;
        webhook_max_subscriptions 1;
    }
--- request
POST /hooks
{"action":"event.created","target_url":"https://example.com/hooks/3"}
--- error_code: 403
--- response_body_like chomp
^\{"error":"limit_reached","message":"(?:[^"\\]|\\.)+"\}$



=== TEST 18: HEAD behaves as GET, without a body
--- request
HEAD /hooks/{{a}}
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body
