'use strict';
// node sign.js SCHEME SECRET BODY [TIMESTAMP [ID]]
//
// Prints, one "Name: value" a line, the headers the scheme's official
// library generates for BODY: standardwebhooks' Webhook#sign (webhook-id,
// webhook-timestamp, webhook-signature), stripe's
// stripe.webhooks.generateTestHeaderString (Stripe-Signature), octokit's
// sign (X-Hub-Signature-256).  TIMESTAMP (unix seconds) defaults to now,
// ID (standard only) to a fresh msg_ id.  Exit status 2 on any error.

function usage(msg) {
    process.stderr.write(`sign.js: ${msg}\n`
        + 'usage: node sign.js standard|stripe|github SECRET BODY'
        + ' [TIMESTAMP [ID]]\n');
    process.exit(2);
}

async function main() {
    const [scheme, secret, body, tsArg, idArg] = process.argv.slice(2);
    if (!scheme || secret === undefined || body === undefined) {
        usage('missing arguments');
    }

    const ts = tsArg ? parseInt(tsArg, 10) : Math.floor(Date.now() / 1000);
    if (Number.isNaN(ts)) {
        usage(`bad timestamp "${tsArg}"`);
    }

    const out = [];

    if (scheme === 'standard') {
        const { Webhook } = require('standardwebhooks');
        const id = idArg
            || 'msg_' + require('crypto').randomBytes(12).toString('hex');
        out.push(['webhook-id', id], ['webhook-timestamp', String(ts)],
                 ['webhook-signature',
                  new Webhook(secret).sign(id, new Date(ts * 1000), body)]);

    } else if (scheme === 'stripe') {
        const Stripe = require('stripe');
        out.push(['Stripe-Signature', Stripe.webhooks.generateTestHeaderString(
            { payload: body, secret, timestamp: ts })]);

    } else if (scheme === 'github') {
        const { sign } = await import('@octokit/webhooks-methods');
        out.push(['X-Hub-Signature-256', await sign(secret, body)]);

    } else {
        usage(`unknown scheme "${scheme}"`);
    }

    process.stdout.write(out.map(([k, v]) => `${k}: ${v}\n`).join(''));
}

main().catch((e) => {
    process.stderr.write(`sign.js: ${(e && e.stack) || e}\n`);
    process.exit(2);
});
