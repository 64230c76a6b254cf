/**
 * BIND-style TSIG key files, as `tsig-keygen` writes them:
 *
 *   key "oci-slaac-hook" {
 *           algorithm hmac-sha256;
 *           secret "base64...";
 *   };
 *
 * Comments `#`, `//` and C-style are allowed; the name may be quoted or not. One key per file.
 */
import { readRegularFile } from '../oci/files';
import { InputError } from '../../core/errors';
import { canonicalAlgorithm, TSIG_ALGORITHMS } from './tsig';
import { normalizeName } from './wire';

export interface TsigKey {
  /** Lower case, no trailing dot. */
  name: string;
  /** Canonical TSIG algorithm name (e.g. "hmac-sha256"). */
  algorithm: string;
  secret: Buffer;
}

type Token = { kind: 'word' | 'string' | 'punct'; text: string; line: number };

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (why: string): never => {
    throw new InputError(`key file ${file}: line ${line}: ${why}`);
  };
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) fail('unterminated /* comment');
      for (let j = i; j < end; j++) if (text[j] === '\n') line++;
      i = end + 2;
    } else if (c === '"') {
      const start = line;
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) {
          line = start;
          fail('unterminated string');
        }
        const d = text[i] ?? '';
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length) {
          s += text[i + 1] ?? '';
          i += 2;
          continue;
        }
        if (d === '\n') line++;
        s += d;
        i++;
      }
      i++;
      tokens.push({ kind: 'string', text: s, line: start });
    } else if (c === '{' || c === '}' || c === ';') {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
    } else {
      let w = '';
      while (i < text.length && !/[\s{};"#]/.test(text[i] ?? '') && !(text[i] === '/' && (text[i + 1] === '/' || text[i + 1] === '*'))) {
        w += text[i];
        i++;
      }
      tokens.push({ kind: 'word', text: w, line });
    }
  }
  return tokens;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Parse the text of a BIND-style key file; `file` names it in errors. Throws InputError. */
export function parseKeyFile(text: string, file: string): TsigKey {
  const tokens = tokenize(text, file);
  let pos = 0;
  const lastLine = (): number => tokens[tokens.length - 1]?.line ?? 1;
  const fail = (why: string, tok?: Token): never => {
    throw new InputError(`key file ${file}: line ${tok?.line ?? lastLine()}: ${why}`);
  };
  const next = (what: string): Token => {
    const t = tokens[pos++];
    if (t === undefined) return fail(`unexpected end of file, expected ${what}`);
    return t;
  };
  const expect = (punct: string): void => {
    const t = next(`"${punct}"`);
    if (t.kind !== 'punct' || t.text !== punct) fail(`expected "${punct}", found ${JSON.stringify(t.text)}`, t);
  };
  const value = (what: string): Token => {
    const t = next(what);
    if (t.kind === 'punct') fail(`expected ${what}, found ${JSON.stringify(t.text)}`, t);
    return t;
  };

  const keys: TsigKey[] = [];
  while (pos < tokens.length) {
    const kw = next('"key"');
    if (kw.kind !== 'word' || kw.text.toLowerCase() !== 'key') fail(`expected a "key" statement, found ${JSON.stringify(kw.text)}`, kw);
    const nameTok = value('a key name');
    let name = '';
    try {
      name = normalizeName(nameTok.text);
    } catch (e) {
      fail(`bad key name: ${e instanceof Error ? e.message : String(e)}`, nameTok);
    }
    if (name === '') fail('empty key name', nameTok);
    expect('{');
    let algorithm: string | undefined;
    let secret: Buffer | undefined;
    for (;;) {
      const t = next('"algorithm", "secret" or "}"');
      if (t.kind === 'punct' && t.text === '}') break;
      if (t.kind !== 'word') fail(`expected "algorithm" or "secret", found ${JSON.stringify(t.text)}`, t);
      const kwText = t.text.toLowerCase();
      if (kwText === 'algorithm') {
        if (algorithm !== undefined) fail('algorithm given twice', t);
        const a = value('an algorithm name');
        const canon = canonicalAlgorithm(a.text);
        if (canon === undefined) fail(`unknown algorithm ${JSON.stringify(a.text)} (supported: ${Object.keys(TSIG_ALGORITHMS).join(', ')})`, a);
        algorithm = canon;
      } else if (kwText === 'secret') {
        if (secret !== undefined) fail('secret given twice', t);
        const s = value('a base64 secret');
        const b64 = s.text.replace(/\s+/g, '');
        if (b64 === '') fail('empty secret', s);
        if (!BASE64.test(b64)) fail('secret is not valid base64', s);
        secret = Buffer.from(b64, 'base64');
      } else {
        fail(`unknown statement ${JSON.stringify(t.text)} in key ${JSON.stringify(name)}`, t);
      }
      expect(';');
    }
    expect(';');
    if (algorithm === undefined) fail(`key ${JSON.stringify(name)} has no algorithm`, kw);
    if (secret === undefined) fail(`key ${JSON.stringify(name)} has no secret`, kw);
    if (algorithm !== undefined && secret !== undefined) keys.push({ name, algorithm, secret });
  }
  const [key] = keys;
  if (key === undefined) throw new InputError(`key file ${file}: no key statement`);
  if (keys.length > 1) throw new InputError(`key file ${file}: ${keys.length} keys (${keys.map((k) => k.name).join(', ')}); expected one`);
  return key;
}

/** Read and parse a key file. Throws InputError naming the file. */
export function loadKeyFile(path: string): TsigKey {
  // A regular file, bounded: a key file is a few hundred bytes.
  return parseKeyFile(readRegularFile(path, { maxBytes: 64 * 1024, what: `key file ${path}` }) ?? '', path);
}
