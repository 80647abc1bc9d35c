# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Fault: the state directory fills up (DESIGN sections 3 and 8).
#
# The state directory is a 1 MB tmpfs mounted inside this file's directory
# (as root; the file is skipped when it cannot mount one).  A provider (a
# master, two workers, fsync=on) on 127.0.0.1:19956; its subscriber's
# receiver, on 127.0.0.1:19957, is not started until the end, so every
# acknowledged event stays pending through everything below.
#
#   1. a filler file leaves a few KB free; events are published until the
#      journal cannot take one more: it is answered 507 with a JSON error
#      saying so; a second filler takes what is left: publishing and a new
#      subscription are answered the same way, and reads go on;
#   2. a restart while the disk is still full: nginx starts, the events
#      acknowledged are there, writes are still refused the same way;
#   3. the filler deleted: publishing works again, without a restart;
#   4. a restart with room: everything acknowledged (before, during and
#      after the full disk) is still there, and once the receiver is up
#      every acknowledged event is delivered.

use Test::Nginx::Socket;
use WebhookTest;
use FaultTest;
use File::Path qw(make_path);
use File::Spec;
use Time::HiRes qw(sleep time);

our $Base;
our $State;
our $Mounted;

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} elsif ($> != 0) {
    plan(skip_all => 'mounting a small tmpfs as the state directory '
                     . 'needs root');

} else {
    # a run that died before its END left its tmpfs mounted
    my $old = File::Spec->rel2abs('t/servroot-state/093-disk-full/state');
    system('umount', $old) if slurp('/proc/mounts') =~ /\s\Q$old\E\s/;

    $Base = fault_base();
    $State = "$Base/state";
    make_path($State);

    my $out = `mount -t tmpfs -o size=1m,mode=0755 tmpfs '$State' 2>&1`;

    if ($? != 0) {
        chomp $out;
        plan(skip_all => "cannot mount a tmpfs as the state directory: "
                         . $out);

    } else {
        $Mounted = 1;
        plan('no_plan');
    }
}

END {
    if ($Mounted) {
        stop_nginx("$Base/nginx/logs/nginx.pid");
        stop_nginx("$Base/recv/logs/nginx.pid");
        system('umount', $State);
    }
}

our $Port = 19956;
our $RecvPort = 19957;
our $Nginx = "$Base/nginx";
our $Recv = "$Base/recv";
our $RecvLog = "$Base/received.log";
our $Filler = "$State/filler";    # and "$Filler-2"
our $Pad = 'x' x 2000;

sub main_test {
    write_recv_conf(prefix => $Recv, port => $RecvPort, log => $RecvLog);

    write_provider_conf(prefix => $Nginx, port => $Port, zone => 'full',
                        state => $State, zone_args => 'fsync=on',
                        retry => join(' ', ('1s') x 28));

    my @acked;
    my $n = 0;

    my $publish = sub {
        $n++;
        my ($st, $h, $body) = http_request($Port, 'POST', '/events',
            ['Content-Type: application/json'],
            qq({"action":"d.ev","id":"d-$n","resource":{"pad":"$Pad"}}));
        push @acked, "d-$n" if $st == 202;
        return ($st, $h, $body);
    };

    my $start = sub { start_ok($Nginx, "$_[0]: nginx", $Port) };

    my $full_error = sub {
        my ($label, $st, $h, $body) = @_;
        is($st, 507, "$label: 507");
        like($h->{'content-type'} // '', qr{^application/json},
             "$label: JSON");
        like($body, qr/^\{"error":"storage_full","message":"[^"]*disk[^"]*"\}$/,
             "$label: the error says the disk is full") or diag($body);
    };

    $start->('start');

    my ($st, $h, $body) = http_request($Port, 'POST', '/hooks',
        ['Content-Type: application/json'],
        qq({"action":"d.ev","target_url":"http://127.0.0.1:$RecvPort/d"}));
    is($st, 201, 'a subscription') or diag($body);
    my ($sub) = $body =~ /"_id":"([0-9a-f]{24})"/;

    for (1 .. 5) {
        $publish->();
    }
    is(scalar @acked, 5, 'events published with room on the disk');

    # 1. the disk fills up

    my ($avail) = `df -B1 --output=avail '$State'` =~ /(\d+)\s*$/;
    my $fill = $avail - 24 * 1024;
    ok($fill > 0, "a filler of $fill bytes");
    system('dd', 'if=/dev/zero', "of=$Filler", 'bs=4096',
           'count=' . int($fill / 4096), 'status=none');

    my @refused;
    for (1 .. 200) {
        my @r = $publish->();
        if ($r[0] != 202) {
            @refused = @r;
            last;
        }
    }

    ok(@acked > 5, scalar(@acked) . ' events acknowledged before the disk '
                   . 'was full');
    $full_error->('disk full: a publish', @refused);

    # a second filler takes what is left; the last pages of the journal
    # files may still take a record or two
    system("dd if=/dev/zero of='$Filler-2' bs=1024 status=none 2>/dev/null");

    my $refusals = 0;
    for (1 .. 50) {
        @refused = $publish->();
        $refusals = $refused[0] == 202 ? 0 : $refusals + 1;
        last if $refusals == 4;
    }
    is($refusals, 4, 'disk full: publishing refused again and again');
    $full_error->('disk full: a publish again', @refused);

    my $subs = 1;
    for (1 .. 30) {
        @refused = http_request($Port, 'POST', '/hooks',
            ['Content-Type: application/json'],
            qq({"action":"d.ev","target_url":"http://127.0.0.1:$RecvPort/x"}));
        last if $refused[0] != 201;
        $subs++;
    }
    $full_error->('disk full: a new subscription', @refused);

    ($st, $h, $body) = http_request($Port, 'GET', "/hooks/$sub");
    is($st, 200, 'disk full: reads go on');

    my $list = get_json($Port, '/hooks');
    is($list && $list->{total}, $subs, 'disk full: the refused subscription '
                                       . 'is not there');

    # 2. a restart, the disk still full

    ok(stop_nginx("$Nginx/logs/nginx.pid"), 'disk full: nginx stopped');
    $start->('disk full: restart');

    my $status = get_json($Port, '/status');
    is($status && $status->{events}, scalar @acked,
       'disk full, after the restart: every acknowledged event is there')
        or diag(Test::More::explain($status));

    ($st, $h, $body) = $publish->();
    $full_error->('disk full, after the restart: a publish', $st, $h, $body);

    # 3. room again, no restart

    is(unlink($Filler, "$Filler-2"), 2, 'the fillers deleted');

    ($st, $h, $body) = $publish->();
    is($st, 202, 'room again: a publish is acknowledged') or diag($body);

    for (1 .. 5) {
        $publish->();
    }

    ($st, $h, $body) = http_request($Port, 'POST', '/hooks',
        ['Content-Type: application/json'],
        qq({"action":"other.ev","target_url":"http://127.0.0.1:$RecvPort/o"}));
    is($st, 201, 'room again: a new subscription') or diag($body);

    # 4. a restart with room, then the receiver

    ok(stop_nginx("$Nginx/logs/nginx.pid"), 'nginx stopped');
    $start->('restart with room');

    $status = get_json($Port, '/status');
    is($status && $status->{events}, scalar @acked,
       scalar(@acked) . ' events acknowledged, all there after the restart')
        or diag(Test::More::explain($status));
    is($status && $status->{subscriptions}, $subs + 1,
       'every subscription acknowledged is there');

    start_ok($Recv, 'the receiver');

    delivered_ok($RecvLog, \@acked, 30, 'acknowledged events, each delivered');

    my %acked = map { $_ => 1 } @acked;
    my @unknown = grep { !$acked{$_} } sort keys %{ accepted($RecvLog) };
    is("@unknown", '', 'nothing delivered that was refused');

    stop_clean(nginx => $Nginx, recv => $Recv);
}

if ($Mounted) {
    my $ok = eval { main_test(); 1 };
    fail("disk full: $@") unless $ok;
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
