package WebhookTest;

# Helpers the webhook tests share.  They work with the real
# Test::Nginx::Socket and with the fallback runner in t/lib, since they only
# use add_block_preprocessor() and add_response_body_check().
#
# Sections they add to a block:
#
#   --- save_id: NAME        remember the first "_id" of the response body
# webhook_setup(section => text, ...) gives defaults for sections a block
# leaves out (http_config, config, more_headers, ...).
#
#   --- before               Perl code run just before the block (after the
#                            previous block, before nginx is (re)started);
#                            the functions below are in scope
#
# and, in every section, {{NAME}} is replaced by the id saved as NAME.

use strict;
use warnings;

use Test::Nginx::Socket ();
use Test::More;
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT = qw(
    webhook_setup state_dir saved_id servroot
    nginx_pids kill_nginx_hard stop_nginx
    http_request journal_files snapshot_file
    start_nginx_with stop_nginx_pid wait_port
);

our %Saved;
our $StateDir;

my @substituted = qw(request more_headers response_body response_body_like
                     response_headers error_code config http_config);

sub state_dir { $StateDir }

sub saved_id { $Saved{$_[0]} }

# Call once, before run_tests(): sets $TEST_NGINX_STATE_DIR to a fresh
# directory for this test file and installs the hooks.
sub webhook_setup {
    my (%defaults) = @_;

    my $name = $0;
    $name =~ s{.*/}{};
    $name =~ s{\.t$}{};

    $StateDir = File::Spec->rel2abs("t/servroot-state/$name");
    remove_tree($StateDir);
    make_path($StateDir);
    chmod 0777, $StateDir;
    rmdir $StateDir;    # the module must create it itself

    $ENV{TEST_NGINX_STATE_DIR} = $StateDir;
    $ENV{TEST_NGINX_SERVER_PORT} //= 1984;

    # accessors for sections no block of the file spells out
    Test::Base::Block::block_accessor($_)
        for keys %defaults, @substituted, 'save_id', 'before';

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body) = @_;

        my $name = ($block->{save_id} // [])->[0];
        return unless defined $name;

        $name =~ s/^\s+|\s+$//g;

        if (defined $body && $body =~ /"_id"\s*:\s*"([0-9a-f]{24})"/) {
            $Saved{$name} = $1;
        }
    });

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;

        # sections a block leaves out take the file's defaults
        for my $section (sort keys %defaults) {
            if (!defined $block->{$section}) {
                $block->{$section} = [ $defaults{$section} ];
            }
        }

        my $code = ($block->{before} // [])->[0];

        if (defined $code) {
            local $@;
            my $ok = eval "package main; $code; 1";
            if (!$ok) {
                Test::More::fail($block->name . " - before: $@");
            }
        }

        for my $section (@substituted) {
            my $v = $block->{$section};
            next unless defined $v;

            my $fix = sub {
                my $s = shift;
                return $s if ref $s;
                $s =~ s/\{\{(\w+)\}\}/$Saved{$1} \/\/ "NO-SAVED-$1"/ge;
                return $s;
            };

            if (ref $v eq 'ARRAY') {
                $block->{$section} = [ map { ref $_ eq 'ARRAY'
                                             ? [ map { $fix->($_) } @$_ ]
                                             : $fix->($_) } @$v ];
            } else {
                $block->{$section} = $fix->($v);
            }
        }

        return $block;
    });
}

sub servroot {
    return $ENV{TEST_NGINX_SERVER_ROOT} || $ENV{TEST_NGINX_SERVROOT}
           || File::Spec->rel2abs('t/servroot');
}

# The master (or single process) and its children.
sub nginx_pids {
    my ($pidfile) = @_;

    $pidfile //= servroot() . '/logs/nginx.pid';

    open my $fh, '<', $pidfile or return ();
    my $master = <$fh>;
    close $fh;

    return () unless defined $master && $master =~ /(\d+)/;
    $master = $1;

    return () unless kill 0, $master;

    my @pids = ($master);

    opendir my $dh, '/proc' or return @pids;
    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $st, '<', "/proc/$p/stat" or next;
        my $line = <$st>;
        close $st;
        next unless defined $line && $line =~ /\)\s+\S+\s+(\d+)/;
        push @pids, $p if $1 == $master;
    }
    closedir $dh;

    return @pids;
}

# kill -9 of the master and every worker: nothing gets to clean up
sub kill_nginx_hard {
    my ($pidfile) = @_;

    my @pids = nginx_pids($pidfile);
    kill 'KILL', @pids if @pids;

    for (1 .. 100) {
        last unless grep { kill 0, $_ } @pids;
        waitpid($_, WNOHANG) for @pids;
        sleep 0.05;
    }

    return scalar @pids;
}

# a graceful stop (QUIT), waiting for every process to go
sub stop_nginx {
    my ($pidfile) = @_;

    my @pids = nginx_pids($pidfile);
    return 0 unless @pids;

    kill 'QUIT', $pids[0];

    for (1 .. 200) {
        last unless grep { kill 0, $_ } @pids;
        waitpid($_, WNOHANG) for @pids;
        sleep 0.05;
    }

    kill 'KILL', grep { kill 0, $_ } @pids;

    return scalar @pids;
}

sub wait_port {
    my ($port, $secs) = @_;

    my $deadline = time + ($secs // 10);

    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }

    return 0;
}

# Starts a separate nginx with its own prefix; returns its pid file.
sub start_nginx_with {
    my ($prefix, $conf) = @_;

    remove_tree($prefix);
    make_path("$prefix/conf", "$prefix/logs");

    my $modules = '';
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '') {
        $modules .= "load_module $m;\n";
    }

    open my $fh, '>', "$prefix/conf/nginx.conf" or die "$prefix: $!";
    # as Test::Nginx does: as root, workers run as root too
    my $user = $> == 0 ? "user root;\n" : '';

    print $fh $modules, $user,
              "pid logs/nginx.pid;\nerror_log logs/error.log info;\n", $conf;
    close $fh;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

    system($bin, '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf") == 0
        or die "cannot start nginx in $prefix";

    return "$prefix/logs/nginx.pid";
}

sub stop_nginx_pid { stop_nginx(@_) }

# A minimal HTTP/1.1 client: returns (status, headers hashref, body).
sub http_request {
    my ($port, $method, $path, $headers, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return (0, {}, "connect: $!");

    $body //= '';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";

    for my $h (@{ $headers // [] }) {
        $req .= "$h\r\n";
    }

    $req .= "Content-Length: " . length($body) . "\r\n" if length $body
                                                       || $method ne 'GET';
    $req .= "\r\n$body";

    print $s $req;

    local $/;
    my $resp = <$s> // '';
    close $s;

    my ($head, $rest) = split /\r\n\r\n/, $resp, 2;
    return (0, {}, $resp) unless defined $head;

    my @lines = split /\r\n/, $head;
    my ($status) = (shift(@lines) // '') =~ /^HTTP\/\d\.\d (\d+)/;
    my %h;
    for (@lines) {
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

    return ($status // 0, \%h, $rest);
}

sub journal_files {
    my ($dir) = @_;
    $dir //= $StateDir;
    return sort glob("$dir/journal-*.log");
}

sub snapshot_file {
    my ($dir) = @_;
    $dir //= $StateDir;
    return "$dir/snapshot";
}

1;
