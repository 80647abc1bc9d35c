# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# Fault: a receiver that flaps between 500, timeouts, refused connections
# and 200 (DESIGN section 5): everything is delivered in the end, each
# event once, and the attempt logs tell what happened.
#
# A provider (a master, two workers) on 127.0.0.1:19952 with short waits
# between attempts ("webhook_retry 200ms 300ms 500ms 500ms 1s ...") and
# "webhook_attempt_timeout 1s"; the receiver, a Perl process on
# 127.0.0.1:19953 (FaultTest::flap_receiver), fails the first n % 4
# attempts of event "f-n", alternately with a 500 and by never answering
# (a timeout), then answers 200; after its 30th request it stops listening
# for a second (connect_failed).
#
# Instances under t/servroot-state/091-flap.

use Test::Nginx::Socket;
use WebhookTest;
use FaultTest;
use Time::HiRes qw(sleep time);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = fault_base();
our $Port = 19952;
our $RecvPort = 19953;
our $Nginx = "$Base/nginx";
our $RecvLog = "$Base/received.log";
our $N = 40;

write_provider_conf(prefix => $Nginx, port => $Port, zone => 'flap',
                    state => "$Base/state", zone_args => 'attempts=1000',
                    retry => '200ms 300ms 500ms 500ms 1s 1s 1s 1s 1s 1s',
                    deliver => 'webhook_attempt_timeout  1s;');

# event "f-n": attempts 1 .. n % 4 fail, alternately 500 and no answer
sub planned {
    my ($id, $attempt) = @_;

    my ($n) = $id =~ /^f-(\d+)$/ or return 400;

    return 200 if $attempt > $n % 4;
    return ($n + $attempt) % 2 ? 500 : 'hang';
}

sub main_test {
    my $recv = flap_receiver(port => $RecvPort, log => $RecvLog,
                             decide => \&planned,
                             down_after => 30, down => 1);
    ok(wait_port($RecvPort, 10), 'the receiver listens');

    start_ok($Nginx, 'nginx', $Port);

    my ($st, $h, $body) = http_request($Port, 'POST', '/hooks',
        ['Content-Type: application/json'],
        qq({"action":"f.ev","target_url":"http://127.0.0.1:$RecvPort/f"}));
    is($st, 201, 'a subscription') or diag($body);
    my ($sub) = $body =~ /"_id":"([0-9a-f]{24})"/;

    my $t0 = time;
    my @ids;

    for my $n (1 .. $N) {
        ($st, $h, $body) = http_request($Port, 'POST', '/events',
            ['Content-Type: application/json'],
            qq({"action":"f.ev","id":"f-$n","resource":{"n":$n}}));
        push @ids, "f-$n" if $st == 202;
    }

    is(scalar @ids, $N, "$N events acknowledged");

    my @left;
    wait_until(60, sub { @left = missing_ids($RecvLog, \@ids); !@left });
    is("@left", '', 'every event delivered in the end');
    diag(sprintf "all delivered after %.1fs", time - $t0);

    sleep 0.5;    # time for a duplicate to show

    my @recs = received($RecvLog);
    my @dups = duplicates(accepted($RecvLog));
    is("@dups", '', 'each event answered 200 once');

    # the receiver saw the planned failures, then one 200
    my %by;
    push @{ $by{$_->[2]} }, $_ for @recs;
    my @wrong;

    for my $id (@ids) {
        my @r = sort { $a->[3] <=> $b->[3] } @{ $by{$id} // [] };
        my ($n) = $id =~ /(\d+)$/;
        my $ok_at = (grep { $_->[1] == 200 } @r)[0];

        push @wrong, "$id: 200 at attempt "
                     . ($ok_at ? $ok_at->[3] : 'none')
            unless $ok_at && $ok_at->[3] > $n % 4;

        for my $r (@r) {
            my $want = planned($id, $r->[3]);
            push @wrong, "$id attempt $r->[3]: $r->[1], not $want"
                unless $r->[1] == ($want eq 'hang' ? 0 : $want);
        }
    }

    is(join('; ', @wrong[0 .. ($#wrong < 4 ? $#wrong : 4)]), '',
       'the receiver answered as planned; each event accepted once its '
       . 'failures were over');

    my %seen = map { ($_->[1] => 1) } @recs;
    ok($seen{500} && $seen{0} && $seen{200},
       'the receiver answered 500, hung and answered 200');

    # the attempt log: what nginx recorded for each attempt
    my $log = get_json($Port, "/hooks/$sub/deliveries");
    ok($log, 'the attempt log');
    my @att = @{ $log ? $log->{attempts} : [] };
    my %err;
    $err{$_->{error} // 'none'}++ for @att;

    diag('attempt log: ' . join(', ', map { "$_ $err{$_}" } sort keys %err));

    ok($err{bad_status}, 'attempts failed with bad_status (the 500s)');
    ok($err{timeout}, 'attempts failed with timeout (no answer)');
    ok($err{connect_failed},
       'attempts failed with connect_failed (nobody listening)');

    my @bad = grep { defined $_->{error} && $_->{error} eq 'bad_status'
                     && ($_->{status} // 0) != 500 } @att;
    is(scalar @bad, 0, 'each bad_status attempt shows the 500');

    my @slow = grep { defined $_->{error} && $_->{error} eq 'timeout'
                      && ($_->{duration_ms} < 900 || $_->{duration_ms} > 5000)
                    } @att;
    is(scalar @slow, 0, 'each timeout ended after about '
                        . 'webhook_attempt_timeout (1s)')
        or diag(explain $slow[0]);

    my %final;
    for my $a (reverse @att) {    # oldest first: the last one wins
        $final{$a->{event_id}} = $a->{state};
    }
    my @not = grep { ($final{$_} // '') ne 'delivered' } @ids;
    is("@not", '', 'the attempt log shows every event delivered');

    my @fails = grep { $_->{state} eq 'failed' } @att;
    is(scalar @fails, 0, 'no delivery ended failed');

    my $status = get_json($Port, '/status');
    ok($status && $status->{deliveries}{queued} == 0
       && $status->{deliveries}{in_flight} == 0
       && $status->{deliveries}{failed} == 0,
       'status: nothing queued, in flight or failed')
        or diag(Test::More::explain($status));

    stop_clean(nginx => $Nginx);

    kill 'TERM', $recv;
    waitpid $recv, 0;
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("flapping receiver: $@") unless $ok;
    stop_nginx("$Nginx/logs/nginx.pid");
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
