# vi:set ft=perl ts=4 sw=4 et fdm=marker:
#
# conf-examples/hubplanner.conf, run as a whole file, replaying Hub
# Planner's document (seeds/004): it passes "nginx -t" as committed; a copy
# with only its ports (API 8080 -> 19945, publish 8081 -> 19946), its
# state directory and webhook_allow_private changed (the subscriber here
# is a receiver on 127.0.0.1:19947) is started under
# t/servroot-state/084-hubplanner.
#
# The document shows request bodies and responses but no status codes and
# no headers: its subscribe is answered 201 and its unsubscribe 204 (the
# module's codes for a create and a delete), and requests carry the API
# key in Authorization as it is, without "Bearer", as Hub Planner's API
# takes it.  Its subscription response is checked key by key, in order.
#
# Every documented delivery body is published by the application and must
# reach the receiver byte for byte.  Those bodies are not all JSON as the
# document prints them: ObjectId("...") is read as the string inside it,
# and the "//" comments of booking.delete are left out.  Each carries the
# subscription's authorization_token as the hubplanner-token header (none
# without a token); booking.delete.multiple is one event whose body is the
# array of both bookings, in one request.  Only 200, 201 and 204 count as
# delivered: a 202 or a 500 is a failed attempt, to be tried again.

use Test::Nginx::Socket;
use WebhookTest;
use ConfExample;
use File::Path qw(make_path remove_tree);
use File::Spec;
use JSON::PP;
use Time::HiRes qw(sleep time);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'whole-file nginx instances are not run under valgrind');

} else {
    plan('no_plan');
}

our $Base = File::Spec->rel2abs('t/servroot-state/084-hubplanner');
our ($Api, $Pub, $Recv) = (19945, 19946, 19947);

my $Key = 'Authorization: hp-key-company1';
my $Company = '59841c04844e6738c8d45123';
my $Key2 = 'Authorization: hp-key-company2';
my $Company2 = '59841c04844e6738c8d45124';

my $ID = qr/^[0-9a-f]{24}$/;
my $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

my $json = JSON::PP->new->canonical;

# the document's subscribe body, as printed
my $doc_subscribe = <<'_EOB_';
{
   "event":"project.update",
   "target_url":"http://mycompany.com/webhooks_listener"
}
_EOB_

# the document's response bodies, as printed, one per event
my $doc_bodies = <<'_EOB_';
--- project.update
{
    "event" : "project.update",
    "resourceIds" : [],
    "projectManagerIds" : [],
    "end" : null,
    "start" : null,
    "useProjectDays" : false,
    "workDays" : [ 
        false, 
        true, 
        true, 
        true, 
        true, 
        true, 
        false
    ],
    "includeBookedTimeGrid" : true,
    "tags" : [],
    "customFields" : [],
    "type" : "REGULAR",
    "status" : "Active",
    "name" : "Test Project",
    "projectId" : ObjectId("59a66aafe1b60a251c86b6a2")
}
--- resource.update
{
	"event" : "resource.update",
	"isProjectManager" : true,
	"useResourceAvailability" : false,
	"customAvailabilities" : [ 
		{
			"_id" : ObjectId("59a66af0e1b60a251c86b6ad"),
			"weekDays" : {
				"sunday" : {
					"minutes" : 0,
					"workDay" : false
				},
				"saturday" : {
					"minutes" : 0,
					"workDay" : false
				},
				"friday" : {
					"minutes" : 0,
					"workDay" : true
				},
				"thursday" : {
					"minutes" : 0,
					"workDay" : true
				},
				"wednesday" : {
					"minutes" : 0,
					"workDay" : true
				},
				"tuesday" : {
					"minutes" : 0,
					"workDay" : true
				},
				"monday" : {
					"minutes" : 0,
					"workDay" : true
				}
			},
			"end" : null,
			"start" : null
		}
	],
	"tags" : [ 
		{
			"tagId" : ObjectId("59a66aeee1b60a251c86b6aa"),
			"value" : "superstar",
			"_id" : ObjectId("59a66af0e1b60a251c86b6ae")
		}
	],
	"customFields" : [],
	"type" : "REGULAR",
	"status" : "STATUS_ACTIVE",
	"role" : "ROLE_TEAM",
	"lastName" : "Smith",
	"firstName" : "Alan",
	"resourceId" : ObjectId("59a66af0e1b60a251c86b6ab"),
	"email" : "smith@test.com"
}
--- booking.create
{
    "event": "booking.create",
        "duration": "24 hrs",
        "categoryName": "General",
        "end": {
            "day": "14th",
            "month": "Sep",
            "year": "2017",
            "date": "2017-09-14T18:00:00.000Z",
            "formatted": "Sep 14th 2017"
        },
        "start": {
            "day": "12th",
            "month": "Sep",
            "year": "2017",
            "date": "2017-09-12T09:00:00.000Z",
            "formatted": "Sep 12th 2017"
        },
        "createdBy":"5c62978a7b10e376c13faaaa",
        "updatedBy":"5c62978a7b10e376c13fbbbb",
        "bookingCreatorName":"Mike Tyson",
        "bookingCreatorId":"5c62978a7b10e376c13faaaa",
        "lastUpdatedById":"5c62978a7b10e376c13fbbbb",
        "lastUpdatedByName":"Andrew Hammonds",
        "resourceName": "Resource 1",
        "projectName": "Test Project",
        "projectId": "5963b1320eb98a0be485a1d4",
        "resourceId": "5963b1320eb98a0be485a1cb",
        "bookingId": "5363b1320ec94a0be400a1de"		
}
--- timeEntry.create
{
    "event" : "timeEntry.create",
    "status" : "UNSUBMITTED",
    "categoryName" : "General",
    "minutes" : "180",
    "date" : "2017-08-30T00:00",
    "projectId" : "59a008a8ab3cad27e08a9374",
    "timeEntryId" : "59a3ea783e1e8427b4547a6d"
}
--- timeEntry.update
{
    "event" : "timeEntry.update",
    "status" : "SUBMITTED",
    "categoryName" : "General",
    "minutes" : "180",
    "date" : "2017-08-30T00:00",
    "projectId" : "59a008a8ab3cad27e08a9374",
    "timeEntryId" : "59a3ea783e1e8427b4547a6d"
}
--- timeEntry.create.update
{
    "event" : "timeEntry.create.update",
    "status" : "SUBMITTED",
    "categoryName" : "General",
    "minutes" : "180",
    "date" : "2017-08-30T00:00",
    "projectId" : "59a008a8ab3cad27e08a9374",
    "timeEntryId" : "59a3ea783e1e8427b4547a6d"
}
--- timeEntry.delete
{
    "event" : "timeEntry.delete",
    "status" : "SUBMITTED",
    "categoryName" : "General",
    "minutes" : "180",
    "date" : "2017-08-30T00:00",
    "projectId" : "59a008a8ab3cad27e08a9374",
    "timeEntryId" : "59a3ea783e1e8427b4547a6d"
}
--- booking.update
{
    "bookingId":"5adefe5561d3404890330f04",
    "resourceId":"5addf4cd3b1d17531862d2b3",
    "projectId":"5ad9d08c880646448864427c",
    "projectName":"Test Project",
    "resourceName":"Resource 1",
    "createdBy":"5c62978a7b10e376c13faaaa",
    "updatedBy":"5c62978a7b10e376c13fbbbb",
    "bookingCreatorName":"Mike Tyson",
    "bookingCreatorId":"5c62978a7b10e376c13faaaa",
    "lastUpdatedById":"5c62978a7b10e376c13fbbbb",
    "lastUpdatedByName":"Andrew Hammonds",
    "start": {
        "formatted":"Apr 24th 2018",
        "date":"2018-04-24T07:00:00.000Z",
        "year":"2018",
        "month":"Apr",
        "day":"24th"
    },
    "end":{
        "formatted":"Apr 25th 2018",
        "date":"2018-04-25T16:00:00.000Z",
        "year":"2018",
        "month":"Apr",
        "day":"25th"
    },
    "categoryName":"General",
    "duration":"16 hrs",
    "event":"booking.update"
}
--- booking.delete
{
    "bookingId":"5addef855d2d554e026028a9",
    "resourceId":"5ad9d08c8806464488644245",
    "projectId":"5adda32626bc1357570172b4",
    "projectName":"Test Project",
    "resourceName":"Resource 1",
    "createdBy":"5c62978a7b10e376c13faaaa",
    "updatedBy":"5c62978a7b10e376c13fbbbb",
    "bookingCreatorName":"Mike Tyson",
    "bookingCreatorId":"5c62978a7b10e376c13faaaa",
    "lastUpdatedById":"5c62978a7b10e376c13fbbbb",
    "lastUpdatedByName":"Andrew Hammonds",
    "deletedById":"5c62978a7b10e376c13faaaa", //valid for deleted webhook only
    "deletedByResourceName":"Andrew Hammonds", //valid for deleted webhook only
    "start": {
        "formatted":"May 10th 2018",
        "date":"2018-05-10T07:00:00.000Z",
        "year":"2018",
        "month":"May",
        "day":"10th"
    },
    "end": {
        "formatted":"May 12th 2018",
        "date":"2018-05-12T16:00:00.000Z",
        "year":"2018",
        "month":"May",
        "day":"12th"
    },
    "categoryName":"General",
    "duration":"16 hrs",
    "event":"booking.delete"
}
--- booking.delete.multiple
[
    {
        "bookingId":"5addef855d2d554e026028a8",
        "resourceId":"5ad9d08c8806464488644245",
        "projectId":"5adda32626bc1357570172b4",
        "projectName":"Test Project",
        "resourceName":"Resource 1",
        "createdBy":"5c62978a7b10e376c13faaaa",
        "updatedBy":"5c62978a7b10e376c13fbbbb",
        "bookingCreatorName":"Mike Tyson",
        "bookingCreatorId":"5c62978a7b10e376c13faaaa",
        "lastUpdatedById":"5c62978a7b10e376c13fbbbb",
        "lastUpdatedByName":"Andrew Hammonds",
        "start": {
            "formatted":"May 10th 2018",
            "date":"2018-05-10T07:00:00.000Z",
            "year":"2018",
            "month":"May",
            "day":"10th"
        },
        "end": {
            "formatted":"May 12th 2018",
            "date":"2018-05-12T16:00:00.000Z",
            "year":"2018",
            "month":"May",
            "day":"12th"
        },
        "categoryName":"General",
        "duration":"16 hrs",
        "event":"booking.delete.multiple"
    },
    {
        "bookingId":"5addef855d2d554e026028a9",
        "resourceId":"5ad9d08c8806464488644245",
        "projectId":"5adda32626bc1357570172b4",
        "projectName":"Test Project",
        "resourceName":"Resource 1",
        "createdBy":"5c62978a7b10e376c13faaaa",
        "updatedBy":"5c62978a7b10e376c13fbbbb",
        "bookingCreatorName":"Mike Tyson",
        "bookingCreatorId":"5c62978a7b10e376c13faaaa",
        "lastUpdatedById":"5c62978a7b10e376c13fbbbb",
        "lastUpdatedByName":"Andrew Hammonds",
        "start": {
            "formatted":"May 11th 2018",
            "date":"2018-05-11T07:00:00.000Z",
            "year":"2018",
            "month":"May",
            "day":"11th"
        },
        "end": {
            "formatted":"May 13th 2018",
            "date":"2018-05-13T16:00:00.000Z",
            "year":"2018",
            "month":"May",
            "day":"13th"
        },
        "categoryName":"General",
        "duration":"16 hrs",
        "event":"booking.delete.multiple"
    }
]
_EOB_

# the document's body for each event, made JSON as its evident meaning:
# ObjectId("x") is the string "x", "// ..." comments are left out
sub bodies {
    my %b;
    my @parts = split /^--- (\S+)\n/m, $doc_bodies;
    shift @parts;

    while (my ($event, $text) = splice @parts, 0, 2) {
        $text =~ s/ObjectId\("([0-9a-f]+)"\)/"$1"/g;
        $text =~ s{[ \t]*//[^\n]*}{}g;
        $text =~ s/\n+\z//;
        $b{$event} = $text;
    }

    return %b;
}

sub decode_ok {
    my ($label, $body) = @_;
    my $v = eval { $json->decode($body) };
    ok(defined $v, "$label: JSON") or diag("$@: $body");
    return $v;
}

sub json_error_ok {
    my ($label, $st, $h, $body, $status, $error) = @_;

    is($st, $status, "$label: $status");
    like($h->{'content-type'} // '', qr{^application/json},
         "$label: application/json");
    like($body, qr/^\{"error":"\Q$error\E"/, "$label: error $error");
}

sub api {
    my ($key, $method, $path, $body) = @_;
    return ce_request($Api, "$method $path HTTP/1.1\nHost: api.hubplanner.com\n"
                            . "$key\nContent-Type: application/json", $body);
}

sub attempts {
    my ($key, $id) = @_;
    my (undef, undef, $b) = api($key, 'GET', "/subscription/$id/deliveries");
    return eval { $json->decode($b) } // {};
}

sub main_test {
    remove_tree($Base);
    make_path($Base);

    my %body = bodies();
    is(join(' ', sort keys %body),
       'booking.create booking.delete booking.delete.multiple booking.update '
       . 'project.update resource.update timeEntry.create '
       . 'timeEntry.create.update timeEntry.delete timeEntry.update',
       'the document\'s ten response bodies');

    for my $e (sort keys %body) {
        my $v = decode_ok("the $e body, as read", $body{$e});
        my @items = ref $v eq 'ARRAY' ? @$v : ($v);
        is(scalar(grep { ($_->{event} // '') eq $e } @items), scalar @items,
           "the $e body names its event");
    }

    # 1. the committed file, as it is
    ce_as_committed('hubplanner', "$Base/as-is",
        [ qr/^\s*webhook_allow_private\s+off;/m,
          'hubplanner.conf as committed: no private targets' ],
        [ qr/^\s*webhook_success\s+200 201 204;/m,
          'hubplanner.conf: success is 200, 201 or 204' ],
        [ qr/^\s*proxy_set_header\s+hubplanner-token\s+\$webhook_token;/m,
          'hubplanner.conf: hubplanner-token' ]);

    # 2. the test copy
    my $conf = ce_prepare('hubplanner', "$Base/provider",
        [ qr/127\.0\.0\.1:8080\b/, "127.0.0.1:$Api", 1 ],
        [ qr/127\.0\.0\.1:8081\b/, "127.0.0.1:$Pub", 1 ],
        [ qr/\bstate=state\b/, "state=$Base/state", 1 ],
        [ qr/webhook_allow_private\s+off;/, 'webhook_allow_private  on;', 1 ]);

    ce_receiver($Recv, "$Base/received");
    ce_start('hubplanner', "$Base/provider", $conf, $Api, $Pub);

    my ($st, $h, $b);

    # 3. the documented subscribe, as written
    ($st, $h, $b) = api($Key, 'POST', '/subscription', $doc_subscribe);
    is($st, 201, 'subscribe: 201') or diag($b);
    like($h->{'content-type'} // '', qr{^application/json},
         'subscribe: application/json');
    is(join(',', ce_keys($b)), '_id,companyId,creationDate,target_url,event',
       'subscribe: the example\'s keys in its order, no token without one');
    my $s1 = decode_ok('subscribe', $b) // {};
    like($s1->{_id} // '', $ID, 'subscribe: _id, a unique id');
    is($s1->{companyId}, $Company, 'subscribe: companyId');
    like($s1->{creationDate} // '', $TIME, 'subscribe: creationDate');
    is($s1->{target_url}, 'http://mycompany.com/webhooks_listener',
       'subscribe: target_url');
    is($s1->{event}, 'project.update', 'subscribe: event');

    # the response example's own subscription, with its token
    ($st, $h, $b) = api($Key, 'POST', '/subscription',
        '{"event":"project.update",'
        . '"target_url":"http://mydomain.hubplanner.com/webhooks_listener",'
        . '"authorization_token":"secret-token-123"}');
    is($st, 201, 'subscribe with a token: 201') or diag($b);
    is(join(',', ce_keys($b)),
       '_id,companyId,creationDate,target_url,event,authorization_token',
       'subscribe with a token: the example\'s keys in its order');
    my $s2 = decode_ok('subscribe with a token', $b) // {};
    is($s2->{authorization_token}, 'secret-token-123',
       'subscribe with a token: authorization_token');
    isnt($s2->{_id}, $s1->{_id}, 'subscribe: ids are unique');

    # required fields, supported events
    for my $t (
        [ 'subscribe without event',
          '{"target_url":"http://mycompany.com/x"}', 'event' ],
        [ 'subscribe without target_url',
          '{"event":"project.update"}', 'target_url' ],
        [ 'subscribe to an unsupported event',
          '{"event":"project.delete","target_url":"http://mycompany.com/x"}' ],
        [ 'subscribe to an ftp URL',
          '{"event":"project.update","target_url":"ftp://mycompany.com/x"}' ])
    {
        my ($label, $req, $field) = @$t;

        ($st, $h, $b) = api($Key, 'POST', '/subscription', $req);
        json_error_ok($label, $st, $h, $b, 422, 'validation_failed');
        like($b, qr/"field":"$field"/, "$label: names $field")
            if defined $field;
    }

    ($st, $h, $b) = api('X-No: key', 'POST', '/subscription', $doc_subscribe);
    json_error_ok('subscribe without an API key', $st, $h, $b, 401,
                  'unauthorized');

    ($st, $h, $b) = api('Authorization: Bearer hp-key-company1', 'POST',
                        '/subscription', $doc_subscribe);
    json_error_ok('subscribe with "Bearer" before the key', $st, $h, $b, 401,
                  'unauthorized');

    ($st, $h, $b) = ce_request($Api, "POST /subscription HTTP/1.1\n"
        . "Host: api.hubplanner.com\n$Key\nContent-Length: 2000000");
    json_error_ok('subscribe over client_max_body_size (nginx\'s own 413)',
                  $st, $h, $b, 413, 'payload_too_large');

    ($st, $h, $b) = api($Key, 'GET', '/project');
    json_error_ok('an unknown path', $st, $h, $b, 404, 'not_found');

    # beyond the document: the list and one subscription
    ($st, $h, $b) = api($Key, 'GET', '/subscription');
    is($st, 200, 'list: 200');
    my $list = decode_ok('list', $b) // [];
    is(ref $list, 'ARRAY', 'list: a bare array');
    is(join(',', sort map { $_->{_id} } @$list),
       join(',', sort $s1->{_id}, $s2->{_id}), 'list: both');
    unlike($b, qr/secret-token-123/, 'list: no token');

    ($st, $h, $b) = api($Key, 'GET', "/subscription/$s2->{_id}");
    is($st, 200, 'get: 200');
    is(join(',', ce_keys($b)),
       '_id,companyId,creationDate,target_url,event,authorization_token',
       'get: the subscribe response\'s keys');
    is((decode_ok('get', $b) // {})->{authorization_token}, 'secret-token-123',
       'get: the token');

    # 4. the documented unsubscribe
    for my $s ($s1, $s2) {
        ($st, $h, $b) = api($Key, 'DELETE', "/subscription/$s->{_id}");
        is($st, 204, "unsubscribe $s->{_id}: 204");
        is($b, '', "unsubscribe $s->{_id}: no body");

        ($st, $h, $b) = api($Key, 'DELETE', "/subscription/$s->{_id}");
        json_error_ok("unsubscribe $s->{_id} again", $st, $h, $b, 404,
                      'not_found');
    }

    ($st, $h, $b) = api($Key, 'GET', '/subscription');
    is($b, '[]', 'list after unsubscribing: empty');

    # 5. every documented delivery: company 2 subscribes each event, all
    # with a token but project.update
    my %sub;
    for my $e (sort keys %body) {
        my $token = $e eq 'project.update' ? '' : "token-$e";
        my $req = qq({"event":"$e",)
                  . qq("target_url":"http://127.0.0.1:$Recv/r/200/$e")
                  . ($token ? qq(,"authorization_token":"$token"}) : '}');
        ($st, $h, $b) = api($Key2, 'POST', '/subscription', $req);
        is($st, 201, "company 2: subscribe $e") or diag($b);
        $sub{$e} = decode_ok("subscribe $e", $b) // {};
        is($sub{$e}{companyId}, $Company2, "subscribe $e: company 2's");
        $sub{$e}{token} = $token;
    }

    for my $e (sort keys %body) {
        ($st, $h, $b) = http_request($Pub, 'POST', '/events',
            [ "X-Company: $Company2", 'Content-Type: application/json' ],
            qq({"event":"$e","data":$body{$e}}));
        is($st, 202, "publish $e: 202") or diag($b);
        like($b, qr/"deliveries":1\b/, "publish $e: one subscriber");
    }

    ce_wait(30, sub { scalar(ce_received("$Base/received")) >= 10 });
    sleep 0.5;
    my @reqs = ce_received("$Base/received");
    is(scalar @reqs, 10, 'receiver: ten requests, one per event');

    my %got;
    for my $r (@reqs) {
        (my $e = $r->{path}) =~ s{^/r/200/}{};
        $got{$e}++;
        my $label = "delivery of $e";

        is($r->{method}, 'POST', "$label: POST");
        is($r->{headers}{'content-type'}[0], 'application/json',
           "$label: Content-Type: application/json");
        is($r->{body}, $body{$e},
           "$label: the document's body, byte for byte");

        my $tok = $r->{headers}{'hubplanner-token'};
        if ($sub{$e}{token}) {
            is(join('|', @{ $tok // [] }), $sub{$e}{token},
               "$label: hubplanner-token is its authorization_token");

        } else {
            ok(!$tok, "$label: no token, no hubplanner-token header");
        }
    }

    is(join(',', map { $got{$_} // 0 } sort keys %body),
       join(',', (1) x 10), 'each event delivered once, to its subscriber');

    my ($multi) = grep { $_->{path} =~ /multiple$/ } @reqs;
    my $arr = decode_ok('booking.delete.multiple', $multi->{body} // '');
    is(ref $arr, 'ARRAY', 'booking.delete.multiple: the body is an array');
    is(join(',', map { $_->{bookingId} } @{ $arr // [] }),
       '5addef855d2d554e026028a8,5addef855d2d554e026028a9',
       'booking.delete.multiple: both bookings in one request');

    # 6. only 200, 201 and 204 count as delivered
    my %code;
    for my $c (200, 201, 204, 202, 500) {
        ($st, $h, $b) = api($Key, 'POST', '/subscription',
            qq({"event":"timeEntry.delete",)
            . qq("target_url":"http://127.0.0.1:$Recv/r/$c/status"}));
        is($st, 201, "company 1: subscribe timeEntry.delete answering $c");
        $code{$c} = (decode_ok("subscribe $c", $b) // {})->{_id};
    }

    ($st, $h, $b) = http_request($Pub, 'POST', '/events',
        [ "X-Company: $Company", 'Content-Type: application/json' ],
        qq({"event":"timeEntry.delete","data":$body{'timeEntry.delete'}}));
    is($st, 202, 'publish timeEntry.delete to company 1: 202') or diag($b);
    like($b, qr/"deliveries":5\b/, 'publish: five subscribers');

    my %att;
    ce_wait(30, sub {
        %att = map { $_ => attempts($Key, $code{$_}) } keys %code;
        return !grep { !@{ $att{$_}{attempts} // [] } } keys %att;
    });

    for my $c (200, 201, 204) {
        my $a = $att{$c}{attempts}[0] // {};
        is($a->{status}, $c, "answered $c: status logged");
        is($a->{state}, 'delivered', "answered $c: delivered");
        is($a->{error}, undef, "answered $c: no error");
    }

    for my $c (202, 500) {
        my $a = $att{$c}{attempts}[0] // {};
        is($a->{status}, $c, "answered $c: status logged");
        is($a->{error}, 'bad_status', "answered $c: a failed attempt");
        is($a->{state}, 'pending', "answered $c: to be tried again");
    }

    # 7. stop; nothing went wrong in the log
    ce_stop_clean(hubplanner => "$Base/provider");
}

unless ($ENV{TEST_NGINX_USE_VALGRIND}) {
    my $ok = eval { main_test(); 1 };
    fail("hubplanner: $@") unless $ok;
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
