# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# webhook_api profile= (DESIGN §6): vyte2, screver and hubplanner each
# answer with their seed document's field names, key order, list envelope
# and secrets; Screver's limit and sort rules; the default profile as it was.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }

    location /vyte {
        webhook_api     zone=hooks profile=vyte;
        webhook_tenant  org1;
    }

    location /v2/hooks {
        webhook_api     zone=hooks profile=vyte2;
        webhook_tenant  60af5269459aad001d0cb565;
    }

    location /api/v2/webhooks {
        webhook_api     zone=hooks profile=screver;
        webhook_tenant  5d00f1e3001530581cc1ea85;
        webhook_events  optionSelected surveyCompleted;
    }

    location /subscription {
        webhook_api     zone=hooks profile=hubplanner;
        webhook_tenant  59841c04844e6738c8d45123;
        webhook_events  project.update resource.update booking.create;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

run_tests();

__DATA__

=== TEST 1: vyte2: create answers with Vyte's subscription
--- request
POST /v2/hooks
{"target_url":"https://www.test.com/hooks?id=123","action":"event.cancelled"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","action":"event\.cancelled","target_url":"https://www\.test\.com/hooks\?id=123","secret":"whsec_[A-Za-z0-9+/]{32}","scope":"organization","organization":"60af5269459aad001d0cb565","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\}$
--- save_id: v1
--- no_error_log
[error]
[alert]



=== TEST 2: vyte2: get by id
--- request
GET /v2/hooks/{{v1}}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{v1}}","action":"event\.cancelled","target_url":"https://www\.test\.com/hooks\?id=123","secret":"whsec_[^"]+","scope":"organization","organization":"60af5269459aad001d0cb565","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\}$



=== TEST 3: vyte2: a second one
--- request
POST /v2/hooks
{"target_url":"https://www.toto.com/hooks?id=241","action":"event.created"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","action":"event\.created",



=== TEST 4: vyte2: the list is a bare array, items without secrets
--- request
GET /v2/hooks
--- error_code: 200
--- response_body_like chomp
^\[\{"_id":"{{v1}}","action":"event\.cancelled","target_url":"https://www\.test\.com/hooks\?id=123","scope":"organization","organization":"60af5269459aad001d0cb565","enabled":true,"createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\},\{"_id":"[0-9a-f]{24}","action":"event\.created",[^\]]*\}\]$



=== TEST 5: the default profile, named or not, keeps its envelope
--- request eval
["GET /hooks", "GET /vyte?limit=1000"]
--- error_code eval
[200, 200]
--- response_body eval
["{\"hooks\":[],\"total\":0}", "{\"hooks\":[],\"total\":0}"]



=== TEST 6: screver: create with type and url, a uuid v4 secret
--- request
POST /api/v2/webhooks
{"type":"optionSelected","url":"https://go.screver.com/api/v1/test-webhook"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","type":"optionSelected","company":"5d00f1e3001530581cc1ea85","url":"https://go\.screver\.com/api/v1/test-webhook","secret":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}","createdAt":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","updatedAt":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","__v":0\}$
--- save_id: s1
--- no_error_log
[error]
[alert]



=== TEST 7: screver: two more, one with the wildcard and a given secret
--- request eval
["POST /api/v2/webhooks\n{\"type\":\"surveyCompleted\",\"url\":\"https://go.screver.com/api/v1/test-webhook2\"}", "POST /api/v2/webhooks\n{\"type\":\"*\",\"url\":\"https://go.screver.com/api/v1/test-webhook3\",\"secret\":\"970808e3-52ac-4d8c-b584-5c8123a72698\"}"]
--- error_code eval
[201, 201]
--- response_body_like eval
[qr/"type":"surveyCompleted"/, qr/^\{"_id":"[0-9a-f]{24}","type":"\*","company":"5d00f1e3001530581cc1ea85","url":"https:\/\/go\.screver\.com\/api\/v1\/test-webhook3","secret":"970808e3-52ac-4d8c-b584-5c8123a72698",/]



=== TEST 8: screver: get by id
--- request
GET /api/v2/webhooks/{{s1}}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{s1}}","type":"optionSelected","company":"5d00f1e3001530581cc1ea85","url":"https://go\.screver\.com/api/v1/test-webhook","secret":"[0-9a-f-]{36}","createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\}$



=== TEST 9: screver: the list is {resources,total}, newest first, with secrets as its example has them
--- request
GET /api/v2/webhooks?limit=5
--- error_code: 200
--- response_body_like chomp
^\{"resources":\[\{"_id":"[0-9a-f]{24}","type":"\*","company":"5d00f1e3001530581cc1ea85","url":"https://go\.screver\.com/api/v1/test-webhook3","secret":"970808e3-52ac-4d8c-b584-5c8123a72698","createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\},\{[^{}]*"url":"[^"]*test-webhook2","secret":"[0-9a-f-]{36}",[^{}]*\},\{"_id":"{{s1}}","type":"optionSelected","company":"5d00f1e3001530581cc1ea85","url":"https://go\.screver\.com/api/v1/test-webhook","secret":"[0-9a-f-]{36}","createdAt":"[^"]+","updatedAt":"[^"]+","__v":0\}\],"total":3\}$



=== TEST 10: screver: limit is required and one of 5, 10, 25, 50, 100
--- request eval
["GET /api/v2/webhooks", "GET /api/v2/webhooks?limit=7", "GET /api/v2/webhooks?limit=1000", "GET /api/v2/webhooks?limit=abc", "GET /api/v2/webhooks?limit=100", "GET /api/v2/webhooks?limit=10&skip=2"]
--- error_code eval
[422, 422, 422, 422, 200, 200]
--- response_body_like eval
[qr/^\{"error":"validation_failed","message":"limit is required and must be one of 5, 10, 25, 50, 100","field":"limit"\}$/, qr/"field":"limit"/, qr/"field":"limit"/, qr/"field":"limit"/, qr/"total":3\}$/, qr/^\{"resources":\[\{"_id":"[0-9a-f]{24}",[^{}]*"url":"[^"]*test-webhook",[^{}]*\}\],"total":3\}$/]



=== TEST 11: screver: sort as its document writes it and as JSON
--- request eval
["GET /api/v2/webhooks?limit=5&sort=%7B%20createdAt:%20-1%20%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%20createdAt:%201%20%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%22createdAt%22:-1%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%22createdAt%22:1%7D", "GET /api/v2/webhooks?limit=5&sort={+createdAt:+1+}"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[qr/test-webhook3".*test-webhook2".*test-webhook"/s, qr/test-webhook".*test-webhook2".*test-webhook3"/s, qr/test-webhook3".*test-webhook2".*test-webhook"/s, qr/test-webhook".*test-webhook2".*test-webhook3"/s, qr/test-webhook".*test-webhook2".*test-webhook3"/s]



=== TEST 12: screver: PUT the oldest, then sort on updatedAt both ways
--- request eval
["PUT /api/v2/webhooks/{{s1}}\n{\"type\":\"optionSelected\",\"url\":\"https://go.screver.com/api/v1/test-webhook1\"}", "GET /api/v2/webhooks?limit=5&sort=%7B%20updatedAt:%20-1%20%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%22updatedAt%22:1%7D"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^\{"_id":"[0-9a-f]{24}","type":"optionSelected","company":"5d00f1e3001530581cc1ea85","url":"https:\/\/go\.screver\.com\/api\/v1\/test-webhook1","secret":"[0-9a-f-]{36}","createdAt":"[^"]+","updatedAt":"[^"]+","__v":1\}$/, qr/test-webhook1".*test-webhook3".*test-webhook2"/s, qr/test-webhook2".*test-webhook3".*test-webhook1"/s]



=== TEST 13: screver: other sorts are refused, naming sort
--- request eval
["GET /api/v2/webhooks?limit=5&sort=-createdAt", "GET /api/v2/webhooks?limit=5&sort=%7B%20name:%201%20%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%20createdAt:%202%20%7D", "GET /api/v2/webhooks?limit=5&sort=%7B%22createdAt:-1%7D", "GET /api/v2/webhooks?limit=5&sort=%7BcreatedAt:-1%7Dx"]
--- error_code eval
[422, 422, 422, 422, 422]
--- response_body_like eval
[qr/^\{"error":"validation_failed","message":"[^"]+","field":"sort"\}$/, qr/"field":"sort"/, qr/"field":"sort"/, qr/"field":"sort"/, qr/"field":"sort"/]



=== TEST 14: screver: an unknown type is refused, named as Screver names it
--- request
POST /api/v2/webhooks
{"type":"nope","url":"https://go.screver.com/x"}
--- error_code: 422
--- response_body_like chomp
^\{"error":"validation_failed","message":"unknown type \\"nope\\"","field":"type"\}$



=== TEST 15: hubplanner: create with a token, Hub Planner's keys in order
--- request
POST /subscription
{"event":"project.update","target_url":"https://mydomain.hubplanner.com/webhooks_listener","authorization_token":"secret-token-123"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","companyId":"59841c04844e6738c8d45123","creationDate":"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ","target_url":"https://mydomain\.hubplanner\.com/webhooks_listener","event":"project\.update","authorization_token":"secret-token-123"\}$
--- save_id: h1
--- no_error_log
[error]
[alert]



=== TEST 16: hubplanner: without a token there is no authorization_token
--- request
POST /subscription
{"event":"booking.create","target_url":"https://mycompany.com/webhooks_listener"}
--- error_code: 201
--- response_body_like chomp
^\{"_id":"[0-9a-f]{24}","companyId":"59841c04844e6738c8d45123","creationDate":"[^"]+","target_url":"https://mycompany\.com/webhooks_listener","event":"booking\.create"\}$



=== TEST 17: hubplanner: get by id shows the token
--- request
GET /subscription/{{h1}}
--- error_code: 200
--- response_body_like chomp
^\{"_id":"{{h1}}","companyId":"59841c04844e6738c8d45123","creationDate":"[^"]+","target_url":"https://mydomain\.hubplanner\.com/webhooks_listener","event":"project\.update","authorization_token":"secret-token-123"\}$



=== TEST 18: hubplanner: the list is a bare array, without tokens
--- request
GET /subscription
--- error_code: 200
--- response_body_like chomp
^\[\{"_id":"{{h1}}","companyId":"59841c04844e6738c8d45123","creationDate":"[^"]+","target_url":"https://mydomain\.hubplanner\.com/webhooks_listener","event":"project\.update"\},\{"_id":"[0-9a-f]{24}",[^{}]*"event":"booking\.create"\}\]$



=== TEST 19: hubplanner: event and target_url are required by those names
--- request eval
["POST /subscription\n{\"action\":\"project.update\",\"target_url\":\"https://mycompany.com/l\"}", "POST /subscription\n{\"event\":\"project.update\",\"url\":\"https://mycompany.com/l\"}"]
--- error_code eval
[422, 422]
--- response_body_like eval
[qr/"field":"event"\}$/, qr/"field":"target_url"\}$/]



=== TEST 20: hubplanner: unsubscribe
--- request eval
["DELETE /subscription/{{h1}}", "GET /subscription/{{h1}}"]
--- error_code eval
[204, 404]
--- response_body_like eval
[qr/^$/, qr/"error":"not_found"/]



=== TEST 21: one zone, other tenants: the default location still lists none
--- request
GET /hooks
--- error_code: 200
--- response_body chomp
{"hooks":[],"total":0}



=== TEST 22: vyte2: a PUT without a body lists or gets (its examples send one), a PUT with a body still replaces; elsewhere such a PUT is not a read
--- request eval
["PUT /v2/hooks/{{v1}}\n{\"target_url\":\"https://www.test.com/hooks?id=9\",\"action\":\"event.created\"}",
 "PUT /v2/hooks",
 "PUT /v2/hooks/{{v1}}",
 "PUT /hooks"]
--- error_code eval
[200, 200, 200, 405]
--- response_body_like eval
[qr/^\{"_id":"[0-9a-f]{24}","action":"event\.created","target_url":"https:\/\/www\.test\.com\/hooks\?id=9",.*"__v":1\}$/,
 qr/^\[\{"_id":"[0-9a-f]{24}","action":"event\.created",.*\}\]$/,
 qr/^\{"_id":"[0-9a-f]{24}","action":"event\.created","target_url":"https:\/\/www\.test\.com\/hooks\?id=9",.*"__v":1\}$/,
 qr/"error":"method_not_allowed"/]
