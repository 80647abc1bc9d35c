# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Snapshots bound the disk: past snapshot= the journal is folded into a
# snapshot and the segments it covers are removed.  State files are 0600 in
# a 0700 directory.  "nginx -t" only reads: it creates nothing.

use Test::Nginx::Socket 'no_plan';
use WebhookTest;

no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR fsync=off
                  snapshot=4k;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub journal_bytes {
    my $n = 0;
    $n += -s $_ for journal_files();
    return $n;
}

run_tests();

__DATA__

=== TEST 1: start empty
--- request
GET /hooks
--- response_body chomp
{"hooks":[],"total":0}



=== TEST 2: 200 writes of about 250 bytes each
--- request eval
[map { "POST /hooks\n{\"action\":\"a.b\",\"target_url\":\"https://h.example/$_\",\"description\":\"" . ('d' x 100) . "\"}" } 1 .. 200]
--- error_code eval
[(201) x 200]
--- response_body_like eval
[(qr/"_id"/) x 200]



=== TEST 3: the journal stayed small, the snapshot holds them, modes are tight
--- before
my $j = main::journal_bytes();
ok($j < 3 * 4096, "TEST 3: journal bytes left after 50k written: $j");
ok(-s snapshot_file() > 200 * 200, "TEST 3: the snapshot holds them");
my $mode = (stat(state_dir()))[2] & 07777;
is(sprintf('%o', $mode), '700', "TEST 3: the directory is 0700");
for my $f (journal_files(), snapshot_file()) {
    my $m = (stat($f))[2] & 07777;
    is(sprintf('%o', $m), '600', "TEST 3: $f is 0600");
}
--- request
GET /hooks?limit=1
--- response_body_like chomp
"total":200\}$



=== TEST 4: nginx -t only reads: a missing state directory stays missing
--- before
my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $root = servroot();
my $conf = "$root/conf/nginx.conf";
open my $in, '<', $conf or die $!;
my $text = do { local $/; <$in> };
close $in;
my $dir = state_dir() . '-never';
$text =~ s/state=\S+/state=$dir/;
open my $out, '>', "$root/conf/t.conf" or die $!;
print $out $text;
close $out;
my $res = qx{$bin -p $root/ -c $root/conf/t.conf -t 2>&1};
like($res, qr/test is successful/, "TEST 4: nginx -t passes");
ok(!-e $dir, "TEST 4: and created nothing");
--- request
GET /hooks?limit=1
--- response_body_like chomp
"total":200\}$
