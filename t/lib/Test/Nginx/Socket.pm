# Test-Nginx-Fallback-Dispatcher (marker: this file is never taken for the real module)
#
# Test::Nginx::Socket for this project's test suite.
#
# Tests are run as "prove -I t/lib -r t", so this file is found before any
# installed Test::Nginx.  If the real Test::Nginx::Socket (from CPAN) is
# installed somewhere else in @INC, it is loaded instead and nothing of the
# fallback is used; otherwise the fallback implementation in
# Test/Nginx/Fallback.pm provides the same API.  Set
# TEST_NGINX_FORCE_FALLBACK=1 to use the fallback even when the real module
# is installed.  See t/lib/README.md.

package Test::Nginx::Fallback::Loader;

use strict;
use warnings;

use Cwd ();

# The first Test/Nginx/Socket.pm in @INC that is not a copy of this file.
sub find_real_module {
    my $self = Cwd::abs_path(__FILE__) // __FILE__;
    for my $dir (@INC) {
        next if ref $dir;
        my $file = "$dir/Test/Nginx/Socket.pm";
        next unless -f $file;
        my $abs = Cwd::abs_path($file) // $file;
        next if $abs eq $self;
        # another checkout of this project's t/lib is not the real module
        open my $in, '<', $abs or next;
        my $head = <$in> // '';
        close $in;
        next if $head =~ /Test-Nginx-Fallback-Dispatcher/;
        return $abs;
    }
    return undef;
}

BEGIN {
    my $real = $ENV{TEST_NGINX_FORCE_FALLBACK} ? undef : find_real_module();
    if ($real) {
        # compile the real module as Test::Nginx::Socket; it uses
        # Test::Nginx::Util etc. from its own installation directory
        $INC{'Test/Nginx/Socket.pm'} = $real;
        my $ok = do $real;
        die "Failed to load the real Test::Nginx::Socket from $real: $@" if $@;
        die "Failed to load the real Test::Nginx::Socket from $real: $!" unless $ok;
    } else {
        require Test::Nginx::Fallback;
    }
}

1;
