# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Persistence: what the API acknowledged survives a stop and start, a
# kill -9, a HUP, a refused resize, a torn journal tail; corruption in the
# middle of a segment stops nginx; a second nginx on the same directory
# stays read-only until the first one goes.
#
# Blocks run in order and share one state directory; "--- before" code runs
# while the previous block's nginx is still up.

use Test::Nginx::Socket;
use WebhookTest;
use POSIX ();
use Time::HiRes qw(sleep time);

master_on();
no_shuffle();

our $Port2 = ($ENV{TEST_NGINX_SERVER_PORT} // 1984) + 11;

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:4m state=$TEST_NGINX_STATE_DIR;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

sub create_req {
    my ($n) = @_;
    return "POST /hooks\n{\"action\":\"a.b\",\"target_url\":\"https://h.example/$n\"}";
}

sub count_hooks {
    my ($port) = @_;
    my ($st, $h, $body) = http_request($port // $ENV{TEST_NGINX_SERVER_PORT},
                                       'GET', '/hooks');
    return -1 unless $st == 200 && $body =~ /"total":(\d+)\}$/;
    return $1;
}

# kill -9, HUP and worker pids mean nothing under valgrind's supervisor;
# the load paths these blocks use run under valgrind in 001-api.t
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'process-level tests are not run under valgrind');

} else {
    plan('no_plan');
}

run_tests();

__DATA__

=== TEST 1: three subscriptions acknowledged (fsync=on)
--- request eval
[main::create_req(1), main::create_req(2), main::create_req(3)]
--- error_code eval
[201, 201, 201]
--- response_body_like eval
[qr/"_id"/, qr/"_id"/, qr/"_id"/]



=== TEST 2: a stop and a start keep them
--- request
GET /hooks
--- response_body_like chomp
"target_url":"https://h\.example/1".*"target_url":"https://h\.example/2".*"target_url":"https://h\.example/3".*"total":3\}$
--- error_log
3 subscriptions loaded from



=== TEST 3: one more, then kill -9 of every nginx process
--- request
POST /hooks
{"action":"a.b","target_url":"https://h.example/4"}
--- error_code: 201



=== TEST 4: after kill -9 and a start, all four are there
--- before
ok(kill_nginx_hard() > 0, "TEST 4: nginx killed with SIGKILL");
--- request
GET /hooks
--- response_body_like chomp
"target_url":"https://h\.example/4".*"total":4\}$



=== TEST 5: a HUP keeps the live zone
--- before
my @pids = nginx_pids();
kill 'HUP', $pids[0];
sleep 1;
is(count_hooks(), 4, "TEST 5: 4 subscriptions after HUP");
--- request
GET /hooks
--- response_body_like chomp
"total":4\}$



=== TEST 6: a HUP that changes the zone size is refused, clearly
--- before
my $conf = servroot() . '/conf/nginx.conf';
open my $in, '<', $conf or die $!;
my $text = do { local $/; <$in> };
close $in;
(my $bigger = $text) =~ s/zone=hooks:4m/zone=hooks:8m/;
open my $out, '>', $conf or die $!;
print $out $bigger;
close $out;
my @pids = nginx_pids();
kill 'HUP', $pids[0];
sleep 1;
my $log = servroot() . '/logs/error.log';
open my $lf, '<', $log or die $!;
my $logtext = do { local $/; <$lf> };
like($logtext, qr/webhook zone "hooks" cannot change its size from 4194304 to 8388608 on reload, restart nginx to resize it/,
     "TEST 6: the resize is refused with a clear message");
is(count_hooks(), 4, "TEST 6: the old configuration still serves 4");
my ($st) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST', '/hooks',
                        ['Content-Type: application/json'],
                        '{"action":"a.b","target_url":"https://h.example/5"}');
is($st, 201, "TEST 6: and still takes writes");
--- request
GET /hooks
--- response_body_like chomp
"target_url":"https://h\.example/5".*"total":5\}$



=== TEST 7: a restart with a bigger zone keeps everything
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- request
GET /hooks
--- response_body_like chomp
"total":5\}$



=== TEST 8: two more writes land in a fresh journal segment
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- request eval
[main::create_req(6), main::create_req(7)]
--- error_code eval
[201, 201]



=== TEST 9: a torn tail (half a record) is skipped with a warning
--- before
kill_nginx_hard();
my @j = journal_files();
ok(@j >= 1, "TEST 9: a journal segment exists");
open my $fh, '>>', $j[-1] or die $!;
print $fh pack('V', 200), "\x01\x02\x03";
close $fh;
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- request
GET /hooks
--- response_body_like chomp
"target_url":"https://h\.example/7".*"total":7\}$
--- error_log
torn



=== TEST 10: corruption in the middle of a segment stops nginx, naming it
--- before
is(count_hooks(), 7, "TEST 10: 7 before the crash");
for my $n (8, 9) {
    my ($st) = http_request($ENV{TEST_NGINX_SERVER_PORT}, 'POST', '/hooks',
                            ['Content-Type: application/json'],
                            "{\"action\":\"a.b\",\"target_url\":\"https://h.example/$n\"}");
    is($st, 201, "TEST 10: create $n");
}
kill_nginx_hard();
my @j = journal_files();
open my $fh, '+<', $j[-1] or die $!;
seek $fh, 30, 0;
print $fh "XXXX";
close $fh;
$main::Corrupted = $j[-1];
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- must_die



=== TEST 11: a second nginx on the same directory stays read-only, then takes over
--- before
my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $root = servroot();
my $out = qx{$bin -p $root/ -c $root/conf/nginx.conf -t 2>&1};
like($out, qr/state journal ".*\/journal-[0-9a-f]+-[0-9a-f]+-\d+\.log" is corrupted at offset \d+/,
     "TEST 11: nginx -t names the corrupted segment");
like($out, qr/test failed/, "TEST 11: and fails");
unlink $main::Corrupted;
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- request
POST /hooks
{"action":"a.b","target_url":"https://h.example/10"}
--- error_code: 201



=== TEST 12: ... (the takeover itself)
--- before
my $dir = state_dir();
my $pidfile = start_nginx_with(File::Spec->rel2abs('t/servroot-second'), <<"_EOC_");
events { worker_connections 64; }
http {
    webhook_zone  zone=hooks:8m state=$dir;
    server {
        listen 127.0.0.1:$main::Port2;
        location /hooks { webhook_api zone=hooks; webhook_tenant org1; }
    }
}
_EOC_
ok(wait_port($main::Port2), "TEST 12: the second nginx listens");
# a write is held while the first nginx holds the state, 503 when the
# wait (10 s) is over
my $t = time;
my ($st, $h, $body) = http_request($main::Port2, 'POST', '/hooks',
                                   ['Content-Type: application/json'],
                                   '{"action":"a.b","target_url":"https://h.example/11"}');
is($st, 503, "TEST 12: the second nginx refuses writes");
ok(time - $t > 9, sprintf("TEST 12: after holding the write (%.1fs)", time - $t));
is($h->{'retry-after'}, '1', "TEST 12: with Retry-After");
like($body, qr/^\{"error":"unavailable"/, "TEST 12: as JSON");
# a write and a read held while the first nginx stops: answered by the
# second once it has taken the state over
my @kids;
unlink map { state_dir() . "-second-$_" } qw(POST GET);
for my $req (['POST', '/hooks', ['Content-Type: application/json'],
              '{"action":"a.b","target_url":"https://h.example/12"}'],
             ['GET', '/hooks'])
{
    my $kid = fork // die "fork: $!";
    if ($kid == 0) {
        my ($st, $h, $body) = http_request($main::Port2, @$req);
        open my $fh, '>', state_dir() . "-second-$req->[0]";
        print $fh "$st $body";
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $kid;
}
sleep 0.5;    # both sent (a duration: nothing tells they are held)
stop_nginx();
my $deadline = time + 15;
for my $kid (@kids) {
    sleep 0.05 while waitpid($kid, POSIX::WNOHANG()) != $kid && time < $deadline;
}
my $read = sub { open my $fh, '<', state_dir() . "-second-$_[0]" or return '';
                 local $/; <$fh> // '' };
like($read->('POST'), qr/^201 /, "TEST 12: a held write, answered once the first nginx is gone");
like($read->('GET'), qr{^200 .*"target_url":"https://h\.example/10"},
     "TEST 12: a held read, answered after the takeover");
stop_nginx($pidfile);
--- http_config
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
--- request
GET /hooks
--- response_body_like chomp
"target_url":"https://h\.example/10".*"target_url":"https://h\.example/12"
