# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# A full zone answers 507 zone_full and changes nothing: no half-written
# subscription, no lost one, the same after a restart.

use Test::Nginx::Socket;
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=small:64k state=$TEST_NGINX_STATE_DIR fsync=off;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=small;
        webhook_tenant  org1;
        webhook_max_subscriptions 100000;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub post {
    my ($n, $desc) = @_;
    return http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST', '/hooks',
        ['Content-Type: application/json'],
        "{\"action\":\"a.b\",\"target_url\":\"https://h.example/$n\","
        . "\"description\":\"$desc\"}");
}

sub total {
    my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT},
                                       'GET', '/hooks?limit=1');
    return $body =~ /"total":(\d+)\}$/ ? $1 : -1;
}

# the flood runs against the previous block's nginx, which the valgrind
# mode of the runner stops after each block
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'needs nginx running between blocks');

} else {
    plan('no_plan');
}

run_tests();

__DATA__

=== TEST 1: an empty small zone
--- request
GET /hooks
--- response_body chomp
{"hooks":[],"total":0}



=== TEST 2: creates until the zone is full: then 507, and nothing half-made
--- before
my ($ok, $full, $body) = (0, 0, '');
for my $n (1 .. 400) {
    my ($st, $h, $b) = main::post($n, 'd' x 900);
    if ($st == 201) { $ok++; next; }
    if ($st == 507) { $full++; $body = $b; last; }
    fail("TEST 2: unexpected status $st");
    last;
}
ok($ok > 5, "TEST 2: $ok created before the zone filled");
is($full, 1, "TEST 2: then 507");
like($body, qr/^\{"error":"zone_full","message":"(?:[^"\\]|\\.)+"\}$/, "TEST 2: zone_full");
is(main::total(), $ok, "TEST 2: exactly the acknowledged ones are listed");
$WebhookTest::Saved{ok} = $ok;
my ($st) = main::post(9999, 'small');
ok($st == 201 || $st == 507, "TEST 2: a small one may still fit ($st)");
$WebhookTest::Saved{ok} = $ok + ($st == 201 ? 1 : 0);
--- request
GET /hooks?limit=1
--- response_body_like chomp
"total":{{ok}}\}$
