package Test::Nginx::Fallback::HTTP;

# The HTTP client of the fallback Test::Nginx::Socket: turns the --- request
# (--- raw_request, --- pipelined_requests) sections into bytes to send,
# sends them over a raw TCP socket and parses the response.

use strict;
use warnings;

use Errno ();
use HTTP::Response;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use Test::Nginx::Fallback::Server ();

*Cfg = \%Test::Nginx::Fallback::Server::Cfg;
our %Cfg;

sub bail_out { Test::Nginx::Fallback::Server::bail_out(@_) }

# ---------------------------------------------------------------------------
# building requests
# ---------------------------------------------------------------------------

# "Name: value" lines (comments allowed) -> CRLF-terminated header block;
# also tells whether the request body is sent chunked.
sub parse_more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        next unless defined $key && length $key;
        $val //= '';
        $chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Builds one request from its "packets" (the pieces written with separate
# syswrite calls).  The first line of the concatenated text is
# "METHOD [URI [VERSION]]" (defaults: / and HTTP/1.1), the rest is the body.
# Adds Host, Connection and (for a non-empty, non-chunked body, unless given
# in --- more_headers) Content-Length; in that case the body is trimmed of
# leading and trailing white space, as the real module does.
# Returns the packets of the resulting request: the split points of the
# input are kept, mapped onto the rewritten text.
sub build_request {
    my ($name, $more_headers, $chunked, $conn, $packets) = @_;

    my $text = join '', map { $_->{value} } @$packets;
    $text =~ /\A([^\n]*)(?:\n|\z)/;
    my ($first, $first_len) = ($1, $+[0]);
    $first =~ s/\r$//;
    my @parts = split ' ', $first;
    bail_out("$name - Request line should be non-empty") unless @parts;
    bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
             . "but got \"$first\".") if @parts > 3;
    my ($meth, $uri, $ver) = @parts;
    $uri //= '/';
    $ver //= 'HTTP/1.1';

    my $body = substr $text, $first_len;
    my $lead = 0;    # leading white space removed from the body
    my $len_header = '';
    if (!$chunked && $body ne '' && $more_headers !~ /(?:^|\n)Content-Length:/) {
        $lead = $body =~ /\A(\s+)/ ? length $1 : 0;
        $body =~ s/^\s+|\s+$//g;
        $len_header = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $Cfg{server_name}\r\n" if $more_headers !~ /(?:^|\n)Host:/i;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/i;

    my $reqline = "$meth $uri $ver";
    my $head = "$reqline\r\n$headers$more_headers$len_header\r\n";
    my $out = $head . $body;

    # map the original split points onto $out
    my @cuts;
    my $offset = 0;
    for my $p (@$packets[0 .. $#$packets - 1]) {
        $offset += length $p->{value};
        my $cut;
        if ($offset >= $first_len) {
            my $in_body = $offset - $first_len - $lead;
            $in_body = 0 if $in_body < 0;
            $in_body = length $body if $in_body > length $body;
            $cut = length($head) + $in_body;
        } else {
            $cut = $offset < length $reqline ? $offset : length $reqline;
        }
        $cut = $cuts[-1] if @cuts && $cut < $cuts[-1];
        push @cuts, $cut;
    }
    push @cuts, length $out;

    my @result;
    my $pos = 0;
    for my $i (0 .. $#$packets) {
        push @result, { %{ $packets->[$i] }, value => substr($out, $pos, $cuts[$i] - $pos) };
        $pos = $cuts[$i];
    }
    return \@result;
}

sub to_packets {
    my ($name, $req) = @_;
    return [{ value => $req }] unless ref $req;
    if (ref $req eq 'ARRAY') {
        return [ map {
            !ref $_ ? { value => $_ }
            : ref $_ eq 'HASH' ? { %$_ }
            : bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
        } @$req ];
    }
    bail_out("$name - invalid request: must be a string or an array of packets");
}

sub more_headers_for {
    my ($name, $more, $i) = @_;
    if (ref $more eq 'ARRAY') {
        my $h = $more->[$i];
        bail_out("$name - --- more_headers lacks data for the request #$i") unless defined $h;
        return parse_more_headers($h);
    }
    return parse_more_headers($more);
}

# All requests of a block: a list of requests, each a list of packets
# ({ value => bytes, delay_before => seconds }), sent on its own connection.
sub requests_from_block {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        return [ to_packets($name, $raw) ];
    }

    my $more = $block->more_headers // '';

    if (defined(my $reqs = $block->pipelined_requests)) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my ($hdr, $chunked) = more_headers_for($name, $more, $i);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my $r = build_request($name, $hdr, $chunked, $conn, [{ value => $reqs->[$i] }]);
            $all .= $r->[0]{value};
        }
        return [ [{ value => $all }] ];
    }

    my $request;
    if (defined $block->request_eval) {
        Test::More::diag("$name - request_eval DEPRECATED. Use request eval instead.");
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
    }
    bail_out("$name - no --- request (or raw_request, pipelined_requests) section")
        unless defined $request;

    # a single request, possibly preceded by comment lines
    if (!ref $request) {
        1 while $request =~ s/\A\s*#[^\n]*\n// || $request =~ s/\A\s+//;
        my ($hdr, $chunked) = more_headers_for($name, $more, 0);
        return [ build_request($name, $hdr, $chunked, 'close', [{ value => $request }]) ];
    }

    bail_out("$name - invalid --- request: MUST be a string or an array of requests")
        unless ref $request eq 'ARRAY';

    my @list;
    for my $i (0 .. $#$request) {
        my ($hdr, $chunked) = more_headers_for($name, $more, $i);
        push @list, build_request($name, $hdr, $chunked, 'close',
                                  to_packets($name, $request->[$i]));
    }
    return \@list;
}

# ---------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------

# Sends the packets over a new connection and reads until the server closes
# it.  Options: packets, timeout (seconds between two I/O events),
# middle_delay, shutdown (shutdown(2) argument once everything is written),
# connect_tries.  Returns ($response_bytes, $error) where $error is
# "timeout", "Can't connect ..." or undef.
sub send_request {
    my %o = @_;
    my @packets = @{ $o{packets} };
    my $timeout = $o{timeout} // $Cfg{timeout};
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    my $tries = $o{connect_tries} // 40;
    for my $try (1 .. $tries) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $Cfg{addr}, PeerPort => $Cfg{client_port},
            Proto => 'tcp', Timeout => $timeout,
        );
        last if $sock;
        last if $try == $tries;
        sleep($try < 10 ? 0.02 : 0.1);
    }
    return (undef, "Can't connect to $Cfg{addr}:$Cfg{client_port}: $!")
        unless $sock;

    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $cur = shift @packets;
    my ($buf, $off) = ($cur->{value}, 0);
    my $writing = 1;
    my $error;

    while (1) {
        my ($readable, $writable) =
            IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$readable && !$writable) {
            next if $!{EINTR};
            $error = 'timeout';
            last;
        }

        if ($writable && @$writable) {
            while ($writing) {
                if ($off < length $buf) {
                    my $n = syswrite $sock, $buf, length($buf) - $off, $off;
                    if (!defined $n) {
                        last if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                        # the server closed early (e.g. 413); read its answer
                        warn "WARNING: write failed: $!\n" if $Cfg{verbose};
                        $writing = 0;
                        last;
                    }
                    $off += $n;
                    next;
                }
                $cur = shift @packets;
                if (!$cur) {
                    $writing = 0;
                    if (defined $o{shutdown}) {
                        my $how = $o{shutdown} =~ /^\s*(\d)/ ? $1 : 1;
                        shutdown $sock, $how;
                    }
                    last;
                }
                my $delay = $cur->{delay_before} // $o{middle_delay};
                sleep $delay if $delay;
                ($buf, $off) = ($cur->{value}, 0);
            }
        }

        if ($readable && @$readable) {
            my $n = sysread $sock, my $chunk, 65536;
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                warn "WARNING: HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $error);
}

# ---------------------------------------------------------------------------
# parsing responses
# ---------------------------------------------------------------------------

# Decodes a chunked body.  Returns ($decoded, $left_over, $error).
sub decode_chunked {
    my ($raw) = @_;
    my ($pos, $out) = (0, '');
    while (1) {
        my $eol = index $raw, "\r\n", $pos;
        return ($out, undef, 'no last chunk found') if $eol < 0;
        my $line = substr $raw, $pos, $eol - $pos;
        return ($out, undef, "invalid chunked body received: $line")
            unless $line =~ /^[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;
        my $size = hex $1;
        $pos = $eol + 2;
        if ($size == 0) {
            # optional trailers, then an empty line
            while (1) {
                my $e = index $raw, "\r\n", $pos;
                return ($out, undef, 'incomplete last chunk') if $e < 0;
                my $trailer = substr $raw, $pos, $e - $pos;
                $pos = $e + 2;
                last if $trailer eq '';
            }
            my $left = substr $raw, $pos;
            return ($out, length $left ? $left : undef, undef);
        }
        return ($out, undef, 'invalid chunked data received (not enough octets for the data section)')
            if length($raw) - $pos < $size;
        $out .= substr $raw, $pos, $size;
        $pos += $size;
        return ($out, undef, 'invalid chunked data received (expected CRLF)')
            unless substr($raw, $pos, 2) eq "\r\n";
        $pos += 2;
    }
}

# Parses one response from the front of $raw.  Returns
# ($res (HTTP::Response), $raw_headers, $left_over_bytes, $error).
sub parse_response {
    my ($raw, $head_req) = @_;

    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        undef $code;
    }

    return ($res, $raw_headers, undef, undef)
        if $code && ($code == 304 || $code == 101 || $code =~ /^1/);

    my $te  = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my ($left, $error);

    if (defined $te && $te eq 'chunked') {
        my ($body, $rest, $err) = decode_chunked($res->content // '');
        if ($err) {
            $error = $err;
        } else {
            $res->content($body);
            $left = $rest;
        }
    } elsif (defined $len && $len =~ /^\s*(\d+)\s*$/) {
        $len = $1;
        my $content = $res->content // '';
        if ($head_req) {
            $left = $content if length $content;
            $res->content('');
        } elsif (length $content > $len) {
            $res->content(substr $content, 0, $len);
            $left = substr $content, $len;
        } elsif (length $content < $len) {
            warn "WARNING: response body truncated: $len expected, but got ",
                length $content, "\n";
        }
    }
    return ($res, $raw_headers, $left, $error);
}

1;
