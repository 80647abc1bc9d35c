package FaultTest;

# Helpers of the fault tests (t/09x-*.t).  Each of those files runs nginx
# instances of its own (a provider under test and, where a receiver must
# outlive it, a receiver), each with its own prefix under
# t/servroot-state/NAME, started and stopped here, on fixed loopback ports
# of 19950-19969; the runner's own nginx only serves the last block.
#
# Everything waits by polling a condition with a deadline, never by a
# fixed sleep alone, so that a loaded machine makes a file slower, not
# flaky.
#
#   fault_base                 t/servroot-state/NAME, fresh
#   write_conf                 PREFIX/conf/nginx.conf, module lines added
#   write_provider_conf        the provider they share: two workers, one
#                              zone, API /hooks, publish /events, /status,
#                              deliveries with X-Event-Id and X-Attempt
#   write_recv_conf            a receiver nginx logging each request as
#                              "msec status id attempt" (what received()
#                              reads)
#   start_instance, start_ok   nginx -p PREFIX (checked: started, listens)
#   wait_until, get_json, settled_status
#                              polling; GET a JSON; /status once nothing
#                              is queued or in flight
#   publisher, stop_publisher, publisher_acked, publisher_log
#                              a child process publishing events until
#                              told to stop, and what it saw
#   received, accepted, missing_ids, duplicates, delivered_ok
#                              what a receiver logged; every id delivered
#   flap_receiver              a Perl receiver that fails, hangs and goes
#                              down as told
#   bad_log_lines, stop_clean  error log lines of some levels; the end of
#                              a file: nginx (and its receiver) stopped,
#                              nginx's error log clean

use strict;
use warnings;

use Test::More;
use WebhookTest qw(http_request wait_port nginx_pids stop_nginx
                   kill_nginx_hard);
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT = qw(
    fault_base write_conf write_provider_conf write_recv_conf
    start_instance start_ok instance_pid_file
    wait_until publisher stop_publisher publisher_acked publisher_log
    received accepted missing_ids duplicates delivered_ok bad_log_lines
    stop_clean slurp get_json settled_status flap_receiver
);

our $Bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

# a fresh directory for this test file: t/servroot-state/NAME
sub fault_base {
    my $name = $0;
    $name =~ s{.*/}{};
    $name =~ s{\.t$}{};

    my $base = File::Spec->rel2abs("t/servroot-state/$name");
    remove_tree($base);
    make_path($base);

    return $base;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s // '';
}

# $prefix/conf/nginx.conf: the module lines (and "user root;" as root, as
# the runner does), a pid file and error log in $prefix/logs, then $conf
sub write_conf {
    my ($prefix, $conf) = @_;

    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");

    my $head = '';
    $head .= "load_module $_;\n"
        for split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $head .= "user root;\n" if $> == 0;
    $head .= "pid logs/nginx.pid;\nerror_log logs/error.log info;\n";

    open my $fh, '>', "$prefix/conf/nginx.conf" or die "$prefix: $!";
    print $fh $head, $conf;
    close $fh;
}

# A provider on 127.0.0.1:$a{port} in $a{prefix}: two workers, zone
# $a{zone} (8m, state $a{state}, then $a{zone_args}), its API at /hooks and
# publishing at /events for tenant org1, its status at /status, private
# http targets allowed; deliveries send X-Event-Id and X-Attempt (what
# write_recv_conf logs), retried after $a{retry} (webhook_retry's
# arguments), with $a{deliver} (more directives) if given.
sub write_provider_conf {
    my (%a) = @_;

    my $zone = $a{zone};
    my $args = join ' ', "zone=$zone:8m", "state=$a{state}",
                         $a{zone_args} // ();
    my $more = $a{deliver} ? "            $a{deliver}\n" : '';

    write_conf($a{prefix}, <<"_EOC_");
worker_processes  2;
events { worker_connections 1024; }
http {
    client_body_temp_path  tmp/client_body;
    proxy_temp_path        tmp/proxy;
    fastcgi_temp_path      tmp/fastcgi;
    uwsgi_temp_path        tmp/uwsgi;
    scgi_temp_path         tmp/scgi;
    access_log             off;

    webhook_zone  $args;

    server {
        listen  127.0.0.1:$a{port};

        webhook_allow_private   on;
        webhook_target_schemes  https http;

        location /hooks {
            webhook_api     zone=$zone;
            webhook_tenant  org1;
        }

        location = /events {
            webhook_publish  zone=$zone;
            webhook_tenant   org1;
        }

        location = /status {
            webhook_status  zone=$zone;
        }

        location = /_webhook {
            internal;
            webhook_deliver     zone=$zone;
            webhook_retry       $a{retry};
$more            resolver            127.0.0.1;
            proxy_pass          \$webhook_upstream_url;
            proxy_buffering     off;
            proxy_http_version  1.1;
            proxy_set_header    X-Event-Id \$webhook_event_id;
            proxy_set_header    X-Attempt \$webhook_attempt;
        }
    }
}
_EOC_
}

# A receiver on 127.0.0.1:$a{port} in $a{prefix} (one worker) that logs
# every request to $a{log} as "msec status X-Event-Id X-Attempt" (what
# received() reads) and answers 200 "ok"; or, given, $a{http} is more
# http{} lines and $a{locations} the server's locations.
sub write_recv_conf {
    my (%a) = @_;

    my $http = $a{http} // '';
    my $locations = $a{locations} // <<'_EOL_';
        location / {
            return  200 "ok";
        }
_EOL_

    write_conf($a{prefix}, <<"_EOC_");
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
$http
    server {
        listen      127.0.0.1:$a{port};
        access_log  $a{log} recv;

$locations    }
}
_EOC_
}

sub instance_pid_file {
    my ($prefix) = @_;
    return "$prefix/logs/nginx.pid";
}

# starts (daemon) the nginx of $prefix, its logs kept across starts;
# returns (1, '') or (0, what nginx said)
sub start_instance {
    my ($prefix) = @_;

    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        { exec $Bin, '-p', "$prefix/", '-c', 'conf/nginx.conf',
               '-e', 'logs/error.log' };
        POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;

    return ($? == 0 ? 1 : 0, $out);
}

# starts the nginx of $prefix: checks "$name started" and, with a $port,
# "$name listens"
sub start_ok {
    my ($prefix, $name, $port) = @_;

    my ($ok, $out) = start_instance($prefix);
    ok($ok, "$name started") or diag($out);
    ok(wait_port($port, 10), "$name listens") if defined $port;
}

# polls $cond every 50 ms until it is true or $secs have passed
sub wait_until {
    my ($secs, $cond) = @_;

    my $deadline = time + $secs;

    for (;;) {
        return 1 if $cond->();
        return 0 if time >= $deadline;
        sleep 0.05;
    }
}

# GET $uri on $port, decoded, or undef
sub get_json {
    my ($port, $uri) = @_;

    my ($st, $h, $body) = http_request($port, 'GET', $uri);
    return undef unless $st == 200;

    require JSON::PP;
    return eval { JSON::PP::decode_json($body) };
}

# /status on $port once nothing is queued or in flight (or after $secs,
# 10, as it is then), decoded
sub settled_status {
    my ($port, $secs) = @_;

    my $status;
    wait_until($secs // 10, sub {
        $status = get_json($port, '/status');
        $status && !$status->{deliveries}{queued}
        && !$status->{deliveries}{in_flight};
    });

    return $status;
}

# A child process that publishes events "$id-1", "$id-2", ... to
# http://127.0.0.1:$port$uri, one per request, until $dir/$id.stop exists
# (or $max were acknowledged).  Each request is logged to $dir/$id.log as
# "n status seconds"; an event not acknowledged (no 202 with its id) is
# sent again, as a publisher that wants it delivered does (the id makes
# that safe); one acknowledged goes to $dir/$id.acked.  A 503 is retried
# after its Retry-After when "honour_retry_after" is set.
sub publisher {
    my (%a) = @_;

    my ($port, $uri, $dir, $id) = @a{qw(port uri dir id)};
    my $action = $a{action} // 'f.ev';
    my $max = $a{max} // 1_000_000;
    my $pause = $a{pause} // 0.002;

    unlink "$dir/$id.acked", "$dir/$id.log", "$dir/$id.stop";

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    open my $acked, '>', "$dir/$id.acked" or POSIX::_exit(1);
    open my $log, '>', "$dir/$id.log" or POSIX::_exit(1);
    $acked->autoflush(1);
    $log->autoflush(1);

    my $i = 1;
    my $n = 0;

    while ($n < $max && !-e "$dir/$id.stop") {
        my $t = time;
        my ($st, $h, $body) = http_request($port, 'POST', $uri,
            ['Content-Type: application/json', @{ $a{headers} // [] }],
            qq({"action":"$action","id":"$id-$i","resource":{"i":$i}}));

        printf $log "%d %d %.3f\n", $i, $st, time - $t;

        if ($st == 202 && $body =~ /^\{"id":"\Q$id-$i\E","deliveries":\d+\}$/) {
            print $acked "$id-$i\n";
            $i++;
            $n++;
            sleep $pause if $pause;
            next;
        }

        my $wait = 0.02;

        if ($st == 503 && $a{honour_retry_after}
            && ($h->{'retry-after'} // '') =~ /^(\d+)$/)
        {
            $wait = $1;
        }

        sleep $wait;
    }

    close $acked;
    close $log;
    POSIX::_exit(0);
}

sub stop_publisher {
    my ($pid, $dir, $id) = @_;

    open my $fh, '>', "$dir/$id.stop";
    close $fh;

    for (1 .. 300) {
        return 1 if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }

    kill 'KILL', $pid;
    waitpid $pid, 0;

    return 0;
}

sub publisher_acked {
    my ($dir, $id) = @_;

    open my $fh, '<', "$dir/$id.acked" or return ();
    my @ids = map { /^(\S+)$/ ? $1 : () } <$fh>;
    close $fh;

    return @ids;
}

# [n, status, seconds] of every request the publisher made
sub publisher_log {
    my ($dir, $id) = @_;

    open my $fh, '<', "$dir/$id.log" or return ();
    my @r = map { [split ' '] } grep { /^\d+ \d+ [\d.]+$/ } <$fh>;
    close $fh;

    return @r;
}

# A receiver's access log, written with
#   log_format recv escape=none '$msec $status $http_x_event_id $http_x_attempt';
# as [time, status, event id, attempt]
sub received {
    my ($file) = @_;

    open my $fh, '<', $file or return ();
    my @r;

    while (my $line = <$fh>) {
        my @f = split ' ', $line;
        push @r, [@f] if @f == 4;
    }

    close $fh;

    return @r;
}

# event id => how many times it was answered 200
sub accepted {
    my ($file) = @_;

    my %n;
    $n{$_->[2]}++ for grep { $_->[1] == 200 } received($file);

    return \%n;
}

sub missing_ids {
    my ($file, $ids) = @_;

    my $got = accepted($file);

    return grep { !$got->{$_} } @$ids;
}

sub duplicates {
    my ($got) = @_;
    return map { "$_ x$got->{$_}" } sort grep { $got->{$_} > 1 } keys %$got;
}

# waits up to $secs until every id of @$ids was answered 200 by the
# receiver logging to $file; checks it as "N $what" (N the ids)
sub delivered_ok {
    my ($file, $ids, $secs, $what) = @_;

    my @left;
    wait_until($secs, sub { @left = missing_ids($file, $ids); !@left });
    is(scalar @left, 0, scalar(@$ids) . " $what")
        or diag("missing: @left[0 .. ($#left < 9 ? $#left : 9)]");
}

# lines of an error log at these levels, except those matching $except
sub bad_log_lines {
    my ($file, $levels, $except) = @_;

    $levels //= 'crit|alert|emerg';

    my @bad = grep { /\[(?:$levels)\]/ && !($except && /$except/) }
              split /\n/, slurp($file);
    splice @bad, 5 if @bad > 5;

    return join "\n", @bad;
}

# The end of a fault test: the nginx of $a{nginx} stopped ("nginx
# stopped"), that of $a{recv} too if given ("the receiver stopped"), then
# no crit, alert or emerg in nginx's error log but lines matching
# $a{except}, checked as $a{label} ("no crit, alert or emerg logged").
sub stop_clean {
    my (%a) = @_;

    ok(stop_nginx(instance_pid_file($a{nginx})), 'nginx stopped');
    ok(stop_nginx(instance_pid_file($a{recv})), 'the receiver stopped')
        if $a{recv};

    is(bad_log_lines("$a{nginx}/logs/error.log", undef, $a{except}), '',
       $a{label} // 'no crit, alert or emerg logged');
}

# A receiver in a child process, on 127.0.0.1:$port, that answers each
# request as decide(event id, attempt) says: a status, or "hang" (it reads
# the request and never answers; the connection is closed after 10 s or
# when the other side closes it).  After its "down_after"-th request it
# stops listening for "down" seconds (connections are refused).  Each
# request is logged to $log as "time status id attempt" (status 0: hung).
# Returns the child's pid; kill it with TERM.
sub flap_receiver {
    my (%a) = @_;

    my ($port, $log, $decide) = @a{qw(port log decide)};

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return $pid if $pid;

    $SIG{TERM} = sub { POSIX::_exit(0) };

    open my $out, '>>', $log or POSIX::_exit(1);
    $out->autoflush(1);

    my $listen = sub {
        for (1 .. 100) {
            my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => $port, Proto => 'tcp',
                                          Listen => 128, ReuseAddr => 1);
            return $s if $s;
            sleep 0.05;
        }
        POSIX::_exit(2);
    };

    my $ls = $listen->();
    my $sel = IO::Select->new($ls);
    my (%buf, %hung);
    my $requests = 0;
    my $down_until = 0;

    for (;;) {
        if ($down_until && time >= $down_until) {
            $ls = $listen->();
            $sel->add($ls);
            $down_until = 0;
        }

        for my $c (keys %hung) {
            next unless $hung{$c}[1] < time;
            $sel->remove($hung{$c}[0]);
            close $hung{$c}[0];
            delete $hung{$c};
        }

        for my $s ($sel->can_read(0.05)) {
            if ($ls && $s == $ls) {
                my $c = $ls->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }

            my $n = sysread($s, my $chunk, 65536);

            if (!$n) {
                $sel->remove($s);
                delete $buf{$s};
                delete $hung{$s};
                close $s;
                next;
            }

            next if $hung{$s};

            $buf{$s} .= $chunk;

            next unless $buf{$s} =~ /^(.*?)\r\n\r\n/s;
            my $head = $1;
            my ($len) = $head =~ /\r\ncontent-length:\s*(\d+)/i;
            next if length($buf{$s}) < length($head) + 4 + ($len // 0);

            my ($id) = $head =~ /\r\nx-event-id:\s*(\S+)/i;
            my ($attempt) = $head =~ /\r\nx-attempt:\s*(\d+)/i;
            $id //= '-';
            $attempt //= 0;

            my $st = $decide->($id, $attempt);

            if ($st eq 'hang') {
                printf $out "%.3f 0 %s %d\n", time, $id, $attempt;
                $hung{$s} = [$s, time + 10];

            } else {
                printf $out "%.3f %d %s %d\n", time, $st, $id, $attempt;
                print $s "HTTP/1.1 $st X\r\nContent-Length: 2\r\n"
                         . "Connection: close\r\n\r\nok";
                $sel->remove($s);
                delete $buf{$s};
                close $s;
            }

            if (++$requests == ($a{down_after} // 0)) {
                $sel->remove($ls);
                close $ls;
                undef $ls;
                $down_until = time + $a{down};
            }
        }
    }
}

1;
