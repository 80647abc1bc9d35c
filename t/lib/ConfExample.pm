package ConfExample;

# Helpers for the files that run a conf-examples/*.conf as a whole
# (t/070-conf-examples.t, t/080-vello.t, t/081-vyte.t, t/082-vyte2.t,
# t/083-screver.t, t/084-hubplanner.t): nginx with its own prefix, outside
# the runner's, on a copy of the example with only ports, paths and named
# settings substituted.
#
#   ce_run_nginx, ce_slurp     nginx -p PREFIX -c CONF (-t ...); a file
#   ce_as_committed            the committed file: nginx -t, and what its
#                              text must say
#   ce_prepare, ce_start       the test copy (each substitution counted),
#                              started, its ports waited for
#   ce_free_ports              free loopback ports in a range
#   ce_stop_all                every nginx and receiver started here
#   ce_logs_clean, ce_stop_clean
#                              no alert, crit or emerg in error logs (the
#                              second stops everything first)
#   ce_request                 a raw request as a document prints it
#                              (Host header included)
#   ce_raw_request             a request head alone, the write side shut
#                              (nginx's own 413 before the body)
#   ce_receiver, ce_received   a loopback receiver (a child process) that
#                              saves every request and answers the status
#                              its path asks for (/r/STATUS/anything)
#   ce_cert, ce_https_receiver, ce_https_received, ce_https_wait
#                              a self-signed certificate for 127.0.0.1 made
#                              with the openssl CLI, and an https receiver
#                              (a separate nginx) that logs every request,
#                              headers and body, one JSON line each
#   ce_https_provider          an https-only example (vyte, vyte2) started
#                              with the https receiver as its target
#   ce_wait, ce_keys           polling; a JSON object's top-level keys
#
# On request (not exported by default, as some files have their own):
#   json_ok, json_error_ok     a JSON response: status, content type, the
#                              body decoded (and its "error")
#   iso_time_ok, std_signature
#   vyte_hook_ok               a hook as the vyte and vyte2 profiles show it
#
# Everything started here is stopped at exit too.

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use JSON::PP ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use WebhookTest qw(wait_port stop_nginx start_nginx_with);

our @EXPORT = qw(
    ce_run_nginx ce_slurp ce_free_ports ce_prepare ce_start ce_stop_all
    ce_logs_clean ce_stop_clean ce_request ce_raw_request
    ce_receiver ce_received ce_cert ce_https_receiver ce_https_received
    ce_https_wait ce_https_provider ce_as_committed ce_wait ce_keys
);

our @EXPORT_OK = qw(
    json_ok json_error_ok iso_time_ok std_signature vyte_hook_ok
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

# $n free ports in $from .. $to
sub ce_free_ports {
    my ($n, $from, $to) = @_;
    my @ports;

    for my $p ($from .. $to) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1);
        next unless $s;
        close $s;
        push @ports, $p;
        last if @ports == $n;
    }

    die "no $n free ports in $from-$to\n" unless @ports == $n;
    return @ports;
}

# The committed conf-examples/$name.conf, as it is: "nginx -t" with its
# own prefix $prefix, and each [regex, label] matched against its text.
# Returns the text.
sub ce_as_committed {
    my ($name, $prefix, @likes) = @_;

    make_path("$prefix/logs", "$prefix/tmp");
    my ($rc, $out) = ce_run_nginx($prefix,
        File::Spec->rel2abs("conf-examples/$name.conf"), '-t');
    is($rc, 0, "$name.conf as committed: nginx -t") or diag($out);

    my $text = ce_slurp("conf-examples/$name.conf");
    like($text, $_->[0], $_->[1]) for @likes;

    return $text;
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

# the end of a whole-file test: everything started here stopped (one
# check each nginx), then each error log clean; @names are (name, prefix)
# pairs
sub ce_stop_clean {
    my (@names) = @_;

    ce_stop_all();

    while (my ($name, $prefix) = splice @names, 0, 2) {
        ce_logs_clean($name, $prefix);
    }
}

END {
    local $?;    # waitpid would make a receiver's TERM the exit status

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

# a request with a Content-Length and no body, the write side shut: nginx
# answers the header (the 413s); returns (status, headers, body)
sub ce_raw_request {
    my ($port, $req) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return (0, {}, "connect: $!");
    print $s $req;
    shutdown($s, 1);    # no body follows

    # read the header and Content-Length bytes: the connection itself may
    # stay open for nginx's lingering close
    my $resp = '';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $n = sysread($s, $resp, 4096, length $resp);
        last unless $n;
        if ($resp =~ /^(.*?\r\n\r\n)/s) {
            my $hl = length $1;
            my ($cl) = $1 =~ /\r\nContent-Length:\s*(\d+)/i;
            last if defined $cl && length($resp) >= $hl + $cl;
        }
    }
    close $s;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($st) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k, $v) }
            grep { /:/ } split /\r\n/, $head // '';
    return ($st // 0, \%h, $body // '');
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

# A self-signed certificate for 127.0.0.1 (the name and the address), made
# in $dir: an https receiver's, and a provider's only trusted one.
# Returns (certificate file, key file).
sub ce_cert {
    my ($dir) = @_;

    make_path($dir);

    my $out = `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=DNS:127.0.0.1,IP:127.0.0.1 -keyout $dir/receiver.key -out $dir/receiver.crt 2>&1`;
    die "openssl: $out" if $?;

    return ("$dir/receiver.crt", "$dir/receiver.key");
}

# An https receiver on 127.0.0.1:$port (an nginx with prefix $prefix),
# answering 200 {"ok":true} after logging the request to $log as one JSON
# line; its body is read by proxying to a plain server of its own on
# $app_port.
sub ce_https_receiver {
    my ($prefix, $port, $app_port, $crt, $key, $log) = @_;

    unlink $log;

    my $pidfile = start_nginx_with($prefix, <<"_EOC_");
daemon on;
master_process on;
worker_processes 1;
events { worker_connections 256; }
http {
    client_body_temp_path  $prefix/tmp_body;
    proxy_temp_path        $prefix/tmp_proxy;

    log_format  received escape=json
        '{"method":"\$request_method","uri":"\$request_uri",'
        '"ct":"\$http_content_type","ua":"\$http_user_agent",'
        '"id":"\$http_webhook_id","ts":"\$http_webhook_timestamp",'
        '"sig":"\$http_webhook_signature","body":"\$request_body"}';

    server {
        listen               127.0.0.1:$port ssl;
        ssl_certificate      $crt;
        ssl_certificate_key  $key;
        access_log           $log received;

        client_body_in_single_buffer  on;
        client_body_buffer_size       1m;

        location / {
            proxy_pass  http://127.0.0.1:$app_port;
        }
    }

    server {
        listen      127.0.0.1:$app_port;
        access_log  off;

        location / {
            default_type  application/json;
            return        200 '{"ok":true}';
        }
    }
}
_EOC_

    push @Started, $pidfile;
    ok(wait_port($port, 10), "receiver: listening on $port");
}

# what the https receiver logged: a list of hashes (method, uri, ct, ua,
# id, ts, sig, body); "body" is the bytes as sent
sub ce_https_received {
    my ($log) = @_;
    my @got;

    for my $line (split /\n/, ce_slurp($log)) {
        # the log holds raw bytes: decoded as latin-1 characters, they
        # come back out as the same bytes
        my $r = eval { JSON::PP->new->decode($line) };
        push @got, $r if $r;
    }

    return @got;
}

# An example whose provider delivers over https only, the certificate
# verified (vyte.conf, vyte2.conf), under $base: the https receiver
# ($base/receiver, a new certificate in $base/cert), and the test copy
# ($base/provider) with 127.0.0.1:8080 (API) and :8081 (publish) moved to
# free ports in $from .. $to, state= in $base/state, private targets
# allowed (the receiver is 127.0.0.1), and the receiver's certificate the
# CA file, started.  Returns (API port, publish port, receiver port,
# receiver log).
sub ce_https_provider {
    my ($name, $base, $from, $to) = @_;

    my ($api, $pub, $recv, $app) = ce_free_ports(4, $from, $to);
    my ($crt, $key) = ce_cert("$base/cert");
    my $log = "$base/received.log";

    ce_https_receiver("$base/receiver", $recv, $app, $crt, $key, $log);

    my $conf = ce_prepare($name, "$base/provider",
        [ qr/127\.0\.0\.1:8080\b/, "127.0.0.1:$api", 1 ],
        [ qr/127\.0\.0\.1:8081\b/, "127.0.0.1:$pub", 1 ],
        [ qr/\bstate=state\b/, "state=$base/state", 1 ],
        [ qr/webhook_allow_private\s+off;/, 'webhook_allow_private  on;', 1 ],
        [ qr{/etc/ssl/certs/ca-certificates\.crt}, $crt, 1 ]);

    ce_start($name, "$base/provider", $conf, $api, $pub);

    return ($api, $pub, $recv, $log);
}

# the first request the https receiver logged with webhook-id $id, within
# $secs (15)
sub ce_https_wait {
    my ($log, $id, $secs) = @_;

    my $deadline = time + ($secs // 15);

    while (time < $deadline) {
        my ($r) = grep { $_->{id} eq $id } ce_https_received($log);
        return $r if $r;
        sleep 0.2;
    }

    return undef;
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

# a hook of the vyte and vyte2 profiles, as the documents' examples show
# it: its keys, with their JSON types; $org its organization
sub vyte_hook_ok {
    my ($label, $hook, $action, $target, $org) = @_;

    is(ref $hook, 'HASH', "$label: an object") or return;
    like($hook->{_id} // '', qr/^[0-9a-f]{24}$/, "$label: _id");
    is($hook->{action}, $action, "$label: action");
    is($hook->{target_url}, $target, "$label: target_url");
    is($hook->{organization}, $org, "$label: organization");
    is($hook->{scope}, 'organization', "$label: scope");
    iso_time_ok($hook->{createdAt}, "$label: createdAt");
    iso_time_ok($hook->{updatedAt}, "$label: updatedAt");
    like($hook->{__v} // '', qr/^\d+$/, "$label: __v, a number");
}

# a JSON response: its status, content type; returns the decoded body
sub json_ok {
    my ($label, $st, $h, $body, $status) = @_;

    is($st, $status, "$label: $status") or diag($body);
    like($h->{'content-type'} // '', qr{^application/json},
         "$label: application/json");

    my $v = eval { JSON::PP->new->utf8->decode($body) };
    ok(defined $v, "$label: the body is JSON") or diag($body);

    return $v;
}

# json_ok, and the body's "error" is $error
sub json_error_ok {
    my ($label, $st, $h, $body, $status, $error) = @_;

    my $v = json_ok($label, $st, $h, $body, $status);
    is(ref $v eq 'HASH' ? $v->{error} : undef, $error,
       "$label: error $error");

    return $v;
}

sub iso_time_ok {
    my ($v, $label) = @_;
    like($v // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, $label);
}

# "v1,<base64 HMAC-SHA256(id.timestamp.body)>" with a whsec_ secret
sub std_signature {
    my ($secret, $id, $ts, $body) = @_;
    (my $k = $secret) =~ s/^whsec_//;
    return 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body",
                                             decode_base64($k)), '');
}

1;
