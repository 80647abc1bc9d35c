'use strict';
// node verify.js SCHEME SECRET FILE
//
// Checks a recorded request with the scheme's official library.  FILE holds
// "Name: value" header lines, an empty line, then the body bytes verbatim.
// SCHEME: standard (standardwebhooks' Webhook#verify), stripe
// (stripe.webhooks.constructEvent, default tolerance), github
// (@octokit/webhooks-methods' verify).
// Exit status: 0 accepted, 1 rejected (the reason on stderr), 2 usage or
// internal error (a missing library must never look like a rejection).

const fs = require('fs');

function usage(msg) {
    process.stderr.write(`verify.js: ${msg}\n`
        + 'usage: node verify.js standard|stripe|github SECRET FILE\n');
    process.exit(2);
}

function parse(file) {
    const raw = fs.readFileSync(file);
    let sep = raw.indexOf('\n\n');
    let skip = 2;
    const crlf = raw.indexOf('\r\n\r\n');
    if (crlf >= 0 && (sep < 0 || crlf < sep)) {
        sep = crlf;
        skip = 4;
    }
    if (raw[0] === 0x0a) {              /* no headers at all */
        sep = 0;
        skip = 1;
    } else if (raw[0] === 0x0d && raw[1] === 0x0a) {
        sep = 0;
        skip = 2;
    }
    if (sep < 0) {
        usage(`${file}: no empty line between headers and body`);
    }
    const headers = {};
    for (const line of raw.subarray(0, sep).toString('utf8').split(/\r?\n/)) {
        if (line === '') {
            continue;
        }
        const i = line.indexOf(':');
        if (i <= 0) {
            usage(`${file}: bad header line "${line}"`);
        }
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return { headers, body: raw.subarray(sep + skip) };
}

async function main() {
    const [scheme, secret, file] = process.argv.slice(2);
    if (!scheme || secret === undefined || !file) {
        usage('missing arguments');
    }

    const { headers, body } = parse(file);
    let check;

    if (scheme === 'standard') {
        const { Webhook } = require('standardwebhooks');
        check = async () => new Webhook(secret).verify(body, headers);

    } else if (scheme === 'stripe') {
        const Stripe = require('stripe');
        check = async () => Stripe.webhooks.constructEvent(
            body, headers['stripe-signature'], secret);

    } else if (scheme === 'github') {
        const { verify } = await import('@octokit/webhooks-methods');
        check = async () => {
            const ok = await verify(secret, body.toString('utf8'),
                                    headers['x-hub-signature-256']);
            if (!ok) {
                throw new Error('signature does not match');
            }
        };

    } else {
        usage(`unknown scheme "${scheme}"`);
    }

    try {
        await check();
    } catch (e) {
        process.stderr.write(`${scheme}: rejected: ${e && e.message}\n`);
        process.exit(1);
    }

    process.stdout.write(`${scheme}: accepted\n`);
    process.exit(0);
}

main().catch((e) => {
    process.stderr.write(`verify.js: ${(e && e.stack) || e}\n`);
    process.exit(2);
});
