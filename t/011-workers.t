# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Two workers (master on) writing at once: every acknowledged create is
# listed, after a restart too; a worker killed in the middle of the load
# while the other goes on writing loses nothing that was acknowledged.

use Test::Nginx::Socket;
use WebhookTest;
use POSIX ();

master_on();
workers(2);
no_shuffle();

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=hooks:8m state=$TEST_NGINX_STATE_DIR;
_EOC_
    config => <<'_EOC_',
    location /hooks {
        webhook_api     zone=hooks;
        webhook_tenant  org1;
        webhook_max_subscriptions 100000;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# Forks $procs clients that create $each subscriptions each; returns the
# number of 201 answers.
sub parallel_creates {
    my ($procs, $each, $tag) = @_;

    my $port = $ENV{TEST_NGINX_SERVER_PORT};
    my @kids;
    my $dir = File::Spec->rel2abs("t/servroot-state/011-counts");
    mkdir $dir;

    for my $p (1 .. $procs) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $ok = 0;
            for my $i (1 .. $each) {
                my ($st) = WebhookTest::http_request($port, 'POST', '/hooks',
                    ['Content-Type: application/json'],
                    "{\"action\":\"a.b\",\"target_url\":\"https://h.example/$tag/$p/$i\"}");
                $ok++ if $st == 201;
            }
            open my $fh, '>', "$dir/$tag-$p" or POSIX::_exit(1);
            print $fh $ok;
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }

    waitpid $_, 0 for @kids;

    my $total = 0;
    for my $p (1 .. $procs) {
        open my $fh, '<', "$dir/$tag-$p" or next;
        $total += <$fh>;
        close $fh;
    }

    return $total;
}

sub count_hooks {
    my ($st, $h, $body) = http_request($ENV{TEST_NGINX_SERVER_PORT},
                                       'GET', '/hooks?limit=1');
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

=== TEST 1: nginx with two workers starts empty
--- request
GET /hooks
--- response_body chomp
{"hooks":[],"total":0}



=== TEST 2: 8 clients x 25 parallel creates: all 200 acknowledged and listed
--- before
my $n = main::parallel_creates(8, 25, 'p');
is($n, 200, "TEST 2: 200 creates acknowledged");
is(main::count_hooks(), 200, "TEST 2: 200 listed before the restart");
--- request
GET /hooks?limit=1
--- response_body_like chomp
"total":200\}$



=== TEST 3: one worker killed with SIGKILL while the load goes on
--- before
my @pids = nginx_pids();
my @workers = @pids[1 .. $#pids];
ok(@workers >= 2, "TEST 3: two workers");
my $kid = fork // die;
if ($kid == 0) {
    select undef, undef, undef, 0.2;
    kill 'KILL', $workers[0];
    POSIX::_exit(0);
}
my $n = main::parallel_creates(4, 50, 'k');
waitpid $kid, 0;
ok($n > 0, "TEST 3: creates went on ($n acknowledged)");
my $acked = 200 + $n;
sleep 0.5;
# a create stored whose answer died with its worker is listed too: at most
# one per client (4) beyond those acknowledged
my $listed = main::count_hooks();
ok($listed >= $acked && $listed <= $acked + 4,
   "TEST 3: every acknowledged create listed ($listed listed, $acked acknowledged)");
$WebhookTest::Saved{acked} = $listed;
kill_nginx_hard();
--- request
GET /hooks?limit=1
--- response_body_like chomp
"total":{{acked}}\}$
