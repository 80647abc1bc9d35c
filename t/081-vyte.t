# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/vyte.conf against Vyte's API v1 document (seeds/000): the
# committed file passes "nginx -t" as it is; a copy of it, with only these
# changed, is started with its own prefix under t/servroot-state/081-vyte:
#
#   127.0.0.1:8080 (API), :8081 (publish)   free ports in 19930-19939
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
# Every request of the document is replayed as written (only the host
# differs) with its response shape and status checked; its delivery
# example is published and checked at the receiver: an array of one
# {action, organization, user, resource}, the resource as published,
# byte for byte; Content-Type: application/json; and the extra Standard
# Webhooks signature, checked with the hook's secret.  user.joined carries
# the publisher's user and resource.account.organization.extid through.
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

our $Base = File::Spec->rel2abs('t/servroot-state/081-vyte');

# the document's placeholder key (v2's examples), its organization id
our $Key = '2lnpjjrurrl49xja5oo0qujtl60embr7zppiphc5fcav4n7ycx';
our $Org = '14ce14c8a8ced358c78a5c231d';

# the keys of a hook in the document's examples, with their JSON types
sub hook_ok { vyte_hook_ok(@_, $Org) }

sub main_test {
    remove_tree($Base);
    make_path($Base);

    # 1. the committed file, as it is
    ce_as_committed('vyte', "$Base/as-is",
        [ qr/^\s*webhook_target_schemes\s+https;/m,
          'vyte.conf as committed: https targets only' ],
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'vyte.conf as committed: no private targets' ],
        [ qr/^\s*webhook_api\s+zone=vyte profile=vyte;/m,
          'vyte.conf as committed: profile=vyte' ]);

    # 2. the receiver, and the test copy
    my ($api, $pub, $recv, $log) = ce_https_provider('vyte', $Base,
                                                     19930, 19934);

    my ($st, $h, $b, $v);
    my @json = ('Content-Type: application/json');

    # 3. "Creating a webhook": the document's body, as it is written
    my $create = <<'_EOB_';
{
  "action": "event.cancelled",
  "target_url": "https://api.example.com/hooks/12345"
}
_EOB_

    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
                                 [ "Authorization: $Key", @json ], $create);
    $v = json_ok('POST /hooks, Authorization: KEY', $st, $h, $b, 201);
    hook_ok('created', $v, 'event.cancelled',
            'https://api.example.com/hooks/12345');
    is($v->{__v}, 0, 'created: __v 0');
    is($v->{createdAt}, $v->{updatedAt}, 'created: updatedAt = createdAt');
    my $id = $v->{_id} // 'none';

    # the key as a bearer token works the same
    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ "Authorization: Bearer $Key", @json ],
        '{"action":"event.created","target_url":"https://api.example.com/hooks/777"}');
    $v = json_ok('POST /hooks, Authorization: Bearer KEY', $st, $h, $b, 201);
    hook_ok('created with Bearer', $v, 'event.created',
            'https://api.example.com/hooks/777');
    my $id2 = $v->{_id} // 'none';

    # "This must be a https url"
    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ "Authorization: $Key", @json ],
        '{"action":"event.cancelled","target_url":"http://api.example.com/hooks/12345"}');
    $v = json_error_ok('POST /hooks, an http target_url', $st, $h, $b, 422,
                       'validation_failed');
    is($v->{field}, 'target_url', 'the 422 names target_url');
    like($v->{message} // '', qr/scheme "http" is not allowed/,
         'the 422 says why');

    # "action" and "target_url" are mandatory; an unknown action
    for my $bad ('{"target_url":"https://api.example.com/hooks/1"}',
                 '{"action":"event.cancelled"}',
                 '{"action":"event.deleted","target_url":"https://api.example.com/hooks/1"}')
    {
        ($st, $h, $b) = http_request($api, 'POST', '/hooks',
                                     [ "Authorization: $Key", @json ], $bad);
        json_error_ok("POST /hooks $bad", $st, $h, $b, 422,
                      'validation_failed');
    }

    # "All requests require to be authenticated"
    ($st, $h, $b) = http_request($api, 'POST', '/hooks', [ @json ], $create);
    json_error_ok('POST /hooks without a key', $st, $h, $b, 401,
                  'unauthorized');

    ($st, $h, $b) = http_request($api, 'GET', '/hooks',
                                 [ 'Authorization: Bearer wrong-key' ]);
    json_error_ok('GET /hooks with an unknown key', $st, $h, $b, 401,
                  'unauthorized');

    # another organization sees nothing of this one
    ($st, $h, $b) = http_request($api, 'GET', "/hooks/$id",
                                 [ 'Authorization: k-org2' ]);
    json_error_ok('GET /hooks/:hook_id of another organization', $st, $h, $b,
                  404, 'not_found');

    # 4. "Getting a webhook"
    ($st, $h, $b) = http_request($api, 'GET', "/hooks/$id",
                                 [ "Authorization: $Key" ]);
    $v = json_ok('GET /hooks/:hook_id', $st, $h, $b, 200);
    hook_ok('got', $v, 'event.cancelled',
            'https://api.example.com/hooks/12345');
    is($v->{_id}, $id, 'got: the same _id');

    # 5. "Updating a webhook": the document's body
    my $update = <<'_EOB_';
{
  "action": "event.updated",
  "target_url": "https://api.example.com/hooks/54321"
}
_EOB_

    ($st, $h, $b) = http_request($api, 'PUT', "/hooks/$id",
                                 [ "Authorization: $Key", @json ], $update);
    $v = json_ok('PUT /hooks/:hook_id', $st, $h, $b, 200);
    hook_ok('updated', $v, 'event.updated',
            'https://api.example.com/hooks/54321');
    is($v->{_id}, $id, 'updated: the same _id');

    ($st, $h, $b) = http_request($api, 'PUT', "/hooks/$id",
        [ "Authorization: $Key", @json ],
        '{"action":"event.updated","target_url":"http://api.example.com/hooks/54321"}');
    json_error_ok('PUT /hooks/:hook_id, an http target_url', $st, $h, $b,
                  422, 'validation_failed');

    # 6. "Listing all your webhooks": {"hooks":[...]}
    ($st, $h, $b) = http_request($api, 'GET', '/hooks',
                                 [ "Authorization: $Key" ]);
    $v = json_ok('GET /hooks', $st, $h, $b, 200);
    is(ref $v->{hooks}, 'ARRAY', 'GET /hooks: a "hooks" array');
    my @hooks = @{ $v->{hooks} // [] };
    is(scalar @hooks, 2, 'GET /hooks: the two hooks (the 422s made none)');
    my ($listed) = grep { $_->{_id} eq $id } @hooks;
    hook_ok('listed', $listed, 'event.updated',
            'https://api.example.com/hooks/54321');

    # 7. "Deleting a webhook": 204, then it is gone
    ($st, $h, $b) = http_request($api, 'DELETE', "/hooks/$id2",
                                 [ "Authorization: $Key" ]);
    is($st, 204, 'DELETE /hooks/:hook_id: 204');
    is($b, '', 'DELETE /hooks/:hook_id: no body');

    ($st, $h, $b) = http_request($api, 'GET', "/hooks/$id2",
                                 [ "Authorization: $Key" ]);
    json_error_ok('GET /hooks/:hook_id after DELETE', $st, $h, $b, 404,
                  'not_found');

    # the document's example id, 1234, is no hook's
    ($st, $h, $b) = http_request($api, 'DELETE', '/hooks/1234',
                                 [ "Authorization: $Key" ]);
    json_error_ok('DELETE /hooks/1234', $st, $h, $b, 404, 'not_found');

    # 8. errors nginx answers itself are JSON too
    ($st, $h, $b) = ce_raw_request($api,
        "POST /hooks HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: $Key\r\n"
        . "Content-Length: 2000000\r\nConnection: close\r\n\r\n");
    json_error_ok('nginx\'s own 413', $st, $h, $b, 413, 'payload_too_large');

    ($st, $h, $b) = http_request($api, 'GET', '/nowhere');
    json_error_ok('an unknown path', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = http_request($pub, 'GET', '/hooks');
    json_error_ok('the publish listener has no API', $st, $h, $b, 404,
                  'not_found');

    # 9. "Getting a webhook call": the document's example, delivered
    my $target = "https://127.0.0.1:$recv/hooks/12345";

    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ "Authorization: $Key", @json ],
        qq({"action":"event.cancelled","target_url":"$target"}));
    $v = json_ok('POST /hooks to the receiver', $st, $h, $b, 201);
    my $secret = $v->{secret} // '';
    like($secret, qr/^whsec_/, 'the hook\'s secret, shown once created');

    # the example's resource, as the document writes it (its bytes too)
    my $resource = <<'_EOR_';
{
    "cancelled": "2017-12-01T12:05:00.000Z",
    "confirmed":{"flag": true},
    "created_by":{"email": "user.name@domain.com"},
    "dates":[{"all_day": false, "date": "2017-11-10T11:00:00.000Z", "end_date": "2017-11-10T12:00:00.000Z"}],
    "invitees":[{"full_name": "Person booking a slot name", "email": "jean.dupont@domain.com", "phone": "0601020304"}],
    "lang":"fr",
    "locale":"fr",
    "messages":[{"body": "Iâ€™m booking appointment about this"}],
    "places":[{"name": "Office name", "address": "12 rue de Rivoli, 75004, Paris, France"}],
    "timezone":"Europe/Paris",
    "title":"Appointment about topic",
    "vyteme":true
  }
_EOR_
    chomp $resource;

    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ "X-Organization: $Org", @json ],
        qq({"action":"event.cancelled","resource":$resource}));
    $v = json_ok('publish event.cancelled', $st, $h, $b, 202);
    is($v->{deliveries}, 1, 'publish: one delivery (the https hook)');
    my $evt = $v->{id} // 'none';

    my $r = ce_https_wait($log, $evt);
    ok($r, 'the receiver got the event') or diag(ce_slurp($log));
    $r //= {};

    is($r->{method}, 'POST', 'delivery: POST');
    is($r->{uri}, '/hooks/12345', 'delivery: to the target_url\'s path');
    is($r->{ct}, 'application/json', 'delivery: Content-Type');
    like($r->{ua}, qr/webhook/i, 'delivery: a User-Agent naming the module');

    my $body = $r->{body} // '';
    is($body, qq([{"action":"event.cancelled","organization":"$Org",)
              . qq("user":null,"resource":$resource}]),
       'delivery: [{action, organization, user, resource}], the resource '
       . 'byte for byte');

    my $d = eval { JSON::PP->new->utf8->decode($body) };
    is(ref $d, 'ARRAY', 'delivery: an array');
    $d = [] unless ref $d eq 'ARRAY';
    is(scalar @$d, 1, 'delivery: of length 1');
    is($d->[0]{resource}{messages}[0]{body},
       JSON::PP->new->utf8->decode($resource)->{messages}[0]{body},
       'delivery: non-ASCII text intact');

    is($r->{sig}, std_signature($secret, $r->{id}, $r->{ts}, $body),
       'delivery: webhook-signature is v1,HMAC(id.timestamp.body) with '
       . 'the hook\'s secret');
    like($r->{ts}, qr/^\d{10}$/, 'delivery: webhook-timestamp, seconds');

    # 10. user.joined: the user and the extid carried through
    ($st, $h, $b) = http_request($api, 'POST', '/hooks',
        [ "Authorization: Bearer $Key", @json ],
        qq({"action":"user.joined","target_url":"$target?kind=user"}));
    $v = json_ok('POST /hooks user.joined', $st, $h, $b, 201);
    my $secret2 = $v->{secret} // '';

    my $joined = '{"account":{"organization":{"extid":"crm-42 \u00e9",'
                 . '"_id":"1234"},"email":"new.user@domain.com"}}';

    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ "X-Organization: $Org", @json ],
        qq({"action":"user.joined","user":"5a4e41aaa8ced3001bf5da78",)
        . qq("resource":$joined}));
    $v = json_ok('publish user.joined', $st, $h, $b, 202);
    is($v->{deliveries}, 1, 'publish user.joined: one delivery');
    $evt = $v->{id} // 'none';

    $r = ce_https_wait($log, $evt) // {};
    is($r->{uri}, '/hooks/12345?kind=user', 'user.joined: delivered');
    is($r->{body},
       qq([{"action":"user.joined","organization":"$Org",)
       . qq("user":"5a4e41aaa8ced3001bf5da78","resource":$joined}]),
       'user.joined: the body');

    $d = eval { JSON::PP->new->utf8->decode($r->{body} // '') };
    $d = [] unless ref $d eq 'ARRAY';
    is($d->[0]{user}, '5a4e41aaa8ced3001bf5da78', 'user.joined: user');
    is($d->[0]{resource}{account}{organization}{extid}, "crm-42 \x{e9}",
       'user.joined: resource.account.organization.extid');
    is($r->{sig}, std_signature($secret2, $r->{id}, $r->{ts}, $r->{body}),
       'user.joined: signed with its hook\'s secret');

    # nothing else was delivered (event.cancelled has one hook, and the
    # deleted and http ones got nothing)
    my @all = ce_https_received($log);
    is(scalar @all, 2, 'the receiver got two requests, no more');

    # publishing: the tenant is required; an unknown action is refused
    ($st, $h, $b) = http_request($pub, 'POST', '/events', [ @json ],
                                 '{"action":"user.joined","resource":{}}');
    json_error_ok('publish without X-Organization', $st, $h, $b, 401,
                  'unauthorized');

    ($st, $h, $b) = http_request($pub, 'POST', '/events',
        [ "X-Organization: $Org", @json ],
        '{"action":"event.voted","resource":{}}');
    json_error_ok('publish an action v1 does not have', $st, $h, $b, 422,
                  'validation_failed');

    # 11. stop both; nothing went wrong in their logs
    ce_stop_clean(provider => "$Base/provider", receiver => "$Base/receiver");
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("vyte.conf: $@") unless $ok;
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
