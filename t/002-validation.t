# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Every validation rule of the subscription API: each bad request gets a
# 422 naming its field, and nothing is created (the last block counts).

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
        webhook_events  event.created event.cancelled;
    }

    location /open {
        webhook_api             zone=hooks;
        webhook_tenant          org2;
        webhook_target_schemes  https http;
        webhook_allow_private   10.1.0.0/16 fd00:1::/32;
    }

    location /lab {
        webhook_api             zone=hooks;
        webhook_tenant          org3;
        webhook_allow_private   on;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub bad {
    my ($path, $body, $field) = @_;
    return ["POST $path\n$body", qr/^\{"error":"validation_failed","message":"(?:[^"\\]|\\.)+","field":"$field"\}$/];
}

our @cases = (
    # action
    bad('/hooks', '{"action":"event.deleted","target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"action":"","target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"action":7,"target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"action":"event.created","type":"event.cancelled","target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"action":"event created","target_url":"https://a.example/"}', 'action'),
    # target_url shape
    bad('/hooks', '{"action":"event.created"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"example.com/x"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://u:p@a.example/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/x#frag"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example:0/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example:65536/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a example/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/' . ('x' x 2048) . '"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":123}', 'target_url'),
    # schemes: https only by default
    bad('/hooks', '{"action":"event.created","target_url":"http://a.example/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"ftp://a.example/"}', 'target_url'),
    bad('/open', '{"action":"x","target_url":"ftp://a.example/"}', 'target_url'),
    # private address literals
    bad('/hooks', '{"action":"event.created","target_url":"https://127.0.0.1/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://10.0.0.5:8443/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://172.16.3.4/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://192.168.1.1/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://169.254.169.254/latest"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://100.64.0.1/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://0.0.0.0/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://224.0.0.1/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[::1]/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[fe80::1]/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[fc00::1]/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[::ffff:127.0.0.1]/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[64:ff9b::a00:1]/"}', 'target_url'),
    bad('/hooks', '{"action":"event.created","target_url":"https://[2002:c0a8:101::1]/"}', 'target_url'),
    bad('/open', '{"action":"x","target_url":"http://10.2.0.1/"}', 'target_url'),
    # control characters, in every string field
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/\r\nX-Evil: 1"}', 'target_url'),
    bad('/hooks', '{"action":"event.created\u0000","target_url":"https://a.example/"}', 'action'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","secret":"a\nb"}', 'secret'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","authorization_token":"t\u007f"}', 'authorization_token'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","description":"d\u001b[0m"}', 'description'),
    # types and lengths of the optional fields
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","enabled":"yes"}', 'enabled'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","secret":""}', 'secret'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","secret":' . ('"' . ('s' x 257) . '"') . '}', 'secret'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","authorization_token":["x"]}', 'authorization_token'),
    bad('/hooks', '{"action":"event.created","target_url":"https://a.example/","description":"' . ('d' x 1025) . '"}', 'description'),
);

run_tests();

__DATA__

=== TEST 1: every bad request gets 422 naming its field
--- request eval
[map { $_->[0] } @main::cases]
--- error_code eval
[map { 422 } @main::cases]
--- response_body_like eval
[map { $_->[1] } @main::cases]



=== TEST 2: ... and nothing was created
--- request eval
["GET /hooks", "GET /open", "GET /lab"]
--- error_code eval
[200, 200, 200]
--- response_body eval
['{"hooks":[],"total":0}', '{"hooks":[],"total":0}', '{"hooks":[],"total":0}']



=== TEST 3: what is valid: patterns, ports, IPv6, no path, public literals
--- request eval
[
"POST /hooks\n{\"action\":\"*\",\"target_url\":\"https://a.example\"}",
"POST /hooks\n{\"action\":\"event.*\",\"target_url\":\"HTTPS://a.example:8443/p?q=1&r=%20\"}",
"POST /hooks\n{\"action\":\"event.cancelled\",\"target_url\":\"https://93.184.216.34/x\"}",
"POST /hooks\n{\"action\":\"event.created\",\"target_url\":\"https://[2606:2800:220:1::1]:443/\"}",
"POST /open\n{\"action\":\"anything:goes-here_1\",\"target_url\":\"http://10.1.2.3:8080/\"}",
"POST /open\n{\"action\":\"x\",\"target_url\":\"http://[fd00:1::5]/\"}",
"POST /lab\n{\"action\":\"x\",\"target_url\":\"https://127.0.0.1:9000/\"}",
"POST /hooks\n{\"action\":\"event.created\",\"target_url\":\"https://a.example/\",\"enabled\":false,\"description\":\"caf\xc3\xa9 \\u00e9\"}",
]
--- error_code eval
[201, 201, 201, 201, 201, 201, 201, 201]
--- response_body_like eval
[
qr/"action":"\*","target_url":"https:\/\/a\.example"/,
qr/"action":"event\.\*","target_url":"HTTPS:\/\/a\.example:8443\/p\?q=1&r=%20"/,
qr/"target_url":"https:\/\/93\.184\.216\.34\/x"/,
qr/"target_url":"https:\/\/\[2606:2800:220:1::1\]:443\/"/,
qr/"organization":"org2"/,
qr/"target_url":"http:\/\/\[fd00:1::5\]\/"/,
qr/"organization":"org3"/,
qr/"description":"caf\xc3\xa9 \xc3\xa9","scope":"organization","organization":"org1","enabled":false,"disabled_reason":"manual"/,
]



=== TEST 4: nginx -t refuses webhook_api without webhook_tenant
--- config
    location /hooks {
        webhook_api  zone=hooks;
    }
--- must_die
--- error_log
"webhook_api" requires "webhook_tenant"



=== TEST 5: nginx -t refuses webhook_publish without zone=
--- config
    location = /events {
        webhook_publish  mode=sync;
    }
--- must_die
--- error_log
"webhook_publish" must have "zone" parameter



=== TEST 6: nginx -t refuses webhook_api with a zone no webhook_zone declared
--- config
    webhook_tenant  org1;

    location /hooks {
        webhook_api  zone=nosuch profile=vyte2;
    }
--- must_die
--- error_log
unknown webhook zone "nosuch"



=== TEST 7: nginx -t refuses webhook_status without zone=
--- config
    location = /status {
        webhook_status  hooks;
    }
--- must_die
--- error_log
invalid parameter "hooks"



=== TEST 8: nginx -t refuses webhook_deliver with a zone no webhook_zone declared
--- config
    location = /_webhook {
        internal;
        webhook_deliver  zone=other;
        proxy_pass       $webhook_upstream_url;
    }
--- must_die
--- error_log
unknown webhook zone "other"
