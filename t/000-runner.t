# Self-test of the Test::Nginx::Socket test runner (t/lib/) using only stock
# nginx features, so that it also runs with extra TEST_NGINX_LOAD_MODULES.
# Written for the real Test::Nginx::Socket and the fallback alike (only the
# fallback could be run here).

use Test::Nginx::Socket;

repeat_each(2);

# Counted as the real module does: per request a status check, one per
# response_headers line, one for the body; one per error_log / no_error_log
# pattern after each request of the block.
plan tests => repeat_each() * 48;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: plain return, headers present and absent
--- config
    location = /t {
        add_header X-Runner yes;
        return 200 "hello";
    }
--- request
GET /t
--- response_headers
X-Runner: yes
Content-Type: text/plain
!X-Absent
--- response_body chomp
hello
--- no_error_log
[error]



=== TEST 2: POST body echoed back (proxy reads the body, @named returns it)
--- config
    location = /echo {
        client_body_in_single_buffer on;
        client_body_buffer_size 64k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/reject;
        proxy_intercept_errors on;
        error_page 404 = @body;
    }
    location = /reject {
        return 404;
    }
    location @body {
        return 200 "body=[$request_body]";
    }
--- request
POST /echo
hello, world
--- response_body chomp
body=[hello, world]
--- error_code: 200



=== TEST 3: several requests in one block
--- config
    location = /a {
        return 200 "a";
    }
--- request eval
["GET /a", "GET /missing", "HEAD /a"]
--- error_code eval
[200, 404, 200]
--- response_headers eval
["Content-Length: 1", "!X-Nothing", "Content-Type: text/plain"]
--- response_body_like eval
["^a\$", "404 Not Found", "^\$"]



=== TEST 4: more_headers and http_config
--- http_config
    map $http_x_foo $mapped {
        default  unknown;
        bar      mapped-bar;
    }
--- config
    location = /h {
        add_header X-Echo $http_x_foo;
        return 200 "foo=$http_x_foo mapped=$mapped host=$host";
    }
--- more_headers
X-Foo: bar
--- request
GET /h
--- response_headers
X-Echo: bar
--- response_body chomp
foo=bar mapped=mapped-bar host=localhost



=== TEST 5: error_log and no_error_log (string, eval array, qr)
--- config
    location /files/ {
        root $TEST_NGINX_SERVER_ROOT/html;
    }
--- request
GET /files/nope.txt
--- error_code: 404
--- error_log eval
["No such file or directory", qr{open\(\) ".*/files/nope\.txt" failed}]
--- no_error_log
[alert]
[emerg]



=== TEST 6: config is reloaded between blocks (version one)
--- config
    location = /v {
        return 200 "one";
    }
    location = /only-in-6 {
        return 200 "six";
    }
--- request eval
["GET /v", "GET /only-in-6"]
--- response_body eval
["one", "six"]



=== TEST 7: config is reloaded between blocks (version two)
--- config
    location = /v {
        return 200 "two";
    }
--- request eval
["GET /v", "GET /only-in-6"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^two\$", "404"]



=== TEST 8: init runs after servroot setup; user_files; chunked (SSI)
--- init
my $dir = "$ENV{TEST_NGINX_SERVER_ROOT}/html";
open my $fh, '>', "$dir/from-init.html" or die "$dir/from-init.html: $!";
print $fh "init-ran\n";
close $fh;
--- user_files
>>> ssi.html
<!--# set var="v" value="ssi-ok" --><!--# echo var="v" -->
>>> sub/plain.txt
plain file
--- config
    location = /ssi.html {
        root $TEST_NGINX_SERVER_ROOT/html;
        ssi on;
    }
--- request eval
["GET /from-init.html", "GET /ssi.html", "GET /sub/plain.txt"]
--- response_headers eval
["Content-Length: 9", "Transfer-Encoding: chunked", "!Transfer-Encoding"]
--- response_body eval
["init-ran\n", "ssi-ok\n", "plain file\n"]



=== TEST 9: pipelined requests on one connection
--- config
    location = /p {
        return 200 "p$arg_n";
    }
--- pipelined_requests eval
["GET /p?n=1", "GET /p?n=2"]
--- response_body eval
["p1", "p2"]



=== TEST 10: raw_request and $ServerPort in expectations
--- config
    location = /r {
        return 200 "port=$server_port";
    }
--- raw_request eval
"GET /r HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body: port=$ServerPort
