package VyteTest;

# What t/081-vyte.t and t/082-vyte2.t share: a conf-examples file run as a
# whole (its own nginx, its own prefix, only ports and paths substituted,
# as t/070-conf-examples.t does), a self-signed certificate made with the
# openssl CLI, and an https receiver on loopback (a separate nginx) that
# logs every request it gets, headers and body, one JSON line each.

use strict;
use warnings;

use Test::More;
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use JSON::PP ();
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(sleep time);
use WebhookTest qw(start_nginx_with stop_nginx wait_port http_request);
use Exporter 'import';

our @EXPORT = qw(
    run_nginx slurp free_ports prepare start_example stop_all
    make_cert start_receiver received wait_received
    json_ok json_error_ok iso_time_ok std_signature raw_request
);

our @Started;

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
sub run_nginx {
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

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# $n free ports in $from .. $to
sub free_ports {
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

# a prefix with logs/ and tmp/, and conf/nginx.conf: the example with
# each [regex, replacement, expected count] applied
sub prepare {
    my ($name, $prefix, @subs) = @_;

    my $text = slurp("conf-examples/$name.conf");
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

sub start_example {
    my ($name, $prefix, $conf, @ports) = @_;

    my ($rc, $out) = run_nginx($prefix, $conf, '-t');
    is($rc, 0, "$name: nginx -t on the test copy") or diag($out);

    ($rc, $out) = run_nginx($prefix, $conf);
    is($rc, 0, "$name: nginx started") or diag($out);
    push @Started, "$prefix/logs/nginx.pid" if $rc == 0;

    for my $p (@ports) {
        ok(wait_port($p, 10), "$name: listening on $p");
    }
}

sub stop_all {
    ok(stop_nginx($_), "stopped: $_") for @Started;
    @Started = ();
}

END {
    stop_nginx($_) for @Started;
}

# A self-signed certificate for 127.0.0.1 (the name and the address): the
# receiver's, and the provider's only trusted one.
sub make_cert {
    my ($dir) = @_;

    make_path($dir);

    my $out = `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=DNS:127.0.0.1,IP:127.0.0.1 -keyout $dir/receiver.key -out $dir/receiver.crt 2>&1`;
    die "openssl: $out" if $?;

    return ("$dir/receiver.crt", "$dir/receiver.key");
}

# An https receiver on 127.0.0.1:$port, answering 200 {"ok":true} after
# logging the request to $log as one JSON line; its body is read by
# proxying to a plain server of its own on $app_port.
sub start_receiver {
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

# what the receiver got: a list of hashes; "body" is the bytes as sent
sub received {
    my ($log) = @_;
    my @got;

    for my $line (split /\n/, slurp($log)) {
        # the log holds raw bytes: decoded as latin-1 characters, they
        # come back out as the same bytes
        my $r = eval { JSON::PP->new->decode($line) };
        push @got, $r if $r;
    }

    return @got;
}

# the first request the receiver got with webhook-id $id, within $secs
sub wait_received {
    my ($log, $id, $secs) = @_;

    my $deadline = time + ($secs // 15);

    while (time < $deadline) {
        my ($r) = grep { $_->{id} eq $id } received($log);
        return $r if $r;
        sleep 0.2;
    }

    return undef;
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

# a request with a Content-Length and no body: nginx answers the header
# (the 413s)
sub raw_request {
    my ($port, $req) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return (0, {}, "connect: $!");
    print $s $req;
    shutdown($s, 1);

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

1;
