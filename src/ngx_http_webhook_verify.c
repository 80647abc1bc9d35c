
/*
 * Copyright (C) ngx_http_webhook_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_webhook_json.h"
#include "ngx_http_webhook_sign.h"
#include "ngx_http_webhook_verify.h"


#define NGX_HTTP_WEBHOOK_VERIFY_STANDARD   0
#define NGX_HTTP_WEBHOOK_VERIFY_GITHUB     1
#define NGX_HTTP_WEBHOOK_VERIFY_STRIPE     2
#define NGX_HTTP_WEBHOOK_VERIFY_HEX        3
#define NGX_HTTP_WEBHOOK_VERIFY_SHA512     4
#define NGX_HTTP_WEBHOOK_VERIFY_TOKEN      5

#define NGX_HTTP_WEBHOOK_VERIFY_TOLERANCE  300

/* signatures looked at in one header; more are ignored */
#define NGX_HTTP_WEBHOOK_VERIFY_MAX_SIGS   8
#define NGX_HTTP_WEBHOOK_VERIFY_SIG_MAX    NGX_HTTP_WEBHOOK_SHA512_LEN
#define NGX_HTTP_WEBHOOK_VERIFY_PARTS      5       /* id . ts . body */


typedef struct {
    ngx_uint_t                  scheme;
    ngx_array_t                *secrets;     /* ngx_http_complex_value_t */
    ngx_str_t                   header;      /* lowercase */
    ngx_http_complex_value_t   *url;
    time_t                      tolerance;

    ngx_int_t                   verified_index;
    ngx_int_t                   error_index;

    /*
     * this location's "1" and "0": $webhook_verified points to one of
     * them once this location's check began, so an internal redirect to
     * another webhook_verify location checks again
     */
    u_char                     *yes;
    u_char                     *no;
} ngx_http_webhook_verify_conf_t;


/* what is signed (the secret aside) and the signatures received */
typedef struct {
    ngx_str_t                   parts[NGX_HTTP_WEBHOOK_VERIFY_PARTS];
    ngx_uint_t                  nparts;
    u_char                      sigs[NGX_HTTP_WEBHOOK_VERIFY_MAX_SIGS]
                                    [NGX_HTTP_WEBHOOK_VERIFY_SIG_MAX];
    ngx_uint_t                  nsigs;
    size_t                      siglen;
} ngx_http_webhook_verify_msg_t;


static ngx_int_t ngx_http_webhook_verify_handler(ngx_http_request_t *r);
static void ngx_http_webhook_verify_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_verify_check(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, char **err);
static ngx_int_t ngx_http_webhook_verify_parse(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err);
static ngx_int_t ngx_http_webhook_verify_standard(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err);
static ngx_int_t ngx_http_webhook_verify_stripe(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err);
static ngx_int_t ngx_http_webhook_verify_timestamp(ngx_str_t *ts,
    time_t tolerance, char **err);
static ngx_int_t ngx_http_webhook_verify_key(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_str_t *secret, ngx_str_t *key);
static ngx_int_t ngx_http_webhook_verify_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_table_elt_t *ngx_http_webhook_verify_header(ngx_http_request_t *r,
    char *name, size_t len);
static void ngx_http_webhook_verify_set(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, u_char *verified, char *err);
static ngx_int_t ngx_http_webhook_verify_reject(ngx_http_request_t *r);
static ngx_int_t ngx_http_webhook_verify_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_enum_t  ngx_http_webhook_verify_schemes[] = {
    { ngx_string("standard"), NGX_HTTP_WEBHOOK_VERIFY_STANDARD },
    { ngx_string("github"), NGX_HTTP_WEBHOOK_VERIFY_GITHUB },
    { ngx_string("stripe"), NGX_HTTP_WEBHOOK_VERIFY_STRIPE },
    { ngx_string("hex"), NGX_HTTP_WEBHOOK_VERIFY_HEX },
    { ngx_string("sha512"), NGX_HTTP_WEBHOOK_VERIFY_SHA512 },
    { ngx_string("token"), NGX_HTTP_WEBHOOK_VERIFY_TOKEN },
    { ngx_null_string, 0 }
};


/* the signature header of each scheme, when "header=" is not given */
static ngx_str_t  ngx_http_webhook_verify_headers[] = {
    ngx_null_string,
    ngx_string("x-hub-signature-256"),
    ngx_string("stripe-signature"),
    ngx_null_string,
    ngx_string("vello-signature"),
    ngx_null_string
};


static ngx_str_t  ngx_http_webhook_verify_verified_name =
    ngx_string("webhook_verified");
static ngx_str_t  ngx_http_webhook_verify_error_name =
    ngx_string("webhook_verify_error");


char *
ngx_http_webhook_verify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_webhook_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_http_complex_value_t          *cv;
    ngx_http_webhook_verify_conf_t    *vcf;
    ngx_http_compile_complex_value_t   ccv;

    if (wlcf->verify != NULL) {
        return "is duplicate";
    }

    vcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_webhook_verify_conf_t));
    if (vcf == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     vcf->header = { 0, NULL };
     *     vcf->url = NULL;
     */

    vcf->tolerance = NGX_CONF_UNSET;

    vcf->secrets = ngx_array_create(cf->pool, 2,
                                    sizeof(ngx_http_complex_value_t));
    if (vcf->secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 0; ngx_http_webhook_verify_schemes[i].name.len; i++) {
        if (ngx_strcmp(ngx_http_webhook_verify_schemes[i].name.data,
                       value[1].data)
            == 0)
        {
            break;
        }
    }

    if (ngx_http_webhook_verify_schemes[i].name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid scheme \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    vcf->scheme = ngx_http_webhook_verify_schemes[i].value;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {

            cv = ngx_array_push(vcf->secrets);
            if (cv == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            s.len = value[i].len - 7;
            s.data = value[i].data + 7;

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "header=", 7) == 0) {

            vcf->header.len = value[i].len - 7;
            vcf->header.data = value[i].data + 7;

            if (vcf->header.len == 0) {
                goto invalid;
            }

            ngx_strlow(vcf->header.data, vcf->header.data, vcf->header.len);
            continue;
        }

        if (ngx_strncmp(value[i].data, "url=", 4) == 0) {

            vcf->url = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (vcf->url == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            s.len = value[i].len - 4;
            s.data = value[i].data + 4;

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = vcf->url;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "tolerance=", 10) == 0) {

            s.len = value[i].len - 10;
            s.data = value[i].data + 10;

            vcf->tolerance = ngx_parse_time(&s, 1);
            if (vcf->tolerance == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (vcf->secrets->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"secret\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (vcf->header.len == 0) {
        vcf->header = ngx_http_webhook_verify_headers[vcf->scheme];
    }

    if (vcf->header.len == 0
        && vcf->scheme != NGX_HTTP_WEBHOOK_VERIFY_STANDARD)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"%V\" must have \"header\" parameter",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_STANDARD
        && vcf->header.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"standard\" takes no \"header\" "
                           "parameter");
        return NGX_CONF_ERROR;
    }

    if (vcf->url && vcf->scheme != NGX_HTTP_WEBHOOK_VERIFY_SHA512) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"%V\" takes no \"url\" parameter",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (vcf->tolerance != NGX_CONF_UNSET
        && vcf->scheme != NGX_HTTP_WEBHOOK_VERIFY_STANDARD
        && vcf->scheme != NGX_HTTP_WEBHOOK_VERIFY_STRIPE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "scheme \"%V\" has no timestamp for "
                           "\"tolerance\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (vcf->tolerance == NGX_CONF_UNSET) {
        vcf->tolerance = NGX_HTTP_WEBHOOK_VERIFY_TOLERANCE;
    }

    if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_SHA512 && vcf->url == NULL) {

        vcf->url = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (vcf->url == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&s, "$scheme://$host$request_uri");

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = vcf->url;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    vcf->verified_index = ngx_http_get_variable_index(cf,
                                      &ngx_http_webhook_verify_verified_name);
    if (vcf->verified_index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    vcf->error_index = ngx_http_get_variable_index(cf,
                                      &ngx_http_webhook_verify_error_name);
    if (vcf->error_index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    vcf->yes = ngx_pnalloc(cf->pool, 2);
    if (vcf->yes == NULL) {
        return NGX_CONF_ERROR;
    }

    vcf->yes[0] = '1';
    vcf->no = vcf->yes + 1;
    vcf->no[0] = '0';

    wlcf->verify = vcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_webhook_verify_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_variable_t        *var;
    ngx_http_core_main_conf_t  *cmcf;

    var = ngx_http_add_variable(cf, &ngx_http_webhook_verify_verified_name,
                                0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_webhook_verify_variable;

    var = ngx_http_add_variable(cf, &ngx_http_webhook_verify_error_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_webhook_verify_variable;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_webhook_verify_handler;

    return NGX_OK;
}


/*
 * The mirror module's pattern: read the body, go on with the phases from
 * the body handler; the body stays in r->request_body for proxy_pass.
 */

static ngx_int_t
ngx_http_webhook_verify_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_variable_value_t       *v;
    ngx_http_webhook_loc_conf_t     *wlcf;
    ngx_http_webhook_verify_conf_t  *vcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);

    vcf = wlcf->verify;
    if (vcf == NULL) {
        return NGX_DECLINED;
    }

    v = &r->variables[vcf->verified_index];

    if (v->valid && v->data == vcf->yes) {
        return NGX_DECLINED;
    }

    if (v->valid && v->data == vcf->no) {
        /* the body is being read, or the request was rejected */
        return NGX_DONE;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook verify: reading body");

    ngx_http_webhook_verify_set(r, vcf, vcf->no, NULL);

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_webhook_verify_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static void
ngx_http_webhook_verify_body_handler(ngx_http_request_t *r)
{
    char                            *err;
    ngx_int_t                        rc;
    ngx_http_webhook_loc_conf_t     *wlcf;
    ngx_http_webhook_verify_conf_t  *vcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_webhook_module);
    vcf = wlcf->verify;

    err = NULL;

    rc = ngx_http_webhook_verify_check(r, vcf, &err);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "webhook signature rejected: %s", err);

        ngx_http_webhook_verify_set(r, vcf, vcf->no, err);
        ngx_http_finalize_request(r, ngx_http_webhook_verify_reject(r));
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "webhook verify: signature valid");

    ngx_http_webhook_verify_set(r, vcf, vcf->yes, NULL);

    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* NGX_OK: valid; NGX_DECLINED: invalid, "err" says why; NGX_ERROR */

static ngx_int_t
ngx_http_webhook_verify_check(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, char **err)
{
    u_char                          key_buf[NGX_HTTP_WEBHOOK_SIGN_KEY_MAX];
    u_char                          digest[NGX_HTTP_WEBHOOK_SHA512_LEN];
    ngx_int_t                       rc;
    ngx_str_t                       secret, key, body, expected, received;
    ngx_uint_t                      i, j, matched;
    ngx_table_elt_t                *h;
    ngx_http_complex_value_t       *cv;
    ngx_http_webhook_verify_msg_t   m;

    if (ngx_http_webhook_verify_body(r, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&m, sizeof(ngx_http_webhook_verify_msg_t));

    h = NULL;

    if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_TOKEN) {
        h = ngx_http_webhook_verify_header(r, (char *) vcf->header.data,
                                           vcf->header.len);
        if (h == NULL) {
            *err = "missing_header";
            return NGX_DECLINED;
        }

    } else {
        rc = ngx_http_webhook_verify_parse(r, vcf, &m, err);
        if (rc != NGX_OK) {
            return rc;
        }

        m.parts[m.nparts++] = body;
    }

    cv = vcf->secrets->elts;
    matched = 0;

    for (i = 0; i < vcf->secrets->nelts; i++) {

        if (ngx_http_complex_value(r, &cv[i], &secret) != NGX_OK) {
            return NGX_ERROR;
        }

        if (secret.len == 0) {
            /* a variable secret that is empty here matches nothing */
            continue;
        }

        if (h) {
            matched |= ngx_http_webhook_sign_token_equal(&h->value, &secret);
            continue;
        }

        key.data = key_buf;

        if (ngx_http_webhook_verify_key(r, vcf, &secret, &key) != NGX_OK) {
            continue;
        }

        if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_SHA512) {
            m.parts[0] = key;
            rc = ngx_http_webhook_sign_sha512_digest(m.parts, m.nparts,
                                                     digest);

        } else {
            rc = ngx_http_webhook_sign_hmac_sha256(&key, m.parts, m.nparts,
                                                   digest);
        }

        if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_STANDARD) {
            /* a decoded key does not outlive its use */
            ngx_explicit_memzero(key_buf, sizeof(key_buf));
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "webhook verify: digest failed");
            return NGX_ERROR;
        }

        expected.data = digest;
        expected.len = m.siglen;
        received.len = m.siglen;

        for (j = 0; j < m.nsigs; j++) {
            received.data = m.sigs[j];
            matched |= ngx_http_webhook_sign_equal(&expected, &received);
        }
    }

    if (!matched) {
        *err = "mismatch";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the signed prefix and the signatures of the request, by scheme */

static ngx_int_t
ngx_http_webhook_verify_parse(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err)
{
    u_char           *p;
    size_t            len;
    ngx_str_t         url;
    ngx_table_elt_t  *h;

    switch (vcf->scheme) {

    case NGX_HTTP_WEBHOOK_VERIFY_STANDARD:
        return ngx_http_webhook_verify_standard(r, vcf, m, err);

    case NGX_HTTP_WEBHOOK_VERIFY_STRIPE:
        return ngx_http_webhook_verify_stripe(r, vcf, m, err);

    default:
        break;
    }

    h = ngx_http_webhook_verify_header(r, (char *) vcf->header.data,
                                       vcf->header.len);
    if (h == NULL) {
        *err = "missing_header";
        return NGX_DECLINED;
    }

    p = h->value.data;
    len = h->value.len;

    if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_GITHUB) {

        if (len < 7 || ngx_strncmp(p, "sha256=", 7) != 0) {
            *err = "bad_format";
            return NGX_DECLINED;
        }

        p += 7;
        len -= 7;
    }

    m->siglen = (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_SHA512)
                ? NGX_HTTP_WEBHOOK_SHA512_LEN : NGX_HTTP_WEBHOOK_SHA256_LEN;

    if (len != 2 * m->siglen
        || ngx_http_webhook_sign_unhex(m->sigs[0], p, len) != NGX_OK)
    {
        *err = "bad_format";
        return NGX_DECLINED;
    }

    m->nsigs = 1;

    if (vcf->scheme == NGX_HTTP_WEBHOOK_VERIFY_SHA512) {
        /* the secret is the first part, set per secret */
        if (ngx_http_complex_value(r, vcf->url, &url) != NGX_OK) {
            return NGX_ERROR;
        }

        m->parts[1] = url;
        m->nparts = 2;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_verify_standard(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err)
{
    u_char           *p, *last, *e;
    ngx_str_t         src, dst;
    ngx_table_elt_t  *id, *ts, *sig;

    id = ngx_http_webhook_verify_header(r, "webhook-id", 10);
    ts = ngx_http_webhook_verify_header(r, "webhook-timestamp", 17);
    sig = ngx_http_webhook_verify_header(r, "webhook-signature", 17);

    if (id == NULL && ts == NULL && sig == NULL) {
        id = ngx_http_webhook_verify_header(r, "svix-id", 7);
        ts = ngx_http_webhook_verify_header(r, "svix-timestamp", 14);
        sig = ngx_http_webhook_verify_header(r, "svix-signature", 14);
    }

    if (id == NULL || ts == NULL || sig == NULL) {
        *err = "missing_header";
        return NGX_DECLINED;
    }

    m->siglen = NGX_HTTP_WEBHOOK_SHA256_LEN;

    p = sig->value.data;
    last = p + sig->value.len;

    while (p < last && m->nsigs < NGX_HTTP_WEBHOOK_VERIFY_MAX_SIGS) {

        e = ngx_strlchr(p, last, ' ');
        if (e == NULL) {
            e = last;
        }

        if (e - p > 3 && ngx_strncmp(p, "v1,", 3) == 0) {

            src.data = p + 3;
            src.len = e - p - 3;

            dst.data = m->sigs[m->nsigs];

            if (ngx_base64_decoded_length(src.len)
                <= NGX_HTTP_WEBHOOK_VERIFY_SIG_MAX
                && ngx_decode_base64(&dst, &src) == NGX_OK
                && dst.len == m->siglen)
            {
                m->nsigs++;
            }
        }

        p = e + 1;
    }

    if (m->nsigs == 0) {
        *err = "bad_format";
        return NGX_DECLINED;
    }

    if (ngx_http_webhook_verify_timestamp(&ts->value, vcf->tolerance, err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* "{id}.{timestamp}.{body}" */

    m->parts[0] = id->value;
    ngx_str_set(&m->parts[1], ".");
    m->parts[2] = ts->value;
    ngx_str_set(&m->parts[3], ".");
    m->nparts = 4;

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_verify_stripe(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_http_webhook_verify_msg_t *m,
    char **err)
{
    u_char           *p, *last, *e;
    ngx_str_t         t;
    ngx_table_elt_t  *h;

    h = ngx_http_webhook_verify_header(r, (char *) vcf->header.data,
                                       vcf->header.len);
    if (h == NULL) {
        *err = "missing_header";
        return NGX_DECLINED;
    }

    m->siglen = NGX_HTTP_WEBHOOK_SHA256_LEN;
    ngx_str_null(&t);

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        e = ngx_strlchr(p, last, ',');
        if (e == NULL) {
            e = last;
        }

        if (e - p > 2 && ngx_strncmp(p, "t=", 2) == 0) {
            t.data = p + 2;
            t.len = e - p - 2;

        } else if (e - p == 3 + 64
                   && ngx_strncmp(p, "v1=", 3) == 0
                   && m->nsigs < NGX_HTTP_WEBHOOK_VERIFY_MAX_SIGS
                   && ngx_http_webhook_sign_unhex(m->sigs[m->nsigs], p + 3, 64)
                      == NGX_OK)
        {
            m->nsigs++;
        }

        p = e + 1;
    }

    if (t.len == 0 || m->nsigs == 0) {
        *err = "bad_format";
        return NGX_DECLINED;
    }

    if (ngx_http_webhook_verify_timestamp(&t, vcf->tolerance, err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* "{t}.{body}" */

    m->parts[0] = t;
    ngx_str_set(&m->parts[1], ".");
    m->nparts = 2;

    return NGX_OK;
}


static ngx_int_t
ngx_http_webhook_verify_timestamp(ngx_str_t *ts, time_t tolerance,
    char **err)
{
    time_t  t, now;

    t = ngx_atotm(ts->data, ts->len);
    if (t == NGX_ERROR) {
        *err = "bad_format";
        return NGX_DECLINED;
    }

    now = ngx_time();

    if (t < now - tolerance || t > now + tolerance) {
        *err = "timestamp_out_of_tolerance";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * the key of a secret: "standard" decodes it into key->data, a buffer of
 * NGX_HTTP_WEBHOOK_SIGN_KEY_MAX bytes; the others use it as it is
 */

static ngx_int_t
ngx_http_webhook_verify_key(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, ngx_str_t *secret, ngx_str_t *key)
{
    if (vcf->scheme != NGX_HTTP_WEBHOOK_VERIFY_STANDARD) {
        *key = *secret;
        return NGX_OK;
    }

    if (ngx_http_webhook_sign_key(secret, key) == NGX_OK) {
        return NGX_OK;
    }

    /* the secret itself is never logged */
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "webhook verify: a \"standard\" secret is not base64");

    return NGX_DECLINED;
}


/* the whole body, from memory buffers or the temp file, in one piece */

static ngx_int_t
ngx_http_webhook_verify_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;
        len += ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos)
                                    : (size_t) (b->file_last - b->file_pos);
    }

    if (len == 0) {
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        size = b->file_last - b->file_pos;

        n = ngx_read_file(b->file, p, size, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if ((size_t) n != size) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          ngx_read_file_n " read only %z of %uz from \"%V\"",
                          n, size, &b->file->name);
            return NGX_ERROR;
        }

        p += size;
    }

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_webhook_verify_header(ngx_http_request_t *r, char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static void
ngx_http_webhook_verify_set(ngx_http_request_t *r,
    ngx_http_webhook_verify_conf_t *vcf, u_char *verified, char *err)
{
    ngx_http_variable_value_t  *v;

    v = &r->variables[vcf->verified_index];

    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = verified;

    v = &r->variables[vcf->error_index];

    if (err == NULL) {
        v->valid = 0;
        v->not_found = 1;
        return;
    }

    v->len = ngx_strlen(err);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) err;
}


static ngx_int_t
ngx_http_webhook_verify_reject(ngx_http_request_t *r)
{
    static u_char  json[] = "{\"error\":\"invalid_signature\"}";

    return ngx_http_webhook_json_send(r, NGX_HTTP_UNAUTHORIZED, json,
                                      sizeof(json) - 1);
}


/* before (or without) a check: not found, "-" in a log */

static ngx_int_t
ngx_http_webhook_verify_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;

    return NGX_OK;
}
