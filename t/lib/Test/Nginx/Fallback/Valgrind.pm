package Test::Nginx::Fallback::Valgrind;

# Reads a memcheck log written with --log-file and sorts its records into
# errors (invalid reads/writes, uninitialised values, bad frees, crashes...)
# and "definitely lost" leak records, the latter split by whether their
# stack mentions one of "our" frames (by default ngx_http_webhook*).

use strict;
use warnings;

# Frames that make a definite leak a test failure; other definite leaks
# (nginx core, libc, OpenSSL exit-time leaks) are only reported.
our $OwnFrames = $ENV{TEST_NGINX_VALGRIND_FRAMES} // 'ngx_http_webhook';

# First lines of memcheck error records.
my $ErrorRe = qr{
    ^(?: Invalid\ (?:read|write|free|realloc)
       | Conditional\ jump\ or\ move\ depends\ on\ uninitialised
       | Use\ of\ uninitialised\ value
       | Syscall\ param\ .*\ (?:uninitialised|unaddressable)
       | Mismatched\ free
       | Source\ and\ destination\ overlap
       | Jump\ to\ the\ invalid\ address
       | Argument\ '.*'\ of\ function\ .*\ has\ a\ fishy
       | Process\ terminating\ with\ default\ action
       | Invalid\ memory\ pool\ address
       | Illegal\ memory\ pool\ address
       | Memory\ pool\ address
       | .*\ is\ not\ a\ valid\ (?:address|pointer)
    )
}x;

# parse($file, $offset)
# Returns a hash: errors => [record text], own_leaks => [...],
# other_leaks => [...], offset => end of what was read.  Records are the
# "==PID== "-prefixed paragraphs of the log, with the prefix removed.
sub parse {
    my ($file, $offset) = @_;
    my %r = (errors => [], own_leaks => [], other_leaks => [], offset => $offset // 0);
    open my $in, '<', $file or return \%r;
    seek $in, $r{offset}, 0;

    my (@records, @cur);
    while (my $line = <$in>) {
        # only complete lines: a record may still be being written
        last if $line !~ /\n\z/;
        $r{offset} = tell $in;
        next unless $line =~ s/^==\d+==\s?//;    # "--PID--" lines: valgrind's own notes
        if ($line =~ /^\s*$/) {
            push @records, [@cur] if @cur;
            @cur = ();
        } else {
            push @cur, $line;
        }
    }
    push @records, [@cur] if @cur;
    close $in;

    my $own = qr/$OwnFrames/;
    for my $rec (@records) {
        my $text = join '', @$rec;
        if ($rec->[0] =~ /are definitely lost in loss record/) {
            push @{ $text =~ $own ? $r{own_leaks} : $r{other_leaks} }, $text;
        } elsif ($rec->[0] =~ $ErrorRe) {
            push @{ $r{errors} }, $text;
        }
    }
    return \%r;
}

1;
