# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/vyte2.conf against Vyte's API v2 document (seeds/001): the
# committed file passes "nginx -t" as it is; a copy of it, with only these
# changed, is started with its own prefix under t/servroot-state/082-vyte2:
#
#   127.0.0.1:8080 (API), :8081 (publish)   free ports in 19935-19939
#   state=state                             a directory of this test
#   webhook_allow_private off               on: the receiver is 127.0.0.1
#   the CA file of proxy_ssl_trusted_certificate
#                                           the receiver's self-signed
#                                           certificate, made here with
#                                           the openssl CLI
#
# "webhook_target_schemes https" stays: an http target gets the 422, and
# deliveries go over https, with the certificate verified, to a receiver
# (a separate nginx) that logs what it gets.
#
# Every request of the document is replayed (only the host differs) with
# its response shape and status checked.  Where its examples are not
# usable as written, their evident meaning is tested, and what the
# literal request gets:
#   - the create and modify bodies are not JSON (unquoted keys, no comma,
#     single quotes): as written, 400 invalid_json and nothing changes;
#     the same fields as JSON, 201 / 200;
#   - the create URL ends in a stray '"' after the api_key: the
#     Authorization header it also sends wins, 201;
#   - "List all the hooks" and "Get the hook" say "GET method" in their
#     text but send --request PUT without a body: both work (the vyte2
#     profile reads on a PUT without a body), and change nothing;
#   - the create response shows another target_url (toto.com) than the
#     request (test.com): the hook has the one sent.
# The document shows no delivery: v2's actions (event.voted here) and
# user.joined with its extid are delivered with API v1's body, an array
# of one {action, organization, user, resource}, Content-Type
# application/json and the extra Standard Webhooks signature.
#
# Everything runs in the preamble; the one block at the end checks that
# the runner's own nginx, with the module loaded, answers a plain location.

use Test::Nginx::Socket;
use WebhookTest;
use ConfExample qw(:DEFAULT json_ok json_error_ok std_signature
                    vyte_hook_ok);
use File::Path qw(make_path remove_tree);
use File::Spec;
use JSON::PP ();

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = File::Spec->rel2abs('t/servroot-state/082-vyte2');

# the document's placeholder key, its organization id
our $Key = '2lnpjjrurrl49xja5oo0qujtl60embr7zppiphc5fcav4n7ycx';
our $Org = '60af5269459aad001d0cb565';

# the keys of a hook in the document's examples, with their JSON types
sub hook_ok { vyte_hook_ok(@_, $Org) }

sub main_test {
    remove_tree($Base);
    make_path($Base);

    # 1. the committed file, as it is
    ce_as_committed('vyte2', "$Base/as-is",
        [ qr/^\s*webhook_target_schemes\s+https;/m,
          'vyte2.conf as committed: https targets only' ],
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'vyte2.conf as committed: no private targets' ],
        [ qr/^\s*webhook_api\s+zone=vyte2 profile=vyte2;/m,
          'vyte2.conf as committed: profile=vyte2' ]);

    # 2. the receiver, and the test copy
    my ($api, $pub, $recv, $log) = ce_https_provider('vyte2', $Base,
                                                     19935, 19939);

    my ($st, $h, $b, $v);
    my @json = ('Content-Type: application/json');

        # 3. "Create webhook": the document's request, as written: the body
    # is not JSON, and the URL has a stray '"' after the api_key
    my $literal = <<'_EOB_';
{
    target_url: "https://www.test.com/hooks?id=123"
    action: 'event.cancelled'
}
_EOB_

    my $auth = "Authorization: $Key";

    ($st, $h, $b) = http_request($api, 'POST', "/v2/hooks?api_key=$Key\"",
                                 [ $auth, @json ], $literal);
    json_error_ok('create, the body as written', $st, $h, $b, 400,
                  'invalid_json');

    ($st, $h, $b) = http_request($api, 'GET', '/v2/hooks', [ $auth ]);
    is($b, '[]', 'create, the body as written: nothing created');

    # its evident meaning: the same fields as JSON, the same URL
    my $create = <<'_EOB_';
{
    "target_url": "https://www.test.com/hooks?id=123",
    "action": "event.cancelled"
}
_EOB_

    ($st, $h, $b) = http_request($api, 'POST', "/v2/hooks?api_key=$Key\"",
                                 [ $auth, @json ], $create);
    $v = json_ok('create, as JSON, the URL as written', $st, $h, $b, 201);
    hook_ok('created', $v, 'event.cancelled',
            'https://www.test.com/hooks?id=123');
    is($v->{__v}, 0, 'created: __v 0');
    my $id = $v->{_id} // 'none';

    # the key in the query alone, in the header alone, as a bearer token
    ($st, $h, $b) = http_request($api, 'POST', "/v2/hooks?api_key=$Key",
        [ @json ],
        '{"target_url":"https://www.toto.com/hooks?id=241","action":"event.created"}');
    $v = json_ok('create, ?api_key=KEY', $st, $h, $b, 201);
    hook_ok('created with api_key', $v, 'event.created',
            'https://www.toto.com/hooks?id=241');
    my $id241 = $v->{_id} // 'none';

    ($st, $h, $b) = http_request($api, 'POST', '/v2/hooks',
        [ "Authorization: Bearer $Key", @json ],
        '{"target_url":"https://www.toto.com/hooks?id=645","action":"event.updated"}');
    $v = json_ok('create, Authorization: Bearer KEY', $st, $h, $b, 201);
    my $id645 = $v->{_id} // 'none';

    ($st, $h, $b) = http_request($api, 'GET', "/v2/hooks?api_key=wrong",
                                 [ @json ]);
    json_error_ok('an unknown api_key', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = http_request($api, 'GET', '/v2/hooks', [ @json ]);
    json_error_ok('no key at all', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = http_request($api, 'GET', "/v2/hooks/$id",
                                 [ 'Authorization: k-org2' ]);
    json_error_ok('a hook of another organization', $st, $h, $b, 404,
                  'not_found');

    # https only
    ($st, $h, $b) = http_request($api, 'POST', '/v2/hooks', [ $auth, @json ],
        '{"target_url":"http://www.test.com/hooks?id=123","action":"event.cancelled"}');
    $v = json_error_ok('create, an http target_url', $st, $h, $b, 422,
                       'validation_failed');
    is($v->{field}, 'target_url', 'the 422 names target_url');
    like($v->{message} // '', qr/scheme "http" is not allowed/,
         'the 422 says why');

    # v2's actions are known; others are not
    for my $action (qw(event.voted event.new_invitee vyteme.updated)) {
        ($st, $h, $b) = http_request($api, 'POST', '/v2/hooks',
            [ $auth, @json ],
            qq({"target_url":"https://www.test.com/hooks?a=$action",)
            . qq("action":"$action"}));
        $v = json_ok("create $action", $st, $h, $b, 201);
        ($st) = http_request($api, 'DELETE', "/v2/hooks/$v->{_id}",
                             [ $auth ]) if $v && $v->{_id};
        is($st, 204, "$action: deleted again");
    }

    ($st, $h, $b) = http_request($api, 'POST', '/v2/hooks', [ $auth, @json ],
        '{"target_url":"https://www.test.com/hooks","action":"event.deleted"}');
    json_error_ok('create, an unknown action', $st, $h, $b, 422,
                  'validation_failed');

    # 4. "Modify the webhook": the body as written, then as JSON
    my $modify_literal = <<'_EOB_';
{
    target_url: "https://www.test.com/hooks?id=123"
    action: 'event.updated'
}
_EOB_

    ($st, $h, $b) = http_request($api, 'PUT', "/v2/hooks/$id",
                                 [ $auth, @json ], $modify_literal);
    json_error_ok('modify, the body as written', $st, $h, $b, 400,
                  'invalid_json');

    (my $modify = $create) =~ s/event\.cancelled/event.updated/;

    ($st, $h, $b) = http_request($api, 'PUT', "/v2/hooks/$id",
                                 [ $auth, @json ], $modify);
    $v = json_ok('modify, as JSON', $st, $h, $b, 200);
    hook_ok('modified', $v, 'event.updated',
            'https://www.test.com/hooks?id=123');
    is($v->{_id}, $id, 'modified: the same _id');
    is($v->{__v}, 1, 'modified: __v 1 (the failed PUT changed nothing)');

    # 5. "List all the hooks": a bare array.  The text says GET; the
    # example sends PUT without a body, which lists too
    ($st, $h, $b) = http_request($api, 'GET', '/v2/hooks', [ $auth, @json ]);
    $v = json_ok('list', $st, $h, $b, 200);
    is(ref $v, 'ARRAY', 'list: a bare array');
    is(scalar @{ ref $v eq 'ARRAY' ? $v : [] }, 3, 'list: three hooks');
    my %by_id = map { $_->{_id} => $_ } @{ ref $v eq 'ARRAY' ? $v : [] };
    hook_ok('listed', $by_id{$id}, 'event.updated',
            'https://www.test.com/hooks?id=123');
    hook_ok('listed', $by_id{$id241}, 'event.created',
            'https://www.toto.com/hooks?id=241');
    hook_ok('listed', $by_id{$id645}, 'event.updated',
            'https://www.toto.com/hooks?id=645');

    ($st, $h, $b) = http_request($api, 'PUT', '/v2/hooks', [ $auth, @json ]);
    $v = json_ok('list, as the example sends it (PUT)', $st, $h, $b, 200);
    is(ref $v, 'ARRAY', 'list by PUT: a bare array');
    is(join(' ', sort map { $_->{_id} } @{ ref $v eq 'ARRAY' ? $v : [] }),
       join(' ', sort $id, $id241, $id645), 'list by PUT: the three hooks');

    ($st, $h, $b) = http_request($api, 'PATCH', '/v2/hooks', [ $auth, @json ]);
    json_error_ok('PATCH on the list', $st, $h, $b, 405,
                  'method_not_allowed');
    is($h->{allow}, 'GET, HEAD, POST', 'the 405 says what is allowed');

    # 6. "Get the hook": GET, or the example's PUT without a body
    ($st, $h, $b) = http_request($api, 'GET', "/v2/hooks/$id241",
                                 [ $auth, @json ]);
    $v = json_ok('get', $st, $h, $b, 200);
    hook_ok('got', $v, 'event.created', 'https://www.toto.com/hooks?id=241');
    is($v->{_id}, $id241, 'got: the same _id');

    ($st, $h, $b) = http_request($api, 'PUT', "/v2/hooks/$id241",
                                 [ $auth, @json ]);
    $v = json_ok('get, as the example sends it (PUT)', $st, $h, $b, 200);
    hook_ok('got by PUT', $v, 'event.created',
            'https://www.toto.com/hooks?id=241');
    is($v->{_id}, $id241, 'got by PUT: the same _id');

    ($st, $h, $b) = http_request($api, 'GET', "/v2/hooks/$id241",
                                 [ $auth ]);
    $v = json_ok('get after that PUT', $st, $h, $b, 200);
    is($v->{__v}, 0, 'that PUT changed nothing');

    # 7. "Delete the hook": 204, then it is gone
    ($st, $h, $b) = http_request($api, 'DELETE', "/v2/hooks/$id241",
                                 [ $auth, @json ]);
    is($st, 204, 'delete: 204');
    is($b, '', 'delete: no body');

    ($st, $h, $b) = http_request($api, 'GET', "/v2/hooks/$id241", [ $auth ]);
    json_error_ok('get after delete', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = http_request($api, 'DELETE', "/v2/hooks/$id241",
                                 [ $auth ]);
    json_error_ok('delete again', $st, $h, $b, 404, 'not_found');

    # 8. errors nginx answers itself are JSON too; v1's path is not here
    ($st, $h, $b) = ce_raw_request($api,
        "POST /v2/hooks HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: $Key\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('nginx\'s own 413', $st, $h, $b, 413, 'payload_too_large');

    ($st, $h, $b) = http_request($api, 'GET', '/hooks', [ $auth ]);
    json_error_ok('/hooks (API v1\'s path)', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = http_request($pub, 'GET', '/v2/hooks', [ $auth ]);
    json_error_ok('the publish listener has no API', $st, $h, $b, 404,
                  'not_found');

    # 9. deliveries: event.voted and user.joined to the https receiver
    my $target = "https://127.0.0.1:$recv/hooks?id=123";
    my %secret;

    for my $action (qw(event.voted user.joined)) {
        ($st, $h, $b) = http_request($api, 'POST', "/v2/hooks?api_key=$Key",
            [ @json ],
            qq({"target_url":"$target&action=$action","action":"$action"}));
        $v = json_ok("create $action to the receiver", $st, $h, $b, 201);
        $secret{$action} = $v->{secret} // '';
    }

    my $voted = '{"_id":"60af526954e6605aae0dad99","title":"Team lunch",'
                . '"votes":[{"email":"jean.dupont@domain.com",'
                . '"dates":["2021-06-01T12:00:00.000Z"]}],"n":9007199254740993}';

    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ "X-Organization: $Org", @json ],
        qq({"action":"event.voted","user":"60af5269459aad001d0cb600",)
        . qq("resource":$voted}));
    $v = json_ok('publish event.voted', $st, $h, $b, 202);
    is($v->{deliveries}, 1, 'publish event.voted: one delivery');
    my $evt = $v->{id} // 'none';

    my $r = ce_https_wait($log, $evt);
    ok($r, 'the receiver got event.voted') or diag(ce_slurp($log));
    $r //= {};

    is($r->{method}, 'POST', 'event.voted: POST');
    is($r->{uri}, '/hooks?id=123&action=event.voted',
       'event.voted: to its target_url');
    is($r->{ct}, 'application/json', 'event.voted: Content-Type');
    is($r->{body},
       qq([{"action":"event.voted","organization":"$Org",)
       . qq("user":"60af5269459aad001d0cb600","resource":$voted}]),
       'event.voted: an array of one {action, organization, user, '
       . 'resource}, the resource byte for byte');
    my $d = eval { JSON::PP->new->utf8->decode($r->{body} // '') };
    is(ref $d eq 'ARRAY' ? scalar @$d : -1, 1, 'event.voted: length 1');
    is($r->{sig}, std_signature($secret{'event.voted'}, $r->{id}, $r->{ts},
                                $r->{body} // ''),
       'event.voted: webhook-signature with its hook\'s secret');

    # user.joined: the extid the application got from the join link
    my $joined = '{"account":{"organization":{"extid":"acme-7781"}},'
                 . '"email":"new.user@domain.com"}';

    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ "X-Organization: $Org", @json ],
        qq({"action":"user.joined","user":"60af5269459aad001d0cb601",)
        . qq("resource":$joined}));
    $v = json_ok('publish user.joined', $st, $h, $b, 202);
    is($v->{deliveries}, 1, 'publish user.joined: one delivery');
    $evt = $v->{id} // 'none';

    $r = ce_https_wait($log, $evt) // {};
    is($r->{uri}, '/hooks?id=123&action=user.joined', 'user.joined: delivered');
    $d = eval { JSON::PP->new->utf8->decode($r->{body} // '') };
    $d = [] unless ref $d eq 'ARRAY';
    is($d->[0]{action}, 'user.joined', 'user.joined: action');
    is($d->[0]{organization}, $Org, 'user.joined: organization');
    is($d->[0]{user}, '60af5269459aad001d0cb601', 'user.joined: user');
    is($d->[0]{resource}{account}{organization}{extid}, 'acme-7781',
       'user.joined: resource.account.organization.extid');
    is($r->{sig}, std_signature($secret{'user.joined'}, $r->{id}, $r->{ts},
                                $r->{body} // ''),
       'user.joined: webhook-signature with its hook\'s secret');

    # the hooks at www.test.com / www.toto.com were not matched
    my @all = ce_https_received($log);
    is(scalar @all, 2, 'the receiver got two requests, no more');

    # 11. stop both; nothing went wrong in their logs
    ce_stop_clean(provider => "$Base/provider", receiver => "$Base/receiver");
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("vyte2.conf: $@") unless $ok;
}

run_tests();

__DATA__

=== TEST 1: the runner's nginx, with the module loaded, answers
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
