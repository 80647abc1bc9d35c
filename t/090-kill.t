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

write_conf($Recv, <<"_EOC_");
worker_processes  1;
events { worker_connections 1024; }
http {
    client_body_temp_path  tmp/client_body;
    proxy_temp_path        tmp/proxy;
    fastcgi_temp_path      tmp/fastcgi;
    uwsgi_temp_path        tmp/uwsgi;
    scgi_temp_path         tmp/scgi;

    log_format  recv escape=none
                '\$msec \$status \$http_x_event_id \$http_x_attempt';

    limit_req_zone       \$server_port zone=slow:1m rate=100r/s;
    limit_req_log_level  warn;

    map \$http_x_event_id:\$http_x_attempt \$first_fails {
        default     0;
        "~[37]:1\$"  1;
    }

    server {
        listen      127.0.0.1:$RecvPort;
        access_log  $RecvLog recv;

        location / {
            if (\$first_fails) {
                return  503;
            }

            limit_req  zone=slow burst=5000;
            try_files  /nonexistent \@ok;
        }

        location \@ok {
            return  200 "ok";
        }
    }
}
_EOC_

write_conf($Nginx, <<"_EOC_");
worker_processes  2;
events { worker_connections 1024; }
http {
    client_body_temp_path  tmp/client_body;
    proxy_temp_path        tmp/proxy;
    fastcgi_temp_path      tmp/fastcgi;
    uwsgi_temp_path        tmp/uwsgi;
    scgi_temp_path         tmp/scgi;
    access_log             off;

    webhook_zone  zone=kill:8m state=$Base/state fsync=on;

    server {
        listen  127.0.0.1:$Port;

        webhook_allow_private   on;
        webhook_target_schemes  https http;

        location /hooks {
            webhook_api     zone=kill;
            webhook_tenant  org1;
        }

        location = /events {
            webhook_publish  zone=kill;
            webhook_tenant   org1;
        }

        location = /status {
            webhook_status  zone=kill;
        }

        location = /_webhook {
            internal;
            webhook_deliver     zone=kill;
            webhook_retry       500ms 500ms 500ms 500ms 500ms 500ms 500ms
                                500ms 500ms 500ms;
            resolver            127.0.0.1;
            proxy_pass          \$webhook_upstream_url;
            proxy_buffering     off;
            proxy_http_version  1.1;
            proxy_set_header    X-Event-Id \$webhook_event_id;
            proxy_set_header    X-Attempt \$webhook_attempt;
        }
    }
}
_EOC_

sub start_ok {
    my ($label) = @_;

    my ($ok, $out) = start_instance($Nginx);
    ok($ok, "$label: nginx started") or diag($out);
    ok(wait_port($Port, 10), "$label: nginx listens");
}

sub worker_pids {
    my @pids = nginx_pids("$Nginx/logs/nginx.pid");
    shift @pids;
    return @pids;
}

sub main_test {
    my ($ok, $out) = start_instance($Recv);
    ok($ok, 'the receiver started') or diag($out);
    ok(wait_port($RecvPort, 10), 'the receiver listens');

    start_ok('first start');

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

        start_ok("round $round: start after the kill");
    }

    my $a1 = $acked->();
    ok(wait_until(20, sub { $acked->() >= $a1 + 20 }),
       'after the last start: publishing goes on');

    ok(stop_publisher($pub, $Base, 'k'), 'the publisher stopped');

    my @acked = publisher_acked($Base, 'k');
    my @log = publisher_log($Base, 'k');
    my ($last) = map { $_->[0] } $log[-1] // [0];

    my @left;
    wait_until(60, sub { @left = missing_ids($RecvLog, \@acked); !@left });

    is(scalar @left, 0, scalar(@acked) . ' acknowledged events, each '
                        . 'delivered at least once')
        or diag("missing: @left[0 .. ($#left < 9 ? $#left : 9)]");

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

    my $status;
    wait_until(10, sub {
        $status = get_json($Port, '/status');
        $status && !$status->{deliveries}{queued}
        && !$status->{deliveries}{in_flight};
    });
    ok($status && $status->{deliveries}{queued} == 0
       && $status->{deliveries}{in_flight} == 0
       && $status->{deliveries}{failed} == 0,
       'the queue is empty, nothing failed')
        or diag(Test::More::explain($status));

    ok(stop_nginx("$Nginx/logs/nginx.pid"), 'nginx stopped');
    ok(stop_nginx("$Recv/logs/nginx.pid"), 'the receiver stopped');

    # the master reports each worker killed; nothing else of these levels
    is(bad_log_lines("$Nginx/logs/error.log", 'crit|alert|emerg',
                     qr/exited on signal 9/),
       '', 'no crit, alert or emerg logged but the killed workers');
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
