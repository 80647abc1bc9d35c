package Test::Nginx::Fallback::Server;

# nginx process management for the fallback Test::Nginx::Socket:
# settings, the server root ("servroot") layout, nginx.conf generation,
# starting / stopping / HUP-reloading nginx (optionally under valgrind).
#
# Behaviour follows the documented behaviour of openresty's Test::Nginx
# (Test::Nginx::Util); the code is an independent implementation.

use strict;
use warnings;

use Cwd ();
use Errno ();
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Test::More ();

# ---------------------------------------------------------------------------
# Settings.  Environment variables are read once, at load time, like the
# real module does; the exported setter functions (workers(), log_level(),
# ...) change these values before run_tests().
# ---------------------------------------------------------------------------

sub find_in_path {
    my ($prog) = @_;
    return (-f $prog && -x _) ? $prog : undef if $prog =~ m{/};
    for my $dir (split /:/, $ENV{PATH} // '') {
        next if $dir eq '';
        my $path = "$dir/$prog";
        return $path if -f $path && -x _;
    }
    return undef;
}

our %Cfg = (
    binary => $ENV{TEST_NGINX_BINARY}
        || find_in_path('nginx') || '/usr/sbin/nginx',
    port => $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984,
    addr => '127.0.0.1',
    server_name => 'localhost',
    workers => 1,
    worker_connections => 64,
    log_level => $ENV{TEST_NGINX_LOG_LEVEL} || 'debug',
    master_process => $ENV{TEST_NGINX_MASTER_PROCESS} || 'off',
    no_root_location => 0,
    config_preamble => '',
    env_to_nginx => [],
    timeout => $ENV{TEST_NGINX_TIMEOUT} || 3,
    sleep => $ENV{TEST_NGINX_SLEEP} || 0.015,
    use_hup => $ENV{TEST_NGINX_USE_HUP},
    use_valgrind => $ENV{TEST_NGINX_USE_VALGRIND},
    load_modules => $ENV{TEST_NGINX_LOAD_MODULES},
    worker_user => $ENV{TEST_NGINX_WORKER_USER},
    no_clean => $ENV{TEST_NGINX_NO_CLEAN},
    no_nginx_manager => $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0,
    verbose => $ENV{TEST_NGINX_VERBOSE},
    # seconds to wait for nginx to accept connections after starting it
    start_wait => $ENV{TEST_NGINX_USE_VALGRIND} ? 30 : 5,
);
$Cfg{client_port} = $ENV{TEST_NGINX_CLIENT_PORT} || $Cfg{port};

# TEST_NGINX_USE_VALGRIND=0 means "off".
$Cfg{use_valgrind} = undef
    if defined $Cfg{use_valgrind} && $Cfg{use_valgrind} =~ /^\s*0?\s*$/;
$Cfg{use_hup} = undef
    if defined $Cfg{use_hup} && $Cfg{use_hup} =~ /^\s*0?\s*$/;

# The real module never daemonizes under valgrind (nginx must stay a child
# of the test process so that valgrind's output can be collected).
$Cfg{daemon} = $Cfg{use_valgrind} ? 'off' : 'on';

# TEST_NGINX_SERVROOT (made absolute), default t/servroot.  Like the real
# module we export it to the environment as TEST_NGINX_SERVER_ROOT (the
# real module does not set TEST_NGINX_SERVROOT itself).
our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $ValgrindLog = "$LogDir/valgrind.log";

# Mutable run state.
our %State = (
    first_time     => 1,      # no nginx started by this process yet
    child_pid      => undef,  # foreground nginx (valgrind) started by us
    config_version => undef,  # HUP mode: value served by /ver
    in_subprocess  => 0,
);

our @CleanupHandlers;

sub verbose { $Cfg{verbose} }

sub is_running {
    my ($pid) = @_;
    return 0 unless $pid;
    # reap our own child first, otherwise a zombie still answers kill 0
    waitpid($pid, WNOHANG) if defined $State{child_pid} && $pid == $State{child_pid};
    return 0 unless kill 0, $pid;
    # an exited daemon stays a zombie until init reaps it, which can take
    # a while in some containers: a zombie counts as gone
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub bail_out {
    my @msg = @_;
    cleanup();
    Test::More::BAIL_OUT(join '', @msg);
}

# "0.5", "500ms", "2s" -> seconds
sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s$/;
    return $t;
}

# ---------------------------------------------------------------------------
# nginx version (nginx -V), used for skip_nginx and for optional directives
# ---------------------------------------------------------------------------

my ($VersionText, $Version);

sub nginx_v_output {
    return $VersionText if defined $VersionText;
    my $bin = $Cfg{binary};
    $VersionText = `'$bin' -V 2>&1`;
    if ($? != 0 || !defined $VersionText) {
        bail_out("Failed to run \"$bin -V\" (set TEST_NGINX_BINARY?): "
                 . ($VersionText // $!));
    }
    return $VersionText;
}

sub canon_version {
    my ($x, $y, $z) = @_;
    return sprintf '%d.%03d%03d', $x, $y, $z;
}

# canonical version number, e.g. 1.022001 for nginx/1.22.1
sub nginx_version {
    return $Version if defined $Version;
    my $out = nginx_v_output();
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)})
    {
        $Version = canon_version($1, $2, $3);
        return $Version;
    }
    bail_out("Failed to parse the output of \"$Cfg{binary} -V\": $out");
}

sub has_module {
    my ($mod) = @_;    # e.g. "fastcgi" for http_fastcgi_module
    return nginx_v_output() !~ /--without-http_${mod}_module\b/;
}

# ---------------------------------------------------------------------------
# $TEST_NGINX_* expansion
# ---------------------------------------------------------------------------

sub rand_port {
    my ($used) = @_;
    for (1 .. 1000) {
        my $port = 1985 + int rand(65535 - 1985);
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $Cfg{addr}, LocalPort => $port,
            Proto => 'tcp', ReuseAddr => 1,
        ) or next;
        close $sock;
        return $port;
    }
    return undef;
}

# Expands every $TEST_NGINX_FOO in $text with the environment variable of
# that name; an undefined one aborts the run (as the real module does).
# $TEST_NGINX_RAND_PORT_<n> gets a free random port, stable per block.
sub expand_env {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = ($Cfg{port} => 1, map { $_ => 1 } values %$rand_ports);
                $rand_ports->{$var} = rand_port(\%used)
                    // bail_out("$name - cannot find a free port for $var");
            }
            $val = $rand_ports->{$var};
        } else {
            $val = $ENV{$var};
            bail_out("$name - No environment $var defined.\n") unless defined $val;
        }
        $val;
    }ge;
    return $text;
}

# ---------------------------------------------------------------------------
# servroot
# ---------------------------------------------------------------------------

# Recreates the server root: conf/, logs/, html/ (with index.html).  In HUP
# mode nginx keeps running, so only plain files are removed and the pid
# file (and valgrind's log, still written by the running process) is kept.
sub setup_server_root {
    my ($hup_keep) = @_;

    if (-d $ServRoot) {
        # only remove what we create, never the whole directory: protects
        # user data should TEST_NGINX_SERVROOT point somewhere unexpected
        remove_tree($ConfDir, glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
        if ($hup_keep) {
            for my $dir ($LogDir, $HtmlDir) {
                next unless -d $dir;
                require File::Find;
                File::Find::find({ no_chdir => 1, wanted => sub {
                    return if -d $_;
                    return if m{/(?:nginx\.pid|valgrind\.log)$|\.(?:sock|crt|key)$};
                    unlink $_ or warn "WARNING: failed to remove $_: $!\n";
                } }, $dir);
            }
        } else {
            remove_tree($LogDir, $HtmlDir);
        }
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        make_path($dir) or bail_out("Failed to create directory $dir: $!");
    }

    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub write_file {
    my ($path, $data) = @_;
    open my $out, '>', $path or bail_out("Can't open $path for writing: $!");
    binmode $out;
    print $out $data;
    close $out or bail_out("Can't write $path: $!");
}

# --- user_files: ">>> name [mtime]" lines followed by the content, or an
# eval'ed array of [name, content, mtime].  Relative names go to html/.
sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name  = $block->name;
    my $files = $block->user_files;
    return unless defined $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files must be a string or an ARRAY");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) unless -d $dir;
        write_file($path, expand_env($body // '', $name, $rand_ports));
        if ($date) {
            # same format as touch -t, interpreted as GMT
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to set the mtime of $path");
        }
    }
}

# ---------------------------------------------------------------------------
# nginx.conf
# ---------------------------------------------------------------------------

sub write_config {
    my ($block, $config, $rand_ports, $log_level) = @_;
    my $name = $block->name;

    my $http_config = expand_env(scalar($block->http_config), $name, $rand_ports) // '';
    $http_config = $Cfg{http_config_filter}->($http_config) if $Cfg{http_config_filter};
    my $main_config = expand_env(scalar($block->main_config), $name, $rand_ports) // '';
    my $post_main   = expand_env(scalar($block->post_main_config), $name, $rand_ports) // '';
    $config //= '';
    my $server_name = $block->server_name // $Cfg{server_name};
    $server_name =~ s/([\\'])/\\$1/g;

    # config reload is unreliable with master_process off: HUP implies master
    my $master = $Cfg{use_hup} ? 'on' : $Cfg{master_process};

    my $conf = '';

    # dynamic modules first, one load_module line each, in the given order
    for my $mod (grep { length } split /\s+/, $Cfg{load_modules} // '') {
        $conf .= "load_module $mod;\n";
    }

    $conf .= <<"EOC";
worker_processes  $Cfg{workers};
daemon $Cfg{daemon};
master_process $master;
error_log $ErrLogFile $log_level;
pid       $PidFile;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env ASAN_OPTIONS;
EOC

    for my $v (@{ $Cfg{env_to_nginx} }) {
        $conf .= $v =~ /\s/ ? "env '$v';\n" : "env $v;\n";
    }

    # every temp path under servroot (distribution builds such as Debian's
    # compile in absolute paths under /var/lib/nginx); skip the ones the
    # test sets itself or whose module is compiled out
    my $temp_paths = '';
    my $all_conf = "$http_config\n$config";
    for my $t ([client_body => undef], [proxy => 'proxy'], [fastcgi => 'fastcgi'],
               [uwsgi => 'uwsgi'], [scgi => 'scgi'])
    {
        my ($kind, $mod) = @$t;
        next if defined $mod && !has_module($mod);
        next if $all_conf =~ /\b${kind}_temp_path\b/;
        $temp_paths .= "    ${kind}_temp_path $ServRoot/${kind}_temp;\n";
    }

    # TEST_NGINX_POSTPONE_OUTPUT (unless the test sets postpone_output)
    my $postpone = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
    if (defined $postpone && $postpone ne '' && $http_config !~ /\bpostpone_output\b/) {
        bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $postpone") if $postpone !~ /^\d+$/;
        $temp_paths .= "    postpone_output $postpone;\n";
    }
    my $event_type = $ENV{TEST_NGINX_EVENT_TYPE} ? "    use $ENV{TEST_NGINX_EVENT_TYPE};\n" : '';

    my $root_location = $Cfg{no_root_location} ? '' : <<"EOC";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
EOC

    # HUP mode: an extra virtual server reports which config is loaded
    my $version_server = '';
    if ($Cfg{use_hup}) {
        $version_server = <<"EOC";
    server {
        listen          $Cfg{port};
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$State{config_version}';
        }
    }
EOC
    }

    $conf .= <<"EOC";

$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

$temp_paths
$http_config

    server {
        listen          $Cfg{port};
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin preamble config...
$Cfg{config_preamble}
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
$version_server}

$post_main

events {
    accept_mutex off;
    worker_connections  $Cfg{worker_connections};
$event_type}
EOC

    # Like the real module: running as root, the workers run as root too
    # (TEST_NGINX_WORKER_USER overrides).
    if (defined $Cfg{worker_user}) {
        $conf .= "user $Cfg{worker_user};\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    write_file($ConfFile, $conf);
}

# ---------------------------------------------------------------------------
# starting and stopping
# ---------------------------------------------------------------------------

sub read_pid {
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid && $pid =~ /(\d+)/;
    return $1;
}

sub running_pid {
    my $pid = read_pid();
    return (defined $pid && is_running($pid)) ? $pid : undef;
}

sub port_open {
    my $sock = IO::Socket::INET->new(
        PeerAddr => $Cfg{addr}, PeerPort => $Cfg{client_port},
        Proto => 'tcp', Timeout => 1,
    );
    return 0 unless $sock;
    close $sock;
    return 1;
}

sub slurp {
    my ($file) = @_;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return $s // '';
}

sub valgrind_command {
    my $v = $Cfg{use_valgrind};
    my @opts;
    if ($v =~ /^\s*\d+\s*$/) {
        @opts = qw(--tool=memcheck --leak-check=full --show-leak-kinds=definite
                   --num-callers=30);
    } else {
        # a non-numeric value is the option list itself (as in the real one)
        @opts = split ' ', $v;
    }
    my ($log) = map { /^--log-file=(.*)/ ? $1 : () } @opts;
    if (!defined $log) {
        $log = $ValgrindLog;
        push @opts, "--log-file=$log";
    }
    for my $supp ('t/valgrind.suppress', 'valgrind.suppress') {
        if (-f $supp) {
            push @opts, '--suppressions=' . File::Spec->rel2abs($supp);
            last;
        }
    }
    return ($log, 'valgrind', @opts);
}

sub nginx_command {
    my @cmd = ($Cfg{binary}, '-p', "$ServRoot/", '-c', $ConfFile);
    # -e (nginx >= 1.19.5) keeps the startup log away from the compiled-in
    # error log path
    push @cmd, '-e', $ErrLogFile if nginx_version() >= canon_version(1, 19, 5);
    return @cmd;
}

# fork + exec with stdout to /dev/null and stderr to $errfile
sub spawn {
    my ($errfile, $setpgrp, @cmd) = @_;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $State{in_subprocess} = 1;
        setpgrp(0, 0) if $setpgrp;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $errfile;
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    return $pid;
}

# Starts nginx for a block whose servroot and config are already written.
# Returns undef on success, else an error message (including nginx's stderr).
sub start_nginx {
    my ($name) = @_;
    my $errfile = "$ServRoot/nginx.stderr";
    my $deadline = time + $Cfg{start_wait};
    $State{first_time} = 0;

    if ($Cfg{use_valgrind}) {
        my ($log, @vg) = valgrind_command();
        $State{valgrind_log} = $log;
        $State{valgrind_pos} = 0;
        warn "$name\n" if verbose();
        my $pid = spawn($errfile, 1, @vg, nginx_command());
        $State{child_pid} = $pid;
        while (time < $deadline) {
            return undef if port_open();
            if (waitpid($pid, WNOHANG) == $pid) {
                undef $State{child_pid};
                return "nginx (under valgrind) exited with status " . ($? >> 8)
                    . ":\n" . slurp($errfile) . tail_file($log, 30);
            }
            sleep 0.05;
        }
        return "nginx under valgrind did not accept connections within "
            . "$Cfg{start_wait}s:\n" . slurp($errfile);
    }

    # daemon mode: the command returns once nginx has daemonized (config
    # errors and bind failures make it exit non-zero before that)
    while (1) {
        my $pid = spawn($errfile, 0, nginx_command());
        waitpid($pid, 0);
        my $status = $?;
        if ($status == 0) {
            while (time < $deadline) {
                return undef if port_open();
                sleep 0.01;
            }
            return "nginx started but port $Cfg{port} does not accept "
                . "connections after $Cfg{start_wait}s\n" . tail_file($ErrLogFile, 20);
        }
        my $err = slurp($errfile);
        # the previous nginx may still be releasing the port
        if ($err =~ /Address already in use/ && time < $deadline) {
            sleep 0.1;
            next;
        }
        return "failed to start nginx (exit status " . ($status >> 8) . "): "
            . join(' ', nginx_command()) . "\n$err";
    }
}

sub tail_file {
    my ($file, $n) = @_;
    my @lines = split /^/m, slurp($file);
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', @lines;
}

# QUIT, wait for the process to exit (bounded), then KILL.
sub kill_process {
    my ($pid, $name, $wait) = @_;
    return unless $pid;
    $wait //= $Cfg{use_valgrind} ? 60 : $Cfg{timeout};
    warn "sending QUIT to $pid\n" if verbose();
    kill 'QUIT', $pid;
    my $deadline = time + $wait;
    while (time < $deadline) {
        return finish_child($pid) unless is_running($pid);
        sleep 0.02;
    }
    warn "$name - timeout when waiting for the process $pid to exit, killing it\n";
    # a valgrind child leads its own process group
    if (defined $State{child_pid} && $pid == $State{child_pid}) {
        kill 'KILL', -$pid;
    }
    kill 'KILL', $pid;
    $deadline = time + 5;
    while (time < $deadline && is_running($pid)) { sleep 0.02 }
    finish_child($pid);
}

sub finish_child {
    my ($pid) = @_;
    if (defined $State{child_pid} && $pid == $State{child_pid}) {
        waitpid($pid, 0);
        undef $State{child_pid};
    }
    unlink $PidFile if -f $PidFile && !is_running(read_pid() // 0);
    return;
}

# Stops the nginx of the previous block, if any.
sub stop_nginx {
    my ($name) = @_;
    my $pid = running_pid() // $State{child_pid};
    kill_process($pid, $name) if $pid;
    unlink $PidFile if -f $PidFile;
}

# HUP mode: reopen the logs (USR1, they were just deleted), reload the new
# config (HUP) and wait until /ver on the "Test-Nginx" virtual server
# reports the new config version.  Returns undef or an error message.
sub hup_reload {
    my ($pid, $name) = @_;
    kill('USR1', $pid) or return "failed to send USR1 to $pid: $!";
    sleep $Cfg{sleep};
    my @old_workers = child_pids($pid);
    kill('HUP', $pid) or return "failed to send HUP to $pid: $!";
    sleep $Cfg{sleep} * 3;

    # the old workers keep accepting connections until they have received
    # their QUIT from the master: wait until they are gone
    my $deadline = time + $Cfg{start_wait};
    while (time < $deadline && grep { is_running($_) } @old_workers) {
        sleep 0.01;
    }

    require Test::Nginx::Fallback::HTTP;
    my $want = $State{config_version};
    $deadline = time + $Cfg{start_wait};
    my $ok = 0;
    my $got = '';
    while (time < $deadline) {
        my ($resp) = Test::Nginx::Fallback::HTTP::send_request(
            packets => [{ value => "GET /ver HTTP/1.1\r\nHost: Test-Nginx\r\n"
                                   . "Connection: close\r\n\r\n" }],
            timeout => 1, connect_tries => 1,
        );
        $got = ($resp // '') =~ /\r\n\r\n(.*)\z/s ? $1 : '';
        if ($got eq $want) {
            # old workers may still accept for a moment: want a steady state
            return undef if ++$ok >= 10;
            next;
        }
        $ok = 0;
        sleep 0.02;
    }
    my @emerg = grep { /\[emerg\]/ } split /^/m, slurp($ErrLogFile);
    return "failed to reload the configuration (HUP): /ver returned "
        . "\"$got\", expected \"$want\"\n" . join('', @emerg);
}

# pids of the processes whose parent is $ppid (from /proc)
sub child_pids {
    my ($ppid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // '';
        close $fh;
        # "pid (comm) state ppid ...": comm may contain spaces and parens
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $ppid;
    }
    return @kids;
}

sub add_cleanup_handler {
    unshift @CleanupHandlers, shift;
}

# Kills anything this process started and must not outlive it.
sub cleanup {
    return if $State{in_subprocess};
    $_->() for @CleanupHandlers;
    if (defined $State{child_pid}) {
        kill_process($State{child_pid}, 'cleanup');
    }
}

1;
