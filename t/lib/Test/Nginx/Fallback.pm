package Test::Nginx::Socket;

# Fallback implementation of Test::Nginx::Socket's test-file API and data
# format, used when the real module (from CPAN) is not installed.  It is
# loaded by t/lib/Test/Nginx/Socket.pm, never directly, and defines the
# package Test::Nginx::Socket itself.
#
# Like the real module it is a Test::Base subclass: "use Test::Nginx::Socket"
# exports Test::Base's and Test::More's functions plus the ones listed in
# @EXPORT below, and the test blocks come from Test::Base's __DATA__ parser.
# See t/lib/README.md for what is and is not supported.

use strict;
use warnings;

use Carp ();
use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use List::Util qw(shuffle min);
use Test::Base ();    # no import: this package only inherits from it
use Test::LongString ();
use Test::More ();
use Time::HiRes qw(sleep time);

use Test::Nginx::Fallback::HTTP ();
use Test::Nginx::Fallback::Server ();
use Test::Nginx::Fallback::Valgrind ();

our @ISA = ('Test::Base');
our $VERSION = '0.29_fallback';

# true in the fallback, absent in the real module
our $Fallback = 1;

our @EXPORT = qw(
    env_to_nginx is_str run_tests run_test
    repeat_each config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port server_port_for_client
    timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler add_response_body_check
);

*Cfg   = \%Test::Nginx::Fallback::Server::Cfg;
*State = \%Test::Nginx::Fallback::Server::State;
our (%Cfg, %State);

our $RepeatEach     = 1;
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString   = 0;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our @BlockPreprocessors;
our @ResponseBodyChecks;

our $PrevBlock;         # last block run (for --- shutdown_error_log)
our $PrevConfig;        # last expanded --- config (blocks without one reuse nginx)
our $ErrLogFilePos = 0; # error.log offset already checked
our $LastName;          # name of the last block, for the final valgrind check
our %SeenLeaks;         # valgrind leak stacks already reported

# short aliases
{
    no warnings 'once';
    *bail_out = \&Test::Nginx::Fallback::Server::bail_out;
    *add_cleanup_handler = \&Test::Nginx::Fallback::Server::add_cleanup_handler;
    *parse_time = \&Test::Nginx::Fallback::Server::parse_time;
}

# ---------------------------------------------------------------------------
# exported settings
# ---------------------------------------------------------------------------

sub _getset {
    my ($key, @args) = @_;
    $Cfg{$key} = $args[0] if @args;
    return $Cfg{$key};
}

sub repeat_each        { $RepeatEach = shift if @_; $RepeatEach }
sub workers            { _getset('workers', @_) }
sub worker_connections { _getset('worker_connections', @_) }
sub log_level          { _getset('log_level', @_) }
sub server_name        { _getset('server_name', @_) }
sub server_addr        { _getset('addr', @_) }
sub timeout            { _getset('timeout', @_) }
sub config_preamble    { _getset('config_preamble', @_) }
sub master_on ()       { $Cfg{master_process} = 'on' }
sub master_off ()      { $Cfg{master_process} = 'off' }
sub no_shuffle ()      { $NoShuffle = 1 }
sub no_long_string ()  { $NoLongString = 1 }
sub no_root_location () { $Cfg{no_root_location} = 1 }
sub use_hup ()         { $Cfg{use_hup} = 1 }
sub no_nginx_manager () { $Cfg{no_nginx_manager} = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub server_root ()     { $Test::Nginx::Fallback::Server::ServRoot }
sub html_dir ()        { $Test::Nginx::Fallback::Server::HtmlDir }

sub server_port {
    if (@_) {
        $Cfg{port} = shift;
        $Cfg{client_port} = $Cfg{port} unless $ENV{TEST_NGINX_CLIENT_PORT};
    }
    return $Cfg{port};
}

sub server_port_for_client { _getset('client_port', @_) }

sub master_process_enabled {
    $Cfg{master_process} = $_[0] ? 'on' : 'off' if @_;
    return $Cfg{master_process};
}

sub env_to_nginx {
    Carp::croak('env_to_nginx: no arguments specified') unless @_;
    for my $v (@_) {
        Carp::croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @{ $Cfg{env_to_nginx} }, $v;
    }
}

# later-added preprocessors run first, as in the real module
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

sub add_response_body_check { push @ResponseBodyChecks, shift }

# not exported (as in the real module): a function applied to every
# block's http_config, as used by subclasses like Test::Nginx::Socket::Lua
sub set_http_config_filter { $Cfg{http_config_filter} = shift }

# string comparison honouring no_long_string() and qr// expectations
sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    # Test::Base::is prints a Text::Diff diff for multi-line strings
    return Test::Base::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------

sub run_tests () {
    Test::Nginx::Fallback::Server::nginx_version();    # fails early on a bad TEST_NGINX_BINARY
    $ENV{TEST_NGINX_SERVER_PORT} = $Cfg{port}
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }
    # nginx is stopped in END (unless TEST_NGINX_NO_CLEAN)
}

# Sections needing infrastructure this runner does not have.
my @Unsupported = qw(tcp_listen udp_listen stap http2 http3);

sub run_test {
    my ($block) = @_;
    my $name = $block->name;
    $LastName = $name;

    for my $sec (@Unsupported) {
        next unless defined $block->$sec;
        Test::More::fail("$name - section --- $sec is not supported by the "
                         . "fallback Test::Nginx::Socket (see t/lib/README.md)");
        return;
    }

    my $rand_ports = {};
    my $config = Test::Nginx::Fallback::Server::expand_env(scalar($block->config), $name, $rand_ports);
    my $log_level = $block->log_level || $Cfg{log_level};

    my ($skip_n, $skip_reason) = skip_spec($block);

    if (defined $block->must_die) {
        return if $skip_n && skip_tests($skip_n, "$name - $skip_reason");
        return run_must_die($block, $config, $rand_ports, $log_level);
    }

    # (re)start nginx, unless skipping or not managing nginx
    if (!$Cfg{no_nginx_manager} && !$skip_n) {
        if (!defined $config) {
            # no --- config: keep using the running nginx, like the real one
            bail_out("$name - No '--- config' section specified and could not "
                     . "get the previous one") unless defined $PrevConfig;
            $config = $PrevConfig;
            if (!Test::Nginx::Fallback::Server::running_pid() && !$State{child_pid}) {
                my $err = restart_nginx($block, $config, $rand_ports, $log_level);
                return start_failed($name, $err) if $err;
            }
        } else {
            $PrevConfig = $config;
            my $err = restart_nginx($block, $config, $rand_ports, $log_level);
            return start_failed($name, $err) if $err;
        }
    }

    # --- init: Perl code run once per block, after this block's nginx has
    # been started (or HUP-reloaded) and before its first request
    run_init($block) if defined $block->init;

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        Test::Nginx::Fallback::Server::write_user_files($block, $rand_ports) if $i > 0;
        if ($skip_n) {
            skip_tests($skip_n, "$name - $skip_reason");
            next;
        }
        run_block_requests($block, $i);
    }

    if (my $total = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (open my $out, '>>', $total) {
            print $out "\n=== $name\n", Test::Nginx::Fallback::Server::slurp($Test::Nginx::Fallback::Server::ErrLogFile);
            close $out;
        }
    }

    # under valgrind (without HUP) nginx is stopped after every block so
    # that its leak report can be checked right away
    if ($Cfg{use_valgrind} && !$Cfg{use_hup} && !$Cfg{no_nginx_manager}) {
        Test::Nginx::Fallback::Server::stop_nginx($name);
        check_shutdown_error_log($block, 0);
        undef $PrevBlock;
        check_valgrind($name);
        undef $State{valgrind_log};    # checked; the next start makes a new one
        $block->set_value(shutdown_error_log_checked => 1);
    } elsif ($Cfg{use_valgrind} && $State{valgrind_log}) {
        # HUP mode: what the log has so far, including the exit reports of
        # the workers replaced by the reload
        check_valgrind($name);
    }
}

# Evaluates --- init.  The real module evaluates it inside its own package,
# so the code can use its variables and functions; the most common ones
# are provided here.
sub run_init {
    my ($block) = @_;
    my $code = $block->init;
    my $ServRoot   = $Test::Nginx::Fallback::Server::ServRoot;
    my $HtmlDir    = $Test::Nginx::Fallback::Server::HtmlDir;
    my $LogDir     = $Test::Nginx::Fallback::Server::LogDir;
    my $ErrLogFile = $Test::Nginx::Fallback::Server::ErrLogFile;
    my $AccLogFile = $Test::Nginx::Fallback::Server::AccLogFile;
    my $ConfFile   = $Test::Nginx::Fallback::Server::ConfFile;
    my $PidFile    = $Test::Nginx::Fallback::Server::PidFile;
    my $ServerPort = $Cfg{port};
    my $ServerPortForClient = $Cfg{client_port};
    my $ServerAddr = $Cfg{addr};
    no strict;
    no warnings;
    eval $code;
    bail_out($block->name . " - init failed: $@") if $@;
}

sub start_failed {
    my ($name, $err) = @_;
    Test::More::fail("$name - nginx failed to start");
    Test::More::diag($err);
    return;
}

# Stops the previous block's nginx and starts this one's (or, in HUP mode,
# writes the new config into the running one and reloads it).
# Returns undef on success or an error message.
sub restart_nginx {
    my ($block, $config, $rand_ports, $log_level) = @_;
    my $name = $block->name;
    my $setup = sub {
        my ($hup) = @_;
        Test::Nginx::Fallback::Server::setup_server_root($hup);
        Test::Nginx::Fallback::Server::write_user_files($block, $rand_ports);
        Test::Nginx::Fallback::Server::write_config($block, $config, $rand_ports, $log_level);
    };

    my $pid = Test::Nginx::Fallback::Server::running_pid() // $State{child_pid};
    if ($Cfg{use_hup}) {
        $State{config_version} = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10;
    }

    if ($pid && $Cfg{use_hup} && !$State{first_time}) {
        $setup->(1);
        check_prev_shutdown_error_log(1);
        return Test::Nginx::Fallback::Server::hup_reload($pid, $name);
    }

    if ($pid) {
        Test::Nginx::Fallback::Server::stop_nginx($name);
    }
    check_prev_shutdown_error_log(0);

    $setup->(0);
    return Test::Nginx::Fallback::Server::start_nginx($name);
}

# --- must_die: nginx is expected to fail to start
sub run_must_die {
    my ($block, $config, $rand_ports, $log_level) = @_;
    my $name = $block->name;
    my $expect = $block->must_die;

    # never under valgrind, and daemonized: a surviving nginx must not block us
    local $Cfg{use_valgrind} = undef;
    local $Cfg{daemon} = 'on';

    Test::Nginx::Fallback::Server::stop_nginx($name);
    check_prev_shutdown_error_log(0);
    Test::Nginx::Fallback::Server::setup_server_root(0);
    Test::Nginx::Fallback::Server::write_user_files($block, $rand_ports);
    Test::Nginx::Fallback::Server::write_config($block, $config // '', $rand_ports, $log_level);
    for my $i (0 .. $RepeatEach - 1) {
        my $err = Test::Nginx::Fallback::Server::start_nginx($name);
        my ($code) = ($err // '') =~ /exit status (\d+)/;
        if (!defined $err) {
            Test::More::fail("$name - nginx must die but it does not (req $i)");
            Test::Nginx::Fallback::Server::stop_nginx($name);
        } elsif ($expect =~ /^\s*\d+\s*$/) {
            Test::More::is($code, $expect + 0, "$name - die with the expected exit code");
        } else {
            Test::More::pass("$name - die as expected");
        }
        $ErrLogFilePos = 0;
        check_error_log($block, undef, $i);
    }
    $PrevConfig = $config;
}

# --- skip_eval / skip_nginx / skip_nginx2: returns (count, reason) or ()
sub skip_spec {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = $block->skip_eval)) {
        $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $spec");
        my ($n, $code) = ($1, $2);
        my $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval \"$code\": $@") if $@;
        return ($n, 'skip_eval') if $skip;
    }

    my $ver = Test::Nginx::Fallback::Server::nginx_version();
    my $cmp = sub {
        my ($op, @v) = @_;
        my $want = Test::Nginx::Fallback::Server::canon_version(@v);
        return $op eq '<'  ? $ver <  $want
             : $op eq '<=' ? $ver <= $want
             : $op eq '>'  ? $ver >  $want
             :               $ver >= $want;
    };

    if (defined(my $spec = $block->skip_nginx)) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, @v) = ($1, $2, $3, $4, $5);
        my $reason = $6 || "nginx version $op $v[0].$v[1].$v[2]";
        return ($n, $reason) if $cmp->($op, @v);
    } elsif (defined(my $spec2 = $block->skip_nginx2)) {
        $spec2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*
                    ([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/x
            or bail_out("$name - Invalid --- skip_nginx2 spec: $spec2");
        my ($n, $a, $b) = ($1, $cmp->($2, $3, $4, $5), $cmp->($7, $8, $9, $10));
        my $hit = $6 eq 'or' ? ($a || $b) : ($a && $b);
        return ($n, $11 || 'various reasons') if $hit;
    }
    return ();
}

sub skip_tests {
    my ($n, $reason) = @_;
    Test::More->builder->skip($reason) for 1 .. $n;
    return 1;
}

# ---------------------------------------------------------------------------
# one round of requests (one repeat_each iteration) with all its checks
# ---------------------------------------------------------------------------

sub run_block_requests {
    my ($block, $repeat_idx) = @_;
    my $name = $block->name;

    my $reqs = Test::Nginx::Fallback::HTTP::requests_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // $Cfg{timeout};
    my $pipelined = $block->pipelined_requests;
    my $n_pipelined = $pipelined ? scalar @$pipelined : 0;
    my $need_array = $pipelined ? 1 : @$reqs > 1;
    my $res;
    my $req_idx = 0;

    for my $r (0 .. $#$reqs) {
        my ($raw, $err) = Test::Nginx::Fallback::HTTP::send_request(
            packets      => $reqs->[$r],
            timeout      => $timeout,
            middle_delay => parse_time(scalar $block->raw_request_middle_delay),
            shutdown     => scalar($block->shutdown),
            # a block without its own nginx (no_nginx_manager, ...) may need
            # more time; normally the port is already known to be open
            connect_tries => $Cfg{use_valgrind} ? 300 : 40,
        );
        if (defined $err && $err eq 'timeout') {
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name");
                Test::More::diag("no data from nginx for ${timeout}s (--- timeout; "
                                 . "use --- abort when a timeout is expected)");
            }
        } elsif (defined $err) {
            Test::More::fail("$name - $err (aborted)");
        }
        $raw //= '';
        my $head_req = join('', map { $_->{value} } @{ $reqs->[$r] }) =~ /^\s*HEAD\s/;

        # a pipelined connection carries several responses: parse them in turn
        my $left_in_pipe = $n_pipelined;
        while (1) {
            my ($raw_headers, $left, $perr) = ('');
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    $res = HTTP::Response->new(200, 'OK', [], $raw);
                } else {
                    ($res, $raw_headers, $left, $perr) =
                        Test::Nginx::Fallback::HTTP::parse_response($raw, $head_req);
                    Test::More::fail("$name - $perr") if $perr;
                }
            }

            if ($left_in_pipe) {
                $raw = $left // '';
                $left_in_pipe--;
            } elsif (defined $left && length $left) {
                (my $shown = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/ge;
                warn "WARNING: $name - unexpected extra bytes after the response: \"$shown\"\n";
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $req_idx, $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $req_idx, $repeat_idx, $need_array);
            }

            # between requests the logs are checked too (as the real one does)
            if ($left_in_pipe || $r < $#$reqs) {
                sleep parse_time($block->wait) if $block->wait;
                check_error_log($block, $res, $repeat_idx);
                check_access_log($block, $repeat_idx) unless defined $block->ignore_response;
            }
            $req_idx++;
            last unless $left_in_pipe;
        }
    }

    sleep parse_time($block->wait) if $block->wait;
    check_error_log($block, $res, $repeat_idx);
    check_access_log($block, $repeat_idx) unless defined $block->ignore_response;
}

# Picks the expected value for request #$idx: with several requests the
# section must be an array (one entry per request).
sub indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.")
            if !$need_array && $idx != 0;
        return $value->[$idx];
    }
    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.") if $need_array;
    return $value;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = indexed($name, $block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        my $want = indexed($name, $block->error_code, $idx, $need_array);
        $want =~ s/^\s+|\s+$//g if defined $want;
        Test::More::is($code, $want, "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $pat = indexed($name, $block->raw_response_headers_like, $idx, $need_array);
        Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = indexed($name, $block->raw_response_headers_unlike, $idx, $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
    }
}

# "Name: value" lines; "!Name" means the header must be absent.
# Returns a list of [name, value-or-undef] in the written order.
sub parse_expected_headers {
    my ($text) = @_;
    my @list;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @list, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @list, [$k, $v // ''];
        }
    }
    return @list;
}

sub subst_port {
    my ($s) = @_;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPortForClient\b/$Cfg{client_port}/g;
    $s =~ s/\$ServerPort\b/$Cfg{port}/g;
    return $s;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $spec = indexed($name, $block->response_headers, $idx, $need_array);
        for my $h (parse_expected_headers($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/mi,
                    "$name - header $key not present in the raw headers");
                next;
            }
            my $actual = $res ? $res->header($key) : undef;
            Test::More::is($actual // '', subst_port($val), "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = indexed($name, $block->response_headers_like, $idx, $need_array);
        for my $h (parse_expected_headers($spec)) {
            my ($key, $val) = @$h;
            my $actual = $res ? $res->header($key) : undef;
            Test::More::like($actual // '', qr/^$val$/, "$name - header $key like ok");
        }
    }
}

my %BodyFilters = (
    md5_hex  => \&Digest::MD5::md5_hex,
    sha1_hex => \&Digest::SHA::sha1_hex,
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    ucfirst  => sub { ucfirst $_[0] },
    lcfirst  => sub { lcfirst $_[0] },
    length   => sub { length $_[0] },
);

# --- response_body_filters: names ("uc lc"), code refs, or an array of
# them; a two-dimensional array gives the filters per request
sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = $block->response_body_filters;
    return unless defined $filters && $res && defined $res->content;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx]
            // bail_out("$name - no --- response_body_filters entry for request $idx");
    }

    my $content = $res->content;
    for my $f (@$filters) {
        my $code = ref $f eq 'CODE' ? $f : $BodyFilters{$f}
            // bail_out("$name - unknown filter \"$f\" in --- response_body_filters");
        $content = $code->($content);
    }
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $idx, $repeat_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body || defined $block->response_body_eval) {
        my $expected;
        if (defined $block->response_body_eval) {
            Test::More::diag("$name - response_body_eval is DEPRECATED. Use response_body eval instead.");
            $expected = eval indexed($name, $block->response_body_eval, $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = indexed($name, $block->response_body, $idx, $need_array);
        }
        if ($block->charset && defined $expected && !ref $expected) {
            Encode::from_to($expected, 'UTF-8', $block->charset);
        }
        $expected = subst_port($expected);
        my $desc = "(repeated req $repeat_idx, req $idx)";
        if (ref $expected) {
            Test::More::like($content, $expected, "$name - response_body - like $desc");
        } else {
            is_str($content, $expected, "$name - response_body - response is expected $desc");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $like = defined $block->response_body_like;
        my $type = $like ? 'like' : 'unlike';
        my $pat = indexed($name, $like ? $block->response_body_like
                                        : $block->response_body_unlike,
                          $idx, $need_array);
        $pat = subst_port($pat);
        my $summary = $content // '';
        $summary =~ s/^\s+|\s+$//g;
        $summary =~ s/\s+/ /g;
        my $cmp = $like ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($content, qr/$pat/s,
               "$name - response_body_$type - response is expected ($summary)");
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $repeat_idx, 0);
    }
}

# ---------------------------------------------------------------------------
# error.log / access.log
# ---------------------------------------------------------------------------

# New error.log lines since the last call (or all of them with
# check_accum_error_log()).  Waits a little first: nginx logs some things
# after the response has been sent.
sub error_log_data {
    sleep $Cfg{sleep} * 3;
    open my $in, '<', $Test::Nginx::Fallback::Server::ErrLogFile or return [];
    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data {
    sleep $Cfg{sleep} * 3;
    open my $in, '<', $Test::Nginx::Fallback::Server::AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# section value -> list of patterns (strings match literally, qr// as regex)
sub patterns_of {
    my ($pats) = @_;
    if (!ref $pats) {
        chomp $pats;
        return grep { length } split /\n+/, $pats;
    }
    return ($pats) if ref $pats eq 'Regexp';
    return @$pats;
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub fmt_str {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# Every pattern must match some line: one test per pattern.
sub check_present {
    my ($name, $section, $lines, $file, $suffix) = @_;
    my @pats = patterns_of($section);
    for my $line (@$lines) {
        for my $p (@pats) {
            next unless defined $p && line_matches($line, $p);
            Test::More::pass("$name - pattern \"$p\" matches a line in $file$suffix");
            undef $p;
        }
    }
    for my $p (grep { defined } @pats) {
        Test::More::fail("$name - pattern \"$p\" should match a line in $file$suffix");
    }
}

# No pattern may match: one passing test per pattern, or one failing test
# per matching line.
sub check_absent {
    my ($name, $section, $lines, $file, $suffix) = @_;
    my @pats = patterns_of($section);
    my %found;
    for my $i (0 .. $#$lines) {
        for my $p (@pats) {
            next unless line_matches($lines->[$i], $p);
            $found{$p} = 1;
            my @more = @$lines[$i + 1 .. min($i + 9, $#$lines)];
            Test::More::fail(sprintf "%s - pattern \"%s\" should not match any line in %s "
                . "but matches line \"%s\"%s\n%s",
                $name, fmt_str($p), $file, fmt_str($lines->[$i]), $suffix, join '', @more);
        }
    }
    for my $p (@pats) {
        next if $found{$p};
        Test::More::pass(sprintf '%s - pattern "%s" does not match a line in %s%s',
                         $name, fmt_str($p), $file, $suffix);
    }
}

sub value_contains {
    my ($val, $str) = @_;
    return 0 unless defined $val;
    return scalar grep { !ref $_ || ref $_ eq 'Regexp' ? "$_" =~ /\Q$str\E/ : 0 }
        ref $val eq 'ARRAY' ? @$val : ($val);
}

sub check_error_log {
    my ($block, $res, $repeat_idx) = @_;
    my $name = $block->name;
    my $suffix = " (req $repeat_idx)";
    my $lines = error_log_data();

    if (defined(my $grep = $block->grep_error_log)) {
        $grep = $grep->[$repeat_idx] if ref $grep eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = $expected->[$repeat_idx] if ref $expected eq 'ARRAY';
        my $matched = '';
        for my $line (@$lines) {
            if (ref $grep ? $line =~ $grep : $line =~ /\Q$grep\E/) {
                $matched .= "$&\n" if $& !~ /\n/;
            }
        }
        my $desc = "$name - grep_error_log_out (req $repeat_idx)";
        ref $expected eq 'Regexp' ? Test::More::like($matched, $expected, $desc)
                                  : is_str($matched, $expected, $desc);
    }

    check_present($name, $block->error_log, $lines, 'error.log', $suffix)
        if defined $block->error_log;
    check_absent($name, $block->no_error_log, $lines, 'error.log', $suffix)
        if defined $block->no_error_log;

    # like the real module: serious messages are shown unless expected
    for my $level (qw(alert crit emerg)) {
        next if value_contains(scalar($block->error_log), "[$level")
             || value_contains(scalar($block->no_error_log), "[$level");
        warn "WARNING: $name - ", fmt_str($_), "\n" for grep { /\[$level\]/ } @$lines;
    }
    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $repeat_idx) = @_;
    my $name = $block->name;
    return unless defined $block->access_log || defined $block->no_access_log;
    my $lines = access_log_data();
    check_present($name, $block->access_log, $lines, 'access.log', " (req $repeat_idx)")
        if defined $block->access_log;
    check_absent($name, $block->no_access_log, $lines, 'access.log', " (req $repeat_idx)")
        if defined $block->no_access_log;
}

# --- shutdown_error_log / no_shutdown_error_log of the previous block:
# checked once its nginx has been stopped (skipped in HUP mode and with
# TEST_NGINX_NO_CLEAN, where nginx does not exit)
sub check_prev_shutdown_error_log {
    my ($dry_run) = @_;
    return unless $PrevBlock;
    my $block = $PrevBlock;
    undef $PrevBlock;
    return if $block->shutdown_error_log_checked;
    check_shutdown_error_log($block, $dry_run);
}

sub check_shutdown_error_log {
    my ($block, $dry_run) = @_;
    my $name = $block->name;
    my @sections = grep { defined $block->$_ } qw(shutdown_error_log no_shutdown_error_log);
    return unless @sections;
    if ($dry_run) {
        for my $sec (@sections) {
            my @pats = patterns_of(scalar $block->$sec);
            skip_tests(scalar(@pats), "$name - $sec - tests skipped due to dry run");
        }
        return;
    }
    my $lines = error_log_data();
    check_absent($name, $block->no_shutdown_error_log, $lines, 'error.log', '')
        if defined $block->no_shutdown_error_log;
    check_present($name, $block->shutdown_error_log, $lines, 'error.log', '')
        if defined $block->shutdown_error_log;
}

# ---------------------------------------------------------------------------
# valgrind
# ---------------------------------------------------------------------------

# Memcheck errors, and definite leaks through our own frames, fail
# "<name> - valgrind clean"; other definite leaks are only reported.  With
# a numeric plan the test is only emitted when it fails (so that plans
# written for the real module still hold); with no_plan always.
sub check_valgrind {
    my ($name) = @_;
    my $log = $State{valgrind_log} or return;
    my $r = Test::Nginx::Fallback::Valgrind::parse($log, $State{valgrind_pos});
    $State{valgrind_pos} = $r->{offset};

    # each distinct stack once per test file: nginx's own exit-time leaks
    # would otherwise be repeated for every block
    my @new_leaks = grep { !$SeenLeaks{ leak_signature($_) }++ } @{ $r->{other_leaks} };
    if (@new_leaks) {
        Test::More::diag("$name - valgrind: definite leaks outside "
            . "/$Test::Nginx::Fallback::Valgrind::OwnFrames/ (not a failure, "
            . "shown once):\n" . join("\n", map { first_lines($_, 8) } @new_leaks));
    }
    my @bad = (@{ $r->{errors} }, @{ $r->{own_leaks} });
    my $tb = Test::More->builder;
    if (@bad) {
        Test::More::fail("$name - valgrind clean");
        Test::More::diag("valgrind log: $log\n" . join("\n", @bad));
    } elsif (($tb->has_plan // '') eq 'no_plan') {
        Test::More::pass("$name - valgrind clean");
    }
}

# the function names of a leak record's stack
sub leak_signature {
    my ($text) = @_;
    return join ' ', $text =~ /^\s+(?:at|by) 0x[0-9A-Fa-f]+: (\S+)/mg;
}

sub first_lines {
    my ($text, $n) = @_;
    my @l = split /^/m, $text;
    return join '', @l[0 .. min($n, scalar @l) - 1];
}

# ---------------------------------------------------------------------------
# end of the test file
# ---------------------------------------------------------------------------

END {
    return if $State{in_subprocess};
    local $?;    # keep Test::Builder's exit status
    $_->() for @Test::Nginx::Fallback::Server::CleanupHandlers;

    my $pid = Test::Nginx::Fallback::Server::running_pid() // $State{child_pid};
    my $stop = $Cfg{use_valgrind} || !$Cfg{no_clean};
    if ($stop && $pid && !$Cfg{no_nginx_manager}) {
        Test::Nginx::Fallback::Server::kill_process($pid, 'END');
    }
    @Test::Nginx::Fallback::Server::CleanupHandlers = ();
    Test::Nginx::Fallback::Server::cleanup();    # anything left over

    return if $Cfg{no_nginx_manager};
    check_prev_shutdown_error_log(!$stop || $Cfg{use_hup} ? 1 : 0);
    # nginx was still running (HUP mode): its exit-time report is new
    check_valgrind($LastName) if $Cfg{use_valgrind} && $LastName && $stop && $pid;
}

1;
