
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#ifndef _NGX_HTTP_WEBHOOK_API_H_INCLUDED_
#define _NGX_HTTP_WEBHOOK_API_H_INCLUDED_


#include "ngx_http_webhook_common.h"


/* a target URL taken apart by ngx_http_webhook_url_parse() */
typedef struct {
    ngx_str_t                   scheme;       /* as written */
    ngx_str_t                   authority;    /* host[:port] as written */
    ngx_str_t                   host;         /* an IPv6 one without [] */
    ngx_str_t                   path;         /* from '/' or '?' on; or "" */
    ngx_uint_t                  scheme_bit;   /* NGX_HTTP_WEBHOOK_SCHEME_*,
                                                 0: another scheme */
    in_port_t                   port;         /* given, else the scheme's */
    socklen_t                   socklen;      /* 0: the host is a name */
    ngx_sockaddr_t              sockaddr;     /* the IP literal and port */
} ngx_http_webhook_url_t;


/* the content handler of a webhook_api location */
ngx_int_t ngx_http_webhook_api_handler(ngx_http_request_t *r);

/*
 * Parses an absolute URL as subscriptions may use it: scheme "://" host
 * (a name of letters, digits, '-' and '.', a dotted-quad IPv4 address or
 * a bracketed IPv6 one) [":" port] [path] [query]; no user:password@, no
 * fragment, no spaces, ASCII only.  Any scheme passes: the caller checks
 * it against what is allowed.  Returns NULL, or what is wrong, phrased to
 * follow the field's name ("must not have a fragment").
 */
char *ngx_http_webhook_url_parse(ngx_str_t *url, ngx_http_webhook_url_t *u);

/*
 * 1 if delivery must not contact the address: loopback, private,
 * link-local, CGNAT, unspecified, multicast, reserved, documentation,
 * unique-local IPv6, and IPv4-mapped, NAT64 and 6to4 IPv6 addresses that
 * embed such an IPv4 one; unless it is inside one of "allowed" (ngx_cidr_t,
 * may be NULL).  The caller handles "webhook_allow_private on" itself.
 */
ngx_uint_t ngx_http_webhook_addr_blocked(struct sockaddr *sa,
    ngx_array_t *allowed);


#endif /* _NGX_HTTP_WEBHOOK_API_H_INCLUDED_ */
