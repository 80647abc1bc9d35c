package ConfExample;

# Helpers for the files that run a conf-examples/*.conf as a whole (as
# t/070-conf-examples.t does): a copy with only ports, paths and named
# settings substituted, started with its own prefix; raw HTTP requests
# (the documents' own, Host header included); and a loopback receiver
# that records every request it gets and answers the status its path
# asks for (/r/STATUS/anything).

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use WebhookTest qw(wait_port stop_nginx);

our @EXPORT = qw(
    ce_run_nginx ce_slurp ce_prepare ce_start ce_stop_all ce_request
    ce_receiver ce_received ce_wait ce_keys ce_logs_clean
);

our @Started;
our @Receivers;

my $Bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

# load_module lines (and "user root;" as root, as the runner does) on the
# command line, as `make run` gives them to quickstart.conf
sub globals {
    my $g = '';
    $g .= "load_module $_; " for split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $g .= 'user root; ' if $> == 0;
    return $g;
}

# nginx with its own prefix; returns (exit status, output)
sub ce_run_nginx {
    my ($prefix, $conf, @args) = @_;

    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $Bin, @args, '-p', "$prefix/", '-c', $conf,
             '-e', 'logs/error.log', '-g', globals();
        die "exec $Bin: $!";
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;

    return ($? >> 8, $out);
}

sub ce_slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# a prefix with logs/ and tmp/, and conf/nginx.conf: the example with
# each [regex, replacement, expected count] applied
sub ce_prepare {
    my ($name, $prefix, @subs) = @_;

    my $text = ce_slurp("conf-examples/$name.conf");
    ok(length $text, "$name.conf read");

    for my $s (@subs) {
        my ($re, $to, $want) = @$s;
        my $n = () = $text =~ /$re/g;
        is($n, $want, "$name.conf: $re found $want time(s)");
        $text =~ s/$re/$to/g;
    }

    remove_tree($prefix);
    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");

    open my $fh, '>', "$prefix/conf/nginx.conf" or die "$prefix: $!";
    print $fh $text;
    close $fh;

    return "$prefix/conf/nginx.conf";
}

sub ce_start {
    my ($name, $prefix, $conf, @ports) = @_;

    my ($rc, $out) = ce_run_nginx($prefix, $conf, '-t');
    is($rc, 0, "$name: nginx -t on the test copy") or diag($out);

    ($rc, $out) = ce_run_nginx($prefix, $conf);
    is($rc, 0, "$name: nginx started") or diag($out);
    push @Started, "$prefix/logs/nginx.pid" if $rc == 0;

    for my $p (@ports) {
        ok(wait_port($p, 10), "$name: listening on $p");
    }
}

sub ce_stop_all {
    for my $pidfile (@Started) {
        ok(stop_nginx($pidfile), "stopped: $pidfile");
    }
    @Started = ();

    for my $pid (@Receivers) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
    @Receivers = ();
}

# no alert, crit or emerg in a prefix's error log
sub ce_logs_clean {
    my ($name, $prefix) = @_;
    my $log = ce_slurp("$prefix/logs/error.log");
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
    is(join("\n", @bad), '', "$name: no alert, crit or emerg logged");
}

END {
    for my $pidfile (@Started) {
        stop_nginx($pidfile);
    }
    for my $pid (@Receivers) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

# Sends a request as written: $head is the request line and header lines
# ("\n"-separated, as a document prints them); Content-Length and
# "Connection: close" are added.  Returns (status, headers, body, raw).
sub ce_request {
    my ($port, $head, $body) = @_;

    $body //= '';
    my @lines = grep { length } split /\r?\n/, $head;
    my $req = join("\r\n", @lines) . "\r\n";
    $req .= "Content-Length: " . length($body) . "\r\n"
        if (length $body || $lines[0] =~ /^(POST|PUT|PATCH) /)
           && !grep { /^Content-Length:/i } @lines;
    $req .= "Connection: close\r\n\r\n" . $body;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return (0, {}, "connect: $!", '');
    print $s $req;

    # the header and Content-Length bytes, or up to the close: after an
    # early answer (a 413 before the body) nginx may linger on the
    # connection
    my $resp = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $n = sysread($s, $resp, 65536, length $resp);
        last unless $n;
        if ($resp =~ /^(.*?\r\n\r\n)/s) {
            my $hl = length $1;
            my ($cl) = $1 =~ /\r\nContent-Length:\s*(\d+)/i;
            last if defined $cl && length($resp) >= $hl + $cl;
            last if $1 =~ m{^HTTP/1\.1 (204|304) };
        }
    }
    close $s;

    my ($h, $rest) = split /\r\n\r\n/, $resp, 2;
    my @hl = split /\r\n/, $h // '';
    my ($status) = (shift(@hl) // '') =~ m{^HTTP/\d\.\d (\d+)};
    my %h;
    for (@hl) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $h{lc $k} = $v;
    }

    $rest //= '';

    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($rest =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($rest, 0, $n, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $out;
    }

    return ($status // 0, \%h, $rest, $resp);
}

# A receiver on 127.0.0.1:$port, a child process: each request is saved
# whole in $dir, and answered with the status in its path /r/STATUS/...
# (200 otherwise).
sub ce_receiver {
    my ($port, $dir) = @_;

    remove_tree($dir);
    make_path($dir);

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Proto => 'tcp',
                                       Listen => 64, ReuseAddr => 1)
        or die "receiver on $port: $!\n";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid) {
        close $listen;
        push @Receivers, $pid;
        return $pid;
    }

    my $n = 0;
    my $deadline = time + 300;

    while (time < $deadline) {
        my $c = $listen->accept or next;
        my $data = '';
        my $until = time + 10;

        while (time < $until) {
            my $r = sysread($c, $data, 65536, length $data);
            last unless $r;
            if ($data =~ /^(.*?\r\n\r\n)/s) {
                my $hl = length $1;
                my ($cl) = $1 =~ /\r\nContent-Length:\s*(\d+)/i;
                last if length($data) >= $hl + ($cl // 0);
            }
        }

        my ($path) = $data =~ m{^\S+ (\S+)};
        my ($st) = ($path // '') =~ m{^/r/(\d{3})/};
        $st //= 200;

        $n++;
        my $file = sprintf "%s/%06d", $dir, $n;
        if (open my $fh, '>', "$file.tmp") {
            binmode $fh;
            print $fh $data;
            close $fh;
            rename "$file.tmp", $file;
        }

        my $resp = "HTTP/1.1 $st Status\r\nConnection: close\r\n";
        $resp .= $st == 204 ? "\r\n" : "Content-Length: 0\r\n\r\n";
        print $c $resp;
        close $c;
    }

    POSIX::_exit(0);
}

# what the receiver got: a list of {method, path, headers => {lc name =>
# [values]}, body}, in arrival order
sub ce_received {
    my ($dir) = @_;
    my @out;

    opendir my $dh, $dir or return ();
    for my $f (sort grep { /^\d+$/ } readdir $dh) {
        my $data = ce_slurp("$dir/$f");
        my ($head, $body) = split /\r\n\r\n/, $data, 2;
        my @lines = split /\r\n/, $head // '';
        my ($method, $path, $proto) = split ' ', shift(@lines) // '';
        my %h;
        for (@lines) {
            my ($k, $v) = split /:\s*/, $_, 2;
            push @{ $h{lc $k} }, $v;
        }
        push @out, { method => $method, path => $path, proto => $proto,
                     headers => \%h, body => $body // '' };
    }
    closedir $dh;

    return @out;
}

# polls $cond until it is true or $secs pass; returns its last value
sub ce_wait {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;
    my $v;

    while (1) {
        $v = $cond->();
        return $v if $v || time >= $deadline;
        sleep 0.1;
    }
}

# the top-level keys of a flat JSON object, in their order
sub ce_keys {
    my ($json) = @_;
    my @keys;
    my $depth = 0;

    # walk the text: keys at depth 1 only
    while ($json =~ /\G(?:("(?:[^"\\]|\\.)*")(\s*:)?|([{\[])|([}\]])|[^"{}\[\]]+)/gc) {
        if (defined $3) {
            $depth++;

        } elsif (defined $4) {
            $depth--;

        } elsif (defined $1 && defined $2 && $depth == 1) {
            (my $k = $1) =~ s/^"|"$//g;
            push @keys, $k;
        }
    }

    return @keys;
}

1;
