# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Fault: reloads (HUP) and a binary upgrade (USR2, then QUIT of the old
# master) under load (DESIGN sections 8 and 10): no error to any client,
# nothing lost.
#
# A provider (a master, two workers, fsync=on) on 127.0.0.1:19954 and a
# receiver of its own on 127.0.0.1:19955.  The load: two publishers
# (events "p-n" and "q-n", one request at a time) and an API client that
# creates, reads and deletes subscriptions of another action, in a loop;
# each records the status of every request.
#
#   1. two reloads (HUP), each waited for until the old workers are gone;
#   2. USR2 to the master: a new master and its workers start beside the
#      old ones and accept on the same sockets; the new instance is
#      read-only (the old master holds the state lock), so it holds the
#      requests it gets, trying to take the state over, instead of
#      answering 503; QUIT to the old master: its workers finish, the lock
#      is free, the new instance takes over (replaying what the old one
#      wrote meanwhile) and answers what it held.
#
# Every request gets its expected answer (202, 201, 200, 204), none waits
# as long as the hold limit, and every acknowledged event is delivered.
#
# Instances under t/servroot-state/092-upgrade.

use Test::Nginx::Socket;
use WebhookTest;
use FaultTest;
use POSIX ();
use Time::HiRes qw(sleep time);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'signals to nginx processes are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = fault_base();
our $Port = 19954;
our $RecvPort = 19955;
our $Nginx = "$Base/nginx";
our $Recv = "$Base/recv";
our $RecvLog = "$Base/received.log";
our $PidFile = "$Nginx/logs/nginx.pid";

write_recv_conf(prefix => $Recv, port => $RecvPort, log => $RecvLog);

write_provider_conf(prefix => $Nginx, port => $Port, zone => 'up',
                    state => "$Base/state", zone_args => 'fsync=on',
                    retry => '500ms 500ms 500ms 500ms 500ms');

# creates, reads and deletes subscriptions until $Base/api.stop exists;
# "step status seconds" per request in $Base/api.log
sub api_client {
    unlink "$Base/api.log", "$Base/api.stop";

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    open my $log, '>', "$Base/api.log" or POSIX::_exit(1);
    $log->autoflush(1);

    my $req = sub {
        my ($step, @args) = @_;
        my $t = time;
        my ($st, $h, $body) = http_request($Port, @args);
        printf $log "%s %d %.3f\n", $step, $st, time - $t;
        return ($st, $body);
    };

    my $n = 0;

    while (!-e "$Base/api.stop") {
        $n++;
        my ($st, $body) = $req->('create', 'POST', '/hooks',
            ['Content-Type: application/json'],
            qq({"action":"api.ev","target_url":"http://127.0.0.1:$RecvPort/a$n"}));
        my ($id) = $body =~ /"_id":"([0-9a-f]{24})"/;
        next unless $st == 201 && $id;

        $req->('get', 'GET', "/hooks/$id");
        $req->('delete', 'DELETE', "/hooks/$id");
        sleep 0.01;
    }

    close $log;
    POSIX::_exit(0);
}

sub api_log {
    open my $fh, '<', "$Base/api.log" or return ();
    my @r = map { [split ' '] } grep { /^\w+ \d+ [\d.]+$/ } <$fh>;
    close $fh;
    return @r;
}

sub master_pid {
    my ($file) = @_;
    my $s = slurp($file // $PidFile);
    return $s =~ /(\d+)/ ? $1 : 0;
}

sub children {
    my ($master) = @_;
    my @pids;

    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my $st = slurp("/proc/$p/stat");
        push @pids, $p if $st =~ /\)\s+[RSD]\s+(\d+)/ && $1 == $master;
    }
    closedir $dh;

    @pids = sort @pids;
    return @pids;
}

sub alive {
    my ($pid) = @_;
    my $st = slurp("/proc/$pid/stat");
    return $st ne '' && $st !~ /\)\s+Z\s/;
}

sub main_test {
    start_ok($Recv, 'the receiver', $RecvPort);
    start_ok($Nginx, 'nginx', $Port);

    my ($st, $h, $body) = http_request($Port, 'POST', '/hooks',
        ['Content-Type: application/json'],
        qq({"action":"u.ev","target_url":"http://127.0.0.1:$RecvPort/u"}));
    is($st, 201, 'a subscription') or diag($body);

    my @pubs = map { publisher(port => $Port, uri => '/events', dir => $Base,
                               id => $_, action => 'u.ev', pause => 0.005) }
               qw(p q);
    my $api = api_client();

    my $acked = sub { my @a = map { publisher_acked($Base, $_) } qw(p q);
                      scalar @a };
    my $t0 = time;

    ok(wait_until(20, sub { $acked->() >= 40 }), 'the load runs');

    # 1. reloads

    for my $i (1, 2) {
        my $master = master_pid();
        my @old = children($master);
        is(scalar @old, 2, "HUP $i: two workers");

        kill 'HUP', $master;

        my %old = map { $_ => 1 } @old;
        ok(wait_until(20, sub { my @w = children($master);
                                @w == 2 && !grep { $old{$_} } @w }),
           "HUP $i: two new workers, the old ones gone");

        my $n = $acked->();
        ok(wait_until(20, sub { $acked->() >= $n + 30 }),
           "HUP $i: publishing goes on");
    }

    diag(sprintf "reloads done after %.1fs, %d acknowledged",
                 time - $t0, $acked->());

    # 2. a binary upgrade

    my $old = master_pid();
    kill 'USR2', $old;

    my $new;
    ok(wait_until(20, sub {
           $new = master_pid();
           $new && $new != $old && master_pid("$PidFile.oldbin") == $old
           && children($new) == 2 }),
       'USR2: a new master with two workers, the old one still there');

    like(slurp("$Nginx/logs/error.log"),
         qr/owned by another nginx, this one stays read-only/,
         'USR2: the new instance is read-only');

    # both instances accept for a while (a duration, not a wait for
    # something): the new one holds what it gets
    sleep 1;

    my $a_quit = $acked->();
    kill 'QUIT', $old;

    ok(wait_until(30, sub { !alive($old) }), 'QUIT: the old master is gone');
    waitpid $old, POSIX::WNOHANG();

    ok(wait_until(10, sub { slurp("$Nginx/logs/error.log")
                            =~ /took over "\Q$Base\E\/state"/ }),
       'the new instance took the state over');

    my $acks = $acked->();
    ok(wait_until(20, sub { $acked->() >= $acks + 40 }),
       'the new instance acknowledges events');

    diag(sprintf "upgrade done after %.1fs, %d acknowledged (%d before the "
                 . "QUIT)", time - $t0, $acked->(), $a_quit);

    for my $i (0, 1) {
        ok(stop_publisher($pubs[$i], $Base, (qw(p q))[$i]),
           "publisher $i stopped");
    }

    open my $fh, '>', "$Base/api.stop";
    close $fh;
    ok(wait_until(15, sub { waitpid($api, POSIX::WNOHANG()) == $api }),
       'the API client stopped');

    # what the clients saw

    my @log = map { publisher_log($Base, $_) } qw(p q);
    my @bad = grep { $_->[1] != 202 } @log;
    is(join(' ', map { $_->[1] } @bad), '',
       scalar(@log) . ' publish requests, each answered 202');

    my ($slowest) = sort { $b <=> $a } map { $_->[2] } @log;
    ok($slowest < 9, sprintf "none held up to the limit (slowest %.2fs, "
                             . "%d over 0.1s)", $slowest,
                             scalar(grep { $_->[2] > 0.1 } @log));

    my %want = (create => 201, get => 200, delete => 204);
    my @api = api_log();
    my @api_bad = grep { $_->[1] != $want{$_->[0]} } @api;
    is(join(' ', map { "$_->[0]:$_->[1]" } @api_bad), '',
       scalar(@api) . ' API requests, each answered as expected');
    ok(scalar(grep { $_->[0] eq 'delete' } @api) >= 5,
       'the API client went round several times');

    # nothing lost

    my @ids = map { publisher_acked($Base, $_) } qw(p q);
    delivered_ok($RecvLog, \@ids, 30, 'acknowledged events, each delivered');

    my @dups = duplicates(accepted($RecvLog));
    diag(scalar(@dups) . " delivered twice (a worker stopped by the old "
         . "master's QUIT may repeat an attempt in flight)") if @dups;

    my $status = settled_status($Port);
    ok($status && $status->{writable} && $status->{subscriptions} == 1
       && $status->{deliveries}{queued} == 0
       && $status->{deliveries}{failed} == 0,
       'the new instance: writable, one subscription, nothing queued')
        or diag(Test::More::explain($status));

    stop_clean(nginx => $Nginx, recv => $Recv);
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("reload and upgrade: $@") unless $ok;
    stop_nginx("$PidFile.oldbin");
    stop_nginx($PidFile);
    stop_nginx("$Recv/logs/nginx.pid");
}

run_tests();

__DATA__

=== TEST 1: the runner's nginx, with the module loaded, answers
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
