# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Listing: limit, skip, sort by createdAt/updatedAt both ways, the action
# filter, the total, and the 422 of bad query values.

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

    location /other {
        webhook_api     zone=hooks;
        webhook_tenant  org2;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub mk {
    my ($n, $action) = @_;
    return "POST /hooks\n{\"action\":\"$action\",\"target_url\":\"https://h.example/$n\"}";
}

sub urls {
    my $re = join '.*', map { "\"target_url\":\"https://h\\.example/$_\"" } @_;
    return qr/$re/s;
}

run_tests();

__DATA__

=== TEST 1: five subscriptions of two actions, one of another tenant
--- request eval
[main::mk(1, "a.one"), main::mk(2, "a.two"), main::mk(3, "a.one"), main::mk(4, "a.two"), main::mk(5, "a.one"), "POST /other\n{\"action\":\"a.one\",\"target_url\":\"https://h.example/9\"}"]
--- error_code eval
[201, 201, 201, 201, 201, 201]
--- response_body_like eval
[qr/"_id"/, qr/"_id"/, qr/"_id"/, qr/"_id"/, qr/"_id"/, qr/"_id"/]



=== TEST 2: remember the second
--- request
GET /hooks?skip=1&limit=1
--- response_body_like chomp
h\.example/2"
--- save_id: two



=== TEST 3: remember the fourth
--- request
GET /hooks?skip=3&limit=1
--- response_body_like chomp
h\.example/4"
--- save_id: four



=== TEST 4: touch 2 then 4, so that updatedAt orders them 1 3 5 2 4
--- request eval
["PATCH /hooks/{{two}}\n{\"description\":\"x\"}", "PATCH /hooks/{{four}}\n{\"description\":\"y\"}"]
--- error_code eval
[200, 200]



=== TEST 5: sort=updatedAt and -updatedAt
--- request eval
["GET /hooks?sort=updatedAt", "GET /hooks?sort=-updatedAt"]
--- response_body_like eval
[main::urls(1, 3, 5, 2, 4), main::urls(4, 2, 5, 3, 1)]



=== TEST 3: default order is creation, with the total of the tenant only
--- request
GET /hooks
--- response_body_like eval
main::urls(1, 2, 3, 4, 5)
--- response_body_unlike
h\.example/9



=== TEST 4: limit and skip page through it; total stays the full count
--- request eval
["GET /hooks?limit=2", "GET /hooks?limit=2&skip=2", "GET /hooks?limit=2&skip=4", "GET /hooks?skip=9"]
--- response_body_like eval
[qr/^\{"hooks":\[\{[^\]]*h\.example\/1"[^\]]*h\.example\/2"[^\]]*\}\],"total":5\}$/,
 qr/^\{"hooks":\[\{[^\]]*h\.example\/3"[^\]]*h\.example\/4"[^\]]*\}\],"total":5\}$/,
 qr/^\{"hooks":\[\{[^\]]*h\.example\/5"[^\]]*\}\],"total":5\}$/,
 qr/^\{"hooks":\[\],"total":5\}$/]



=== TEST 5: -createdAt reverses it
--- request
GET /hooks?sort=-createdAt
--- response_body_like eval
main::urls(5, 4, 3, 2, 1)



=== TEST 6: the action filter
--- request eval
["GET /hooks?action=a.two", "GET /hooks?action=a.none"]
--- response_body_like eval
[qr/^\{"hooks":\[[^\]]*h\.example\/2"[^\]]*h\.example\/4"[^\]]*\],"total":2\}$/,
 qr/^\{"hooks":\[\],"total":0\}$/]



=== TEST 7: bad query values: 422 naming the parameter
--- request eval
["GET /hooks?limit=0", "GET /hooks?limit=1001", "GET /hooks?limit=abc", "GET /hooks?skip=-1", "GET /hooks?sort=name"]
--- error_code eval
[422, 422, 422, 422, 422]
--- response_body_like eval
[qr/"field":"limit"/, qr/"field":"limit"/, qr/"field":"limit"/, qr/"field":"skip"/, qr/"field":"sort"/]
