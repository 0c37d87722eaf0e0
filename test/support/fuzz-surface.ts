import fc from 'fast-check';
import { extremeNumber, ODD_CHARACTERS, Raw, toJsonText } from './fuzz-values';

// Arbitraries for everything but the body: routes, path ids, query strings, headers, and raw
// HTTP that fetch will not send (a Content-Length that lies, bytes Node's parser refuses).

export interface Route {
  method: string;
  /** With `{id}` and `{item}` where path ids go. */
  path: string;
  /** Whether the route changes what it names, so fuzzing sends it no real id. */
  destructive?: boolean;
}

/** Every route of the API's controllers, and the WebSocket upgrade path's plain GET. */
export const ROUTES: Route[] = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/v1/models' },
  { method: 'GET', path: '/v1/models/{id}' },
  { method: 'POST', path: '/v1/responses' },
  { method: 'POST', path: '/v1/responses/compact' },
  { method: 'GET', path: '/v1/responses/{id}' },
  { method: 'POST', path: '/v1/responses/{id}/cancel' },
  { method: 'DELETE', path: '/v1/responses/{id}', destructive: true },
  { method: 'GET', path: '/v1/responses/{id}/steps' },
  { method: 'GET', path: '/v1/responses/{id}/input_items' },
  { method: 'POST', path: '/v1/conversations' },
  { method: 'GET', path: '/v1/conversations/{id}' },
  { method: 'POST', path: '/v1/conversations/{id}' },
  { method: 'DELETE', path: '/v1/conversations/{id}', destructive: true },
  { method: 'GET', path: '/v1/conversations/{id}/items' },
  { method: 'POST', path: '/v1/conversations/{id}/items' },
  { method: 'GET', path: '/v1/conversations/{id}/items/{item}' },
  { method: 'DELETE', path: '/v1/conversations/{id}/items/{item}', destructive: true },
];

/** Methods and paths no route has. */
export const strayRoute: fc.Arbitrary<Route> = fc.oneof(
  fc.record({
    method: fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD', 'DELETE', 'POST', 'GET'),
    path: fc.constantFrom(
      '/',
      '/v1',
      '/v1/',
      '/v2/responses',
      '/v1/responses/{id}/nope',
      '/v1/responses/{id}/cancel/x',
      '/v1/responses//cancel',
      '/v1/conversations/{id}/items/{item}/x',
      '/V1/RESPONSES',
      '/v1/responses/',
      '/v1/models/{id}/x',
      '/healthz/x',
      '/..%2f..%2fetc%2fpasswd',
      '/%2e%2e/',
      '/v1/responses%00',
      '/\\\\',
    ),
  }),
  fc.record({
    method: fc.constantFrom('PUT', 'PATCH'),
    path: fc.constantFrom(...ROUTES.map((route) => route.path)),
  }),
);

/** Path ids: percent-encoded as a client would, or raw escapes that decode to trouble. */
export function pathId(real: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'resp_missing',
        'conv_missing',
        'msg_missing',
        'mock',
        '0',
        '-1',
        'null',
        'undefined',
        '__proto__',
        'constructor',
        '%00',
        '%ZZ',
        '%',
        '%ED%A0%80',
        '%C0%AF',
        '%FF%FE',
        '%EF%BB%BF',
        '%E2%80%AE',
        '..',
        '.',
        '%2e%2e',
        '%2F',
        'resp_%00x',
        'a;b',
        'a,b',
        "a'b",
      ),
    },
    {
      weight: 2,
      arbitrary: fc.string({ unit: 'binary', maxLength: 16 }).map((text) => encodeLoose(text)),
    },
    { weight: 1, arbitrary: fc.constantFrom(10, 300, 5_000).map((n) => 'x'.repeat(n)) },
  );
}

/** encodeURIComponent that writes lone surrogates as their (invalid) UTF-8 bytes. */
export function encodeLoose(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      out +=
        `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    } else out += encodeURIComponent(char);
  }
  return out;
}

const QUERY_KEYS = [
  'stream',
  'starting_after',
  'after',
  'before',
  'limit',
  'order',
  'include',
  'include[]',
  'include[0]',
  'limit[]',
  'after[x]',
  '__proto__',
  '__proto__[polluted]',
  'constructor[prototype][polluted]',
  'model',
  '',
];

const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'true',
    'false',
    'TRUE',
    '1',
    '0',
    '-1',
    '100',
    '101',
    '1e400',
    'NaN',
    'Infinity',
    '-0',
    '0x10',
    '1.5',
    '9'.repeat(30),
    'asc',
    'desc',
    'ASC',
    'msg_missing',
    'resp_missing',
    'message.output_text.logprobs',
    'reasoning.encrypted_content',
    '',
  ),
  extremeNumber.map((value) => (value instanceof Raw ? value.text : toJsonText(value))),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encodeLoose),
  fc.constantFrom(...ODD_CHARACTERS).map(encodeLoose),
  fc.constantFrom('%00', '%ZZ', '%ED%A0%80', '%'),
);

/** A query string (with its `?`), or none. */
export const queryString: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), queryValue), { minLength: 1, maxLength: 4 })
    .map(
      (pairs) => `?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${value}`).join('&')}`,
    ),
  fc.constantFrom('?', '?&&', '?=', '?stream', '?limit=1&limit=2', '?after=a&after=b'),
);

/** Header values fetch can carry: Latin-1, no CR, LF or NUL. */
const headerText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 20 }).map((text) => text.replace(/[^\x20-\x7e]/g, '')),
  fc
    .string({ unit: 'binary', maxLength: 20 })
    // eslint-disable-next-line no-control-regex -- tab is the one control a header may hold
    .map((text) => text.replace(/[^\x09\x20-\x7e\x80-\xff]/g, '')),
  fc.constantFrom('', ' ', '\t', 'x'.repeat(300), '\xff\xfe', 'ä'),
);

/** The Authorization header: the good key, damaged forms of it, or others. */
export function authorization(goodKey: string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${goodKey}`) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        undefined,
        '',
        'Bearer',
        'Bearer ',
        `bearer ${goodKey}`,
        `Bearer  ${goodKey}  `,
        `Bearer ${goodKey} extra`,
        `Basic ${Buffer.from(`x:${goodKey}`).toString('base64')}`,
        `Bearer ${goodKey.slice(0, -1)}`,
        `Bearer ${goodKey}x`,
        `Bearer ${'k'.repeat(8_000)}`,
        'Bearer null',
        'Bearer \xff\xfe',
      ),
    },
    { weight: 1, arbitrary: headerText.map((text) => `Bearer ${text}`) },
  );
}

/** Other headers a request may carry, hostile or not. */
export const extraHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'idempotency-key': fc.oneof(headerText, fc.uuid()),
      'last-event-id': fc.oneof(headerText, fc.constantFrom('0', '5', '-1', '1e3', '999999999999')),
      'content-type': fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/json; charset=latin1',
        'application/json; charset=bogus',
        'text/plain',
        'application/x-www-form-urlencoded',
        '',
        '*/*',
      ),
      accept: fc.constantFrom('text/event-stream', 'application/json', '*/*', 'text/html', ''),
      'x-request-id': headerText,
      'openai-beta': headerText,
      'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus'),
    },
    { requiredKeys: [] },
  )
  .map((headers) =>
    Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)),
  );

/** Raw requests fetch cannot send; `complete` says the bytes hold a whole request. */
export interface RawCase {
  bytes: string;
  /** A server may hang up without answering a request that never finished arriving. */
  complete: boolean;
}

export function rawRequest(goodKey: string): fc.Arbitrary<RawCase> {
  const auth = `Authorization: Bearer ${goodKey}\r\n`;
  const body = '{"model":"mock","input":"hi"}';
  const post = (headers: string, payload: string): string =>
    `POST /v1/responses HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\n${headers}\r\n${payload}`;
  return fc.oneof(
    fc.constantFrom<RawCase>(
      { bytes: post(`Content-Length: ${body.length + 50}\r\n`, body), complete: false },
      { bytes: post(`Content-Length: ${body.length - 5}\r\n`, body), complete: true },
      { bytes: post('Content-Length: abc\r\n', body), complete: true },
      { bytes: post('Content-Length: -1\r\n', body), complete: true },
      {
        bytes: post(`Content-Length: ${body.length}\r\nContent-Length: 3\r\n`, body),
        complete: true,
      },
      { bytes: post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', body), complete: true },
      { bytes: post('Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n'), complete: true },
      { bytes: post('Transfer-Encoding: chunked\r\n', '5\r\n{"a":\r\n'), complete: false },
      { bytes: post('Transfer-Encoding: gzip\r\n', body), complete: true },
      {
        bytes: post(`Content-Length: ${body.length}\r\nContent-Encoding: gzip\r\n`, body),
        complete: true,
      },
      { bytes: post('Content-Length: 99999999999999999999\r\n', body), complete: false },
      { bytes: 'GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n', complete: true },
      { bytes: 'GET /v1/models HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n', complete: true },
      {
        bytes: `GET /v1/models HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
        complete: true,
      },
      { bytes: 'GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n', complete: true },
      { bytes: 'GARBAGE\r\n\r\n', complete: true },
      { bytes: 'GET  /v1/models HTTP/1.1\r\n\r\n', complete: true },
      { bytes: 'GET /v1/mo dels HTTP/1.1\r\nHost: x\r\n\r\n', complete: true },
      { bytes: `GET http://x/v1/models HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, complete: true },
      { bytes: `GET //v1/models HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, complete: true },
      { bytes: 'GET * HTTP/1.1\r\nHost: x\r\n\r\n', complete: true },
      { bytes: `GET /v1/responses/\xff\xfe HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, complete: true },
      { bytes: `GET /v1/models HTTP/1.1\nHost: x\n${auth.replace('\r', '')}\n`, complete: true },
      { bytes: 'GET /v1/models HTTP/1.0\r\n\r\n', complete: true },
      {
        bytes: `POST /v1/responses HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${body.length}\r\n\r\n${body}`,
        complete: true,
      },
      {
        bytes: `POST /v1/responses HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json; charset=utf-16\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        complete: true,
      },
    ),
    fc
      .string({ unit: 'binary-ascii', maxLength: 200 })
      .map((text) => ({ bytes: text, complete: false })),
  );
}

/** WebSocket upgrade requests, good and bad, on the Responses path and elsewhere. */
export function upgradeRequest(goodKey: string): fc.Arbitrary<string> {
  return fc
    .record({
      path: fc.constantFrom(
        '/v1/responses',
        '/v1/responses?x=1',
        '/v1/conversations',
        '/',
        '//x',
        '/v1/responses/%ZZ',
      ),
      auth: fc.constantFrom(`Bearer ${goodKey}`, '', 'Bearer wrong', 'Basic x'),
      key: fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', '', 'short', '!!!!!!!!!!!!!!!!!!!!!!=='),
      version: fc.constantFrom('13', '8', '12', '', 'x'),
      upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', ''),
      method: fc.constantFrom('GET', 'POST'),
    })
    .map(
      ({ path, auth, key, version, upgrade, method }) =>
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n` +
        (upgrade ? `Upgrade: ${upgrade}\r\n` : '') +
        (auth ? `Authorization: ${auth}\r\n` : '') +
        (key ? `Sec-WebSocket-Key: ${key}\r\n` : '') +
        (version ? `Sec-WebSocket-Version: ${version}\r\n` : '') +
        '\r\n',
    );
}
