# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/screver.conf, run as a whole file, replaying Screver's
# document (seeds/003): it passes "nginx -t" as committed; a copy with only
# its ports (API 8080 -> 19940, publish 8081 -> 19941), its state
# directory and its two target settings changed (http and loopback
# allowed: the subscriber here is a receiver on 127.0.0.1:19942) is
# started under t/servroot-state/083-screver.
#
# Every documented request is sent as the document writes it, except
# where the document's example is not literally usable:
#   - "Host: https://go.screver.com" is a URL, which nginx refuses (the
#     file maps that 400 to JSON, checked once); the requests are then
#     sent with its evident meaning, "Host: go.screver.com";
#   - the ids in the paths are the document's own ids; ids are made by the
#     server, so the update, get and delete of an existing webhook use the
#     id the create returned (the document's literal ids are a JSON 404).
# Each response is checked against the documented one: status, the keys in
# their order, the values that are the client's own, the shapes of the
# values the server makes (24-hex _id, uuid v4 secret, ISO 8601 times).
#
# Deliveries: a second company subscribes optionSelected, surveyCompleted
# and "*" to the receiver; published events reach each subscriber whose
# type matches, with the document's response fields as the body, byte for
# byte, and X-API-SIGNATURE = hex HMAC-SHA256(secret, body), computed here
# with Digest::SHA.

use Test::Nginx::Socket;
use WebhookTest;
use ConfExample;
use File::Path qw(make_path remove_tree);
use File::Spec;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use Time::HiRes qw(sleep time);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = File::Spec->rel2abs('t/servroot-state/083-screver');
our ($Api, $Pub, $Recv) = (19940, 19941, 19942);

my $Key = 'Authorization: Bearer u8ptxAd2hJ3aRjtgwwmUqqkNpcMOYxf3';
my $Company = '5d00f1e3001530581cc1ea85';
my $Key2 = 'Authorization: Bearer k-company2';
my $Company2 = '5d00f1e3001530581cc1ea86';

my $ID = qr/^[0-9a-f]{24}$/;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
my $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

my $json = JSON::PP->new->canonical;

# the document's requests, as it prints them ("Host" rewritten below)
my %doc = (
    create => "POST /api/v2/webhooks HTTP/1.1\n$Key\n"
              . "Content-Type: application/json\nHost: https://go.screver.com",
    update => "PUT /api/v2/webhooks/5d9b4816de62163caf637d5c HTTP/1.1\n$Key\n"
              . "Content-Type: application/json\nHost: https://go.screver.com",
    list   => "GET /api/v2/webhooks?limit=5 HTTP/1.1\n$Key\n"
              . "Content-Type: application/json\nHost: https://go.screver.com",
    get    => "GET /api/v2/webhooks/5d0b985960a1da78cf8f4a57 HTTP/1.1\n$Key\n"
              . "Content-Type: application/json\nHost: https://go.screver.com",
    delete => "DELETE /api/v2/webhooks/5d10840f5b4ca0038509890c HTTP/1.1\n"
              . "$Key\nContent-Type: application/json\n"
              . "Host: https://go.screver.com",
);

my $doc_body = qq({\n "type": "optionSelected",\n)
               . qq( "url": "https://go.screver.com/api/v1/test-webhook"\n}\n);

# its evident meaning: the host's name
sub evident {
    my ($req, $id) = @_;
    $req =~ s{^Host: https://go\.screver\.com$}{Host: go.screver.com}m;
    $req =~ s{/api/v2/webhooks/[0-9a-f]{24} }{/api/v2/webhooks/$id } if $id;
    return $req;
}

# a request with a different path (and the document's headers)
sub with_path {
    my ($req, $path) = @_;
    $req =~ s{^(\S+) \S+ }{$1 $path };
    return $req;
}

sub decode_ok {
    my ($label, $body) = @_;
    my $v = eval { $json->decode($body) };
    ok(defined $v, "$label: the body is JSON") or diag($body);
    return $v // {};
}

sub json_error_ok {
    my ($label, $st, $h, $body, $status, $error) = @_;

    is($st, $status, "$label: $status");
    like($h->{'content-type'} // '', qr{^application/json},
         "$label: application/json");
    like($body, qr/^\{"error":"\Q$error\E"/, "$label: error $error");
}

# a webhook as the create example shows it: its keys in its order
sub webhook_ok {
    my ($label, $body, $want, @keys) = @_;

    is(join(',', ce_keys($body)), join(',', @keys), "$label: keys in order")
        or diag($body);

    my $w = decode_ok($label, $body);
    like($w->{_id} // '', $ID, "$label: _id is 24 hex");
    like($w->{secret} // '', $UUID, "$label: secret is a uuid v4")
        if grep { $_ eq 'secret' } @keys;
    like($w->{createdAt} // '', $TIME, "$label: createdAt");
    like($w->{updatedAt} // '', $TIME, "$label: updatedAt");

    for my $k (sort keys %$want) {
        is($w->{$k}, $want->{$k}, "$label: $k");
    }

    return $w;
}

my @created_keys = qw(_id type company url secret createdAt updatedAt __v);

sub main_test {
    remove_tree($Base);
    make_path($Base);

    # 1. the committed file, as it is
    ce_as_committed('screver', "$Base/as-is",
        [ qr/^\s*webhook_target_schemes\s+https;/m,
          'screver.conf as committed: https targets only' ],
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'screver.conf as committed: no private targets' ],
        [ qr/webhook_api\s+zone=\w+ profile=screver;/,
          'screver.conf: the screver profile' ]);

    # 2. the test copy
    my $conf = ce_prepare('screver', "$Base/provider",
        [ qr/127\.0\.0\.1:8080\b/, "127.0.0.1:$Api", 1 ],
        [ qr/127\.0\.0\.1:8081\b/, "127.0.0.1:$Pub", 1 ],
        [ qr/\bstate=state\b/, "state=$Base/state", 1 ],
        [ qr/webhook_target_schemes\s+https;/,
          'webhook_target_schemes  https http;', 1 ],
        [ qr/webhook_allow_private\s+off;/, 'webhook_allow_private  on;', 1 ]);

    ce_receiver($Recv, "$Base/received");
    ce_start('screver', "$Base/provider", $conf, $Api, $Pub);

    my ($st, $h, $b);

    # 3. the document's create, exactly as written: its Host is a URL
    ($st, $h, $b) = ce_request($Api, $doc{create}, $doc_body);
    json_error_ok('create, Host a URL as written', $st, $h, $b, 400,
                  'bad_request');

    # 4. create, with its evident Host
    ($st, $h, $b) = ce_request($Api, evident($doc{create}), $doc_body);
    is($st, 201, 'create: 201 Created') or diag($b);
    like($h->{'content-type'} // '', qr{^application/json},
         'create: application/json');
    my $first = webhook_ok('create', $b,
        { type => 'optionSelected', company => $Company,
          url => 'https://go.screver.com/api/v1/test-webhook', __v => 0 },
        @created_keys);
    is($first->{createdAt}, $first->{updatedAt},
       'create: createdAt = updatedAt');

    # 5. the documented update: of the document's own id, a 404; of the
    # webhook just created, the update
    ($st, $h, $b) = ce_request($Api, evident($doc{update}), $doc_body);
    json_error_ok('update, the document\'s own id', $st, $h, $b, 404,
                  'not_found');

    sleep 0.01;
    ($st, $h, $b) = ce_request($Api, evident($doc{update}, $first->{_id}),
                               $doc_body);
    is($st, 200, 'update: 200 OK') or diag($b);
    my $upd = webhook_ok('update', $b,
        { _id => $first->{_id}, type => 'optionSelected',
          url => 'https://go.screver.com/api/v1/test-webhook',
          secret => $first->{secret}, createdAt => $first->{createdAt},
          __v => 1 },
        @created_keys);
    ok($upd->{updatedAt} gt $first->{updatedAt}, 'update: updatedAt moved');

    # type and url are "Required: No" in an update: only those given change
    ($st, $h, $b) = ce_request($Api, evident($doc{update}, $first->{_id}),
        '{"url":"https://go.screver.com/api/v1/test-webhook-moved"}');
    is($st, 200, 'update with url only: 200') or diag($b);
    my $w = decode_ok('update with url only', $b);
    is($w->{type}, 'optionSelected', 'update with url only: type kept');
    is($w->{url}, 'https://go.screver.com/api/v1/test-webhook-moved',
       'update with url only: url changed');

    ($st, $h, $b) = ce_request($Api, evident($doc{update}, $first->{_id}),
                               '{"type":"surveyCompleted"}');
    is($st, 200, 'update with type only: 200') or diag($b);
    $w = decode_ok('update with type only', $b);
    is($w->{type}, 'surveyCompleted', 'update with type only: type changed');
    is($w->{url}, 'https://go.screver.com/api/v1/test-webhook-moved',
       'update with type only: url kept');

    # back to what the list example shows for it
    ($st, $h, $b) = ce_request($Api, evident($doc{update}, $first->{_id}),
                               $doc_body);
    is($st, 200, 'update back: 200');

    ($st, $h, $b) = ce_request($Api, evident($doc{update}, $first->{_id}),
                               '{"type":"nope"}');
    json_error_ok('update, unknown type', $st, $h, $b, 422,
                  'validation_failed');
    like($b, qr/"field":"type"/, 'update, unknown type: names type');

    # 6. the list example's other four, oldest first
    my @more = (['surveyCompleted', 'test-webhook'],
                ['*', 'test-webhook'],
                ['optionSelected', 'test-webhook2'],
                ['surveyCompleted', 'test-webhook2']);

    for my $m (@more) {
        my $body = qq({"type":"$m->[0]",)
                   . qq("url":"https://go.screver.com/api/v1/$m->[1]"});
        ($st, $h, $b) = ce_request($Api, evident($doc{create}), $body);
        is($st, 201, "create $m->[0] $m->[1]: 201") or diag($b);
        sleep 0.01;
    }

    # 7. the documented list: {resources, total}, newest first, each with
    # _id, type, url, secret, createdAt, updatedAt, as its example has
    # them (and company, __v, as the create shows them)
    ($st, $h, $b) = ce_request($Api, evident($doc{list}));
    is($st, 200, 'list: 200 OK') or diag($b);
    like($h->{'content-type'} // '', qr{^application/json},
         'list: Content-Type: application/json');
    is(join(',', ce_keys($b)), 'resources,total', 'list: resources, total');

    my $list = decode_ok('list', $b);
    is($list->{total}, 5, 'list: total 5');

    my @got = map { "$_->{type} " . ($_->{url} =~ s{.*/}{}r) }
              @{ $list->{resources} // [] };
    is(join(' | ', @got),
       'surveyCompleted test-webhook2 | optionSelected test-webhook2 | '
       . '* test-webhook | surveyCompleted test-webhook | '
       . 'optionSelected test-webhook',
       'list: the example\'s webhooks, in its order');

    my $item_keys = join(',', @created_keys);
    my $n = 0;
    for my $item (@{ $list->{resources} // [] }) {
        $n++;
        like($item->{_id}, $ID, "list item $n: _id");
        like($item->{secret} // '', $UUID, "list item $n: secret shown");
        like($item->{createdAt}, $TIME, "list item $n: createdAt");
        like($item->{updatedAt}, $TIME, "list item $n: updatedAt");
    }
    my @items = $b =~ /(\{[^{}]*\})/g;
    is(scalar(grep { join(',', ce_keys($_)) eq $item_keys } @items), 5,
       'list: every item has the create\'s keys, in order');
    is($list->{resources}[4]{_id}, $first->{_id},
       'list: the updated one is the oldest');
    is($list->{resources}[4]{secret}, $first->{secret},
       'list: its secret as create gave it');
    ok($list->{resources}[4]{updatedAt} gt $list->{resources}[4]{createdAt},
       'list: its updatedAt is after its createdAt, as in the example');

    # limit is required, one of 5, 10, 25, 50, 100
    for my $q ('', '?limit=7', '?limit=0', '?limit=1000', '?limit=five') {
        ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                                   "/api/v2/webhooks$q")));
        json_error_ok("list$q", $st, $h, $b, 422, 'validation_failed');
        like($b, qr/"field":"limit"/, "list$q: names limit");
    }

    for my $l (5, 10, 25, 50, 100) {
        ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                                   "/api/v2/webhooks?limit=$l")));
        is($st, 200, "list?limit=$l: 200");
        is(scalar @{ decode_ok("list?limit=$l", $b)->{resources} // [] }, 5,
           "list?limit=$l: five");
    }

    # skip
    ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                               '/api/v2/webhooks?limit=5&skip=3')));
    is($st, 200, 'list skip=3: 200');
    $list = decode_ok('list skip=3', $b);
    is(scalar @{ $list->{resources} }, 2, 'list skip=3: two left');
    is($list->{total}, 5, 'list skip=3: total is all of them');
    is($list->{resources}[1]{_id}, $first->{_id}, 'list skip=3: the oldest last');

    ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                               '/api/v2/webhooks?limit=5&skip=-1')));
    json_error_ok('list skip=-1', $st, $h, $b, 422, 'validation_failed');

    # sort, as the document writes it and as JSON, both ways
    my %sorts = ('{ createdAt: -1 }' => 'desc', '{ createdAt: 1 }' => 'asc',
                 '{"createdAt":-1}' => 'desc', '{"createdAt":1}' => 'asc',
                 '{ updatedAt: 1 }' => undef, '{"updatedAt":-1}' => undef);

    for my $s (sort keys %sorts) {
        (my $enc = $s) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
        ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                                   "/api/v2/webhooks?limit=10&sort=$enc")));
        is($st, 200, "list sort=$s: 200") or diag($b);
        my @ids = map { $_->{_id} }
                  @{ decode_ok("sort=$s", $b)->{resources} // [] };
        is(scalar @ids, 5, "list sort=$s: five");
        next unless defined $sorts{$s};
        is($ids[$sorts{$s} eq 'asc' ? 0 : 4], $first->{_id},
           "list sort=$s: the oldest " . ($sorts{$s} eq 'asc' ? 'first'
                                                              : 'last'));
    }

    for my $s ('-createdAt', '{ name: 1 }', '{ createdAt: 2 }', 'createdAt') {
        (my $enc = $s) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
        ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                                   "/api/v2/webhooks?limit=5&sort=$enc")));
        json_error_ok("list sort=$s", $st, $h, $b, 422, 'validation_failed');
        like($b, qr/"field":"sort"/, "list sort=$s: names sort");
    }

    # 8. the documented get: of the document's own id, a 404; of the
    # webhook created above, the create's keys (its example leaves out
    # company and __v, which every response here has)
    ($st, $h, $b) = ce_request($Api, evident($doc{get}));
    json_error_ok('get, the document\'s own id', $st, $h, $b, 404,
                  'not_found');

    ($st, $h, $b) = ce_request($Api, evident($doc{get}, $first->{_id}));
    is($st, 200, 'get: 200 OK') or diag($b);
    like($h->{'content-type'} // '', qr{^application/json},
         'get: Content-Type: application/json');
    webhook_ok('get', $b,
        { _id => $first->{_id}, type => 'optionSelected',
          url => 'https://go.screver.com/api/v1/test-webhook',
          secret => $first->{secret}, createdAt => $first->{createdAt} },
        @created_keys);

    # 9. the documented delete
    ($st, $h, $b) = ce_request($Api, evident($doc{delete}));
    json_error_ok('delete, the document\'s own id', $st, $h, $b, 404,
                  'not_found');

    ($st, $h, $b) = ce_request($Api, evident($doc{delete}, $first->{_id}));
    is($st, 204, 'delete: 204 No content');
    is($b, '', 'delete: no body');

    ($st, $h, $b) = ce_request($Api, evident($doc{get}, $first->{_id}));
    json_error_ok('get after delete', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = ce_request($Api, evident($doc{list}));
    is(decode_ok('list after delete', $b)->{total}, 4,
       'list after delete: total 4');

    # 10. what a client gets wrong: JSON errors
    (my $nokey = evident($doc{list})) =~ s/^Authorization: .*\n//m;
    ($st, $h, $b) = ce_request($Api, $nokey);
    json_error_ok('list without a key', $st, $h, $b, 401, 'unauthorized');

    (my $badkey = evident($doc{list})) =~ s/Bearer \w+/Bearer wrong/;
    ($st, $h, $b) = ce_request($Api, $badkey);
    json_error_ok('list with a wrong key', $st, $h, $b, 401, 'unauthorized');

    ($st, $h, $b) = ce_request($Api, evident($doc{create}), '{"type":');
    json_error_ok('create, broken JSON', $st, $h, $b, 400, 'invalid_json');

    ($st, $h, $b) = ce_request($Api, evident($doc{create}),
                               '{"url":"https://go.screver.com/x"}');
    json_error_ok('create without type', $st, $h, $b, 422,
                  'validation_failed');
    like($b, qr/"field":"type"/, 'create without type: names type');

    ($st, $h, $b) = ce_request($Api, evident($doc{create}),
                               '{"type":"optionSelected"}');
    json_error_ok('create without url', $st, $h, $b, 422,
                  'validation_failed');
    like($b, qr/"field":"url"/, 'create without url: names url');

    ($st, $h, $b) = ce_request($Api, evident($doc{create}),
                               '{"type":"surveyStarted","url":"https://a.example/"}');
    json_error_ok('create, unknown type', $st, $h, $b, 422,
                  'validation_failed');

    (my $big = evident($doc{create})) =~ s/\n*$/\nContent-Length: 2000000/;
    ($st, $h, $b) = ce_request($Api, $big);
    json_error_ok('create over client_max_body_size (nginx\'s own 413)',
                  $st, $h, $b, 413, 'payload_too_large');

    ($st, $h, $b) = ce_request($Api, evident(with_path($doc{list},
                                                       '/api/v1/webhooks')));
    json_error_ok('an unknown path', $st, $h, $b, 404, 'not_found');

    ($st, $h, $b) = ce_request($Api,
        evident(with_path($doc{delete}, '/api/v2/webhooks')));
    json_error_ok('DELETE on the collection', $st, $h, $b, 405,
                  'method_not_allowed');

    # 11. deliveries: company 2 subscribes each type and "*"
    my %sub;
    for my $t (qw(optionSelected surveyCompleted *)) {
        (my $name = $t) =~ s/\*/all/;
        my $body = qq({"type":"$t","url":"http://127.0.0.1:$Recv/r/200/$name"});
        ($st, $h, $b) = ce_request($Api,
            evident($doc{create}) =~ s/\Q$Key\E/$Key2/r, $body);
        is($st, 201, "company 2: subscribe $t") or diag($b);
        $sub{$name} = decode_ok("subscribe $t", $b);
        is($sub{$name}{company}, $Company2, "subscribe $t: company 2's");
    }

    # the document's response fields, as the application publishes them
    my $option = '{"timestamp":"2019-10-08T07:20:00.000Z",'
        . '"surveyItemId":"5d9c377c27a91314f83f9810",'
        . '"meta":{"email":"jane@example.com","invitationId":"inv-1"},'
        . '"question":{"id":"q1","text":"How likely are you to recommend us?"},'
        . '"answer":9}';
    my $completed = '{"timestamp":"2019-10-08T07:21:00.000Z",'
        . '"meta":{"email":"jane@example.com","invitationId":"inv-1"}}';

    my %published;
    for my $e ([optionSelected => $option], [surveyCompleted => $completed]) {
        ($st, $h, $b) = http_request($Pub, 'POST', '/events',
            [ "X-Company: $Company2", 'Content-Type: application/json' ],
            qq({"type":"$e->[0]","data":$e->[1]}));
        is($st, 202, "publish $e->[0]: 202") or diag($b);
        like($b, qr/"deliveries":2\b/, "publish $e->[0]: its type and \"*\"");
        $published{$e->[0]} = $e->[1];
    }

    # (company 1's optionSelected, surveyCompleted and "*" webhooks were
    # not counted: a company's events reach only its own webhooks)
    ce_wait(30, sub { scalar(ce_received("$Base/received")) >= 4 });
    sleep 0.5;
    my @reqs = ce_received("$Base/received");
    is(scalar @reqs, 4, 'receiver: four deliveries');

    my %by_path;
    push @{ $by_path{$_->{path}} }, $_ for @reqs;

    is(scalar @{ $by_path{'/r/200/optionSelected'} // [] }, 1,
       'optionSelected webhook: one delivery');
    is(scalar @{ $by_path{'/r/200/surveyCompleted'} // [] }, 1,
       'surveyCompleted webhook: one delivery');
    is(scalar @{ $by_path{'/r/200/all'} // [] }, 2,
       '"*" webhook: both events');

    for my $r (@reqs) {
        (my $name = $r->{path}) =~ s{^/r/200/}{};
        my $secret = $sub{$name}{secret} // '';
        my $label = "delivery to $name";

        is($r->{method}, 'POST', "$label: POST");
        is($r->{proto}, 'HTTP/1.1', "$label: HTTP/1.1");
        is($r->{headers}{'content-type'}[0], 'application/json',
           "$label: Content-Type: application/json");
        is($r->{headers}{host}[0], "127.0.0.1:$Recv", "$label: Host");

        my $event = $r->{body} eq $option ? 'optionSelected'
                  : $r->{body} eq $completed ? 'surveyCompleted' : undef;
        ok($event, "$label: the body is the published fields, byte for byte")
            or diag($r->{body});
        ok($name eq 'all' || ($event // '') eq $name,
           "$label: an event of its type");

        my $sig = $r->{headers}{'x-api-signature'} // [];
        is(scalar @$sig, 1, "$label: one X-API-SIGNATURE");
        is($sig->[0], hmac_sha256_hex($r->{body}, $secret),
           "$label: X-API-SIGNATURE = hex HMAC-SHA256(secret, body)");
        isnt($sig->[0], hmac_sha256_hex($r->{body},
                                        $sub{$name eq 'all' ? 'optionSelected'
                                             : 'all'}{secret}),
             "$label: not another webhook's secret");
    }

    # the attempt log agrees
    my $log = ce_wait(30, sub {
        my (undef, undef, $body) = ce_request($Api,
            evident(with_path($doc{get} =~ s/\Q$Key\E/$Key2/r,
                              "/api/v2/webhooks/$sub{all}{_id}/deliveries")));
        return $body =~ /"total":2\b/ && $body !~ /"state":"pending"/
               ? $body : undef;
    });
    like($log // '', qr/"status":200,.*"status":200,/,
         '"*" webhook: two attempts answered 200');

    # 12. stop; nothing went wrong in the log
    ce_stop_clean(screver => "$Base/provider");
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("screver: $@") unless $ok;
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
