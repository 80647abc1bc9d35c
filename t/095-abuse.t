# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Hostile requests to the subscription API and to publishing: malformed
# and hostile JSON (deep nesting, huge strings, invalid UTF-8, duplicate
# keys, wrong types), oversized bodies, URLs with credentials, fragments,
# odd ports, odd IPv4 forms and IPv6 literals, CR/LF and control
# characters in every field, ids of the wrong shape, bad tenants.  Each is
# answered with a clear JSON 4xx, and changes nothing: after every refused
# write the subscription list (or the zone's counters) is read again.
#
# Only requests and responses: the file also runs under valgrind.
# Deliveries of hostile values are t/096-abuse-delivery.t.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone           zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off;
    webhook_max_body_size  16k;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
        webhook_events  event.created event.cancelled;
    }

    location /t/hooks {
        webhook_api     zone=hooks;
        webhook_tenant  $http_x_tenant;
    }

    location = /events {
        webhook_publish  zone=hooks;
        webhook_tenant   org1;
        webhook_events   event.created event.cancelled;
    }

    location = /t/events {
        webhook_publish  zone=hooks;
        webhook_tenant   $http_x_tenant;
    }

    location = /status {
        webhook_status  zone=hooks;
    }

    location = /_webhook {
        internal;
        webhook_deliver  zone=hooks;
        webhook_retry    1h;
        resolver         127.0.0.1:19979;
        proxy_pass       $webhook_upstream_url;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

my $URL = 'https://a.example/base';

sub sub_body {
    my (%f) = @_;
    my %all = (action => '"event.created"', target_url => "\"$URL\"", %f);
    return '{' . join(',', map { "\"$_\":$all{$_}" }
                           grep { defined $all{$_} } sort keys %all) . '}';
}

sub nest { my ($n) = @_; return ('[' x $n) . (']' x $n) }

sub err {
    my ($code, $field) = @_;
    return qr/^\{"error":"$code","message":"(?:[^"\\]|\\.)+"(?:,"field":"$field")?(?:,"index":\d+)?\}$/
        if defined $field;
    return qr/^\{"error":"$code","message":"(?:[^"\\]|\\.)+"(?:,"field":"[^"]+")?(?:,"index":\d+)?\}$/;
}

# [ request, status, body ]: each one a write that must change nothing
our @api = (
    # malformed and hostile JSON
    ["POST /hooks\n" . nest(5000), 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body(x => nest(1001)), 400, err('invalid_json')],
    ["POST /hooks\n" . ('{"a":' x 1200) . '1' . ('}' x 1200), 400, err('invalid_json')],
    ["POST /hooks\n", 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body() . ' x', 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body() . '{}', 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body(enabled => 'NaN'), 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body(description => '"\ud800"'), 400, err('invalid_json')],
    ["POST /hooks\n" . sub_body(description => "\"a\x01b\""), 422, err('validation_failed', 'description')],
    ["POST /hooks\n[]", 400, err('invalid_json')],
    ["POST /hooks\n\"x\"", 400, err('invalid_json')],
    ["POST /hooks\nnull", 400, err('invalid_json')],
    # huge strings: over the body limit, and under it but over a field's
    ["POST /hooks\n" . sub_body(description => '"' . ('d' x 20000) . '"'), 413, err('payload_too_large')],
    ["POST /hooks\n" . sub_body(description => '"' . ('d' x 10000) . '"'), 422, err('validation_failed', 'description')],
    ["POST /hooks\n" . sub_body(action => '"' . ('a' x 129) . '"'), 422, err('validation_failed', 'action')],
    ["POST /hooks\n" . sub_body(authorization_token => '"' . ('t' x 1025) . '"'), 422, err('validation_failed', 'authorization_token')],
    ["POST /hooks\n" . sub_body(secret => '"' . ('s' x 257) . '"'), 422, err('validation_failed', 'secret')],
    # invalid UTF-8: stray bytes, overlong forms, surrogates, truncated
    ["POST /hooks\n" . sub_body(description => "\"\xff\""), 422, err('validation_failed', 'description')],
    ["POST /hooks\n" . sub_body(description => "\"\xc0\xaf\""), 422, err('validation_failed', 'description')],
    ["POST /hooks\n" . sub_body(description => "\"\xed\xa0\x80\""), 422, err('validation_failed', 'description')],
    ["POST /hooks\n" . sub_body(description => "\"\xe2\x82\""), 422, err('validation_failed', 'description')],
    ["POST /hooks\n" . sub_body(secret => "\"\xf8\x88\x80\x80\x80\""), 422, err('validation_failed', 'secret')],
    ["POST /hooks\n" . sub_body(target_url => "\"https://caf\xc3\xa9.example/\""), 422, err('validation_failed', 'target_url')],
    # duplicate keys that disagree, under one name or two
    ['POST /hooks' . "\n" . '{"action":"event.created","action":"event.cancelled","target_url":"' . $URL . '"}', 422, err('validation_failed', 'action')],
    ['POST /hooks' . "\n" . '{"action":"event.created","type":"event.cancelled","target_url":"' . $URL . '"}', 422, err('validation_failed', 'action')],
    ['POST /hooks' . "\n" . '{"action":"event.created","target_url":"' . $URL . '","url":"https://b.example/"}', 422, err('validation_failed', 'target_url')],
    ['POST /hooks' . "\n" . '{"action":"event.created","target_url":"' . $URL . '","enabled":true,"enabled":false}', 422, err('validation_failed', 'enabled')],
    # wrong types
    ["POST /hooks\n" . sub_body(action => '1'), 422, err('validation_failed', 'action')],
    ["POST /hooks\n" . sub_body(action => 'null'), 422, err('validation_failed', 'action')],
    ["POST /hooks\n" . sub_body(target_url => '["https://a.example/"]'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '{"href":"https://a.example/"}'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(enabled => '1'), 422, err('validation_failed', 'enabled')],
    ["POST /hooks\n" . sub_body(enabled => '"false"'), 422, err('validation_failed', 'enabled')],
    ["POST /hooks\n" . sub_body(secret => '{}'), 422, err('validation_failed', 'secret')],
    ["POST /hooks\n" . sub_body(description => '12'), 422, err('validation_failed', 'description')],
    # URLs: credentials, fragments, ports, IPv4 forms, IPv6 literals
    ["POST /hooks\n" . sub_body(target_url => '"https://user@a.example/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://u:p@a.example/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example@127.0.0.1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example/x#"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example/x?y#z"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:0/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:-1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:65536/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:18446744073709551617/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example:44x/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://2130706433/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://0x7f000001/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://0177.0.0.1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://127.1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example.1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://localhost./"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://x.LOCALHOST/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[::1]:8443/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[::]/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[::ffff:10.0.0.1]/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[fe80::1%25eth0]/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[1.2.3.4]/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[::1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://[]/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://2606:2800:220:1::1/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https:///a.example/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"//a.example/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"https://a.example\\\\@b.example/"'), 422, err('validation_failed', 'target_url')],
    ["POST /hooks\n" . sub_body(target_url => '"javascript:alert(1)"'), 422, err('validation_failed', 'target_url')],
    # CR/LF and control characters, in every field and under every name
    (map {
        my ($f, $name) = @$_;
        map {
            ["POST /hooks\n" . sub_body(action => ($f =~ /^(type|event)$/ ? undef : '"event.created"'), $f => "\"x$_\""), 422, err('validation_failed', $name)]
        } ('\r\nX-Evil: 1', '\n', '\r', '\u0000', '\t', '\u001f', '\u007f')
    } ([action => 'action'], [type => 'type'], [event => 'event'],
       [description => 'description'], [secret => 'secret'],
       [authorization_token => 'authorization_token'])),
    (map {
        ["POST /hooks\n" . sub_body(target_url => "\"https://a.example/$_\""), 422, err('validation_failed', 'target_url')],
        ["POST /hooks\n" . sub_body(target_url => undef, url => "\"https://a.example/$_\""), 422, err('validation_failed', 'url')],
    } ('\r\nX-Evil: 1', '\n', '\u0000', '\t', '\u007f', ' ')),
    # raw CR/LF inside a string: cJSON takes it, the field check does not
    ['POST /hooks' . "\n" . '{"action\u0000":"x","action":"event.created","target_url":"' . $URL . "\r\n" . '"}', 422, err('validation_failed', 'target_url')],
);

# the same on PUT and PATCH of an existing subscription
our @update = map {
    my ($method) = $_;
    (
        ["$method /hooks/{{base}}\n" . sub_body(target_url => '"https://a.example/\r\nX: 1"'), 422, err('validation_failed', 'target_url')],
        ["$method /hooks/{{base}}\n" . sub_body(action => '"event.deleted"'), 422, err('validation_failed', 'action')],
        ["$method /hooks/{{base}}\n" . sub_body(description => '"\u0000"'), 422, err('validation_failed', 'description')],
        ["$method /hooks/{{base}}\n" . sub_body(authorization_token => '"a\nb"'), 422, err('validation_failed', 'authorization_token')],
        ["$method /hooks/{{base}}\n" . sub_body(enabled => '"no"'), 422, err('validation_failed', 'enabled')],
        ["$method /hooks/{{base}}\n" . sub_body(target_url => '"https://10.0.0.1/"'), 422, err('validation_failed', 'target_url')],
        ["$method /hooks/{{base}}\n" . nest(3000), 400, err('invalid_json')],
        ["$method /hooks/{{base}}\n[" . sub_body() . "]", 400, err('invalid_json')],
        ["$method /hooks/{{base}}\n" . sub_body(description => '"' . ('d' x 17000) . '"'), 413, err('payload_too_large')],
    )
} qw(PUT PATCH);

# ids of the wrong shape: 404, JSON, for every method and sub-resource
# (a NUL or a path above the root in the URI: nginx's own 400, before us)
our @ids = map {
    my ($id, $status) = @$_;
    my $re = $status == 404 ? qr/^\{"error":"not_found","message":"[^"]+"\}$/
                            : qr/400 Bad Request/;
    (
        ["GET /hooks/$id", $status, $re],
        ["PUT /hooks/$id\n" . sub_body(), $status, $re],
        ["PATCH /hooks/$id\n{\"enabled\":false}", $status, $re],
        ["DELETE /hooks/$id", $status, $re],
        ["POST /hooks/$id/test", $status, $re],
        ["POST /hooks/$id/secret/rotate", $status, $re],
        ["GET /hooks/$id/deliveries", $status, $re],
        ["POST /hooks/$id/deliveries/evt_1/retry", $status, $re],
    )
} (['x', 404], ['5a4e41aaa8ced3001bf5da7', 404],
   ['5a4e41aaa8ced3001bf5da777', 404], ['5A4E41AAA8CED3001BF5DA77', 404],
   ['5a4e41aaa8ced3001bf5da7g', 404], ['5a4e41aaa8ced3001bf5da77%0d%0a', 404],
   ['5a4e41aaa8ced3001bf5da77%20', 404], ['f' x 5000, 404],
   ['5a4e41aaa8ced3001bf5da77/x/y', 404],
   ['%00a4e41aaa8ced3001bf5da7', 400], ['..%2f..%2f..%2fetc', 400]);

# publishing: all refused, nothing stored
our @publish = (
    ["POST /events\n" . nest(5000), 400, err('invalid_json')],
    ["POST /events\n" . '{"action":"event.created","resource":' . nest(1001) . '}', 400, err('invalid_json')],
    ["POST /events\n", 400, err('invalid_json')],
    ["POST /events\n" . '{"action":"event.created"} {}', 400, err('invalid_json')],
    ["POST /events\n" . "{\"action\":\"event.created\",\"resource\":\"\xff\"}", 400, err('invalid_json')],
    ["POST /events\n" . "{\"action\":\"event.created\",\"resource\":\"\xc0\xaf\"}", 400, err('invalid_json')],
    ["POST /events\n" . "{\"action\":\"event.created\",\"resource\":\"\xed\xa0\x80\"}", 400, err('invalid_json')],
    ["POST /events\n" . '{"action":"event.created","resource":"\udc00"}', 400, err('invalid_json')],
    ["POST /events\n" . '{"action":"event.created","resource":"' . ('r' x 20000) . '"}', 413, err('payload_too_large')],
    ["POST /events\n" . '"event.created"', 400, err('invalid_json')],
    ["POST /events\n[]", 422, err('validation_failed')],
    ["POST /events\n" . '[{"action":"event.created"},7]', 422, err('validation_failed')],
    ["POST /events\n" . '[{"action":"event.created"},{"action":"event.created","id":"a\r\nb"}]', 422, err('validation_failed', 'id')],
    ["POST /events\n" . '{"action":7}', 422, err('validation_failed', 'action')],
    ["POST /events\n" . '{"action":"event.created\r\nX: 1"}', 422, err('validation_failed', 'action')],
    ["POST /events\n" . '{"action":"event.created\u0000"}', 422, err('validation_failed', 'action')],
    ["POST /events\n" . '{"action":"event.*"}', 422, err('validation_failed', 'action')],
    ["POST /events\n" . '{"action":"event.deleted"}', 422, err('validation_failed', 'action')],
    ["POST /events\n" . '{"type":"event.created\n"}', 422, err('validation_failed', 'type')],
    ["POST /events\n" . '{"action":"event.created","id":5}', 422, err('validation_failed', 'id')],
    ["POST /events\n" . '{"action":"event.created","id":""}', 422, err('validation_failed', 'id')],
    ["POST /events\n" . '{"action":"event.created","id":"a b"}', 422, err('validation_failed', 'id')],
    ["POST /events\n" . '{"action":"event.created","id":"a\u0000"}', 422, err('validation_failed', 'id')],
    ["POST /events\n" . '{"action":"event.created","id":"' . ('i' x 65) . '"}', 422, err('validation_failed', 'id')],
);

# tenants that cannot be placed in JSON and headers unescaped: 401
our @tenants = map {
    my $t = $_;
    (
        ["GET /t/hooks", 401, $t],
        ["POST /t/hooks\n" . sub_body(), 401, $t],
        ["POST /t/events\n{\"action\":\"x\"}", 401, $t],
    )
} ('org 1', 'org"1', 'org\\1', 'a' x 129, "org\x{e9}", 'org/1', 'org;1');

run_tests();

__DATA__

=== TEST 1: the subscription that refused writes must leave alone
--- request eval
"POST /hooks\n" . main::sub_body(description => '"base"')
--- error_code: 201
--- save_id: base
--- response_body_like: "target_url":"https://a\.example/base".*"__v":0\}$



=== TEST 2: hostile bodies: each refused with a JSON 4xx, the list the same after each
--- request eval
[map { ($_->[0], "GET /hooks") } @main::api]
--- error_code eval
[map { ($_->[1], 200) } @main::api]
--- response_body_like eval
[map { ($_->[2], qr/^\{"hooks":\[\{"_id":"[0-9a-f]{24}",[^\]]*"description":"base"[^\]]*"__v":0\}\],"total":1\}$/) } @main::api]



=== TEST 3: hostile PUT and PATCH: refused, the subscription unchanged after each
--- request eval
[map { ($_->[0], "GET /hooks/{{base}}") } @main::update]
--- error_code eval
[map { ($_->[1], 200) } @main::update]
--- response_body_like eval
[map { ($_->[2], qr/^\{"_id":"[0-9a-f]{24}","action":"event\.created","target_url":"https:\/\/a\.example\/base",.*"description":"base",.*"enabled":true,.*"__v":0\}$/) } @main::update]



=== TEST 4: ids of the wrong shape: 404 not_found, as JSON, for every method and sub-resource
--- request eval
[map { $_->[0] } @main::ids]
--- error_code eval
[map { $_->[1] } @main::ids]
--- response_body_like eval
[map { $_->[2] } @main::ids]



=== TEST 5: ... and nothing changed
--- request eval
["GET /hooks", "GET /hooks/{{base}}"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/"total":1\}$/, qr/"description":"base".*"__v":0\}$/]



=== TEST 6: hostile events: each refused with a JSON 4xx, the zone holds no event after each
--- request eval
[map { ($_->[0], "GET /status") } @main::publish]
--- error_code eval
[map { ($_->[1], 200) } @main::publish]
--- response_body_like eval
[map { ($_->[2], qr/^\{"zone":"hooks","subscriptions":1,"events":0,"deliveries":\{"queued":0,"in_flight":0,"failed":0[,}]/) } @main::publish]



=== TEST 7: tenants that JSON or headers would need escaped: 401, nothing created
--- request eval
[(map { $_->[0] } @main::tenants), "GET /status"]
--- more_headers eval
[(map { "Content-Type: application/json\nX-Tenant: $_->[2]" } @main::tenants), ""]
--- error_code eval
[(map { $_->[1] } @main::tenants), 200]
--- response_body_like eval
[(map { qr/^\{"error":"unauthorized","message":"[^"]+"\}$/ } @main::tenants),
 qr/"subscriptions":1,"events":0,/]



=== TEST 8: a body over webhook_max_body_size: 413 as JSON
--- raw_request eval
"POST /hooks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 16385\r\nConnection: close\r\n\r\n" . ('{' x 16385)
--- error_code: 413
--- response_body_like: ^\{"error":"payload_too_large","message":"the request body is larger than 16384 bytes"\}$



=== TEST 9: the same for publishing
--- raw_request eval
"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n" . ('[' x 100000)
--- error_code: 413
--- response_body_like: ^\{"error":"payload_too_large","message":"the request body is larger than 16384 bytes"\}$



=== TEST 10: a chunked body over the limit: 413 as JSON
--- raw_request eval
"POST /hooks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
. "3000\r\n" . ('x' x 0x3000) . "\r\n3000\r\n" . ('x' x 0x3000) . "\r\n0\r\n\r\n"
--- error_code: 413
--- response_body_like: ^\{"error":"payload_too_large","message":"the request body is larger than 16384 bytes"\}$



=== TEST 11: ... and nothing was stored
--- request
GET /status
--- error_code: 200
--- response_body_like: "subscriptions":1,"events":0,



=== TEST 12: what is hostile-looking but valid is kept exactly: nesting under the limit, escapes, a percent-encoded CR/LF
--- request eval
["POST /hooks\n" . main::sub_body(target_url => '"https://a.example/p?q=%0d%0aX:%201"', description => '"\u00e9\ud83d\ude00 <b>\"q\"\\\\</b>"', x => main::nest(999)),
 "POST /events\n" . '{"action":"event.created","resource":' . main::nest(900) . ',"user":{"a":"\u0000"}}']
--- error_code eval
[201, 202]
--- response_body_like eval
[qr/"target_url":"https:\/\/a\.example\/p\?q=%0d%0aX:%201".*"description":"\x{c3}\x{a9}\x{f0}\x{9f}\x{98}\x{80} <b>\\"q\\"\\\\<\/b>"/,
 qr/^\{"id":"evt_[0-9a-f]{24}","deliveries":2\}$/]
