
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_webhook_api.h"
#include "ngx_http_webhook_json.h"
#include "ngx_http_webhook_store.h"
#include "ngx_http_webhook_deliver.h"


/* what a request asks for */
#define NGX_HTTP_WEBHOOK_API_LIST           0
#define NGX_HTTP_WEBHOOK_API_GET            1
#define NGX_HTTP_WEBHOOK_API_CREATE         2
#define NGX_HTTP_WEBHOOK_API_REPLACE        3     /* PUT */
#define NGX_HTTP_WEBHOOK_API_MODIFY         4     /* PATCH */
#define NGX_HTTP_WEBHOOK_API_DELETE         5
#define NGX_HTTP_WEBHOOK_API_TEST           6     /* POST P/{id}/test */
#define NGX_HTTP_WEBHOOK_API_ATTEMPTS       7     /* GET P/{id}/deliveries */
#define NGX_HTTP_WEBHOOK_API_REDELIVER      8     /* POST .../{event}/retry */
#define NGX_HTTP_WEBHOOK_API_ROTATE         9     /* POST .../secret/rotate */

/* request body fields, whatever a profile calls them */
#define NGX_HTTP_WEBHOOK_API_ACTION         0
#define NGX_HTTP_WEBHOOK_API_TARGET_URL     1
#define NGX_HTTP_WEBHOOK_API_SECRET         2
#define NGX_HTTP_WEBHOOK_API_TOKEN          3
#define NGX_HTTP_WEBHOOK_API_ENABLED        4
#define NGX_HTTP_WEBHOOK_API_DESCRIPTION    5
#define NGX_HTTP_WEBHOOK_API_NFIELDS        6

/* the JSON types a field accepts */
#define NGX_HTTP_WEBHOOK_API_STRING         0
#define NGX_HTTP_WEBHOOK_API_NULLABLE       1     /* a string or null */
#define NGX_HTTP_WEBHOOK_API_BOOLEAN        2

/* values a rendered subscription is made of */
#define NGX_HTTP_WEBHOOK_API_V_ID           0
#define NGX_HTTP_WEBHOOK_API_V_ACTION       1
#define NGX_HTTP_WEBHOOK_API_V_TARGET_URL   2
#define NGX_HTTP_WEBHOOK_API_V_SECRET       3
#define NGX_HTTP_WEBHOOK_API_V_TOKEN        4
#define NGX_HTTP_WEBHOOK_API_V_DESCRIPTION  5
#define NGX_HTTP_WEBHOOK_API_V_SCOPE        6
#define NGX_HTTP_WEBHOOK_API_V_TENANT       7
#define NGX_HTTP_WEBHOOK_API_V_ENABLED      8
#define NGX_HTTP_WEBHOOK_API_V_REASON       9     /* disabled_reason */
#define NGX_HTTP_WEBHOOK_API_V_CREATED      10
#define NGX_HTTP_WEBHOOK_API_V_UPDATED      11
#define NGX_HTTP_WEBHOOK_API_V_VERSION      12

/* how a value is written */
#define NGX_HTTP_WEBHOOK_API_T_STRING       0     /* escaped, quoted */
#define NGX_HTTP_WEBHOOK_API_T_RAW          1     /* JSON text as is */
#define NGX_HTTP_WEBHOOK_API_T_TIME         2
#define NGX_HTTP_WEBHOOK_API_T_NUMBER       3

/* a key left out of list items */
#define NGX_HTTP_WEBHOOK_API_NOT_IN_LIST    0x01

#define NGX_HTTP_WEBHOOK_API_LIMIT_MAX      1000
#define NGX_HTTP_WEBHOOK_API_SECRET_BYTES   24

#define NGX_HTTP_WEBHOOK_HOST_MAX           253
#define NGX_HTTP_WEBHOOK_LABEL_MAX          63


typedef struct {
    char                                *name;
    ngx_uint_t                           field;  /* NGX_HTTP_WEBHOOK_API_* */
} ngx_http_webhook_api_alias_t;


typedef struct {
    ngx_str_t                            key;    /* "\"name\":" */
    ngx_uint_t                           value;  /* NGX_HTTP_WEBHOOK_API_V_* */
    ngx_uint_t                           flags;
} ngx_http_webhook_api_key_t;


typedef struct {
    ngx_uint_t                           type;   /* NGX_HTTP_WEBHOOK_API_T_* */
    ngx_str_t                            str;
    int64_t                              num;
} ngx_http_webhook_api_value_t;


typedef ngx_int_t (*ngx_http_webhook_api_secret_pt)(ngx_http_request_t *r,
    ngx_str_t *secret);


/*
 * What a seed provider's clients see (DESIGN §6): field names in request
 * bodies, the subscription's keys and their order, the list envelope, how
 * new secrets look.  A profile is data; the code below reads only this.
 */
typedef struct {
    ngx_str_t                            name;
    ngx_http_webhook_api_alias_t        *aliases;    /* the first name of
                                                        a field is its own */
    ngx_http_webhook_api_key_t          *keys;
    ngx_str_t                            list_key;   /* "": a bare array */
    ngx_str_t                            total_key;
    ngx_str_t                            scope;
    ngx_http_webhook_api_secret_pt       secret;

    ngx_uint_t                          *limits;     /* 0-terminated: the
                                                        only values, and
                                                        limit is required;
                                                        NULL: 1..LIMIT_MAX
                                                        or none */
    char                                *limit_message;
    ngx_uint_t                           sort_object; /* sort={key: 1|-1} */
    ngx_uint_t                           descending;  /* with no sort */
    ngx_uint_t                           put_merges;  /* PUT as PATCH: no
                                                         field required */
    ngx_uint_t                           put_reads;   /* a PUT without a
                                                         body lists or
                                                         gets */
} ngx_http_webhook_api_profile_t;


typedef struct {
    ngx_http_webhook_loc_conf_t         *wlcf;
    ngx_http_webhook_api_profile_t      *profile;

    ngx_str_t                            prefix;     /* P, without a '/' */
    ngx_str_t                            tenant;
    ngx_str_t                            id;
    ngx_str_t                           *allow;      /* for a 405 */

    ngx_uint_t                           op;         /* LIST, GET, ... */
    ngx_uint_t                           mask;       /* NGX_HTTP_WEBHOOK_F_* */
    ngx_http_webhook_sub_t               sub;        /* from the request */
    ngx_http_webhook_sub_t               out;        /* from the store */
    ngx_str_t                            event_id;   /* .../{event}/retry */
    ngx_http_webhook_published_t         published;  /* a test event */

    u_char                              *err;        /* a 422's message */
    char                                *err_field;
} ngx_http_webhook_api_ctx_t;


typedef struct {
    uint32_t                             addr;
    uint32_t                             mask;
} ngx_http_webhook_in_range_t;


#if (NGX_HAVE_INET6)

typedef struct {
    u_char                               addr[16];
    ngx_uint_t                           prefix;     /* bits */
    ngx_uint_t                           embedded;   /* offset of an IPv4
                                                        address, 0: none */
} ngx_http_webhook_in6_range_t;

#endif


static ngx_int_t ngx_http_webhook_api_run(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_webhook_api_route(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_uint_t ngx_http_webhook_api_put_reads(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_route_sub(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *sub);
static ngx_int_t ngx_http_webhook_api_list(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_attempts(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_test(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_accepted(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_webhook_api_get(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static ngx_int_t ngx_http_webhook_api_read(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static void ngx_http_webhook_api_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_api_fields(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, cJSON *json);
static char *ngx_http_webhook_api_field_name(ngx_http_webhook_api_ctx_t *ctx,
    ngx_uint_t field);
static ngx_uint_t ngx_http_webhook_api_same(cJSON *a, cJSON *b);
static ngx_int_t ngx_http_webhook_api_string(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, cJSON *item, char *name, size_t max,
    ngx_str_t *s);
static ngx_int_t ngx_http_webhook_api_check_action(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *action, char *name);
static ngx_int_t ngx_http_webhook_api_check_url(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *url, char *name);
static ngx_uint_t ngx_http_webhook_api_localhost(ngx_str_t *host);
static ngx_int_t ngx_http_webhook_api_invalid(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, char *field, const char *fmt, ...);
static ngx_int_t ngx_http_webhook_api_write(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx);
static void ngx_http_webhook_api_store_handler(void *data, ngx_int_t rc);
static ngx_int_t ngx_http_webhook_api_done(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_webhook_api_store_error(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_webhook_api_secret(ngx_http_request_t *r,
    ngx_str_t *secret);
static ngx_int_t ngx_http_webhook_api_secret_uuid(ngx_http_request_t *r,
    ngx_str_t *secret);
static ngx_int_t ngx_http_webhook_api_sort_object(ngx_str_t *value,
    ngx_uint_t *descending);
static u_char *ngx_http_webhook_api_space(u_char *p, u_char *last);

static ngx_int_t ngx_http_webhook_api_send_sub(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_uint_t status,
    ngx_http_webhook_sub_t *sub);
static ngx_int_t ngx_http_webhook_api_send_list(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_array_t *subs, ngx_uint_t total);
static size_t ngx_http_webhook_api_sub_len(ngx_http_webhook_api_ctx_t *ctx,
    ngx_http_webhook_sub_t *sub, ngx_uint_t list);
static u_char *ngx_http_webhook_api_sub_write(u_char *p,
    ngx_http_webhook_api_ctx_t *ctx, ngx_http_webhook_sub_t *sub,
    ngx_uint_t list);
static ngx_uint_t ngx_http_webhook_api_value(ngx_http_webhook_api_ctx_t *ctx,
    ngx_http_webhook_sub_t *sub, ngx_uint_t value,
    ngx_http_webhook_api_value_t *v);

static ngx_uint_t ngx_http_webhook_api_id_valid(ngx_str_t *id);
static char *ngx_http_webhook_url_host(u_char *p, size_t len,
    ngx_http_webhook_url_t *u);
static ngx_uint_t ngx_http_webhook_url_numeric_end(u_char *p, size_t len);
static ngx_int_t ngx_http_webhook_url_inet(u_char *p, size_t len,
    in_addr_t *addr);
static ngx_uint_t ngx_http_webhook_in_blocked(in_addr_t addr);


static ngx_str_t  ngx_http_webhook_api_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_webhook_api_location = ngx_string("Location");

static ngx_str_t  ngx_http_webhook_api_allow_collection =
    ngx_string("GET, HEAD, POST");
static ngx_str_t  ngx_http_webhook_api_allow_item =
    ngx_string("GET, HEAD, PUT, PATCH, DELETE");


static ngx_uint_t  ngx_http_webhook_api_types[] = {
    NGX_HTTP_WEBHOOK_API_STRING,             /* action */
    NGX_HTTP_WEBHOOK_API_STRING,             /* target_url */
    NGX_HTTP_WEBHOOK_API_NULLABLE,           /* secret: null = generate */
    NGX_HTTP_WEBHOOK_API_NULLABLE,           /* token: null = none */
    NGX_HTTP_WEBHOOK_API_BOOLEAN,            /* enabled */
    NGX_HTTP_WEBHOOK_API_NULLABLE            /* description: null = none */
};


static char  *ngx_http_webhook_api_type_names[] = {
    "a string",
    "a string or null",
    "a boolean"
};


static ngx_str_t  ngx_http_webhook_api_reasons[] = {
    ngx_null_string,                         /* DISABLED_NONE */
    ngx_string("manual"),
    ngx_string("gone"),
    ngx_string("failing")
};


static ngx_http_webhook_api_alias_t  ngx_http_webhook_api_default_aliases[] = {
    { "action", NGX_HTTP_WEBHOOK_API_ACTION },
    { "event", NGX_HTTP_WEBHOOK_API_ACTION },
    { "type", NGX_HTTP_WEBHOOK_API_ACTION },
    { "target_url", NGX_HTTP_WEBHOOK_API_TARGET_URL },
    { "url", NGX_HTTP_WEBHOOK_API_TARGET_URL },
    { "secret", NGX_HTTP_WEBHOOK_API_SECRET },
    { "authorization_token", NGX_HTTP_WEBHOOK_API_TOKEN },
    { "enabled", NGX_HTTP_WEBHOOK_API_ENABLED },
    { "description", NGX_HTTP_WEBHOOK_API_DESCRIPTION },
    { NULL, 0 }
};


static ngx_http_webhook_api_key_t  ngx_http_webhook_api_default_keys[] = {
    { ngx_string("\"_id\":"), NGX_HTTP_WEBHOOK_API_V_ID, 0 },
    { ngx_string("\"action\":"), NGX_HTTP_WEBHOOK_API_V_ACTION, 0 },
    { ngx_string("\"target_url\":"), NGX_HTTP_WEBHOOK_API_V_TARGET_URL, 0 },
    { ngx_string("\"secret\":"), NGX_HTTP_WEBHOOK_API_V_SECRET,
      NGX_HTTP_WEBHOOK_API_NOT_IN_LIST },
    { ngx_string("\"authorization_token\":"), NGX_HTTP_WEBHOOK_API_V_TOKEN,
      NGX_HTTP_WEBHOOK_API_NOT_IN_LIST },
    { ngx_string("\"description\":"), NGX_HTTP_WEBHOOK_API_V_DESCRIPTION, 0 },
    { ngx_string("\"scope\":"), NGX_HTTP_WEBHOOK_API_V_SCOPE, 0 },
    { ngx_string("\"organization\":"), NGX_HTTP_WEBHOOK_API_V_TENANT, 0 },
    { ngx_string("\"enabled\":"), NGX_HTTP_WEBHOOK_API_V_ENABLED, 0 },
    { ngx_string("\"disabled_reason\":"), NGX_HTTP_WEBHOOK_API_V_REASON, 0 },
    { ngx_string("\"createdAt\":"), NGX_HTTP_WEBHOOK_API_V_CREATED, 0 },
    { ngx_string("\"updatedAt\":"), NGX_HTTP_WEBHOOK_API_V_UPDATED, 0 },
    { ngx_string("\"__v\":"), NGX_HTTP_WEBHOOK_API_V_VERSION, 0 },
    { ngx_null_string, 0, 0 }
};


/*
 * Screver: its create example's keys, in its order.  Its list example
 * shows each secret, and so do its list items here: a tenant sees only
 * its own subscriptions, whose secrets create and get show it anyway.
 * Its update marks type and url "Required: No": its PUT changes only the
 * fields given, as PATCH does.  "enabled" is taken so that a
 * subscription disabled by failures can be enabled again.
 */
static ngx_http_webhook_api_alias_t  ngx_http_webhook_api_screver_aliases[] = {
    { "type", NGX_HTTP_WEBHOOK_API_ACTION },
    { "url", NGX_HTTP_WEBHOOK_API_TARGET_URL },
    { "secret", NGX_HTTP_WEBHOOK_API_SECRET },
    { "enabled", NGX_HTTP_WEBHOOK_API_ENABLED },
    { NULL, 0 }
};


static ngx_http_webhook_api_key_t  ngx_http_webhook_api_screver_keys[] = {
    { ngx_string("\"_id\":"), NGX_HTTP_WEBHOOK_API_V_ID, 0 },
    { ngx_string("\"type\":"), NGX_HTTP_WEBHOOK_API_V_ACTION, 0 },
    { ngx_string("\"company\":"), NGX_HTTP_WEBHOOK_API_V_TENANT, 0 },
    { ngx_string("\"url\":"), NGX_HTTP_WEBHOOK_API_V_TARGET_URL, 0 },
    { ngx_string("\"secret\":"), NGX_HTTP_WEBHOOK_API_V_SECRET, 0 },
    { ngx_string("\"disabled_reason\":"), NGX_HTTP_WEBHOOK_API_V_REASON, 0 },
    { ngx_string("\"createdAt\":"), NGX_HTTP_WEBHOOK_API_V_CREATED, 0 },
    { ngx_string("\"updatedAt\":"), NGX_HTTP_WEBHOOK_API_V_UPDATED, 0 },
    { ngx_string("\"__v\":"), NGX_HTTP_WEBHOOK_API_V_VERSION, 0 },
    { ngx_null_string, 0, 0 }
};


static ngx_uint_t  ngx_http_webhook_api_screver_limits[] = {
    5, 10, 25, 50, 100, 0
};


/*
 * Hub Planner: its create example's keys, in its order; it has no secret
 * of its own (the generated one still signs deliveries).  Its document
 * shows no list; list items omit the token as the default profile's do.
 */
static ngx_http_webhook_api_alias_t  ngx_http_webhook_api_hubplanner_aliases[] =
{
    { "event", NGX_HTTP_WEBHOOK_API_ACTION },
    { "target_url", NGX_HTTP_WEBHOOK_API_TARGET_URL },
    { "authorization_token", NGX_HTTP_WEBHOOK_API_TOKEN },
    { "enabled", NGX_HTTP_WEBHOOK_API_ENABLED },
    { NULL, 0 }
};


static ngx_http_webhook_api_key_t  ngx_http_webhook_api_hubplanner_keys[] = {
    { ngx_string("\"_id\":"), NGX_HTTP_WEBHOOK_API_V_ID, 0 },
    { ngx_string("\"companyId\":"), NGX_HTTP_WEBHOOK_API_V_TENANT, 0 },
    { ngx_string("\"creationDate\":"), NGX_HTTP_WEBHOOK_API_V_CREATED, 0 },
    { ngx_string("\"target_url\":"), NGX_HTTP_WEBHOOK_API_V_TARGET_URL, 0 },
    { ngx_string("\"event\":"), NGX_HTTP_WEBHOOK_API_V_ACTION, 0 },
    { ngx_string("\"authorization_token\":"), NGX_HTTP_WEBHOOK_API_V_TOKEN,
      NGX_HTTP_WEBHOOK_API_NOT_IN_LIST },
    { ngx_string("\"disabled_reason\":"), NGX_HTTP_WEBHOOK_API_V_REASON, 0 },
    { ngx_null_string, 0, 0 }
};


/* indexed by the location's api_profile, NGX_HTTP_WEBHOOK_PROFILE_* */
static ngx_http_webhook_api_profile_t  ngx_http_webhook_api_profiles[] = {

    /* NGX_HTTP_WEBHOOK_PROFILE_VYTE, the default */
    { ngx_string("default"),
      ngx_http_webhook_api_default_aliases,
      ngx_http_webhook_api_default_keys,
      ngx_string("hooks"),
      ngx_string("total"),
      ngx_string("organization"),
      ngx_http_webhook_api_secret,
      NULL, NULL, 0, 0, 0, 0 },

    /*
     * NGX_HTTP_WEBHOOK_PROFILE_VYTE2: its list is a bare array; its list
     * and get examples send "--request PUT" without a body
     */
    { ngx_string("vyte2"),
      ngx_http_webhook_api_default_aliases,
      ngx_http_webhook_api_default_keys,
      ngx_null_string,
      ngx_null_string,
      ngx_string("organization"),
      ngx_http_webhook_api_secret,
      NULL, NULL, 0, 0, 0, 1 },

    /* NGX_HTTP_WEBHOOK_PROFILE_SCREVER; its list example is newest first */
    { ngx_string("screver"),
      ngx_http_webhook_api_screver_aliases,
      ngx_http_webhook_api_screver_keys,
      ngx_string("resources"),
      ngx_string("total"),
      ngx_null_string,
      ngx_http_webhook_api_secret_uuid,
      ngx_http_webhook_api_screver_limits,
      "limit is required and must be one of 5, 10, 25, 50, 100",
      1, 1, 1, 0 },

    /* NGX_HTTP_WEBHOOK_PROFILE_HUBPLANNER */
    { ngx_string("hubplanner"),
      ngx_http_webhook_api_hubplanner_aliases,
      ngx_http_webhook_api_hubplanner_keys,
      ngx_null_string,
      ngx_null_string,
      ngx_null_string,
      ngx_http_webhook_api_secret,
      NULL, NULL, 0, 0, 0, 0 }
};


/* in host byte order; blocked unless allowed (DESIGN §5) */
static ngx_http_webhook_in_range_t  ngx_http_webhook_in_blocked_ranges[] = {
    { 0x00000000, 0xff000000 },              /* 0.0.0.0/8 "this network" */
    { 0x0a000000, 0xff000000 },              /* 10.0.0.0/8 */
    { 0x64400000, 0xffc00000 },              /* 100.64.0.0/10 CGNAT */
    { 0x7f000000, 0xff000000 },              /* 127.0.0.0/8 loopback */
    { 0xa9fe0000, 0xffff0000 },              /* 169.254.0.0/16 link-local */
    { 0xac100000, 0xfff00000 },              /* 172.16.0.0/12 */
    { 0xc0000000, 0xffffff00 },              /* 192.0.0.0/24 IETF */
    { 0xc0000200, 0xffffff00 },              /* 192.0.2.0/24 TEST-NET-1 */
    { 0xc0586300, 0xffffff00 },              /* 192.88.99.0/24 6to4 relay */
    { 0xc0a80000, 0xffff0000 },              /* 192.168.0.0/16 */
    { 0xc6120000, 0xfffe0000 },              /* 198.18.0.0/15 benchmarks */
    { 0xc6336400, 0xffffff00 },              /* 198.51.100.0/24 TEST-NET-2 */
    { 0xcb007100, 0xffffff00 },              /* 203.0.113.0/24 TEST-NET-3 */
    { 0xe0000000, 0xf0000000 },              /* 224.0.0.0/4 multicast */
    { 0xf0000000, 0xf0000000 }               /* 240.0.0.0/4 reserved and
                                                255.255.255.255 */
};


#if (NGX_HAVE_INET6)

static ngx_http_webhook_in6_range_t  ngx_http_webhook_in6_blocked_ranges[] = {

    /* ::ffff:0:0/96 IPv4-mapped: as the IPv4 address */
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96, 12 },

    /* ::/96 unspecified, loopback, deprecated IPv4-compatible */
    { { 0 }, 96, 0 },

    /* 64:ff9b::/96 NAT64: as the IPv4 address */
    { { 0x00, 0x64, 0xff, 0x9b }, 96, 12 },

    /* 64:ff9b:1::/48 local-use NAT64 */
    { { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, 0 },

    /* 100::/64 discard-only */
    { { 0x01, 0x00 }, 64, 0 },

    /* 2001::/32 Teredo */
    { { 0x20, 0x01, 0x00, 0x00 }, 32, 0 },

    /* 2001:db8::/32 documentation */
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, 0 },

    /* 2002::/16 6to4: as the IPv4 address */
    { { 0x20, 0x02 }, 16, 2 },

    /* 3fff::/20 documentation */
    { { 0x3f, 0xff }, 20, 0 },

    /* fc00::/7 unique-local */
    { { 0xfc }, 7, 0 },

    /* fe80::/10 link-local */
    { { 0xfe, 0x80 }, 10, 0 },

    /* fec0::/10 site-local, deprecated */
    { { 0xfe, 0xc0 }, 10, 0 },

    /* ff00::/8 multicast */
    { { 0xff }, 8, 0 }
};

#endif


ngx_int_t
ngx_http_webhook_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    n;
    ngx_http_webhook_api_ctx_t   *ctx;
    ngx_http_webhook_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);

    if (wlcf->api_store == NULL || wlcf->tenant == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "webhook_api location without a zone or a tenant");
        return ngx_http_webhook_json_internal_error(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_webhook_api_ctx_t));
    if (ctx == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    n = sizeof(ngx_http_webhook_api_profiles)
        / sizeof(ngx_http_webhook_api_profile_t);

    ctx->wlcf = wlcf;
    ctx->profile = &ngx_http_webhook_api_profiles[wlcf->api_profile < n
                                                  ? wlcf->api_profile : 0];

    ngx_http_set_ctx(r, ctx, ngx_http_webhook_module);

    if (ngx_http_complex_value(r, wlcf->tenant, &ctx->tenant) != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (!ngx_http_webhook_json_tenant_valid(&ctx->tenant)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "webhook api: invalid tenant \"%V\"", &ctx->tenant);

        return ngx_http_webhook_json_error(r, NGX_HTTP_UNAUTHORIZED,
                                           "unauthorized",
                                           "no valid tenant for this request",
                                           NULL);
    }

    rc = ngx_http_webhook_api_route(r, ctx);

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                           "not found", NULL);
    }

    if (rc == NGX_HTTP_NOT_ALLOWED) {
        if (ngx_http_webhook_json_add_header(r, &ngx_http_webhook_api_allow,
                                             ctx->allow)
            != NGX_OK)
        {
            return ngx_http_webhook_json_internal_error(r);
        }

        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "method not allowed here", NULL);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook api: op %ui tenant \"%V\" id \"%V\"",
                   ctx->op, &ctx->tenant, &ctx->id);

    /*
     * While another nginx owns the state (a binary upgrade), reads wait
     * too: this instance's copy may be behind what the owner answers.
     */

    rc = ngx_http_webhook_json_wait_writable(r, wlcf->api_store,
                                             ngx_http_webhook_api_run);

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    return ngx_http_webhook_api_run(r, NGX_OK);
}


static ngx_int_t
ngx_http_webhook_api_run(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_webhook_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    if (rc != NGX_OK
        && ctx->op != NGX_HTTP_WEBHOOK_API_LIST
        && ctx->op != NGX_HTTP_WEBHOOK_API_GET
        && ctx->op != NGX_HTTP_WEBHOOK_API_ATTEMPTS)
    {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    /* a read still not writable after the wait: the copy loaded here */

    if (ctx->op == NGX_HTTP_WEBHOOK_API_REPLACE && ctx->profile->put_merges) {
        ctx->op = NGX_HTTP_WEBHOOK_API_MODIFY;
    }

    if (ctx->op == NGX_HTTP_WEBHOOK_API_CREATE
        || ctx->op == NGX_HTTP_WEBHOOK_API_REPLACE
        || ctx->op == NGX_HTTP_WEBHOOK_API_MODIFY)
    {
        return ngx_http_webhook_api_read(r, ctx);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    switch (ctx->op) {

    case NGX_HTTP_WEBHOOK_API_LIST:
        return ngx_http_webhook_api_list(r, ctx);

    case NGX_HTTP_WEBHOOK_API_GET:
        return ngx_http_webhook_api_get(r, ctx);

    case NGX_HTTP_WEBHOOK_API_ATTEMPTS:
        return ngx_http_webhook_api_attempts(r, ctx);

    default: /* DELETE, TEST, REDELIVER */
        return ngx_http_webhook_api_write(r, ctx);
    }
}


/*
 * Routes by the URI relative to the location's prefix P: "P" and "P/" are
 * the collection, "P/{id}" (and "P/{id}/") one subscription.  Returns
 * NGX_OK with ctx->op set, NGX_DECLINED for a 404, NGX_HTTP_NOT_ALLOWED
 * with ctx->allow set for a 405.
 */

static ngx_int_t
ngx_http_webhook_api_route(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    u_char                    *p, *last;
    ngx_str_t                  sub;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ctx->prefix = clcf->name;

    if (ctx->prefix.len && ctx->prefix.data[ctx->prefix.len - 1] == '/') {
        ctx->prefix.len--;
    }

    if (r->uri.len < ctx->prefix.len
        || ngx_strncmp(r->uri.data, ctx->prefix.data, ctx->prefix.len) != 0)
    {
        return NGX_DECLINED;
    }

    p = r->uri.data + ctx->prefix.len;
    last = r->uri.data + r->uri.len;

    if (p == last || (last - p == 1 && *p == '/')) {

        switch (r->method) {

        case NGX_HTTP_PUT:
            if (!ngx_http_webhook_api_put_reads(r, ctx)) {
                break;
            }

            /* fall through */

        case NGX_HTTP_GET:
        case NGX_HTTP_HEAD:
            ctx->op = NGX_HTTP_WEBHOOK_API_LIST;
            return NGX_OK;

        case NGX_HTTP_POST:
            ctx->op = NGX_HTTP_WEBHOOK_API_CREATE;
            return NGX_OK;
        }

        ctx->allow = &ngx_http_webhook_api_allow_collection;
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (*p++ != '/') {
        return NGX_DECLINED;
    }

    ctx->id.data = p;

    while (p < last && *p != '/') {
        p++;
    }

    ctx->id.len = p - ctx->id.data;

    if (!ngx_http_webhook_api_id_valid(&ctx->id)) {
        return NGX_DECLINED;
    }

    sub.data = p;
    sub.len = last - p;

    if (sub.len > 1) {
        return ngx_http_webhook_api_route_sub(r, ctx, &sub);
    }

    switch (r->method) {

    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        ctx->op = NGX_HTTP_WEBHOOK_API_GET;
        return NGX_OK;

    case NGX_HTTP_PUT:
        ctx->op = ngx_http_webhook_api_put_reads(r, ctx)
                  ? NGX_HTTP_WEBHOOK_API_GET : NGX_HTTP_WEBHOOK_API_REPLACE;
        return NGX_OK;

    case NGX_HTTP_PATCH:
        ctx->op = NGX_HTTP_WEBHOOK_API_MODIFY;
        return NGX_OK;

    case NGX_HTTP_DELETE:
        ctx->op = NGX_HTTP_WEBHOOK_API_DELETE;
        return NGX_OK;

    default:
        ctx->allow = &ngx_http_webhook_api_allow_item;
        return NGX_HTTP_NOT_ALLOWED;
    }
}


/*
 * Vyte API v2's list and get examples send "--request PUT" with no body:
 * where the profile says so, such a PUT reads (a PUT with a body still
 * replaces).
 */

static ngx_uint_t
ngx_http_webhook_api_put_reads(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    return ctx->profile->put_reads
           && r->headers_in.content_length_n <= 0
           && !r->headers_in.chunked;
}


/*
 * The resources under one subscription, "sub" being what follows
 * "P/{id}" (it starts with '/'):
 *
 *     POST  /test                          202  queue a connection.test
 *     POST  /secret/rotate                 200  new secret, grace period
 *     GET   /deliveries                    200  the attempt log
 *     POST  /deliveries/{event_id}/retry   202  a failed delivery again
 *
 * Each comes with its own issue and sets its own ctx->op here; until
 * then, like any other path, they are not found.
 */

static ngx_int_t
ngx_http_webhook_api_route_sub(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *sub)
{
    u_char  *p, *last;

    static ngx_str_t  allow_post = ngx_string("POST");
    static ngx_str_t  allow_get = ngx_string("GET, HEAD");

    if (sub->len == 5 && ngx_strncmp(sub->data, "/test", 5) == 0) {

        if (r->method != NGX_HTTP_POST) {
            ctx->allow = &allow_post;
            return NGX_HTTP_NOT_ALLOWED;
        }

        ctx->op = NGX_HTTP_WEBHOOK_API_TEST;
        return NGX_OK;
    }

    if (sub->len == 14 && ngx_strncmp(sub->data, "/secret/rotate", 14) == 0) {

        if (r->method != NGX_HTTP_POST) {
            ctx->allow = &allow_post;
            return NGX_HTTP_NOT_ALLOWED;
        }

        ctx->op = NGX_HTTP_WEBHOOK_API_ROTATE;
        return NGX_OK;
    }

    if (sub->len == 11 && ngx_strncmp(sub->data, "/deliveries", 11) == 0) {

        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
            ctx->allow = &allow_get;
            return NGX_HTTP_NOT_ALLOWED;
        }

        ctx->op = NGX_HTTP_WEBHOOK_API_ATTEMPTS;
        return NGX_OK;
    }

    /* /deliveries/{event_id}/retry */

    if (sub->len > 12 + 6
        && ngx_strncmp(sub->data, "/deliveries/", 12) == 0
        && ngx_strncmp(sub->data + sub->len - 6, "/retry", 6) == 0)
    {
        p = sub->data + 12;
        last = sub->data + sub->len - 6;

        ctx->event_id.data = p;
        ctx->event_id.len = last - p;

        if (ctx->event_id.len > 68) {
            return NGX_DECLINED;
        }

        for ( /* void */ ; p < last; p++) {
            if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')
                && !(*p >= '0' && *p <= '9') && *p != '_' && *p != '-')
            {
                return NGX_DECLINED;
            }
        }

        if (r->method != NGX_HTTP_POST) {
            ctx->allow = &allow_post;
            return NGX_HTTP_NOT_ALLOWED;
        }

        ctx->op = NGX_HTTP_WEBHOOK_API_REDELIVER;
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook api: no sub-resource \"%V\"", sub);

    return NGX_DECLINED;
}


/* GET P/{id}/deliveries: {"attempts":[...],"total":N}, newest first */

static ngx_int_t
ngx_http_webhook_api_attempts(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    u_char                      *p, *body;
    size_t                       len;
    ngx_int_t                    rc;
    ngx_uint_t                   i, total;
    ngx_array_t                  attempts;
    ngx_http_webhook_attempt_t  *a;

    static const char  *errors[] = {
        NULL, "blocked_address", "connect_failed", "timeout", "tls_failed",
        "bad_status", "redirected", "disabled", "pending_limit"
    };

    static const char  *states[] = { "pending", "delivered", "failed" };

    if (ngx_array_init(&attempts, r->pool, 8,
                       sizeof(ngx_http_webhook_attempt_t))
        != NGX_OK)
    {
        return ngx_http_webhook_json_internal_error(r);
    }

    rc = ngx_http_webhook_store_attempts(ctx->wlcf->api_store, &ctx->tenant,
                                         &ctx->id, r->pool, &attempts,
                                         &total);
    if (rc != NGX_OK) {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    a = attempts.elts;

    len = sizeof("{\"attempts\":[],\"total\":}") + NGX_INT_T_LEN;

    for (i = 0; i < attempts.nelts; i++) {
        len += sizeof("{\"event_id\":\"\",\"action\":\"\",\"attempt\":,"
                      "\"at\":\"\",\"status\":,\"duration_ms\":,"
                      "\"error\":\"\",\"state\":\"\"},")
               + ngx_http_webhook_json_escape_len(&a[i].event_id)
               + ngx_http_webhook_json_escape_len(&a[i].action)
               + 3 * NGX_INT_T_LEN + NGX_HTTP_WEBHOOK_JSON_TIME_LEN + 32;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_cpymem(body, "{\"attempts\":[", sizeof("{\"attempts\":[") - 1);

    for (i = 0; i < attempts.nelts; i++) {

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"event_id\":\"", sizeof("{\"event_id\":\"") - 1);
        p = ngx_http_webhook_json_escape(p, &a[i].event_id);
        p = ngx_cpymem(p, "\",\"action\":\"", sizeof("\",\"action\":\"") - 1);
        p = ngx_http_webhook_json_escape(p, &a[i].action);
        p = ngx_sprintf(p, "\",\"attempt\":%ui,\"at\":\"", a[i].attempt);
        p = ngx_http_webhook_json_time(p, a[i].at);

        if (a[i].status) {
            p = ngx_sprintf(p, "\",\"status\":%ui", a[i].status);

        } else {
            p = ngx_cpymem(p, "\",\"status\":null",
                           sizeof("\",\"status\":null") - 1);
        }

        p = ngx_sprintf(p, ",\"duration_ms\":%M,\"error\":", a[i].duration);

        if (a[i].error && a[i].error < sizeof(errors) / sizeof(errors[0])) {
            p = ngx_sprintf(p, "\"%s\"", errors[a[i].error]);

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_sprintf(p, ",\"state\":\"%s\"}",
                        states[a[i].state < 3 ? a[i].state : 2]);
    }

    p = ngx_sprintf(p, "],\"total\":%ui}", total);

    return ngx_http_webhook_json_send(r, NGX_HTTP_OK, body, p - body);
}


static ngx_int_t
ngx_http_webhook_api_list(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    ngx_int_t                        rc, n;
    ngx_str_t                        value;
    ngx_uint_t                       total, *limit;
    ngx_array_t                      subs;
    ngx_http_webhook_api_key_t      *key;
    ngx_http_webhook_list_query_t    q;
    ngx_http_webhook_api_profile_t  *profile;

    ngx_memzero(&q, sizeof(ngx_http_webhook_list_query_t));

    profile = ctx->profile;

    q.tenant = ctx->tenant;
    q.sort = NGX_HTTP_WEBHOOK_SORT_CREATED;
    q.descending = profile->descending;

    /* the store copies secrets only for a profile whose lists show them */

    for (key = profile->keys; key->key.len; key++) {
        if ((key->value == NGX_HTTP_WEBHOOK_API_V_SECRET
             || key->value == NGX_HTTP_WEBHOOK_API_V_TOKEN)
            && !(key->flags & NGX_HTTP_WEBHOOK_API_NOT_IN_LIST))
        {
            q.secrets = 1;
        }
    }

    rc = ngx_http_webhook_api_arg(r, "limit", &value);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (profile->limits) {
        n = (rc == NGX_OK) ? ngx_atoi(value.data, value.len) : NGX_ERROR;

        for (limit = profile->limits; *limit; limit++) {
            if ((ngx_uint_t) n == *limit) {
                break;
            }
        }

        if (n == NGX_ERROR || *limit == 0) {
            return ngx_http_webhook_json_error(r,
                                    NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                    "validation_failed",
                                    profile->limit_message, "limit");
        }

        q.limit = n;

    } else if (rc == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_HTTP_WEBHOOK_API_LIMIT_MAX) {
            return ngx_http_webhook_json_error(r,
                                    NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                    "validation_failed",
                                    "limit must be an integer from 1 to 1000",
                                    "limit");
        }

        q.limit = n;
    }

    rc = ngx_http_webhook_api_arg(r, "skip", &value);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (rc == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n == NGX_ERROR) {
            return ngx_http_webhook_json_error(r,
                                    NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                    "validation_failed",
                                    "skip must be a non-negative integer",
                                    "skip");
        }

        q.skip = n;
    }

    rc = ngx_http_webhook_api_arg(r, "sort", &value);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (rc == NGX_OK) {
        q.descending = 0;

        if (profile->sort_object) {
            rc = ngx_http_webhook_api_sort_object(&value, &q.descending);

        } else if (value.len && value.data[0] == '-') {
            q.descending = 1;
            value.data++;
            value.len--;
        }

        if (rc == NGX_OK
            && value.len == sizeof("createdAt") - 1
            && ngx_strncmp(value.data, "createdAt", value.len) == 0)
        {
            q.sort = NGX_HTTP_WEBHOOK_SORT_CREATED;

        } else if (rc == NGX_OK
                   && value.len == sizeof("updatedAt") - 1
                   && ngx_strncmp(value.data, "updatedAt", value.len) == 0)
        {
            q.sort = NGX_HTTP_WEBHOOK_SORT_UPDATED;

        } else {
            return ngx_http_webhook_json_error(r,
                                    NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                    "validation_failed",
                                    profile->sort_object
                                    ? "sort must be an object of one key, "
                                      "createdAt or updatedAt, valued 1 or "
                                      "-1, as { createdAt: -1 }"
                                    : "sort must be one of createdAt, "
                                      "-createdAt, updatedAt, -updatedAt",
                                    "sort");
        }
    }

    rc = ngx_http_webhook_api_arg(r, "action", &value);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (rc == NGX_OK) {
        q.action = value;
    }

    if (ngx_array_init(&subs, r->pool, 8, sizeof(ngx_http_webhook_sub_t))
        != NGX_OK)
    {
        return ngx_http_webhook_json_internal_error(r);
    }

    total = 0;

    rc = ngx_http_webhook_store_list(ctx->wlcf->api_store, &q, r->pool,
                                     &subs, &total);

    if (rc != NGX_OK) {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    return ngx_http_webhook_api_send_list(r, ctx, &subs, total);
}


/* NGX_DECLINED: absent or empty; the value is URL-decoded */

static ngx_int_t
ngx_http_webhook_api_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


/*
 * Screver's sort: an object of one key, written as its document does,
 * { createdAt: -1 }, or as JSON, {"createdAt":-1}; a '+' left in the query
 * by form encoding is a space.  The value becomes the key.
 */

static ngx_int_t
ngx_http_webhook_api_sort_object(ngx_str_t *value, ngx_uint_t *descending)
{
    u_char  *p, *last, *key, quote;

    p = value->data;
    last = p + value->len;

    p = ngx_http_webhook_api_space(p, last);

    if (p == last || *p++ != '{') {
        return NGX_DECLINED;
    }

    p = ngx_http_webhook_api_space(p, last);

    quote = 0;

    if (p < last && (*p == '"' || *p == '\'')) {
        quote = *p++;
    }

    key = p;

    while (p < last
           && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    {
        p++;
    }

    value->data = key;
    value->len = p - key;

    if (quote) {
        if (p == last || *p++ != quote) {
            return NGX_DECLINED;
        }
    }

    p = ngx_http_webhook_api_space(p, last);

    if (p == last || *p++ != ':') {
        return NGX_DECLINED;
    }

    p = ngx_http_webhook_api_space(p, last);

    *descending = 0;

    if (p < last && *p == '-') {
        *descending = 1;
        p++;
    }

    if (p == last || *p++ != '1') {
        return NGX_DECLINED;
    }

    p = ngx_http_webhook_api_space(p, last);

    if (p == last || *p++ != '}') {
        return NGX_DECLINED;
    }

    p = ngx_http_webhook_api_space(p, last);

    return (p == last) ? NGX_OK : NGX_DECLINED;
}


static u_char *
ngx_http_webhook_api_space(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '+')) {
        p++;
    }

    return p;
}


static ngx_int_t
ngx_http_webhook_api_get(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_webhook_store_get(ctx->wlcf->api_store, &ctx->tenant,
                                    &ctx->id, r->pool, &ctx->out);

    if (rc != NGX_OK) {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    return ngx_http_webhook_api_send_sub(r, ctx, NGX_HTTP_OK, &ctx->out);
}


static ngx_int_t
ngx_http_webhook_api_read(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_webhook_store_writable(ctx->wlcf->api_store);

    if (rc != NGX_OK) {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    return ngx_http_webhook_json_start_body(r, ctx->wlcf->max_body_size,
                                           ngx_http_webhook_api_body_handler);
}


static void
ngx_http_webhook_api_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_webhook_api_body(r));
}


static ngx_int_t
ngx_http_webhook_api_body(ngx_http_request_t *r)
{
    cJSON                       *json;
    ngx_int_t                    rc;
    ngx_str_t                    text;
    ngx_http_webhook_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    /* a chunked body has no Content-Length to check beforehand */

    rc = ngx_http_webhook_json_read_body(r, ctx->wlcf->max_body_size, &text);

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_too_large(r, ctx->wlcf->max_body_size);
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    /*
     * "\u0000" would cut a string short; as "\u001a" it is a control
     * character that the checks below refuse, naming the field.
     */

    (void) ngx_http_webhook_json_mark_nul(&text);

    rc = ngx_http_webhook_json_parse(r->pool, &text, &json);

    if (rc == NGX_ERROR) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the request body is not valid "
                                           "JSON", NULL);
    }

    if (!cJSON_IsObject(json)) {
        return ngx_http_webhook_json_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_json",
                                           "the request body must be "
                                           "a JSON object", NULL);
    }

    rc = ngx_http_webhook_api_fields(r, ctx, json);

    if (rc == NGX_DECLINED) {
        return ngx_http_webhook_json_error(r,
                                        NGX_HTTP_WEBHOOK_UNPROCESSABLE_ENTITY,
                                        "validation_failed",
                                        (char *) ctx->err, ctx->err_field);
    }

    if (rc != NGX_OK) {
        return ngx_http_webhook_json_internal_error(r);
    }

    if (ctx->op == NGX_HTTP_WEBHOOK_API_MODIFY && ctx->mask == 0) {

        /*
         * Nothing to change (an empty object, or only fields that PATCH
         * ignores): as a JSON merge patch would, answer the subscription
         * as it is, without a write and without moving __v.
         */

        return ngx_http_webhook_api_get(r, ctx);
    }

    return ngx_http_webhook_api_write(r, ctx);
}


/*
 * Reads the fields of the request object into ctx->sub and ctx->mask.
 * Unknown members are ignored (a subscription as GET returns it can be
 * sent back with PUT).  Several names of one field, or one name twice,
 * must agree.  NGX_DECLINED: a 422 is described in ctx.
 */

static ngx_int_t
ngx_http_webhook_api_fields(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, cJSON *json)
{
    char                          *name, *names[NGX_HTTP_WEBHOOK_API_NFIELDS];
    cJSON                         *item, *found[NGX_HTTP_WEBHOOK_API_NFIELDS];
    ngx_int_t                      rc;
    ngx_uint_t                     f, type, mask;
    ngx_http_webhook_sub_t        *sub;
    ngx_http_webhook_api_alias_t  *alias;

    ngx_memzero(found, sizeof(found));
    ngx_memzero(names, sizeof(names));

    for (item = json->child; item; item = item->next) {

        if (item->string == NULL) {
            continue;
        }

        for (alias = ctx->profile->aliases; alias->name; alias++) {
            if (ngx_strcmp(alias->name, item->string) == 0) {
                break;
            }
        }

        if (alias->name == NULL) {
            continue;
        }

        f = alias->field;

        /* the secret changes only by rotation: PUT and PATCH ignore it */

        if (f == NGX_HTTP_WEBHOOK_API_SECRET
            && ctx->op != NGX_HTTP_WEBHOOK_API_CREATE)
        {
            continue;
        }

        type = ngx_http_webhook_api_types[f];

        if ((type == NGX_HTTP_WEBHOOK_API_BOOLEAN && !cJSON_IsBool(item))
            || (type != NGX_HTTP_WEBHOOK_API_BOOLEAN
                && !(cJSON_IsString(item) && item->valuestring)
                && !(type == NGX_HTTP_WEBHOOK_API_NULLABLE
                     && cJSON_IsNull(item))))
        {
            return ngx_http_webhook_api_invalid(r, ctx, alias->name,
                                   "%s must be %s", alias->name,
                                   ngx_http_webhook_api_type_names[type]);
        }

        if (found[f]) {
            if (!ngx_http_webhook_api_same(found[f], item)) {
                name = ngx_http_webhook_api_field_name(ctx, f);

                return ngx_http_webhook_api_invalid(r, ctx, name,
                                                "%s: \"%s\" and \"%s\" "
                                                "differ", name, names[f],
                                                alias->name);
            }

            continue;
        }

        found[f] = item;
        names[f] = alias->name;
    }

    /* a field not given is named as the profile names it */

    for (f = 0; f < NGX_HTTP_WEBHOOK_API_NFIELDS; f++) {
        if (names[f] == NULL) {
            names[f] = ngx_http_webhook_api_field_name(ctx, f);
        }
    }

    sub = &ctx->sub;
    mask = 0;

    sub->tenant = ctx->tenant;
    sub->enabled = 1;

    item = found[NGX_HTTP_WEBHOOK_API_ACTION];
    name = names[NGX_HTTP_WEBHOOK_API_ACTION];

    if (item) {
        rc = ngx_http_webhook_api_string(r, ctx, item, name,
                                         NGX_HTTP_WEBHOOK_ACTION_MAX,
                                         &sub->action);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_webhook_api_check_action(r, ctx, &sub->action, name);
        if (rc != NGX_OK) {
            return rc;
        }

        mask |= NGX_HTTP_WEBHOOK_F_ACTION;

    } else if (ctx->op != NGX_HTTP_WEBHOOK_API_MODIFY) {
        return ngx_http_webhook_api_invalid(r, ctx, name, "%s is required",
                                            name);
    }

    item = found[NGX_HTTP_WEBHOOK_API_TARGET_URL];
    name = names[NGX_HTTP_WEBHOOK_API_TARGET_URL];

    if (item) {
        rc = ngx_http_webhook_api_string(r, ctx, item, name,
                                         NGX_HTTP_WEBHOOK_URL_MAX,
                                         &sub->target_url);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_webhook_api_check_url(r, ctx, &sub->target_url, name);
        if (rc != NGX_OK) {
            return rc;
        }

        mask |= NGX_HTTP_WEBHOOK_F_TARGET_URL;

    } else if (ctx->op != NGX_HTTP_WEBHOOK_API_MODIFY) {
        return ngx_http_webhook_api_invalid(r, ctx, name, "%s is required",
                                            name);
    }

    item = found[NGX_HTTP_WEBHOOK_API_SECRET];
    name = names[NGX_HTTP_WEBHOOK_API_SECRET];

    if (item && !cJSON_IsNull(item)) {
        rc = ngx_http_webhook_api_string(r, ctx, item, name,
                                         NGX_HTTP_WEBHOOK_SECRET_MAX,
                                         &sub->secret);
        if (rc != NGX_OK) {
            return rc;
        }

        if (sub->secret.len == 0) {
            return ngx_http_webhook_api_invalid(r, ctx, name,
                                                "%s must not be empty", name);
        }

        mask |= NGX_HTTP_WEBHOOK_F_SECRET;
    }

    /* null or "": none (PUT and PATCH: remove it) */

    item = found[NGX_HTTP_WEBHOOK_API_TOKEN];
    name = names[NGX_HTTP_WEBHOOK_API_TOKEN];

    if (item) {
        if (cJSON_IsString(item)) {
            rc = ngx_http_webhook_api_string(r, ctx, item, name,
                                             NGX_HTTP_WEBHOOK_TOKEN_MAX,
                                             &sub->token);
            if (rc != NGX_OK) {
                return rc;
            }

            sub->has_token = (sub->token.len != 0);
        }

        mask |= NGX_HTTP_WEBHOOK_F_TOKEN;
    }

    item = found[NGX_HTTP_WEBHOOK_API_DESCRIPTION];
    name = names[NGX_HTTP_WEBHOOK_API_DESCRIPTION];

    if (item) {
        if (cJSON_IsString(item)) {
            rc = ngx_http_webhook_api_string(r, ctx, item, name,
                                             NGX_HTTP_WEBHOOK_DESCRIPTION_MAX,
                                             &sub->description);
            if (rc != NGX_OK) {
                return rc;
            }

            sub->has_description = (sub->description.len != 0);
        }

        mask |= NGX_HTTP_WEBHOOK_F_DESCRIPTION;
    }

    item = found[NGX_HTTP_WEBHOOK_API_ENABLED];

    if (item) {
        sub->enabled = cJSON_IsTrue(item) ? 1 : 0;
        mask |= NGX_HTTP_WEBHOOK_F_ENABLED;
    }

    sub->disabled_reason = sub->enabled ? NGX_HTTP_WEBHOOK_DISABLED_NONE
                                        : NGX_HTTP_WEBHOOK_DISABLED_MANUAL;

    if (ctx->op == NGX_HTTP_WEBHOOK_API_CREATE
        && !(mask & NGX_HTTP_WEBHOOK_F_SECRET))
    {
        if (ctx->profile->secret(r, &sub->secret) != NGX_OK) {
            return NGX_ERROR;
        }

        mask |= NGX_HTTP_WEBHOOK_F_SECRET;
    }

    ctx->mask = mask;

    return NGX_OK;
}


/* a field's own name: the first of its names in the profile */

static char *
ngx_http_webhook_api_field_name(ngx_http_webhook_api_ctx_t *ctx,
    ngx_uint_t field)
{
    ngx_http_webhook_api_alias_t  *alias;

    for (alias = ctx->profile->aliases; alias->name; alias++) {
        if (alias->field == field) {
            return alias->name;
        }
    }

    return "";
}


/* both of one type (the caller checked them), and equal */

static ngx_uint_t
ngx_http_webhook_api_same(cJSON *a, cJSON *b)
{
    if ((a->type & 0xff) != (b->type & 0xff)) {
        return 0;
    }

    if (cJSON_IsString(a)) {
        return ngx_strcmp(a->valuestring, b->valuestring) == 0;
    }

    return 1;
}


static ngx_int_t
ngx_http_webhook_api_string(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, cJSON *item, char *name, size_t max,
    ngx_str_t *s)
{
    u_char  *p, *last;

    s->data = (u_char *) item->valuestring;
    s->len = ngx_strlen(s->data);

    /* CR and LF would reach request headers of deliveries */

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return ngx_http_webhook_api_invalid(r, ctx, name,
                                                "%s must not contain "
                                                "control characters", name);
        }
    }

    if (!ngx_http_webhook_json_utf8_valid(s->data, s->len)) {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                                            "%s must be valid UTF-8", name);
    }

    if (s->len > max) {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                                            "%s must be at most %uz bytes",
                                            name, max);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_api_check_action(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *action, char *name)
{
    ngx_str_t    *ev, prefix;
    ngx_uint_t    i;
    ngx_array_t  *events;

    if (action->len == 0) {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                                            "%s must not be empty", name);
    }

    /* "*" and "prefix.*" are always allowed */

    if (action->len == 1 && action->data[0] == '*') {
        return NGX_OK;
    }

    if (action->len > 2
        && action->data[action->len - 2] == '.'
        && action->data[action->len - 1] == '*')
    {
        prefix.data = action->data;
        prefix.len = action->len - 2;

        if (ngx_http_webhook_json_word(&prefix, NGX_HTTP_WEBHOOK_ACTION_MAX,
                                       "_.:-"))
        {
            return NGX_OK;
        }

        return ngx_http_webhook_api_invalid(r, ctx, name,
                                            "%s: the prefix of a pattern may "
                                            "contain only letters, digits, "
                                            "\"_\", \".\", \":\" and \"-\"",
                                            name);
    }

    /* the length was checked with the string */

    if (!ngx_http_webhook_json_word(action, NGX_HTTP_WEBHOOK_ACTION_MAX,
                                    "_.:-"))
    {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                                            "%s may contain only letters, "
                                            "digits, \"_\", \".\", \":\" and "
                                            "\"-\", or be \"*\" or "
                                            "\"prefix.*\"", name);
    }

    events = ctx->wlcf->events;

    if (events == NULL || events == NGX_CONF_UNSET_PTR) {
        return NGX_OK;
    }

    ev = events->elts;

    for (i = 0; i < events->nelts; i++) {
        if (ev[i].len == action->len
            && ngx_strncmp(ev[i].data, action->data, action->len) == 0)
        {
            return NGX_OK;
        }
    }

    return ngx_http_webhook_api_invalid(r, ctx, name, "unknown %s \"%V\"",
                                        name, action);
}


static ngx_int_t
ngx_http_webhook_api_check_url(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_str_t *url, char *name)
{
    char                    *err;
    ngx_uint_t               schemes;
    ngx_array_t             *cidrs;
    struct sockaddr         *sa;
    struct sockaddr_in       sin;
    ngx_http_webhook_url_t   u;

    err = ngx_http_webhook_url_parse(url, &u);

    if (err) {
        return ngx_http_webhook_api_invalid(r, ctx, name, "%s %s", name, err);
    }

    schemes = ctx->wlcf->schemes;

    if (schemes == 0 || schemes == NGX_CONF_UNSET_UINT) {
        schemes = NGX_HTTP_WEBHOOK_SCHEME_HTTPS;
    }

    if (!(u.scheme_bit & schemes)) {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                     "%s: scheme \"%V\" is not allowed (allowed: %s)",
                     name, &u.scheme,
                     (schemes & NGX_HTTP_WEBHOOK_SCHEME_HTTP)
                     ? "https, http" : "https");
    }

    if (ctx->wlcf->allow_private == 1) {
        return NGX_OK;
    }

    if (u.socklen) {
        sa = &u.sockaddr.sockaddr;

    } else if (ngx_http_webhook_api_localhost(&u.host)) {

        /* RFC 6761: always loopback, whatever DNS says */

        ngx_memzero(&sin, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        sa = (struct sockaddr *) &sin;

    } else {
        /* names are checked after resolution, at every delivery */
        return NGX_OK;
    }

    cidrs = ctx->wlcf->private_cidrs;

    if (cidrs == NGX_CONF_UNSET_PTR) {
        cidrs = NULL;
    }

    if (ngx_http_webhook_addr_blocked(sa, cidrs)) {
        return ngx_http_webhook_api_invalid(r, ctx, name,
                     "%s: address \"%V\" is private, loopback or reserved, "
                     "and is not allowed", name, &u.host);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_webhook_api_localhost(ngx_str_t *host)
{
    size_t   len;
    u_char  *p;

    p = host->data;
    len = host->len;

    if (len && p[len - 1] == '.') {
        len--;
    }

    if (len < sizeof("localhost") - 1) {
        return 0;
    }

    p += len - (sizeof("localhost") - 1);

    if (ngx_strncasecmp(p, (u_char *) "localhost", sizeof("localhost") - 1)
        != 0)
    {
        return 0;
    }

    return p == host->data || p[-1] == '.';
}


/* describes a 422 in ctx and returns NGX_DECLINED */

static ngx_int_t
ngx_http_webhook_api_invalid(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, char *field, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ctx->err = ngx_http_webhook_json_vmessage(r->pool, fmt, args);
    va_end(args);

    if (ctx->err == NULL) {
        return NGX_ERROR;
    }

    ctx->err_field = field;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook api: invalid \"%s\": %s", field, ctx->err);

    return NGX_DECLINED;
}


/*
 * Creates, updates or deletes.  A store that answers later (NGX_AGAIN,
 * e.g. once an fsync covering the change has finished) gets the request
 * held: r->main->count keeps it open, r->main->blocked keeps
 * ngx_http_terminate_request() from freeing it while the store still has
 * it; the store handler then sends the response and finalizes.
 */

static ngx_int_t
ngx_http_webhook_api_write(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_http_webhook_store_t  *store;

    store = ctx->wlcf->api_store;

    ngx_http_webhook_json_hold(r);

    switch (ctx->op) {

    case NGX_HTTP_WEBHOOK_API_CREATE:
        rc = ngx_http_webhook_store_create(store, &ctx->sub,
                                           ctx->wlcf->max_subscriptions,
                                           r->pool, &ctx->out,
                                           ngx_http_webhook_api_store_handler,
                                           r);
        break;

    case NGX_HTTP_WEBHOOK_API_DELETE:
        rc = ngx_http_webhook_store_delete(store, &ctx->tenant, &ctx->id,
                                           ngx_http_webhook_api_store_handler,
                                           r);
        break;

    case NGX_HTTP_WEBHOOK_API_TEST:
        rc = ngx_http_webhook_api_test(r, ctx);
        break;

    case NGX_HTTP_WEBHOOK_API_ROTATE:
        if (ctx->profile->secret(r, &ctx->sub.secret) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        rc = ngx_http_webhook_store_rotate(store, &ctx->tenant, &ctx->id,
                                           &ctx->sub.secret,
                                           ctx->wlcf->secret_grace, r->pool,
                                           &ctx->out,
                                           ngx_http_webhook_api_store_handler,
                                           r);
        break;

    case NGX_HTTP_WEBHOOK_API_REDELIVER:
        rc = ngx_http_webhook_store_redeliver(store, &ctx->tenant, &ctx->id,
                                            &ctx->event_id,
                                            ngx_http_webhook_api_store_handler,
                                            r);
        break;

    default: /* REPLACE, MODIFY */
        rc = ngx_http_webhook_store_update(store, &ctx->tenant, &ctx->id,
                                           ctx->mask, &ctx->sub, r->pool,
                                           &ctx->out,
                                           ngx_http_webhook_api_store_handler,
                                           r);
        break;
    }

    return ngx_http_webhook_json_held(r, rc, ngx_http_webhook_api_done);
}


static void
ngx_http_webhook_api_store_handler(void *data, ngx_int_t rc)
{
    ngx_http_webhook_json_resume(data, rc, ngx_http_webhook_api_done);
}


/* the response to a write, whether the store answered at once or later */

static ngx_int_t
ngx_http_webhook_api_done(ngx_http_request_t *r, ngx_int_t rc)
{
    u_char                      *p;
    ngx_str_t                   *location;
    ngx_http_webhook_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_webhook_module);

    if (rc != NGX_OK) {
        return ngx_http_webhook_api_store_error(r, rc);
    }

    switch (ctx->op) {

    case NGX_HTTP_WEBHOOK_API_CREATE:

        /* as given: relative, whatever absolute_redirect says */

        location = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (location == NULL) {
            return ngx_http_webhook_json_internal_error(r);
        }

        location->len = ctx->prefix.len + 1 + ctx->out.id.len;

        location->data = ngx_pnalloc(r->pool, location->len);
        if (location->data == NULL) {
            return ngx_http_webhook_json_internal_error(r);
        }

        p = ngx_cpymem(location->data, ctx->prefix.data, ctx->prefix.len);
        *p++ = '/';
        ngx_memcpy(p, ctx->out.id.data, ctx->out.id.len);

        if (ngx_http_webhook_json_add_header(r,
                                             &ngx_http_webhook_api_location,
                                             location)
            != NGX_OK)
        {
            return ngx_http_webhook_json_internal_error(r);
        }

        return ngx_http_webhook_api_send_sub(r, ctx, NGX_HTTP_CREATED,
                                             &ctx->out);

    case NGX_HTTP_WEBHOOK_API_DELETE:
        return ngx_http_webhook_json_send(r, NGX_HTTP_NO_CONTENT, NULL, 0);

    case NGX_HTTP_WEBHOOK_API_TEST:
    case NGX_HTTP_WEBHOOK_API_REDELIVER:
        ngx_http_webhook_deliver_wake((ngx_cycle_t *) ngx_cycle,
                                      ctx->wlcf->api_store);
        return ngx_http_webhook_api_accepted(r, ctx);

    default: /* REPLACE, MODIFY */
        return ngx_http_webhook_api_send_sub(r, ctx, NGX_HTTP_OK, &ctx->out);
    }
}


/* POST P/{id}/test: a connection.test event to this subscription only */

static ngx_int_t
ngx_http_webhook_api_test(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    u_char                           *p;
    ngx_http_webhook_event_t          ev;
    ngx_http_webhook_publish_conf_t   pcf;

    ngx_memzero(&ev, sizeof(ngx_http_webhook_event_t));
    ngx_memzero(&pcf, sizeof(ngx_http_webhook_publish_conf_t));

    ev.tenant = ctx->tenant;
    ngx_str_set(&ev.action, "connection.test");

    ev.payload.len = sizeof("{\"action\":\"connection.test\","
                            "\"organization\":\"\",\"user\":null,"
                            "\"resource\":null}") - 1 + ctx->tenant.len;

    ev.payload.data = ngx_pnalloc(r->pool, ev.payload.len);
    if (ev.payload.data == NULL) {
        return NGX_ERROR;
    }

    /* the tenant's characters need no escaping */

    p = ngx_sprintf(ev.payload.data,
                    "{\"action\":\"connection.test\",\"organization\":\"%V\","
                    "\"user\":null,\"resource\":null}", &ctx->tenant);
    ev.payload.len = p - ev.payload.data;

    pcf.idempotency = ctx->wlcf->idempotency;
    pcf.only = ctx->id;

    return ngx_http_webhook_store_publish(ctx->wlcf->api_store, &ev, 1, &pcf,
                                          r->pool, &ctx->published,
                                          ngx_http_webhook_api_store_handler,
                                          r);
}


/* 202 {"id":EVENT_ID,"deliveries":N} for /test, {"id":...} for a retry */

static ngx_int_t
ngx_http_webhook_api_accepted(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx)
{
    u_char     *p, *body;
    ngx_str_t  *id;

    id = (ctx->op == NGX_HTTP_WEBHOOK_API_TEST) ? &ctx->published.id
                                                : &ctx->event_id;

    body = ngx_pnalloc(r->pool, sizeof("{\"id\":\"\",\"deliveries\":}")
                                + ngx_http_webhook_json_escape_len(id)
                                + NGX_INT_T_LEN);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_cpymem(body, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = ngx_http_webhook_json_escape(p, id);

    if (ctx->op == NGX_HTTP_WEBHOOK_API_TEST) {
        p = ngx_sprintf(p, "\",\"deliveries\":%ui}",
                        ctx->published.deliveries);

    } else {
        p = ngx_cpymem(p, "\"}", 2);
    }

    return ngx_http_webhook_json_send(r, NGX_HTTP_ACCEPTED, body, p - body);
}


static ngx_int_t
ngx_http_webhook_api_store_error(ngx_http_request_t *r, ngx_int_t rc)
{
    switch (rc) {

    case NGX_HTTP_WEBHOOK_STORE_NOT_FOUND:
        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                           "subscription not found", NULL);

    case NGX_BUSY:
        return ngx_http_webhook_json_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                           "too_many_requests",
                                           "at most one test a second", NULL);

    case NGX_DECLINED:
        return ngx_http_webhook_json_error(r, NGX_HTTP_CONFLICT, "conflict",
                                           "the delivery has not failed",
                                           NULL);

    case NGX_HTTP_WEBHOOK_STORE_NO_DELIVERY:
        return ngx_http_webhook_json_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                           "no delivery of this event to "
                                           "this subscription", NULL);

    case NGX_HTTP_WEBHOOK_STORE_DISABLED:
        return ngx_http_webhook_json_error(r, NGX_HTTP_CONFLICT, "conflict",
                                           "the subscription is disabled",
                                           NULL);

    case NGX_HTTP_WEBHOOK_STORE_LIMIT:
        return ngx_http_webhook_json_error(r, NGX_HTTP_FORBIDDEN,
                                           "limit_reached",
                                           "the organization has reached "
                                           "its subscription limit", NULL);

    default:
        return ngx_http_webhook_json_store_error(r, rc);
    }
}


/* "whsec_" + base64 of random bytes, as Standard Webhooks has it */

static ngx_int_t
ngx_http_webhook_api_secret(ngx_http_request_t *r, ngx_str_t *secret)
{
    ngx_str_t  src, dst;
    u_char     buf[NGX_HTTP_WEBHOOK_API_SECRET_BYTES];

    if (RAND_bytes(buf, NGX_HTTP_WEBHOOK_API_SECRET_BYTES) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_ERROR;
    }

    secret->data = ngx_pnalloc(r->pool, sizeof("whsec_") - 1
                               + ngx_base64_encoded_length(sizeof(buf)));
    if (secret->data == NULL) {
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_ERROR;
    }

    src.data = buf;
    src.len = sizeof(buf);

    dst.data = ngx_cpymem(secret->data, "whsec_", sizeof("whsec_") - 1);

    ngx_encode_base64(&dst, &src);

    secret->len = sizeof("whsec_") - 1 + dst.len;

    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_OK;
}


/* a random (version 4) UUID, as Screver's secrets are */

static ngx_int_t
ngx_http_webhook_api_secret_uuid(ngx_http_request_t *r, ngx_str_t *secret)
{
    u_char  *p, buf[16];

    if (RAND_bytes(buf, sizeof(buf)) != 1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_ERROR;
    }

    buf[6] = (buf[6] & 0x0f) | 0x40;            /* version 4 */
    buf[8] = (buf[8] & 0x3f) | 0x80;            /* RFC 4122 variant */

    secret->data = ngx_pnalloc(r->pool, sizeof("xxxxxxxx-xxxx-xxxx-xxxx-"
                                               "xxxxxxxxxxxx") - 1);
    if (secret->data == NULL) {
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_ERROR;
    }

    p = ngx_hex_dump(secret->data, buf, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, buf + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, buf + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, buf + 8, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, buf + 10, 6);

    secret->len = p - secret->data;

    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_api_send_sub(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_uint_t status,
    ngx_http_webhook_sub_t *sub)
{
    u_char  *body, *p;

    body = ngx_pnalloc(r->pool, ngx_http_webhook_api_sub_len(ctx, sub, 0));
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = ngx_http_webhook_api_sub_write(body, ctx, sub, 0);

    return ngx_http_webhook_json_send(r, status, body, p - body);
}


static ngx_int_t
ngx_http_webhook_api_send_list(ngx_http_request_t *r,
    ngx_http_webhook_api_ctx_t *ctx, ngx_array_t *subs, ngx_uint_t total)
{
    size_t                           len;
    u_char                          *body, *p;
    ngx_uint_t                       i;
    ngx_http_webhook_sub_t          *sub;
    ngx_http_webhook_api_profile_t  *profile;

    profile = ctx->profile;
    sub = subs->elts;

    len = sizeof("{\"\":[],\"\":}") - 1 + profile->list_key.len
          + profile->total_key.len + NGX_INT_T_LEN;

    for (i = 0; i < subs->nelts; i++) {
        len += sizeof(",") - 1 + ngx_http_webhook_api_sub_len(ctx, &sub[i], 1);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return ngx_http_webhook_json_internal_error(r);
    }

    p = body;

    if (profile->list_key.len) {
        p = ngx_sprintf(p, "{\"%V\":", &profile->list_key);
    }

    *p++ = '[';

    for (i = 0; i < subs->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_webhook_api_sub_write(p, ctx, &sub[i], 1);
    }

    *p++ = ']';

    if (profile->list_key.len) {
        p = ngx_sprintf(p, ",\"%V\":%ui}", &profile->total_key, total);
    }

    return ngx_http_webhook_json_send(r, NGX_HTTP_OK, body, p - body);
}


/* an upper bound of what ngx_http_webhook_api_sub_write() writes */

static size_t
ngx_http_webhook_api_sub_len(ngx_http_webhook_api_ctx_t *ctx,
    ngx_http_webhook_sub_t *sub, ngx_uint_t list)
{
    size_t                         len;
    ngx_http_webhook_api_key_t    *k;
    ngx_http_webhook_api_value_t   v;

    len = sizeof("{}") - 1;

    for (k = ctx->profile->keys; k->key.len; k++) {

        if ((list && (k->flags & NGX_HTTP_WEBHOOK_API_NOT_IN_LIST))
            || !ngx_http_webhook_api_value(ctx, sub, k->value, &v))
        {
            continue;
        }

        len += sizeof(",") - 1 + k->key.len;

        switch (v.type) {

        case NGX_HTTP_WEBHOOK_API_T_STRING:
            len += sizeof("\"\"") - 1
                   + ngx_http_webhook_json_escape_len(&v.str);
            break;

        case NGX_HTTP_WEBHOOK_API_T_RAW:
            len += v.str.len;
            break;

        case NGX_HTTP_WEBHOOK_API_T_TIME:
            len += sizeof("\"\"") - 1 + NGX_HTTP_WEBHOOK_JSON_TIME_LEN;
            break;

        default: /* NGX_HTTP_WEBHOOK_API_T_NUMBER */
            len += NGX_INT64_LEN;
            break;
        }
    }

    return len;
}


static u_char *
ngx_http_webhook_api_sub_write(u_char *p, ngx_http_webhook_api_ctx_t *ctx,
    ngx_http_webhook_sub_t *sub, ngx_uint_t list)
{
    ngx_uint_t                     first;
    ngx_http_webhook_api_key_t    *k;
    ngx_http_webhook_api_value_t   v;

    *p++ = '{';
    first = 1;

    for (k = ctx->profile->keys; k->key.len; k++) {

        if ((list && (k->flags & NGX_HTTP_WEBHOOK_API_NOT_IN_LIST))
            || !ngx_http_webhook_api_value(ctx, sub, k->value, &v))
        {
            continue;
        }

        if (!first) {
            *p++ = ',';
        }

        first = 0;

        p = ngx_cpymem(p, k->key.data, k->key.len);

        switch (v.type) {

        case NGX_HTTP_WEBHOOK_API_T_STRING:
            *p++ = '"';
            p = ngx_http_webhook_json_escape(p, &v.str);
            *p++ = '"';
            break;

        case NGX_HTTP_WEBHOOK_API_T_RAW:
            p = ngx_cpymem(p, v.str.data, v.str.len);
            break;

        case NGX_HTTP_WEBHOOK_API_T_TIME:
            *p++ = '"';
            p = ngx_http_webhook_json_time(p, v.num);
            *p++ = '"';
            break;

        default: /* NGX_HTTP_WEBHOOK_API_T_NUMBER */
            p = ngx_sprintf(p, "%L", v.num);
            break;
        }
    }

    *p++ = '}';

    return p;
}


/* 0: the key is left out */

static ngx_uint_t
ngx_http_webhook_api_value(ngx_http_webhook_api_ctx_t *ctx,
    ngx_http_webhook_sub_t *sub, ngx_uint_t value,
    ngx_http_webhook_api_value_t *v)
{
    v->type = NGX_HTTP_WEBHOOK_API_T_STRING;

    switch (value) {

    case NGX_HTTP_WEBHOOK_API_V_ID:
        v->str = sub->id;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_ACTION:
        v->str = sub->action;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_TARGET_URL:
        v->str = sub->target_url;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_SECRET:
        v->str = sub->secret;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_TOKEN:
        v->str = sub->token;
        return sub->has_token;

    case NGX_HTTP_WEBHOOK_API_V_DESCRIPTION:
        v->str = sub->description;
        return sub->has_description;

    case NGX_HTTP_WEBHOOK_API_V_SCOPE:
        v->str = ctx->profile->scope;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_TENANT:
        v->str = sub->tenant.len ? sub->tenant : ctx->tenant;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_ENABLED:
        v->type = NGX_HTTP_WEBHOOK_API_T_RAW;

        if (sub->enabled) {
            ngx_str_set(&v->str, "true");

        } else {
            ngx_str_set(&v->str, "false");
        }

        return 1;

    case NGX_HTTP_WEBHOOK_API_V_REASON:

        if (sub->enabled
            || sub->disabled_reason == NGX_HTTP_WEBHOOK_DISABLED_NONE
            || sub->disabled_reason > NGX_HTTP_WEBHOOK_DISABLED_FAILING)
        {
            return 0;
        }

        v->str = ngx_http_webhook_api_reasons[sub->disabled_reason];
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_CREATED:
        v->type = NGX_HTTP_WEBHOOK_API_T_TIME;
        v->num = sub->created;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_UPDATED:
        v->type = NGX_HTTP_WEBHOOK_API_T_TIME;
        v->num = sub->updated;
        return 1;

    case NGX_HTTP_WEBHOOK_API_V_VERSION:
        v->type = NGX_HTTP_WEBHOOK_API_T_NUMBER;
        v->num = (int64_t) sub->version;
        return 1;

    default:
        return 0;
    }
}


static ngx_uint_t
ngx_http_webhook_api_id_valid(ngx_str_t *id)
{
    ngx_uint_t  i;

    if (id->len != NGX_HTTP_WEBHOOK_ID_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= '0' && id->data[i] <= '9')
              || (id->data[i] >= 'a' && id->data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


char *
ngx_http_webhook_url_parse(ngx_str_t *url, ngx_http_webhook_url_t *u)
{
    char                 *err;
    u_char                c, *p, *q, *last, *end;
    size_t                len;
    ngx_uint_t            port;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    ngx_memzero(u, sizeof(ngx_http_webhook_url_t));

    p = url->data;
    last = p + url->len;

    for (q = p; q < last; q++) {
        c = *q;

        if (c == ' ') {
            return "must not contain spaces";
        }

        if (c < 0x20 || c == 0x7f) {
            return "must not contain control characters";
        }

        if (c >= 0x80) {
            return "must contain only ASCII characters "
                   "(percent-encode the others)";
        }

        if (c == '#') {
            return "must not have a fragment";
        }

        if (c == '"' || c == '<' || c == '>' || c == '\\') {
            return "must not contain '\"', '<', '>' or '\\'";
        }
    }

    /* scheme "://" */

    for (q = p; q < last; q++) {
        c = *q;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (q > p && ((c >= '0' && c <= '9')
                          || c == '+' || c == '-' || c == '.')))
        {
            continue;
        }

        break;
    }

    if (q == p || last - q < 3 || ngx_strncmp(q, "://", 3) != 0) {
        return "must be an absolute URL (scheme://host/path)";
    }

    u->scheme.data = p;
    u->scheme.len = q - p;

    if (u->scheme.len == 5
        && ngx_strncasecmp(p, (u_char *) "https", 5) == 0)
    {
        u->scheme_bit = NGX_HTTP_WEBHOOK_SCHEME_HTTPS;
        u->port = 443;

    } else if (u->scheme.len == 4
               && ngx_strncasecmp(p, (u_char *) "http", 4) == 0)
    {
        u->scheme_bit = NGX_HTTP_WEBHOOK_SCHEME_HTTP;
        u->port = 80;
    }

    /* authority: up to the path or the query */

    p = q + 3;

    for (end = p; end < last && *end != '/' && *end != '?'; end++) {
        if (*end == '@') {
            return "must not contain user:password@";
        }
    }

    u->authority.data = p;
    u->authority.len = end - p;

    u->path.data = end;
    u->path.len = last - end;

    if (p == end) {
        return "must have a host";
    }

    if (*p == '[') {

        for (q = p + 1; q < end && *q != ']'; q++) { /* void */ }

        if (q == end) {
            return "has an invalid IPv6 address";
        }

        u->host.data = p + 1;
        u->host.len = q - (p + 1);

        if (ngx_strlchr(u->host.data, q, '%')) {
            return "must not have an IPv6 zone";
        }

#if (NGX_HAVE_INET6)

        sin6 = &u->sockaddr.sockaddr_in6;

        if (ngx_inet6_addr(u->host.data, u->host.len,
                           sin6->sin6_addr.s6_addr)
            != NGX_OK)
        {
            return "has an invalid IPv6 address";
        }

        sin6->sin6_family = AF_INET6;
        u->socklen = sizeof(struct sockaddr_in6);

#else
        return "has an IPv6 address, not supported here";
#endif

        p = q + 1;

    } else {

        for (q = p; q < end && *q != ':'; q++) { /* void */ }

        err = ngx_http_webhook_url_host(p, q - p, u);

        if (err) {
            return err;
        }

        p = q;
    }

    /* [":" port] */

    if (p < end) {

        if (*p++ != ':') {
            return "has an invalid host";
        }

        len = end - p;

        if (len == 0 || len > 5) {
            return "has an invalid port";
        }

        port = 0;

        for ( /* void */ ; p < end; p++) {
            if (*p < '0' || *p > '9') {
                return "has an invalid port";
            }

            port = port * 10 + (*p - '0');
        }

        if (port < 1 || port > 65535) {
            return "has an invalid port";
        }

        u->port = (in_port_t) port;
    }

    if (u->socklen) {
        ngx_inet_set_port(&u->sockaddr.sockaddr, u->port);
    }

    return NULL;
}


/* a name of letters, digits, '-' and '.', or a dotted-quad address */

static char *
ngx_http_webhook_url_host(u_char *p, size_t len, ngx_http_webhook_url_t *u)
{
    u_char      c;
    size_t      label;
    ngx_uint_t  i, numeric;

    if (len == 0) {
        return "must have a host";
    }

    u->host.data = p;
    u->host.len = len;

    if (len > NGX_HTTP_WEBHOOK_HOST_MAX + 1) {
        return "has a host name that is too long";
    }

    numeric = 1;
    label = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c == '.') {
            if (label == 0 || p[i - 1] == '-') {
                return "has an invalid host name";
            }

            label = 0;
            continue;
        }

        if (c == '-') {
            if (label == 0) {
                return "has an invalid host name";
            }

        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9')))
        {
            return "has an invalid host: only letters, digits, '-' and '.' "
                   "are allowed in a host name";
        }

        if (c < '0' || c > '9') {
            numeric = 0;
        }

        if (++label > NGX_HTTP_WEBHOOK_LABEL_MAX) {
            return "has an invalid host name";
        }
    }

    if (label && p[len - 1] == '-') {
        return "has an invalid host name";
    }

    if (!numeric) {
        if (label == 0) {
            /* a trailing dot, as in an absolute name */
            u->host.len--;
        }

        if (ngx_http_webhook_url_numeric_end(u->host.data, u->host.len)) {
            return "has an invalid IPv4 address";
        }

        return NULL;
    }

    /* digits and dots only: nothing but an IPv4 address reads so */

    if (ngx_http_webhook_url_inet(p, len,
                                  &u->sockaddr.sockaddr_in.sin_addr.s_addr)
        != NGX_OK)
    {
        return "has an invalid IPv4 address";
    }

    u->sockaddr.sockaddr_in.sin_family = AF_INET;
    u->socklen = sizeof(struct sockaddr_in);

    return NULL;
}


/*
 * A host whose last label is a number ("a.1", "0x7f000001") is an IPv4
 * address to WHATWG URL parsers and to inet_aton(), whatever DNS would
 * say: refused, as numeric hosts other than four decimal octets are, so
 * that no reader of the URL takes it for another address than the one
 * checked.
 */

static ngx_uint_t
ngx_http_webhook_url_numeric_end(u_char *p, size_t len)
{
    u_char  c, *last, *label;

    last = p + len;

    for (label = last; label > p && label[-1] != '.'; label--) {
        /* void */
    }

    if (last - label > 1 && label[0] == '0'
        && (label[1] == 'x' || label[1] == 'X'))
    {
        label += 2;

        while (label < last) {
            c = *label++;

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                  || (c >= 'A' && c <= 'F')))
            {
                return 0;
            }
        }

        return 1;
    }

    if (label == last) {
        return 0;
    }

    while (label < last) {
        c = *label++;

        if (c < '0' || c > '9') {
            return 0;
        }
    }

    return 1;
}


/*
 * Four decimal octets, no leading zeros (which inet_aton() would read as
 * octal: the address checked must be the address connected to).
 */

static ngx_int_t
ngx_http_webhook_url_inet(u_char *p, size_t len, in_addr_t *addr)
{
    u_char      *last;
    uint32_t     a;
    ngx_uint_t   octet, digits, dots;

    a = 0;
    octet = 0;
    digits = 0;
    dots = 0;

    for (last = p + len; p < last; p++) {

        if (*p >= '0' && *p <= '9') {

            if (digits == 1 && octet == 0) {
                return NGX_ERROR;
            }

            octet = octet * 10 + (*p - '0');

            if (octet > 255) {
                return NGX_ERROR;
            }

            digits++;
            continue;
        }

        if (*p == '.' && digits && dots < 3) {
            a = (a << 8) | octet;
            octet = 0;
            digits = 0;
            dots++;
            continue;
        }

        return NGX_ERROR;
    }

    if (dots != 3 || digits == 0) {
        return NGX_ERROR;
    }

    *addr = htonl((a << 8) | octet);

    return NGX_OK;
}


ngx_uint_t
ngx_http_webhook_addr_blocked(struct sockaddr *sa, ngx_array_t *allowed)
{
#if (NGX_HAVE_INET6)
    u_char                         *a;
    ngx_uint_t                      i, n, bytes, bits;
    struct sockaddr_in              sin;
    struct sockaddr_in6            *sin6;
    ngx_http_webhook_in6_range_t   *range;
#endif

    if (allowed && allowed->nelts && ngx_cidr_match(sa, allowed) == NGX_OK) {
        return 0;
    }

    switch (sa->sa_family) {

    case AF_INET:
        return ngx_http_webhook_in_blocked(
                                 ((struct sockaddr_in *) sa)->sin_addr.s_addr);

#if (NGX_HAVE_INET6)

    case AF_INET6:

        sin6 = (struct sockaddr_in6 *) sa;
        a = sin6->sin6_addr.s6_addr;

        range = ngx_http_webhook_in6_blocked_ranges;
        n = sizeof(ngx_http_webhook_in6_blocked_ranges)
            / sizeof(ngx_http_webhook_in6_range_t);

        for (i = 0; i < n; i++) {
            bytes = range[i].prefix / 8;
            bits = range[i].prefix % 8;

            if (ngx_memcmp(a, range[i].addr, bytes) != 0) {
                continue;
            }

            if (bits
                && ((a[bytes] ^ range[i].addr[bytes])
                    & (u_char) (0xff << (8 - bits))))
            {
                continue;
            }

            if (range[i].embedded == 0) {
                return 1;
            }

            /* the IPv4 address inside, allowed subnets included */

            ngx_memzero(&sin, sizeof(struct sockaddr_in));
            sin.sin_family = AF_INET;
            ngx_memcpy(&sin.sin_addr.s_addr, a + range[i].embedded, 4);

            return ngx_http_webhook_addr_blocked((struct sockaddr *) &sin,
                                                 allowed);
        }

        return 0;

#endif

    default:
        /* unix sockets and the like are never webhook targets */
        return 1;
    }
}


static ngx_uint_t
ngx_http_webhook_in_blocked(in_addr_t addr)
{
    uint32_t                      a;
    ngx_uint_t                    i, n;
    ngx_http_webhook_in_range_t  *range;

    a = ntohl(addr);

    range = ngx_http_webhook_in_blocked_ranges;
    n = sizeof(ngx_http_webhook_in_blocked_ranges)
        / sizeof(ngx_http_webhook_in_range_t);

    for (i = 0; i < n; i++) {
        if ((a & range[i].mask) == range[i].addr) {
            return 1;
        }
    }

    return 0;
}
