# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Recovery of the delivery queue (DESIGN sections 4, 5, 8), with a master,
# two workers and fsync=on:
#
#   1. kill -9 of the master and both workers while events are being
#      published and delivered: after a start, every event acknowledged with
#      a 202 reaches its receiver at least once (duplicates are allowed after
#      a crash; they are counted and shown);
#   2. a graceful stop (QUIT, stop_nginx()) and a start: with a backlog of
#      pending deliveries (the receiver answers 503, then 200 after the
#      start) every event is delivered; with attempts in flight to a slow
#      receiver, every event is delivered and none twice;
#   3. the normal case: 500 events to 50 subscriptions, each event reaches
#      its receiver exactly once, the attempt logs (GET .../deliveries) say
#      so, and a restart afterwards sends nothing again.
#
# One zone per case (case 2's two parts share one), each with its own state
# directory and deliver location; deliveries carry X-Event-Id
# ($webhook_event_id) and X-Attempt.  Receivers log what they answered
# ($msec $status $http_x_event_id $http_x_attempt $request_uri) with
# access_log into t/servroot-state/031-recovery-recv, outside the servroot
# (the runner recreates it for every block):
#
#   19862, 19863  server blocks of the nginx under test (case 2's backlog,
#                 case 3);
#   19861, 19864  a second nginx (t/servroot-recv, or $TEST_NGINX_SERVROOT
#                 with "-recv"), up from TEST 1 to TEST 9: slow receivers
#                 (limit_req: 50 requests a second, the others wait) that must
#                 outlive the nginx under test, since a kill -9 of it would
#                 also kill a receiver of its own between its answer and its
#                 log line, and a QUIT closes its listeners.  On 19861 ids
#                 ending in 0 or 5 fail their first attempt (503).
#
# The deliver locations also log each attempt as nginx saw it (sent-*.log,
# log_subrequest), shown when an event is missing.
#
# Blocks run in order.  "--- before" code runs while the previous block's
# nginx is still up: it publishes (http_request), waits (bounded), kills or
# stops that nginx, and reads the records.

use Test::Nginx::Socket;
use WebhookTest;
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);
use JSON::PP ();
use POSIX ();

master_on();
workers(2);
no_shuffle();
log_level('info');

our $Port = $ENV{TEST_NGINX_SERVER_PORT} // 1984;
our $T0 = time;

# what the receiver of case 2 answers; the block after the stop switches it
$ENV{TEST_NGINX_BACKLOG_STATUS} = 503;

webhook_setup(
    http_config => <<'_EOC_',
    webhook_zone  zone=crash:8m state=$TEST_NGINX_STATE_DIR fsync=on;
    webhook_zone  zone=backlog:4m state=$TEST_NGINX_STATE_DIR-backlog fsync=on;
    webhook_zone  zone=normal:8m state=$TEST_NGINX_STATE_DIR-normal fsync=on;

    log_format  recv escape=none
                '$msec $status $http_x_event_id $http_x_attempt $request_uri';

    log_format  sent escape=none
                '$msec $status $upstream_status $webhook_event_id '
                '$webhook_attempt $request_time';

    # case 2: 503 until the block that switches it to 200
    server {
        listen      127.0.0.1:19862;
        access_log  $TEST_NGINX_RECV_DIR/backlog.log recv;

        location / {
            return  $TEST_NGINX_BACKLOG_STATUS "ok";
        }
    }

    # case 3: always 200
    server {
        listen      127.0.0.1:19863;
        access_log  $TEST_NGINX_RECV_DIR/normal.log recv;

        location / {
            return  200 "ok";
        }
    }
_EOC_
    config => <<'_EOC_',
    webhook_allow_private   on;
    webhook_target_schemes  https http;

    location /crash/hooks {
        webhook_api     zone=crash;
        webhook_tenant  org1;
    }

    location = /crash/events {
        webhook_publish zone=crash;
        webhook_tenant  org1;
    }

    location = /_webhook_crash {
        internal;
        webhook_deliver     zone=crash;
        webhook_retry       1s 1s 1s 1s 1s;
        resolver            127.0.0.1;
        proxy_pass          $webhook_upstream_url;
        proxy_buffering     off;
        proxy_http_version  1.1;
        proxy_set_header    X-Event-Id $webhook_event_id;
        proxy_set_header    X-Attempt $webhook_attempt;
        log_subrequest      on;
        access_log          $TEST_NGINX_RECV_DIR/sent-crash.log sent;
    }

    location /backlog/hooks {
        webhook_api     zone=backlog;
        webhook_tenant  org1;
    }

    location = /backlog/events {
        webhook_publish zone=backlog;
        webhook_tenant  org1;
    }

    location = /_webhook_backlog {
        internal;
        webhook_deliver     zone=backlog;
        webhook_retry       1s 1s 1s 1s 1s 1s 1s 1s 1s 1s;
        resolver            127.0.0.1;
        proxy_pass          $webhook_upstream_url;
        proxy_buffering     off;
        proxy_http_version  1.1;
        proxy_set_header    X-Event-Id $webhook_event_id;
        proxy_set_header    X-Attempt $webhook_attempt;
        log_subrequest      on;
        access_log          $TEST_NGINX_RECV_DIR/sent-backlog.log sent;
    }

    location /normal/hooks {
        webhook_api     zone=normal;
        webhook_tenant  org1;
    }

    location = /normal/events {
        webhook_publish zone=normal;
        webhook_tenant  org1;
    }

    location = /_webhook_normal {
        internal;
        webhook_deliver     zone=normal;
        webhook_retry       1s 1s 1s 1s 1s;
        resolver            127.0.0.1;
        proxy_pass          $webhook_upstream_url;
        proxy_buffering     off;
        proxy_http_version  1.1;
        proxy_set_header    X-Event-Id $webhook_event_id;
        proxy_set_header    X-Attempt $webhook_attempt;
        log_subrequest      on;
        access_log          $TEST_NGINX_RECV_DIR/sent-normal.log sent;
    }
_EOC_
    more_headers => "Content-Type: application/json\n",
);

# the other zones' state directories and the receivers' records start empty
our $RecvDir = state_dir() . '-recv';
remove_tree(state_dir() . '-backlog', state_dir() . '-normal', $RecvDir);
make_path($RecvDir);
$ENV{TEST_NGINX_RECV_DIR} = $RecvDir;

our $N_CRASH = 300;
our $N_BACKLOG = 100;
our $N_DRAIN = 200;
our $N_SUBS = 50;
our $N_NORMAL = 500;

our (@CrashIds, @BacklogIds, @DrainIds, @NormalIds, %NormalSub, %SubIndex);
our $PublishErrors = 0;

# The receiver's records: a list of [time, status, event id, attempt, uri].
sub received {
    my ($name) = @_;

    open my $fh, '<', "$RecvDir/$name.log" or return ();
    my @r;

    while (my $line = <$fh>) {
        chomp $line;
        my @f = split / /, $line;
        push @r, [@f] if @f == 5;
    }

    close $fh;

    return @r;
}

# event id => how many times the receiver answered 200 for it
sub accepted {
    my ($name) = @_;

    my %n;
    $n{$_->[2]}++ for grep { $_->[1] == 200 } received($name);

    return \%n;
}

# the ids of @$ids the receiver has not accepted yet
sub missing {
    my ($name, $ids) = @_;

    my $got = accepted($name);

    return grep { !$got->{$_} } @$ids;
}

# polls until no id is missing, for at most $secs; returns the ones missing
sub wait_accepted {
    my ($name, $ids, $secs) = @_;

    my $deadline = time + $secs;
    my @left = missing($name, $ids);

    while (@left && time < $deadline) {
        sleep 0.2;
        @left = missing($name, $ids);
    }

    return @left;
}

# Publishes one event per request; returns the ids acknowledged with a 202
# (and one delivery), and how many requests were not.
sub publish_each {
    my ($uri, @bodies) = @_;

    my @ids;
    my $bad = 0;

    for my $body (@bodies) {
        my ($st, $h, $resp) = http_request($Port, 'POST', $uri,
                                           ['Content-Type: application/json'],
                                           $body);

        if ($st == 202 && $resp =~ /^\{"id":"([A-Za-z0-9_-]+)","deliveries":1\}$/) {
            push @ids, $1;

        } else {
            $bad++;
            Test::More::diag("publish to $uri: $st $resp")
                if $main::PublishErrors++ < 3;
        }
    }

    return (\@ids, $bad);
}

# A child process publishing events "$prefix-1" ... "$prefix-$n", one per
# request with a pause between, until a request is not acknowledged: each
# id acknowledged (202) goes to $RecvDir/$prefix.acked, the number of the
# last request sent to $RecvDir/$prefix.sent.
sub publisher {
    my ($uri, $action, $prefix, $n) = @_;

    unlink "$RecvDir/$prefix.acked", "$RecvDir/$prefix.sent";

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    open my $acked, '>', "$RecvDir/$prefix.acked" or POSIX::_exit(1);
    $acked->autoflush(1);

    for my $i (1 .. $n) {
        open my $sent, '>', "$RecvDir/$prefix.sent" or POSIX::_exit(1);
        print $sent $i;
        close $sent;

        my ($st, $h, $body) = http_request($Port, 'POST', $uri,
            ['Content-Type: application/json'],
            qq({"action":"$action","id":"$prefix-$i","resource":{"i":$i}}));

        last unless $st == 202 && $body eq qq({"id":"$prefix-$i","deliveries":1});

        print $acked "$prefix-$i\n";
        sleep 0.005;
    }

    close $acked;
    POSIX::_exit(0);
}

sub wait_publisher {
    my ($pid) = @_;

    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub live_acked {
    open my $fh, '<', "$RecvDir/live.acked" or return ();
    my @ids = map { /^(live-\d+)$/ ? $1 : () } <$fh>;
    close $fh;
    return @ids;
}

sub live_sent {
    open my $fh, '<', "$RecvDir/live.sent" or return (0);
    my $n = <$fh> // 0;
    close $fh;
    return ($n + 0);
}

# The receivers that outlive the nginx under test, in an nginx of their own.
our $RecvPidFile;

sub start_receiver {
    my $prefix = servroot() . '-recv';

    my $conf = <<'_EOC_';
worker_processes  1;
events { worker_connections 1024; }
http {
    client_body_temp_path  PREFIX/client_body_temp;
    proxy_temp_path        PREFIX/proxy_temp;
    fastcgi_temp_path      PREFIX/fastcgi_temp;
    uwsgi_temp_path        PREFIX/uwsgi_temp;
    scgi_temp_path         PREFIX/scgi_temp;

    access_log  off;

    log_format  recv escape=none
                '$msec $status $http_x_event_id $http_x_attempt $request_uri';

    limit_req_zone       $server_port zone=slow_crash:1m rate=50r/s;
    limit_req_zone       $server_port zone=slow_drain:1m rate=50r/s;
    limit_req_log_level  warn;

    map $http_x_event_id:$http_x_attempt $first_fails {
        default     0;
        "~[05]:1$"  1;
    }

    server {
        listen      127.0.0.1:19861;
        access_log  RECV_DIR/crash.log recv;

        location / {
            if ($first_fails) {
                return  503;
            }

            limit_req  zone=slow_crash burst=500;
            try_files  /nonexistent @ok;
        }

        location @ok {
            return  200 "ok";
        }
    }

    server {
        listen      127.0.0.1:19864;
        access_log  RECV_DIR/drain.log recv;

        location / {
            limit_req  zone=slow_drain burst=500;
            try_files  /nonexistent @ok;
        }

        location @ok {
            return  200 "ok";
        }
    }
}
_EOC_

    $conf =~ s/PREFIX/$prefix/g;
    $conf =~ s/RECV_DIR/$RecvDir/g;

    $RecvPidFile = start_nginx_with($prefix, $conf);

    return wait_port(19861) && wait_port(19864);
}

sub stop_receiver {
    return 0 unless $RecvPidFile;
    my $n = stop_nginx($RecvPidFile);
    undef $RecvPidFile;
    return $n;
}

add_cleanup_handler(sub { stop_receiver() });

sub get_json {
    my ($uri) = @_;

    my ($st, $h, $body) = http_request($Port, 'GET', $uri);
    return undef unless $st == 200;

    return eval { JSON::PP::decode_json($body) };
}

# what the receiver and the attempt log say about events never accepted
sub explain_missing {
    my ($name, $zone, @left) = @_;

    splice @left, 5 if @left > 5;
    my %left = map { $_ => 1 } @left;

    Test::More::diag("missing: @left");

    for my $r (grep { $left{$_->[2]} } received($name)) {
        Test::More::diag("  the receiver answered: @$r");
    }

    if (open my $fh, '<', "$RecvDir/sent-$zone.log") {
        for my $line (<$fh>) {
            chomp $line;
            my @f = split ' ', $line;
            Test::More::diag("  nginx sent (time status upstream id attempt): $line")
                if @f > 3 && $left{$f[3]};
        }
        close $fh;
    }

    my $list = get_json("/$zone/hooks");

    for my $hook (@{ $list ? $list->{hooks} : [] }) {
        my $log = get_json("/$zone/hooks/$hook->{_id}/deliveries");

        for my $a (@{ $log ? $log->{attempts} : [] }) {
            next unless $left{$a->{event_id}};
            Test::More::diag("  attempt log: " . JSON::PP->new->canonical->encode($a));
        }
    }
}

sub duplicates {
    my ($got) = @_;
    return map { "$_ x$got->{$_}" } sort grep { $got->{$_} > 1 } keys %$got;
}

# The running (or just stopped) nginx's error.log has no line of these
# levels: an alert there is what a graceful stop logs for a connection the
# module left open, for instance.
sub log_clean {
    my ($label, $levels) = @_;

    $levels //= 'crit|alert|emerg';

    my $file = servroot() . '/logs/error.log';
    my @bad;

    if (open my $fh, '<', $file) {
        @bad = grep { /\[(?:$levels)\]/ } <$fh>;
        close $fh;

    } else {
        @bad = ("cannot open $file: $!\n");
    }

    splice @bad, 5 if @bad > 5;

    Test::More::is(join('', @bad), '', "$label: no [$levels] in error.log");
}

sub elapsed {
    return sprintf "%.1fs", time - $T0;
}

# kill -9, QUIT and worker pids mean nothing under valgrind's supervisor
if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'process-level tests are not run under valgrind');

} else {
    plan('no_plan');
}

run_tests();

__DATA__

=== TEST 1: case 1 (kill -9): a subscriber behind a slow receiver
--- before
ok(main::start_receiver(), "TEST 1: the receivers of their own nginx listen");
--- request
POST /crash/hooks
{"action":"c.ev","target_url":"http://127.0.0.1:19861/crash"}
--- error_code: 201
--- save_id: crash



=== TEST 2: 300 events acknowledged, more being published, kill -9 of master and workers while they are delivered; a start
--- before
is(scalar(nginx_pids()), 3, "TEST 2: a master and two workers");
my $t = time;
my ($ids, $bad) = main::publish_each('/crash/events',
    map { qq({"action":"c.ev","resource":{"n":$_}}) } 1 .. $main::N_CRASH);
@main::CrashIds = @$ids;
is(scalar @main::CrashIds, $main::N_CRASH, "TEST 2: every event acknowledged");
is($bad, 0, "TEST 2: no publish refused");
my $published = time - $t;
# more events published meanwhile, by another process, until the kill
my $pid = main::publisher('/crash/events', 'c.ev', 'live', 2000);
# some delivered, not all: the kill comes in the middle of both streams
my $deadline = time + 10;
while ((keys %{ main::accepted('crash') } < 30 || main::live_acked() < 50)
       && time < $deadline)
{
    sleep 0.02;
}
my $before = keys %{ main::accepted('crash') };
ok(kill_nginx_hard() >= 3, "TEST 2: nginx killed with SIGKILL");
ok(!nginx_pids(), "TEST 2: no nginx process left");
my $at_kill = keys %{ main::accepted('crash') };
main::wait_publisher($pid);
my @live = main::live_acked();
my ($sent) = main::live_sent();
push @main::CrashIds, @live;
main::log_clean("TEST 2: before the kill");
diag(sprintf "TEST 2: %d events published in %.1fs, then %d more acknowledged "
             . "(%d sent) when killed, %d accepted by the receiver (%s)",
             $main::N_CRASH, $published, scalar @live, $sent, $at_kill,
             main::elapsed());
ok(@live >= 1 && $sent < 2000, "TEST 2: killed while publishing");
ok($before > 0 && $at_kill < @main::CrashIds,
   "TEST 2: killed while delivering (some delivered, $at_kill of "
   . scalar(@main::CrashIds) . ")");
--- request
GET /crash/hooks/{{crash}}
--- response_body_like chomp
"_id":"{{crash}}".*"enabled":true



=== TEST 3: every acknowledged event reached the receiver at least once
--- before
my $t = time;
my @left = main::wait_accepted('crash', \@main::CrashIds, 20);
is(scalar @left, 0, "TEST 3: every acknowledged event delivered after the restart")
    or main::explain_missing('crash', 'crash', @left);
my $got = main::accepted('crash');
my @dups = main::duplicates($got);
my %acked = map { $_ => 1 } @main::CrashIds;
my ($sent) = main::live_sent();
my %sent = map { ("live-$_" => 1) } 1 .. $sent;
my @unknown = grep { !$acked{$_} && !$sent{$_} } keys %$got;
is("@unknown", "", "TEST 3: the receiver got no event that was not published");
my @unacked = grep { !$acked{$_} } sort keys %sent;
diag("TEST 3: published but not acknowledged when killed: "
     . join(' ', map { "$_ (" . ($got->{$_} ? '' : 'not ') . "delivered)" }
                     @unacked));
main::log_clean("TEST 3: the nginx started after the kill");
diag(sprintf "TEST 3: waited %.1fs; "
             . "%d duplicates after the crash%s (%s)", time - $t, scalar @dups,
             @dups ? ": @dups[0 .. ($#dups < 9 ? $#dups : 9)]" : "",
             main::elapsed());
--- request
GET /crash/hooks/{{crash}}/deliveries
--- response_body_like chomp
^\{"attempts":\[\{"event_id":"(?:evt_[0-9a-f]{24}|live-\d+)","action":"c\.ev","attempt":\d+,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\}



=== TEST 4: case 2 (graceful stop with a backlog): a subscriber whose receiver answers 503
--- request
POST /backlog/hooks
{"action":"b.ev","target_url":"http://127.0.0.1:19862/backlog"}
--- error_code: 201
--- save_id: backlog



=== TEST 5: 100 events pending (each refused at least once), a graceful stop, a start with the receiver answering 200
--- before
my ($ids, $bad) = main::publish_each('/backlog/events',
    map { qq({"action":"b.ev","resource":{"n":$_}}) } 1 .. $main::N_BACKLOG);
@main::BacklogIds = @$ids;
is(scalar @main::BacklogIds, $main::N_BACKLOG, "TEST 5: every event acknowledged");
# every event has had a failed attempt: the backlog is there
my %tried;
my $deadline = time + 10;
while (time < $deadline) {
    %tried = map { ($_->[2] => 1) } main::received('backlog');
    last unless grep { !$tried{$_} } @main::BacklogIds;
    sleep 0.1;
}
is(scalar(grep { !$tried{$_} } @main::BacklogIds), 0,
   "TEST 5: every event attempted once at least");
is(scalar keys %{ main::accepted('backlog') }, 0, "TEST 5: none accepted");
my $log = main::get_json('/backlog/hooks/' . saved_id('backlog') . '/deliveries');
my $newest = $log && $log->{attempts}[0];
is($newest && "$newest->{status} $newest->{error} $newest->{state}",
   "503 bad_status pending", "TEST 5: the attempt log says pending");
my $t = time;
ok(stop_nginx() >= 3, "TEST 5: nginx stopped with QUIT");
my $took = time - $t;
ok(!nginx_pids(), "TEST 5: no nginx process left");
ok($took < 9, sprintf("TEST 5: the stop was graceful (%.1fs, no KILL)", $took));
main::log_clean("TEST 5: the stop with deliveries pending");
my $attempts = () = main::received('backlog');
diag(sprintf "TEST 5: %d attempts refused before the stop, stopped in %.1fs (%s)",
             $attempts, $took, main::elapsed());
$ENV{TEST_NGINX_BACKLOG_STATUS} = 200;
--- request
GET /backlog/hooks/{{backlog}}
--- response_body_like chomp
"_id":"{{backlog}}".*"enabled":true



=== TEST 6: after the start, every event of the backlog delivered
--- before
my $t = time;
my @left = main::wait_accepted('backlog', \@main::BacklogIds, 20);
is(scalar @left, 0, "TEST 6: every pending event delivered after the restart")
    or main::explain_missing('backlog', 'backlog', @left);
my @dups = main::duplicates(main::accepted('backlog'));
is("@dups", "", "TEST 6: none twice (nothing crashed)");
main::log_clean("TEST 6: the nginx started with a backlog");
diag(sprintf "TEST 6: waited %.1fs (%s)", time - $t, main::elapsed());
--- request
GET /backlog/hooks/{{backlog}}/deliveries
--- response_body_like chomp
^\{"attempts":\[(?:\{"event_id":"evt_[0-9a-f]{24}","action":"b\.ev","attempt":\d+,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},?)+\],"total":\d+\}$



=== TEST 7: case 2, in flight: a subscriber behind a slow receiver
--- request
POST /backlog/hooks
{"action":"d.ev","target_url":"http://127.0.0.1:19864/drain"}
--- error_code: 201
--- save_id: drain



=== TEST 8: 200 events acknowledged, a graceful stop while they are being delivered, a start
--- before
my ($ids, $bad) = main::publish_each('/backlog/events',
    map { qq({"action":"d.ev","resource":{"n":$_}}) } 1 .. $main::N_DRAIN);
@main::DrainIds = @$ids;
is(scalar @main::DrainIds, $main::N_DRAIN, "TEST 8: every event acknowledged");
my $deadline = time + 10;
while (keys %{ main::accepted('drain') } < 30 && time < $deadline) {
    sleep 0.02;
}
my $before = keys %{ main::accepted('drain') };
my $t = time;
ok(stop_nginx() >= 3, "TEST 8: nginx stopped with QUIT");
my $took = time - $t;
ok(!nginx_pids(), "TEST 8: no nginx process left");
ok($took < 9, sprintf("TEST 8: the stop was graceful (%.1fs, no KILL)", $took));
main::log_clean("TEST 8: the stop with deliveries in flight");
my $at_stop = keys %{ main::accepted('drain') };
ok($before > 0 && $at_stop < @main::DrainIds,
   "TEST 8: stopped while delivering ($at_stop of "
   . scalar(@main::DrainIds) . " delivered)");
diag(sprintf "TEST 8: stopped in %.1fs, %d accepted then (%s)", $took, $at_stop,
             main::elapsed());
--- request
GET /backlog/hooks/{{drain}}
--- response_body_like chomp
"_id":"{{drain}}".*"enabled":true



=== TEST 9: every event delivered, none twice
--- before
my $t = time;
my @left = main::wait_accepted('drain', \@main::DrainIds, 20);
is(scalar @left, 0, "TEST 9: every event delivered after the restart")
    or main::explain_missing('drain', 'backlog', @left);
sleep 0.5;
my @dups = main::duplicates(main::accepted('drain'));
is("@dups", "", "TEST 9: none twice: the graceful stop let the attempts in flight finish");
ok(main::stop_receiver(), "TEST 9: the receivers of their own nginx stopped");
main::log_clean("TEST 9: the nginx started after the stop");
diag(sprintf "TEST 9: waited %.1fs (%s)", time - $t,
             main::elapsed());
--- request
GET /backlog/hooks/{{drain}}/deliveries
--- response_body_like chomp
^\{"attempts":\[(?:\{"event_id":"evt_[0-9a-f]{24}","action":"d\.ev","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},?)+\],"total":20\}$



=== TEST 10: case 3 (normal): 50 subscriptions, one action each
--- request eval
[map { qq(POST /normal/hooks\n{"action":"n.$_","target_url":"http://127.0.0.1:19863/n/$_"}) }
     0 .. $main::N_SUBS - 1]
--- error_code eval
[(201) x $main::N_SUBS]
--- save_id: normal



=== TEST 11: 500 events, 10 per subscription: each received exactly once, each attempt log shows its 10 delivered
--- before
is(scalar(nginx_pids()), 3, "TEST 11: a master and two workers");
my $list = main::get_json('/normal/hooks');
for my $hook (@{ $list ? $list->{hooks} : [] }) {
    $main::SubIndex{$hook->{_id}} = $1 if $hook->{target_url} =~ m{/n/(\d+)$};
}
is(scalar keys %main::SubIndex, $main::N_SUBS, "TEST 11: 50 subscriptions listed");
my $t = time;
for my $i (0 .. $main::N_NORMAL - 1) {
    my $k = $i % $main::N_SUBS;
    my ($ids) = main::publish_each('/normal/events',
                                   qq({"action":"n.$k","resource":{"i":$i}}));
    for (@$ids) {
        push @main::NormalIds, $_;
        $main::NormalSub{$_} = $k;
    }
}
is(scalar @main::NormalIds, $main::N_NORMAL, "TEST 11: every event acknowledged");
my $published = time - $t;
my @left = main::wait_accepted('normal', \@main::NormalIds, 20);
is(scalar @left, 0, "TEST 11: every event delivered")
    or main::explain_missing('normal', 'normal', @left);
my $delivered = time - $t;
sleep 1;    # time for a duplicate to show
my @recs = main::received('normal');
my %n;
$n{$_->[2]}++ for @recs;
my @dups = main::duplicates(\%n);
is("@dups", "", "TEST 11: no event received twice");
is(scalar @recs, scalar @main::NormalIds, "TEST 11: one request per event");
my @wrong = grep { $_->[1] != 200 || $_->[3] ne '1'
                   || $_->[4] ne "/n/" . ($main::NormalSub{$_->[2]} // '?') } @recs;
is(scalar @wrong, 0, "TEST 11: each a first attempt, answered 200, at its subscriber's URL")
    or diag("TEST 11: e.g. @{ $wrong[0] }");
# the attempt log of every subscription: its 10 events, delivered, once each
my @bad;
for my $id (sort keys %main::SubIndex) {
    my $k = $main::SubIndex{$id};
    my $log = main::get_json("/normal/hooks/$id/deliveries");
    my @want = sort grep { $main::NormalSub{$_} == $k } @main::NormalIds;
    my @got = sort map { $_->{event_id} } @{ $log ? $log->{attempts} : [] };
    my @notok = grep { $_->{state} ne 'delivered' || ($_->{status} // 0) != 200
                       || $_->{attempt} != 1 } @{ $log ? $log->{attempts} : [] };
    push @bad, "n.$k" if !$log || $log->{total} != @want || "@got" ne "@want"
                         || @notok;
}
is("@bad", "", "TEST 11: every attempt log lists its events once, delivered");
main::log_clean("TEST 11: 500 deliveries", 'error|crit|alert|emerg');
diag(sprintf "TEST 11: %d events published in %.1fs, all delivered after %.1fs (%s)",
             scalar @main::NormalIds, $published, $delivered, main::elapsed());
--- request
GET /normal/hooks/{{normal}}/deliveries
--- response_body_like chomp
^\{"attempts":\[(?:\{"event_id":"evt_[0-9a-f]{24}","action":"n\.\d+","attempt":1,"at":"[^"]+","status":200,"duration_ms":\d+,"error":null,"state":"delivered"\},?){10}\],"total":10\}$



=== TEST 12: a stop and a start after everything was delivered send nothing again
--- before
sleep 1.5;
my @recs = main::received('normal');
is(scalar @recs, scalar @main::NormalIds, "TEST 12: no request after the restart");
main::log_clean("TEST 12: the restart", 'error|crit|alert|emerg');
diag("TEST 12: done (" . main::elapsed() . ")");
--- request
GET /normal/hooks/{{normal}}/deliveries
--- response_body_like chomp
^\{"attempts":\[(?:\{[^}]*"attempt":1,[^}]*"status":200,[^}]*"state":"delivered"\},?){10}\],"total":10\}$
