# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Fault: repeated kill -9 with fsync=on (DESIGN sections 4, 5, 8).
#
# A provider (a master, two workers, fsync=on) on 127.0.0.1:19950 and a
# receiver of its own on 127.0.0.1:19951 (it must outlive the kills: it
# answers the first attempt of events numbered ...3 and ...7 with 503, and
# lets 100 requests a second through, the others wait, so that deliveries
# are pending and in flight at every kill).  A publisher process posts
# events "k-1", "k-2", ... one at a time, sending one again until it is
# acknowledged (202), and records each acknowledged id.
#
# Four rounds: wait until more events were acknowledged and delivered,
# kill -9 the two workers alone in rounds 2 and 4 (the master starts new
# ones), then kill -9 the master and its workers at once, and start nginx
# again on the same state directory.  At the end every acknowledged event
# has reached the receiver at least once (duplicates are allowed after a
# crash, and counted), the receiver got no event that was never sent, the
# queue is empty and no start was refused.
#
# Instances under t/servroot-state/090-kill/{nginx,recv}; the state in
# t/servroot-state/090-kill/state.

use Test::Nginx::Socket;
use WebhookTest;
use FaultTest;
use Time::HiRes qw(sleep time);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'kill -9 of processes is not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = fault_base();
our $Port = 19950;
our $RecvPort = 19951;
our $Nginx = "$Base/nginx";
our $Recv = "$Base/recv";
our $RecvLog = "$Base/received.log";
our $ROUNDS = 4;

# the receiver: the first attempt of events ...3 and ...7 gets a 503; 100
# requests a second pass, the others wait
write_recv_conf(prefix => $Recv, port => $RecvPort, log => $RecvLog,
                http => <<'_EOH_', locations => <<'_EOL_');

    limit_req_zone       $server_port zone=slow:1m rate=100r/s;
    limit_req_log_level  warn;

    map $http_x_event_id:$http_x_attempt $first_fails {
        default     0;
        "~[37]:1$"  1;
    }
_EOH_
        location / {
            if ($first_fails) {
                return  503;
            }

            limit_req  zone=slow burst=5000;
            try_files  /nonexistent @ok;
        }

        location @ok {
            return  200 "ok";
        }
_EOL_

write_provider_conf(prefix => $Nginx, port => $Port, zone => 'kill',
                    state => "$Base/state", zone_args => 'fsync=on',
                    retry => join(' ', ('500ms') x 10));

sub worker_pids {
    my @pids = nginx_pids("$Nginx/logs/nginx.pid");
    shift @pids;
    return @pids;
}

sub main_test {
    start_ok($Recv, 'the receiver', $RecvPort);
    start_ok($Nginx, 'first start: nginx', $Port);

    my ($st, $h, $body) = http_request($Port, 'POST', '/hooks',
        ['Content-Type: application/json'],
        qq({"action":"k.ev","target_url":"http://127.0.0.1:$RecvPort/k"}));
    is($st, 201, 'a subscription') or diag($body);

    my $pub = publisher(port => $Port, uri => '/events', dir => $Base,
                        id => 'k', action => 'k.ev');

    my $acked = sub { scalar(my @a = publisher_acked($Base, 'k')) };
    my $delivered = sub { scalar keys %{ accepted($RecvLog) } };
    my $t0 = time;

    for my $round (1 .. $ROUNDS) {
        my ($a0, $d0) = ($acked->(), $delivered->());

        ok(wait_until(20, sub { $acked->() >= $a0 + 40
                                && $delivered->() >= $d0 + 20 }),
           "round $round: events acknowledged and delivered")
            or diag("acked " . $acked->() . ", delivered "
                    . $delivered->());

        if ($round % 2 == 0) {
            my @old = worker_pids();
            is(scalar @old, 2, "round $round: two workers");
            kill 'KILL', @old;

            my %old = map { $_ => 1 } @old;
            ok(wait_until(10, sub { my @w = worker_pids();
                                    @w == 2 && !grep { $old{$_} } @w }),
               "round $round: the master started two new workers");

            my $a1 = $acked->();
            ok(wait_until(20, sub { $acked->() >= $a1 + 20 }),
               "round $round: more acknowledged by the new workers");
        }

        is(scalar(() = nginx_pids("$Nginx/logs/nginx.pid")), 3,
           "round $round: a master and two workers");

        ok(kill_nginx_hard("$Nginx/logs/nginx.pid") >= 3,
           "round $round: kill -9 of the master and its workers");
        ok(!nginx_pids("$Nginx/logs/nginx.pid"),
           "round $round: no nginx process left");

        my ($a, $d) = ($acked->(), $delivered->());

        ok($d < $a, "round $round: killed while delivering "
                    . "($d of $a delivered)");
        diag(sprintf "round %d: killed after %.1fs, %d acknowledged, "
                     . "%d delivered", $round, time - $t0, $a, $d);

        # the publisher finds nobody for a moment
        sleep 0.2;

        start_ok($Nginx, "round $round: start after the kill: nginx", $Port);
    }

    my $a1 = $acked->();
    ok(wait_until(20, sub { $acked->() >= $a1 + 20 }),
       'after the last start: publishing goes on');

    ok(stop_publisher($pub, $Base, 'k'), 'the publisher stopped');

    my @acked = publisher_acked($Base, 'k');
    my @log = publisher_log($Base, 'k');
    my ($last) = map { $_->[0] } $log[-1] // [0];

    delivered_ok($RecvLog, \@acked, 60,
                 'acknowledged events, each delivered at least once');

    my %sent = map { ("k-$_" => 1) } 1 .. $last;
    my $got = accepted($RecvLog);
    my @unknown = grep { !$sent{$_} } sort keys %$got;
    is("@unknown", '', 'the receiver got no event that was never sent');

    my @refused = grep { $_->[1] != 202 } @log;
    my @dups = duplicates($got);
    diag(sprintf "%d events acknowledged in %.1fs, %d requests not "
                 . "acknowledged (nginx down or killed), %d duplicates "
                 . "after the crashes", scalar @acked, time - $t0,
                 scalar @refused, scalar @dups);

    my @bad_status = grep { $_->[1] != 0 && $_->[1] != 202 } @log;
    is(join(' ', map { $_->[1] } @bad_status), '',
       'publishing: only 202s or no answer (killed), never an error status');

    my $status = settled_status($Port);
    ok($status && $status->{deliveries}{queued} == 0
       && $status->{deliveries}{in_flight} == 0
       && $status->{deliveries}{failed} == 0,
       'the queue is empty, nothing failed')
        or diag(Test::More::explain($status));

    # the master reports each worker killed; nothing else of these levels
    stop_clean(nginx => $Nginx, recv => $Recv,
               except => qr/exited on signal 9/,
               label => 'no crit, alert or emerg logged but the killed '
                        . 'workers');
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("kill -9: $@") unless $ok;
    stop_nginx("$Nginx/logs/nginx.pid");
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
